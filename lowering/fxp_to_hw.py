"""fxp -> hw: the bit-level logic of every fxp (and rtl) operation, as CIRCT comb/seq ops.

The unit is ``Sig``, one scalar fixed-point signal: a W-bit hardware value (two's complement
when signed) holding integer codes ``lo..hi`` on the grid ``2**-frac``.  ``Logic`` builds the
ops of one ``hw.module`` body and implements exact fixed-point arithmetic on Sigs: every
result is as wide as its exact range needs (widths come from interval arithmetic, never
guessed), constants fold, and casts implement ``docs/semantics.md`` bit for bit (rounding
from the dropped bits, then overflow from bit tests on the high bits).

Pipelining is decided here too.  Every Sig carries its arrival: the pipeline stage it is
computed in and the adder levels since that stage began (stage -1: static, a configuration
register or logic fed by such registers only, used by every stage without delay registers).
An operation whose operands would arrive too deep (more than the budget of adder levels)
starts a new stage: its operands go through registers; operands from earlier stages are
delayed to the operation's stage.
Costs in adder levels: add, subtract, compare and increment 1, table lookup 1, multiply 2;
wiring, muxes and bit tests 0.

``LOWERINGS`` maps each op type to a function that turns the op's operand tensors (numpy
object arrays of Sigs) into its result tensor; data movement is numpy on those arrays.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
from xdsl.ir import Operation, SSAValue

from fmlc import fixed
from fmlc.dialects import dataflow, fxp, rtl
from fmlc.dialects.fxp import element_format, shape_of
from fmlc.fixed import FixedFormat, narrowest_format, round_code
from fmlc.ir import op_label
from fmlc.lowering.hw_builder import ModuleBuilder

ADD_COST = 1
TABLE_COST = 1
MUL_COST = 2

class LoweringError(RuntimeError):
    """An operation cannot become hardware as written; the message names the op and why."""


# ============================================================================================
# Signals
# ============================================================================================


@dataclass(frozen=True, eq=False)
class Sig:
    """A scalar fixed-point signal: ``width`` bits holding codes ``lo..hi`` at ``frac``, or a constant."""

    value: SSAValue | None  # None: the constant code lo (== hi)
    width: int
    signed: bool
    frac: int
    lo: int
    hi: int
    stage: int = 0
    depth: int = 0

    @property
    def is_const(self) -> bool:
        return self.value is None

    @staticmethod
    def const(code: int, frac: int) -> Sig:
        """A constant, its trailing zero bits dropped (a coarser grid: adders pass more bits through)."""
        code = int(code)
        if code:
            tz = (code & -code).bit_length() - 1
            code >>= tz
            frac -= tz
        fmt = narrowest_format(code, code, frac)
        return Sig(None, fmt.width, fmt.signed, frac, code, code)

    def at_frac(self, frac: int) -> tuple[int, int]:
        """The code range on a finer grid."""
        s = frac - self.frac
        return self.lo << s, self.hi << s


def _fit(lo: int, hi: int) -> tuple[int, bool]:
    """Width and signedness of the narrowest two's complement (or unsigned) holding lo..hi."""
    f = narrowest_format(lo, hi, 0)
    return f.width, f.signed


def _range_on_grid(fmt: FixedFormat, frac: int) -> tuple[int, int]:
    """The codes on grid ``frac`` of the values ``fmt`` can hold."""
    s = frac - fmt.frac
    if s >= 0:
        return fmt.min_code << s, fmt.max_code << s
    return -((-fmt.min_code) >> -s), fmt.max_code >> -s


# ============================================================================================
# The logic builder
# ============================================================================================


