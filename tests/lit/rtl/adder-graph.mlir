// RUN: fmlc-opt %s -p rtl-adder-graph --split-input-file | filecheck %s
// Printing, parsing and printing again gives identical text:
// RUN: fmlc-opt %s -p rtl-adder-graph --split-input-file -o %t.a.mlir && fmlc-opt %t.a.mlir --split-input-file -o %t.b.mlir && diff %t.a.mlir %t.b.mlir

// A shared subexpression: y0 = 7 x0 + 7 x1 and y1 = 7 x0 - x1. In canonical signed digits
// 7 = 8 - 1 (its binary digits, 4 + 2 + 1, are more), so both outputs hold -x0 - x1: t = x0 + x1
// is built once, then y0 = 8t - t and y1 = 8 x0 - t. Three adders instead of five. Widths are
// exact over x in [-8, 7]: t in [-16, 14] (5 bits), y0 = 7t in [-112, 98] (8 bits), y1 = 7 x0 -
// x1 in [-63, 56] (7 bits: the exact range, tighter than 8 x0 - t would suggest). The weights
// are gone; the sum is cast to the layer's result type.
// CHECK-LABEL: func.func @shared
// CHECK-NOT:     fxp.constant
// CHECK:         %[[Y:.*]] = rtl.adder_graph %{{.*}} {adders = 3 : i64, layer = "fc"} : tensor<2x!fxp.fixed<4, 4, signed>> -> tensor<2x!fxp.fixed<8, 8, signed>> {
// CHECK-NEXT:    ^{{.*}}(%[[X0:.*]]: !fxp.fixed<4, 4, signed>, %[[X1:.*]]: !fxp.fixed<4, 4, signed>):
// CHECK-NEXT:      %[[T:.*]] = rtl.add %[[X0]], %[[X1]] : {{.*}} -> !fxp.fixed<5, 5, signed>
// CHECK-NEXT:      %[[T8:.*]] = rtl.shift %[[T]] by 3 : !fxp.fixed<5, 5, signed> -> !fxp.fixed<5, 8, signed>
// CHECK-NEXT:      %[[Y0:.*]] = rtl.sub %[[T8]], %[[T]] : {{.*}} -> !fxp.fixed<8, 8, signed>
// CHECK-NEXT:      %[[X08:.*]] = rtl.shift %[[X0]] by 3
// CHECK-NEXT:      %[[Y1:.*]] = rtl.sub %[[X08]], %[[T]] : {{.*}} -> !fxp.fixed<7, 7, signed>
// CHECK-NEXT:      rtl.yield %[[Y0]], %[[Y1]] : !fxp.fixed<8, 8, signed>, !fxp.fixed<7, 7, signed>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[R:.*]] = fxp.cast %[[Y]] {name = "fc"} : tensor<2x!fxp.fixed<8, 8, signed>> -> tensor<2x!fxp.fixed<10, 10, signed>>
// CHECK-NEXT:    func.return %[[R]]
func.func @shared(%x: tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<10, 10, signed>> {
  %w = fxp.constant dense<[[7, 7], [7, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w {acc = !fxp.fixed<10, 10, signed>, name = "fc"} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<10, 10, signed>>
  func.return %y : tensor<2x!fxp.fixed<10, 10, signed>>
}

// -----

// A weight whose binary digits are no more than its canonical signed digits keeps them:
// 3 = 2 + 1 (not 4 - 1), 6 = 4 + 2, -3 = -2 - 1. In y = 3 x0 + 6 x1 - 3 x2 the pattern
// x0 - x2 then occurs at both digits of 3 and is built once: y = d + 2d + 2 x1 + 4 x1. Now
// d + 2 x1 occurs at both positions (the later node, d, pairs with the earlier input x1 at a
// shift of 1): e = d + 2 x1, y = e + 2e, three adders, all additions but d (in CSD,
// 4 x0 - x0 + 8 x1 - 2 x1 - 4 x2 + x2: five adders, three of them subtractions).
// CHECK-LABEL: func.func @binary_digits
// CHECK:         rtl.adder_graph %{{.*}} {adders = 3 : i64}
// CHECK-NEXT:    ^{{.*}}(%[[X0:.*]]: !fxp.fixed<4, 4, signed>, %[[X1:.*]]: !fxp.fixed<4, 4, signed>, %[[X2:.*]]: !fxp.fixed<4, 4, signed>):
// CHECK-NEXT:      %[[D:.*]] = rtl.sub %[[X0]], %[[X2]] : {{.*}} -> !fxp.fixed<5, 5, signed>
// CHECK-NEXT:      %[[X12:.*]] = rtl.shift %[[X1]] by 1
// CHECK-NEXT:      %[[E:.*]] = rtl.add %[[D]], %[[X12]] : {{.*}} -> !fxp.fixed<6, 6, signed>
// CHECK-NEXT:      %[[E2:.*]] = rtl.shift %[[E]] by 1
// CHECK-NEXT:      %[[Y:.*]] = rtl.add %[[E]], %[[E2]] : {{.*}} -> !fxp.fixed<8, 8, signed>
// CHECK-NOT:       rtl.neg
// CHECK:           rtl.yield
func.func @binary_digits(%x: tensor<3x!fxp.fixed<4, 4, signed>>) -> tensor<1x!fxp.fixed<10, 10, signed>> {
  %w = fxp.constant dense<[[3], [6], [-3]]> : tensor<3x1x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w {acc = !fxp.fixed<10, 10, signed>} : (tensor<3x!fxp.fixed<4, 4, signed>>, tensor<3x1x!fxp.fixed<4, 4, signed>>) -> tensor<1x!fxp.fixed<10, 10, signed>>
  func.return %y : tensor<1x!fxp.fixed<10, 10, signed>>
}

// -----

// A depthwise convolution (2 groups, left padding 1) becomes its windows as rows and one
// graph over the block-diagonal matrix. Weights are fixed<3, 1> (codes / 4), so digits become
// shifts by -2 (a finer grid, no logic). Filter 0: x0/4 + 3 x2/4 + 1/2 with 3 = 4 - 1;
// filter 1: -x1/2 - 1/2, a negation of x1/2 + 1/2. Biases fixed<4, 3> are 1/2 and -1/2.
// CHECK-LABEL: func.func @depthwise
// CHECK:         %[[P:.*]] = rtl.patches %{{.*}} {kernel = array<i64: 2>, strides = array<i64: 1>, dilations = array<i64: 1>, padding = array<i64: 1, 0>} : tensor<3x2x!fxp.fixed<4, 2, signed>> -> tensor<3x4x!fxp.fixed<4, 2, signed>>
// CHECK-NEXT:    %[[G:.*]] = rtl.adder_graph %[[P]] {adders = 5 : i64, layer = "dw"} : tensor<3x4x!fxp.fixed<4, 2, signed>> -> tensor<3x2x!fxp.fixed<7, 3, signed>>
// CHECK:           %[[A:.*]] = rtl.shift %{{.*}} by -2 : !fxp.fixed<4, 2, signed> -> !fxp.fixed<4, 0, signed>
// CHECK:           rtl.constant 1 : !fxp.fixed<1, 0, unsigned>
// CHECK:           rtl.neg %{{.*}} : !fxp.fixed<5, 2, signed> -> !fxp.fixed<5, 2, signed>
// CHECK-NEXT:      rtl.yield %{{.*}}, %{{.*}} : !fxp.fixed<7, 3, signed>, !fxp.fixed<5, 2, signed>
// CHECK:         fxp.cast %[[G]] {name = "dw"} : tensor<3x2x!fxp.fixed<7, 3, signed>> -> tensor<3x2x!fxp.fixed<10, 6, signed>>
func.func @depthwise(%x: tensor<3x2x!fxp.fixed<4, 2, signed>>) -> tensor<3x2x!fxp.fixed<10, 6, signed>> {
  %w = fxp.constant dense<[[[1, -2]], [[3, 0]]]> : tensor<2x1x2x!fxp.fixed<3, 1, signed>>
  %b = fxp.constant dense<[1, -1]> : tensor<2x!fxp.fixed<4, 3, signed>>
  %y = fxp.conv %x, %w, %b {acc = !fxp.fixed<10, 6, signed>, padding = array<i64: 1, 0>, groups = 2 : i64, name = "dw"} : (tensor<3x2x!fxp.fixed<4, 2, signed>>, tensor<2x1x2x!fxp.fixed<3, 1, signed>>, tensor<2x!fxp.fixed<4, 3, signed>>) -> tensor<3x2x!fxp.fixed<10, 6, signed>>
  func.return %y : tensor<3x2x!fxp.fixed<10, 6, signed>>
}

// -----

// An accumulator narrower than the exact sum wraps: the graph's exact sum (10 bits) is cast
// to acc (8 bits, WRAP) before the result's own cast, as fxp.dense defines it.
// CHECK-LABEL: func.func @wrapping_acc
// CHECK:         %[[G:.*]] = rtl.adder_graph {{.*}} -> tensor<1x!fxp.fixed<10, 10, signed>>
// CHECK:         %[[A:.*]] = fxp.cast %[[G]] : tensor<1x!fxp.fixed<10, 10, signed>> -> tensor<1x!fxp.fixed<8, 8, signed>>
// CHECK-NEXT:    fxp.cast %[[A]] : tensor<1x!fxp.fixed<8, 8, signed>> -> tensor<1x!fxp.fixed<6, 6, signed, TRN, SAT>>
func.func @wrapping_acc(%x: tensor<2x!fxp.fixed<6, 6, signed>>) -> tensor<1x!fxp.fixed<6, 6, signed, TRN, SAT>> {
  %w = fxp.constant dense<[[7], [7]]> : tensor<2x1x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w {acc = !fxp.fixed<8, 8, signed>} : (tensor<2x!fxp.fixed<6, 6, signed>>, tensor<2x1x!fxp.fixed<4, 4, signed>>) -> tensor<1x!fxp.fixed<6, 6, signed, TRN, SAT>>
  func.return %y : tensor<1x!fxp.fixed<6, 6, signed, TRN, SAT>>
}

// -----

// Products that round into a narrower accumulator (acc has 4 fractional bits, x * w has 5)
// are not an exact sum: the layer stays for the hardware lowering's general rule.
// CHECK-LABEL: func.func @rounded_products
// CHECK-NEXT:    fxp.constant
// CHECK-NEXT:    fxp.dense
// CHECK-NEXT:    func.return
func.func @rounded_products(%x: tensor<2x!fxp.fixed<6, 2, signed>>) -> tensor<1x!fxp.fixed<8, 4, signed>> {
  %w = fxp.constant dense<[[3], [5]]> : tensor<2x1x!fxp.fixed<4, 1, signed>>
  %y = fxp.dense %x, %w {acc = !fxp.fixed<8, 4, signed>} : (tensor<2x!fxp.fixed<6, 2, signed>>, tensor<2x1x!fxp.fixed<4, 1, signed>>) -> tensor<1x!fxp.fixed<8, 4, signed>>
  func.return %y : tensor<1x!fxp.fixed<8, 4, signed>>
}

// -----

// Without sharing (share=false) each output sums its own digits: five adders.
// RUN: fmlc-opt %s -p 'rtl-adder-graph{share=false}' --split-input-file | filecheck %s --check-prefix=NOSHARE
// NOSHARE-LABEL: func.func @no_sharing
// NOSHARE:         rtl.adder_graph %{{.*}} {adders = 5 : i64}
func.func @no_sharing(%x: tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<8, 8, signed>> {
  %w = fxp.constant dense<[[3, 3], [3, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %x, %w {acc = !fxp.fixed<8, 8, signed>} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<8, 8, signed>>
  func.return %y : tensor<2x!fxp.fixed<8, 8, signed>>
}
