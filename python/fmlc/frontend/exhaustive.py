"""Exact import of float subgraphs that act on fixed-point values with few possible codes.

A quantized model often computes in float between two quantizers: BatchNorm then Quant in a
Brevitas MLP, a Sigmoid between Quants, a final float BatchNorm on integer logits.  The
reference (QONNX's ``execute_onnx``) evaluates those ops in float32, node by node.  When the
tensor entering such a chain is fixed-point with a small exact range (say at most 65,536
codes), fmlc evaluates the chain exactly as the reference does — with ``execute_onnx`` itself —
on every possible code, per channel, and keeps the result as a lookup:

- one function for all channels: an ``fxp.table`` indexed by the input code;
- per-channel step functions ending in a quantizer (BatchNorm + Quant): thresholds,
  ``fxp.multithreshold``, with channels whose steps go down mirrored by a multiply by -1;
- a float result (no quantizer at the end): the table's entries are the exact float32 values,
  held in a fixed-point type wide enough to represent every one of them.

The result is bit-exact with the reference on every input, not an approximation.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fmlc import fixed
from fmlc.fixed import FixedFormat
from fmlc.frontend import is_power_of_two
from fmlc.ranges import Interval

MAX_DOMAIN = 1 << 16
"""Largest number of input codes evaluated exhaustively."""
MAX_TABLE_WIDTH = 62
"""Widest exact float result kept in a table entry."""

ELEMENTWISE = {
    "BatchNormalization",
    "Mul",
    "Div",
    "Add",
    "Sub",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Softsign",
    "Elu",
    "Selu",
    "HardSigmoid",
    "Exp",
    "Clip",
    "Abs",
    "Neg",
    "Identity",
    "Dropout",
}
ENDS = {"Quant", "BipolarQuant", "Trunc", "MultiThreshold"}


@dataclass
class Chain:
    """Nodes from the first float op to the last (a quantizer or a graph output)."""

    nodes: list
    input: str
    output: str
    quantizer: object | None  # the final quantizer node, if any


@dataclass
class Mapping:
    """Output codes per (input code, channel): ``codes[d, c]`` for input code ``lo + d``."""

    codes: np.ndarray  # int64 or object, shape (D, C)
    fmt: FixedFormat
    levels: tuple[int, int] | None  # (q_min, q_max) of the final quantizer, when there is one
    scale: Fraction | None  # the quantizer's step, when there is one


def find_chain(start, input_name: str, consumers: dict, graph_outputs: set, constants) -> Chain | None:
    """The chain of elementwise float ops from ``start`` (fed by ``input_name``), or None.

    Every op must have one runtime input (the chain) and constant other inputs; every
    intermediate tensor must feed only the next op.
    """
    nodes = []
    node, current = start, input_name
    while True:
        if node.op_type not in ELEMENTWISE and node.op_type not in ENDS:
            return None
        runtime = [i for i in node.input if i and not constants(i)]
        if runtime != [current]:
            return None
        nodes.append(node)
        current = node.output[0]
        if node.op_type in ENDS:
            return Chain(nodes, input_name, current, node)
        if current in graph_outputs:
            return Chain(nodes, input_name, current, None)
        nxt = consumers.get(current, [])
        if len(nxt) != 1:
            return None
        node = nxt[0]


def evaluate(chain: Chain, graph, opset: int, domain: Interval, channels: int, rank: int, channel_axis: int = 1) -> np.ndarray:
    """Run the chain with qonnx's execute_onnx on every code of ``domain`` for every channel.

    Returns float32 outputs shaped (D, channels).
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    count = domain.hi - domain.lo + 1
    values = (np.arange(domain.lo, domain.hi + 1, dtype=np.float64) * 2.0**-domain.frac).astype(np.float32)
    shape = [count] + [1] * (rank - 1)
    shape[channel_axis] = channels if channel_axis != 0 else count
    x = np.broadcast_to(values.reshape([count] + [1] * (rank - 1)), shape).astype(np.float32).copy()

    needed = {i for n in chain.nodes for i in n.input}
    inits = [i for i in graph.initializer if i.name in needed]
    sub = helper.make_graph(
        [_copy(n) for n in chain.nodes],
        "fmlc_exhaustive",
        [helper.make_tensor_value_info(chain.input, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(chain.output, TensorProto.FLOAT, None)],
        inits,
    )
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid("qonnx.custom_op.general", 1)]
    model = ModelWrapper(helper.make_model(sub, opset_imports=opsets))
    with contextlib.redirect_stdout(io.StringIO()):
        model = model.transform(InferShapes())
        out = execute_onnx(model, {chain.input: x})[chain.output]
    return np.asarray(out, dtype=np.float32).reshape(count, channels)


