"""Fixed-point formats and the exact arithmetic that defines them.

A value of format ``FixedFormat(W, I, signed)`` is an integer *code* ``c`` (W bits, two's
complement when signed) standing for ``c * 2**-(W - I)``.  Every fmlc operation computes its
exact mathematical result and then *casts* it to its result format; this module is the single
definition of that cast (``ap_fixed`` semantics: quantization first, then overflow handling),
and of the conversion from floating point at the model boundary.

Codes live in numpy arrays of one of three *storage kinds*, picked from a bound on their
magnitude:

- ``float32``: float32 holding integers below 2**23 (narrow codes: half the memory traffic,
  single-precision BLAS, exact while sums stay below 2**24);
- ``float``: float64 holding integers below 2**52 (goes through BLAS exactly);
- ``int``: int64 holding integers below 2**62;
- ``object``: Python integers of any size (slow, exact).

All functions here are exact in every kind; ``tests/python/test_cast_apfixed.py`` checks them
against ``ap_fixed`` compiled with g++.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

FLOAT32_BITS = 23
"""Codes below 2**23 in magnitude are held in float32: adding 0.5 to one of them is exact."""
FLOAT_BITS = 52
"""Codes below 2**52 in magnitude are held in float64: adding 0.5 to one of them is exact."""
INT_BITS = 62
"""Codes below 2**62 in magnitude are held in int64 with room for one carry."""

MAX_WIDTH = 4096
MAX_ABS_FRAC = 900
"""|fractional bits| stays below float64's exponent range, so 2**F is a normal double."""


@dataclass(frozen=True)
class FixedFormat:
    """``ap_fixed<W, I, Q, O>`` (signed) or ``ap_ufixed<W, I, Q, O>`` (unsigned)."""

    width: int
    int_bits: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"fixed-point width must be in [1, {MAX_WIDTH}], got {self.width}")
        if abs(self.frac) > MAX_ABS_FRAC:
            raise ValueError(f"fractional bits must be within +-{MAX_ABS_FRAC}, got {self.frac}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"unknown rounding mode '{self.rounding}'; expected one of {ROUNDING_MODES}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"unknown overflow mode '{self.overflow}'; expected one of {OVERFLOW_MODES}")

    @property
    def frac(self) -> int:
        """Number of fractional bits F = W - I (negative when the LSB weighs more than 1)."""
        return self.width - self.int_bits

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> Fraction:
        return Fraction(2) ** -self.frac

    @property
    def min_value(self) -> Fraction:
        return self.min_code * self.lsb

    @property
    def max_value(self) -> Fraction:
        return self.max_code * self.lsb

    @property
    def storage(self) -> str:
        return storage_kind(self.width)

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> FixedFormat:
        return replace(self, rounding=rounding or self.rounding, overflow=overflow or self.overflow)

    def same_grid(self, other: FixedFormat) -> bool:
        """Same width, integer bits and signedness (modes aside): the codes mean the same."""
        return (self.width, self.int_bits, self.signed) == (other.width, other.int_bits, other.signed)

    def contains(self, other: FixedFormat) -> bool:
        """Every value of ``other`` is exactly a value of ``self``."""
        if self.frac < other.frac:
            return False
        shift = self.frac - other.frac
        return (
            self.min_code <= other.min_code << shift and other.max_code << shift <= self.max_code
        )

    def __str__(self) -> str:
        kind = "fixed" if self.signed else "ufixed"
        modes = ""
        if (self.rounding, self.overflow) != ("TRN", "WRAP"):
            modes = f",{self.rounding},{self.overflow}"
        return f"{kind}<{self.width},{self.int_bits}{modes}>"

    @staticmethod
    def parse(text: str) -> FixedFormat:
        """Parse the short user syntax ``fixed<16,6>`` / ``ufixed<8,0,RND,SAT>``."""
        text = text.strip()
        for prefix, signed in (("ufixed", False), ("fixed", True)):
            if text.startswith(prefix + "<") and text.endswith(">"):
                fields = [f.strip() for f in text[len(prefix) + 1 : -1].split(",")]
                break
        else:
            raise ValueError(f"cannot read precision '{text}': expected e.g. 'fixed<16,6>' or 'ufixed<8,0,RND,SAT>'")
        if len(fields) not in (2, 3, 4):
            raise ValueError(f"cannot read precision '{text}': expected 2 to 4 fields, got {len(fields)}")
        try:
            width, int_bits = int(fields[0]), int(fields[1])
        except ValueError:
            raise ValueError(f"cannot read precision '{text}': width and integer bits must be integers") from None
        rounding = fields[2].removeprefix("AP_") if len(fields) > 2 else "TRN"
        overflow = fields[3].removeprefix("AP_") if len(fields) > 3 else "WRAP"
        return FixedFormat(width, int_bits, signed, rounding, overflow)


