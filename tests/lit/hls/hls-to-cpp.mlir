// RUN: python -m fmlc.lowering.hls_to_cpp %s | filecheck %s
// Printing, parsing and printing again gives identical text:
// RUN: fmlc-opt %s -o %t.a.mlir && fmlc-opt %t.a.mlir -o %t.b.mlir && diff %t.a.mlir %t.b.mlir

// The C++ printer: types print as their typedef names (else in full, modes spelled out);
// single-use expressions inline into the statement that uses them, others become const
// locals; a cast stored into an array is left to the assignment; a variable initialized by
// the next statement is declared with it; constants print exactly (wider than 53 bits: from
// their code); HLS pragmas go through HLS_PRAGMA (synthesis only); globals hold codes.

// CHECK-LABEL: // ----- firmware/defines.h
// CHECK:       #ifndef FMLC_TOP_DEFINES_H
// CHECK:       #define HLS_PRAGMA(x) _Pragma(#x)
// CHECK:       inline T from_code(long long code) {
// CHECK:       typedef ap_fixed<8, 3, AP_RND_CONV, AP_SAT> x_t;
// CHECK-NEXT:  typedef ap_ufixed<6, 0, AP_TRN, AP_WRAP> w_t;

// CHECK-LABEL: // ----- firmware/layers.h
// CHECK:       void kernel(const x_t x[4], ap_fixed<10, 4, AP_TRN_ZERO, AP_SAT_SYM> y[4]);

// CHECK-LABEL: // ----- firmware/layers/kernel.cpp
// CHECK:       #include "../layers.h"
// CHECK-NEXT:  #include "../weights/w.h"
// CHECK:       // kernel: every statement kind
// CHECK-NEXT:  void kernel(const x_t x[4], ap_fixed<10, 4, AP_TRN_ZERO, AP_SAT_SYM> y[4]) {
// CHECK-NEXT:    HLS_PRAGMA(HLS INLINE off)
// CHECK-NEXT:    HLS_PRAGMA(HLS PIPELINE II=2)
// CHECK-NEXT:    HLS_PRAGMA(HLS ARRAY_PARTITION variable=x cyclic factor=2 dim=1)
// CHECK-NEXT:    x_t best = x[0];
// CHECK-NEXT:    {{\[\[maybe_unused\]\]}} lanes: for (int c = 0; c < 4; c += 2) {
// CHECK-NEXT:      HLS_PRAGMA(HLS UNROLL)
// CHECK-NEXT:      const x_t t0 = x[c + 1];
// CHECK-NEXT:      const x_t t1 = best;
// CHECK-NEXT:      best = t0 > t1 ? t0 : t1;
// CHECK-NEXT:      if (c >= 1 && c < 3) {
// CHECK-NEXT:        const x_t t2 = x[c];
// CHECK-NEXT:        y[c] = (t2 - x_t(-0.1875)) * (fmlc::from_code<w_t>(w[(t2.range(7, 0).to_int()) ^ 128]) + w_t(0.015625));
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// CHECK-NEXT:    const ap_fixed<10, 4, AP_TRN_ZERO, AP_SAT_SYM> t3 = ap_fixed<10, 4, AP_TRN_ZERO, AP_SAT_SYM>(best);
// CHECK-NEXT:    y[3] = t3 < ap_fixed<10, 4, AP_TRN_ZERO, AP_SAT_SYM>(3) ? t3 : ap_fixed<10, 4, AP_TRN_ZERO, AP_SAT_SYM>(fmlc::from_code<ap_fixed<60, 4, AP_TRN, AP_WRAP>>(-1LL));
// CHECK-NEXT:  }

// CHECK-LABEL: // ----- firmware/top.cpp
// CHECK:       void top(hls::stream<fmlc::beat<x_t, 4>>& in, ap_fixed<10, 4, AP_TRN_ZERO, AP_SAT_SYM> out[4]) {
// CHECK-NEXT:    HLS_PRAGMA(HLS INTERFACE mode=axis port=in)
// CHECK-NEXT:    HLS_PRAGMA(HLS INTERFACE mode=ap_ctrl_hs port=return)
// CHECK-NEXT:    HLS_PRAGMA(HLS DATAFLOW)
// CHECK-NEXT:    hls::stream<fmlc::beat<x_t, 4>> link("link");
// CHECK-NEXT:    HLS_PRAGMA(HLS STREAM variable=link depth=2)
// CHECK-NEXT:    fmlc::beat<x_t, 4> beat = in.read();
// CHECK-NEXT:    link.write(beat);
// CHECK-NEXT:    x_t frame[4];
// CHECK-NEXT:    fmlc::beat<x_t, 4> got = link.read();
// CHECK-NEXT:    frame[0] = got.data[0];
// CHECK-NEXT:    kernel(frame, out);
// CHECK-NEXT:  }

// CHECK-LABEL: // ----- firmware/weights/w.h
// CHECK:       static const int8_t w[256] = {
// CHECK-NEXT:    0, 1, 2, 3, 4, 5, 6, 7,