class Logic:
    """Builds one module's logic through a ModuleBuilder: exact arithmetic on Sigs, registers placed by budget.

    ``clock()`` gives the clock value (the module's clk port, created on first use);
    ``table(codes, in_width, out_width)`` gives the name of a module looking up a table.
    """

    def __init__(self, mb: ModuleBuilder, clock: Callable[[], object], budget: int | None, table: Callable[[tuple[int, ...], int, int], str], name: str):
        self.mb = mb
        self.clock = clock
        self.budget = budget
        self.table_module = table
        self.name = name
        self._consts: dict[tuple[int, int], object] = {}
        self._delays: dict[tuple[int, int], object] = {}
        self._extracts: dict[tuple, object] = {}  # keyed by the value itself (kept alive: ids are reused)
        self._resized: dict[tuple[int, int, bool], object] = {}
        self._tables = 0
        self.registers = 0

    # -- raw ops ---------------------------------------------------------------------------

    def constant(self, code: int, width: int):
        code &= (1 << width) - 1
        key = (width, code)
        if key not in self._consts:
            self._consts[key] = self.mb.constant(code, width)
        return self._consts[key]

    def width(self, v) -> int:
        return self.mb.width(v)

    def bits(self, s: Sig):
        return self.constant(s.lo, s.width) if s.is_const else s.value

    def extract(self, v, low: int, width: int):
        if low == 0 and self.mb.width(v) == width:
            return v
        key = (v, low, width)
        if key not in self._extracts:
            self._extracts[key] = self.mb.extract(v, low, width)
        return self._extracts[key]

    def concat(self, parts: Sequence):
        """Concatenation, most significant part first."""
        parts = [p for p in parts if self.mb.width(p) > 0]
        if len(parts) == 1:
            return parts[0]
        return self.mb.concat(parts)

    def resize(self, s: Sig, width: int) -> SSAValue:
        """The code of s in exactly ``width`` bits: sign/zero extended, or its low bits."""
        if s.is_const:
            return self.constant(s.lo, width)
        if width == s.width:
            return s.value
        if width < s.width:
            return self.extract(s.value, 0, width)
        key = (s.value, width, s.signed)
        if key in self._resized:
            return self._resized[key]
        ext = width - s.width
        if s.signed:
            msb = self.extract(s.value, s.width - 1, 1)
            top = msb if ext == 1 else self.mb.replicate(msb, ext)
        else:
            top = self.constant(0, ext)
        self._resized[key] = self.concat([top, s.value])
        return self._resized[key]

    # -- pipelining ------------------------------------------------------------------------

    def sync(self, sigs: Sequence[Sig], cost: int) -> tuple[list[Sig], int, int]:
        """Bring operands to one stage for an op of ``cost`` adder levels: (operands, stage, depth after)."""
        live = [s for s in sigs if not s.is_const and s.stage >= 0]
        if not live:  # constants and static (configuration) values only: no timing
            return list(sigs), -1, 0
        stage = max(s.stage for s in live)
        depth = max(s.depth for s in live if s.stage == stage)
        if self.budget and cost and depth + cost > self.budget:
            stage, depth = stage + 1, 0
        return [self.delay(s, stage) for s in sigs], stage, depth + cost

    def delay(self, s: Sig, stage: int) -> Sig:
        """s, registered until ``stage`` (register chains are shared)."""
        if s.is_const or s.stage < 0 or s.stage >= stage:
            return s
        v = s.value
        root = v
        for st in range(s.stage + 1, stage + 1):
            key = (root, st)
            if key not in self._delays:
                self._delays[key] = self.mb.reg(v, self.clock(), name=f"{self.name}_s{st}_r{len(self._delays)}")
                self.registers += s.width
            v = self._delays[key]
        return replace(s, value=v, stage=stage, depth=0)

    # -- arithmetic ------------------------------------------------------------------------

    def add(self, a: Sig, b: Sig, sub: bool = False, known: FixedFormat | None = None, moved: Fraction = 0) -> Sig:
        """Exact ``a + b`` (or ``a - b``); the result is proven to lie in ``known``'s range
        moved by the value ``moved``."""
        if b.is_const and sub:
            b, sub = Sig.const(-b.lo, b.frac), False
        if a.is_const and b.is_const:
            f = max(a.frac, b.frac)
            (x, _), (y, _) = a.at_frac(f), b.at_frac(f)
            return Sig.const(x - y if sub else x + y, f)
        if b.is_const and b.lo == 0:
            return a
        if a.is_const and a.lo == 0:
            return self.neg(b) if sub else b
        if not sub and a.frac < b.frac:
            a, b = b, a  # the finer operand first: its low bits pass through
        frac = max(a.frac, b.frac)
        (alo, ahi), (blo, bhi) = a.at_frac(frac), b.at_frac(frac)
        lo, hi = (alo - bhi, ahi - blo) if sub else (alo + blo, ahi + bhi)
        if known is not None:
            if moved:  # the codes on this grid of the values known's range holds, moved
                scale = Fraction(2) ** frac
                klo = math.ceil((known.min_value + moved) * scale)
                khi = math.floor((known.max_value + moved) * scale)
            else:
                klo, khi = _range_on_grid(known, frac)
            lo, hi = max(lo, klo), min(hi, khi)
        drop = a.frac - b.frac
        if drop > 0:  # a + (b << drop): a's low bits are the result's low bits, no adder there
            low = Sig(self.extract(self.resize(a, max(a.width, drop)), 0, drop), drop, False, 0, 0, (1 << drop) - 1, a.stage, a.depth)
            high = self.shift_up(self.add(self.floor(a, drop), b, sub), 0)
            high = self.shift_up(high, b.frac - high.frac)  # a folded constant may sit on a coarser grid
            (high, low), stage, depth = self.sync([high, low], 0)
            value = self.concat([self.bits(high), low.value])
            return Sig(value, high.width + drop, high.signed, frac, lo, hi, stage, depth)
        width, signed = _fit(lo, hi)
        (a, b), stage, depth = self.sync([a, b], ADD_COST)
        if drop < 0:  # a - (b finer): no pass-through (registers hold a before its zero bits)
            a = self.shift_up(a, -drop)
        x, y = self.resize(a, width), self.resize(b, width)
        v = self.mb.binary("sub" if sub else "add", x, y, width)
        return Sig(v, width, signed, frac, lo, hi, stage, depth)

    def floor(self, a: Sig, n: int) -> Sig:
        """``floor(a / 2**n)`` on the grid n bits coarser: a's high bits."""
        if n <= 0:
            return a
        lo, hi = a.lo >> n, a.hi >> n
        if a.is_const:
            return Sig.const(lo, a.frac - n)
        if a.width <= n:  # only sign bits remain
            if not a.signed:
                return Sig.const(0, a.frac - n)
            msb = self.extract(a.value, a.width - 1, 1)
            return Sig(msb, 1, True, a.frac - n, lo, hi, a.stage, a.depth)
        v = self.extract(a.value, n, a.width - n)
        return Sig(v, a.width - n, a.signed, a.frac - n, lo, hi, a.stage, a.depth)

    def shift_up(self, a: Sig, n: int) -> Sig:
        """The same value on a grid n bits finer (n zero bits appended)."""
        if n <= 0:
            return a
        if a.is_const:  # the code on the finer grid, deliberately not re-normalized
            code = a.lo << n
            return Sig(None, *_fit(code, code), a.frac + n, code, code)
        v = self.concat([a.value, self.constant(0, n)])
        return replace(a, value=v, width=a.width + n, frac=a.frac + n, lo=a.lo << n, hi=a.hi << n)

    def scale(self, a: Sig, by: int) -> Sig:
        """``a * 2**by``: the same code read on a coarser grid (no logic)."""
        if a.is_const:
            return Sig.const(a.lo, a.frac - by)
        return replace(a, frac=a.frac - by)

    def neg(self, a: Sig) -> Sig:
        if a.is_const:
            return Sig.const(-a.lo, a.frac)
        lo, hi = -a.hi, -a.lo
        width, signed = _fit(lo, hi)
        (a,), stage, depth = self.sync([a], ADD_COST)
        v = self.mb.binary("sub", self.constant(0, width), self.resize(a, width), width)
        return Sig(v, width, signed, a.frac, lo, hi, stage, depth)

    def sum_terms(self, terms: Sequence[tuple[Sig, int]]) -> Sig:
        """Exact sum of signed terms (sign +1/-1): the earliest-ready, narrowest two first."""
        items = []
        const = None
        for k, (s, g) in enumerate(terms):
            if s.is_const:
                c = Sig.const(g * s.lo, s.frac)
                const = c if const is None else self.add(const, c)
            else:
                items.append((s.stage, s.depth, s.width, k, s, g))
        if const is not None and const.lo != 0:
            items.append((-1, -1, const.width, len(terms), const, 1))
        if not items:
            return const if const is not None else Sig.const(0, 0)
        heapq.heapify(items)
        seq_no = len(terms) + 1
        while len(items) > 1:
            *_, s1, g1 = heapq.heappop(items)
            *_, s2, g2 = heapq.heappop(items)
            if g1 < 0 < g2:
                s1, g1, s2, g2 = s2, g2, s1, g1
            s = self.add(s1, s2, sub=g1 != g2)
            heapq.heappush(items, (s.stage, s.depth, s.width, seq_no, s, g1))
            seq_no += 1
        *_, s, g = items[0]
        return self.neg(s) if g < 0 else s

    def mul(self, a: Sig, b: Sig) -> Sig:
        """Exact ``a * b``: shift-and-add when one side is constant, else a multiplier."""
        if b.is_const:
            return self.mul_const(a, b.lo, b.frac)
        if a.is_const:
            return self.mul_const(b, a.lo, a.frac)
        ends = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        lo, hi = min(ends), max(ends)
        width, signed = _fit(lo, hi)
        (a, b), stage, depth = self.sync([a, b], MUL_COST)
        v = self.mb.binary("mul", self.resize(a, width), self.resize(b, width), width)
        return Sig(v, width, signed, a.frac + b.frac, lo, hi, stage, depth)

    def mul_const(self, a: Sig, code: int, frac: int) -> Sig:
        """``a * (code * 2**-frac)`` by canonical signed digits: one adder per extra digit."""
        from fmlc.passes.adder_graph import csd

        if code == 0:
            return Sig.const(0, 0)
        if a.is_const:
            return Sig.const(a.lo * code, a.frac + frac)
        terms = [(self.scale(a, pos - frac), sign) for pos, sign in csd(code)]
        return self.sum_terms(terms)

    # -- bits and comparisons --------------------------------------------------------------

    def bit(self, a: Sig, k: int) -> Sig:
        """Bit k of a's code (sign-extended beyond its width), as a 0/1 Sig."""
        if a.is_const:
            return Sig.const((a.lo >> k) & 1, 0)
        if k >= a.width:
            if not a.signed:
                return Sig.const(0, 0)
            k = a.width - 1
        return Sig(self.extract(a.value, k, 1), 1, False, 0, 0, 1, a.stage, a.depth)

    def any_bits(self, a: Sig, low: int, high: int) -> Sig:
        """OR of bits low..high-1 of a's code."""
        if high <= low:
            return Sig.const(0, 0)
        if a.is_const:
            return Sig.const(int(((a.lo >> low) & ((1 << (high - low)) - 1)) != 0), 0)
        v = self.extract(self.resize(a, max(a.width, high)), low, high - low)
        if high - low == 1:
            return Sig(v, 1, False, 0, 0, 1, a.stage, a.depth)
        r = self.mb.icmp("ne", v, self.constant(0, high - low))
        return Sig(r, 1, False, 0, 0, 1, a.stage, a.depth)

    def logic(self, kind: str, *xs: Sig) -> Sig:
        """and / or / not of 0/1 Sigs (constants fold)."""
        if kind == "not":
            (x,) = xs
            if x.is_const:
                return Sig.const(1 - x.lo, 0)
            (x,), stage, depth = self.sync([x], 0)
            return Sig(self.mb.binary("xor", x.value, self.constant(1, 1), 1), 1, False, 0, 0, 1, stage, depth)
        consts = [x.lo for x in xs if x.is_const]
        live = [x for x in xs if not x.is_const]
        if kind == "and":
            if any(c == 0 for c in consts):
                return Sig.const(0, 0)
        elif kind == "or":
            if any(c == 1 for c in consts):
                return Sig.const(1, 0)
        if not live:
            return Sig.const(0 if kind != "and" else 1, 0)
        if len(live) == 1:
            return live[0]
        live, stage, depth = self.sync(live, 0)
        v = live[0].value
        for x in live[1:]:
            v = self.mb.binary(kind, v, x.value, 1)
        return Sig(v, 1, False, 0, 0, 1, stage, depth)

    def lt_const(self, a: Sig, c: int) -> Sig:
        """``a < c`` for a constant code c on a's grid: bit tests at powers of two, else a comparator."""
        if a.hi < c:
            return Sig.const(1, 0)
        if a.lo >= c:
            return Sig.const(0, 0)
        if c == 0:
            return self.bit(a, a.width - 1)
        if c > 0 and c & (c - 1) == 0:  # a < 2**k: no 1 among the bits from k up (a >= 0 assumed when unsigned)
            k = c.bit_length() - 1
            above = self.any_bits(a, k, a.width - 1 if a.signed else a.width)
            if a.signed:
                return self.logic("or", self.bit(a, a.width - 1), self.logic("not", above))
            return self.logic("not", above)
        if c < 0 and (-c) & (-c - 1) == 0:  # a < -2**k: negative and not all ones from k up
            k = (-c).bit_length() - 1
            ones = self._all_ones(a, k, a.width - 1)
            return self.logic("and", self.bit(a, a.width - 1), self.logic("not", ones))
        return self.compare(a, Sig.const(c, a.frac), "lt")

    def _all_ones(self, a: Sig, low: int, high: int) -> Sig:
        if high <= low:
            return Sig.const(1, 0)
        v = self.extract(a.value, low, high - low)
        r = self.mb.icmp("eq", v, self.constant(-1, high - low))
        return Sig(r, 1, False, 0, 0, 1, a.stage, a.depth)

    def eq_const(self, a: Sig, c: int) -> Sig:
        if not a.lo <= c <= a.hi:
            return Sig.const(0, 0)
        if a.is_const:
            return Sig.const(1, 0)
        width = max(a.width, _fit(c, c)[0])
        r = self.mb.icmp("eq", self.resize(a, width), self.constant(c, width))
        return Sig(r, 1, False, 0, 0, 1, a.stage, a.depth)

    def compare(self, a: Sig, b: Sig, pred: str) -> Sig:
        """``a pred b`` (lt, le, gt, ge) on exact values, as a 0/1 Sig."""
        frac = max(a.frac, b.frac)
        (alo, ahi), (blo, bhi) = a.at_frac(frac), b.at_frac(frac)
        static = {
            "lt": (ahi < blo, alo >= bhi),
            "le": (ahi <= blo, alo > bhi),
            "gt": (alo > bhi, ahi <= blo),
            "ge": (alo >= bhi, ahi < blo),
        }[pred]
        if static[0]:
            return Sig.const(1, 0)
        if static[1]:
            return Sig.const(0, 0)
        a, b = self.shift_up(a, frac - a.frac), self.shift_up(b, frac - b.frac)
        width, signed = _fit(min(alo, blo), max(ahi, bhi))
        (a, b), stage, depth = self.sync([a, b], ADD_COST)
        p = ("s" if signed else "u") + pred
        r = self.mb.icmp(p, self.resize(a, width), self.resize(b, width))
        return Sig(r, 1, False, 0, 0, 1, stage, depth)

    def mux(self, cond: Sig, a: Sig, b: Sig) -> Sig:
        """``cond ? a : b`` on exact values."""
        if cond.is_const:
            return a if cond.lo else b
        frac = max(a.frac, b.frac)
        a, b = self.shift_up(a, frac - a.frac), self.shift_up(b, frac - b.frac)
        lo, hi = min(a.lo, b.lo), max(a.hi, b.hi)
        width, signed = _fit(lo, hi)
        (cond, a, b), stage, depth = self.sync([cond, a, b], 0)
        v = self.mb.mux(cond.value, self.resize(a, width), self.resize(b, width))
        return Sig(v, width, signed, frac, lo, hi, stage, depth)

    def maximum(self, a: Sig, b: Sig) -> Sig:
        return self.mux(self.compare(a, b, "ge"), a, b)

    def minimum(self, a: Sig, b: Sig) -> Sig:
        return self.mux(self.compare(a, b, "le"), a, b)

    # -- the cast --------------------------------------------------------------------------

    def cast(self, a: Sig, dst: FixedFormat, biased: int = 0, relu: bool = False) -> Sig:
        """Round, then handle overflow, exactly as ``fixed.cast`` (docs/semantics.md).

        ``biased``: a already holds ``v + r``, r the rounding constant of dst's mode (half a
        result LSB for RND and RND_CONV, less one unit of a for RND_MIN_INF), added with a
        bias for free; rounding is then a truncation (and, for RND_CONV, clearing the LSB on
        a tie).  ``relu``: max(., 0) between rounding and overflow (rounding commutes with it).
        """
        if a.is_const:
            code = fixed.cast(np.array([max(a.lo - biased, 0) if relu else a.lo - biased], dtype=object), a.frac, dst)
            return Sig.const(int(code[0]), dst.frac)
        drop = a.frac - dst.frac
        if biased:
            q, lo_r, hi_r = self._round_biased(a, drop, dst.rounding, biased)
            inc = None
        else:
            lo_r, hi_r = round_code(a.lo, drop, dst.rounding), round_code(a.hi, drop, dst.rounding)
            if drop <= 0:
                q, inc = self.shift_up(a, -drop), None
            else:
                q, inc = self.floor(a, drop), self._round_increment(a, drop, dst.rounding)
                if inc is not None and inc.is_const:
                    q, inc = (self.add(q, Sig.const(1, q.frac)) if inc.lo else q), None
        if relu and lo_r < 0:
            if inc is not None:
                q, inc = self._increment(q, inc, lo_r, hi_r), None
            q = self.mux(self.lt_const(q, 0), Sig.const(0, q.frac), q)
            lo_r, hi_r = max(lo_r, 0), max(hi_r, 0)
        return self._overflow(q, inc, lo_r, hi_r, dst)

    def _round_biased(self, a: Sig, drop: int, mode: str, r: int) -> tuple[Sig, int, int]:
        """Round ``v = a - r`` (a biased by mode's constant r): floor(a / 2**drop), RND_CONV
        clearing the LSB on a tie (a's dropped bits all zero).  Returns (q, exact range of q)."""
        lo_r, hi_r = round_code(a.lo - r, drop, mode), round_code(a.hi - r, drop, mode)
        q = self.floor(a, drop)
        if mode == "RND_CONV":
            tie = self.logic("not", self.any_bits(a, 0, drop))
            width, signed = _fit(min(lo_r, q.lo), max(hi_r, q.hi))
            (q, tie), stage, depth = self.sync([q, tie], 0)
            v = self.resize(q, width)
            lsb = self.logic("and", Sig(self.extract(v, 0, 1), 1, False, 0, 0, 1, stage, depth), self.logic("not", tie))
            v = self.concat([self.extract(v, 1, width - 1), lsb.value]) if width > 1 else lsb.value
            q = Sig(v, width, signed, q.frac, lo_r, hi_r, stage, depth)
        return replace(q, lo=lo_r, hi=hi_r) if q.width >= _fit(lo_r, hi_r)[0] else q, lo_r, hi_r

    def _overflow(self, q: Sig, inc: Sig | None, lo_r: int, hi_r: int, dst: FixedFormat) -> Sig:
        """Step 2 of the cast: ``q + inc`` (exact range lo_r..hi_r) into dst's range."""
        if dst.min_code <= lo_r and hi_r <= dst.max_code:  # nothing overflows
            if inc is None:
                return replace(q, lo=max(q.lo, lo_r), hi=min(q.hi, hi_r))
            return self._increment(q, inc, lo_r, hi_r)
        w = dst.width
        if dst.overflow == "WRAP":
            return self._wrap(q, inc, w, dst.signed)
        mode = dst.overflow
        top, bottom = dst.max_code, dst.min_code
        if mode == "SAT_SYM" and dst.signed and w > 1:
            bottom = -top
        over = self._beyond(q, inc, top, above=True) if hi_r > top else Sig.const(0, 0)
        under = self._beyond(q, inc, bottom, above=False) if lo_r < bottom else Sig.const(0, 0)
        hi_val, lo_val = (0, 0) if mode == "SAT_ZERO" else (top, bottom)
        # saturate first, then increment the W-bit result: the select folds into the
        # incrementer's LUTs (one LUT a bit), and a saturated value takes no increment
        low = self._wrap(q, None, w, dst.signed)
        out = self.mux(over, Sig.const(hi_val, dst.frac), self.mux(under, Sig.const(lo_val, dst.frac), low))
        if inc is not None:
            inc = self.logic("and", inc, self.logic("not", over), self.logic("not", under))
            out = self._wrap(out, inc, w, dst.signed)
        if mode == "SAT_ZERO":  # what stays in range, and 0
            in_lo, in_hi = max(lo_r, bottom), min(hi_r, top)
            rlo, rhi = (min(in_lo, 0), max(in_hi, 0)) if in_lo <= in_hi else (0, 0)
        else:
            rlo, rhi = min(max(lo_r, bottom), top), min(max(hi_r, bottom), top)
        return self._narrow(out, max(rlo, out.lo), min(rhi, out.hi))

    def _narrow(self, s: Sig, lo: int, hi: int) -> Sig:
        """s known to stay in lo..hi: drop the bits that range does not need."""
        width, signed = _fit(lo, hi)
        if s.is_const or width >= s.width:
            return replace(s, lo=lo, hi=hi)
        return replace(s, value=self.resize(s, width), width=width, signed=signed, lo=lo, hi=hi)

    def _round_increment(self, a: Sig, drop: int, mode: str) -> Sig | None:
        """The 0/1 added to ``floor(a / 2**drop)``, from the dropped bits (docs/semantics.md table)."""
        if mode == "TRN":
            return None
        sign = self.bit(a, a.width - 1) if a.signed else Sig.const(0, 0)
        if mode == "TRN_ZERO":
            return self.logic("and", sign, self.any_bits(a, 0, drop))
        half = self.bit(a, drop - 1)
        rest = self.any_bits(a, 0, drop - 1)
        if mode == "RND":
            return half
        if mode == "RND_MIN_INF":
            return self.logic("and", half, rest)
        if mode == "RND_ZERO":
            return self.logic("and", half, self.logic("or", rest, sign))
        if mode == "RND_INF":
            return self.logic("and", half, self.logic("or", rest, self.logic("not", sign)))
        if mode == "RND_CONV":
            return self.logic("and", half, self.logic("or", rest, self.bit(a, drop)))
        raise AssertionError(mode)

    def _increment(self, q: Sig, inc: Sig, lo: int, hi: int) -> Sig:
        width, signed = _fit(lo, hi)
        (q, inc), stage, depth = self.sync([q, inc], ADD_COST)
        v = self.mb.binary("add", self.resize(q, width), self.resize(inc, width), width)
        return Sig(v, width, signed, q.frac, lo, hi, stage, depth)

    def _wrap(self, q: Sig, inc: Sig | None, width: int, signed: bool) -> Sig:
        """``(q + inc) mod 2**width`` read as the destination's codes: a width-bit incrementer."""
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        if inc is not None and inc.is_const and inc.lo == 0:
            inc = None
        if inc is None:
            (q,), stage, depth = self.sync([q], 0)
            return Sig(self.resize(q, width), width, signed, q.frac, lo, hi, stage, depth)
        (q, inc), stage, depth = self.sync([q, inc], ADD_COST)
        v = self.mb.binary("add", self.resize(q, width), self.resize(inc, width), width)
        return Sig(v, width, signed, q.frac, lo, hi, stage, depth)

    def _beyond(self, q: Sig, inc: Sig | None, limit: int, above: bool) -> Sig:
        """Whether ``q + inc`` is above (or below) ``limit``, from bit tests on q."""
        if above:
            past = self.logic("not", self.lt_const(q, limit + 1))  # q > limit
            if inc is None:
                return past
            return self.logic("or", past, self.logic("and", self.eq_const(q, limit), inc))
        past = self.lt_const(q, limit)  # q < limit
        if inc is None:
            return past
        # q + 1 == limit is back in range
        return self.logic("and", past, self.logic("not", self.logic("and", self.eq_const(q, limit - 1), inc)))

    # -- tables ----------------------------------------------------------------------------

    def lookup(self, x: Sig, table: np.ndarray, in_fmt: FixedFormat, out_frac: int) -> Sig:
        """``table[code(x) - min_code]`` (codes of the result format)."""
        offset = in_fmt.min_code
        reach = table[x.lo - offset : x.hi - offset + 1]
        lo, hi = int(reach.min()), int(reach.max())
        if x.is_const or lo == hi:
            return Sig.const(int(table[x.lo - offset]), out_frac) if x.is_const else Sig.const(lo, out_frac)
        width, signed = _fit(lo, hi)
        (x,), stage, depth = self.sync([x], TABLE_COST)
        index = self.resize(x, in_fmt.width)
        if in_fmt.signed:  # code - min_code: flip the sign bit
            index = self.mb.binary("xor", index, self.constant(1 << (in_fmt.width - 1), in_fmt.width), in_fmt.width)
        entries = tuple(int(v) & ((1 << width) - 1) for v in table)
        module = self.table_module(entries, in_fmt.width, width)
        (value,) = self.mb.instance(f"{self.name}_lut{self._tables}", module, [("index", index)], [("value", width)])
        self._tables += 1
        return Sig(value, width, signed, out_frac, lo, hi, stage, depth)


