// RUN: fmlc-opt %s --split-input-file --verify-diagnostics | filecheck %s
// RUN: fmlc-opt %s --split-input-file --verify-diagnostics -p fxp-canonicalize | filecheck %s --check-prefix=CANON

// fxp.upsample: nearest-neighbour upsampling by integer factors, channels-last:
// y[i * f + k] = x[i] (0 <= k < f) per spatial axis; the element type is unchanged.

func.func @upsample2d(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) -> tensor<4x9x4x!fxp.fixed<8, 2, signed>> {
  %y = fxp.upsample %x {factors = array<i64: 2, 3>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<4x9x4x!fxp.fixed<8, 2, signed>>
  func.return %y : tensor<4x9x4x!fxp.fixed<8, 2, signed>>
}
// CHECK-LABEL: func.func @upsample2d
// CHECK: fxp.upsample %{{.*}} {factors = array<i64: 2, 3>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<4x9x4x!fxp.fixed<8, 2, signed>>

// -----

// 1-D ([L, C]); a factor of 1 everywhere is the identity, which canonicalize drops.
func.func @upsample1d(%x: tensor<5x2x!fxp.fixed<6, 1, unsigned>>) -> (tensor<20x2x!fxp.fixed<6, 1, unsigned>>, tensor<5x2x!fxp.fixed<6, 1, unsigned>>) {
  %y = fxp.upsample %x {factors = array<i64: 4>} : tensor<5x2x!fxp.fixed<6, 1, unsigned>> -> tensor<20x2x!fxp.fixed<6, 1, unsigned>>
  %z = fxp.upsample %x {factors = array<i64: 1>} : tensor<5x2x!fxp.fixed<6, 1, unsigned>> -> tensor<5x2x!fxp.fixed<6, 1, unsigned>>
  func.return %y, %z : tensor<20x2x!fxp.fixed<6, 1, unsigned>>, tensor<5x2x!fxp.fixed<6, 1, unsigned>>
}
// CHECK-LABEL: func.func @upsample1d
// CHECK: fxp.upsample %{{.*}} {factors = array<i64: 4>} : tensor<5x2x!fxp.fixed<6, 1, unsigned>> -> tensor<20x2x!fxp.fixed<6, 1, unsigned>>
// CANON-LABEL: func.func @upsample1d
// CANON-SAME:    (%[[X:.*]]: tensor<5x2x
// CANON-NEXT:    %[[Y:.*]] = fxp.upsample %[[X]] {factors = array<i64: 4>}
// CANON-NEXT:    func.return %[[Y]], %[[X]]

// -----

// An upsampled constant folds: each code repeated along each axis.
func.func @fold() -> tensor<2x4x1x!fxp.fixed<4, 2, signed>> {
  %c = fxp.constant dense<[[[1], [-2]]]> : tensor<1x2x1x!fxp.fixed<4, 2, signed>>
  %y = fxp.upsample %c {factors = array<i64: 2, 2>} : tensor<1x2x1x!fxp.fixed<4, 2, signed>> -> tensor<2x4x1x!fxp.fixed<4, 2, signed>>
  func.return %y : tensor<2x4x1x!fxp.fixed<4, 2, signed>>
}
// CANON-LABEL: func.func @fold
// CANON-NEXT:    %[[C:.*]] = fxp.constant dense<"0x0101FEFE0101FEFE"> : tensor<2x4x1x!fxp.fixed<4, 2, signed>>
// CANON-NEXT:    func.return %[[C]]

// -----

func.func @wrong_shape(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.upsample %x {factors = array<i64: 2, 2>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<4x6x8x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.upsample' result must be [4, 6, 4], got [4, 6, 8]

// -----

func.func @factor_count(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.upsample %x {factors = array<i64: 2>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<4x3x4x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.upsample' factors must hold 2 values >= 1 (one per spatial axis), got [2]

// -----

func.func @factor_zero(%x: tensor<2x3x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.upsample %x {factors = array<i64: 0, 1>} : tensor<2x3x4x!fxp.fixed<8, 2, signed>> -> tensor<0x3x4x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.upsample' factors must hold 2 values >= 1 (one per spatial axis), got [0, 1]

// -----

func.func @rank(%x: tensor<4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.upsample %x {factors = array<i64>} : tensor<4x!fxp.fixed<8, 2, signed>> -> tensor<4x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.upsample' upsamples 1-D or 2-D channels-last tensors ([L, C] or [H, W, C]); got input [4]

// -----

func.func @element(%x: tensor<2x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.upsample %x {factors = array<i64: 2>} : tensor<2x4x!fxp.fixed<8, 2, signed>> -> tensor<4x4x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.upsample' moves data without changing it: element types differ

// -----

func.func @missing_factors(%x: tensor<2x4x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.upsample %x : tensor<2x4x!fxp.fixed<8, 2, signed>> -> tensor<4x4x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: property 'factors' expected in operation 'fxp.upsample'
