// RUN: fmlc-opt %s -p fxp-to-dataflow | filecheck %s --check-prefix=PAR
// RUN: fmlc-opt %s -p 'fxp-to-dataflow{reuse_factor=4 io="stream"}' | filecheck %s --check-prefix=STREAM
// Printing, parsing and printing again gives identical text:
// RUN: fmlc-opt %s -p fxp-to-dataflow -o %t.a.mlir && fmlc-opt %t.a.mlir -o %t.b.mlir && diff %t.a.mlir %t.b.mlir

// Each layer becomes a node holding its op and the constants it uses; the quantize at the
// model boundary stays outside. Names come from the ops' `name` attributes (ONNX node names).
// A layer's own fmlc.reuse_factor wins over the pass option; 16x8 = 128 multiplications
// allow any reuse factor up to 128, the 8x3 layer clamps 64 down to 24.

// PAR-LABEL: func.func @mlp
// PAR:         %[[Q:.*]] = fxp.quantize
// PAR-NEXT:    %[[D:.*]] = dataflow.node "dense_1"(%[[Q]]) {reuse_factor = 1 : i64, io = "parallel", ii = 1 : i64, latency = 6 : i64}
// PAR-NEXT:    ^{{.*}}(%[[A:.*]]: tensor<16x!fxp.fixed<8, 3, signed>>):
// PAR-NEXT:      %[[W:.*]] = fxp.constant
// PAR-NEXT:      %[[Y:.*]] = fxp.dense %[[A]], %[[W]]
// PAR-NEXT:      dataflow.yield %[[Y]]
// PAR:         %[[R:.*]] = dataflow.node "relu_1"(%[[D]]) {reuse_factor = 1 : i64, io = "parallel", ii = 1 : i64, latency = 2 : i64}
// PAR:         dataflow.node "dense_2"(%[[R]]) {reuse_factor = 24 : i64, io = "parallel", ii = 24 : i64, latency = 28 : i64}
// PAR-NEXT:    ^{{.*}}
// PAR-NEXT:      fxp.constant
// PAR-NEXT:      fxp.dense
// PAR-NEXT:      dataflow.yield
// PAR-NEXT:    }
// PAR-NEXT:    func.return

// STREAM:      dataflow.node "dense_1"({{.*}}) {reuse_factor = 4 : i64, io = "stream", ii = 4 : i64, latency = 9 : i64, stream_depth = 1 : i64}
// STREAM:      dataflow.node "relu_1"({{.*}}) {reuse_factor = 1 : i64, io = "stream"
// STREAM:      dataflow.node "dense_2"({{.*}}) {reuse_factor = 24 : i64, io = "stream"

func.func @mlp(%in: tensor<16xf32>) -> tensor<3x!fxp.fixed<12, 6, signed>> {
  %x = fxp.quantize %in : tensor<16xf32> -> tensor<16x!fxp.fixed<8, 3, signed>>
  %w1 = fxp.constant dense<1> : tensor<16x8x!fxp.fixed<4, 1, signed>>
  %h = fxp.dense %x, %w1 {acc = !fxp.fixed<16, 8, signed>, name = "dense_1"} : (tensor<16x!fxp.fixed<8, 3, signed>>, tensor<16x8x!fxp.fixed<4, 1, signed>>) -> tensor<8x!fxp.fixed<10, 5, signed>>
  %r = fxp.relu %h {name = "relu_1"} : tensor<8x!fxp.fixed<10, 5, signed>> -> tensor<8x!fxp.fixed<9, 4, unsigned>>
  %w2 = fxp.constant dense<1> : tensor<8x3x!fxp.fixed<4, 1, signed>>
  %y = fxp.dense %r, %w2 {acc = !fxp.fixed<16, 8, signed>, name = "dense_2", fmlc.reuse_factor = 64 : i64} : (tensor<8x!fxp.fixed<9, 4, unsigned>>, tensor<8x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.fixed<12, 6, signed>>
  func.return %y : tensor<3x!fxp.fixed<12, 6, signed>>
}
