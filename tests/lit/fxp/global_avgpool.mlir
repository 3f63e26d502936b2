// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.global_avgpool: Sum over all positions per channel times q(1/n), then cast.

func.func @gap(%img: tensor<6x6x3x!fxp.fixed<8, 2, signed>>) {
  %3 = fxp.global_avgpool %img {scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: fxp.global_avgpool %{{.*}} {scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x!fxp.auto>

// -----

func.func @gap_rank(%x: tensor<3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.global_avgpool %x {scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<3x!fxp.fixed<8, 3, signed>> -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.global_avgpool' reduces [..spatial.., C] to [C]