# ============================================================================================
# Op lowerings: tensors are numpy object arrays of Sigs
# ============================================================================================


class Env:
    """The Sig tensors of one module body, and how to read constants and weights."""

    def __init__(self, logic: Logic, layer: str):
        self.logic = logic
        self.layer = layer
        self.tensors: dict[SSAValue, np.ndarray] = {}
        self.registers: dict[SSAValue, np.ndarray] = {}  # programmable constants: Sigs of registers
        self.biased: dict[SSAValue, np.ndarray] = {}  # tensors holding v + r (Fractions r, per element)
        self.forward: dict[tuple[Operation, int], SSAValue] = {}  # yield operand -> next fused node's argument

    def users(self, v: SSAValue) -> list[Operation] | None:
        """The ops of this module reading v (through fused node boundaries); None if v leaves it."""
        ops: list[Operation] = []
        for use in v.uses:
            if isinstance(use.operation, dataflow.YieldOp):
                nxt = self.forward.get((use.operation, use.index))
                if nxt is None:
                    return None
                more = self.users(nxt)
                if more is None:
                    return None
                ops += more
            else:
                ops.append(use.operation)
        return ops

    def rounding_fold(self, v: SSAValue) -> tuple[Operation, Fraction] | None:
        """Whether v's only path is lossless casts into one cast/relu that rounds with RND,
        RND_CONV or RND_MIN_INF: that consumer and its rounding constant r (a value)."""
        while True:
            users = self.users(v)
            if users is None or len(users) != 1:
                return None
            u = users[0]
            if not isinstance(u, fxp.CastOp | fxp.ReluOp):
                return None
            src, dst = element_format(u.input), element_format(u.result)
            if isinstance(u, fxp.CastOp) and dst.contains(src):
                v = u.result
                continue
            if dst.rounding not in ("RND", "RND_CONV", "RND_MIN_INF") or src.frac <= dst.frac:
                return None
            r = Fraction(1, 2 ** (dst.frac + 1)) if dst.frac >= -1 else Fraction(2 ** (-dst.frac - 1))
            if dst.rounding == "RND_MIN_INF":
                r -= Fraction(1, 2**src.frac) if src.frac >= 0 else Fraction(2 ** (-src.frac))
            return u, r

    def __getitem__(self, v: SSAValue) -> np.ndarray:
        if v in self.tensors:
            return self.tensors[v]
        owner = v.owner
        if isinstance(owner, fxp.ConstantOp):
            frac = owner.format.frac
            arr = np.empty(owner.codes().shape, dtype=object)
            for idx, c in np.ndenumerate(owner.codes()):
                arr[idx] = Sig.const(int(c), frac)
            self.tensors[v] = arr
            return arr
        raise LoweringError(f"node '{self.layer}': no hardware value for an operand of {owner.name if isinstance(owner, Operation) else 'a block argument'}")

    def codes(self, v: SSAValue) -> np.ndarray | None:
        """The constant codes of v, unless v is programmable (or not a constant)."""
        if v in self.registers or not isinstance(v.owner, fxp.ConstantOp):
            return None
        return v.owner.codes()

    def fail(self, op: Operation, why: str) -> LoweringError:
        return LoweringError(f"node '{self.layer}': {op_label(op)} {why}")


