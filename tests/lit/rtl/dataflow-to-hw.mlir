// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw' | filecheck %s --check-prefix=COMB
// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw{adders_per_stage=1}' | filecheck %s --check-prefix=PIPE
// RUN: fmlc-opt %s -p 'fxp-to-dataflow,dataflow-to-hw{programmable_weights=true}' | filecheck %s --check-prefix=PROG
// RUN: not fmlc-opt %s -p dataflow-to-hw 2>&1 | filecheck %s --check-prefix=ERR

// A dense layer (y0 = 3 x0 + 3 x1 + 1, y1 = 3 x0 - x1 + 2) and a ReLU
// into ufixed<3, 4> (even integers 0..14) rounding half to even and saturating. The dense
// node and the activation that alone reads it become one module, named after the layer;
// tensors travel packed, element i in bits [4i, 4i + 4) of the 8-bit input port.

// The graph in unsigned arithmetic: each input with its sign bit flipped (x + 8, unsigned).
// The pattern that saves the most adder bits is shared first: p = x0 + x1 occurs twice in y0
// (x0 + x1 and 2 x0 + 2 x1), so y0 = p + 2p (p's low bit passed through; p is read by two
// adders and enters as it is). y1 = 2 x0 - x1 + x0: t = 2 x0 - x1 subtracts x1 as it is
// (no operand inverted before an adder, where Yosys would need an inverter on the carry
// chain): x1's low bit passes by inverted, its high bits are subtracted from x0 with ones
// above them (x0 - {11, x1 >> 1}). t, an adder's output that only y1's adder reads, enters
// inverted, subtracted from x0 (x0 plus a constant bit above it, which here falls outside the
// 6-bit difference). No operand is sign-extended: every extension is zeros or, in a
// subtrahend, ones. The constants (the biases, the inputs' offsets, the inversions' offsets
// and rounding to even integers' half) meet in one adder per output (-47 - ~y0, 32 - ~y1), so
// the rounding is a truncation plus clearing the LSB on a tie (a zero dropped bit), with no
// incrementer; then the sign bit and a test of the high bits saturate.
// COMB-LABEL: hw.module @model_fc(in %x: i8, out y: i6)
// COMB:         %[[X0:.*]] = comb.extract %x from 0 :  (i8) -> i4
// COMB-NEXT:    %[[X1:.*]] = comb.extract %x from 4 :  (i8) -> i4
// COMB-NEXT:    %[[SIGN:.*]] = hw.constant -8 : i4
// COMB-NEXT:    %[[U0:.*]] = comb.xor %[[X0]], %[[SIGN]] : i4
// COMB-NEXT:    %[[U1:.*]] = comb.xor %[[X1]], %[[SIGN]] : i4
// COMB:         %[[P:.*]] = comb.add %{{.*}}, %{{.*}} : i5
// COMB:         %[[P3:.*]] = comb.add %{{.*}}, %{{.*}} : i6
// COMB-NEXT:    %[[Y0:.*]] = comb.concat %[[P3]], %{{.*}} : i6, i1
// COMB:         %[[LOW1:.*]] = comb.xor %{{.*}}, %{{.*}} : i1
// COMB:         %[[ONES:.*]] = hw.constant -1 : i2
// COMB-NEXT:    %[[HIGH1:.*]] = comb.concat %[[ONES]], %{{.*}} : i2, i3
// COMB-NEXT:    %[[T:.*]] = comb.sub %{{.*}}, %[[HIGH1]] : i5
// COMB-NEXT:    %[[T3:.*]] = comb.concat %[[T]], %[[LOW1]] : i5, i1
// COMB-NEXT:    %[[KX:.*]] = comb.concat %{{.*}}, %{{.*}}, %[[U0]] : i1, i2, i4
// COMB:         %[[NT:.*]] = comb.xor %[[T3]], %{{.*}} : i6
// COMB:         %[[Y1:.*]] = comb.sub %{{.*}}, %[[NT]] : i6
// COMB:         %[[NY0:.*]] = comb.xor %[[Y0]], %{{.*}} : i7
// COMB-NEXT:    %[[C0:.*]] = hw.constant -47 : i7
// COMB-NEXT:    comb.sub %[[C0]], %[[NY0]] : i7
// COMB-NEXT:    %[[NY1:.*]] = comb.xor %[[Y1]], %{{.*}} : i6
// COMB-NEXT:    %[[C1:.*]] = hw.constant 32 : i7
// COMB:         comb.sub %[[C1]], %{{.*}} : i7
// COMB-NOT:     comb.add
// COMB-NOT:     comb.replicate
// COMB:         comb.and
// COMB:         comb.icmp ne
// COMB:         comb.mux
// COMB:         hw.output %{{.*}} : i6
// The top: clock, reset, valid in and out; latency 0 without registers.
// COMB-LABEL: hw.module @model(in %clk: !seq.clock, in %rst: i1, in %in_valid: i1, in %x: i8, out out_valid: i1, out y: i6) attributes {fmlc.latency = 0 : i64}
// COMB-NEXT:    %[[FC:.*]] = hw.instance "fc" @model_fc(x: %x: i8) -> (y: i6)
// COMB-NEXT:    hw.output %in_valid, %[[FC]] : i1, i6

