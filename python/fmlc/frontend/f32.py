"""Exact facts about float32, the arithmetic of the reference (QONNX's ``execute_onnx``).

The reference evaluates every node in float32.  fmlc computes with exact integers; to replace a
float subgraph exactly it must know, for each integer code, *which* float32 the reference sees
(``affine_f32``: the float32 nearest to ``v * scale + shift``, rounded once, as IEEE arithmetic
rounds one exact operation), and where it cannot know, *how far* the reference can be from the
exact value (``U``, ``gamma``: the classical bounds of float summation).

Everything here is exact: dyadic rationals are held as Python integers, never as float64
approximations.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

MANTISSA = 24
"""float32 carries 24 significant bits."""
U = 2.0**-24
"""The unit roundoff of float32 (round to nearest): one rounding moves a value by at most U|x|."""
MIN_EXP = -149
"""The least significant bit of float32's subnormals: 2**-149."""
MAX_F32 = float(np.finfo(np.float32).max)


def gamma(n: int) -> float:
    """``n u / (1 - n u)``: bound on the relative error of n successive float32 roundings.

    A float32 sum of n products, in any order, with or without fused multiply-adds, differs from
    the exact sum by at most ``gamma(n) * sum(|products|)`` (Higham, Accuracy and Stability of
    Numerical Algorithms, 3.1).  Returned rounded up a little so that float64 evaluation of the
    bound cannot make it too small.
    """
    nu = n * U
    if nu >= 0.5:
        return math.inf
    return nu / (1.0 - nu) * (1.0 + 2.0**-40)


def dyadic(value) -> tuple[int, int]:
    """An exact float (or Fraction with a power-of-two denominator) as ``(mantissa, exp)``."""
    f = Fraction(value)
    num, den = f.numerator, f.denominator
    exp = -(den.bit_length() - 1)
    if den != 1 << -exp:
        raise ValueError(f"{value} is not a dyadic rational")
    while num and num % 2 == 0:
        num //= 2
        exp += 1
    return num, exp


def is_f32(value: float) -> bool:
    """Whether a float64 value is exactly a float32."""
    return bool(np.float64(np.float32(value)) == value) or not np.isfinite(value)


def round_f32(num: int, exp: int) -> float:
    """The float32 nearest to ``num * 2**exp`` (ties to even), as a Python float; inf on overflow."""
    if num == 0:
        return 0.0
    sign = -1 if num < 0 else 1
    n = abs(num)
    bits = n.bit_length()
    # the value's leading bit weighs 2**(bits - 1 + exp); float32 keeps 24 bits below it, but
    # no bit below 2**MIN_EXP (subnormals)
    lsb = max(bits - MANTISSA + exp, MIN_EXP)
    drop = lsb - exp
    if drop > 0:
        q = n >> drop
        rem = n - (q << drop)
        half = 1 << (drop - 1)
        if rem > half or (rem == half and q & 1):
            q += 1
        n, exp = q, lsb
    value = math.ldexp(n, exp) if n.bit_length() + exp <= 1100 else math.inf
    if value > MAX_F32:
        return sign * math.inf
    return sign * value


def affine_f32(codes: np.ndarray, frac: int, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """float32 nearest to ``codes * 2**-frac * scale + shift`` per element (one rounding).

    ``scale`` and ``shift`` are exact floats broadcastable to ``codes`` (per channel, last
    axis).  Fast path: the scale split in three float32-sized parts makes every product exact in
    float64; the float64 sum is within a few units of the exact one, which decides the float32
    rounding except within that margin of a float32 midpoint, where exact integers decide.
    """
    codes = np.asarray(codes)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), codes.shape)
    shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), codes.shape)
    out = np.empty(codes.shape, dtype=np.float32)
    if codes.size == 0:
        return out
    fast = np.zeros(codes.shape, dtype=bool)
    if codes.dtype != object:
        c = codes.astype(np.float64)
        fast = (np.abs(c) < 2.0**29) & (np.abs(frac) < 600)
    if np.any(fast):
        c = np.where(fast, codes.astype(np.float64) if codes.dtype != object else 0.0, 0.0)
        s = np.ldexp(scale, -frac)  # exact: a power of two
        s1 = s.astype(np.float32).astype(np.float64)
        r = s - s1  # exact
        s2 = r.astype(np.float32).astype(np.float64)
        s3 = r - s2  # exact; at most 5 significant bits left
        p1, p2, p3 = c * s1, c * s2, c * s3  # exact: 29 + 24 bits each
        total = ((p1 + p2) + p3) + shift
        margin = 4 * 2.0**-53 * (np.abs(p1) + np.abs(p2) + np.abs(p3) + np.abs(shift))
        r32 = total.astype(np.float32)
        r64 = r32.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            up = np.nextafter(r32, np.float32(np.inf)).astype(np.float64)
            down = np.nextafter(r32, np.float32(-np.inf)).astype(np.float64)
            near = (np.abs(total - (r64 + up) / 2) <= margin) | (np.abs(total - (r64 + down) / 2) <= margin)
        near |= ~np.isfinite(total)
        ok = fast & ~near
        out[ok] = r32[ok]
        fast = ok
    slow = np.argwhere(~fast)
    cache: dict[tuple[float, float], tuple[int, int, int, int]] = {}
    for idx in map(tuple, slow):
        key = (float(scale[idx]), float(shift[idx]))
        if key not in cache:
            sm, se = dyadic(key[0])
            bm, be = dyadic(key[1])
            cache[key] = (sm, se - frac, bm, be)
        sm, se, bm, be = cache[key]
        low = min(se, be)
        num = int(codes[idx]) * sm * (1 << (se - low)) + bm * (1 << (be - low))
        out[idx] = round_f32(num, low)
    return out


def _float64_exact(codes: np.ndarray, frac: int, scale: np.ndarray, shift: np.ndarray) -> bool:
    """Whether ``codes * 2**-frac * scale + shift`` is exact in float64 for every element."""
    if codes.size == 0:
        return True
    if codes.dtype == object:
        return False
    cmax = float(np.max(np.abs(codes.astype(np.float64))))
    if cmax >= 2.0**52:
        return False
    sbits = _max_significant_bits(scale)
    if cmax.__ceil__().bit_length() + sbits > 53:
        return False
    if not np.any(shift):
        return True
    # the sum is exact when both terms lie on a common grid spanning at most 53 bits
    lo = min(_min_exponent(scale) - frac, _min_exponent(shift))
    top = float(np.max(np.abs(np.ldexp(codes.astype(np.float64), -frac) * scale)) + np.max(np.abs(shift)))
    return top == 0.0 or math.frexp(top)[1] + 1 - lo <= 53


def _max_significant_bits(values: np.ndarray) -> int:
    best = 0
    for v in np.unique(values):
        if v != 0:
            m, _ = dyadic(float(v))
            best = max(best, abs(m).bit_length())
    return best


def _min_exponent(values: np.ndarray) -> int:
    """The weight of the lowest set bit over all nonzero values."""
    low = 0
    for v in np.unique(values):
        if v != 0:
            _, e = dyadic(float(v))
            low = min(low, e)
    return low


def ulp_bound(magnitude: float) -> float:
    """Half a float32 unit in the last place at ``magnitude``: the most one rounding moves it."""
    if magnitude == 0.0:
        return 0.0
    return max(U * magnitude, 2.0 ** (MIN_EXP - 1))
