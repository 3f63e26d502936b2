// RUN: fmlc-opt %s --verify-diagnostics --split-input-file | filecheck %s

// Each case below must be rejected by the verifier with a message naming the op and the fault.

func.func @dense_k(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<5x3x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.dense %x, %w {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<5x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.dense' input has 4 features but weight expects 5

// -----

func.func @dense_acc(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<4x3x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.dense %x, %w {acc = !fxp.fixed<16, 8, signed, TRN, SAT>} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.dense' accumulator !fxp.fixed<16, 8, signed, TRN, SAT> must wrap (WRAP)

// -----

func.func @dense_bias(%x: tensor<4x!fxp.fixed<8, 3, signed>>, %w: tensor<4x3x!fxp.fixed<4, 1, signed>>, %b: tensor<4x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.dense %x, %w, %b {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>, tensor<4x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.dense' bias must be [3], got [4]

// -----

func.func @conv_shape(%x: tensor<9x4x!fxp.fixed<6, 1, signed>>, %w: tensor<3x4x2x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.conv %x, %w {acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x4x2x!fxp.fixed<4, 1, signed>>) -> tensor<9x2x!fxp.auto>
  func.return
}
// CHECK: 'fxp.conv' result must be [7, 2], got [9, 2]

// -----

func.func @conv_groups(%x: tensor<9x4x!fxp.fixed<6, 1, signed>>, %w: tensor<3x2x3x!fxp.fixed<4, 1, signed>>) {
  %y = fxp.conv %x, %w {groups = 2 : i64, acc = !fxp.auto} : (tensor<9x4x!fxp.fixed<6, 1, signed>>, tensor<3x2x3x!fxp.fixed<4, 1, signed>>) -> tensor<7x3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.conv' with 2 group(s) needs C=4 and F=3 divisible by it

// -----

func.func @broadcast(%a: tensor<4x!fxp.fixed<8, 3, signed>>, %b: tensor<3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.add %a, %b : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<3x!fxp.fixed<8, 3, signed>>) -> tensor<4x!fxp.auto>
  func.return
}
// CHECK: 'fxp.add' operand shapes [4] and [3] do not broadcast

// -----

func.func @table_size(%x: tensor<4x!fxp.fixed<3, 1, signed>>) {
  %y = fxp.table %x {table = dense<[0, 1, 2, 3]> : tensor<4xi8>} : tensor<4x!fxp.fixed<3, 1, signed>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.table' needs 8 entries for input fixed<3,1>, got [4]

// -----

func.func @table_wide(%x: tensor<4x!fxp.fixed<24, 1, signed>>) {
  %y = fxp.table %x {table = dense<[0, 1, 2, 3]> : tensor<4xi8>} : tensor<4x!fxp.fixed<24, 1, signed>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.table' input fixed<24,1> is too wide to index a table (at most 20 bits); cast it first

// -----

func.func @table_entry(%x: tensor<4x!fxp.fixed<1, 1, signed>>) {
  %y = fxp.table %x {table = dense<[0, 9]> : tensor<2xi8>} : tensor<4x!fxp.fixed<1, 1, signed>> -> tensor<4x!fxp.fixed<2, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.table' table holds code 9, outside ufixed<2,0> [0, 3]

// -----

func.func @softmax_signed(%x: tensor<5x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.softmax %x {diff_type = !fxp.fixed<2, 2, signed, TRN, SAT>, exp_type = !fxp.fixed<4, 0, unsigned>, sum_type = !fxp.fixed<2, 3, unsigned, TRN, SAT>, inv_type = !fxp.fixed<4, 1, unsigned>, exp_table = dense<[15, 6, 2, 1]> : tensor<4xi8>, inv_table = dense<[15, 8, 4, 3]> : tensor<4xi8>} : tensor<5x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 0, unsigned>>
  func.return
}
// CHECK: 'fxp.softmax' exp table index type fixed<2,2,TRN,SAT> must be unsigned

// -----

func.func @cast_shape(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.cast %x : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<5x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.cast' changes the shape [4] -> [5]

// -----

func.func @quantize_fixed(%x: tensor<4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.quantize %x : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.quantize' input must be a float tensor

// -----

func.func @transpose_perm(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.transpose %x {perm = array<i64: 1, 0>} : tensor<2x3x!fxp.fixed<8, 3, signed>> -> tensor<2x3x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.transpose' result must be [3, 2], got [2, 3]

// -----

func.func @transpose_perm2(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.transpose %x {perm = array<i64: 1, 1>} : tensor<2x3x!fxp.fixed<8, 3, signed>> -> tensor<3x2x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.transpose' perm [1, 1] is not a permutation of 2 dimensions

// -----

func.func @reshape_count(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.reshape %x : tensor<2x3x!fxp.fixed<8, 3, signed>> -> tensor<7x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.reshape' cannot turn [2, 3] (6 elements) into [7]

// -----

func.func @move_type(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.flatten %x : tensor<2x3x!fxp.fixed<8, 3, signed>> -> tensor<6x!fxp.fixed<8, 4, signed>>
  func.return
}
// CHECK: 'fxp.flatten' moves data without changing it: element types differ

// -----

func.func @concat(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>, %z: tensor<2x4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.concat %x, %z {axis = 0 : i64} : (tensor<2x3x!fxp.fixed<8, 3, signed>>, tensor<2x4x!fxp.fixed<8, 3, signed>>) -> tensor<4x3x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.concat' input #1 shape [2, 4] does not match result [4, 3] off axis 0

// -----

func.func @pad(%x: tensor<2x3x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.pad %x {padding = array<i64: 1, 1>} : tensor<2x3x!fxp.fixed<8, 3, signed>> -> tensor<4x3x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.pad' padding must hold 4 values >= 0, got [1, 1]

// -----

func.func @multithreshold(%x: tensor<8x3x!fxp.fixed<8, 2, signed>>, %t: tensor<2x3x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.multithreshold %x, %t {out_scale = 1.0 : f64, out_bias = 0.0 : f64} : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<2x3x!fxp.fixed<8, 2, signed>>) -> tensor<8x3x!fxp.fixed<2, 2, signed>>
  func.return
}
// CHECK: 'fxp.multithreshold' needs thresholds [C or 1, T] for input [..., C=3]

// -----

func.func @maxpool(%x: tensor<6x6x3x!fxp.fixed<8, 2, signed>>) {
  %y = fxp.maxpool %x {kernel = array<i64: 2, 2>} : tensor<6x6x3x!fxp.fixed<8, 2, signed>> -> tensor<6x6x3x!fxp.fixed<8, 2, signed>>
  func.return
}
// CHECK: 'fxp.maxpool' result must be [3, 3, 3], got [6, 6, 3]

// -----

func.func @batchnorm(%x: tensor<8x3x!fxp.fixed<8, 2, signed>>, %s: tensor<4x!fxp.fixed<4, 2, signed>>) {
  %y = fxp.batchnorm %x, %s, %s : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<4x!fxp.fixed<4, 2, signed>>, tensor<4x!fxp.fixed<4, 2, signed>>) -> tensor<8x3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.batchnorm' scale must be [3] (one per channel), got [4]

// -----

func.func @leaky(%x: tensor<8x3x!fxp.fixed<8, 2, signed>>, %a: tensor<2x!fxp.fixed<4, 0, unsigned>>) {
  %y = fxp.leaky_relu %x, %a : (tensor<8x3x!fxp.fixed<8, 2, signed>>, tensor<2x!fxp.fixed<4, 0, unsigned>>) -> tensor<8x3x!fxp.auto>
  func.return
}
// CHECK: 'fxp.leaky_relu' operand shapes [8, 3] and [2] do not broadcast

// -----

func.func @width(%x: tensor<1x!fxp.fixed<0, 0, signed>>) {
  func.return
}
// CHECK: invalid fxp.fixed: fixed-point width must be in [1, 4096], got 0

// -----

func.func @dynamic(%x: tensor<?x4x!fxp.fixed<8, 3, signed>>) {
  %y = fxp.relu %x : tensor<?x4x!fxp.fixed<8, 3, signed>> -> tensor<?x4x!fxp.fixed<8, 3, signed>>
  func.return
}
// CHECK: 'fxp.relu' input must have a static shape