// One adder level per stage: p and t are the first level, registered (with x0, which the
// second level reads); 3p and x0 - ~t are the second, behind the registers; the output adders
// are a stage later again. The valid bit is delayed by the latency, with a reset.
// PIPE-LABEL: hw.module @model_fc(in %clk: !seq.clock, in %x: i8, out y: i6)
// PIPE:         %[[P:.*]] = comb.add %{{.*}}, %{{.*}} : i5
// PIPE-NEXT:    %fc_s1_r0 = seq.compreg %[[P]], %clk {name = "fc_s1_r0"} : i5
// PIPE:         %[[P3:.*]] = comb.add %{{.*}}, %{{.*}} : i6
// PIPE:         %[[T:.*]] = comb.sub %{{.*}}, %{{.*}} : i5
// PIPE-NEXT:    %[[T3:.*]] = comb.concat %[[T]], %{{.*}} : i5, i1
// PIPE-NEXT:    %fc_s1_r1 = seq.compreg %[[U0:.*]], %clk {name = "fc_s1_r1"} : i4
// PIPE-NEXT:    %fc_s1_r2 = seq.compreg %[[T3]], %clk {name = "fc_s1_r2"} : i6
// PIPE:         %[[NT:.*]] = comb.xor %fc_s1_r2, %{{.*}} : i6
// PIPE:         comb.sub %{{.*}}, %[[NT]] : i6
// PIPE:         %fc_s2_r{{[0-9]+}} = seq.compreg %{{.*}}, %clk {name = "fc_s2_r{{[0-9]+}}"} : i7
// PIPE-LABEL: hw.module @model(
// PIPE-SAME:    attributes {fmlc.latency = 2 : i64}
// PIPE:         hw.instance "fc" @model_fc(clk: %clk: !seq.clock, x: %x: i8) -> (y: i6)
// PIPE:         %valid_s1 = seq.compreg %in_valid, %clk reset %rst, %{{.*}} {name = "valid_s1"} : i1
// PIPE-NEXT:    %valid_s2 = seq.compreg %valid_s1, %clk reset %rst, %{{.*}} {name = "valid_s2"} : i1