builtin.module {
  vhls.typedef @x_t = !fxp.fixed<8, 3, signed, RND_CONV, SAT>
  vhls.typedef @w_t = !fxp.fixed<6, 0, unsigned>
  vhls.global @w : !vhls.array<256x!fxp.fixed<6, 0, unsigned>> {value = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63]> : tensor<256xi8>}
  vhls.func @kernel(%x: !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>, %y: !vhls.array<4x!fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>>) attributes {num_inputs = 1 : i64, comment = "kernel: every statement kind"} {
    vhls.inline_off
    vhls.pipeline {ii = 2 : i64}
    vhls.array_partition %x {kind = "cyclic", factor = 2 : i64, dim = 1 : i64} : !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>
    %0 = arith.constant 0 : index
    %1 = vhls.load %x[%0] : !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>> -> !fxp.fixed<8, 3, signed, RND_CONV, SAT>
    %best = vhls.alloca : !vhls.array<!fxp.fixed<8, 3, signed, RND_CONV, SAT>>
    vhls.store %1, %best : !fxp.fixed<8, 3, signed, RND_CONV, SAT>, !vhls.array<!fxp.fixed<8, 3, signed, RND_CONV, SAT>>
    vhls.for %c = 0 to 4 step 2 attributes {label = "lanes", unroll} {
      %2 = arith.constant 1 : index
      %3 = arith.addi %c, %2 : index
      %4 = vhls.load %x[%3] : !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>> -> !fxp.fixed<8, 3, signed, RND_CONV, SAT>
      %5 = vhls.load %best : !vhls.array<!fxp.fixed<8, 3, signed, RND_CONV, SAT>> -> !fxp.fixed<8, 3, signed, RND_CONV, SAT>
      %6 = vhls.cmp %4, %5 {predicate = "gt"} : !fxp.fixed<8, 3, signed, RND_CONV, SAT>, !fxp.fixed<8, 3, signed, RND_CONV, SAT>
      %7 = vhls.select %6, %4, %5 : !fxp.fixed<8, 3, signed, RND_CONV, SAT>
      vhls.store %7, %best : !fxp.fixed<8, 3, signed, RND_CONV, SAT>, !vhls.array<!fxp.fixed<8, 3, signed, RND_CONV, SAT>>
      %8 = arith.constant 3 : index
      %9 = arith.cmpi sge, %c, %2 : index
      %10 = arith.cmpi slt, %c, %8 : index
      %11 = arith.andi %9, %10 : i1
      vhls.if %11 {
        %12 = vhls.load %x[%c] : !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>> -> !fxp.fixed<8, 3, signed, RND_CONV, SAT>
        %13 = vhls.constant -6 : !fxp.fixed<8, 3, signed, RND_CONV, SAT>
        %14 = vhls.sub %12, %13 : (!fxp.fixed<8, 3, signed, RND_CONV, SAT>, !fxp.fixed<8, 3, signed, RND_CONV, SAT>) -> !fxp.fixed<9, 4, signed>
        %15 = vhls.bits %12 : !fxp.fixed<8, 3, signed, RND_CONV, SAT>
        %16 = arith.constant 128 : index
        %17 = arith.xori %15, %16 : index
        %18 = vhls.get_global @w : !vhls.array<256x!fxp.fixed<6, 0, unsigned>>
        %19 = vhls.load %18[%17] : !vhls.array<256x!fxp.fixed<6, 0, unsigned>> -> !fxp.fixed<6, 0, unsigned>
        %20 = vhls.constant 1 : !fxp.fixed<6, 0, unsigned>
        %21 = vhls.add %19, %20 : (!fxp.fixed<6, 0, unsigned>, !fxp.fixed<6, 0, unsigned>) -> !fxp.fixed<7, 1, unsigned>
        %22 = vhls.mul %14, %21 : (!fxp.fixed<9, 4, signed>, !fxp.fixed<7, 1, unsigned>) -> !fxp.fixed<16, 5, signed>
        %23 = vhls.cast %22 : !fxp.fixed<16, 5, signed> -> !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>
        vhls.store %23, %y[%c] : !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>, !vhls.array<4x!fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>>
      }
    }
    %24 = vhls.load %best : !vhls.array<!fxp.fixed<8, 3, signed, RND_CONV, SAT>> -> !fxp.fixed<8, 3, signed, RND_CONV, SAT>
    %25 = vhls.cast %24 : !fxp.fixed<8, 3, signed, RND_CONV, SAT> -> !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>
    %26 = vhls.constant 192 : !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>
    %27 = vhls.cmp %25, %26 {predicate = "lt"} : !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>, !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>
    %28 = vhls.constant -1 : !fxp.fixed<60, 4, signed>
    %29 = vhls.cast %28 : !fxp.fixed<60, 4, signed> -> !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>
    %30 = vhls.select %27, %25, %29 : !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>
    %31 = arith.constant 3 : index
    vhls.store %30, %y[%31] : !fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>, !vhls.array<4x!fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>>
    vhls.return
  }
  vhls.func @top(%in: !vhls.stream<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>, %out: !vhls.array<4x!fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>>) attributes {num_inputs = 1 : i64, top, port_names = ["in", "out"]} {
    vhls.interface %in : !vhls.stream<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4> {mode = "axis"}
    vhls.interface {mode = "ap_ctrl_hs"}
    vhls.dataflow
    %link = vhls.channel {depth = 2 : i64} : !vhls.stream<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>
    %beat = vhls.alloca : !vhls.beat<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>
    vhls.read %in, %beat : !vhls.stream<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>, !vhls.beat<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>
    vhls.write %link, %beat : !vhls.stream<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>, !vhls.beat<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>
    %frame = vhls.alloca : !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>
    %got = vhls.alloca : !vhls.beat<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>
    vhls.read %link, %got : !vhls.stream<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>, !vhls.beat<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4>
    %32 = arith.constant 0 : index
    %33 = vhls.load %got[%32] : !vhls.beat<!fxp.fixed<8, 3, signed, RND_CONV, SAT>, 4> -> !fxp.fixed<8, 3, signed, RND_CONV, SAT>
    vhls.store %33, %frame[%32] : !fxp.fixed<8, 3, signed, RND_CONV, SAT>, !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>
    vhls.call @kernel(%frame, %out) : !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>, !vhls.array<4x!fxp.fixed<10, 4, signed, TRN_ZERO, SAT_SYM>>
    vhls.return
  }
}
