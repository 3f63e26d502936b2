"""Exact fixed-point arithmetic as CIRCT comb/seq logic: signals (``Sig``) and the builder (``Logic``).

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
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from fmlc import fixed
from fmlc.fixed import FixedFormat, narrowest_format, round_code
from fmlc.lowering.hw_builder import ModuleBuilder, Wire

ADD_COST = 1
TABLE_COST = 1
MUL_COST = 2

class LoweringError(RuntimeError):
    """An operation cannot become hardware as written; the message names the op and why."""


class LoweringBug(RuntimeError):
    """A lowering raised something unforeseen: a bug in fmlc, not a limit of the input.  Kept
    apart from ``LoweringError`` so that the command line reports it as an internal error
    (exit 70), with the node where it happened."""


# ============================================================================================
# Signals
# ============================================================================================


@dataclass(eq=False, slots=True)
class Sig:
    """A scalar fixed-point signal: ``width`` bits holding codes ``lo..hi`` at ``frac``, or a constant."""

    value: Wire | None  # None: the constant code lo (== hi)
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
    """Width and signedness of the narrowest two's complement (or unsigned) holding lo..hi
    (``fixed.narrowest_format``'s, without building a format: this runs for every signal)."""
    if lo < 0:
        return max(hi.bit_length(), (-lo - 1).bit_length()) + 1, True
    return max(hi.bit_length(), 1), False


def _clip(lo: int, hi: int, frac: int, within: tuple[int, int, int] | None) -> tuple[int, int]:
    """The codes lo..hi at ``frac`` narrowed to ``within``: (lowest code, highest code, their frac)."""
    if within is None:
        return lo, hi
    wlo, whi, wfrac = within
    shift = wfrac - frac
    if shift >= 0:
        return max(lo, -((-wlo) >> shift)), min(hi, whi >> shift)
    return max(lo, wlo << -shift), min(hi, whi << -shift)


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
    ``table(codes, in_width, out_width)`` gives the name of a module looking up a table;
    ``new_module`` starts another module of the design (for logic instantiated many times).
    """

    def __init__(
        self,
        mb: ModuleBuilder,
        clock: Callable[[], object],
        budget: int | None,
        table: Callable[[tuple[int, ...], int, int], str],
        name: str,
        new_module: Callable[[str, Sequence[tuple[str, int]]], ModuleBuilder] | None = None,
    ):
        self.mb = mb
        self.clock = clock
        self.budget = budget
        self.table_module = table
        self.name = name
        self.new_module = new_module
        """``new_module(base name, ports)``: a module of the design, named uniquely after ``base``."""
        self._consts: dict[tuple[int, int], object] = {}
        self._delays: dict[tuple[int, int], object] = {}
        self._extracts: dict[tuple, object] = {}  # keyed by the value itself (kept alive: ids are reused)
        self._resized: dict[tuple[int, int, bool], object] = {}
        self._inverted: dict[object, object] = {}
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

    def resize(self, s: Sig, width: int) -> Wire:
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
        stage = depth = -1  # the latest stage of a timed operand, and its deepest depth there
        for s in sigs:  # one loop, no generators: called for every adder of every row
            if s.stage > stage and not s.is_const:
                stage, depth = s.stage, s.depth
            elif s.stage == stage and s.depth > depth and not s.is_const:
                depth = s.depth
        if stage < 0:  # constants and static (configuration) values only: no timing
            return list(sigs), -1, 0
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
        return Sig(v, s.width, s.signed, s.frac, s.lo, s.hi, stage, 0)

    # -- arithmetic ------------------------------------------------------------------------

    def add(self, a: Sig, b: Sig, sub: bool = False, known: FixedFormat | None = None, moved: Fraction = 0, within: tuple[int, int, int] | None = None) -> Sig:
        """Exact ``a + b`` (or ``a - b``); the result is proven to lie in ``known``'s range
        moved by the value ``moved``, and in ``within``: (lowest code, highest code, their frac)."""
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
        lo, hi = _clip(lo, hi, frac, within)
        drop = a.frac - b.frac
        if drop > 0:  # a + (b << drop): a's low bits are the result's low bits, no adder there
            low = self.low_bits(a, drop)
            high = self.shift_up(self.add(self.floor(a, drop), b, sub), 0)
            high = self.shift_up(high, b.frac - high.frac)  # a folded constant may sit on a coarser grid
            return self._above(high, low, frac, lo, hi)
        width, signed = _fit(lo, hi)
        (a, b), stage, depth = self.sync([a, b], ADD_COST)
        if drop < 0:  # a - (b finer): no pass-through (registers hold a before its zero bits)
            a = self.shift_up(a, -drop)
        x, y = self.resize(a, width), self.resize(b, width)
        v = self.mb.binary("sub" if sub else "add", x, y, width)
        return Sig(v, width, signed, frac, lo, hi, stage, depth)

    @staticmethod
    def minus_plus(a: Sig, b: Sig, guard: bool) -> int | None:
        """The constant P of ``minus(a, b, P, guard)``, a code on the finer grid of the two, or
        None where the form does not apply (constants, signed signals, or b all below a's
        grid).  On the adder's grid P is T, the value of the bit just above b's bits (the
        result is ``a + ~b + 1``), or T - 1 with ``guard`` (``a + ~b``); a b finer than a by d
        bits adds 2**d - 1 (its low bits pass by the adder inverted)."""
        if a.is_const or b.is_const or a.signed or b.signed:
            return None
        drop = a.frac - b.frac
        if a.width <= drop or b.width <= -drop:
            return None
        top = 1 << (b.width + min(drop, 0))
        plus = top - 1 if guard else top
        return plus << drop if drop >= 0 else (plus << -drop) + (1 << -drop) - 1

    def minus(self, a: Sig, b: Sig, plus: int, guard: bool = False, within: tuple[int, int, int] | None = None) -> Sig:
        """``a - b + plus`` for unsigned a and b, plus from ``minus_plus``: an adder that reads
        no operand inverted.  ``within`` bounds the difference a - b as in ``add``.

        Written as the subtraction ``x - y`` modulo the result's width W, y = b with ones in
        every bit above b's up to W (so no bit of a meets a zero of y: an inverter on the sum
        input there), which also keeps y from being an adder's output as it is: Yosys's
        ``alumacc`` cannot merge the adder computing b into this one.  With ``guard`` both
        operands get one more bit below, x a zero and y a one, and the result is the
        difference's bits above it (``(2a - 2y - 1) >> 1 = a + ~b``): neither operand is then
        an adder's output as it is, whatever bits later adders read, which keeps an adder
        computing a, read by this one alone, out of it too, for one more carry bit.  Unlike
        ``a + ~b``, no operand is inverted before the adder: Yosys feeds the minuend to the
        carry chain's DI inputs as it is and folds the subtrahend's inversion into the sum
        LUTs, so no inverter cell is left.  Bits below the coarser operand's grid pass by the
        adder: a's as they are, b's inverted (2**d - 1 - low, linear in b)."""
        drop = a.frac - b.frac
        frac = max(a.frac, b.frac)
        scale = 1 << abs(drop)
        dlo, dhi = (a.lo - b.hi * scale, a.hi - b.lo * scale) if drop >= 0 else (a.lo * scale - b.hi, a.hi * scale - b.lo)
        dlo, dhi = _clip(dlo, dhi, frac, within)
        if drop:  # the bits below the coarser grid pass by the adder
            d = abs(drop)
            if drop > 0:  # a's low bits as they are
                low = self.low_bits(a, d)
                bounds = (dlo >> d, dhi >> d, frac - d)
                high = self.minus(self.floor(a, d), b, plus >> d, guard, bounds)
            else:  # b's low bits inverted: 2**d - 1 - low
                low = self.invert(self.low_bits(b, d))
                bounds = (-((-dlo) >> d), -((-dhi) >> d), frac - d)
                high = self.minus(a, self.floor(b, d), (plus - scale + 1) >> d, guard, bounds)
            return self._above(high, low, frac, dlo + plus, dhi + plus)
        lo, hi = dlo + plus, dhi + plus
        width, _ = _fit(lo, hi)
        (a, b), stage, depth = self.sync([a, b], ADD_COST)
        ones = max(width - b.width, 0)
        y = self.resize(b, min(b.width, width))
        y = self.concat([self.constant((1 << ones) - 1, ones), y]) if ones else y
        if guard:
            x = self.concat([self.resize(a, width), self.constant(0, 1)])
            v = self.extract(self.mb.binary("sub", x, self.concat([y, self.constant(1, 1)]), width + 1), 1, width)
        else:
            v = self.mb.binary("sub", self.resize(a, width), y, width)
        return Sig(v, width, False, frac, lo, hi, stage, depth)

    def _above(self, high: Sig, low: Sig, frac: int, lo: int, hi: int) -> Sig:
        """high's bits above low's (bits that passed by an adder): one signal of codes lo..hi at frac."""
        (high, low), stage, depth = self.sync([high, low], 0)
        value = self.concat([self.bits(high), low.value])
        return Sig(value, high.width + low.width, high.signed, frac, lo, hi, stage, depth)

    def low_bits(self, a: Sig, n: int) -> Sig:
        """a's n lowest bits as an unsigned signal (zeros where a has fewer): the bits below
        the other operand's grid, which pass by an adder."""
        v = self.extract(self.resize(a, max(a.width, n)), 0, n)
        return Sig(v, n, False, 0, 0, (1 << n) - 1, a.stage, a.depth)

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
        return Sig(v, a.width + n, a.signed, a.frac + n, a.lo << n, a.hi << n, a.stage, a.depth)

    def on_grid(self, a: Sig, frac: int) -> Sig:
        """a with its code read at ``frac`` fractional bits, as a format of that grid holds it.
        A Sig may sit on a coarser grid than its op's type (constants and adders drop trailing
        zero bits); wherever codes are compared with constants or index a table, they must
        first come back to the type's grid."""
        if a.frac > frac:
            raise AssertionError(f"a signal at {a.frac} fractional bits read at {frac}: it would lose bits")
        return self.shift_up(a, frac - a.frac)

    def scale(self, a: Sig, by: int) -> Sig:
        """``a * 2**by``: the same code read on a coarser grid (no logic)."""
        if a.is_const:
            return Sig.const(a.lo, a.frac - by)
        return Sig(a.value, a.width, a.signed, a.frac - by, a.lo, a.hi, a.stage, a.depth)

    def invert(self, a: Sig) -> Sig:
        """``~a`` within a's width, a unsigned: the code ``2**W - 1 - a`` (an inverter a bit,
        which the adder reading it absorbs into its LUTs)."""
        top = (1 << a.width) - 1
        if a.is_const:
            return Sig.const(top - a.lo, a.frac)
        v = self._inverted.get(a.value)
        if v is None:
            v = self._inverted[a.value] = self.mb.binary("xor", a.value, self.constant(top, a.width), a.width)
        return Sig(v, a.width, False, a.frac, top - a.hi, top - a.lo, a.stage, a.depth)

    def set_bit(self, a: Sig, pos: int) -> Sig:
        """``a + 2**pos`` for an unsigned a of at most ``pos`` bits: a one above its bits (wiring)."""
        top = 1 << pos
        parts = [self.constant(1, 1)] + ([self.constant(0, pos - a.width)] if pos > a.width else []) + [a.value]
        return Sig(self.concat(parts), pos + 1, False, a.frac, a.lo + top, a.hi + top, a.stage, a.depth)

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
        if inc is None:
            out = self._charge_select(out)
        else:  # the incrementer's adder level pays for the select folded into it
            inc = self.logic("and", inc, self.logic("not", over), self.logic("not", under))
            out = self._wrap(out, inc, w, dst.signed)
        if mode == "SAT_ZERO":  # what stays in range, and 0
            in_lo, in_hi = max(lo_r, bottom), min(hi_r, top)
            rlo, rhi = (min(in_lo, 0), max(in_hi, 0)) if in_lo <= in_hi else (0, 0)
        else:
            rlo, rhi = min(max(lo_r, bottom), top), min(max(hi_r, bottom), top)
        return self._narrow(out, max(rlo, out.lo), min(rhi, out.hi))

    def _charge_select(self, out: Sig) -> Sig:
        """A saturating select with no incrementer after it, charged one adder level where the
        stage has one left.

        The overflow test reads many high bits and the select drives every output bit: about an
        adder's depth.  Left free, a stage could hold a whole budget of adder levels with the
        select among them (the next layer's first adders behind it), and abc9 folded the wide
        test into each reader's LUTs (MUXF7s, duplicated per fan-out).  Charged, those adders
        start the next stage and the registers sit on the narrow saturated codes.  A select that
        ends a full stage stays there, so it never moves the registers onto the wide value it
        reads (which would cost flip-flops)."""
        if not self.budget or out.stage < 0 or out.is_const or out.depth >= self.budget:
            return out
        return replace(out, depth=out.depth + ADD_COST)

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
        x = self.on_grid(x, in_fmt.frac)
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