FLOAT_KINDS = {"float32": (np.float32, FLOAT32_BITS), "float": (np.float64, FLOAT_BITS)}


def storage_kind(bits: int) -> str:
    """The storage kind for codes bounded by ``|c| <= 2**bits``."""
    if bits <= FLOAT32_BITS:
        return "float32"
    if bits <= FLOAT_BITS:
        return "float"
    if bits <= INT_BITS:
        return "int"
    return "object"


def kind_of(a: np.ndarray) -> str:
    if a.dtype == np.float32:
        return "float32"
    if a.dtype == np.float64:
        return "float"
    if a.dtype == np.int64:
        return "int"
    if a.dtype == object:
        return "object"
    raise TypeError(f"not a code array: dtype {a.dtype}")


def to_kind(a: np.ndarray, kind: str) -> np.ndarray:
    """Convert a code array to another storage kind (the caller guarantees it fits)."""
    have = kind_of(a)
    if have == kind:
        return a
    if kind in FLOAT_KINDS:
        dtype = FLOAT_KINDS[kind][0]
        if have == "object":
            return np.array([float(v) for v in a.ravel()], dtype=dtype).reshape(a.shape)
        return a.astype(dtype)
    if kind == "int":
        if have == "object":
            return np.array([int(v) for v in a.ravel()], dtype=np.int64).reshape(a.shape)
        return a.astype(np.int64)
    # object: Python ints, exact from either numeric kind (float codes are integral)
    return a.astype(np.int64).astype(object) if have in FLOAT_KINDS else a.astype(object)


def bits_needed(a: np.ndarray) -> int:
    """Smallest b with |c| < 2**b for every code c (0 for an empty or all-zero array)."""
    if a.size == 0:
        return 0
    hi = max(abs(int(a.max())), abs(int(a.min())))
    return hi.bit_length()


# --------------------------------------------------------------------------------------------
# fixed -> fixed
# --------------------------------------------------------------------------------------------


def cast(a: np.ndarray, src_frac: int, dst: FixedFormat, bits: int | None = None) -> np.ndarray:
    """Cast codes ``a`` (value ``a * 2**-src_frac``) to ``dst``; returns codes in dst's storage.

    ``bits`` bounds the input (``|a| < 2**bits``); it is measured when not given.
    """
    if bits is None:
        bits = bits_needed(a)
    shift = src_frac - dst.frac
    if kind_of(a) in FLOAT_KINDS:
        for kind, (_, kind_bits) in FLOAT_KINDS.items():
            if _float_cast_is_exact(bits, shift, dst, kind_bits + 1):
                return to_kind(_cast_float(to_kind(a, kind), shift, dst), dst.storage)
    # the widest magnitude seen on the way: the input, or the input moved left
    work_bits = bits + max(0, -shift) + 1
    kind = "int" if work_bits <= INT_BITS and dst.width <= INT_BITS and shift <= INT_BITS else "object"
    return to_kind(_cast_int(to_kind(a, kind), shift, dst), dst.storage)


NO_HALF_MODES = ("TRN", "TRN_ZERO", "RND_CONV")
"""Rounding modes computed by floor/trunc/rint alone, exact at any magnitude."""


def _float_cast_is_exact(bits: int, shift: int, dst: FixedFormat, mantissa: int) -> bool:
    """Can a float with ``mantissa`` significant bits cast codes below 2**bits exactly?

    Every integer up to 2**mantissa is exact; moving by a power of two is exact; adding 0.5
    (the RND-like modes) needs one bit of room; the wrap computes ``r - lo`` below 2**(W+1).
    """
    if abs(shift) > 60 or dst.width + 1 > mantissa:
        return False
    if shift < 0:
        return bits - shift <= mantissa
    if shift > 0 and dst.rounding not in NO_HALF_MODES:
        return bits + 1 <= mantissa
    return bits <= mantissa


def _round_increment_int(a, q, rem, half, mode):
    """The 0/1 added to the floor ``q`` by each rounding mode (``rem`` = what floor dropped)."""
    if mode == "TRN":
        return None
    if mode == "TRN_ZERO":
        return (a < 0) & (rem != 0)
    if mode == "RND":
        return rem >= half
    if mode == "RND_ZERO":
        return (rem > half) | ((rem == half) & (a < 0))
    if mode == "RND_MIN_INF":
        return rem > half
    if mode == "RND_INF":
        return (rem > half) | ((rem == half) & (a >= 0))
    if mode == "RND_CONV":
        return (rem > half) | ((rem == half) & ((q & 1) == 1))
    raise AssertionError(mode)


