// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.multithreshold: out_bias + out_scale * count(x >= thresholds[c, :]) per channel, then cast.

func.func @multithreshold(%seq: tensor<8x3x!fxp.fixed<8, 2, signed>>, %th: tensor<3x3x!fxp.fixed<8, 2, signed>>) {
  %5 = fxp.multithreshold %seq, %th {out_scale = 1.0 : f64, out_bias = -1.0 : f64} : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<3x3x!fxp.fixed<8, 2, signed>>) -> tensor<8x3x!fxp.fixed<2, 2, signed>>
  func.return
}
// CHECK: fxp.multithreshold %{{.*}}, %{{.*}} {out_scale = 1.000000e+00 : f64, out_bias = -1.000000e+00 : f64} : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<3x3x!fxp.fixed<8, 2, signed>>) -> tensor<8x3x!fxp.fixed<2, 2, signed>>

// -----

func.func @multithreshold_shape(%x: tensor<8x3x!fxp.fixed<8, 2, signed>>, %t: tensor<2x3x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.multithreshold %x, %t {out_scale = 1.0 : f64, out_bias = 0.0 : f64} : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<2x3x!fxp.fixed<8, 2, signed>>) -> tensor<8x3x!fxp.fixed<2, 2, signed>>
  func.return
}
// CHECK: 'fxp.multithreshold' needs thresholds [C or 1, T] for input [..., C=3]
