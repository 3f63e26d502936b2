// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.concat: Join tensors of one element type along an axis.

func.func @concat(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %4 = fxp.concat %x, %x {axis = 2 : i64} : (tensor<2x3x4x!fxp.fixed<8, 2, signed>>, tensor<2x3x4x!fxp.fixed<8, 2, signed>>) -> tensor<2x3x8x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: fxp.concat %{{.*}}, %{{.*}} {axis = 2 : i64} : (tensor<2x3x4x!fxp.fixed<8, 2, signed>>, tensor<2x3x4x!fxp.fixed<8, 2, signed>>) -> tensor<2x3x8x!fxp.fixed<8, 2, signed>>

// -----

func.func @concat_shape(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>, %z: tensor<2x4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.concat %x, %z {axis = 0 : i64} : (tensor<2x3x!fxp.fixed<8, 3, signed>>, tensor<2x4x!fxp.fixed<8, 3, signed>>) -> tensor<4x3x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.concat' input #1 shape [2, 4] does not match result [4, 3] off axis 0

// -----

func.func @concat_axis(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.concat %x {axis = 2 : i64} : (tensor<2x3x!fxp.fixed<8, 3, signed>>) -> tensor<2x3x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.concat' axis 2 is outside the result's 2 dimensions