def _cast_int(a: np.ndarray, shift: int, dst: FixedFormat) -> np.ndarray:
    """Integer path: works on int64 (within INT_BITS) and on object arrays of any size."""
    if shift > 0:
        q = a >> shift
        rem = a - (q << shift)
        inc = _round_increment_int(a, q, rem, 1 << (shift - 1), dst.rounding)
        r = q if inc is None else q + inc.astype(q.dtype)
    elif shift < 0:
        r = a << -shift
    else:
        r = a
    return _overflow_int(r, dst)


def _overflow_int(r: np.ndarray, dst: FixedFormat) -> np.ndarray:
    lo, hi = dst.min_code, dst.max_code
    mode = dst.overflow
    if mode == "WRAP":
        mask = (1 << dst.width) - 1
        w = r & mask
        if dst.signed:
            w = np.where(w > hi, w - (1 << dst.width), w)
        return w.astype(r.dtype) if r.dtype != object else w
    if mode == "SAT_SYM" and dst.signed and dst.width > 1:
        lo = -hi
    if mode == "SAT_ZERO":
        return np.where((r < lo) | (r > hi), 0, r).astype(r.dtype)
    return np.minimum(np.maximum(r, lo), hi)


def _cast_float(a: np.ndarray, shift: int, dst: FixedFormat) -> np.ndarray:
    """Float64 path: codes below 2**52, exact integer results by construction."""
    if shift > 0:
        t = a * (2.0**-shift)  # exact: a power-of-two scaling of an integer below 2**52
        r = _round_float(t, dst.rounding)
    elif shift < 0:
        r = a * (2.0**-shift)
    else:
        r = a.copy()
    return _overflow_float(r, dst)


def _round_float(t: np.ndarray, mode: str) -> np.ndarray:
    """Round values below 2**51 in magnitude (so ``t +- 0.5`` is exact) to integers, in place."""
    if mode == "TRN":
        return np.floor(t, out=t)
    if mode == "TRN_ZERO":
        return np.trunc(t, out=t)
    if mode == "RND_CONV":
        return np.rint(t, out=t)
    if mode == "RND":
        return np.floor(np.add(t, 0.5, out=t), out=t)
    if mode == "RND_MIN_INF":
        return np.ceil(np.subtract(t, 0.5, out=t), out=t)
    if mode == "RND_ZERO":
        return np.where(t >= 0, np.ceil(t - 0.5), np.floor(t + 0.5))
    if mode == "RND_INF":
        return np.where(t >= 0, np.floor(t + 0.5), np.ceil(t - 0.5))
    raise AssertionError(mode)


def _overflow_float(r: np.ndarray, dst: FixedFormat) -> np.ndarray:
    """Overflow handling on integral float values (any magnitude), in place where possible."""
    lo, hi = float(dst.min_code), float(dst.max_code)
    mode = dst.overflow
    if mode == "SAT_SYM" and dst.signed and dst.width > 1:
        lo = -hi
    if mode in ("SAT", "SAT_SYM"):
        return np.clip(r, lo, hi, out=r)
    if r.size and lo <= r.min() and r.max() <= hi:
        return r  # nothing overflows: two read-only passes beat the exact modulo
    if mode == "WRAP":
        span = float(1 << dst.width)
        # fmod is exact and brings |r| below the span; then (r - lo) mod span + lo, all exact
        np.fmod(r, span, out=r)
        np.subtract(r, lo, out=r)
        np.remainder(r, span, out=r)
        return np.add(r, lo, out=r)
    return np.where((r < lo) | (r > hi), 0.0, r)  # SAT_ZERO


# --------------------------------------------------------------------------------------------
# float -> fixed
# --------------------------------------------------------------------------------------------


