// RUN: fmlc-opt %s | filecheck %s
// RUN: fmlc-opt %s | fmlc-opt | filecheck %s

// Every form of the fixed-point type: modes are printed only when not TRN/WRAP; integer bits
// may be negative or exceed the width; a lone overflow mode implies TRN.

// CHECK-LABEL: func.func @types
// CHECK-SAME: tensor<1x!fxp.fixed<16, 6, signed>>
// CHECK-SAME: tensor<1x!fxp.fixed<8, 0, unsigned, RND_CONV, SAT>>
// CHECK-SAME: tensor<1x!fxp.fixed<4, -3, signed, RND_ZERO, SAT_SYM>>
// CHECK-SAME: tensor<1x!fxp.fixed<3, 10, unsigned, TRN, SAT_ZERO>>
// CHECK-SAME: tensor<1x!fxp.fixed<128, 64, signed, RND_INF, WRAP>>
// CHECK-SAME: tensor<1x!fxp.fixed<1, 1, signed, RND_MIN_INF, WRAP>>
// CHECK-SAME: tensor<1x!fxp.fixed<2, 2, signed, TRN_ZERO, WRAP>>
// CHECK-SAME: tensor<1x!fxp.fixed<5, 2, signed, RND, WRAP>>
// CHECK-SAME: tensor<1x!fxp.auto>
func.func @types(%a: tensor<1x!fxp.fixed<16, 6, signed>>,
                 %b: tensor<1x!fxp.fixed<8, 0, unsigned, RND_CONV, SAT>>,
                 %c: tensor<1x!fxp.fixed<4, -3, signed, RND_ZERO, SAT_SYM>>,
                 %d: tensor<1x!fxp.fixed<3, 10, unsigned, SAT_ZERO>>,
                 %e: tensor<1x!fxp.fixed<128, 64, signed, RND_INF, WRAP>>,
                 %f: tensor<1x!fxp.fixed<1, 1, signed, RND_MIN_INF>>,
                 %g: tensor<1x!fxp.fixed<2, 2, signed, TRN_ZERO, WRAP>>,
                 %h: tensor<1x!fxp.fixed<5, 2, signed, RND>>,
                 %i: tensor<1x!fxp.auto>) {
  func.return
}
