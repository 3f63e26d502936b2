"""Brevitas QONNX exports that ../shared/models does not have (for the front end's issue 9).

None of these is a replica of a file we hold: each is shaped like a known public Brevitas model
as Brevitas' QONNX export writes it, with seeded random weights.  Quantizers are ``Quant`` /
``BipolarQuant`` in domain ``onnx.brevitas`` with float scalar (or per-channel) parameters
(scale, zero point, bits).  Where a quantizer follows float arithmetic, its scale and the
BatchNorm statistics are calibrated on inputs like the tests' (see ``*_INPUTS``), so every
level of every quantizer occurs.

- ``kws_mlp_w3a3``: FINN-examples' keyword-spotting MLP (MLP_W3A3, python_speech_features
  pre-processing) as Brevitas 0.7 exported it with PyTorch 1.8 at opset 9 (IR 6, every
  initializer also a graph input, numbered tensors, ``<Op>_<k>`` node names).  Input ``0``
  [1, 1, 10, 49] (10 frames of 49 MFCCs), an 8-bit signed input ``Quant`` whose scale
  (116/127, not a power of two) spans about +-116, ``Flatten`` (axis 1), then three blocks of
  ``MatMul`` 490 -> 64 -> 64 -> 64 (weight ``Quant``: 3 bits, narrow, one non-power-of-two scale
  per output channel, shape [64, 1]; then ``Transpose`` 1,0) -> float ``BatchNormalization`` ->
  ``Relu`` -> 3-bit unsigned ``Quant`` (one non-power-of-two scale), and a last ``MatMul``
  64 -> 12 (4-bit per-channel weights) whose float result is the output [1, 12].
- ``unsw_nb15_mlp_w2a2``: FINN's network-intrusion MLP (the UNSW-NB15 tutorial's
  ``CybSecMLPForExport``) as Brevitas exports it with PyTorch 2 at opset 17 (IR 8, scoped names
  ``/pretrained/pretrained.<k>/...``).  Input ``x.1`` [1, 593] holds bipolar +-1 features;
  float ``Add`` (+1, a [1] constant) and ``Div`` (by 2) map them to {0, 1}; a 2-bit signed input
  ``Quant`` (scale 1); three blocks ``Gemm`` (``transB=1``, 2-bit narrow weights with one
  non-power-of-two scale each, float bias) -> ``BatchNormalization`` -> ``Relu`` -> 2-bit
  unsigned ``Quant`` (non-power-of-two scale); a last ``Gemm`` 64 -> 1 into ``BipolarQuant``
  (scale 1): the output [1, 1] is +-1.
- ``quant_scale_0p1``: one 8-bit signed ``Quant`` of scale 0.1 (not a power of two) on a float
  input [1, 16] (a Brevitas ``QuantIdentity`` with a constant scale, PyTorch 2, opset 17): the
  output is ``0.1 * clip(round_half_even(x / 0.1), -128, 127)``.
"""

from __future__ import annotations

import itertools

import numpy as np

from .export import Graph, Producer, f32, finish, rng_for, tensor, value

TORCH_1_8 = Producer("pytorch", "1.8", ir_version=6, opsets=(("", 9),), inits_as_inputs=True)
TORCH_2_1 = Producer("pytorch", "2.1.2", ir_version=8, opsets=(("", 17), ("onnx.brevitas", 1)))
BREVITAS = "onnx.brevitas"
QUANT_ATTRS = dict(rounding_mode="ROUND")


def _quant(x, scale, bits, signed: bool, narrow: bool) -> np.ndarray:
    """QONNX Quant (zero point 0, ROUND = half to even) in float64."""
    if signed:
        lo, hi = (-(2 ** (bits - 1)) + narrow, 2 ** (bits - 1) - 1)
    else:
        lo, hi = 0, 2**bits - 1 - narrow
    return np.clip(np.round(x / scale), lo, hi) * scale


def _bn_stats(rng, y: np.ndarray):
    """Running statistics as training leaves them: near the batch statistics of ``y``."""
    mean = y.mean(0) + rng.normal(0, 0.2, y.shape[1]) * y.std(0)
    var = y.var(0) * rng.uniform(0.8, 1.25, y.shape[1]) + 1e-3
    gamma, beta = rng.uniform(0.6, 1.6, y.shape[1]), rng.normal(0.3, 0.4, y.shape[1])
    return gamma, beta, mean, var


def _bn(y, gamma, beta, mean, var, eps=1e-5):
    return gamma * (y - mean) / np.sqrt(var + eps) + beta


