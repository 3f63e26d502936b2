// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.constant: Constants hold integer codes of their fixed-point type, printed as hex bytes (splats as one code).

func.func @constants() {
  %c = fxp.constant dense<[1, -1, -128, 127]> : tensor<4x!fxp.fixed<8, 3, signed>>
  %s = fxp.constant dense<5> : tensor<2x2x!fxp.fixed<4, 4, unsigned>>
  %u = fxp.constant dense<[[200, 3]]> : tensor<1x2x!fxp.fixed<8, 0, unsigned>>
  func.return
}
// CHECK: fxp.constant dense<"0x01FF807F"> : tensor<4x!fxp.fixed<8, 3, signed>>
// CHECK: fxp.constant dense<5> : tensor<2x2x!fxp.fixed<4, 4, unsigned>>
// CHECK: fxp.constant dense<"0xC8000300"> : tensor<1x2x!fxp.fixed<8, 0, unsigned>>
