// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.pad: Zero padding: every dimension's before-count, then every after-count.

func.func @pad(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %3 = fxp.pad %x {padding = array<i64: 0, 1, 0, 0, 1, 2>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<2x5x6x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: fxp.pad %{{.*}} {padding = array<i64: 0, 1, 0, 0, 1, 2>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<2x5x6x!fxp.fixed<8, 2, signed>>

// -----

func.func @pad_count(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.pad %x {padding = array<i64: 1, 1>} : tensor<2x3x!fxp.fixed<8, 3, signed>> -> tensor<4x3x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.pad' padding must hold 4 values >= 0, got [1, 1]
