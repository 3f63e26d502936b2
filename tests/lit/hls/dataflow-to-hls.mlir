// RUN: fmlc-opt %s -p 'dataflow-to-hls{top="mlp"}' | filecheck %s
// Printing, parsing and printing again gives identical text:
// RUN: fmlc-opt %s -p dataflow-to-hls -o %t.a.mlir && fmlc-opt %t.a.mlir -o %t.b.mlir && diff %t.a.mlir %t.b.mlir

// Parallel I/O: each node becomes a function over completely partitioned arrays, pipelined at
// II=1; constants become integer-code globals; types get the names of the layers that first
// use them. The top function takes the quantized input (the host quantizes) and calls the
// layers through partitioned local arrays.

// CHECK:      vhls.typedef @in_t = !fxp.fixed<8, 3, signed, RND_CONV, SAT>
// CHECK-NEXT: vhls.typedef @dense_1_t = !fxp.fixed<12, 6, signed>
// CHECK-NEXT: vhls.typedef @dense_1_weight_t = !fxp.fixed<4, 1, signed>
// CHECK-NEXT: vhls.typedef @dense_1_bias_t = !fxp.fixed<4, 2, signed>
// CHECK-NEXT: vhls.typedef @dense_1_accum_t = !fxp.fixed<16, 8, signed>
// CHECK-NEXT: vhls.typedef @relu_1_t = !fxp.fixed<6, 3, unsigned, RND, SAT>
// CHECK-NEXT: vhls.global @dense_1_weight : !vhls.array<12x!fxp.fixed<4, 1, signed>> {value = dense<[1, -2, 0, 3, 0, 1, -1, 1, 2, 0, 2, -3]> : tensor<12xi8>}
// CHECK-NEXT: vhls.global @dense_1_bias : !vhls.array<3x!fxp.fixed<4, 2, signed>> {value = dense<[1, 0, -1]> : tensor<3xi8>}

// CHECK-LABEL: vhls.func @dense_1(%x: !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>, %y: !vhls.array<3x!fxp.fixed<12, 6, signed>>)
// CHECK-SAME:    num_inputs = 1 : i64, port_names = ["x", "y"], comment = "dense_1: fxp.dense (4) -> 3, reuse factor 1, io parallel; 9 of 12 weights non-zero; estimate II 1, latency 4 cycles"
// CHECK-NEXT:    vhls.inline_off
// CHECK-NEXT:    vhls.pipeline {ii = 1 : i64}
// CHECK-NEXT:    vhls.array_partition %x {kind = "complete"}
// CHECK-NEXT:    vhls.array_partition %y {kind = "complete"}
// every weight in a register of its own (all of them are read at once)
// CHECK-NEXT:    %[[W:.*]] = vhls.get_global @dense_1_weight : !vhls.array<12x!fxp.fixed<4, 1, signed>>
// CHECK-NEXT:    vhls.array_partition %[[W]] {kind = "complete"}
// CHECK-NEXT:    %[[BB:.*]] = vhls.get_global @dense_1_bias : !vhls.array<3x!fxp.fixed<4, 2, signed>>
// CHECK-NEXT:    vhls.array_partition %[[BB]] {kind = "complete"}
// acc = bias, cast to the accumulator
// CHECK-NEXT:    %acc = vhls.alloca : !vhls.array<3x!fxp.fixed<16, 8, signed>>
// CHECK-NEXT:    vhls.array_partition %acc {kind = "complete"}
// CHECK-NEXT:    vhls.for %i = 0 to 3 step 1 attributes {label = "init", unroll} {
// CHECK-NEXT:      %[[B:.*]] = vhls.get_global @dense_1_bias
// CHECK-NEXT:      %[[BI:.*]] = vhls.load %[[B]][%i]
// CHECK-NEXT:      %[[BA:.*]] = vhls.cast %[[BI]] : !fxp.fixed<4, 2, signed> -> !fxp.fixed<16, 8, signed>
// CHECK-NEXT:      vhls.store %[[BA]], %acc[%i]
// acc += acc_t(x * w): the product and the sum are exact, the casts round and wrap
// CHECK:         vhls.for %k = 0 to 4 step 1 attributes {label = "mac", unroll} {
// CHECK-NEXT:      %xk = vhls.load %x[%k]
// CHECK-NEXT:      vhls.for %m = 0 to 3 step 1 attributes {label = "mac_m", unroll} {
// CHECK:             %[[P:.*]] = vhls.mul %xk, %{{.*}} : (!fxp.fixed<8, 3, signed, RND_CONV, SAT>, !fxp.fixed<4, 1, signed>) -> !fxp.fixed<12, 4, signed>
// CHECK-NEXT:        %[[PA:.*]] = vhls.cast %[[P]] : !fxp.fixed<12, 4, signed> -> !fxp.fixed<16, 8, signed>
// CHECK-NEXT:        %[[A:.*]] = vhls.load %acc[%m]
// CHECK-NEXT:        %[[S:.*]] = vhls.add %[[A]], %[[PA]] : (!fxp.fixed<16, 8, signed>, !fxp.fixed<16, 8, signed>) -> !fxp.fixed<17, 9, signed>
// CHECK-NEXT:        %[[SA:.*]] = vhls.cast %[[S]] : !fxp.fixed<17, 9, signed> -> !fxp.fixed<16, 8, signed>
// CHECK-NEXT:        vhls.store %[[SA]], %acc[%m]
// CHECK:         vhls.for %{{.*}} = 0 to 3 step 1 attributes {label = "result", unroll} {
// CHECK:           vhls.cast %{{.*}} : !fxp.fixed<16, 8, signed> -> !fxp.fixed<12, 6, signed>
// CHECK:         vhls.return

