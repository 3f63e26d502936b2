"""Float chains ending in a quantizer, replaced by exact lookups on integer codes.

A quantized model often computes in float32 between an integer-valued tensor and the next
quantizer: BatchNorm then ReLU then Quant after a MatMul, a Sigmoid between two Quants.  As a
function of the integer code ``v`` entering the chain, the chain's output is a *staircase*:
one of the final quantizer's few levels.  This module finds that staircase exactly, evaluating
the chain with the reference's own float32 semantics (``ReferenceChain``):

- **exhaustively** when the codes times the channels are few: every code, every channel; the
  result is per-channel thresholds when each channel is monotone, else one table when all
  channels agree, else a refusal;
- **by bisection** for inputs of any width, when every op of the chain is monotone (affine ops,
  ReLU-like ops, clipping, quantizers): for each channel and level, the smallest code reaching
  that level, in about log2(codes) evaluations of all channels and levels at once.

``Levels`` describes the quantizer's possible outputs and how fmlc represents them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from onnx import helper

from fmlc.frontend.reference import ReferenceChain

EXHAUSTIVE_BUDGET = 1 << 18
"""Chains are evaluated on every code when codes x channels is at most this."""
MAX_LEVELS = 4096
"""Quantizers with more output levels are not turned into thresholds."""

MONOTONE_OPS = {
    "Add", "Sub", "Mul", "Div", "Neg", "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Clip",
    "Max", "Min", "Identity", "Dropout", "Quant", "BipolarQuant", "Trunc", "MultiThreshold",
    "Sigmoid", "Tanh", "Softplus", "Softsign", "Elu", "Selu", "HardSigmoid", "Exp", "Floor", "Ceil", "Round",
}  # fmt: skip
"""Ops that are monotone in their runtime input (for fixed constants)."""
PIECEWISE_OPS = MONOTONE_OPS - {"Sigmoid", "Tanh", "Softplus", "Softsign", "Elu", "Selu", "Exp"}
"""Monotone ops whose float32 implementation is monotone too: comparisons, affine arithmetic
correctly rounded, rounding functions.  Transcendental functions are computed by approximations
that are not proven monotone in float32, so wide chains through them are not bisected."""
ELEMENTWISE_OPS = MONOTONE_OPS | {"Abs", "ThresholdedRelu"}
POSITION_DEPENDENT = {"Softplus", "Elu", "Selu"}
"""onnxruntime (MLAS) computes these with one float32 formula on blocks of a tensor and another on
its last elements: the reference's bits depend on the position (tests/python/test_reference_kernels.py
checks which ops are so)."""


class StaircaseError(ValueError):
    """A chain cannot be replaced exactly; the message says why."""


@dataclass
class Levels:
    """The outputs of a chain's final quantizer: level k has value ``values[c, k]`` in channel c."""

    values: np.ndarray  # float32 [C or 1, L + 1], ascending along k
    node: object  # the quantizer node

    @property
    def count(self) -> int:
        return int(self.values.shape[1])

    def decode(self, out: np.ndarray) -> np.ndarray:
        """Level indices of reference outputs ``out`` [N, C] (every value must be a level)."""
        n, c = out.shape
        table = np.broadcast_to(self.values, (c, self.count)) if self.values.shape[0] == 1 else self.values
        idx = np.empty(out.shape, dtype=np.int64)
        for ch in range(c):
            row = table[ch]
            k = np.searchsorted(row, out[:, ch])
            k = np.clip(k, 0, self.count - 1)
            if not np.array_equal(row[k], out[:, ch]):
                bad = out[:, ch][row[k] != out[:, ch]][0]
                raise StaircaseError(f"the quantizer produced {bad}, which is not one of its levels")
            idx[:, ch] = k
        return idx


