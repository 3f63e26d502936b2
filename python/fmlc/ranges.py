"""Exact value ranges of fxp operations (interval analysis over integer codes).

Precision inference uses these ranges to pick the narrowest types that lose nothing, and
canonicalization uses them to tell when a cast is lossless.  An interval is exact: integer
codes ``lo..hi`` at ``frac`` fractional bits; every bound is computed from the operand
intervals and the actual constant values (weights, biases, tables), never estimated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from xdsl.ir import Operation, SSAValue

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat


@dataclass(frozen=True)
class Interval:
    """The exact values ``lo * 2**-frac .. hi * 2**-frac``."""

    lo: int
    hi: int
    frac: int

    @staticmethod
    def of_format(fmt: FixedFormat) -> Interval:
        return Interval(fmt.min_code, fmt.max_code, fmt.frac)

    @staticmethod
    def of_codes(codes: np.ndarray, frac: int) -> Interval:
        if codes.size == 0:
            return Interval(0, 0, frac)
        return Interval(int(codes.min()), int(codes.max()), frac)

    def at(self, frac: int) -> Interval:
        """The same values at ``frac >= self.frac`` fractional bits."""
        s = frac - self.frac
        assert s >= 0
        return Interval(self.lo << s, self.hi << s, frac)

    def union(self, other: Interval) -> Interval:
        f = max(self.frac, other.frac)
        a, b = self.at(f), other.at(f)
        return Interval(min(a.lo, b.lo), max(a.hi, b.hi), f)

    def with_zero(self) -> Interval:
        return Interval(min(self.lo, 0), max(self.hi, 0), self.frac)

    def narrowest(self) -> FixedFormat:
        """The narrowest format holding every value of the interval exactly."""
        return fixed.narrowest_format(self.lo, self.hi, self.frac)

    def fits(self, fmt: FixedFormat) -> bool:
        """Casting any value of this interval to ``fmt`` is lossless."""
        if fmt.frac < self.frac:
            return False
        a = self.at(fmt.frac)
        return fmt.min_code <= a.lo and a.hi <= fmt.max_code

    @property
    def bound(self) -> int:
        return max(-self.lo, self.hi, 0)


def cast_interval(iv: Interval, fmt: FixedFormat) -> Interval:
    """The interval of ``cast(v, fmt)`` for every v in ``iv`` (rounding is monotonic)."""
    if iv.fits(fmt):
        return iv.at(fmt.frac)
    lo = fixed.from_fraction(Fraction(iv.lo, 1) / Fraction(2) ** iv.frac, fmt.with_modes(overflow="SAT"))
    hi = fixed.from_fraction(Fraction(iv.hi, 1) / Fraction(2) ** iv.frac, fmt.with_modes(overflow="SAT"))
    unbounded_lo = _rounded(iv.lo, iv.frac, fmt) < fmt.min_code
    unbounded_hi = _rounded(iv.hi, iv.frac, fmt) > fmt.max_code
    if not (unbounded_lo or unbounded_hi) or fmt.overflow == "SAT":
        return Interval(lo, hi, fmt.frac)
    if fmt.overflow == "SAT_SYM" and fmt.signed and fmt.width > 1:
        return Interval(max(lo, -fmt.max_code), hi, fmt.frac)
    if fmt.overflow == "SAT_ZERO":
        return Interval(min(lo, 0), max(hi, 0), fmt.frac)
    return Interval.of_format(fmt)  # wraps: anything


def _rounded(code: int, frac: int, fmt: FixedFormat) -> int:
    """``code * 2**-frac`` rounded to fmt's grid without overflow handling."""
    wide = FixedFormat(max(fmt.width, abs(code).bit_length() + abs(frac - fmt.frac) + 4), 0, True, fmt.rounding, "WRAP")
    wide = FixedFormat(wide.width, wide.width - fmt.frac, True, fmt.rounding, "WRAP")
    return fixed.from_fraction(Fraction(code, 1) / Fraction(2) ** frac, wide)


