// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.dense: Dense layer: products and bias accumulate (wrapping) in `acc`, then the result is cast.

func.func @dense(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<4x3x!fxp.fixed<4, 1, signed>>, %b: tensor<3x!fxp.fixed<6, 2, signed>>) {
  %d = fxp.dense %x, %w, %b {acc = !fxp.fixed<16, 7, signed>} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>, tensor<3x!fxp.fixed<6, 2, signed>>) -> tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>
  %e = fxp.dense %x, %w {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: fxp.dense %{{.*}}, %{{.*}}, %{{.*}} {acc = !fxp.fixed<16, 7, signed>} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>, tensor<3x!fxp.fixed<6, 2, signed>>) -> tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>
// CHECK: fxp.dense %{{.*}}, %{{.*}} {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>

// -----

func.func @dense_k(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<5x3x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.dense %x, %w {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<5x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.dense' input has 4 features but weight expects 5

// -----

func.func @dense_acc(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<4x3x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.dense %x, %w {acc = !fxp.fixed<16, 8, signed, TRN, SAT>} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.dense' accumulator !fxp.fixed<16, 8, signed, TRN, SAT> must wrap (WRAP)

// -----

func.func @dense_bias(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<4x3x!fxp.fixed<4, 1, signed>>, %b: tensor<4x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.dense %x, %w, %b {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>, tensor<4x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.dense' bias must be [3], got [4]

// -----

func.func @dense_result(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<4x3x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.dense %x, %w {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<4x!fxp.auto>
  func.return
}
// CHECK: 'fxp.dense' result must be [3], got [4]
