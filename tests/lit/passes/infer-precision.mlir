// RUN: fmlc-opt %s -p fxp-infer-precision --split-input-file | filecheck %s

// x in [-8, 7]; columns x0 + 3 x1 in [-32, 28] and 2 x0 - x1 in [-23, 22]: the exact sums need
// fixed<6, 6>; after ReLU [0, 28] fits ufixed<5, 5>.
// CHECK-LABEL: func.func @dense_relu
// CHECK-SAME:    -> tensor<2x!fxp.fixed<5, 5, unsigned>>
// CHECK:         fxp.dense {{.*}} {acc = !fxp.fixed<6, 6, signed>} : {{.*}} -> tensor<2x!fxp.fixed<6, 6, signed>>
// CHECK:         fxp.relu {{.*}} : tensor<2x!fxp.fixed<6, 6, signed>> -> tensor<2x!fxp.fixed<5, 5, unsigned>>
func.func @dense_relu(%x: tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.auto> {
  %w = fxp.constant dense<[[1, 2], [3, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w {acc = !fxp.auto} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.auto>
  %r = fxp.relu %y : tensor<2x!fxp.auto> -> tensor<2x!fxp.auto>
  func.return %r : tensor<2x!fxp.auto>
}

// -----

// A type the user gave is kept; only the accumulator is chosen. The bias (1/2, frac 1) adds a
// fractional bit: sums in [-31.5, 28.5], codes [-63, 57] at frac 1 -> fixed<7, 6>.
// CHECK-LABEL: func.func @keep_user_type
// CHECK:         fxp.dense {{.*}} {acc = !fxp.fixed<7, 6, signed>} : {{.*}} -> tensor<2x!fxp.fixed<4, 2, signed, RND, SAT>>
func.func @keep_user_type(%x: tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<4, 2, signed, RND, SAT>> {
  %w = fxp.constant dense<[[1, 2], [3, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %b = fxp.constant dense<1> : tensor<2x!fxp.fixed<2, 1, signed>>
  %y = fxp.dense %x, %w, %b {acc = !fxp.auto} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>, tensor<2x!fxp.fixed<2, 1, signed>>) -> tensor<2x!fxp.fixed<4, 2, signed, RND, SAT>>
  func.return %y : tensor<2x!fxp.fixed<4, 2, signed, RND, SAT>>
}

// -----

// Add aligns grids: [-2, 1.75] + [0, 0.875] = [-2, 2.625] at 3 fractional bits -> fixed<6, 3>.
// Multiply adds fractional bits: [-2, 1.75] * [0, 0.875] = [-1.75, 1.53125] at frac 5 -> fixed<7, 2>.
// CHECK-LABEL: func.func @arith
// CHECK:         fxp.add {{.*}} -> tensor<4x!fxp.fixed<6, 3, signed>>
// CHECK:         fxp.mul {{.*}} -> tensor<4x!fxp.fixed<7, 2, signed>>
func.func @arith(%a: tensor<4x!fxp.fixed<4, 2, signed>>, %b: tensor<4x!fxp.fixed<3, 0, unsigned>>) -> (tensor<4x!fxp.auto>, tensor<4x!fxp.auto>) {
  %s = fxp.add %a, %b : (tensor<4x!fxp.fixed<4, 2, signed>>, tensor<4x!fxp.fixed<3, 0, unsigned>>) -> tensor<4x!fxp.auto>
  %p = fxp.mul %a, %b : (tensor<4x!fxp.fixed<4, 2, signed>>, tensor<4x!fxp.fixed<3, 0, unsigned>>) -> tensor<4x!fxp.auto>
  func.return %s, %p : tensor<4x!fxp.auto>, tensor<4x!fxp.auto>
}

// -----

// Data movement takes its input's type; concat of different types casts both to the
// narrowest common type (here the union of [-2, 1.75] and [0, 7.875] at frac 3: fixed<7, 4>).
// CHECK-LABEL: func.func @movement
// CHECK:         fxp.flatten {{.*}} -> tensor<4x!fxp.fixed<4, 2, signed>>
// CHECK:         fxp.cast {{.*}} : tensor<4x!fxp.fixed<4, 2, signed>> -> tensor<4x!fxp.fixed<7, 4, signed>>
// CHECK:         fxp.cast {{.*}} : tensor<4x!fxp.fixed<6, 3, unsigned>> -> tensor<4x!fxp.fixed<7, 4, signed>>
// CHECK:         fxp.concat {{.*}} -> tensor<8x!fxp.fixed<7, 4, signed>>
func.func @movement(%a: tensor<2x2x!fxp.fixed<4, 2, signed>>, %b: tensor<4x!fxp.fixed<6, 3, unsigned>>) -> tensor<8x!fxp.auto> {
  %f = fxp.flatten %a : tensor<2x2x!fxp.fixed<4, 2, signed>> -> tensor<4x!fxp.fixed<4, 2, signed>>
  %c = fxp.concat %f, %b {axis = 0 : i64} : (tensor<4x!fxp.fixed<4, 2, signed>>, tensor<4x!fxp.fixed<6, 3, unsigned>>) -> tensor<8x!fxp.auto>
  func.return %c : tensor<8x!fxp.auto>
}

// -----

// Padded taps contribute zero: a 1-D convolution of x in [1, 3] (unsigned) with kernel [1, 1]
// and one zero of padding each side sums to [0, 6] -> ufixed<3, 3>.
// CHECK-LABEL: func.func @conv_padding
// CHECK:         fxp.conv {{.*}} acc = !fxp.fixed<3, 3, unsigned>} : {{.*}} -> tensor<5x1x!fxp.fixed<3, 3, unsigned>>
func.func @conv_padding(%x: tensor<4x1x!fxp.fixed<2, 2, unsigned>>) -> tensor<5x1x!fxp.auto> {
  %k = fxp.constant dense<1> : tensor<2x1x1x!fxp.fixed<1, 1, unsigned>>
  %y = fxp.conv %x, %k {padding = array<i64: 1, 1>, acc = !fxp.auto} : (tensor<4x1x!fxp.fixed<2, 2, unsigned>>, tensor<2x1x1x!fxp.fixed<1, 1, unsigned>>) -> tensor<5x1x!fxp.auto>
  func.return %y : tensor<5x1x!fxp.auto>
}

// -----

// Inside dataflow nodes too; the node's result type follows.
// CHECK-LABEL: func.func @in_node
// CHECK:         dataflow.node "relu_0"({{.*}}) {{.*}} : (tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<3x!fxp.fixed<3, 1, unsigned>>
// CHECK:           fxp.relu {{.*}} -> tensor<3x!fxp.fixed<3, 1, unsigned>>
func.func @in_node(%x: tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<3x!fxp.auto> {
  %y = dataflow.node "relu_0"(%x) {reuse_factor = 1 : i64, io = "parallel"} : (tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<3x!fxp.auto> {
  ^bb0(%a: tensor<3x!fxp.fixed<4, 2, signed>>):
    %r = fxp.relu %a : tensor<3x!fxp.fixed<4, 2, signed>> -> tensor<3x!fxp.auto>
    dataflow.yield %r : tensor<3x!fxp.auto>
  }
  func.return %y : tensor<3x!fxp.auto>
}
