// RUN: fmlc-opt %s | filecheck %s
// Printing, parsing and printing again gives identical text:
// RUN: fmlc-opt %s -o %t.a.mlir && fmlc-opt %t.a.mlir -o %t.b.mlir && diff %t.a.mlir %t.b.mlir

!x = tensor<4x!fxp.fixed<8, 3, signed>>

// CHECK-LABEL: func.func @constants_and_conversions
func.func @constants_and_conversions(%in: tensor<4xf32>) -> !x {
  // Constants print as hex bytes of their codes (i8 here), splats as one code.
  // CHECK: %{{.*}} = fxp.constant dense<"0x01FF807F"> : tensor<4x!fxp.fixed<8, 3, signed>>
  %c = fxp.constant dense<[1, -1, -128, 127]> : !x
  // CHECK: %{{.*}} = fxp.constant dense<5> : tensor<2x2x!fxp.fixed<4, 4, unsigned>>
  %s = fxp.constant dense<5> : tensor<2x2x!fxp.fixed<4, 4, unsigned>>
  // CHECK: %[[Q:.*]] = fxp.quantize %{{.*}} {scale = 2.000000e+00 : f64, offset = -1.000000e+00 : f64} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 3, signed>>
  %q = fxp.quantize %in {scale = 2.0 : f64, offset = -1.0 : f64} : tensor<4xf32> -> !x
  // CHECK: fxp.cast %[[Q]] : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<4, 1, signed, RND_CONV, SAT>>
  %k = fxp.cast %q : !x -> tensor<4x!fxp.fixed<4, 1, signed, RND_CONV, SAT>>
  func.return %q : !x
}

