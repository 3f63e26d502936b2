// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.leaky_relu: x >= 0 ? x : alpha * x, alpha a scalar (LeakyRelu) or per channel (PRelu).

func.func @leaky(%x: tensor<8x3x!fxp.fixed<8, 3, signed>>, %a: tensor<1x!fxp.fixed<4, 0, unsigned>>, %p: tensor<3x!fxp.fixed<4, 0, unsigned>>) {
  %0 = fxp.leaky_relu %x, %a : (tensor<8x3x!fxp.fixed<8, 3, signed>>, tensor<1x!fxp.fixed<4, 0, unsigned>>) -> tensor<8x3x!fxp.auto>
  %1 = fxp.leaky_relu %x, %p : (tensor<8x3x!fxp.fixed<8, 3, signed>>, tensor<3x!fxp.fixed<4, 0, unsigned>>) -> tensor<8x3x!fxp.auto>
  func.return
}
// CHECK: fxp.leaky_relu %{{.*}}, %{{.*}} : (tensor<8x3x!fxp.fixed<8, 3, signed>>, tensor<1x!fxp.fixed<4, 0, unsigned>>) -> tensor<8x3x!fxp.auto>
// CHECK: fxp.leaky_relu %{{.*}}, %{{.*}} : (tensor<8x3x!fxp.fixed<8, 3, signed>>, tensor<3x!fxp.fixed<4, 0, unsigned>>) -> tensor<8x3x!fxp.auto>

// -----

func.func @leaky_alpha(%x: tensor<8x3x!fxp.fixed<8, 3, signed>>, %a: tensor<2x!fxp.fixed<4, 0, unsigned>>) {
  %y = fxp.leaky_relu %x, %a : (tensor<8x3x!fxp.fixed<8, 3, signed>>, tensor<2x!fxp.fixed<4, 0, unsigned>>) -> tensor<8x3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.leaky_relu' operand shapes [8, 3] and [2] do not broadcast
