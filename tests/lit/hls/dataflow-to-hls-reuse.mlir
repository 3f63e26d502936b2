// RUN: fmlc-opt %s -p 'fxp-to-dataflow,dataflow-to-hls' | filecheck %s
// RUN: fmlc-opt %s -p 'fxp-to-dataflow,dataflow-to-hls' | python -m fmlc.lowering.hls_to_cpp --file firmware/layers/dense_1.cpp | filecheck %s --check-prefix=CPP

// Reuse factor 5 on a 4x3 dense layer (12 products): ceil(12 / 5) = 3 multipliers, each used
// 5 times, in a loop of 5 cycles pipelined at II=1 (hls4ml's Resource strategy); product
// p = r + 5 j reads input p / 3 and weight p, adds to output p % 3; p >= 12 does nothing.
// The function itself is not pipelined (its inner loop is).

// CHECK-LABEL: vhls.func @dense_1
// CHECK-NOT:     vhls.pipeline
// CHECK:         vhls.comment "3 multipliers, each used 5 times: product p = r + 5 * j"
// CHECK-NEXT:    vhls.for %r = 0 to 5 step 1 attributes {label = "reuse", pipeline = 1 : i64} {
// CHECK-NEXT:      vhls.for %j = 0 to 3 step 1 attributes {label = "mult", unroll} {
// CHECK:             %p = arith.addi %r, %{{.*}} : index
// CHECK:             %[[IN:.*]] = arith.cmpi slt, %p, %{{.*}} : index
// CHECK-NEXT:        vhls.if %[[IN]] {
// CHECK:               %k = arith.divui %p, %{{.*}} : index
// CHECK-NEXT:          %m = arith.remui %p, %{{.*}} : index
// CHECK-NEXT:          %[[X:.*]] = vhls.load %x[%k]
// CHECK:               vhls.load %{{.*}}[%p] : !vhls.array<12x!fxp.fixed<4, 1, signed>>
// CHECK:               vhls.store %{{.*}}, %acc[%m]

// CPP:      void dense_1(const in_t x[4], dense_1_t y[3]) {
// CPP-NEXT:   HLS_PRAGMA(HLS INLINE off)
// CPP-NEXT:   HLS_PRAGMA(HLS ARRAY_PARTITION variable=x complete)
// CPP-NEXT:   HLS_PRAGMA(HLS ARRAY_PARTITION variable=y complete)
// weight r + 5 j is in bank j: blocks of 5, one bank a multiplier
// CPP-NEXT:   HLS_PRAGMA(HLS ARRAY_RESHAPE variable=dense_1_weight block factor=3)
// CPP:        // 3 multipliers, each used 5 times: product p = r + 5 * j
// CPP-NEXT:   {{\[\[maybe_unused\]\]}} reuse: for (int r = 0; r < 5; ++r) {
// CPP-NEXT:     HLS_PRAGMA(HLS PIPELINE II=1)
// CPP-NEXT:     {{\[\[maybe_unused\]\]}} mult: for (int j = 0; j < 3; ++j) {
// CPP-NEXT:       HLS_PRAGMA(HLS UNROLL)
// CPP-NEXT:       const int p = r + j * 5;
// CPP-NEXT:       if (p < 12) {
// CPP-NEXT:         const int k = p / 3;
// CPP-NEXT:         const int m = p % 3;
// CPP-NEXT:         acc[m] = acc[m] + dense_1_accum_t(x[k] * fmlc::from_code<dense_1_weight_t>(dense_1_weight[p]));
// CPP-NEXT:       }
// CPP-NEXT:     }
// CPP-NEXT:   }

func.func @main(%in: tensor<4xf32>) -> tensor<3x!fxp.fixed<12, 6, signed>> {
  %x = fxp.quantize %in : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 3, signed>>
  %w = fxp.constant dense<[[1, -2, 0], [3, 0, 1], [-1, 1, 2], [0, 2, -3]]> : tensor<4x3x!fxp.fixed<4, 1, signed>>
  %y = fxp.dense %x, %w {acc = !fxp.fixed<16, 8, signed>, name = "dense_1", fmlc.reuse_factor = 5 : i64} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.fixed<12, 6, signed>>
  func.return %y : tensor<3x!fxp.fixed<12, 6, signed>>
}
