// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.softmax: Softmax over the last axis, defined step by step with two tables (see docs/semantics.md).

func.func @softmax(%x: tensor<5x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.softmax %x {diff_type = !fxp.fixed<2, 2, unsigned, TRN, SAT>, exp_type = !fxp.fixed<4, 0, unsigned>, sum_type = !fxp.fixed<2, 3, unsigned, TRN, SAT>, inv_type = !fxp.fixed<4, 1, unsigned>, exp_table = dense<[15, 6, 2, 1]> : tensor<4xi8>, inv_table = dense<[15, 8, 4, 3]> : tensor<4xi8>} : tensor<5x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 0, unsigned>>
  func.return
}
// CHECK: fxp.softmax %{{.*}} {diff_type = !fxp.fixed<2, 2, unsigned, TRN, SAT>, exp_type = !fxp.fixed<4, 0, unsigned>, sum_type = !fxp.fixed<2, 3, unsigned, TRN, SAT>, inv_type = !fxp.fixed<4, 1, unsigned>, exp_table = dense<[15, 6, 2, 1]> : tensor<4xi8>, inv_table = dense<[15, 8, 4, 3]> : tensor<4xi8>} : tensor<5x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 0, unsigned>>

// -----

func.func @softmax_signed(%x: tensor<5x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.softmax %x {diff_type = !fxp.fixed<2, 2, signed, TRN, SAT>, exp_type = !fxp.fixed<4, 0, unsigned>, sum_type = !fxp.fixed<2, 3, unsigned, TRN, SAT>, inv_type = !fxp.fixed<4, 1, unsigned>, exp_table = dense<[15, 6, 2, 1]> : tensor<4xi8>, inv_table = dense<[15, 8, 4, 3]> : tensor<4xi8>} : tensor<5x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.softmax' exp table index type fixed<2,2,TRN,SAT> must be unsigned

// -----

func.func @softmax_table(%x: tensor<5x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.softmax %x {diff_type = !fxp.fixed<2, 2, unsigned, TRN, SAT>, exp_type = !fxp.fixed<4, 0, unsigned>, sum_type = !fxp.fixed<2, 3, unsigned, TRN, SAT>, inv_type = !fxp.fixed<4, 1, unsigned>, exp_table = dense<[15, 6]> : tensor<2xi8>, inv_table = dense<[15, 8, 4, 3]> : tensor<4xi8>} : tensor<5x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.softmax' exp_table needs 4 entries, got [2]
