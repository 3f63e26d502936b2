// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.reshape: Reinterpret the shape (row-major order kept).

func.func @reshape(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %0 = fxp.reshape %x : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<6x4x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: fxp.reshape %{{.*}} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<6x4x!fxp.fixed<8, 2, signed>>

// -----

func.func @reshape_count(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.reshape %x : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<7x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.reshape' cannot turn [2, 3, 4] (24 elements) into [7]

// -----

func.func @reshape_type(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.reshape %x : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<24x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.reshape' moves data without changing it: element types differ
