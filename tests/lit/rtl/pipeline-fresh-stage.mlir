// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw{adders_per_stage=4}' | filecheck %s
// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw{adders_per_stage=4}' | filecheck %s --check-prefix=NARROW

// A layer that would start mid-stage starts a fresh one when that costs no cycle and fewer
// register bits (lowering/register_plan.py). fc1 takes three levels (an adder, the constant
// that undoes the inputs' offsets, the saturating select of its ReLU), so fc2's inputs arrive
// with one level of the four left. Placed as soon as possible, fc2's first adders would take
// that level and the registers would hold their 4-bit sums and the inputs the second level
// still reads (six registers, 20 bits); with the plan fc2 registers its four 3-bit inputs
// (12 bits) and all of its adders fit in the next stage: the same latency, one cycle.

// CHECK-LABEL: hw.module @model_fc1(in %x: i8, out y: i12)
// CHECK-NOT:     seq.compreg
// CHECK-LABEL: hw.module @model_fc2(in %clk: !seq.clock, in %x: i12, out y: i32)
// CHECK-NEXT:    %[[X0:.*]] = comb.extract %x from 0 :  (i12) -> i3
// CHECK-NEXT:    %[[X1:.*]] = comb.extract %x from 3 :  (i12) -> i3
// CHECK-NEXT:    %[[X2:.*]] = comb.extract %x from 6 :  (i12) -> i3
// CHECK-NEXT:    %[[X3:.*]] = comb.extract %x from 9 :  (i12) -> i3
// Each input is registered where fc2 first reads it; only the inputs, 3 bits each:
// CHECK-DAG:     seq.compreg %[[X0]], %clk {{.*}} : i3
// CHECK-DAG:     seq.compreg %[[X1]], %clk {{.*}} : i3
// CHECK-DAG:     seq.compreg %[[X2]], %clk {{.*}} : i3
// CHECK-DAG:     seq.compreg %[[X3]], %clk {{.*}} : i3
// CHECK-LABEL: hw.module @model(
// CHECK-SAME:    attributes {fmlc.latency = 1 : i64}

// And no register anywhere in fc2 holds a 4-bit sum:
// NARROW-LABEL: hw.module @model_fc2(
// NARROW-NOT:     seq.compreg {{.*}} : i4
// NARROW-LABEL: hw.module @model(

func.func @main(%in: tensor<2xf32>) -> tensor<4x!fxp.fixed<8, 8, signed>> {
  %x = fxp.quantize %in : tensor<2xf32> -> tensor<2x!fxp.fixed<4, 4, signed>>
  %w = fxp.constant dense<[[1, 1, 1, 1], [1, -1, 2, -2]]> : tensor<2x4x!fxp.fixed<4, 4, signed>>
  %b = fxp.constant dense<[0, 0, 0, 0]> : tensor<4x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w, %b {acc = !fxp.fixed<8, 8, signed>, name = "fc1"} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x4x!fxp.fixed<4, 4, signed>>, tensor<4x!fxp.fixed<4, 4, signed>>) -> tensor<4x!fxp.fixed<8, 8, signed>>
  %r = fxp.relu %y {name = "act1"} : tensor<4x!fxp.fixed<8, 8, signed>> -> tensor<4x!fxp.fixed<3, 3, unsigned, TRN, SAT>>
  %w2 = fxp.constant dense<[[1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0]]> : tensor<4x4x!fxp.fixed<4, 4, signed>>
  %z = fxp.dense %r, %w2, %b {acc = !fxp.fixed<8, 8, signed>, name = "fc2"} : (tensor<4x!fxp.fixed<3, 3, unsigned, TRN, SAT>>, tensor<4x4x!fxp.fixed<4, 4, signed>>, tensor<4x!fxp.fixed<4, 4, signed>>) -> tensor<4x!fxp.fixed<8, 8, signed>>
  func.return %z : tensor<4x!fxp.fixed<8, 8, signed>>
}