def linear_interval(w: np.ndarray, x: Interval, bias: np.ndarray | None, bias_frac: int, wfrac: int, zero_taps: bool) -> tuple[Interval, list[Interval]]:
    """Exact range of ``sum_k x_k w[k, m] + b[m]``: overall, and per output m."""
    wo = w.reshape(-1, w.shape[-1]).astype(object)
    a, b = wo * x.lo, wo * x.hi
    lo_t, hi_t = np.minimum(a, b), np.maximum(a, b)
    if zero_taps:  # padded taps contribute exactly zero
        lo_t, hi_t = np.minimum(lo_t, 0), np.maximum(hi_t, 0)
    lo, hi = lo_t.sum(axis=0), hi_t.sum(axis=0)
    frac = x.frac + wfrac
    if bias is not None:
        frac = max(frac, bias_frac)
        up, bup = frac - x.frac - wfrac, frac - bias_frac
        bo = bias.astype(object)
        lo = lo * (1 << up) + bo * (1 << bup)
        hi = hi * (1 << up) + bo * (1 << bup)
    per = [Interval(int(lo[m]), int(hi[m]), frac) for m in range(len(lo))]
    if not per:
        return Interval(0, 0, frac), per
    return Interval(min(p.lo for p in per), max(p.hi for p in per), frac), per


RangeOf = Callable[[SSAValue], Interval]
ConstOf = Callable[[SSAValue], "np.ndarray | None"]


def accumulator_interval(op: fxp.DenseOp | fxp.ConvOp, range_of: RangeOf, const_of: ConstOf) -> Interval:
    """Exact range of a dense/conv sum including the bias (the value an exact accumulator holds)."""
    w = const_of(op.weight)
    if w is None:
        return Interval.of_format(fxp.element_format(op.weight)).union(range_of(op.input))  # not constant: unknown
    fw = fxp.element_format(op.weight)
    bias, bfrac = None, 0
    if op.bias is not None:
        bias = const_of(op.bias)
        bfrac = fxp.element_format(op.bias).frac
    zero_taps = isinstance(op, fxp.ConvOp) and any(op.window()[3])
    whole, _ = linear_interval(w, range_of(op.input), bias, bfrac, fw.frac, zero_taps)
    return whole