LOWERINGS: dict[type, Callable[[Operation, Env], None]] = {}


def lowering(*types: type):
    def register(fn):
        for t in types:
            LOWERINGS[t] = fn
        return fn

    return register


def _map(fn, *arrays: np.ndarray) -> np.ndarray:
    arrays = np.broadcast_arrays(*arrays)
    out = np.empty(arrays[0].shape, dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = fn(*(a[idx] for a in arrays))
    return out


def _rank_align(a: np.ndarray, rank: int) -> np.ndarray:
    return a.reshape((1,) * (rank - a.ndim) + a.shape)


def lower_op(op: Operation, env: Env) -> None:
    fn = LOWERINGS.get(type(op))
    if fn is None:
        raise env.fail(op, "has no hardware lowering in the Verilog target")
    fn(op, env)


@lowering(fxp.ConstantOp)
def _constant(op: fxp.ConstantOp, env: Env) -> None:
    pass  # read lazily by its users (Env.__getitem__ / Env.codes)


def _code(r: Fraction, frac: int) -> int:
    """A rational that lies on the grid 2**-frac, as its code there."""
    c = r * Fraction(2) ** frac
    assert c.denominator == 1, (r, frac)
    return int(c)


def _biased_cast(env: Env, op, relu: bool) -> bool:
    """Lower a cast (or relu) of a biased tensor: pass a lossless cast through, fold the rounding."""
    rs = env.biased.get(op.input)
    if rs is None:
        return False
    L = env.logic
    src, dst = element_format(op.input), element_format(op.result)
    x = env[op.input]
    if not relu and dst.contains(src):  # a lossless cast: the value, still biased, on dst's grid
        env.tensors[op.result] = _map(lambda a: L.shift_up(a, dst.frac - a.frac), x)
        env.biased[op.result] = rs
        return True
    skip = not dst.signed and dst.overflow != "WRAP"

    def one(a: Sig, r) -> Sig:
        if r == 0:  # this element had no bias to take the rounding constant
            if relu and not skip and a.lo < 0:
                a = L.mux(L.lt_const(a, 0), Sig.const(0, 0), a)
            return L.cast(a, dst)
        return L.cast(a, dst, biased=_code(r, a.frac), relu=relu and not skip)

    env.tensors[op.result] = _map(one, x, rs)
    return True


@lowering(fxp.CastOp)
def _cast(op, env):
    if _biased_cast(env, op, relu=False):
        return
    dst = element_format(op.result)
    env.tensors[op.result] = _map(lambda s: env.logic.cast(s, dst), env[op.input])


def _binary(fn):
    def lower(op, env):
        dst = element_format(op.result)
        rank = len(shape_of(op.result))
        a, b = _rank_align(env[op.lhs], rank), _rank_align(env[op.rhs], rank)
        env.tensors[op.result] = _map(lambda x, y: env.logic.cast(fn(env.logic, x, y), dst), a, b)

    return lower


lowering(fxp.AddOp)(_binary(lambda L, a, b: L.add(a, b)))
lowering(fxp.SubOp)(_binary(lambda L, a, b: L.add(a, b, sub=True)))
lowering(fxp.MulOp)(_binary(lambda L, a, b: L.mul(a, b)))
lowering(fxp.MaximumOp)(_binary(lambda L, a, b: L.maximum(a, b)))
lowering(fxp.MinimumOp)(_binary(lambda L, a, b: L.minimum(a, b)))


@lowering(fxp.ReluOp)
def _relu(op, env):
    if _biased_cast(env, op, relu=True):
        return
    dst = element_format(op.result)
    L = env.logic
    zero = Sig.const(0, 0)
    # an unsigned saturating result already sends every negative value to 0
    skip = not dst.signed and dst.overflow != "WRAP"

    def one(x: Sig) -> Sig:
        if not skip and x.lo < 0:
            x = L.mux(L.lt_const(x, 0), zero, x)
        return L.cast(x, dst)

    env.tensors[op.result] = _map(one, env[op.input])


@lowering(fxp.LeakyReluOp)
def _leaky_relu(op, env):
    dst = element_format(op.result)
    rank = len(shape_of(op.result))
    L = env.logic
    alpha = _rank_align(env[op.alpha], rank)

    def one(x: Sig, a: Sig) -> Sig:
        if x.lo >= 0:
            return L.cast(x, dst)
        return L.cast(L.mux(L.lt_const(x, 0), L.mul(x, a), x), dst)

    env.tensors[op.result] = _map(one, env[op.input], alpha)


@lowering(fxp.ThresholdedReluOp)
def _thresholded_relu(op, env):
    dst = element_format(op.result)
    f = element_format(op.input)
    L = env.logic
    # x > alpha  <=>  code > floor(alpha * 2**F)
    limit = int(np.floor(Fraction(op.alpha.value.data) * Fraction(2) ** f.frac))
    zero = Sig.const(0, 0)
    env.tensors[op.result] = _map(lambda x: L.cast(L.mux(L.lt_const(x, limit + 1), zero, x), dst), env[op.input])


@lowering(fxp.TableOp)
def _table(op, env):
    fin, fout = element_format(op.input), element_format(op.result)
    table = op.codes()
    env.tensors[op.result] = _map(lambda x: env.logic.lookup(x, table, fin, fout.frac), env[op.input])


@lowering(fxp.SoftmaxOp)
def _softmax(op, env):
    L = env.logic
    diff, expf, total, inv = (t.format for t in (op.diff_type, op.exp_type, op.sum_type, op.inv_type))
    exp_table, inv_table = fxp.codes_of(op.exp_table), fxp.codes_of(op.inv_table)
    dst = element_format(op.result)
    x = env[op.input]
    out = np.empty(x.shape, dtype=object)
    for lead in np.ndindex(x.shape[:-1]):
        row = list(x[lead])
        m = _tree(row, L.maximum)
        es = []
        for v in row:
            d = L.cast(L.add(m, v, sub=True), diff)
            es.append(L.lookup(d, exp_table, diff, expf.frac))
        s = L.cast(L.sum_terms([(e, 1) for e in es]), total)
        r = L.lookup(s, inv_table, total, inv.frac)
        for k, e in enumerate(es):
            out[lead + (k,)] = L.cast(L.mul(e, r), dst)
    env.tensors[op.result] = out


def _tree(items: list[Sig], fn) -> Sig:
    """Reduce with a balanced tree."""
    while len(items) > 1:
        nxt = [fn(items[k], items[k + 1]) for k in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def _windows(x: np.ndarray, kernel, strides, dilations, padding) -> np.ndarray:
    """(*out, taps, C) object array; padded taps are None."""
    n = len(kernel)
    spatial, c = x.shape[:-1], x.shape[-1]
    out_shape = fxp.conv_output_shape(spatial, kernel, strides, dilations, padding)
    taps = list(np.ndindex(*kernel))
    out = np.empty(tuple(out_shape) + (len(taps), c), dtype=object)
    for o in np.ndindex(*out_shape):
        for t, tap in enumerate(taps):
            pos = tuple(o[d] * strides[d] + tap[d] * dilations[d] - padding[d] for d in range(n))
            if all(0 <= pos[d] < spatial[d] for d in range(n)):
                out[o + (t,)] = x[pos]
    return out


@lowering(fxp.MaxPoolOp)
def _maxpool(op, env):
    L = env.logic
    kernel, strides, padding = op.window()
    fin, dst = element_format(op.input), element_format(op.result)
    win = _windows(env[op.input], kernel, strides, (1,) * len(kernel), padding)
    out = np.empty(win.shape[:-2] + win.shape[-1:], dtype=object)
    for o in np.ndindex(win.shape[:-2]):
        for c in range(win.shape[-1]):
            taps = [s for s in win[o][:, c] if s is not None]
            m = _tree(taps, L.maximum) if taps else Sig.const(fin.min_code, fin.frac)
            out[o + (c,)] = L.cast(m, dst)
    env.tensors[op.result] = out


@lowering(fxp.AvgPoolOp)
def _avgpool(op, env):
    from fmlc.emulator import reciprocal_codes, window_counts

    L = env.logic
    kernel, strides, padding = op.window()
    scale, dst = op.scale_type.format, element_format(op.result)
    counts = window_counts(shape_of(op.input), kernel, strides, padding, op.includes_pad)
    recips = reciprocal_codes(counts, scale)
    win = _windows(env[op.input], kernel, strides, (1,) * len(kernel), padding)
    out = np.empty(win.shape[:-2] + win.shape[-1:], dtype=object)
    for o in np.ndindex(win.shape[:-2]):
        for c in range(win.shape[-1]):
            s = L.sum_terms([(t, 1) for t in win[o][:, c] if t is not None])
            out[o + (c,)] = L.cast(L.mul_const(s, int(recips[o]), scale.frac), dst)
    env.tensors[op.result] = out


@lowering(fxp.GlobalMaxPoolOp)
def _global_maxpool(op, env):
    L = env.logic
    dst = element_format(op.result)
    x = env[op.input].reshape(-1, shape_of(op.input)[-1])
    env.tensors[op.result] = np.array([L.cast(_tree(list(x[:, c]), L.maximum), dst) for c in range(x.shape[1])], dtype=object)


@lowering(fxp.GlobalAvgPoolOp)
def _global_avgpool(op, env):
    L = env.logic
    scale, dst = op.scale_type.format, element_format(op.result)
    x = env[op.input].reshape(-1, shape_of(op.input)[-1])
    recip = fixed.from_fraction(Fraction(1, x.shape[0]), scale)
    out = []
    for c in range(x.shape[1]):
        s = L.sum_terms([(t, 1) for t in x[:, c]])
        out.append(L.cast(L.mul_const(s, recip, scale.frac), dst))
    env.tensors[op.result] = np.array(out, dtype=object)


@lowering(fxp.BatchNormOp)
def _batchnorm(op, env):
    L = env.logic
    dst = element_format(op.result)
    s, t = env[op.scale], env[op.shift]
    env.tensors[op.result] = _map(lambda x, a, b: L.cast(L.add(L.mul(x, a), b), dst), env[op.input], s, t)


@lowering(fxp.MultiThresholdOp)
def _multithreshold(op, env):
    L = env.logic
    fx, ft = element_format(op.input), element_format(op.thresholds)
    thr = env.codes(op.thresholds)
    if thr is None:
        raise env.fail(op, "needs constant thresholds")
    dst = element_format(op.result)
    frac = max(fx.frac, ft.frac)
    thr = np.sort(thr.astype(object) * (1 << (frac - ft.frac)), axis=1)
    x = env[op.input]
    if thr.shape[0] == 1:
        thr = np.repeat(thr, x.shape[-1], axis=0)
    sc, sc_frac = fixed.code_of_float_exact(op.out_scale.value.data)
    bi, bi_frac = fixed.code_of_float_exact(op.out_bias.value.data)
    out = np.empty(x.shape, dtype=object)
    for idx in np.ndindex(x.shape):
        v = L.shift_up(x[idx], frac - fx.frac)
        # count of thresholds <= x: one comparison each (sorted, so the count is monotone)
        hits = [L.logic("not", L.lt_const(v, int(t))) for t in thr[idx[-1]]]
        count = L.sum_terms([(h, 1) for h in hits])
        y = L.add(L.mul_const(count, sc, sc_frac), Sig.const(bi, bi_frac))
        out[idx] = L.cast(y, dst)
    env.tensors[op.result] = out


@lowering(fxp.ReshapeOp)
def _reshape(op, env):
    env.tensors[op.result] = env[op.input].reshape(shape_of(op.result))


@lowering(fxp.FlattenOp)
def _flatten(op, env):
    env.tensors[op.result] = env[op.input].reshape(-1)


@lowering(fxp.TransposeOp)
def _transpose(op, env):
    env.tensors[op.result] = np.transpose(env[op.input], fxp.ints(op.perm))


@lowering(fxp.PadOp)
def _pad(op, env):
    pads = fxp.ints(op.padding)
    n = len(pads) // 2
    x = env[op.input]
    out = np.empty(shape_of(op.result), dtype=object)
    zero = Sig.const(0, 0)
    out.fill(zero)
    out[tuple(slice(pads[d], pads[d] + x.shape[d]) for d in range(n))] = x
    env.tensors[op.result] = out


@lowering(fxp.ConcatOp)
def _concat(op, env):
    env.tensors[op.result] = np.concatenate([env[v] for v in op.inputs], axis=op.axis.value.data)


@lowering(rtl.PatchesOp)
def _patches(op, env):
    kernel, strides, dilations, padding = op.window()
    win = _windows(env[op.input], kernel, strides, dilations, padding)
    zero = Sig.const(0, 0)
    flat = win.reshape(win.shape[:-2] + (-1,))
    env.tensors[op.result] = np.where(np.equal(flat, None), zero, flat)


def _bias_outputs(op: rtl.AdderGraphOp) -> dict[Operation, tuple[int, int]]:
    """Each rtl.constant of the graph -> (the output it adds to, its sign there): the pass
    gives every output's tree its own bias constant."""
    found = {}
    for c in op.block.ops:
        if not isinstance(c, rtl.ConstantOp):
            continue
        v, sign = c.result, 1
        while True:
            uses = list(v.uses)
            if len(uses) != 1:
                break
            user = uses[0].operation
            if isinstance(user, rtl.YieldOp):
                found[c] = (uses[0].index, sign)
                break
            if isinstance(user, rtl.NegOp) or (isinstance(user, rtl.SubOp) and user.rhs is v):
                sign = -sign
            elif not isinstance(user, rtl.AddOp | rtl.SubOp):
                break
            v = user.results[0]
    return found


def _const_sig(value: Fraction) -> Sig:
    """A constant Sig of an exact dyadic rational."""
    frac = value.denominator.bit_length() - 1
    return Sig.const(_code(value, frac), frac)


@lowering(rtl.AdderGraphOp)
def _adder_graph(op: rtl.AdderGraphOp, env):
    """Evaluate the graph per row; each adder's width comes from its exact type in the IR.

    When the graph's outputs only go (through lossless casts) into a cast that rounds half
    up, half to even or half down, that rounding constant joins each output's bias constant:
    the rounding then costs no incrementer (``Logic.cast(biased=...)``)."""
    L = env.logic
    x = env[op.input]
    ops = [o for o in op.block.ops if not isinstance(o, rtl.YieldOp)]
    outputs = op.block.last_op.values
    m = shape_of(op.result)[-1]
    fold = env.rounding_fold(op.result)
    extra: dict[Operation, Fraction] = {}
    rs = np.zeros(m, dtype=object)
    if fold is not None:
        for c, (k, sign) in _bias_outputs(op).items():
            extra[c] = sign * fold[1]  # so that the output gains +r
            rs[k] = fold[1]
    shifted: dict[SSAValue, Fraction] = {}  # values carrying a rounding constant: their type's range moves by it
    for c, r in extra.items():
        v = c.result
        while True:
            shifted[v] = r
            use = next(iter(v.uses))
            if isinstance(use.operation, rtl.YieldOp):
                break
            if isinstance(use.operation, rtl.NegOp) or (isinstance(use.operation, rtl.SubOp) and use.operation.rhs is v):
                r = -r
            v = use.operation.results[0]
    out = np.empty(x.shape[:-1] + (m,), dtype=object)
    for lead in np.ndindex(x.shape[:-1]):
        vals: dict[SSAValue, Sig] = dict(zip(op.block.args, x[lead]))
        for o in ops:
            if isinstance(o, rtl.ShiftOp):
                vals[o.result] = L.scale(vals[o.input], o.by.data)
            elif isinstance(o, rtl.AddOp | rtl.SubOp):
                t = o.result.type.format
                vals[o.result] = L.add(vals[o.lhs], vals[o.rhs], sub=isinstance(o, rtl.SubOp), known=t, moved=shifted.get(o.result, 0))
            elif isinstance(o, rtl.NegOp):
                vals[o.result] = L.neg(vals[o.input])
            elif isinstance(o, rtl.ConstantOp):
                t = o.result.type.format
                vals[o.result] = _const_sig(Fraction(o.value.data) * Fraction(2) ** -t.frac + extra.get(o, 0))
            else:
                raise env.fail(o, "is not an adder-graph operation")
        for k, v in enumerate(outputs):
            out[lead + (k,)] = vals[v]
    env.tensors[op.result] = out
    if any(r != 0 for r in rs):
        env.biased[op.result] = np.broadcast_to(rs, out.shape).copy()


# -- dense and conv, the general rule (any accumulator, constant or programmable weights) ----


def _accumulate(L: Logic, terms: list[Sig], bias: Sig | None, acc: FixedFormat) -> Sig:
    """``sum(terms) + bias`` in the accumulator (terms on its grid or coarser): exact when the
    sum's range fits it, else a tree of adders modulo ``2**acc.width`` (the sum wraps)."""
    items = [t for t in terms if not (t.is_const and t.lo == 0)]
    if bias is not None:
        items.append(bias)
    if not items:
        return Sig.const(0, 0)
    lo = sum(t.at_frac(acc.frac)[0] for t in items)
    hi = sum(t.at_frac(acc.frac)[1] for t in items)
    if acc.min_code <= lo and hi <= acc.max_code:
        return L.sum_terms([(t, 1) for t in items])
    wrap = acc.with_modes(rounding="TRN", overflow="WRAP")
    return _tree([L.cast(t, wrap) for t in items], lambda a, b: L.cast(L.add(a, b), wrap))


@lowering(fxp.DenseOp, fxp.ConvOp)
def _linear(op, env):
    L = env.logic
    fx, fw = element_format(op.input), element_format(op.weight)
    if not isinstance(op.acc, fxp.FixedType):
        raise env.fail(op, "has an unresolved !fxp.auto accumulator: run precision inference first")
    acc = op.acc.format
    wrap_acc = acc.with_modes(overflow="WRAP")
    dst = element_format(op.result)
    w = env[op.weight]
    bias = env[op.bias] if op.bias is not None else None
    x = env[op.input]
    per_product = acc.frac < fx.frac + fw.frac
    if isinstance(op, fxp.ConvOp):
        kernel, strides, dilations, padding, groups = op.window()
        rows = _windows(x, kernel, strides, dilations, padding)  # (*out, taps, C)
        cg, f = w.shape[-2], w.shape[-1]
        fg = f // groups
        wt = w.reshape(-1, cg, f)  # (taps, C/g, F)
    else:
        rows = x.reshape(x.shape[:-1] + (1, x.shape[-1]))
        cg, f, fg, groups = x.shape[-1], w.shape[-1], w.shape[-1], 1
        wt = w.reshape(1, cg, f)
    biases = [L.cast(bias[m], acc) if bias is not None else None for m in range(f)]
    out = np.empty(rows.shape[:-2] + (f,), dtype=object)
    for lead in np.ndindex(rows.shape[:-2]):
        win = rows[lead]
        for m in range(f):
            g = m // fg
            terms = []
            for t in range(win.shape[0]):
                for c in range(cg):
                    xv = win[t, g * cg + c]
                    wv = wt[t, c, m]
                    if xv is None or (wv.is_const and wv.lo == 0):
                        continue
                    p = L.mul(xv, wv)
                    terms.append(L.cast(p, wrap_acc) if per_product else p)
            out[lead + (m,)] = L.cast(_accumulate(L, terms, biases[m], acc), dst)
    env.tensors[op.result] = out