KWS_INPUTS = dict(shape=(1, 10, 49), std=40.0)
"""The KWS calibration inputs: normal with this spread, as MFCC features spanning +-116."""


def kws_mlp_w3a3():
    rng = rng_for("kws_mlp_w3a3")
    sizes, w_bits = (490, 64, 64, 64, 12), (3, 3, 3, 4)
    in_scale = np.float32(116 / 127)
    x = _quant(rng.normal(0, KWS_INPUTS["std"], (2000, 490)), float(in_scale), 8, True, False)

    g = Graph()
    tensors, nodes = itertools.count(1), itertools.count(0)

    def number() -> str:  # PyTorch 1.8 numbers its tensors...
        return str(next(tensors))

    def node_name(op: str) -> str:  # ...and names its nodes <Op>_<k>
        return f"{op}_{next(nodes)}"

    def scalars(scale, bits):
        s, z, b = number(), number(), number()
        g.init(s, f32(scale))
        g.init(z, f32(0.0))
        g.init(b, f32(bits))
        return s, z, b

    s, z, b = scalars(in_scale, 8.0)
    cur = g.add("Quant", ["0", s, z, b], [number()], node_name("Quant"), BREVITAS, narrow=0, signed=1, **QUANT_ATTRS)
    cur = g.add("Flatten", [cur], [number()], node_name("Flatten"), axis=1)
    for layer, (fan_in, fan_out, bits) in enumerate(zip(sizes[:-1], sizes[1:], w_bits)):
        w = rng.normal(0, 1.0 / np.sqrt(fan_in), (fan_out, fan_in))
        w_scale = f32(np.abs(w).max(axis=1, keepdims=True) / (2 ** (bits - 1) - 1) * rng.uniform(0.6, 0.9, (fan_out, 1)))
        wq = _quant(w, w_scale.astype(np.float64), bits, True, True)
        wt = g.init(number(), f32(w))
        s, z, b = number(), number(), number()
        g.init(s, w_scale)
        g.init(z, f32(0.0))
        g.init(b, f32(bits))
        q = g.add("Quant", [wt, s, z, b], [number()], node_name("Quant"), BREVITAS, narrow=1, signed=1, **QUANT_ATTRS)
        t = g.add("Transpose", [q], [number()], node_name("Transpose"), perm=[1, 0])
        cur = g.add("MatMul", [cur, t], [number()], node_name("MatMul"))
        y = x @ wq.T
        if layer == 3:
            break
        gamma, beta, mean, var = _bn_stats(rng, y)
        params = [g.init(number(), f32(p)) for p in (gamma, beta, mean, var)]
        cur = g.add("BatchNormalization", [cur, *params], [number()], node_name("BatchNormalization"), epsilon=1e-5, momentum=0.9)
        cur = g.add("Relu", [cur], [number()], node_name("Relu"))
        r = np.maximum(_bn(y, gamma, beta, mean, var), 0)
        a_scale = np.float32(np.quantile(r, 0.98) / 7)  # 3-bit unsigned: levels 0..7
        s, z, b = scalars(a_scale, 3.0)
        cur = g.add("Quant", [cur, s, z, b], [number()], node_name("Quant"), BREVITAS, narrow=0, signed=0, **QUANT_ATTRS)
        x = _quant(r, float(a_scale), 3, False, False)
    return finish(g, TORCH_1_8, [value("0", [1, *KWS_INPUTS["shape"]])], [value(cur, [1, 12])], "torch-jit-export")


UNSW_FEATURES = 593
P = "/pretrained/pretrained.{}/{}"


