"""Float Keras models as OnnxMLTools' Keras converter (keras2onnx) wrote them for hls4ml's
example-models.

Common to all: IR 3, model domain ``onnxml``, a graph named by a UUID, every weight listed as a
graph input too and stored as ``float_data``, the batch fixed at 1, value_info for every
intermediate tensor, node names derived from the Keras classes (``_class__keras_layers_core_
Dense__``, ``Conv1D__``) or empty (the converter's Gemm nodes).  Weights are float, drawn with
the spread of the trained ones, so that hls4ml's default ``fixed<16,6>`` holds every
activation on standard-normal inputs, as it does for the originals.

- ``three_layer_keras`` (OnnxMLTools 1.2.2, opset 9): the float jet tagger 16 -> 64 -> 32 ->
  32 -> 5 as ``MatMul`` + ``Add`` + ``Relu``, ``Softmax(axis=1)``.
- ``three_layer_bn_keras`` (OnnxMLTools 1.3.0, opset 7): the same with Keras BatchNormalization
  after every dense layer, written as ``Gemm`` then ``Transpose`` (no perm: [1, n] -> [n, 1]),
  ``BatchNormalization`` (epsilon 1e-9, momentum 0.9, spatial 1; mean -0 and variance 1, the
  trained statistics folded into scale and bias) on the transposed tensor, ``Transpose`` back,
  then ``Relu``; the last block ends in ``Softmax(axis=-1)``.  onnxruntime refuses this graph
  (the BatchNorm's channel axis has length 1 but its parameters 64 entries), as it refuses the
  original.
- ``two_layer_keras`` (1.2.2, opset 9): 10 -> 32 -> 1 with a ``Sigmoid`` output.
- ``conv1d_small_keras`` (1.3.0, opset 9): input [1, 10, 4] (steps, channels), ``Transpose``
  (0, 2, 1) to channels-first, three ``Conv`` (kernel 4, "same" padding written as pads [1, 2],
  4 -> 3 -> 2 -> 1 channels) each with ``Relu``, ``Transpose`` back, ``Flatten(axis=0)``,
  ``Gemm`` 10 -> 5, ``Relu``, ``Gemm`` 5 -> 5, ``Softmax``.
- ``conv2d_small_keras`` (1.2.2, opset 9): input [1, 8, 8, 1], ``Transpose`` to NCHW, ``Conv``
  3x3 (pads 1) to 2 channels, ``Relu``, ``Transpose`` back to NHWC, ``Identity`` (the Dropout),
  ``Flatten(axis=0)``, ``Gemm`` 128 -> 10, ``Softmax``.
"""

from __future__ import annotations

import numpy as np

from .export import Graph, Producer, f32, finish, rng_for, value

OMT_122 = Producer("OnnxMLTools", "1.2.2.0129", ir_version=3, opsets=(("", 9),), domain="onnxml", inits_as_inputs=True)
OMT_130_OPSET9 = Producer("OnnxMLTools", "1.3.0", ir_version=3, opsets=(("", 9),), domain="onnxml", inits_as_inputs=True)
OMT_130_OPSET7 = Producer("OnnxMLTools", "1.3.0", ir_version=3, opsets=(("", 7),), domain="onnxml", inits_as_inputs=True)
GEMM = dict(alpha=1.0, beta=1.0, transA=0, transB=0)


def _dense(rng, fan_in: int, fan_out: int, w_std: float, b_half: float) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.normal(0, w_std, (fan_in, fan_out))), f32(rng.uniform(-b_half, b_half, fan_out))


def three_layer_keras():
    rng = rng_for("three_layer_keras")
    g = Graph()
    layers = [_dense(rng, 16, 64, 0.78, 0.95), _dense(rng, 64, 32, 0.15, 0.9), _dense(rng, 32, 32, 0.25, 0.6), _dense(rng, 32, 5, 0.39, 0.45)]
    x = "input_1_0"
    for k, (w, b) in enumerate(layers):
        s = str(k) if k else ""
        g.init(f"W{s}", w, raw=False)
        g.init(f"B{s}", b, raw=False)
        m = g.add("MatMul", [x, f"W{s}"], [f"transformed_tensor{s}"], f"_class__keras_layers_core_Dense__{s}")
        x = g.add("Add", [m, f"B{s}"], [f"biased_tensor_name{s}"], f"Add{s}")
        g.info(m, [1, w.shape[1]])
        g.info(x, [1, w.shape[1]])
        if k < 3:
            x = g.add("Relu", [x], [f"fc{k + 1}_relu_Relu_0"], f"Relu{s}")
            g.info(x, [1, w.shape[1]])
    g.add("Softmax", [x], ["output_softmax_Softmax_01"], "Softmax", axis=1)
    return finish(g, OMT_122, [value("input_1_0", [1, 16])], [value("output_softmax_Softmax_01", [1, 5])], "b45ce9ce619f42b8bc7366274a6b9f00")


