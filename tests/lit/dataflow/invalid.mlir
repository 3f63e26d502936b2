// RUN: fmlc-opt %s --verify-diagnostics --split-input-file | filecheck %s

func.func @reuse(%x: tensor<3x!fxp.fixed<4, 2, signed>>) {
  %y = dataflow.node "relu_0"(%x) {reuse_factor = 0 : i64, io = "parallel"} : (tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<3x!fxp.fixed<4, 2, signed>> {
  ^bb0(%a: tensor<3x!fxp.fixed<4, 2, signed>>):
    dataflow.yield %a : tensor<3x!fxp.fixed<4, 2, signed>>
  }
  func.return
}
// CHECK: dataflow.node 'relu_0' reuse factor must be >= 1, got 0

// -----

func.func @io(%x: tensor<3x!fxp.fixed<4, 2, signed>>) {
  %y = dataflow.node "relu_0"(%x) {reuse_factor = 1 : i64, io = "serial"} : (tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<3x!fxp.fixed<4, 2, signed>> {
  ^bb0(%a: tensor<3x!fxp.fixed<4, 2, signed>>):
    dataflow.yield %a : tensor<3x!fxp.fixed<4, 2, signed>>
  }
  func.return
}
// CHECK: dataflow.node 'relu_0' io must be one of ('parallel', 'stream'), got 'serial'

// -----

func.func @yield(%x: tensor<3x!fxp.fixed<4, 2, signed>>) {
  %y = dataflow.node "relu_0"(%x) {reuse_factor = 1 : i64, io = "parallel"} : (tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<3x!fxp.fixed<5, 2, signed>> {
  ^bb0(%a: tensor<3x!fxp.fixed<4, 2, signed>>):
    dataflow.yield %a : tensor<3x!fxp.fixed<4, 2, signed>>
  }
  func.return
}
// CHECK: dataflow.node 'relu_0' must yield values of its result types

// -----

func.func @isolated(%x: tensor<3x!fxp.fixed<4, 2, signed>>) {
  %y = dataflow.node "relu_0"() {reuse_factor = 1 : i64, io = "parallel"} : () -> tensor<3x!fxp.fixed<4, 2, signed>> {
    dataflow.yield %x : tensor<3x!fxp.fixed<4, 2, signed>>
  }
  func.return
}
// CHECK: Operation using value defined out of its IsolatedFromAbove parent
