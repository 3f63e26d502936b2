// RUN: fmlc-opt %s --parsing-diagnostics --split-input-file | filecheck %s

// Constants are checked while they are read: shape, range and byte count against the type.

func.func @range() {
  %c = fxp.constant dense<[1, 200]> : tensor<2x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: fxp.constant value out of range for fixed<8,3>

// -----

func.func @shape() {
  %c = fxp.constant dense<[1, 2, 3]> : tensor<2x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: fxp.constant values have shape [3], the type says [2]

// -----

func.func @bytes() {
  %c = fxp.constant dense<"0x0102"> : tensor<2x!fxp.fixed<12, 3, signed>>
  func.return
}
// CHECK: fxp.constant hex data has 2 bytes; 2 codes of i16 need 4

// -----

func.func @auto() {
  %c = fxp.constant dense<1> : tensor<2x!fxp.auto>
  func.return
}
// CHECK: fxp.constant needs a tensor of !fxp.fixed, got tensor<2x!fxp.auto>
