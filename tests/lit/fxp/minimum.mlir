// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.minimum: Elementwise minimum with numpy broadcasting, exact, then cast.

func.func @minimum(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %y: tensor<3x4x!fxp.fixed<6, 6, unsigned>>, %a: tensor<1x!fxp.fixed<4, 0, unsigned>>) {
  %0 = fxp.minimum %x, %y : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<3x4x!fxp.fixed<6, 6, unsigned>>) -> tensor<3x4x!fxp.auto>
  %1 = fxp.minimum %x, %a : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<1x!fxp.fixed<4, 0, unsigned>>) -> tensor<4x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: fxp.minimum %{{.*}}, %{{.*}} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<3x4x!fxp.fixed<6, 6, unsigned>>) -> tensor<3x4x!fxp.auto>
// CHECK: fxp.minimum %{{.*}}, %{{.*}} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<1x!fxp.fixed<4, 0, unsigned>>) -> tensor<4x!fxp.fixed<8, 3, signed>>

// -----

func.func @minimum_broadcast(%a: tensor<4x!fxp.fixed<8, 3, signed>>, %b: tensor<3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.minimum %a, %b : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<3x!fxp.fixed<8, 3, signed>>) -> tensor<4x!fxp.auto>
  func.return
}
// CHECK: 'fxp.minimum' operand shapes [4] and [3] do not broadcast

// -----

func.func @minimum_result(%a: tensor<4x!fxp.fixed<8, 3, signed>>, %b: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.minimum %a, %b : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x!fxp.fixed<8, 3, signed>>) -> tensor<2x4x!fxp.auto>
  func.return
}
// CHECK: 'fxp.minimum' result must be [4], got [2, 4]