// Programmable weights: the codes live in a module of their own, in banks (registers of up to
// 128 bits: here the four weights in one, the two biases in another), reset to the compiled
// codes. cfg_addr's high bits pick the bank (weights at 0..3, biases at 4..5), its low bits the
// word in it; when cfg_we is high the bank takes cfg_data at that word (a mask of the word's
// bits, shared by the tensor's banks). The layer instantiates the store and multiplies by the
// codes it outputs.
// PROG-LABEL: hw.module @model_fc_weights(
// PROG-SAME:    in %clk: !seq.clock, in %rst: i1, in %cfg_addr: i3, in %cfg_data: i4, in %cfg_we: i1, out weight_bank0: i16, out bias_bank0: i8)
// PROG:         %[[INIT:.*]] = hw.constant -3277 : i16
// PROG-NEXT:    %weight_bank0 = seq.compreg %[[NEXT:.*]], %clk reset %rst, %[[INIT]] {name = "weight_bank0"} : i16
// PROG-NEXT:    %[[HIGH:.*]] = comb.extract %cfg_addr from 2 :  (i3) -> i1
// PROG:         %[[BANK:.*]] = comb.icmp eq %[[HIGH]], %{{.*}} : i1
// PROG-NEXT:    %[[SEL:.*]] = comb.and %cfg_we, %[[BANK]] : i1
// PROG-NEXT:    %[[LOW:.*]] = comb.extract %cfg_addr from 0 :  (i3) -> i2
// PROG:         %[[AT0:.*]] = comb.icmp eq %[[LOW]], %{{.*}} : i2
// PROG-NEXT:    %[[M0:.*]] = comb.replicate %[[AT0]] : (i1) -> i4
// PROG:         %[[MASK:.*]] = comb.concat %{{.*}}, %{{.*}}, %{{.*}}, %[[M0]] : i4, i4, i4, i4
// PROG:         %[[KEEP:.*]] = comb.xor %[[MASK]], %{{.*}} : i16
// PROG-NEXT:    %[[DATA:.*]] = comb.replicate %cfg_data : (i4) -> i16
// PROG-NEXT:    %[[OLD:.*]] = comb.and %weight_bank0, %[[KEEP]] : i16
// PROG-NEXT:    %[[NEW:.*]] = comb.and %[[DATA]], %[[MASK]] : i16
// PROG-NEXT:    %[[WORDS:.*]] = comb.or %[[OLD]], %[[NEW]] : i16
// PROG-NEXT:    %[[NEXT]] = comb.mux %[[SEL]], %[[WORDS]], %weight_bank0 : i16
// PROG:         %bias_bank0 = seq.compreg
// PROG:         hw.output %weight_bank0, %bias_bank0 : i16, i8
// Each output is one instance of the layer's dot-product module (the weights of its column,
// its bias): multipliers and the accumulation by the general rule.
// PROG-LABEL: hw.module @model_fc_dot(in %x: i8, in %w: i8, in %b: i4, out y: i8)
// PROG-COUNT-2: comb.mul
// PROG-LABEL: hw.module @model_fc(
// PROG-SAME:    in %cfg_addr: i3, in %cfg_data: i4, in %cfg_we: i1, in %x: i8, out y: i6)
// PROG:         %[[W:.*]], %[[B:.*]] = hw.instance "weights" @model_fc_weights(
// PROG-DAG:     %[[W10:.*]] = comb.extract %[[W]] from 8 :  (i16) -> i4
// PROG-DAG:     %[[W00:.*]] = comb.extract %[[W]] from 0 :  (i16) -> i4
// PROG:         comb.concat %[[W10]], %[[W00]] : i4, i4
// PROG:         hw.instance "fc_dot0" @model_fc_dot(
// PROG:         hw.instance "fc_dot1" @model_fc_dot(
// PROG-LABEL: hw.module @model(
// PROG-SAME:    in %cfg_addr: i3, in %cfg_data: i4, in %cfg_we: i1

// ERR: fxp.dense 'fc' is outside any dataflow.node: run fxp-to-dataflow first

func.func @main(%in: tensor<2xf32>) -> tensor<2x!fxp.fixed<3, 4, unsigned, RND_CONV, SAT>> {
  %x = fxp.quantize %in : tensor<2xf32> -> tensor<2x!fxp.fixed<4, 4, signed>>
  %w = fxp.constant dense<[[3, 3], [3, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %b = fxp.constant dense<[1, 2]> : tensor<2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w, %b {acc = !fxp.fixed<8, 8, signed>, name = "fc"} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>, tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<8, 8, signed>>
  %r = fxp.relu %y {name = "act"} : tensor<2x!fxp.fixed<8, 8, signed>> -> tensor<2x!fxp.fixed<3, 4, unsigned, RND_CONV, SAT>>
  func.return %r : tensor<2x!fxp.fixed<3, 4, unsigned, RND_CONV, SAT>>
}
