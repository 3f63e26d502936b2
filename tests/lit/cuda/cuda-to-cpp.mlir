// RUN: python -m fmlc.lowering.cuda_to_cpp %s | filecheck %s

// The printer spells each cuda op as one C++ statement or expression: single-use values
// print inline, loads only when no store comes between; loops carry their unroll hint.

// CHECK:      FMLC_CONSTANT int8_t m_w[4] = {
// CHECK-NEXT:     1, -2, 3, 4,
// CHECK-NEXT: };
// CHECK:      // dot product, rounded and saturated
// CHECK-NEXT: FMLC_HD void m_f(const int8_t* __restrict__ x, int16_t* __restrict__ y) {
// CHECK-NEXT:     int32_t acc = {};
// CHECK-NEXT:     FMLC_UNROLL
// CHECK-NEXT:     for (int i = 0; i < 4; ++i) {
// CHECK-NEXT:         acc = acc + ((int32_t)x[i] * (int32_t)m_w[i]);
// CHECK-NEXT:     }
// CHECK-NEXT:     const int32_t r = acc;
// CHECK-NEXT:     y[0] = (int16_t)fmlc_clamp(fmlc_rnd_conv(r, 2), -8, 7);
// CHECK-NEXT:     y[1] = (int16_t)fmlc_wrap_signed(fmlc_trn_zero(r, 3), 4);
// CHECK-NEXT:     y[2] = (int16_t)((r < 0) ? 0 : (r >> 1));
// CHECK-NEXT: }
// CHECK:      __global__ void __launch_bounds__(128) m_raw_kernel(const int8_t* __restrict__ x, int16_t* __restrict__ y, long long n) {
// CHECK-NEXT:     __shared__ int8_t xs[512];
// CHECK-NEXT:     for (long long base = (long long)blockIdx.x * 128; base < n; base += (long long)gridDim.x * 128) {
// CHECK-NEXT:         const int count = n - base < 128 ? (int)(n - base) : 128;
// CHECK-NEXT:         for (int e = threadIdx.x; e < count * 4; e += 128) {
// CHECK-NEXT:             xs[e] = x[base * 4 + e];
// CHECK-NEXT:         }
// CHECK-NEXT:         __syncthreads();
// CHECK-NEXT:         if ((int)threadIdx.x < count) {
// CHECK-NEXT:             const int t = threadIdx.x;
// CHECK-NEXT:             m_f(xs + (t * 4), y + ((base + (int64_t)t) * INT64_C(3)));
// CHECK-NEXT:         }
// CHECK-NEXT:         __syncthreads();
// CHECK-NEXT:     }
// CHECK-NEXT: }
// CHECK:      extern "C" cudaError_t fmlc_m_infer_raw(const int8_t* x, int16_t* y, size_t n, cudaStream_t stream) {
// CHECK:          m_raw_kernel<<<grid, 128, 0, stream>>>(x, y, (long long)n);

builtin.module {
  cuda.global @m_w constant dense<"0x01FE0304"> : memref<4xsi8, "constant">
  cuda.func @m_f(%x: memref<4xsi8>, %y: memref<3xsi16>) attributes {num_inputs = 1 : i64, doc = "dot product, rounded and saturated"} {
    %w = cuda.get_global @m_w : memref<4xsi8, "constant">
    %acc = cuda.alloca {zero = true} : memref<si32>
    cuda.for %i = 0 to 4 step 1 unroll 0 {
      %a = cuda.load %x[%i] : memref<4xsi8> -> si8
      %b = cuda.load %w[%i] : memref<4xsi8, "constant"> -> si8
      %a2 = cuda.convert %a : si8 -> si32
      %b2 = cuda.convert %b : si8 -> si32
      %p = cuda.mul %a2, %b2 : si32
      %s0 = cuda.load %acc[] : memref<si32> -> si32
      %s = cuda.add %s0, %p : si32
      cuda.store %s, %acc[] : si32, memref<si32>
    }
    %r = cuda.load %acc[] : memref<si32> -> si32
    %c0 = cuda.constant 0 : index
    %c1 = cuda.constant 1 : index
    %c2 = cuda.constant 2 : index
    %q = cuda.round_shift %r {shift = 2 : i64, mode = "RND_CONV"} : si32
    %q2 = cuda.clamp %q {lo = -8 : i64, hi = 7 : i64} : si32
    %q3 = cuda.convert %q2 : si32 -> si16
    cuda.store %q3, %y[%c0] : si16, memref<3xsi16>
    %t = cuda.round_shift %r {shift = 3 : i64, mode = "TRN_ZERO"} : si32
    %t2 = cuda.wrap %t {width = 4 : i64, signed = true} : si32
    %t3 = cuda.convert %t2 : si32 -> si16
    cuda.store %t3, %y[%c1] : si16, memref<3xsi16>
    %z = cuda.constant 0 : si32
    %neg = cuda.cmp "lt" %r, %z : si32
    %h = cuda.shr %r {amount = 1 : i64} : si32
    %sel = cuda.select %neg, %z, %h : si32
    %s3 = cuda.convert %sel : si32 -> si16
    cuda.store %s3, %y[%c2] : si16, memref<3xsi16>
  }
  cuda.kernel @m_raw_kernel(%x: memref<?xsi8, "global">, %y: memref<?xsi16, "global">, %n: si64) attributes {block_size = 128 : i64} {
    %xs = cuda.shared_alloc : memref<512xsi8, "shared">
    cuda.tile_loop %base, %count in %n tile 128 {
      cuda.tile_load %x, %xs, %base, %count {elems = 4 : i64, stride = 4 : i64} : memref<?xsi8, "global">, memref<512xsi8, "shared">
      cuda.barrier
      cuda.thread_sample %t below %count {
        %four = cuda.constant 4 : index
        %o = cuda.mul %t, %four : index
        %px = cuda.offset %xs, %o : memref<512xsi8, "shared">, index -> memref<?xsi8, "shared">
        %t64 = cuda.convert %t : index -> si64
        %s = cuda.add %base, %t64 : si64
        %three = cuda.constant 3 : si64
        %off = cuda.mul %s, %three : si64
        %py = cuda.offset %y, %off : memref<?xsi16, "global">, si64 -> memref<?xsi16, "global">
        cuda.call @m_f(%px, %py) : memref<?xsi8, "shared">, memref<?xsi16, "global">
      }
      cuda.barrier
    }
  }
  cuda.entry @fmlc_m_infer_raw launches @m_raw_kernel per @m_f {kind = "raw", in_elems = 4 : i64, out_elems = 3 : i64}
}