def from_float(x: np.ndarray, dst: FixedFormat) -> np.ndarray:
    """Quantize the exact value of each float64 in ``x`` to ``dst`` (as ``ap_fixed(double)``)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x.sum()) and not np.all(np.isfinite(x)):  # the sum alone may overflow
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"input holds a non-finite value ({x[tuple(bad)]}) at index {tuple(int(i) for i in bad)}")
    if dst.width > FLOAT_BITS:
        return _from_float_exact(x, dst)
    t = x * (2.0**dst.frac)  # exact unless it leaves the normal range (|frac| <= 900 keeps it in)
    mode = dst.rounding
    if mode in ("TRN", "TRN_ZERO", "RND_CONV"):
        # floor, trunc and rint are exact at every magnitude
        return to_kind(_overflow_float(_round_float(t, mode), dst), dst.storage)
    fl = np.floor(t)
    has_frac = t != fl
    mid = fl + 0.5  # exact whenever has_frac (then |fl| < 2**52)
    above = has_frac & (t > mid)
    tie = has_frac & (t == mid)
    if mode == "RND":
        inc = above | tie
    elif mode == "RND_ZERO":
        inc = above | (tie & (t < 0))
    elif mode == "RND_MIN_INF":
        inc = above
    elif mode == "RND_INF":
        inc = above | (tie & (t >= 0))
    else:
        raise AssertionError(mode)
    return to_kind(_overflow_float(fl + inc, dst), dst.storage)


def _from_float_exact(x: np.ndarray, dst: FixedFormat) -> np.ndarray:
    """Slow exact path for destinations wider than the float kind."""
    out = np.empty(x.shape, dtype=object)
    for idx, v in np.ndenumerate(x):
        num, den = Fraction(float(v)).as_integer_ratio()
        # v * 2**frac = num * 2**frac / den; den is a power of two
        if dst.frac >= 0:
            num <<= dst.frac
        else:
            den <<= -dst.frac
        code = np.array([num], dtype=object)
        shift = den.bit_length() - 1
        out[idx] = _cast_int(code, shift, dst)[0]
    return to_kind(out, dst.storage)


def to_float(codes: np.ndarray, fmt_frac: int) -> np.ndarray:
    """Values of codes as float64 (exact while codes need at most 53 bits)."""
    if kind_of(codes) == "object":
        return np.array([float(Fraction(int(c), 1) * Fraction(2) ** -fmt_frac) for c in codes.ravel()]).reshape(codes.shape)
    # times a power of two: exact like ldexp (|frac| <= 900 keeps every result normal), and
    # several times faster
    return np.multiply(codes, 2.0**-fmt_frac, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# ranges
# --------------------------------------------------------------------------------------------


def narrowest_format(lo: int, hi: int, frac: int, rounding: str = "TRN", overflow: str = "WRAP") -> FixedFormat:
    """The narrowest format with ``frac`` fractional bits holding codes ``lo..hi`` exactly."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo < 0:
        width = max(hi.bit_length(), (-lo - 1).bit_length()) + 1
        signed = True
    else:
        width = max(hi.bit_length(), 1)
        signed = False
    return FixedFormat(width, width - frac, signed, rounding, overflow)


def shift_to_frac(code: int, frac: int, new_frac: int) -> int:
    """Move an exact code to more fractional bits (``new_frac >= frac``)."""
    assert new_frac >= frac
    return code << (new_frac - frac)


def round_code(code: int, drop: int, mode: str) -> int:
    """One code moved right by ``drop`` bits and rounded as ``mode`` says (left when ``drop <= 0``).

    The scalar form of ``cast``'s first step (docs/semantics.md); targets use it to bound the
    ranges their rounding circuits produce.
    """
    if drop <= 0:
        return code << -drop
    q = code >> drop
    inc = _round_increment_int(code, q, code - (q << drop), 1 << (drop - 1), mode)
    return q + int(bool(inc)) if inc is not None else q


def from_fraction(value: Fraction, dst: FixedFormat) -> int:
    """Cast an exact rational to ``dst``'s code (rounding and overflow as ``dst`` says)."""
    value = Fraction(value)
    num, den = value.numerator, value.denominator
    if dst.frac >= 0:
        num <<= dst.frac
    else:
        den <<= -dst.frac
    q, rem = divmod(num, den)  # floor division: rem in [0, den)
    twice = 2 * rem
    mode = dst.rounding
    above, tie, inexact = twice > den, twice == den, rem != 0
    inc = {
        "TRN": False,
        "TRN_ZERO": inexact and num < 0,
        "RND": above or tie,
        "RND_ZERO": above or (tie and num < 0),
        "RND_MIN_INF": above,
        "RND_INF": above or (tie and num >= 0),
        "RND_CONV": above or (tie and q % 2 == 1),
    }[mode]
    return int(_overflow_int(np.array([q + int(inc)], dtype=object), dst)[0])


def code_of_float_exact(value: float) -> tuple[int, int]:
    """An exact float as ``(code, frac)`` with ``value == code * 2**-frac`` and frac minimal >= 0."""
    num, den = Fraction(value).as_integer_ratio()
    return num, den.bit_length() - 1
