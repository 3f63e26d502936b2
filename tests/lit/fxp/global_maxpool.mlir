// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.global_maxpool: Maximum over all positions per channel, then cast.

func.func @gmp(%img: tensor<6x6x3x!fxp.fixed<8, 2, signed>>) {
  %2 = fxp.global_maxpool %img : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: fxp.global_maxpool %{{.*}} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x!fxp.fixed<8, 2, signed>>

// -----

func.func @gmp_shape(%x: tensor<6x6x3x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.global_maxpool %x : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<6x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.global_maxpool' reduces [..spatial.., C] to [C]