def unsw_nb15_mlp_w2a2():
    rng = rng_for("unsw_nb15_mlp_w2a2")
    sizes = (UNSW_FEATURES, 64, 64, 64, 1)
    # bipolar features, mapped to {0, 1} by the export wrapper; a quarter of them set
    x = (rng.random((2000, UNSW_FEATURES)) < 0.25).astype(np.float64)

    g = Graph()
    g.init("/Constant_output_0", f32([1.0]))
    g.init("/Constant_1_output_0", f32(2.0))
    cur = g.add("Add", ["x.1", "/Constant_output_0"], ["/Add_output_0"], "/Add")
    cur = g.add("Div", [cur, "/Constant_1_output_0"], ["/Div_output_0"], "/Div")
    g.info("/Add_output_0", [1, UNSW_FEATURES])
    g.info("/Div_output_0", [1, UNSW_FEATURES])

    def quant(x_name, owner, scale, bits, signed, narrow, out_shape):
        base = f"{owner}/export_handler/"
        names = [f"{base}Constant_output_0", f"{base}Constant_1_output_0", f"{base}Constant_2_output_0"]
        for n, v in zip(names, (scale, 0.0, bits)):
            g.init(n, f32(v))
        out = g.add("Quant", [x_name, *names], [f"{base}Quant_output_0"], f"{base}Quant", BREVITAS, narrow=int(narrow), signed=int(signed), **QUANT_ATTRS)
        g.info(out, out_shape)
        return out

    cur = quant(cur, P.format(0, "input_quant"), 1.0, 2.0, True, False, [1, UNSW_FEATURES])
    a_scale = 1.0  # the scale of the codes entering each layer
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        idx = 4 * k
        w = rng.normal(0, 1.0 / np.sqrt(fan_in), (fan_out, fan_in))
        w_scale = np.float32(np.abs(w).max() * rng.uniform(0.3, 0.5))  # 2-bit narrow: {-1, 0, 1} * scale
        bias = rng.normal(0, 0.05, fan_out)
        wname = g.init(P.format(idx, "weight_quant/export_handler/Constant_3_output_0"), f32(w))
        wq = quant(wname, P.format(idx, "weight_quant"), w_scale, 2.0, True, True, [fan_out, fan_in])
        bname = g.init(f"pretrained.{idx}.bias", f32(bias))
        cur = g.add("Gemm", [cur, wq, bname], [P.format(idx, "Gemm_output_0")], P.format(idx, "Gemm"), alpha=1.0, beta=1.0, transB=1)
        g.info(cur, [1, fan_out])
        y = x @ _quant(w, float(w_scale), 2, True, True).T + bias
        if fan_out == 1:
            # the decision splits the samples at their median, with the bias half-way between two
            # sums the integer codes can make: no sample sits on the threshold (where float32
            # rounding in the reference would decide it)
            step = float(a_scale) * float(w_scale)
            k = np.floor(np.median(np.round((y - bias) / step)))
            g.inits[-1].CopyFrom(tensor(bname, f32(-(k + 0.5) * step)))
            break
        gamma, beta, mean, var = _bn_stats(rng, y)
        params = [g.init(f"pretrained.{idx + 1}.{p}", f32(v)) for p, v in zip(("weight", "bias", "running_mean", "running_var"), (gamma, beta, mean, var))]
        cur = g.add("BatchNormalization", [cur, *params], [P.format(idx + 1, "BatchNormalization_output_0")], P.format(idx + 1, "BatchNormalization"), epsilon=1e-5, momentum=0.9)
        g.info(cur, [1, fan_out])
        cur = g.add("Relu", [cur], [P.format(idx + 3, "act_impl/Relu_output_0")], P.format(idx + 3, "act_impl/Relu"))
        g.info(cur, [1, fan_out])
        r = np.maximum(_bn(y, gamma, beta, mean, var), 0)
        a_scale = np.float32(np.quantile(r, 0.95) / 3)  # 2-bit unsigned: levels 0..3
        cur = quant(cur, P.format(idx + 3, "act_quant"), a_scale, 2.0, False, False, [1, fan_out])
        x = _quant(r, float(a_scale), 2, False, False)
    g.init("/qnt_output/act_quant/export_handler/Constant_output_0", f32(1.0))
    g.add("BipolarQuant", [cur, "/qnt_output/act_quant/export_handler/Constant_output_0"], ["global_out"], "/qnt_output/act_quant/export_handler/BipolarQuant", BREVITAS)
    return finish(g, TORCH_2_1, [value("x.1", [1, UNSW_FEATURES])], [value("global_out", [1, 1])], "main_graph")


def quant_scale_0p1():
    g = Graph()
    base = "/input_quant/export_handler/"
    names = [f"{base}Constant_output_0", f"{base}Constant_1_output_0", f"{base}Constant_2_output_0"]
    for n, v in zip(names, (0.1, 0.0, 8.0)):
        g.init(n, f32(v))
    g.add("Quant", ["x.1", *names], ["y"], f"{base}Quant", BREVITAS, narrow=0, signed=1, **QUANT_ATTRS)
    return finish(g, TORCH_2_1, [value("x.1", [1, 16])], [value("y", [1, 16])], "main_graph")


MODELS = {"kws_mlp_w3a3": kws_mlp_w3a3, "unsw_nb15_mlp_w2a2": unsw_nb15_mlp_w2a2, "quant_scale_0p1": quant_scale_0p1}
