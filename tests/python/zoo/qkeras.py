"""QKeras models as the QONNX converter writes them (tf2onnx, then qonnx's QKeras handler).

``qkeras_jettagging`` mirrors the QONNX model zoo's JetTagging/QKeras_hls4ml_3layer: the hls4ml
jet tagger 16 -> 64 -> 32 -> 32 -> 5 with ``quantized_bits(6, 0, alpha=1)`` weights and biases
and ``quantized_relu(6)`` activations, as tf2onnx 1.9.2 (opset 9, IR 4) wrote it and qonnx's
converter rewrote it:

- quantizers are ``Quant`` nodes in domain ``finn.custom_op.general`` (no opset import for that
  domain, as in the original); every weight/bias quantizer comes first (``Quant_0`` quantizes the
  *last* layer's weight, ``Quant_6`` the first's), then the layers ``MatMul_k``/``Add_k``/
  ``Relu_k`` each followed by an activation ``Quant_8..10``, then ``Softmax_0`` (axis 1);
- tensors are named ``<node>_out0`` and ``<node>_param<k>``; weight quantizers take
  ``param0..3`` = (weight, scale, zero point, bits), activation quantizers ``param0..2`` =
  (scale, zero point, bits); bits and zero points are int64 scalars;
- scales are powers of two: 1/32 for signed 6-bit weights and biases (``fixed<6,1>``), 1/64 for
  unsigned 6-bit activations (``ufixed<6,0>``); ``narrow=0``, ``rounding_mode=ROUND``;
- the input ``global_in`` [1, 16] is float and unquantized; the batch is fixed at 1;
- ``value_info`` holds shapeless types for node outputs and scalar shapes for parameters.

Weights are float and off the quantization grid (the Quant nodes round them), drawn with the
spread and the share of zero codes of the trained ones and clipped to [-1, 1] as QKeras'
``alpha=1`` training leaves them.
The logits are ``Add_3_out0``, as in the original.
"""

from __future__ import annotations

import numpy as np

from .export import FLOAT, INT64, Graph, Producer, f32, finish, i64, rng_for, value

TF2ONNX = Producer("tf2onnx", "1.9.2", ir_version=4, opsets=(("", 9),))
DOMAIN = "finn.custom_op.general"

SIZES = (16, 64, 32, 32, 5)
W_STD = (0.22, 0.12, 0.20, 0.52)  # the trained layers' spread
W_ZERO = (0.18, 0.45, 0.40, 0.20)  # and their share of weights that quantize to 0
B_STD = (0.13, 0.11, 0.08, 0.15)


def _weights(rng, shape, std: float, zero: float) -> np.ndarray:
    """Trained QKeras weights: a share that rounds to code 0, the rest spread with ``std``
    overall, clipped to [-1, 1] as ``alpha=1`` training leaves them."""
    spread = rng.normal(0, std / np.sqrt(1 - zero), shape)
    near_zero = rng.uniform(-0.45, 0.45, shape) * 2.0**-5  # rounds to 0 on the 2**-5 grid
    return np.clip(np.where(rng.random(shape) < zero, near_zero, spread), -1, 1)


def qkeras_jettagging():
    rng = rng_for("qkeras_jettagging")
    g = Graph()
    weights = [_weights(rng, (a, b), s, z) for s, z, a, b in zip(W_STD, W_ZERO, SIZES[:-1], SIZES[1:])]
    biases = [rng.normal(0, s, b) for s, b in zip(B_STD, SIZES[1:])]
    # weight quantizers: Quant_{2k} the weight and Quant_{2k+1} the bias of layer 3-k
    params = []
    for k in range(4):
        layer = 3 - k
        for q, arr in ((2 * k, weights[layer]), (2 * k + 1, biases[layer])):
            names = [f"Quant_{q}_param{j}" for j in range(4)]
            params.append((q, names, f32(arr)))
            g.add("Quant", names, [f"Quant_{q}_out0"], f"Quant_{q}", DOMAIN, narrow=0, rounding_mode="ROUND", signed=1)
    # the original's initializer order: a few tensors of Quant_0 first, then the rest
    data = {}
    for q, names, arr in params:
        data[names[0]] = arr
        data[names[1]] = f32(2.0**-5)
        data[names[2]] = i64(0)
        data[names[3]] = i64(6)
    for q in (8, 9, 10):
        data[f"Quant_{q}_param0"] = f32(2.0**-6)
        data[f"Quant_{q}_param1"] = i64(0)
        data[f"Quant_{q}_param2"] = i64(6)
    order = ["Quant_0_param3", "Quant_0_param0", "Quant_1_param0", "Quant_2_param0", "Quant_3_param0", "Quant_0_param2", "Quant_4_param0", "Quant_5_param0", "Quant_6_param0", "Quant_7_param0", "Quant_8_param0", "Quant_0_param1"]
    order += [n for n in data if n not in order]
    for name in order:
        g.init(name, data[name])

    x = "global_in"
    for layer in range(4):
        wq, bq = 2 * (3 - layer), 2 * (3 - layer) + 1
        m = g.add("MatMul", [x, f"Quant_{wq}_out0"], [f"MatMul_{layer}_out0"], f"MatMul_{layer}")
        x = g.add("Add", [m, f"Quant_{bq}_out0"], [f"Add_{layer}_out0"], f"Add_{layer}")
        if layer < 3:
            r = g.add("Relu", [x], [f"Relu_{layer}_out0"], f"Relu_{layer}")
            q = 8 + layer
            x = g.add("Quant", [r] + [f"Quant_{q}_param{j}" for j in range(3)], [f"Quant_{q}_out0"], f"Quant_{q}", DOMAIN, narrow=0, rounding_mode="ROUND", signed=0)
    g.add("Softmax", [x], ["global_out"], "Softmax_0", axis=1)

    for n in g.nodes:
        if n.op_type != "Softmax":
            g.info(n.output[0], None)
    for name in order:
        arr = data[name]
        g.info(name, list(arr.shape), INT64 if arr.dtype == np.int64 else FLOAT)
    return finish(g, TF2ONNX, [value("global_in", [1, 16])], [value("global_out", [1, 5])], "tf2onnx", doc="converted from sequential")


MODELS = {"qkeras_jettagging": qkeras_jettagging}
