// RUN: not fmlc-opt %s -p dataflow-to-hls 2>&1 | filecheck %s
// An op left outside a dataflow.node is named, with what to run first.

// CHECK: dataflow-to-hls: fxp.relu 'relu_0': is outside a dataflow.node: run fxp-to-dataflow before dataflow-to-hls

func.func @main(%x: tensor<4x!fxp.fixed<8, 3, signed>>) -> tensor<4x!fxp.fixed<8, 3, signed>> {
  %y = fxp.relu %x {name = "relu_0"} : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<8, 3, signed>>
  func.return %y : tensor<4x!fxp.fixed<8, 3, signed>>
}
