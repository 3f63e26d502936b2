// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw{adders_per_stage=3}' | filecheck %s --check-prefix=THREE
// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw{adders_per_stage=2}' | filecheck %s --check-prefix=TWO
// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw{adders_per_stage=4}' | filecheck %s --check-prefix=FOUR

// A saturating cast in a pipeline counts one adder level. fc1 takes two (x0 + x1 and x0 - x1,
// then the constant that undoes the inputs' offsets), its ReLU saturates into 3 bits (a test of
// the high bits and two selects), and fc2 adds the saturated codes (one adder level).

// Three levels a stage: the select is the stage's third level, so fc2's adders start the next
// stage, and the registers hold the 3-bit saturated codes, not the 5-bit sums they are cut
// from. (Counted free, the select and fc2's adder shared one stage of three adder levels plus
// the select, latency 0.)
// THREE-LABEL: hw.module @model_fc1(in %x: i8, out y: i6)
// THREE-NOT:     seq.compreg
// THREE:         comb.mux
// THREE-LABEL: hw.module @model_fc2(in %clk: !seq.clock, in %x: i6, out y: i16)
// THREE-NEXT:    %[[R0:.*]] = comb.extract %x from 0 :  (i6) -> i3
// THREE-NEXT:    %[[R1:.*]] = comb.extract %x from 3 :  (i6) -> i3
// THREE-NEXT:    %fc2_s1_r0 = seq.compreg %[[R0]], %clk {name = "fc2_s1_r0"} : i3
// THREE-NEXT:    %fc2_s1_r1 = seq.compreg %[[R1]], %clk {name = "fc2_s1_r1"} : i3
// THREE-NOT:     seq.compreg
// THREE:         comb.add %{{.*}}, %{{.*}} : i4
// THREE-LABEL: hw.module @model(
// THREE-SAME:    attributes {fmlc.latency = 1 : i64}

// Two levels a stage: fc1's adders fill the stage; the select that ends it is not charged
// again (that would move the registers before it, onto the wider sums), so the cut is the same
// as at three.
// TWO-LABEL: hw.module @model_fc1(in %x: i8, out y: i6)
// TWO-NOT:     seq.compreg
// TWO-LABEL: hw.module @model_fc2(in %clk: !seq.clock, in %x: i6, out y: i16)
// TWO:         %fc2_s1_r0 = seq.compreg %{{.*}}, %clk {name = "fc2_s1_r0"} : i3
// TWO-NEXT:    %fc2_s1_r1 = seq.compreg %{{.*}}, %clk {name = "fc2_s1_r1"} : i3
// TWO-LABEL: hw.module @model(
// TWO-SAME:    attributes {fmlc.latency = 1 : i64}

// Four levels a stage: two adder levels, the select and fc2's adder fit in one: no registers.
// FOUR-NOT:     seq.compreg %{{.*}}, %clk {name = "fc
// FOUR-LABEL: hw.module @model(
// FOUR-SAME:    attributes {fmlc.latency = 0 : i64}

func.func @main(%in: tensor<2xf32>) -> tensor<2x!fxp.fixed<8, 8, signed>> {
  %x = fxp.quantize %in : tensor<2xf32> -> tensor<2x!fxp.fixed<4, 4, signed>>
  %w = fxp.constant dense<[[1, 1], [1, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %b = fxp.constant dense<[0, 0]> : tensor<2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w, %b {acc = !fxp.fixed<8, 8, signed>, name = "fc1"} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>, tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<8, 8, signed>>
  %r = fxp.relu %y {name = "act1"} : tensor<2x!fxp.fixed<8, 8, signed>> -> tensor<2x!fxp.fixed<3, 3, unsigned, TRN, SAT>>
  %w2 = fxp.constant dense<[[1, 1], [1, 2]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %z = fxp.dense %r, %w2, %b {acc = !fxp.fixed<8, 8, signed>, name = "fc2"} : (tensor<2x!fxp.fixed<3, 3, unsigned, TRN, SAT>>, tensor<2x2x!fxp.fixed<4, 4, signed>>, tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<8, 8, signed>>
  func.return %z : tensor<2x!fxp.fixed<8, 8, signed>>
}