def three_layer_bn_keras():
    rng = rng_for("three_layer_bn_keras")
    g = Graph()
    sizes = (16, 64, 32, 32, 5)
    # the last layer's spread keeps its logits (after a BatchNorm scale of up to 6.5) inside
    # fixed<16,6>'s +-32 as the trained model's are
    w_std, b_half = (0.2, 0.08, 0.12, 0.075), (0.03, 0.035, 0.04, 0.027)
    # Keras BN folded by the converter: mean -0, variance 1, scale and bias carry the statistics
    scale_range = ((0.8, 4.2), (1.4, 4.0), (1.4, 6.0), (3.5, 6.5))
    bias_std = (0.11, 0.63, 1.0, 0.35)
    names = ("fc1_relu", "fc2_relu", "fc3_relu", "output_softmax")
    x = "input_1_0"
    for k in range(4):
        s = str(k) if k else ""
        n = sizes[k + 1]
        w, b = _dense(rng, sizes[k], n, w_std[k], b_half[k])
        g.init(f"W{s}", w, raw=False)
        g.init(f"B{s}", b, raw=False)
        g.init(f"scale{s}", f32(rng.uniform(*scale_range[k], n)), raw=False)
        g.init(f"bias{s}", f32(rng.normal(0, bias_std[k], n)), raw=False)
        g.init(f"mean{s}", f32(np.where(rng.random(n) < 0.5, -0.0, 0.0)), raw=False)
        g.init(f"var{s}", f32(np.ones(n)), raw=False)
        y = g.add("Gemm", [x, f"W{s}", f"B{s}"], [f"biased_tensor_name{s}"], **GEMM)
        t = g.add("Transpose", [y], [f"{names[k]}_BiasAdd_0_transposed"], f"Transpose{2 * k or ''}")
        bn = g.add("BatchNormalization", [t, f"scale{s}", f"bias{s}", f"mean{s}", f"var{s}"], [f"batch_norm_output_buffer{s}"], f"BatchNormalization__{s}", epsilon=1e-9, momentum=0.9, spatial=1)
        x = g.add("Transpose", [bn], [f"bn{k + 1}_cond_Merge_0"], f"Transpose{2 * k + 1}")
        for name, shape in ((y, [1, n]), (t, [n, 1]), (bn, [n, 1]), (x, [1, n])):
            g.info(name, shape)
        if k < 3:
            x = g.add("Relu", [x], [f"relu{k + 1}_Relu_0"], f"Relu{s}")
            g.info(x, [1, n])
    g.add("Softmax", [x], ["softmax_Softmax_01"], "Softmax", axis=-1)
    return finish(g, OMT_130_OPSET7, [value("input_1_0", [1, 16])], [value("softmax_Softmax_01", [1, 5])], "58096f5f79934aca8ea8aa4a59d6ecd6")


def two_layer_keras():
    rng = rng_for("two_layer_keras")
    g = Graph()
    (w, b), (w1, b1) = _dense(rng, 10, 32, 0.45, 0.75), _dense(rng, 32, 1, 0.75, 0.2)
    for name, arr in (("W", w), ("B", b), ("W1", w1), ("B1", b1)):
        g.init(name, arr, raw=False)
    for name, shape, (op, ins, node_name) in (
        ("transformed_tensor", [1, 32], ("MatMul", ["input_1_0", "W"], "_class__keras_layers_core_Dense__")),
        ("biased_tensor_name", [1, 32], ("Add", ["transformed_tensor", "B"], "Add")),
        ("fc1_relu_Relu_0", [1, 32], ("Relu", ["biased_tensor_name"], "Relu")),
        ("transformed_tensor1", [1, 1], ("MatMul", ["fc1_relu_Relu_0", "W1"], "_class__keras_layers_core_Dense__1")),
        ("biased_tensor_name1", [1, 1], ("Add", ["transformed_tensor1", "B1"], "Add1")),
    ):
        g.add(op, ins, [name], node_name)
        g.info(name, shape)
    g.add("Sigmoid", ["biased_tensor_name1"], ["output_sigmoid_Sigmoid_01"], "Sigmoid")
    return finish(g, OMT_122, [value("input_1_0", [1, 10])], [value("output_sigmoid_Sigmoid_01", [1, 1])], "9b4588a76b49401eaf1d0b45a59fc6f7")


