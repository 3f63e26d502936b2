// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.relu: max(x, 0), then cast.

func.func @relu(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %r = fxp.relu %x : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<7, 2, unsigned>>
  func.return
}
// CHECK: fxp.relu %{{.*}} : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<7, 2, unsigned>>

// -----

func.func @relu_dynamic(%x: tensor<?x4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.relu %x : tensor<?x4x!fxp.fixed<8, 3, signed>> -> tensor<?x4x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.relu' input must have a static shape

// -----

func.func @relu_shape(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.relu %x : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.relu' is elementwise: result shape [5] differs from input [4]