def _copy(node):
    n = onnx.NodeProto()
    n.CopyFrom(node)
    return n


def quantizer_levels(node, constant) -> tuple[int, int, Fraction] | None:
    """(q_min, q_max, step) of a final Quant/BipolarQuant with one power-of-two scale."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Quant":
        scale = np.asarray(constant(node.input[1]), dtype=np.float64).ravel()
        zero = np.asarray(constant(node.input[2]), dtype=np.float64).ravel()
        bits = int(np.asarray(constant(node.input[3])).ravel()[0])
        if scale.size != 1 or np.any(zero != 0) or not is_power_of_two(scale[0]):
            return None
        signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
        if signed and bits == 1:
            return -1, 1, Fraction(float(scale[0]))
        lo = -(1 << (bits - 1)) + narrow if signed else 0
        hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1 - narrow
        return lo, hi, Fraction(float(scale[0]))
    if node.op_type == "BipolarQuant":
        scale = np.asarray(constant(node.input[1]), dtype=np.float64).ravel()
        if scale.size != 1 or not is_power_of_two(scale[0]):
            return None
        return -1, 1, Fraction(float(scale[0]))
    return None


def to_mapping(out: np.ndarray, chain: Chain, constant) -> Mapping:
    """Exact integer codes of the chain's float32 outputs, with their fixed-point type."""
    levels = quantizer_levels(chain.quantizer, constant) if chain.quantizer is not None else None
    if levels is not None:
        qmin, qmax, step = levels
        q = np.asarray(np.rint(out.astype(np.float64) / float(step)), dtype=np.int64)
        if not np.array_equal(q.astype(np.float64) * float(step), out.astype(np.float64)):
            raise ValueError("quantizer outputs are off its grid")
        frac = -int(np.log2(float(step)))
        if qmin == -1 and qmax == 1 and chain.quantizer.op_type == "BipolarQuant":
            fmt = fixed.narrowest_format(-1, 1, frac)
        else:
            fmt = fixed.narrowest_format(qmin, qmax, frac)
        return Mapping(q, fmt, (qmin, qmax), step)
    # exact float32 values: the finest grid any of them needs, then the narrowest type
    finite = out.astype(np.float64)
    if not np.all(np.isfinite(finite)):
        raise ValueError("the float subgraph produces non-finite values")
    frac = max((fixed.code_of_float_exact(float(v))[1] for v in np.unique(finite)), default=0)
    codes = np.array([int(Fraction(float(v)) * (1 << frac)) for v in finite.ravel()], dtype=object).reshape(finite.shape)
    iv = Interval(int(codes.min()), int(codes.max()), frac)
    fmt = iv.narrowest()
    if fmt.width > MAX_TABLE_WIDTH:
        raise ValueError(f"exact float results need {fmt.width} bits (more than {MAX_TABLE_WIDTH})")
    return Mapping(codes, fmt, None, None)


def thresholds(mapping: Mapping, domain: Interval) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel thresholds for monotone step functions, and the per-channel sign (+1/-1).

    A channel whose output falls as the input rises is mirrored (sign -1): its thresholds
    apply to ``-x``.  Threshold ``j`` is the smallest input code reaching level ``q_min + j``;
    ``hi + 1`` when the level is never reached.
    """
    qmin, qmax = mapping.levels
    codes = mapping.codes.astype(np.int64)
    count, channels = codes.shape
    steps = qmax - qmin
    xs = np.arange(domain.lo, domain.hi + 1, dtype=np.int64)
    thr = np.empty((channels, steps), dtype=np.int64)
    sign = np.ones(channels, dtype=np.int64)
    for c in range(channels):
        col = codes[:, c]
        if np.all(np.diff(col) >= 0):
            x, f = xs, col
        elif np.all(np.diff(col) <= 0):
            sign[c] = -1
            x, f = -xs[::-1], col[::-1]
        else:
            raise ValueError(f"channel {c} is not monotone in its input")
        for j in range(1, steps + 1):
            reached = np.nonzero(f >= qmin + j)[0]
            thr[c, j - 1] = x[reached[0]] if reached.size else x[-1] + 1
    return thr, sign
