// RUN: fmlc-opt %s --parsing-diagnostics --split-input-file | filecheck %s

// Arrays are checked while they are read: C arrays are flat (one size, or none for a
// scalar variable) and hold ap_fixed elements.

builtin.module {
  vhls.func @f(%x: !vhls.array<2x3x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 1 : i64} {
    vhls.return
  }
}
// CHECK: 'vhls.array' is 1-D with a static size >= 1, or 0-D (a scalar variable); got shape [2, 3]

// -----

builtin.module {
  vhls.func @f(%x: !vhls.array<0x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 1 : i64} {
    vhls.return
  }
}
// CHECK: 'vhls.array' is 1-D with a static size >= 1, or 0-D (a scalar variable); got shape [0]

// -----

builtin.module {
  vhls.func @f(%x: !vhls.array<4xi8>) attributes {num_inputs = 1 : i64} {
    vhls.return
  }
}
// CHECK: 'vhls.array' must hold !fxp.fixed elements, got i8

