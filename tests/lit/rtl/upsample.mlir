// RUN: fmlc-opt %s -p 'fxp-to-dataflow,dataflow-to-hw' | filecheck %s

// fxp.upsample is wiring: each input element drives its copies, nothing computes. Element i
// of a packed port sits in bits [4i, 4i + 4); output positions 0 and 1 repeat input position
// 0 (elements x0, x1), positions 2 and 3 repeat input position 1 (x2, x3).

// CHECK-LABEL: hw.module @model_up(in %x: i16, out y: i32)
// CHECK-DAG:     %[[X0:.*]] = comb.extract %x from 0 :  (i16) -> i4
// CHECK-DAG:     %[[X1:.*]] = comb.extract %x from 4 :  (i16) -> i4
// CHECK-DAG:     %[[X2:.*]] = comb.extract %x from 8 :  (i16) -> i4
// CHECK-DAG:     %[[X3:.*]] = comb.extract %x from 12 :  (i16) -> i4
// CHECK-NOT:     comb.add
// CHECK-NOT:     comb.mux
// CHECK:         %[[Y:.*]] = comb.concat %[[X3]], %[[X2]], %[[X3]], %[[X2]], %[[X1]], %[[X0]], %[[X1]], %[[X0]] : i4, i4, i4, i4, i4, i4, i4, i4
// CHECK-NEXT:    hw.output %[[Y]] : i32

func.func @main(%in: tensor<2x1x2xf32>) -> tensor<4x1x2x!fxp.fixed<4, 2, signed>> {
  %x = fxp.quantize %in : tensor<2x1x2xf32> -> tensor<2x1x2x!fxp.fixed<4, 2, signed>>
  %u = fxp.upsample %x {name = "up", factors = array<i64: 2, 1>} : tensor<2x1x2x!fxp.fixed<4, 2, signed>> -> tensor<4x1x2x!fxp.fixed<4, 2, signed>>
  func.return %u : tensor<4x1x2x!fxp.fixed<4, 2, signed>>
}
