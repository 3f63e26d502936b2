// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.avgpool: sum(window) * q(1/n), n counting the window or its unpadded part, then cast.

func.func @avgpool(%seq: tensor<8x3x!fxp.fixed<8, 2, signed>>) {
  %1 = fxp.avgpool %seq {kernel = array<i64: 3>, strides = array<i64: 1>, padding = array<i64: 1, 1>, scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<8x3x!fxp.fixed<8, 2, signed>> -> tensor<8x3x!fxp.auto>
  func.return
}
// CHECK: fxp.avgpool %{{.*}} {kernel = array<i64: 3>, strides = array<i64: 1>, padding = array<i64: 1, 1>, scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<8x3x!fxp.fixed<8, 2, signed>> -> tensor<8x3x!fxp.auto>

// -----

func.func @avgpool_padding(%x: tensor<8x3x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.avgpool %x {kernel = array<i64: 3>, padding = array<i64: 1>, scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<8x3x!fxp.fixed<8, 2, signed>> -> tensor<2x3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.avgpool' padding must hold 2 values >= 0 (befores, then afters), got [1]
