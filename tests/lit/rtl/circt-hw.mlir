// RUN: fmlc-opt %s | filecheck %s
// RUN: fmlc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: fmlc-opt %s --print-op-generic | fmlc-opt | filecheck %s

// hw and seq as CIRCT (pycde 0.12.1) defines them: the generic form CIRCT prints, as read by
// fmlc-opt (fmlc.dialects.hw, fmlc.dialects.seq).  A register keeps its name and operand
// segment sizes as properties; an instance its names and (empty) parameters.  fmlc-opt prints
// CIRCT's custom syntax (the register's name shown in the attribute dictionary) and, asked
// for it, the same generic form.

// CHECK-LABEL: hw.module @t(in %{{.*}} clk: !seq.clock, in %{{.*}} rst: i1, in %{{.*}} a: i8, in %{{.*}} b: i3, out y: i8, out z: i4)
// CHECK:         seq.compreg %{{.*}}, %{{.*}} {name = "r"} : i8
// CHECK:         seq.compreg %{{.*}}, %{{.*}} reset %{{.*}}, %{{.*}} {name = "r2"} : i8
// CHECK:         hw.array_get %{{.*}}[%{{.*}}] : !hw.array<8xi4>, i3
// CHECK:         hw.instance "u" @s(x: %{{.*}}: i8) -> (w: i8)
// CHECK-LABEL: hw.module @s(
// CHECK-SAME:    attributes {fmlc.latency = 0 : i64}

// GENERIC: "seq.compreg"(%{{.*}}, %{{.*}}) <{name = "r", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0>}> : (i8, !seq.clock) -> i8
// GENERIC: "seq.compreg"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{name = "r2", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (i8, !seq.clock, i1, i8) -> i8
// GENERIC: "hw.instance"(%{{.*}}) <{argNames = ["x"], instanceName = "u", moduleName = @s, parameters = [], resultNames = ["w"]}> : (i8) -> i8

"builtin.module"() ({
  "hw.module"() <{module_type = !hw.modty<input clk : !seq.clock, input rst : i1, input a : i8, input b : i3, output y : i8, output z : i4>, parameters = [], sym_name = "t"}> ({
  ^bb0(%arg1: !seq.clock, %arg2: i1, %arg3: i8, %arg4: i3):
    %0 = "hw.constant"() <{value = 5 : i8}> : () -> i8
    %1 = "comb.add"(%arg3, %0) : (i8, i8) -> i8
    %2 = "comb.icmp"(%arg3, %1) <{predicate = 2 : i64}> : (i8, i8) -> i1
    %3 = "comb.mux"(%2, %arg3, %1) : (i1, i8, i8) -> i8
    %4 = "comb.extract"(%3) <{lowBit = 2 : i32}> : (i8) -> i3
    %5 = "comb.concat"(%4, %2) : (i3, i1) -> i4
    %6 = "comb.replicate"(%2) : (i1) -> i4
    %7 = "seq.compreg"(%3, %arg1) <{name = "r", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0>}> : (i8, !seq.clock) -> i8
    %8 = "seq.compreg"(%3, %arg1, %arg2, %0) <{name = "r2", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}> : (i8, !seq.clock, i1, i8) -> i8
    %9 = "hw.constant"() <{value = 0 : i4}> : () -> i4
    %10 = "hw.constant"() <{value = 3 : i4}> : () -> i4
    %11 = "hw.array_create"(%9, %10, %9, %10, %9, %10, %9, %10) : (i4, i4, i4, i4, i4, i4, i4, i4) -> !hw.array<8xi4>
    %12 = "hw.array_get"(%11, %arg4) : (!hw.array<8xi4>, i3) -> i4
    %13 = "hw.instance"(%8) <{argNames = ["x"], instanceName = "u", moduleName = @s, parameters = [], resultNames = ["w"]}> : (i8) -> i8
    "hw.output"(%13, %12) : (i8, i4) -> ()
  }) : () -> ()
  "hw.module"() <{module_type = !hw.modty<input x : i8, output w : i8>, parameters = [], sym_name = "s"}> ({
  ^bb0(%arg0: i8):
    "hw.output"(%arg0) : (i8) -> ()
  }) {fmlc.latency = 0 : i64} : () -> ()
}) : () -> ()