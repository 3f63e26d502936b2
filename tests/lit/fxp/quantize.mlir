// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.quantize: Float to fixed at the model boundary, with an optional float32/float64 affine pre-transform.

func.func @quantize(%in: tensor<4xf32>) {
  %q = fxp.quantize %in {scale = 2.0 : f64, offset = -1.0 : f64} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 3, signed>>
  %r = fxp.quantize %in : tensor<4xf32> -> tensor<4x!fxp.fixed<2, 2, signed, RND_CONV, SAT_SYM>>
  func.return
}
// CHECK: fxp.quantize %{{.*}} {scale = 2.000000e+00 : f64, offset = -1.000000e+00 : f64} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 3, signed>>
// CHECK: fxp.quantize %{{.*}} : tensor<4xf32> -> tensor<4x!fxp.fixed<2, 2, signed, RND_CONV, SAT_SYM>>

// -----

func.func @quantize_fixed(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.quantize %x : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.quantize' input must be a float tensor

// -----

func.func @quantize_shape(%x: tensor<4xf32>) {
  %y = fxp.quantize %x : tensor<4xf32> -> tensor<5x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.quantize' changes the shape [4] -> [5]
