// RUN: fmlc-opt %s -p 'fxp-to-dataflow,dataflow-to-hls' | filecheck %s
// RUN: fmlc-opt %s -p 'fxp-to-dataflow{io="stream"},dataflow-to-hls' | filecheck %s --check-prefix=STREAM

// fxp.upsample: output position (o0, o1, c) copies input position (o0 / 2, o1 / 3, c), one
// output element an iteration (unrolled for parallel arrays; streamed layers buffer the frame).

// CHECK-LABEL: vhls.func @up(
// CHECK-SAME:    comment = "up: fxp.upsample (2x2x2) -> 4x6x2
// CHECK:         vhls.for %[[O0:.*]] = 0 to 4 step 1 attributes {label = "copy_o0", unroll}
// CHECK:           vhls.for %[[O1:.*]] = 0 to 6 step 1 attributes {label = "copy_o1", unroll}
// CHECK:             vhls.for %[[C:.*]] = 0 to 2 step 1 attributes {label = "copy_o2", unroll}
// CHECK:               %[[TWO:.*]] = arith.constant 2 : index
// CHECK-NEXT:          %[[I0:.*]] = arith.divui %[[O0]], %[[TWO]] : index
// CHECK:               %[[THREE:.*]] = arith.constant 3 : index
// CHECK-NEXT:          %[[I1:.*]] = arith.divui %[[O1]], %[[THREE]] : index
// CHECK:               %[[V:.*]] = vhls.load %x[
// CHECK:               vhls.store %[[V]], %y[
// CHECK:         vhls.return

// STREAM-LABEL: vhls.func @up(
// STREAM:         vhls.comment "this layer reads other positions than the one it writes: it buffers the whole input"
// STREAM:         vhls.for %[[O0:.*]] = 0 to 4 step 1 attributes {label = "copy_o0"}
// STREAM:           vhls.for %[[O1:.*]] = 0 to 6 step 1 attributes {label = "copy_o1"}
// STREAM:             vhls.for %[[C:.*]] = 0 to 2 step 1 attributes {label = "copy_o2", pipeline = 1 : i64}
// STREAM:               arith.divui %[[O0]]
// STREAM:               arith.divui %[[O1]]
// STREAM:               vhls.load %x_buf[
// STREAM:               vhls.store {{.*}}, %y_buf[
// STREAM:         vhls.write %y

func.func @main(%in: tensor<2x2x2xf32>) -> tensor<4x6x2x!fxp.fixed<8, 3, signed>> {
  %x = fxp.quantize %in : tensor<2x2x2xf32> -> tensor<2x2x2x!fxp.fixed<8, 3, signed>>
  %u = fxp.upsample %x {name = "up", factors = array<i64: 2, 3>} : tensor<2x2x2x!fxp.fixed<8, 3, signed>> -> tensor<4x6x2x!fxp.fixed<8, 3, signed>>
  func.return %u : tensor<4x6x2x!fxp.fixed<8, 3, signed>>
}
