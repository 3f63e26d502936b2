// RUN: fmlc-opt %s -p 'fxp-to-dataflow{io="stream"},dataflow-to-hls{top="res"}' | filecheck %s

// Streams: one beat per position (all channels of it). Position-wise layers (dense over the
// last axis, add) compute beat by beat in a loop pipelined at II=1; the max pool reads other
// positions, so it buffers its input. The input feeds two layers and a stream has a single
// reader: a clone adapter copies it into one channel per reader. The top runs as DATAFLOW.

// CHECK-LABEL: vhls.func @dense_1(%x: !vhls.stream<!fxp.fixed<8, 3, signed>, 2>, %y: !vhls.stream<!fxp.fixed<9, 4, signed>, 2>)
// CHECK-NEXT:    vhls.inline_off
// CHECK-NEXT:    %[[W:.*]] = vhls.get_global @dense_1_weight
// CHECK-NEXT:    vhls.array_partition %[[W]] {kind = "complete"}
// CHECK-NEXT:    vhls.for %p = 0 to 4 step 1 attributes {label = "positions_p", pipeline = 1 : i64} {
// CHECK-NEXT:      %x_beat = vhls.alloca : !vhls.beat<!fxp.fixed<8, 3, signed>, 2>
// CHECK-NEXT:      vhls.read %x, %x_beat
// CHECK-NEXT:      vhls.array_partition %x_beat {kind = "complete"} : !vhls.beat<!fxp.fixed<8, 3, signed>, 2>
// CHECK-NEXT:      %y_beat = vhls.alloca : !vhls.beat<!fxp.fixed<9, 4, signed>, 2>
// CHECK-NEXT:      vhls.array_partition %y_beat {kind = "complete"} : !vhls.beat<!fxp.fixed<9, 4, signed>, 2>
// CHECK:           %xk = vhls.load %x_beat[%k]
// CHECK:           vhls.store %{{.*}}, %y_beat[%{{.*}}]
// CHECK:           vhls.write %y, %y_beat

// CHECK-LABEL: vhls.func @add_1(%x0: !vhls.stream<!fxp.fixed<8, 3, signed>, 2>, %x1: !vhls.stream<!fxp.fixed<9, 4, signed>, 2>, %y: !vhls.stream<!fxp.fixed<10, 5, signed>, 2>)
// CHECK:           vhls.read %x0, %x0_beat
// CHECK:           vhls.read %x1, %x1_beat
// CHECK:           %[[S:.*]] = vhls.add %{{.*}}, %{{.*}} : (!fxp.fixed<8, 3, signed>, !fxp.fixed<9, 4, signed>) -> !fxp.fixed<10, 5, signed>
// CHECK-NEXT:      vhls.store %[[S]], %y_beat[%c]

// CHECK-LABEL: vhls.func @pool_1
// CHECK-NEXT:    vhls.inline_off
// CHECK-NEXT:    vhls.comment "this layer reads other positions than the one it writes: it buffers the whole input"
// CHECK-NEXT:    %x_buf = vhls.alloca : !vhls.array<8x!fxp.fixed<10, 5, signed>>
// CHECK-NEXT:    vhls.for %p = 0 to 4 step 1 attributes {label = "positions", pipeline = 1 : i64} {
// CHECK:         vhls.for %o = 0 to 2 step 1 attributes {label = "out_o", pipeline = 1 : i64} {
// padding never wins: the maximum starts at the smallest code
// CHECK:             %[[MIN:.*]] = vhls.constant -512 : !fxp.fixed<10, 5, signed>
// CHECK-NEXT:        %best = vhls.alloca : !vhls.array<!fxp.fixed<10, 5, signed>>
// CHECK-NEXT:        vhls.store %[[MIN]], %best
// CHECK:             vhls.cmp %{{.*}}, %{{.*}} {predicate = "gt"}
// CHECK:           vhls.write %y, %{{.*}}

// CHECK-LABEL: vhls.func @in_clone(%x: !vhls.stream<!fxp.fixed<8, 3, signed>, 2>, %y0: !vhls.stream<!fxp.fixed<8, 3, signed>, 2>, %y1: !vhls.stream<!fxp.fixed<8, 3, signed>, 2>)
// CHECK:           vhls.read %x, %beat
// CHECK-NEXT:      vhls.write %y0, %beat
// CHECK-NEXT:      vhls.write %y1, %beat

// CHECK-LABEL: vhls.func @res(%in: !vhls.stream<!fxp.fixed<8, 3, signed>, 2>, %output: !vhls.stream<!fxp.fixed<10, 5, signed>, 2>)
// CHECK-NEXT:    vhls.interface %in : !vhls.stream<!fxp.fixed<8, 3, signed>, 2> {mode = "axis"}
// CHECK-NEXT:    vhls.interface %output : !vhls.stream<!fxp.fixed<10, 5, signed>, 2> {mode = "axis"}
// CHECK-NEXT:    vhls.dataflow
// CHECK-NEXT:    %[[A:.*]] = vhls.channel {depth = 4 : i64} : !vhls.stream<!fxp.fixed<8, 3, signed>, 2>
// CHECK-NEXT:    %[[B:.*]] = vhls.channel {depth = 4 : i64} : !vhls.stream<!fxp.fixed<8, 3, signed>, 2>
// CHECK-NEXT:    vhls.call @in_clone(%in, %[[A]], %[[B]])
// CHECK-NEXT:    %[[D:.*]] = vhls.channel {depth = 4 : i64} : !vhls.stream<!fxp.fixed<9, 4, signed>, 2>
// CHECK-NEXT:    vhls.call @dense_1(%[[A]], %[[D]])
// CHECK-NEXT:    %[[S:.*]] = vhls.channel {depth = 4 : i64} : !vhls.stream<!fxp.fixed<10, 5, signed>, 2>
// CHECK-NEXT:    vhls.call @add_1(%[[B]], %[[D]], %[[S]])
// CHECK-NEXT:    vhls.call @pool_1(%[[S]], %output)
// CHECK-NEXT:    vhls.return

func.func @main(%in: tensor<4x2xf32>) -> tensor<2x2x!fxp.fixed<10, 5, signed>> {
  %x = fxp.quantize %in : tensor<4x2xf32> -> tensor<4x2x!fxp.fixed<8, 3, signed>>
  %w = fxp.constant dense<[[1, -2], [3, 0]]> : tensor<2x2x!fxp.fixed<4, 1, signed>>
  %d = fxp.dense %x, %w {acc = !fxp.fixed<13, 5, signed>, name = "dense_1"} : (tensor<4x2x!fxp.fixed<8, 3, signed>>, tensor<2x2x!fxp.fixed<4, 1, signed>>) -> tensor<4x2x!fxp.fixed<9, 4, signed>>
  %s = fxp.add %x, %d {name = "add_1"} : (tensor<4x2x!fxp.fixed<8, 3, signed>>, tensor<4x2x!fxp.fixed<9, 4, signed>>) -> tensor<4x2x!fxp.fixed<10, 5, signed>>
  %p = fxp.maxpool %s {kernel = array<i64: 2>, name = "pool_1"} : tensor<4x2x!fxp.fixed<10, 5, signed>> -> tensor<2x2x!fxp.fixed<10, 5, signed>>
  func.return %p : tensor<2x2x!fxp.fixed<10, 5, signed>>
}
