"""The input side of a fuzz graph: float pre-processing, the input quantizer, and float inputs
that exercise that quantizer everywhere it can go wrong.

For a ``Quant`` input quantizer the samples are placed in the quantizer's own domain
``q = pre(x) / scale + zero_point`` (float32, as QONNX computes it): exact ties ``k + 0.5``,
exact integers ``k`` (the decisions of FLOOR/CEIL), values past both saturation points, and
uniform values in between.  Each target is mapped back through the inverse of the
pre-processing and then nudged by a few float32 ulps until the forward float32 computation
lands on it exactly (where some float32 input does).  For ``BipolarQuant`` the samples hit
exact -1, 0, -0, +1 and tiny values around 0 after pre-processing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PRE_OPS = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


@dataclass
class PreOp:
    """One float op on the graph input before its quantizer: ``x op c`` (or ``c op x``)."""

    op: str
    const: float
    const_first: bool = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        c = np.float32(self.const)
        f = PRE_OPS[self.op]
        return f(c, x) if self.const_first else f(x, c)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        c = float(self.const)
        y = y.astype(np.float64)
        if self.op == "Add":
            return y - c
        if self.op == "Mul":
            return y / c
        if self.op == "Sub":
            return c - y if self.const_first else y + c
        return y * c  # Div, x / c

    def text(self) -> str:
        c = f"{self.const:.6g}"
        sym = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}[self.op]
        return f"{c}{sym}x" if self.const_first else f"x{sym}{c}"


@dataclass
class InputStage:
    """Pre-processing, quantizer and data kind of the graph input.

    ``quant`` is None (float input straight into the first layer, QKeras style), or a dict with
    ``kind`` "quant" (scale, zero, bits, signed, narrow, rounding) or "bipolar" (scale).
    ``data`` is "range" (cover the quantizer), "bipolar" (the data itself is -1/0/+1) or "float".
    """

    pre: list[PreOp] = field(default_factory=list)
    quant: dict | None = None
    data: str = "range"

    def forward_pre(self, x: np.ndarray) -> np.ndarray:
        y = x.astype(np.float32)
        for p in self.pre:
            y = p.forward(y).astype(np.float32)
        return y

    def inverse_pre(self, y: np.ndarray) -> np.ndarray:
        x = y.astype(np.float64)
        for p in reversed(self.pre):
            x = p.inverse(x)
        return x

    def to_code_domain(self, x: np.ndarray) -> np.ndarray:
        """QONNX's ``x / scale + zero_point`` on the pre-processed input (before rounding)."""
        q = self.quant
        return self.forward_pre(x) / np.float32(q["scale"]) + np.float32(q["zero"])


def _ulp_neighbours(x: np.ndarray, reach: int) -> np.ndarray:
    """float32 values ``k`` ulps from each x, k in [-reach, reach], shaped (n, 2*reach+1)."""
    x = x.astype(np.float32)
    bits = x.view(np.int32).astype(np.int64)[:, None] + np.arange(-reach, reach + 1)[None, :]
    bits = np.clip(bits, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)
    cand = bits.view(np.float32)
    return np.where(np.isfinite(cand), cand, x[:, None])


def land_on(f, targets: np.ndarray, start: np.ndarray, reach: int = 24) -> np.ndarray:
    """float32 inputs near ``start`` whose ``f`` equals ``targets`` exactly where one exists."""
    cand = _ulp_neighbours(np.asarray(start, np.float64).astype(np.float32), reach)
    fx = f(cand.reshape(-1)).reshape(cand.shape)
    hit = fx == np.asarray(targets, np.float32)[:, None]
    dist = np.abs(np.arange(-reach, reach + 1))[None, :] + np.where(hit, 0, 10**6)
    best = np.argmin(dist, axis=1)
    return cand[np.arange(len(cand)), best]


def qrange(q: dict) -> tuple[int, int]:
    from qonnx.custom_op.general.intquant import max_int, min_int

    return min_int(q["signed"], q["narrow"], q["bits"]), max_int(q["signed"], q["narrow"], q["bits"])


def make_inputs(stage: InputStage, shape: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` float32 samples shaped ``(n, *shape)`` for the graph input (see the module docstring)."""
    size = n * int(np.prod(shape))
    if stage.data == "float" or stage.quant is None:
        x = rng.standard_normal(size) * rng.choice([0.5, 2.0, 8.0])
        grid = np.round(rng.uniform(-8, 8, size) * 256) / 256
        x = np.where(rng.random(size) < 0.3, grid, x)
        return x.astype(np.float32).reshape((n, *shape))
    if stage.data == "bipolar":
        x = rng.choice(np.array([-1.0, 1.0, 0.0], np.float32), size, p=[0.45, 0.45, 0.1])
        x = np.where(rng.random(size) < 0.1, rng.uniform(-2, 2, size), x)
        return x.astype(np.float32).reshape((n, *shape))
    if stage.quant["kind"] == "bipolar":
        return _bipolar_targets(stage, size, rng).reshape((n, *shape))
    return _quant_targets(stage, size, rng).reshape((n, *shape))


def _quant_targets(stage: InputStage, size: int, rng: np.random.Generator) -> np.ndarray:
    q = stage.quant
    lo, hi = qrange(q)
    kind = rng.choice(4, size, p=[0.3, 0.15, 0.15, 0.4])
    k = rng.integers(lo - 1, hi + 1, size)
    targets = np.select(
        [kind == 0, kind == 1, kind == 2],
        [k + 0.5, k.astype(np.float64), np.where(rng.random(size) < 0.5, rng.uniform(hi + 0.5, hi + 6, size), rng.uniform(lo - 6, lo - 0.5, size))],
        rng.uniform(lo - 1.5, hi + 1.5, size),
    )
    scale, zero = float(q["scale"]), float(q["zero"])
    start = stage.inverse_pre((targets - zero) * scale)
    exact = kind <= 1
    x = start.astype(np.float32)
    if exact.any():
        x[exact] = land_on(stage.to_code_domain, targets[exact], start[exact])
    return x


def _bipolar_targets(stage: InputStage, size: int, rng: np.random.Generator) -> np.ndarray:
    tiny = np.float32(1e-7)
    choices = np.array([-1.0, 1.0, 0.0, -0.0, tiny, -tiny, 1e-38, -1e-38], np.float32)
    targets = np.where(rng.random(size) < 0.6, rng.choice(choices, size), rng.uniform(-2, 2, size)).astype(np.float32)
    start = stage.inverse_pre(targets.astype(np.float64))
    x = land_on(stage.forward_pre, targets, start)
    return x


EXTREMES = np.array([np.inf, -np.inf, 1e30, -1e30, 3e38, -3e38, 1e-45, -1e-45, 1e-38], np.float32)


def with_extremes(x: np.ndarray, rng: np.random.Generator, share: float = 0.02) -> np.ndarray:
    """``x`` with a ``share`` of its elements replaced by infinities, huge values and denormals:
    a quantizer saturates on them (QONNX clips before it rounds)."""
    flat = x.reshape(-1).copy()
    pick = rng.random(flat.size) < share
    flat[pick] = rng.choice(EXTREMES, int(pick.sum()))
    return flat.reshape(x.shape)