// CHECK-LABEL: func.func @linear
func.func @linear(%x: !x, %img: tensor<5x5x2x!fxp.fixed<8, 1, unsigned>>, %seq: tensor<9x4x!fxp.fixed<6, 1, signed>>) {
  %w = fxp.constant dense<1> : tensor<4x3x!fxp.fixed<4, 1, signed>>
  %b = fxp.constant dense<-2> : tensor<3x!fxp.fixed<6, 2, signed>>
  // CHECK: fxp.dense %{{.*}}, %{{.*}}, %{{.*}} {acc = !fxp.fixed<16, 7, signed>} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>, tensor<3x!fxp.fixed<6, 2, signed>>) -> tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>
  %d = fxp.dense %x, %w, %b {acc = !fxp.fixed<16, 7, signed>} : (!x, tensor<4x3x!fxp.fixed<4, 1, signed>>, tensor<3x!fxp.fixed<6, 2, signed>>) -> tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>
  // CHECK: fxp.dense %{{.*}}, %{{.*}} {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  %d2 = fxp.dense %x, %w {acc = !fxp.auto} : (!x, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  %k2 = fxp.constant dense<1> : tensor<3x3x1x4x!fxp.fixed<4, 1, signed>>
  // 2-D, depthwise-style groups, stride, dilation and padding (befores, then afters)
  // CHECK: fxp.conv %{{.*}}, %{{.*}} {strides = array<i64: 2, 1>, dilations = array<i64: 1, 2>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64, acc = !fxp.auto}
  // CHECK-SAME: -> tensor<3x3x4x!fxp.auto>
  %c2 = fxp.conv %img, %k2 {strides = array<i64: 2, 1>, dilations = array<i64: 1, 2>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64, acc = !fxp.auto} : (tensor<5x5x2x!fxp.fixed<8, 1, unsigned>>, tensor<3x3x1x4x!fxp.fixed<4, 1, signed>>) -> tensor<3x3x4x!fxp.auto>
  %k1 = fxp.constant dense<1> : tensor<3x4x2x!fxp.fixed<4, 1, signed>>
  %b1 = fxp.constant dense<1> : tensor<2x!fxp.fixed<4, 1, signed>>
  // CHECK: fxp.conv %{{.*}}, %{{.*}}, %{{.*}} {acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x4x2x!fxp.fixed<4, 1, signed>>, tensor<2x!fxp.fixed<4, 1, signed>>) -> tensor<7x2x!fxp.auto>
  %c1 = fxp.conv %seq, %k1, %b1 {acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x4x2x!fxp.fixed<4, 1, signed>>, tensor<2x!fxp.fixed<4, 1, signed>>) -> tensor<7x2x!fxp.auto>
  func.return
}

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%x: !x, %y: tensor<3x4x!fxp.fixed<6, 6, unsigned>>) {
  %a = fxp.constant dense<3> : tensor<1x!fxp.fixed<4, 0, unsigned>>
  // Broadcasting follows numpy: [4] with [3, 4] gives [3, 4].
  // CHECK: fxp.add %{{.*}}, %{{.*}} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<3x4x!fxp.fixed<6, 6, unsigned>>) -> tensor<3x4x!fxp.auto>
  %0 = fxp.add %x, %y : (!x, tensor<3x4x!fxp.fixed<6, 6, unsigned>>) -> tensor<3x4x!fxp.auto>
  // CHECK: fxp.sub
  %1 = fxp.sub %x, %x : (!x, !x) -> tensor<4x!fxp.fixed<9, 4, signed>>
  // CHECK: fxp.mul
  %2 = fxp.mul %x, %a : (!x, tensor<1x!fxp.fixed<4, 0, unsigned>>) -> tensor<4x!fxp.auto>
  // CHECK: fxp.maximum
  %3 = fxp.maximum %x, %a : (!x, tensor<1x!fxp.fixed<4, 0, unsigned>>) -> !x
  // CHECK: fxp.minimum
  %4 = fxp.minimum %x, %x : (!x, !x) -> !x
  // CHECK: fxp.relu %{{.*}} : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<7, 2, unsigned>>
  %5 = fxp.relu %x : !x -> tensor<4x!fxp.fixed<7, 2, unsigned>>
  // CHECK: fxp.leaky_relu %{{.*}}, %{{.*}} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<1x!fxp.fixed<4, 0, unsigned>>) -> tensor<4x!fxp.auto>
  %6 = fxp.leaky_relu %x, %a : (!x, tensor<1x!fxp.fixed<4, 0, unsigned>>) -> tensor<4x!fxp.auto>
  // CHECK: fxp.thresholded_relu %{{.*}} {alpha = 1.000000e+00 : f64} : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<8, 3, signed>>
  %7 = fxp.thresholded_relu %x {alpha = 1.0 : f64} : !x -> !x
  %i = fxp.cast %x : !x -> tensor<4x!fxp.fixed<2, 1, signed, TRN, SAT>>
  // A table has one entry per code of its input type, from the smallest code up.
  // CHECK: fxp.table %{{.*}} {table = dense<[0, 1, 2, 3]> : tensor<4xi8>, function = "sigmoid"} : tensor<4x!fxp.fixed<2, 1, signed, TRN, SAT>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  %8 = fxp.table %i {table = dense<[0, 1, 2, 3]> : tensor<4xi8>, function = "sigmoid"} : tensor<4x!fxp.fixed<2, 1, signed, TRN, SAT>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}

// CHECK-LABEL: func.func @softmax
func.func @softmax(%x: tensor<5x!fxp.fixed<8, 3, signed>>) -> tensor<5x!fxp.fixed<8, 0, unsigned>> {
  // CHECK: fxp.softmax %{{.*}} {diff_type = !fxp.fixed<2, 2, unsigned, TRN, SAT>, exp_type = !fxp.fixed<4, 0, unsigned>, sum_type = !fxp.fixed<2, 3, unsigned, TRN, SAT>, inv_type = !fxp.fixed<4, 1, unsigned>, exp_table = dense<[15, 6, 2, 1]> : tensor<4xi8>, inv_table = dense<[15, 8, 4, 3]> : tensor<4xi8>} : tensor<5x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 0, unsigned>>
  %y = fxp.softmax %x {diff_type = !fxp.fixed<2, 2, unsigned, TRN, SAT>, exp_type = !fxp.fixed<4, 0, unsigned>, sum_type = !fxp.fixed<2, 3, unsigned, TRN, SAT>, inv_type = !fxp.fixed<4, 1, unsigned>, exp_table = dense<[15, 6, 2, 1]> : tensor<4xi8>, inv_table = dense<[15, 8, 4, 3]> : tensor<4xi8>} : tensor<5x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 0, unsigned>>
  func.return %y : tensor<5x!fxp.fixed<8, 0, unsigned>>
}

// CHECK-LABEL: func.func @pooling_and_norm
func.func @pooling_and_norm(%img: tensor<6x6x3x!fxp.fixed<8, 2, signed>>, %seq: tensor<8x3x!fxp.fixed<8, 2, signed>>) {
  // CHECK: fxp.maxpool %{{.*}} {kernel = array<i64: 2, 2>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x3x3x!fxp.fixed<8, 2, signed>>
  %0 = fxp.maxpool %img {kernel = array<i64: 2, 2>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x3x3x!fxp.fixed<8, 2, signed>>
  // CHECK: fxp.avgpool %{{.*}} {kernel = array<i64: 3>, strides = array<i64: 1>, padding = array<i64: 1, 1>, scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<8x3x!fxp.fixed<8, 2, signed>> -> tensor<8x3x!fxp.auto>
  %1 = fxp.avgpool %seq {kernel = array<i64: 3>, strides = array<i64: 1>, padding = array<i64: 1, 1>, scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<8x3x!fxp.fixed<8, 2, signed>> -> tensor<8x3x!fxp.auto>
  // CHECK: fxp.global_maxpool %{{.*}} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x!fxp.fixed<8, 2, signed>>
  %2 = fxp.global_maxpool %img : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x!fxp.fixed<8, 2, signed>>
  // CHECK: fxp.global_avgpool %{{.*}} {scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>}
  %3 = fxp.global_avgpool %img {scale_type = !fxp.fixed<8, 0, unsigned, RND, WRAP>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<3x!fxp.auto>
  %s = fxp.constant dense<[1, 2, 3]> : tensor<3x!fxp.fixed<4, 2, signed>>
  %t = fxp.constant dense<[0, 1, -1]> : tensor<3x!fxp.fixed<4, 2, signed>>
  // CHECK: fxp.batchnorm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<8x3x!fxp.auto>
  %4 = fxp.batchnorm %seq, %s, %t : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<8x3x!fxp.auto>
  %th = fxp.constant dense<[[-1, 0, 1], [0, 1, 2], [1, 2, 3]]> : tensor<3x3x!fxp.fixed<8, 2, signed>>
  // CHECK: fxp.multithreshold %{{.*}}, %{{.*}} {out_scale = 1.000000e+00 : f64, out_bias = -1.000000e+00 : f64} : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<3x3x!fxp.fixed<8, 2, signed>>) -> tensor<8x3x!fxp.fixed<2, 2, signed>>
  %5 = fxp.multithreshold %seq, %th {out_scale = 1.0 : f64, out_bias = -1.0 : f64} : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<3x3x!fxp.fixed<8, 2, signed>>) -> tensor<8x3x!fxp.fixed<2, 2, signed>>
  func.return
}

// CHECK-LABEL: func.func @data_movement
func.func @data_movement(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  // CHECK: fxp.reshape %{{.*}} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<6x4x!fxp.fixed<8, 2, signed>>
  %0 = fxp.reshape %x : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<6x4x!fxp.fixed<8, 2, signed>>
  // CHECK: fxp.flatten %{{.*}} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<24x!fxp.fixed<8, 2, signed>>
  %1 = fxp.flatten %x : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<24x!fxp.fixed<8, 2, signed>>
  // CHECK: fxp.transpose %{{.*}} {perm = array<i64: 2, 0, 1>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<4x2x3x!fxp.fixed<8, 2, signed>>
  %2 = fxp.transpose %x {perm = array<i64: 2, 0, 1>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<4x2x3x!fxp.fixed<8, 2, signed>>
  // CHECK: fxp.pad %{{.*}} {padding = array<i64: 0, 1, 0, 0, 1, 2>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<2x5x6x!fxp.fixed<8, 2, signed>>
  %3 = fxp.pad %x {padding = array<i64: 0, 1, 0, 0, 1, 2>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<2x5x6x!fxp.fixed<8, 2, signed>>
  // CHECK: fxp.concat %{{.*}}, %{{.*}} {axis = 2 : i64} : (tensor<2x3x4x!fxp.fixed<8, 2, signed>>, tensor<2x3x4x!fxp.fixed<8, 2, signed>>) -> tensor<2x3x8x!fxp.fixed<8, 2, signed>>
  %4 = fxp.concat %x, %x {axis = 2 : i64} : (tensor<2x3x4x!fxp.fixed<8, 2, signed>>, tensor<2x3x4x!fxp.fixed<8, 2, signed>>) -> tensor<2x3x8x!fxp.fixed<8, 2, signed>>
  func.return
}
