// RUN: fmlc-opt %s -p 'fxp-to-dataflow,rtl-adder-graph,dataflow-to-hw' | filecheck %s

// y = 7 x0 + 7 x1 - 6 x2: the search shares p = x0 + x1 (read twice: 7p = 8p - p) and the
// tree adds q = 2 x2 + 4 x2 and takes y = (8p - p) - q. Every difference is a subtraction of
// its operands as they are (Yosys feeds a minuend to the carry chain's DI inputs, where an
// inverted sum needs an inverter a bit), and a subtrahend narrower than the minuend gets ones
// above it, never zeros (a zero against a bit of the minuend is an inverter on the sum input).
//
// 8p - p: p is finer than 8p by three bits; those pass by inverted (7 - p's low bits), the
// rest is {0, p} - {1111, p >> 3}.
// CHECK-LABEL: hw.module @model_fc(in %x: i16, out y: i10)
// CHECK:         %[[P:.*]] = comb.add %{{.*}}, %{{.*}} : i5
// CHECK-NEXT:    %[[PLOW:.*]] = comb.extract %[[P]] from 0 : (i5) -> i3
// CHECK-NEXT:    %[[ONES3:.*]] = hw.constant -1 : i3
// CHECK-NEXT:    %[[NPLOW:.*]] = comb.xor %[[PLOW]], %[[ONES3]] : i3
// CHECK-NEXT:    %[[PHIGH:.*]] = comb.extract %[[P]] from 3 : (i5) -> i2
// CHECK-NEXT:    %[[ONES4:.*]] = hw.constant -1 : i4
// CHECK-NEXT:    %[[Y7:.*]] = comb.concat %[[ONES4]], %[[PHIGH]] : i4, i2
// CHECK-NEXT:    %[[X8P:.*]] = comb.concat %{{.*}}, %[[P]] : i1, i5
// CHECK-NEXT:    %[[D7:.*]] = comb.sub %[[X8P]], %[[Y7]] : i6
// CHECK-NEXT:    %[[P7:.*]] = comb.concat %[[D7]], %[[NPLOW]] : i6, i3
//
// 7p - q: 7p is an adder's output that this adder alone reads, so both operands get a guard
// bit below them (7p a zero, q a one) and the difference is the bits above it: neither operand
// is then any adder's output as it is, and Yosys's alumacc cannot merge 7p's adder into this
// one (a carry-save tree: more LUTs than two carry chains). 7p's low bit passes by.
// CHECK:         %[[Q:.*]] = comb.add %{{.*}}, %{{.*}} : i5
// CHECK-NEXT:    %[[Q2:.*]] = comb.concat %[[Q]], %{{.*}} : i5, i1
// CHECK-NEXT:    %[[P7LOW:.*]] = comb.extract %[[P7]] from 0 : (i9) -> i1
// CHECK-NEXT:    %[[P7HIGH:.*]] = comb.extract %[[P7]] from 1 : (i9) -> i8
// CHECK-NEXT:    %[[ONES2:.*]] = hw.constant -1 : i2
// CHECK-NEXT:    %[[YQ:.*]] = comb.concat %[[ONES2]], %[[Q2]] : i2, i6
// CHECK-NEXT:    %[[XG:.*]] = comb.concat %[[P7HIGH]], %{{.*}} : i8, i1
// CHECK-NEXT:    %[[ONE:.*]] = hw.constant true
// CHECK-NEXT:    %[[YG:.*]] = comb.concat %[[YQ]], %[[ONE]] : i8, i1
// CHECK-NEXT:    %[[G:.*]] = comb.sub %[[XG]], %[[YG]] : i9
// CHECK-NEXT:    %[[GHIGH:.*]] = comb.extract %[[G]] from 1 : (i9) -> i8
// CHECK-NEXT:    %[[Y:.*]] = comb.concat %[[GHIGH]], %[[P7LOW]] : i8, i1
//
// The output adds its constants (the inputs' offsets and the subtractions') to ~y.
// CHECK:         %[[NY:.*]] = comb.xor %[[Y]], %{{.*}} : i9
// CHECK:         comb.sub %{{.*}}, %[[NY]] : i9

func.func @main(%in: tensor<4xf32>) -> tensor<1x!fxp.fixed<10, 10, signed>> {
  %x = fxp.quantize %in : tensor<4xf32> -> tensor<4x!fxp.fixed<4, 4, signed>>
  %w = fxp.constant dense<[[7], [7], [-6], [0]]> : tensor<4x1x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w {acc = !fxp.fixed<10, 10, signed>, name = "fc"} : (tensor<4x!fxp.fixed<4, 4, signed>>, tensor<4x1x!fxp.fixed<4, 4, signed>>) -> tensor<1x!fxp.fixed<10, 10, signed>>
  func.return %y : tensor<1x!fxp.fixed<10, 10, signed>>
}