// relu: x > 0 ? cast(x) : 0
// CHECK-LABEL: vhls.func @relu_1
// CHECK:           %[[X:.*]] = vhls.load %x[%c]
// CHECK-NEXT:      %[[Z:.*]] = vhls.constant 0 : !fxp.fixed<12, 6, signed>
// CHECK-NEXT:      %[[C:.*]] = vhls.cmp %[[X]], %[[Z]] {predicate = "gt"}
// CHECK-NEXT:      %[[XC:.*]] = vhls.cast %[[X]] : !fxp.fixed<12, 6, signed> -> !fxp.fixed<6, 3, unsigned, RND, SAT>
// CHECK-NEXT:      %[[Z2:.*]] = vhls.constant 0 : !fxp.fixed<6, 3, unsigned, RND, SAT>
// CHECK-NEXT:      %[[R:.*]] = vhls.select %[[C]], %[[XC]], %[[Z2]]
// CHECK-NEXT:      vhls.store %[[R]], %y[%c]

// CHECK-LABEL: vhls.func @mlp(%in: !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>, %output: !vhls.array<3x!fxp.fixed<6, 3, unsigned, RND, SAT>>)
// CHECK-SAME:    num_inputs = 1 : i64, top, port_names = ["in", "output_0"]
// CHECK-NEXT:    vhls.interface %in : !vhls.array<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>> {mode = "ap_vld"}
// CHECK-NEXT:    vhls.array_reshape %in {kind = "complete", dim = 0 : i64}
// CHECK-NEXT:    vhls.interface %output : !vhls.array<3x!fxp.fixed<6, 3, unsigned, RND, SAT>> {mode = "ap_vld"}
// CHECK-NEXT:    vhls.array_partition %output {kind = "complete", dim = 0 : i64}
// CHECK-NEXT:    vhls.pipeline {ii = 1 : i64}
// CHECK-NEXT:    %dense_1_out = vhls.alloca : !vhls.array<3x!fxp.fixed<12, 6, signed>>
// CHECK-NEXT:    vhls.array_partition %dense_1_out {kind = "complete"}
// CHECK-NEXT:    vhls.call @dense_1(%in, %dense_1_out)
// CHECK-NEXT:    vhls.call @relu_1(%dense_1_out, %output)
// CHECK-NEXT:    vhls.return

func.func @main(%in: tensor<4xf32>) -> tensor<3x!fxp.fixed<6, 3, unsigned, RND, SAT>> {
  %x = fxp.quantize %in : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>
  %d = dataflow.node "dense_1"(%x) {reuse_factor = 1 : i64, io = "parallel", ii = 1 : i64, latency = 4 : i64} : (tensor<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>) -> tensor<3x!fxp.fixed<12, 6, signed>> {
  ^bb0(%a: tensor<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>):
    %w = fxp.constant dense<[[1, -2, 0], [3, 0, 1], [-1, 1, 2], [0, 2, -3]]> : tensor<4x3x!fxp.fixed<4, 1, signed>>
    %b = fxp.constant dense<[1, 0, -1]> : tensor<3x!fxp.fixed<4, 2, signed>>
    %y = fxp.dense %a, %w, %b {acc = !fxp.fixed<16, 8, signed>} : (tensor<4x!fxp.fixed<8, 3, signed, RND_CONV, SAT>>, tensor<4x3x!fxp.fixed<4, 1, signed>>, tensor<3x!fxp.fixed<4, 2, signed>>) -> tensor<3x!fxp.fixed<12, 6, signed>>
    dataflow.yield %y : tensor<3x!fxp.fixed<12, 6, signed>>
  }
  %r = dataflow.node "relu_1"(%d) {reuse_factor = 1 : i64, io = "parallel", ii = 1 : i64, latency = 2 : i64} : (tensor<3x!fxp.fixed<12, 6, signed>>) -> tensor<3x!fxp.fixed<6, 3, unsigned, RND, SAT>> {
  ^bb0(%a: tensor<3x!fxp.fixed<12, 6, signed>>):
    %y = fxp.relu %a : tensor<3x!fxp.fixed<12, 6, signed>> -> tensor<3x!fxp.fixed<6, 3, unsigned, RND, SAT>>
    dataflow.yield %y : tensor<3x!fxp.fixed<6, 3, unsigned, RND, SAT>>
  }
  func.return %r : tensor<3x!fxp.fixed<6, 3, unsigned, RND, SAT>>
}