def exact_interval(op: Operation, range_of: RangeOf, const_of: ConstOf) -> Interval | None:
    """Range of the exact result an fxp op computes before its final cast (None: not known)."""
    if isinstance(op, fxp.DenseOp | fxp.ConvOp):
        exact = accumulator_interval(op, range_of, const_of)
        acc = op.acc
        if isinstance(acc, fxp.FixedType) and not exact.fits(acc.format):
            return Interval.of_format(acc.format)  # the accumulator rounds or wraps
        return exact
    if isinstance(op, fxp.CastOp):
        return range_of(op.input)
    if isinstance(op, fxp.AddOp | fxp.SubOp | fxp.MaximumOp | fxp.MinimumOp):
        a, b = range_of(op.lhs), range_of(op.rhs)
        f = max(a.frac, b.frac)
        a, b = a.at(f), b.at(f)
        if isinstance(op, fxp.AddOp):
            return Interval(a.lo + b.lo, a.hi + b.hi, f)
        if isinstance(op, fxp.SubOp):
            return Interval(a.lo - b.hi, a.hi - b.lo, f)
        if isinstance(op, fxp.MaximumOp):
            return Interval(max(a.lo, b.lo), max(a.hi, b.hi), f)
        return Interval(min(a.lo, b.lo), min(a.hi, b.hi), f)
    if isinstance(op, fxp.MulOp):
        a, b = range_of(op.lhs), range_of(op.rhs)
        ends = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        return Interval(min(ends), max(ends), a.frac + b.frac)
    if isinstance(op, fxp.ReluOp):
        a = range_of(op.input)
        return Interval(max(a.lo, 0), max(a.hi, 0), a.frac)
    if isinstance(op, fxp.LeakyReluOp):
        a, al = range_of(op.input), range_of(op.alpha)
        frac = a.frac + max(al.frac, 0)
        pos = Interval(0, max(a.hi, 0), a.frac).at(frac)
        neg_hi = min(a.hi, 0)
        ends = [a.lo * al.lo, a.lo * al.hi, neg_hi * al.lo, neg_hi * al.hi]
        neg = Interval(min(ends), max(ends), a.frac + al.frac).at(frac) if a.lo < 0 else pos
        return pos.union(neg) if a.lo < 0 else pos
    if isinstance(op, fxp.ThresholdedReluOp):
        return range_of(op.input).with_zero()
    if isinstance(op, fxp.TableOp):
        return Interval.of_codes(op.codes(), fxp.element_format(op.result).frac)
    if isinstance(op, fxp.SoftmaxOp):
        e = Interval.of_codes(fxp.codes_of(op.exp_table), op.exp_type.format.frac)
        r = Interval.of_codes(fxp.codes_of(op.inv_table), op.inv_type.format.frac)
        return Interval(min(e.lo * r.hi, 0), e.hi * r.hi, e.frac + r.frac)
    if isinstance(op, fxp.MaxPoolOp):
        a = range_of(op.input)
        if any(op.window()[2]):
            fmt = fxp.element_format(op.input)
            return a.union(Interval(fmt.min_code, fmt.min_code, fmt.frac))
        return a
    if isinstance(op, fxp.GlobalMaxPoolOp):
        return range_of(op.input)
    if isinstance(op, fxp.AvgPoolOp | fxp.GlobalAvgPoolOp):
        return _average_interval(op, range_of(op.input))
    if isinstance(op, fxp.BatchNormOp):
        x = range_of(op.input)
        s, t = const_of(op.scale), const_of(op.shift)
        fs, ft = fxp.element_format(op.scale), fxp.element_format(op.shift)
        if s is None or t is None:
            return None
        frac = max(x.frac + fs.frac, ft.frac)
        up, tup = frac - x.frac - fs.frac, frac - ft.frac
        so = s.astype(object)
        a, b = so * x.lo, so * x.hi
        lo = np.minimum(a, b) * (1 << up) + t.astype(object) * (1 << tup)
        hi = np.maximum(a, b) * (1 << up) + t.astype(object) * (1 << tup)
        return Interval(int(lo.min()), int(hi.max()), frac)
    if isinstance(op, fxp.MultiThresholdOp):
        sc, sf = fixed.code_of_float_exact(op.out_scale.value.data)
        bi, bf = fixed.code_of_float_exact(op.out_bias.value.data)
        f = max(sf, bf)
        sc, bi = sc << (f - sf), bi << (f - bf)
        steps = fxp.shape_of(op.thresholds)[1]
        ends = [bi, bi + sc * steps]
        return Interval(min(ends), max(ends), f)
    if isinstance(op, fxp.ReshapeOp | fxp.FlattenOp | fxp.TransposeOp | fxp.UpsampleOp):
        return range_of(op.input)
    if isinstance(op, fxp.PadOp):
        return range_of(op.input).with_zero()
    if isinstance(op, fxp.ConcatOp):
        out = range_of(op.inputs[0])
        for v in op.inputs[1:]:
            out = out.union(range_of(v))
        return out
    return None


def _average_interval(op, x: Interval) -> Interval:
    from fmlc.emulator import reciprocal_codes, window_counts

    scale = op.scale_type.format
    if isinstance(op, fxp.GlobalAvgPoolOp):
        counts = np.array([int(np.prod(fxp.shape_of(op.input)[:-1]))])
        window = int(counts[0])
    else:
        kernel, strides, padding = op.window()
        counts = window_counts(fxp.shape_of(op.input), kernel, strides, padding, op.includes_pad)
        window = int(np.prod(kernel))
    recips = reciprocal_codes(counts, scale)
    r_hi = max(int(r) for r in recips.ravel())
    r_lo = min(int(r) for r in recips.ravel())
    s = Interval(x.lo * window, x.hi * window, x.frac).with_zero()
    ends = [s.lo * r_lo, s.lo * r_hi, s.hi * r_lo, s.hi * r_hi]
    return Interval(min(ends), max(ends), x.frac + scale.frac)
