// RUN: fmlc-opt %s -p 'fxp-to-dataflow,dataflow-to-cuda{model="m"}' | filecheck %s

// fxp.upsample: a copy loop over the output, reading input position (o0 / 2, o1 / 3, c);
// the codes keep their storage type.

// CHECK-LABEL: cuda.func @m_up(%x: memref<8xsi8>, %y: memref<48xsi8>)
// CHECK:         cuda.comment "up: nearest-neighbour upsampling by [2, 3]"
// CHECK:         cuda.for %[[D0:.*]] = 0 to 4
// CHECK:           cuda.for %[[D1:.*]] = 0 to 6
// CHECK:             cuda.for %[[D2:.*]] = 0 to 2
// CHECK:               cuda.div %[[D0]], %{{.*}} : index
// CHECK:               cuda.div %[[D1]], %{{.*}} : index
// CHECK:               %[[V:.*]] = cuda.load %x[%{{.*}}] : memref<8xsi8> -> si8
// CHECK-NEXT:          cuda.store %[[V]], %y[%{{.*}}] : si8, memref<48xsi8>

func.func @main(%in: tensor<2x2x2xf32>) -> tensor<4x6x2x!fxp.fixed<8, 3, signed>> {
  %x = fxp.quantize %in : tensor<2x2x2xf32> -> tensor<2x2x2x!fxp.fixed<8, 3, signed>>
  %u = fxp.upsample %x {name = "up", factors = array<i64: 2, 3>} : tensor<2x2x2x!fxp.fixed<8, 3, signed>> -> tensor<4x6x2x!fxp.fixed<8, 3, signed>>
  func.return %u : tensor<4x6x2x!fxp.fixed<8, 3, signed>>
}