def quantizer_levels(node, constant: Callable[[str], np.ndarray | None], channels: int) -> Levels:
    """Every value the final quantizer can output, computed with its own float32 formula."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    op = node.op_type
    if op == "Quant":
        scale = _f32(constant(node.input[1]))
        zero = _f32(constant(node.input[2]))
        bits = int(np.asarray(constant(node.input[3])).ravel()[0])
        signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
        if signed and bits == 1:
            ints = np.array([-1.0, 1.0], dtype=np.float32)
        else:
            lo = -(1 << (bits - 1)) + int(narrow) if signed else 0
            hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1 - int(narrow)
            if hi - lo + 1 > MAX_LEVELS:
                raise StaircaseError(f"a {bits}-bit quantizer has {hi - lo + 1} levels (more than {MAX_LEVELS})")
            ints = np.arange(lo, hi + 1, dtype=np.float32)
        s = _per_channel(scale, channels)
        z = _per_channel(zero, channels)
        values = (ints[None, :] - z[:, None]) * s[:, None]  # QONNX: (q - zeropt) * scale, float32
        return _ascending(Levels(values.astype(np.float32), node))
    if op == "BipolarQuant":
        s = _per_channel(_f32(constant(node.input[1])), channels)
        ints = np.array([-1.0, 1.0], dtype=np.float32)
        return _ascending(Levels((ints[None, :] * s[:, None]).astype(np.float32), node))
    if op == "MultiThreshold":
        thr = np.asarray(constant(node.input[1]))
        steps = thr.shape[1]
        out_scale = attrs.get("out_scale", 1.0)
        out_bias = attrs.get("out_bias", 0.0)
        counts = np.arange(steps + 1, dtype=np.float32)
        values = out_scale * counts + out_bias  # as qonnx: Python floats with a float32 array
        return _ascending(Levels(np.asarray(values, dtype=np.float32)[None, :], node))
    raise StaircaseError(f"{op} is not a quantizer fmlc turns into thresholds")


def _f32(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float32).ravel()


def _per_channel(arr: np.ndarray, channels: int) -> np.ndarray:
    if arr.size == 1:
        return arr.reshape(1)
    if arr.size != channels:
        raise StaircaseError(f"{arr.size} quantizer parameters for {channels} channels")
    return arr


def _ascending(levels: Levels) -> Levels:
    v = levels.values
    if np.all(np.diff(v, axis=1) > 0):
        return levels
    if np.all(np.diff(v, axis=1) < 0):
        return Levels(v[:, ::-1].copy(), levels.node)
    raise StaircaseError("the quantizer's levels are not distinct (a zero or non-finite scale?)")


@dataclass
class Staircase:
    """The chain as a function of the input code: thresholds or a table of level indices."""

    lo: int
    hi: int
    thresholds: np.ndarray | None = None  # int [C, L]: level(v) = count(sign_c * v >= t)
    sign: np.ndarray | None = None  # int [C]: +1, or -1 where the chain falls as v rises
    table: np.ndarray | None = None  # int [hi - lo + 1]: level of each code (all channels)
    exhaustive: bool = False

    def level_of(self, codes: np.ndarray) -> np.ndarray:
        """Level indices of ``codes`` [N, C] (for tests and risk estimates)."""
        if self.table is not None:
            return self.table[np.asarray(codes) - self.lo]
        x = np.asarray(codes) * self.sign[None, :]
        return (x[:, :, None] >= self.thresholds[None, :, :]).sum(axis=2)


def find(
    lo: int,
    hi: int,
    channels: int,
    estimate: Callable[[np.ndarray], np.ndarray],
    chain: ReferenceChain,
    levels: Levels,
    nodes: list,
) -> Staircase:
    """The staircase of ``chain`` over input codes ``lo..hi`` for each channel.

    ``estimate(codes [N, C]) -> float32 [N, C]`` is the float32 value the chain's first node
    sees for each code (exactly the reference's when the input is exact).
    """
    for n in nodes:
        if n.op_type in POSITION_DEPENDENT:
            raise StaircaseError(
                f"onnxruntime computes {n.op_type} ('{n.name}') with different float32 formulas for the body and the tail of a "
                "tensor, so the reference's bits depend on where a value sits, not only on the value"
            )
    count = hi - lo + 1
    if count * channels <= EXHAUSTIVE_BUDGET:
        return _exhaustive(lo, hi, channels, estimate, chain, levels)
    for n in nodes:
        if n.op_type not in PIECEWISE_OPS or not _monotone_node(n, chain):
            why = "is not monotone" if n.op_type not in MONOTONE_OPS or n.op_type in PIECEWISE_OPS else "is not provably monotone in float32"
            raise StaircaseError(
                f"the chain's input has {count} codes per channel (more than can be tabulated) and {n.op_type} '{n.name}' {why}; "
                "quantize before it"
            )
    stair = _bisect(lo, hi, channels, estimate, chain, levels)
    _spot_check(stair, channels, estimate, chain, levels)
    return stair


def _monotone_node(node, chain: ReferenceChain) -> bool:
    """LeakyRelu and PRelu are monotone only with slopes >= 0 (a negative slope folds them)."""
    if node.op_type == "LeakyRelu":
        alpha = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "alpha"), 0.01)
        return alpha >= 0
    if node.op_type == "PRelu":
        return bool(np.all(np.asarray(chain.constants[node.input[1]]) >= 0))
    return True


def _spot_check(stair: Staircase, channels: int, estimate, chain: ReferenceChain, levels: Levels, samples: int = 4096) -> None:
    """The bisected staircase against the chain itself on codes spread over the range and on
    every threshold and the code below it: a mismatch means the chain was not monotone."""
    rng = np.random.default_rng(0)
    kind = object if max(abs(stair.lo), abs(stair.hi)) > 2**62 else np.int64
    spread = np.array([stair.lo + (stair.hi - stair.lo) * k // (samples - 1) for k in range(samples)], dtype=kind)
    picks = [spread]
    u = stair.thresholds * stair.sign[:, None]
    for t in (u, u - stair.sign[:, None]):
        flat = np.asarray(t, dtype=kind).ravel()
        flat = flat[(flat >= stair.lo) & (flat <= stair.hi)]
        if flat.size:
            picks.append(flat[rng.permutation(flat.size)[:samples]])
    codes = np.concatenate(picks)
    grid = np.ascontiguousarray(np.broadcast_to(codes[:, None], (codes.size, channels)))
    if not np.array_equal(_evaluate(grid, estimate, chain, levels), stair.level_of(grid)):
        raise StaircaseError("the chain is not monotone in its input (the bisected thresholds disagree with it)")


def _evaluate(codes: np.ndarray, estimate, chain: ReferenceChain, levels: Levels) -> np.ndarray:
    return levels.decode(chain(estimate(codes)))


def _exhaustive(lo, hi, channels, estimate, chain, levels) -> Staircase:
    codes = np.broadcast_to(np.arange(lo, hi + 1, dtype=np.int64)[:, None], (hi - lo + 1, channels))
    lv = _evaluate(np.ascontiguousarray(codes), estimate, chain, levels)  # [D, C]
    steps = levels.count - 1
    thr = np.empty((channels, steps), dtype=np.int64)
    sign = np.ones(channels, dtype=np.int64)
    monotone = True
    xs = np.arange(lo, hi + 1, dtype=np.int64)
    for c in range(channels):
        col = lv[:, c]
        if np.all(np.diff(col) >= 0):
            x, f = xs, col
        elif np.all(np.diff(col) <= 0):
            sign[c] = -1
            x, f = -xs[::-1], col[::-1]
        else:
            monotone = False
            break
        # threshold k: the least code reaching level k (past the end when never reached)
        first = np.searchsorted(f, np.arange(1, steps + 1), side="left")
        thr[c] = np.where(first < f.size, x[np.minimum(first, f.size - 1)], x[-1] + 1)
    if monotone:
        return Staircase(lo, hi, thresholds=thr, sign=sign, exhaustive=True)
    if all(np.array_equal(lv[:, c], lv[:, 0]) for c in range(channels)):
        return Staircase(lo, hi, table=lv[:, 0].copy(), exhaustive=True)
    raise StaircaseError("the chain is not monotone in its input and differs per channel (no single table or thresholds)")


def _bisect(lo, hi, channels, estimate, chain, levels) -> Staircase:
    kind = object if max(abs(lo), abs(hi)) + 2 > 2**62 else np.int64
    ends = _evaluate(np.array([[lo] * channels, [hi] * channels], dtype=kind), estimate, chain, levels)
    sign = np.where(ends[1] >= ends[0], 1, -1).astype(np.int64)
    steps = levels.count - 1
    # search in the mirrored domain u = sign * v, where the level rises with u
    u_lo = np.array([lo if s > 0 else -hi for s in sign], dtype=kind)
    u_hi = np.array([hi if s > 0 else -lo for s in sign], dtype=kind)
    left = np.broadcast_to((u_lo - 1)[None, :], (steps, channels)).astype(kind).copy()
    right = np.broadcast_to((u_hi + 1)[None, :], (steps, channels)).astype(left.dtype).copy()
    target = np.arange(1, steps + 1, dtype=np.int64)[:, None]
    while True:
        open_ = right - left > 1
        if not np.any(open_):
            break
        mid = np.where(open_, (left + right) // 2, left + 1)
        mid = np.minimum(np.maximum(mid, u_lo[None, :]), u_hi[None, :])
        lv = _evaluate(mid * sign[None, :].astype(kind), estimate, chain, levels)  # [steps, C]
        reached = lv >= target
        right = np.where(open_ & reached, mid, right)
        left = np.where(open_ & ~reached, mid, left)
    return Staircase(lo, hi, thresholds=np.asarray(right, dtype=kind).T.copy(), sign=sign)


def max_moves(stair: Staircase, window: int, estimate, chain: ReferenceChain, levels: Levels) -> int:
    """The most levels an input off by up to ``window`` codes can move the output, per the
    staircase (thresholds inside the range) and the chain evaluated just beyond the range's ends
    (levels the exact values never reach, but a value off by ``window`` might)."""
    if window <= 0 or stair.thresholds is None:
        return 0 if window <= 0 else levels.count - 1
    thr, sign = stair.thresholds, stair.sign
    channels = thr.shape[0]
    kind = object if max(abs(stair.lo), abs(stair.hi)) + window + 2 > 2**62 else np.int64
    outside = np.array([[stair.lo - window] * channels, [stair.hi + window] * channels], dtype=kind)
    ext = _evaluate(outside, estimate, chain, levels)  # levels at lo - w and hi + w (original order)
    best = 0
    for c in range(channels):
        u_lo, u_hi = (stair.lo, stair.hi) if sign[c] > 0 else (-stair.hi, -stair.lo)
        lv_lo_ext, lv_hi_ext = (ext[0, c], ext[1, c]) if sign[c] > 0 else (ext[1, c], ext[0, c])
        t = np.sort(np.asarray([v for v in thr[c] if u_lo < v <= u_hi], dtype=np.float64))
        lv_lo = int(np.count_nonzero(np.asarray(thr[c], dtype=np.float64) <= u_lo))
        lv_hi = lv_lo + t.size
        inside = int(np.max(np.searchsorted(t, t + 2 * window, side="right") - np.arange(t.size))) if t.size else 0
        near_lo = (lv_lo - int(lv_lo_ext)) + int(np.count_nonzero(t <= u_lo + 2 * window))
        near_hi = (int(lv_hi_ext) - lv_hi) + int(np.count_nonzero(t > u_hi - 2 * window))
        best = max(best, inside, near_lo, near_hi)
    return best