def conv1d_small_keras():
    rng = rng_for("conv1d_small_keras")
    g = Graph()
    channels = (4, 3, 2, 1)
    w_std, b_range = (0.16, 0.22, 0.33), ((-0.05, 0.3), (0.08, 0.12), (0.2, 0.3))
    convs = [(f32(rng.normal(0, s, (o, i, 4))), f32(rng.uniform(*b, o))) for i, o, s, b in zip(channels[:-1], channels[1:], w_std, b_range)]
    dense = [_dense(rng, 10, 5, 0.35, 0.4), _dense(rng, 5, 5, 0.55, 0.35)]
    for k, (w, b) in enumerate(convs + dense):
        s = str(k) if k else ""
        g.init(f"W{s}", w, raw=False)
        g.init(f"B{s}", b, raw=False)
    x = g.add("Transpose", ["input_1_0"], ["adjusted_input"], "Transpose", perm=[0, 2, 1])
    g.info(x, [1, 4, 10])
    for k, (w, _) in enumerate(convs):
        s = str(k) if k else ""
        c = g.add("Conv", [x, f"W{s}", f"B{s}"], [f"convolution_output{s}"], f"Conv1D__{s}", dilations=[1], group=1, kernel_shape=[4], strides=[1], pads=[1, 2])
        x = g.add("Relu", [c], [f"activation_output{s}"], f"Relu{s}")
        g.info(c, [1, w.shape[0], 10])
        g.info(x, [1, w.shape[0], 10])
    x = g.add("Transpose", [x], ["conv3_relu_Relu_0"], "Transpose5", perm=[0, 2, 1])
    g.info(x, [1, 10, 1])
    x = g.add("Flatten", [x], ["flatten_1_Reshape_0"], "_class__keras_layers_core_Flatten__", axis=0)
    g.info(x, [1, 10])
    x = g.add("Gemm", [x, "W3", "B3"], ["biased_tensor_name"], **GEMM)
    g.info(x, [1, 5])
    x = g.add("Relu", [x], ["fc1_relu_Relu_0"], "Relu3")
    g.info(x, [1, 5])
    x = g.add("Gemm", [x, "W4", "B4"], ["biased_tensor_name1"], **GEMM)
    g.info(x, [1, 5])
    g.add("Softmax", [x], ["output_softmax_Softmax_01"], "Softmax", axis=1)
    return finish(g, OMT_130_OPSET9, [value("input_1_0", [1, 10, 4])], [value("output_softmax_Softmax_01", [1, 5])], "07bf22c188e44a29be09bcfe0a45ae1b")


def conv2d_small_keras():
    rng = rng_for("conv2d_small_keras")
    g = Graph()
    g.init("W", f32(rng.normal(0.1, 0.23, (2, 1, 3, 3))), raw=False)
    g.init("B", f32(rng.uniform(0, 3e-4, 2)), raw=False)
    w1, b1 = _dense(rng, 128, 10, 0.14, 0.18)
    g.init("W1", w1, raw=False)
    g.init("B1", b1, raw=False)
    x = g.add("Transpose", ["conv2d_1_input_0"], ["adjusted_input"], "Transpose", perm=[0, 3, 1, 2])
    g.info(x, [1, 1, 8, 8])
    x = g.add("Conv", [x, "W", "B"], ["convolution_output"], "Conv2D__", dilations=[1, 1], group=1, kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    g.info(x, [1, 2, 8, 8])
    x = g.add("Relu", [x], ["activation_output"], "Relu")
    g.info(x, [1, 2, 8, 8])
    x = g.add("Transpose", [x], ["conv2d_1_Relu_0"], "Transpose1", perm=[0, 2, 3, 1])
    g.info(x, [1, 8, 8, 2])
    x = g.add("Identity", [x], ["dropout_1_cond_Merge_0"], "Identity")
    g.info(x, [1, 8, 8, 2])
    x = g.add("Flatten", [x], ["flatten_1_Reshape_0"], "_class__keras_layers_core_Flatten__", axis=0)
    g.info(x, [1, 128])
    x = g.add("Gemm", [x, "W1", "B1"], ["biased_tensor_name"], **GEMM)
    g.info(x, [1, 10])
    g.add("Softmax", [x], ["dense_1_Softmax_01"], "Softmax", axis=1)
    return finish(g, OMT_122, [value("conv2d_1_input_0", [1, 8, 8, 1])], [value("dense_1_Softmax_01", [1, 10])], "1ed0eb6c3d2840b581325ae79fd55c2b")


MODELS = {
    "three_layer_keras": three_layer_keras,
    "three_layer_bn_keras": three_layer_bn_keras,
    "two_layer_keras": two_layer_keras,
    "conv1d_small_keras": conv1d_small_keras,
    "conv2d_small_keras": conv2d_small_keras,
}
