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

// -----

// QONNX's input quantizer as steps in float32: x / s + z, QONNX's clamp, QONNX's rounding; a
// per-channel constant is a float32 tensor broadcast to the input.
func.func @quantize_steps(%in: tensor<3x2xf32>) {
  %q = fxp.quantize %in {steps = [["sub", dense<[[1.0], [2.0], [3.0]]> : tensor<3x1xf32>], ["div", 1.000000e-01 : f64], ["add", 0.000000e+00 : f64], ["clip", -1.280000e+02 : f64, 1.270000e+02 : f64], ["round", "HALF_UP"]]} : tensor<3x2xf32> -> tensor<3x2x!fxp.fixed<8, 8, signed, RND_CONV, SAT>>
  %b = fxp.quantize %in {steps = [["bipolar"], ["mul", 5.000000e-01 : f64]]} : tensor<3x2xf32> -> tensor<3x2x!fxp.fixed<2, 1, signed>>
  func.return
}
// CHECK: fxp.quantize %{{.*}} {steps = [["sub", dense<{{\[\[}}1.000000e+00], [2.000000e+00], [3.000000e+00]]> : tensor<3x1xf32>], ["div", 1.000000e-01 : f64], ["add", 0.000000e+00 : f64], ["clip", -1.280000e+02 : f64, 1.270000e+02 : f64], ["round", "HALF_UP"]]}
// CHECK: fxp.quantize %{{.*}} {steps = [["bipolar"], ["mul", 5.000000e-01 : f64]]}

// -----

func.func @quantize_unknown_step(%in: tensor<4xf32>) {
  %q = fxp.quantize %in {steps = [["sqrt"]]} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 8, signed>>
  func.return
}
// CHECK: 'fxp.quantize': unknown quantize step ['sqrt']

// -----

func.func @quantize_bad_rounding(%in: tensor<4xf32>) {
  %q = fxp.quantize %in {steps = [["round", "STOCHASTIC"]]} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 8, signed>>
  func.return
}
// CHECK: 'fxp.quantize': unknown rounding 'STOCHASTIC'

// -----

func.func @quantize_clip_reversed(%in: tensor<4xf32>) {
  %q = fxp.quantize %in {steps = [["clip", 2.0 : f64, -1.0 : f64]]} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 8, signed>>
  func.return
}
// CHECK: 'fxp.quantize': quantize step 'clip' has lo 2.0 > hi -1.0

// -----

func.func @quantize_divide_by_zero(%in: tensor<4xf32>) {
  %q = fxp.quantize %in {steps = [["div", 0.0 : f64]]} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 8, signed>>
  func.return
}
// CHECK: 'fxp.quantize': quantize step 'div' by zero

// -----

func.func @quantize_constant_shape(%in: tensor<4xf32>) {
  %q = fxp.quantize %in {steps = [["sub", dense<[1.0, 2.0]> : tensor<2xf32>]]} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 8, signed>>
  func.return
}
// CHECK: 'fxp.quantize': quantize step 'sub' constant of shape [2] does not broadcast to the input [4]

// -----

func.func @quantize_steps_and_scale(%in: tensor<4xf32>) {
  %q = fxp.quantize %in {scale = 2.0 : f64, steps = [["round", "ROUND"]]} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 8, signed>>
  func.return
}
// CHECK: 'fxp.quantize' takes either steps or scale/offset, not both
