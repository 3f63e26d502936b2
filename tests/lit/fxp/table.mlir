// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// fxp.table: A lookup over every code of the input type: entry code(x) - min_code.

func.func @table(%i: tensor<4x!fxp.fixed<2, 1, signed, TRN, SAT>>) {
  %t = fxp.table %i {table = dense<[0, 1, 2, 3]> : tensor<4xi8>, function = "sigmoid"} : tensor<4x!fxp.fixed<2, 1, signed, TRN, SAT>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}
// CHECK: fxp.table %{{.*}} {table = dense<[0, 1, 2, 3]> : tensor<4xi8>, function = "sigmoid"} : tensor<4x!fxp.fixed<2, 1, signed, TRN, SAT>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>

// -----

func.func @table_size(%x: tensor<4x!fxp.fixed<3, 1, signed>>) {
  %y = fxp.table %x {table = dense<[0, 1, 2, 3]> : tensor<4xi8>} : tensor<4x!fxp.fixed<3, 1, signed>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.table' needs 8 entries for input fixed<3,1>, got [4]

// -----

func.func @table_wide(%x: tensor<4x!fxp.fixed<24, 1, signed>>) {
  %y = fxp.table %x {table = dense<[0, 1, 2, 3]> : tensor<4xi8>} : tensor<4x!fxp.fixed<24, 1, signed>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.table' input fixed<24,1> is too wide to index a table (at most 20 bits); cast it first

// -----

func.func @table_entry(%x: tensor<4x!fxp.fixed<1, 1, signed>>) {
  %y = fxp.table %x {table = dense<[0, 9]> : tensor<2xi8>} : tensor<4x!fxp.fixed<1, 1, signed>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.table' table holds code 9, outside ufixed<2,0> [0, 3]

// -----

func.func @table_auto(%x: tensor<4x!fxp.auto>) {
  %y = fxp.table %x {table = dense<[0, 1]> : tensor<2xi8>} : tensor<4x!fxp.auto> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.table' needs resolved input and result types
