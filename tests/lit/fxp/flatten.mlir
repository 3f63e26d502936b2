// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.flatten: Flatten to one dimension (row-major).

func.func @flatten(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %1 = fxp.flatten %x : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<24x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: fxp.flatten %{{.*}} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<24x!fxp.fixed<8, 2, signed>>

// -----

func.func @flatten_rank(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.flatten %x : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<6x4x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.flatten' result must be 1-D, got [6, 4]

// -----

func.func @flatten_type(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.flatten %x : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<24x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.flatten' moves data without changing it: element types differ
