// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.transpose: Permute dimensions: result.shape[i] = input.shape[perm[i]].

func.func @transpose(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %2 = fxp.transpose %x {perm = array<i64: 2, 0, 1>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<4x2x3x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: fxp.transpose %{{.*}} {perm = array<i64: 2, 0, 1>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<4x2x3x!fxp.fixed<8, 2, signed>>

// -----

func.func @transpose_shape(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.transpose %x {perm = array<i64: 1, 0>} : tensor<2x3x!fxp.fixed<8, 3, signed>> -> tensor<2x3x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.transpose' result must be [3, 2], got [2, 3]

// -----

func.func @transpose_perm(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.transpose %x {perm = array<i64: 1, 1>} : tensor<2x3x!fxp.fixed<8, 3, signed>> -> tensor<3x2x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.transpose' perm [1, 1] is not a permutation of 2 dimensions
