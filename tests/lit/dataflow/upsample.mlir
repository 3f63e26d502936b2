// RUN: fmlc-opt %s -p fxp-to-dataflow | filecheck %s --check-prefix=PAR
// RUN: fmlc-opt %s -p 'fxp-to-dataflow{io="stream"}' | filecheck %s --check-prefix=STREAM
// RUN: fmlc-opt %s -p fxp-to-dataflow -o %t.a.mlir && fmlc-opt %t.a.mlir -o %t.b.mlir && diff %t.a.mlir %t.b.mlir

// A U-Net decoder step: upsample the deep branch by 2, concatenate the skip connection along
// the channels. Both are data movement: one node each, no multipliers (reuse factor 1), no
// latency when parallel; streamed, they emit one output position a beat (4 x 6 = 24).

// PAR-LABEL: func.func @decoder
// PAR:         %[[U:.*]] = dataflow.node "up"(%{{.*}}) {reuse_factor = 1 : i64, io = "parallel", ii = 1 : i64, latency = 0 : i64}
// PAR-NEXT:    ^{{.*}}(%[[A:.*]]: tensor<2x3x2x!fxp.fixed<8, 3, signed>>):
// PAR-NEXT:      %[[Y:.*]] = fxp.upsample %[[A]] {name = "up", factors = array<i64: 2, 2>}
// PAR-NEXT:      dataflow.yield %[[Y]]
// PAR:         dataflow.node "cat"(%[[U]], %{{.*}}) {reuse_factor = 1 : i64, io = "parallel", ii = 1 : i64, latency = 0 : i64}
// PAR-NEXT:    ^{{.*}}
// PAR-NEXT:      fxp.concat

// STREAM:      dataflow.node "up"({{.*}}) {reuse_factor = 1 : i64, io = "stream", ii = 24 : i64, latency = 24 : i64, stream_depth = 24 : i64}
// STREAM:      dataflow.node "cat"({{.*}}) {reuse_factor = 1 : i64, io = "stream", ii = 24 : i64, latency = 24 : i64, stream_depth = 24 : i64}

func.func @decoder(%deep: tensor<2x3x2x!fxp.fixed<8, 3, signed>>, %skip: tensor<4x6x1x!fxp.fixed<8, 3, signed>>) -> tensor<4x6x3x!fxp.fixed<8, 3, signed>> {
  %u = fxp.upsample %deep {name = "up", factors = array<i64: 2, 2>} : tensor<2x3x2x!fxp.fixed<8, 3, signed>> -> tensor<4x6x2x!fxp.fixed<8, 3, signed>>
  %y = fxp.concat %u, %skip {name = "cat", axis = 2 : i64} : (tensor<4x6x2x!fxp.fixed<8, 3, signed>>, tensor<4x6x1x!fxp.fixed<8, 3, signed>>) -> tensor<4x6x3x!fxp.fixed<8, 3, signed>>
  func.return %y : tensor<4x6x3x!fxp.fixed<8, 3, signed>>
}
