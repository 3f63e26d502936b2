"""What the importer knows about each ONNX tensor while it walks the graph.

- ``FixedConst``: a constant whose exact values are ``codes * 2**-frac`` (a weight quantized
  with power-of-two scales, or any float that is exactly such a value).
- ``ScaledConst``: a constant quantized with scales that are not powers of two: integer codes
  and, per element, the float32 scale; the reference's value is ``fl32(code * scale)``.
  Linear layers keep the integer codes and move the scale past the accumulator.
- ``Act``: a runtime tensor: an fxp value, how its axes relate to the ONNX tensor, how the
  reference's float32 value relates to it (``Real``), and float ops not yet materialized
  (``pending``).
- ``FloatInput``: a graph input before its quantizer, with the float preprocessing seen so far.

``Real`` is the heart of exactness in quantized models.  For a tensor whose exact fixed-point
value is ``x``, the reference's float32 value ``ref`` satisfies

    ref == fl32(x * scale + shift)               (``exact``; per channel scale/shift)
    |ref - (x * scale + shift)| <= err           (always)

with ``exact`` meaning *equal*: then fmlc knows the reference's bits exactly.  Quantizer
outputs with non-power-of-two scales are exact in this sense (``ref = fl32(q * s)``, one
rounding, as QONNX computes it); float32 sums that the reference may round carry the classical
summation bound in ``err`` (see ``f32.gamma``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
from xdsl.ir import SSAValue

from fmlc import fixed
from fmlc.fixed import FixedFormat
from fmlc.frontend import f32
from fmlc.ranges import Interval


@dataclass
class FixedConst:
    """A constant whose exact values are ``codes * 2**-frac``."""

    codes: np.ndarray
    frac: int

    def values(self) -> np.ndarray:
        return fixed.to_float(np.asarray(self.codes), self.frac) if np.asarray(self.codes).dtype == object else np.ldexp(np.asarray(self.codes, dtype=np.float64), -self.frac)

    def format(self) -> FixedFormat:
        return Interval.of_codes(self.codes, self.frac).narrowest() if np.asarray(self.codes).size else FixedFormat(1, 1 - self.frac, False)

    def moved(self, f) -> FixedConst:
        return FixedConst(f(np.asarray(self.codes)), self.frac)


@dataclass
class ScaledConst:
    """Integer codes with a float32 scale per element: the reference's value is ``fl32(codes * scale)``."""

    codes: np.ndarray  # int64, the quantizer's integer minus its zero point
    scale: np.ndarray  # float32, broadcast to codes' shape

    def values(self) -> np.ndarray:
        """The reference's float32 values, as float64 (exact)."""
        return (self.codes.astype(np.float32) * self.scale).astype(np.float64)

    def moved(self, f) -> ScaledConst:
        return ScaledConst(f(self.codes), f(np.broadcast_to(self.scale, self.codes.shape)))


@dataclass(frozen=True)
class Real:
    """How the reference's float32 value ``ref`` relates to fmlc's exact value ``x``.

    ``exact``: ``ref == fl32(x * scale + shift)``, one rounding (fmlc knows its bits);
    ``err``: always a bound on ``|ref - (x * scale + shift)|``.  ``scale``/``shift`` are exact
    floats, one per channel along ONNX axis ``axis`` (or one for the whole tensor).
    """

    scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    shift: np.ndarray = field(default_factory=lambda: np.zeros(1))
    axis: int | None = None
    exact: bool = True  # the reference's value is known exactly: fl32(x * scale + shift)
    err: float = 0.0  # bound on |reference - (x * scale + shift)| (real arithmetic)

    @property
    def identity(self) -> bool:
        return self.axis is None and float(self.scale[0]) == 1.0 and float(self.shift[0]) == 0.0

    @property
    def per_tensor(self) -> bool:
        return self.axis is None

    def channels(self) -> int:
        return int(self.scale.size)

    def with_err(self, err: float) -> Real:
        return replace(self, err=float(err))

    def moved_axis(self, axis: int | None) -> Real:
        return replace(self, axis=axis if self.scale.size > 1 else None)


IDENTITY = Real()


@dataclass
class Act:
    """A runtime fixed-point tensor: an fxp value plus how its axes relate to the ONNX tensor."""

    value: SSAValue
    shape: tuple[int, ...]  # ONNX shape, batch axis included
    batch: int  # ONNX axis holding the batch
    order: tuple[int, ...]  # ONNX axes (batch excluded) in the order of the fxp value's axes
    real: Real = IDENTITY
    pending: tuple = ()  # float elementwise ONNX nodes applied after ``real`` (not yet built)
    origin: str = ""  # the ONNX tensor the pending chain starts from

    @property
    def rank(self) -> int:
        return len(self.shape)

    def axis(self, onnx_axis: int) -> int:
        """The fxp axis of an ONNX axis."""
        return self.order.index(onnx_axis % self.rank)

    def with_value(self, value: SSAValue, shape=None, batch=None, order=None, real: Real | None = None) -> Act:
        """The same tensor semantics on a new fxp value (nothing pending)."""
        return Act(value, self.shape if shape is None else shape, self.batch if batch is None else batch, self.order if order is None else order, self.real if real is None else real)


