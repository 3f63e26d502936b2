// RUN: fmlc-opt %s -p 'dataflow-to-cuda{model="jet"}' | filecheck %s
// RUN: fmlc-opt %s -p 'dataflow-to-cuda{model="jet" dp4a=false}' | filecheck %s --check-prefix=SCALAR
// The cuda IR prints, parses and prints again identically:
// RUN: fmlc-opt %s -p 'dataflow-to-cuda{model="jet"}' -o %t.a.mlir && fmlc-opt %t.a.mlir -o %t.b.mlir && diff %t.a.mlir %t.b.mlir

// A dense layer of 8-bit inputs and weights becomes __dp4a over words of four codes, the
// weights packed along k in __constant__ memory; the result cast rounds (RND) and saturates.
// The ReLU to an unsigned saturating type is a max with 0, then a clamp.

// CHECK:      cuda.global @jet_dense_1_bias constant
// CHECK-SAME:   : memref<3xsi8, "constant">
// CHECK:      cuda.global @jet_dense_1_w4 constant
// CHECK-SAME:   : memref<6xsi32, "constant">
// CHECK:      cuda.func @jet_dense_1(%x: memref<8xsi8>, %y: memref<3xsi8>)
// CHECK:        cuda.pack4
// CHECK:        cuda.for %m = 0 to 3 step 1 unroll 0 {
// CHECK:          cuda.for %j{{.*}} = 0 to 2 step 1 unroll 0 {
// CHECK:            cuda.dp4a {{.*}} {a_signed = true, b_signed = true}
// CHECK:          cuda.round_shift {{.*}} {shift = 2 : i64, mode = "RND"} : si32
// CHECK-NEXT:     cuda.clamp {{.*}} {lo = -128 : i64, hi = 127 : i64} : si32
// CHECK:      cuda.func @jet_relu_2(%x: memref<3xsi8>, %y: memref<3xui8>)
// CHECK:          cuda.max
// CHECK:      cuda.func @jet_sample(%x: memref<8xsi8>, %y: memref<3xui8>)
// CHECK-NEXT:   %[[D:.*]] = cuda.alloca : memref<3xsi8>
// CHECK-NEXT:   cuda.call @jet_dense_1(%x, %[[D]])
// CHECK-NEXT:   cuda.call @jet_relu_2(%[[D]], %y)
// CHECK:      cuda.func @jet_quantize(%x: memref<8xf32>, %q: memref<8xsi8>)
// CHECK:          cuda.quantize {{.*}} {ftype = f32, frac = 4 : i64, width = 8 : i64, signed = true, rounding = "RND", overflow = "SAT", scale = 5.000000e-01 : f32}
// CHECK:      cuda.kernel @jet_float_kernel(%x: memref<?xf32, "global">, %y: memref<?xf32, "global">, %n: si64) attributes {block_size = 256 : i64
// CHECK:        %xs = cuda.shared_alloc : memref<2304xf32, "shared">
// CHECK:        cuda.tile_loop %base, %count in %n tile 256 {
// CHECK:          cuda.tile_load %x, %xs, %base, %count {elems = 8 : i64, stride = 9 : i64}
// CHECK-NEXT:     cuda.barrier
// CHECK-NEXT:     cuda.thread_sample %t below %count {
// CHECK:            cuda.call @jet_infer_sample
// CHECK:          cuda.tile_store %y, %ys, %base, %count {elems = 3 : i64, stride = 3 : i64}
// CHECK:      cuda.entry @fmlc_jet_infer launches @jet_float_kernel per @jet_infer_sample {kind = "float"
// CHECK:      cuda.entry @fmlc_jet_infer_codes launches @jet_codes_kernel per @jet_infer_codes_sample {kind = "codes"
// CHECK:      cuda.entry @fmlc_jet_infer_raw launches @jet_raw_kernel per @jet_sample {kind = "raw"
// CHECK:      cuda.entry @fmlc_jet_quantize launches @jet_quantize_kernel per @jet_quantize {kind = "quantize"

// SCALAR:     cuda.func @jet_dense_1
// SCALAR-NOT: cuda.dp4a
// SCALAR:       cuda.mul {{.*}} : si32
// SCALAR:     cuda.func @jet_relu_2

func.func @main(%in: tensor<8xf32>) -> tensor<3x!fxp.fixed<6, 2, unsigned, TRN, SAT>> {
  %x = fxp.quantize %in {scale = 0.5 : f64} : tensor<8xf32> -> tensor<8x!fxp.fixed<8, 4, signed, RND, SAT>>
  %d = dataflow.node "dense_1"(%x) {reuse_factor = 1 : i64, io = "parallel"} : (tensor<8x!fxp.fixed<8, 4, signed, RND, SAT>>) -> tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>> {
  ^bb0(%a: tensor<8x!fxp.fixed<8, 4, signed, RND, SAT>>):
    %w = fxp.constant dense<"0x01FF02FE03FD04FC05FB06FA07F908F8090A0BF5F40C0D0E"> : tensor<8x3x!fxp.fixed<8, 6, signed>>
    %b = fxp.constant dense<"0x0102FF"> : tensor<3x!fxp.fixed<8, 4, signed>>
    %y = fxp.dense %a, %w, %b {acc = !fxp.fixed<20, 14, signed>} : (tensor<8x!fxp.fixed<8, 4, signed, RND, SAT>>, tensor<8x3x!fxp.fixed<8, 6, signed>>, tensor<3x!fxp.fixed<8, 4, signed>>) -> tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>
    dataflow.yield %y : tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>
  }
  %r = dataflow.node "relu_2"(%d) {reuse_factor = 1 : i64, io = "parallel"} : (tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>) -> tensor<3x!fxp.fixed<6, 2, unsigned, TRN, SAT>> {
  ^bb1(%a2: tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>):
    %z = fxp.relu %a2 : tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>> -> tensor<3x!fxp.fixed<6, 2, unsigned, TRN, SAT>>
    dataflow.yield %z : tensor<3x!fxp.fixed<6, 2, unsigned, TRN, SAT>>
  }
  func.return %r : tensor<3x!fxp.fixed<6, 2, unsigned, TRN, SAT>>
}
