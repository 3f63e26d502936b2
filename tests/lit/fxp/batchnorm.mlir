// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.batchnorm: x * scale + shift per channel (last axis), exact, then cast; folded into dense/conv by fxp-canonicalize.

func.func @batchnorm(%seq: tensor<8x3x!fxp.fixed<8, 2, signed>>, %s: tensor<3x!fxp.fixed<4, 2, signed>>, %t: tensor<3x!fxp.fixed<4, 2, signed>>) {
  %4 = fxp.batchnorm %seq, %s, %t : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<8x3x!fxp.auto>
  func.return
}
// CHECK: fxp.batchnorm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<8x3x!fxp.auto>

// -----

func.func @batchnorm_scale(%x: tensor<8x3x!fxp.fixed<8, 2, signed>>, %s: tensor<4x!fxp.fixed<4, 2, signed>>) {
  %y = fxp.batchnorm %x, %s, %s : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<4x!fxp.fixed<4, 2, signed>>, tensor<4x!fxp.fixed<4, 2, signed>>) -> tensor<8x3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.batchnorm' scale must be [3] (one per channel), got [4]
