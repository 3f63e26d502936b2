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

// Programmable weights: the codes live in a module of their own, in banks (registers of up to
// 128 bits: here the four weights in one, the two biases in another), reset to the compiled
// codes. cfg_addr's high bits pick the bank (weights at 0..3, biases at 4..5), its low bits the
// word in it; when cfg_we is high the bank takes cfg_data at that word. The layer instantiates
// the store and multiplies by the codes it outputs.
// PROG-LABEL: hw.module @model_fc_weights(
// PROG-SAME:    in %{{.*}} clk: !seq.clock, in %{{.*}} rst: i1, in %[[ADDR:.*]] cfg_addr: i3, in %[[DATA:.*]] cfg_data: i4, in %[[WE:.*]] cfg_we: i1, out weight_bank0: i16, out bias_bank0: i8)
// PROG:         %[[INIT:.*]] = hw.constant -3277 : i16
// PROG-NEXT:    %weight_bank0 = seq.compreg %[[NEXT:.*]], %{{.*}} reset %{{.*}}, %[[INIT]] : i16
// PROG-NEXT:    %[[HIGH:.*]] = comb.extract %[[ADDR]] from 2 :  (i3) -> i1
// PROG:         %[[BANK:.*]] = comb.icmp eq %[[HIGH]], %{{.*}} : i1
// PROG-NEXT:    %[[SEL:.*]] = comb.and %[[WE]], %[[BANK]] : i1
// PROG-NEXT:    %[[LOW:.*]] = comb.extract %[[ADDR]] from 0 :  (i3) -> i2
// PROG:         %[[AT0:.*]] = comb.icmp eq %[[LOW]], %{{.*}} : i2
// PROG-NEXT:    %[[W0:.*]] = comb.extract %weight_bank0 from 0 :  (i16) -> i4
// PROG-NEXT:    %[[N0:.*]] = comb.mux %[[AT0]], %[[DATA]], %[[W0]] : i4
// PROG:         %[[WORDS:.*]] = comb.concat %{{.*}}, %{{.*}}, %{{.*}}, %[[N0]] : i4, i4, i4, i4
// PROG-NEXT:    %[[NEXT]] = comb.mux %[[SEL]], %[[WORDS]], %weight_bank0 : i16
// PROG:         %bias_bank0 = seq.compreg
// PROG:         hw.output %weight_bank0, %bias_bank0 : i16, i8
// PROG-LABEL: hw.module @model_fc(
// PROG-SAME:    in %{{.*}} cfg_addr: i3, in %{{.*}} cfg_data: i4, in %{{.*}} cfg_we: i1, in %{{.*}} x: i8, out y: i6)
// PROG:         %[[W:.*]], %{{.*}} = hw.instance "weights" @model_fc_weights(
// PROG:         comb.extract %[[W]] from 12 :  (i16) -> i4
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
