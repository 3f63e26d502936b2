// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.maxpool: Maximum over each window (padding never wins), then cast.

func.func @maxpool(%img: tensor<6x6x3x!fxp.fixed<8, 2, signed>>) {
  %0 = fxp.maxpool %img {kernel = array<i64: 2, 2>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x3x3x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: fxp.maxpool %{{.*}} {kernel = array<i64: 2, 2>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x3x3x!fxp.fixed<8, 2, signed>>

// -----

func.func @maxpool_shape(%x: tensor<6x6x3x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.maxpool %x {kernel = array<i64: 2, 2>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<6x6x3x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.maxpool' result must be [3, 3, 3], got [6, 6, 3]

// -----

func.func @maxpool_kernel(%x: tensor<6x6x3x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.maxpool %x {kernel = array<i64: 2>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<6x6x3x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.maxpool' pools 1-D or 2-D channels-last tensors
