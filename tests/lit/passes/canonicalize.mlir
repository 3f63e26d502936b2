// RUN: fmlc-opt %s -p fxp-canonicalize --split-input-file | filecheck %s

// Constant folding: the sum of two constants is a constant (3 + 0.5 = 3.5, and -1 + 0.5 = -0.5
// as fixed<6, 3>: codes 28 and -4).
// CHECK-LABEL: func.func @fold_constants
// CHECK-NEXT:    %[[C:.*]] = fxp.constant dense<"0x1CFC"> : tensor<2x!fxp.fixed<6, 3, signed>>
// CHECK-NEXT:    func.return %[[C]]
func.func @fold_constants() -> tensor<2x!fxp.fixed<6, 3, signed>> {
  %a = fxp.constant dense<[3, -1]> : tensor<2x!fxp.fixed<4, 4, signed>>
  %b = fxp.constant dense<2> : tensor<2x!fxp.fixed<2, 0, unsigned>>
  %c = fxp.add %a, %b : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x!fxp.fixed<2, 0, unsigned>>) -> tensor<2x!fxp.fixed<6, 3, signed>>
  func.return %c : tensor<2x!fxp.fixed<6, 3, signed>>
}

// -----

// BatchNorm after an exact dense folds into it: w' = w * s per column, b' = b * s + t.
// Weights [[1, 2], [3, -1]] (fixed<4,4>) times scale [2, 3] (fixed<3,3>): [[2, 6], [6, -3]].
// Bias [1, -1] * [2, 3] + shift [5, 0] = [7, -3]. The sums for x in [-8, 7] span [-72, 63]:
// the new accumulator is fixed<8, 8>.
// CHECK-LABEL: func.func @fold_batchnorm
// CHECK-NEXT:    %[[W:.*]] = fxp.constant dense<"0x020606FD"> : tensor<2x2x!fxp.fixed<4, 4, signed>>
// CHECK-NEXT:    %[[B:.*]] = fxp.constant dense<"0x07FD"> : tensor<2x!fxp.fixed<4, 4, signed>>
// CHECK-NEXT:    %[[Y:.*]] = fxp.dense %arg0, %[[W]], %[[B]] {acc = !fxp.fixed<8, 8, signed>} : {{.*}} -> tensor<2x!fxp.fixed<12, 12, signed>>
// CHECK-NEXT:    func.return %[[Y]]
func.func @fold_batchnorm(%arg0: tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<12, 12, signed>> {
  %w = fxp.constant dense<[[1, 2], [3, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %b = fxp.constant dense<[1, -1]> : tensor<2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %arg0, %w, %b {acc = !fxp.fixed<10, 10, signed>} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>, tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<10, 10, signed>>
  %s = fxp.constant dense<[2, 3]> : tensor<2x!fxp.fixed<3, 3, signed>>
  %t = fxp.constant dense<[5, 0]> : tensor<2x!fxp.fixed<4, 4, signed>>
  %z = fxp.batchnorm %y, %s, %t : (tensor<2x!fxp.fixed<10, 10, signed>>, tensor<2x!fxp.fixed<3, 3, signed>>, tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<12, 12, signed>>
  func.return %z : tensor<2x!fxp.fixed<12, 12, signed>>
}

// -----

// ... but not when the dense result rounds (fixed<4, 6> drops two bits): that would change bits.
// CHECK-LABEL: func.func @keep_batchnorm
// CHECK:         fxp.dense
// CHECK:         fxp.batchnorm
func.func @keep_batchnorm(%arg0: tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<12, 12, signed>> {
  %w = fxp.constant dense<[[1, 2], [3, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %arg0, %w {acc = !fxp.fixed<10, 10, signed>} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<4, 6, signed>>
  %s = fxp.constant dense<[2, 3]> : tensor<2x!fxp.fixed<3, 3, signed>>
  %t = fxp.constant dense<[5, 0]> : tensor<2x!fxp.fixed<4, 4, signed>>
  %z = fxp.batchnorm %y, %s, %t : (tensor<2x!fxp.fixed<4, 6, signed>>, tensor<2x!fxp.fixed<3, 3, signed>>, tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<12, 12, signed>>
  func.return %z : tensor<2x!fxp.fixed<12, 12, signed>>
}

// -----

// A lossless cast (fixed<8,3> into fixed<12,4>) followed by another merges into one cast.
// CHECK-LABEL: func.func @merge_casts
// CHECK-NEXT:    %[[R:.*]] = fxp.cast %arg0 : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<4, 2, signed, RND, SAT>>
// CHECK-NEXT:    func.return %[[R]]
func.func @merge_casts(%arg0: tensor<4x!fxp.fixed<8, 3, signed>>) -> tensor<4x!fxp.fixed<4, 2, signed, RND, SAT>> {
  %a = fxp.cast %arg0 : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<12, 4, signed>>
  %b = fxp.cast %a : tensor<4x!fxp.fixed<12, 4, signed>> -> tensor<4x!fxp.fixed<4, 2, signed, RND, SAT>>
  func.return %b : tensor<4x!fxp.fixed<4, 2, signed, RND, SAT>>
}

// -----

// Two rounding casts in a row stay two: double rounding differs from single rounding.
// CHECK-LABEL: func.func @keep_double_rounding
// CHECK-NEXT:    fxp.cast %arg0
// CHECK-NEXT:    fxp.cast
func.func @keep_double_rounding(%arg0: tensor<4x!fxp.fixed<8, 3, signed>>) -> tensor<4x!fxp.fixed<3, 2, signed, RND, SAT>> {
  %a = fxp.cast %arg0 : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<4, 2, signed, RND, SAT>>
  %b = fxp.cast %a : tensor<4x!fxp.fixed<4, 2, signed, RND, SAT>> -> tensor<4x!fxp.fixed<3, 2, signed, RND, SAT>>
  func.return %b : tensor<4x!fxp.fixed<3, 2, signed, RND, SAT>>
}

// -----

// An exact dense followed by a cast computes straight into the cast's type.
// CHECK-LABEL: func.func @absorb_cast
// CHECK:         %[[Y:.*]] = fxp.dense {{.*}} -> tensor<2x!fxp.fixed<6, 4, unsigned, RND_CONV, SAT>>
// CHECK-NEXT:    func.return %[[Y]]
func.func @absorb_cast(%arg0: tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<6, 4, unsigned, RND_CONV, SAT>> {
  %w = fxp.constant dense<[[1, 2], [3, -1]]> : tensor<2x2x!fxp.fixed<4, 4, signed>>
  %y = fxp.dense %arg0, %w {acc = !fxp.fixed<10, 10, signed>} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x2x!fxp.fixed<4, 4, signed>>) -> tensor<2x!fxp.fixed<10, 10, signed>>
  %c = fxp.cast %y : tensor<2x!fxp.fixed<10, 10, signed>> -> tensor<2x!fxp.fixed<6, 4, unsigned, RND_CONV, SAT>>
  func.return %c : tensor<2x!fxp.fixed<6, 4, unsigned, RND_CONV, SAT>>
}

// -----

// A table followed by a cast becomes one table of cast entries: [0, 1, 2, 3] at 2 fractional
// bits, rounded half up to 1 bit: [0, 1, 1, 2].
// CHECK-LABEL: func.func @absorb_cast_into_table
// CHECK-NEXT:    %[[T:.*]] = fxp.table %arg0 {table = dense<[0, 1, 1, 2]> : tensor<4xi8>} : tensor<3x!fxp.fixed<2, 2, signed>> -> tensor<3x!fxp.fixed<3, 2, unsigned, RND, SAT>>
// CHECK-NEXT:    func.return %[[T]]
func.func @absorb_cast_into_table(%arg0: tensor<3x!fxp.fixed<2, 2, signed>>) -> tensor<3x!fxp.fixed<3, 2, unsigned, RND, SAT>> {
  %t = fxp.table %arg0 {table = dense<[0, 1, 2, 3]> : tensor<4xi8>} : tensor<3x!fxp.fixed<2, 2, signed>> -> tensor<3x!fxp.fixed<2, 0, unsigned>>
  %c = fxp.cast %t : tensor<3x!fxp.fixed<2, 0, unsigned>> -> tensor<3x!fxp.fixed<3, 2, unsigned, RND, SAT>>
  func.return %c : tensor<3x!fxp.fixed<3, 2, unsigned, RND, SAT>>
}

// -----

// Identity operations disappear: a cast to the same type, a reshape to the same shape, an
// identity transpose, and a ReLU of values that cannot be negative.
// CHECK-LABEL: func.func @drop_identity
// CHECK-NEXT:    func.return %arg0
func.func @drop_identity(%arg0: tensor<2x3x!fxp.fixed<8, 3, unsigned>>) -> tensor<2x3x!fxp.fixed<8, 3, unsigned>> {
  %a = fxp.cast %arg0 : tensor<2x3x!fxp.fixed<8, 3, unsigned>> -> tensor<2x3x!fxp.fixed<8, 3, unsigned>>
  %b = fxp.reshape %a : tensor<2x3x!fxp.fixed<8, 3, unsigned>> -> tensor<2x3x!fxp.fixed<8, 3, unsigned>>
  %c = fxp.transpose %b {perm = array<i64: 0, 1>} : tensor<2x3x!fxp.fixed<8, 3, unsigned>> -> tensor<2x3x!fxp.fixed<8, 3, unsigned>>
  %d = fxp.relu %c : tensor<2x3x!fxp.fixed<8, 3, unsigned>> -> tensor<2x3x!fxp.fixed<8, 3, unsigned>>
  func.return %d : tensor<2x3x!fxp.fixed<8, 3, unsigned>>
}

// -----

// A ReLU of signed values stays.
// CHECK-LABEL: func.func @keep_relu
// CHECK-NEXT:    fxp.relu
func.func @keep_relu(%arg0: tensor<2x!fxp.fixed<8, 3, signed>>) -> tensor<2x!fxp.fixed<8, 3, signed>> {
  %d = fxp.relu %arg0 : tensor<2x!fxp.fixed<8, 3, signed>> -> tensor<2x!fxp.fixed<8, 3, signed>>
  func.return %d : tensor<2x!fxp.fixed<8, 3, signed>>
}

// -----

// Exactness is judged on propagated ranges, not only on types: the dense result's type is wide
// (fixed<12,12>) but its values lie in [-16, 14], so the ReLU into ufixed<4,4> loses nothing
// and the cast after it merges into it.
// CHECK-LABEL: func.func @absorb_with_propagated_range
// CHECK:         %[[R:.*]] = fxp.relu {{.*}} : tensor<1x!fxp.fixed<12, 12, signed>> -> tensor<1x!fxp.fixed<3, 4, unsigned, RND, SAT>>
// CHECK-NEXT:    func.return %[[R]]
func.func @absorb_with_propagated_range(%arg0: tensor<2x!fxp.fixed<4, 4, signed>>) -> tensor<1x!fxp.fixed<3, 4, unsigned, RND, SAT>> {
  %w = fxp.constant dense<[[1], [1]]> : tensor<2x1x!fxp.fixed<2, 2, signed>>
  %y = fxp.dense %arg0, %w {acc = !fxp.fixed<12, 12, signed>} : (tensor<2x!fxp.fixed<4, 4, signed>>, tensor<2x1x!fxp.fixed<2, 2, signed>>) -> tensor<1x!fxp.fixed<12, 12, signed>>
  %r = fxp.relu %y : tensor<1x!fxp.fixed<12, 12, signed>> -> tensor<1x!fxp.fixed<4, 4, unsigned>>
  %c = fxp.cast %r : tensor<1x!fxp.fixed<4, 4, unsigned>> -> tensor<1x!fxp.fixed<3, 4, unsigned, RND, SAT>>
  func.return %c : tensor<1x!fxp.fixed<3, 4, unsigned, RND, SAT>>
}
