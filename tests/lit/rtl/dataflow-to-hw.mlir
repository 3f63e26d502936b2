// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw' | filecheck %s --check-prefix=COMB
// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw{adders_per_stage=1}' | filecheck %s --check-prefix=PIPE
// RUN: fmlc-opt %s -p 'fxp-to-dataflow,dataflow-to-hw{programmable_weights=true}' | filecheck %s --check-prefix=PROG
// RUN: not fmlc-opt %s -p dataflow-to-hw 2>&1 | filecheck %s --check-prefix=ERR

// A dense layer (the shared graph of rtl/adder-graph.mlir, with biases 1 and 2) and a ReLU
// into ufixed<3, 4> (even integers 0..14) rounding half to even and saturating. The dense
// node and the activation that alone reads it become one module, named after the layer;
// tensors travel packed, element i in bits [4i, 4i + 4) of the 8-bit input port.

// The shared t = x0 + x1, its operands sign-extended to its exact 5 bits. Rounding to even
// integers adds half (1) before truncating: that constant joins the biases (y0 = 3t + 1 + 1
// becomes 2 - t + 4t; y1 = 3 x0 - x1 + 2 + 1 carries 3 in its low bits), so the rounding is a
// truncation plus clearing the LSB on a tie (a zero dropped bit), with no incrementer; then
// the sign bit and a test of the high bits saturate.
// COMB-LABEL: hw.module @model_fc(in %{{.*}} x: i8, out y: i6)
// COMB-DAG:     %[[X0:.*]] = comb.extract %{{.*}} from 0 :  (i8) -> i4
// COMB-DAG:     %[[X1:.*]] = comb.extract %{{.*}} from 4 :  (i8) -> i4
// COMB:         %[[T:.*]] = comb.add %{{.*}}, %{{.*}} : i5
// COMB:         %[[TWO:.*]] = hw.constant 2 : i6
// COMB:         comb.sub %[[TWO]], %{{.*}} : i6
// COMB:         comb.add %{{.*}}, %{{.*}} : i6
// COMB:         %[[THREE:.*]] = hw.constant -1 : i2
// COMB-NEXT:    comb.concat %[[X0]], %[[THREE]] : i4, i2
// COMB:         comb.sub %{{.*}}, %{{.*}} : i7
// COMB-NOT:     comb.add
// COMB:         comb.and
// COMB:         comb.icmp ne
// COMB:         comb.mux
// COMB:         hw.output %{{.*}} : i6
// The top: clock, reset, valid in and out; latency 0 without registers.
// COMB-LABEL: hw.module @model(in %{{.*}} clk: !seq.clock, in %{{.*}} rst: i1, in %{{.*}} in_valid: i1, in %{{.*}} x: i8, out out_valid: i1, out y: i6) attributes {fmlc.latency = 0 : i64}
// COMB-NEXT:    %[[FC:.*]] = hw.instance "fc" @model_fc(x: %{{.*}}: i8) -> (y: i6)
// COMB-NEXT:    hw.output %{{.*}}, %[[FC]] : i1, i6

// One adder level per stage: t is registered before the second level; what else that level
// reads is delayed alongside it. The valid bit is delayed by the latency, with a reset.
// PIPE-LABEL: hw.module @model_fc(in %{{.*}} clk: !seq.clock, in %{{.*}} x: i8, out y: i6)
// PIPE:         %[[T:.*]] = comb.add %{{.*}}, %{{.*}} : i5
// PIPE-NEXT:    %fc_s1_r0 = seq.compreg %[[T]], %{{.*}} : i5
// PIPE:         %fc_s2_r{{[0-9]+}} = seq.compreg %fc_s1_r0, %{{.*}} : i5
// PIPE-LABEL: hw.module @model(
// PIPE-SAME:    attributes {fmlc.latency = 2 : i64}
// PIPE:         hw.instance "fc" @model_fc(clk: %{{.*}}: !seq.clock, x: %{{.*}}: i8) -> (y: i6)
// PIPE:         %valid_s1 = seq.compreg %{{.*}}, %{{.*}} reset %{{.*}}, %{{.*}} : i1
// PIPE-NEXT:    %valid_s2 = seq.compreg %valid_s1, %{{.*}} reset %{{.*}}, %{{.*}} : i1

// Programmable weights: four weight and two bias registers, reset to the compiled codes,
// written when cfg_we is high and cfg_addr selects them (addresses 0..5); the layer multiplies.
// PROG-LABEL: hw.module @model_fc(in %{{.*}} clk: !seq.clock, in %{{.*}} rst: i1, in %{{.*}} cfg_addr: i3, in %{{.*}} cfg_data: i4, in %{{.*}} cfg_we: i1, in %{{.*}} x: i8, out y: i6)
// PROG:         %weight0 = seq.compreg %[[N0:.*]], %{{.*}} reset %{{.*}}, %[[C3:.*]] : i4
// PROG:         %[[HIT:.*]] = comb.icmp eq %{{.*}}, %{{.*}} : i3
// PROG-NEXT:    %[[WE:.*]] = comb.and %{{.*}}, %[[HIT]] : i1
// PROG-NEXT:    %[[N0]] = comb.mux %[[WE]], %{{.*}}, %weight0 : i4
// PROG:         %weight3 = seq.compreg
// PROG:         %bias0 = seq.compreg
// PROG:         %bias1 = seq.compreg
// PROG:         comb.mul
// PROG-LABEL: hw.module @model(
// PROG-SAME:    in %{{.*}} cfg_addr: i3, in %{{.*}} cfg_data: i4, in %{{.*}} cfg_we: i1

// ERR: fxp.dense 'fc' is outside any dataflow.node: run fxp-to-dataflow first

func.func @main(%in: tensor<2xf32>) -> tensor<2x!fxp.fixed<3, 4, unsigned, RND_CONV, SAT>> {
  %x = fxp.quantize %in : tensor<2xf32> -> tensor<2x!fxp.fixed<4, 4, signed>>
  %w = fxp.constant dense<[[3, 3], [3, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %b = fxp.constant dense<[1, 2]> : tensor<2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w, %b {acc = !fxp.fixed<8, 8, signed>, name = "fc"} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>, tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<8, 8, signed>>
  %r = fxp.relu %y {name = "act"} : tensor<2x!fxp.fixed<8, 8, signed>> -> tensor<2x!fxp.fixed<3, 4, unsigned, RND_CONV, SAT>>
  func.return %r : tensor<2x!fxp.fixed<3, 4, unsigned, RND_CONV, SAT>>
}
