// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.thresholded_relu: x > alpha ? x : 0 (alpha an exact float), then cast.

func.func @thresholded(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %t = fxp.thresholded_relu %x {alpha = 1.0 : f64} : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: fxp.thresholded_relu %{{.*}} {alpha = 1.000000e+00 : f64} : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<8, 3, signed>>

// -----

func.func @thresholded_shape(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %t = fxp.thresholded_relu %x {alpha = 1.0 : f64} : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<2x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.thresholded_relu' is elementwise: result shape [2] differs from input [4]