@dataclass
class FloatInput:
    """A graph input not yet quantized, with the float preprocessing seen so far."""

    arg: SSAValue
    name: str
    shape: tuple[int, ...]
    steps: tuple = ()  # (op, constant) applied in the input's float type, in order
    moves: list = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------------


def exact_const(arr: np.ndarray) -> FixedConst:
    """Floats as exact fixed-point codes (every finite float is a dyadic rational)."""
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("a constant holds a non-finite value")
    frac = _needed_frac(arr)
    if frac > 200:
        raise ValueError("a constant needs more than 200 fractional bits to be exact")
    top = float(np.max(np.abs(arr))) if arr.size else 0.0
    if top == 0.0 or np.log2(top) + frac < 62:
        # every value times 2**frac is an integer below 2**62: exact in float64, then int64
        return FixedConst(np.ldexp(arr, frac).astype(np.int64), frac)
    codes = np.array([int(Fraction(float(v)) * (1 << frac)) for v in arr.ravel()], dtype=object).reshape(arr.shape)
    fc = FixedConst(codes, frac)
    if fixed.bits_needed(codes) <= 62:
        fc = FixedConst(codes.astype(np.int64), frac)
    return fc


def _needed_frac(arr: np.ndarray) -> int:
    """The fewest fractional bits (>= 0) that make every float of ``arr`` an integer code."""
    nz = arr[arr != 0]
    if nz.size == 0:
        return 0
    mant, exp = np.frexp(nz)  # nz = mant * 2**exp, 0.5 <= |mant| < 1
    m = np.abs(np.ldexp(mant, 53)).astype(np.int64)  # an integer: 53 significant bits
    low = m & -m  # the lowest set bit
    tz = np.log2(low.astype(np.float64)).astype(np.int64)  # exact: a power of two
    return max(0, int(np.max(53 - exp - tz)))


SIGNIFICANT_BITS = 24
"""Float32 carries 24 significant bits."""


def exact_or(arr: np.ndarray, fmt: FixedFormat, exact: bool = True) -> tuple[np.ndarray, FixedFormat]:
    """A constant's codes and type: exact when that takes at most 24-bit codes (and ``exact``),
    else 24 significant bits relative to its largest magnitude (``exact``), else cast to ``fmt``
    (float models, as hls4ml does)."""
    arr = np.asarray(arr, dtype=np.float64)
    if exact:
        try:
            fc = exact_const(arr)
            f = fc.format()
            if f.width <= SIGNIFICANT_BITS:
                return np.asarray(fc.codes, dtype=np.int64), f
        except ValueError:
            pass
        return significant(arr, SIGNIFICANT_BITS)
    return fixed.to_kind(fixed.from_float(arr, fmt), "int"), fmt


def significant(arr: np.ndarray, bits: int) -> tuple[np.ndarray, FixedFormat]:
    """``arr`` rounded to ``bits`` significant bits of its largest magnitude (error <= half an LSB)."""
    top = float(np.max(np.abs(arr))) if arr.size else 0.0
    if top == 0.0:
        return np.zeros(arr.shape, dtype=np.int64), FixedFormat(1, 1, True)
    frac = bits - 1 - int(np.floor(np.log2(top)))
    fmt = FixedFormat(bits + 1, bits + 1 - frac, True, "RND", "SAT")
    codes = fixed.to_kind(fixed.from_float(arr, fmt), "int")
    return codes, Interval.of_codes(codes, frac).narrowest()


def dyadic_codes(values: np.ndarray, bits: int = 53) -> tuple[np.ndarray, int, float]:
    """Exact floats as integer codes on one grid when that takes at most ``bits`` bits, else the
    nearest codes on the grid ``bits`` significant bits below the largest: (codes, frac, max error)."""
    values = np.asarray(values, dtype=np.float64)
    try:
        fc = exact_const(values)
        if fixed.bits_needed(np.asarray(fc.codes, dtype=object)) <= bits:
            return np.asarray(fc.codes), fc.frac, 0.0
    except ValueError:
        pass
    top = float(np.max(np.abs(values))) if values.size else 0.0
    if top == 0.0:
        return np.zeros(values.shape, dtype=np.int64), 0, 0.0
    frac = bits - 1 - int(np.floor(np.log2(top)))
    codes = np.array([fixed.from_fraction(Fraction(float(v)), FixedFormat(bits + 2, bits + 2 - frac, True, "RND_CONV", "SAT")) for v in values.ravel()], dtype=object).reshape(values.shape)
    return codes, frac, float(Fraction(1, 2) * Fraction(2) ** -frac)


def transpose_const(c):
    if isinstance(c, (FixedConst, ScaledConst)):
        return c.moved(lambda a: np.asarray(a).T.copy())
    return np.asarray(c).T


def is_constant(v) -> bool:
    return isinstance(v, (np.ndarray, np.generic, FixedConst, ScaledConst))


def reference_values(c) -> np.ndarray:
    """The float values the reference computes with for a constant."""
    if isinstance(c, (FixedConst, ScaledConst)):
        return c.values()
    return np.asarray(c)


def f32_exact_range(lo: int, hi: int) -> bool:
    """Whether every integer code in [lo, hi] times a power of two is exactly a float32."""
    return max(abs(lo), abs(hi)) <= (1 << f32.MANTISSA)
