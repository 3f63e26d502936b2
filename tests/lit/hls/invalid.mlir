// RUN: fmlc-opt %s --verify-diagnostics --split-input-file | filecheck %s

// ap_fixed's arithmetic is exact: the result type must be the one the C++ operator returns.
builtin.module {
  vhls.func @f(%x: !vhls.array<2x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 1 : i64} {
    %i = arith.constant 0 : index
    %a = vhls.load %x[%i] : !vhls.array<2x!fxp.fixed<8, 3, signed>> -> !fxp.fixed<8, 3, signed>
    %s = vhls.add %a, %a : (!fxp.fixed<8, 3, signed>, !fxp.fixed<8, 3, signed>) -> !fxp.fixed<8, 3, signed>
    vhls.return
  }
}
// CHECK: 'vhls.add' of fixed<8,3> and fixed<8,3> gives fixed<9,4> in C++, not fixed<8,3>

// -----

builtin.module {
  vhls.func @f(%x: !vhls.array<2x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 1 : i64} {
    %i = arith.constant 0 : index
    %a = vhls.load %x[%i] : !vhls.array<2x!fxp.fixed<8, 3, signed>> -> !fxp.fixed<8, 3, signed>
    %b = vhls.constant 1 : !fxp.fixed<4, 4, unsigned>
    %p = vhls.mul %a, %b : (!fxp.fixed<8, 3, signed>, !fxp.fixed<4, 4, unsigned>) -> !fxp.fixed<12, 7, unsigned>
    vhls.return
  }
}
// CHECK: 'vhls.mul' of fixed<8,3> and ufixed<4,4> gives fixed<12,7> in C++, not ufixed<12,7>

// -----

// Stores do not convert: casts are explicit.
builtin.module {
  vhls.func @f(%y: !vhls.array<2x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 0 : i64} {
    %i = arith.constant 0 : index
    %c = vhls.constant 1 : !fxp.fixed<4, 2, signed>
    vhls.store %c, %y[%i] : !fxp.fixed<4, 2, signed>, !vhls.array<2x!fxp.fixed<8, 3, signed>>
    vhls.return
  }
}
// CHECK: 'vhls.store' value type !fxp.fixed<4, 2, signed> differs from the array's element type !fxp.fixed<8, 3, signed>

// -----

builtin.module {
  vhls.func @f() attributes {num_inputs = 0 : i64} {
    %c = vhls.constant 8 : !fxp.fixed<4, 2, signed>
    vhls.return
  }
}
// CHECK: 'vhls.constant' code 8 lies outside fixed<4,2> 

// -----

builtin.module {
  vhls.global @w : !vhls.array<2x!fxp.fixed<4, 1, signed>> {value = dense<[3, 9]> : tensor<2xi8>}
}
// CHECK: 'vhls.global' @w: a code lies outside fixed<4,1>

// -----

builtin.module {
  vhls.func @f(%x: !vhls.array<2x!fxp.fixed<40, 3, signed>>) attributes {num_inputs = 1 : i64} {
    %i = arith.constant 0 : index
    %a = vhls.load %x[%i] : !vhls.array<2x!fxp.fixed<40, 3, signed>> -> !fxp.fixed<40, 3, signed>
    %b = vhls.bits %a : !fxp.fixed<40, 3, signed>
    vhls.return
  }
}
// CHECK: 'vhls.bits' of fixed<40,3>: at most 30 bits fit a C int

// -----

builtin.module {
  vhls.func @f() attributes {num_inputs = 0 : i64} {
    vhls.for %i = 0 to 4 step 1 attributes {pipeline = 1 : i64, unroll} {
    }
    vhls.return
  }
}
// CHECK: 'vhls.for' is either pipelined or unrolled, not both

// -----

builtin.module {
  vhls.func @g(%x: !vhls.array<2x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 1 : i64} {
    vhls.return
  }
  vhls.func @f(%x: !vhls.array<3x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 1 : i64} {
    vhls.call @g(%x) : !vhls.array<3x!fxp.fixed<8, 3, signed>>
    vhls.return
  }
}
// CHECK: 'vhls.call' to @g: argument types (!vhls.array<3x!fxp.fixed<8, 3, signed>>) differ from the callee's (!vhls.array<2x!fxp.fixed<8, 3, signed>>)

// -----

builtin.module {
  vhls.func @f(%s: !vhls.stream<!fxp.fixed<8, 3, signed>, 4>) attributes {num_inputs = 1 : i64} {
    %b = vhls.alloca : !vhls.beat<!fxp.fixed<8, 3, signed>, 2>
    vhls.read %s, %b : !vhls.stream<!fxp.fixed<8, 3, signed>, 4>, !vhls.beat<!fxp.fixed<8, 3, signed>, 2>
    vhls.return
  }
}
// CHECK: 'vhls.read' beat !vhls.beat<!fxp.fixed<8, 3, signed>, 2> does not match stream !vhls.stream<!fxp.fixed<8, 3, signed>, 4>

// -----

builtin.module {
  vhls.func @f(%x: !vhls.array<2x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 1 : i64} {
    vhls.array_partition %x {kind = "cyclic"} : !vhls.array<2x!fxp.fixed<8, 3, signed>>
    vhls.return
  }
}
// CHECK: 'vhls.array_partition': cyclic and block partitions need a factor, complete takes none

// -----

// An array where the function wants a port type: a tensor is not a C array.
builtin.module {
  vhls.func @f(%x: tensor<4x!fxp.fixed<8, 3, signed>>) attributes {num_inputs = 1 : i64} {
    vhls.return
  }
}
// CHECK: 'vhls.func' argument #0 must be a !vhls.array or a beat; got tensor<4x!fxp.fixed<8, 3, signed>>
