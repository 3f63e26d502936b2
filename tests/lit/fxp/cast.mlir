// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.cast: Fixed to fixed: rounding, then overflow, as the result type says.

func.func @cast(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %k = fxp.cast %x : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<4, 1, signed, RND_CONV, SAT>>
  func.return
}
// CHECK: fxp.cast %{{.*}} : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<4, 1, signed, RND_CONV, SAT>>

// -----

func.func @cast_shape(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.cast %x : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.cast' changes the shape [4] -> [5]
