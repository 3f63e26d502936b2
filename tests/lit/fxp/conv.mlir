// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.conv: 1-D/2-D convolution, channels-last; strides, dilations, padding (befores then afters), groups.

func.func @conv(%img: tensor<5x5x2x!fxp.fixed<8, 1, unsigned>>, %k2: tensor<3x3x1x4x!fxp.fixed<4, 1, signed>>, %seq: tensor<9x4x!fxp.fixed<6, 1, signed>>, %k1: tensor<3x4x2x!fxp.fixed<4, 1, signed>>, %b1: tensor<2x!fxp.fixed<4, 1, signed>>) {
  %c2 = fxp.conv %img, %k2 {strides = array<i64: 2, 1>, dilations = array<i64: 1, 2>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64, acc = !fxp.auto} : (tensor<5x5x2x!fxp.fixed<8, 1, unsigned>>, tensor<3x3x1x4x!fxp.fixed<4, 1, signed>>) -> tensor<3x3x4x!fxp.auto>
  %c1 = fxp.conv %seq, %k1, %b1 {acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x4x2x!fxp.fixed<4, 1, signed>>, tensor<2x!fxp.fixed<4, 1, signed>>) -> tensor<7x2x!fxp.auto>
  func.return
}
// CHECK: fxp.conv %{{.*}}, %{{.*}} {strides = array<i64: 2, 1>, dilations = array<i64: 1, 2>, padding = array<i64: 1, 1, 1, 1>, groups = 2 : i64, acc = !fxp.auto}
// CHECK: fxp.conv %{{.*}}, %{{.*}}, %{{.*}} {acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x4x2x!fxp.fixed<4, 1, signed>>, tensor<2x!fxp.fixed<4, 1, signed>>) -> tensor<7x2x!fxp.auto>

// -----

func.func @conv_shape(%x: tensor<9x4x!fxp.fixed<6, 1, signed>>, %w: tensor<3x4x2x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.conv %x, %w {acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x4x2x!fxp.fixed<4, 1, signed>>) -> tensor<9x2x!fxp.auto>
  func.return
}
// CHECK: 'fxp.conv' result must be [7, 2], got [9, 2]

// -----

func.func @conv_groups(%x: tensor<9x4x!fxp.fixed<6, 1, signed>>, %w: tensor<3x2x3x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.conv %x, %w {groups = 2 : i64, acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x2x3x!fxp.fixed<4, 1, signed>>) -> tensor<7x3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.conv' with 2 group(s) needs C=4 and F=3 divisible by it

// -----

func.func @conv_rank(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<3x4x2x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.conv %x, %w {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<3x4x2x!fxp.fixed<4, 1, signed>>) -> tensor<2x!fxp.auto>
  func.return
}
// CHECK: 'fxp.conv' is 1-D or 2-D

// -----

func.func @conv_stride(%x: tensor<9x4x!fxp.fixed<6, 1, signed>>, %w: tensor<3x4x2x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.conv %x, %w {strides = array<i64: 0>, acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x4x2x!fxp.fixed<4, 1, signed>>) -> tensor<7x2x!fxp.auto>
  func.return
}
// CHECK: 'fxp.conv' strides must hold 1 values >= 1, got [0]
