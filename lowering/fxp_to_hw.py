"""fxp -> hw: the bit-level logic of every fxp (and rtl) operation, as CIRCT comb/seq ops.

``LOWERINGS`` maps each op type to a function that turns the op's operand tensors (numpy
object arrays of ``hw_logic.Sig``, one scalar fixed-point signal each) into its result tensor,
building the logic through ``hw_logic.Logic``; data movement is numpy on those arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
from xdsl.ir import Operation, SSAValue

from fmlc import fixed
from fmlc.dialects import dataflow, fxp, rtl
from fmlc.dialects.fxp import element_format, shape_of
from fmlc.fixed import FixedFormat
from fmlc.ir import op_label
from fmlc.lowering.hw_logic import ADD_COST, Logic, LoweringError, Sig

# ============================================================================================
# Op lowerings: tensors are numpy object arrays of Sigs
# ============================================================================================


def users_within(v: SSAValue, forward: dict) -> list[Operation] | None:
    """The ops of one module reading v, through the yields of fused nodes (``forward`` maps a
    yield and operand index to the next node's argument); None if v leaves the module."""
    ops: list[Operation] = []
    for use in v.uses:
        if isinstance(use.operation, dataflow.YieldOp):
            nxt = forward.get((use.operation, use.index))
            if nxt is None:
                return None
            more = users_within(nxt, forward)
            if more is None:
                return None
            ops += more
        else:
            ops.append(use.operation)
    return ops


def rounding_fold(v: SSAValue, forward: dict) -> tuple[Operation, Fraction] | None:
    """Whether v's only path in its module is lossless casts into one cast/relu that rounds with
    RND, RND_CONV or RND_MIN_INF: that consumer and its rounding constant r (a value)."""
    while True:
        users = users_within(v, forward)
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


class Env:
    """The Sig tensors of one module body, and how to read constants and weights."""

    def __init__(self, logic: Logic, layer: str):
        self.logic = logic
        self.layer = layer
        self.tensors: dict[SSAValue, np.ndarray] = {}
        self.registers: dict[SSAValue, np.ndarray] = {}  # programmable constants: Sigs of registers
        self.biased: dict[SSAValue, np.ndarray] = {}  # tensors holding v + r (Fractions r, per element)
        self.forward: dict[tuple[Operation, int], SSAValue] = {}  # yield operand -> next fused node's argument

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
        if (r * Fraction(2) ** a.frac).denominator != 1:  # a sits on a coarser grid than r (trailing zeros dropped)
            a = L.on_grid(a, src.frac)
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
    env.tensors[op.result] = _map(lambda x: L.cast(L.mux(L.lt_const(L.on_grid(x, f.frac), limit + 1), zero, x), dst), env[op.input])


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
        v = L.on_grid(x[idx], frac)
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


@lowering(fxp.UpsampleOp)
def _upsample(op, env):
    """Nearest neighbour is wiring: each input signal drives factor-many outputs per spatial axis."""
    y = env[op.input]
    for d, f in enumerate(fxp.ints(op.factors)):
        y = np.repeat(y, f, axis=d)
    env.tensors[op.result] = y


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


@dataclass(frozen=True, slots=True)
class _Offset:
    """A value of an adder graph as ``sign * u + c``: ``u`` an unsigned signal (None: the
    value is the constant c), c an integer code on the graph's finest grid (``_Grid``),
    added once per output."""

    u: Sig | None
    sign: int
    c: int
    adder: bool = False
    """u is an adder's output as it is (not a graph input, not inverted)."""


@dataclass(frozen=True)
class _Grid:
    """The finest grid of an adder graph, ``2**-frac``: every constant of it is a code there."""

    frac: int

    def code(self, code: int, frac: int) -> int:
        """A code on grid ``frac`` as a code on this grid.  A finer grid than this one only
        occurs for constants that lie on this grid too (a zero written at ``frac`` 0 in a
        graph whose grid is coarser than 1)."""
        shift = self.frac - frac
        if shift >= 0:
            return code << shift
        if code & ((1 << -shift) - 1):
            raise AssertionError(f"code {code} at {frac} fractional bits is not on the graph's grid ({self.frac})")
        return code >> -shift

    def top(self, s: Sig) -> int:
        """The bit just above an unsigned signal's bits."""
        return self.code(1 << s.width, s.frac)

    def ones(self, s: Sig) -> int:
        """All of an unsigned signal's bits set."""
        return self.top(s) - self.code(1, s.frac)

    def bounds(self, fmt: FixedFormat, sign: int, c: int) -> tuple[int, int, int]:
        """The codes of u where ``sign * u + c`` lies in fmt's range (``Logic.add``'s ``within``)."""
        lo, hi = self.code(fmt.min_code, fmt.frac) - c, self.code(fmt.max_code, fmt.frac) - c
        return (lo, hi, self.frac) if sign > 0 else (-hi, -lo, self.frac)


def _unsigned(L: Logic, x: Sig, grid: _Grid) -> _Offset:
    """An input as an unsigned signal plus a constant: a signed code with its sign bit
    flipped is the code plus 2**(W-1), unsigned (one inverter)."""
    if x.is_const:
        return _Offset(None, 1, grid.code(x.lo, x.frac))
    if x.lo >= 0:
        return _Offset(x if not x.signed else replace(x, signed=False), 1, 0)
    half = 1 << (x.width - 1)
    flipped = L.mb.binary("xor", x.value, L.constant(half, x.width), x.width)
    u = Sig(flipped, x.width, False, x.frac, x.lo + half, x.hi + half, x.stage, x.depth)
    return _Offset(u, 1, -grid.code(half, x.frac))


def _combine(L: Logic, grid: _Grid, a: _Offset, b: _Offset, sub: bool, fmt: FixedFormat, keep: tuple[bool, bool]) -> _Offset:
    """``a + b`` (or ``a - b``), its value in fmt's range: one adder of unsigned signals.

    No operand is ever sign-extended: the bits above an unsigned operand are zeros, which
    cost no LUT; the constants go to c.  Two rules are for the synthesis tool (Yosys 0.23,
    ``synth_xilinx``):

    - An operand that another adder computes for this one alone (``keep`` false) must not
      reach this adder as it is: ``alumacc`` would merge the two into a carry-save tree,
      which costs more LUTs than the two carry chains.  It comes inverted (``~u``), inside
      ``{1, 0..., u}`` (u plus a constant power of two above it) as a subtraction's minuend,
      inside ``{1...1, u}`` as a subtrahend, or with a guard bit below (``Logic.minus``).
    - An inverter costs nothing where the adder's sum LUT absorbs it, but Yosys feeds an
      addition's first operand (the lesser signal, by its own order) and a subtraction's
      minuend to the carry chain's DI inputs, where an inverted operand needs an ``INV`` cell;
      and it costs a LUT of its own where the other operand has no bit: never invert the
      wider operand of an addition.

    With ``big`` the operand whose bits reach higher (the wider adder port), ``K`` the value
    of the bit above it, T the value of the bit above small's, and s the common sign:

    - same signs, both kept: ``big + small``;
    - same signs otherwise: ``(K + small) - ~big`` (= big + small + K - ones_big);
    - opposite signs, ``big`` kept: ``big - {1...1, small}`` (= big - small + T);
    - opposite signs otherwise: the same with a guard bit, ``({big, 0} - {1...1, small, 1}) >> 1``
      (= big - small + T - 1);
    - opposite signs with small all below big's grid (rare): ``big + ~small``, or
      ``(K + ~small) - ~big`` where big is not kept.
    """
    if sub:
        b = _Offset(b.u, -b.sign, -b.c, b.adder)
    c = a.c + b.c
    if a.u is None or b.u is None:
        live = a if b.u is None else b
        return _Offset(live.u, live.sign, c, live.adder)
    keep = (keep[0] or not a.adder, keep[1] or not b.adder)  # only an adder's output can merge
    (ua, ub), _, _ = L.sync([a.u, b.u], ADD_COST)  # registered as they are, inverted after the registers
    a, b = _Offset(ua, a.sign, a.c, a.adder), _Offset(ub, b.sign, b.c, b.adder)
    (big, keep_big), (small, keep_small) = ((a, keep[0]), (b, keep[1])) if grid.top(a.u) >= grid.top(b.u) else ((b, keep[1]), (a, keep[0]))
    s, top = big.sign, grid.top(big.u)
    if big.sign == small.sign:
        if keep_big and keep_small:
            return _Offset(L.add(big.u, small.u, within=grid.bounds(fmt, s, c)), s, c, True)
        c -= s * (top - grid.ones(big.u))
        u = L.add(_plus_top(L, grid, small.u, top), L.invert(big.u), sub=True, within=grid.bounds(fmt, s, c))
        return _Offset(u, s, c, True)
    # big - small with no operand inverted (Logic.minus); the guard bit wherever big is an
    # adder's output that this adder alone reads
    guard = not keep_big
    plus = L.minus_plus(big.u, small.u, guard)
    if plus is not None:
        difference = grid.bounds(fmt, s, c)  # big - small, with c as it is
        c -= s * grid.code(plus, max(big.u.frac, small.u.frac))
        return _Offset(L.minus(big.u, small.u, plus, guard, difference), s, c, True)
    if keep_big:
        c -= s * grid.ones(small.u)
        return _Offset(L.add(big.u, L.invert(small.u), within=grid.bounds(fmt, s, c)), s, c, True)
    c -= s * (top + grid.ones(small.u) - grid.ones(big.u))
    u = L.add(_plus_top(L, grid, L.invert(small.u), top), L.invert(big.u), sub=True, within=grid.bounds(fmt, s, c))
    return _Offset(u, s, c, True)


def _plus_top(L: Logic, grid: _Grid, u: Sig, top: int) -> Sig:
    """``u + K``, K (a code on the graph's grid) a power of two at or above u's top bit: wiring."""
    pos = top.bit_length() - 1 - (grid.frac - u.frac)  # K's bit on u's grid
    return L.set_bit(u, pos)


def read_by_one_adder(v: SSAValue) -> bool:
    """Whether v is an adder's result (through shifts and negations) that nothing but one
    adder reads."""
    while True:
        owner = v.owner
        if not isinstance(owner, Operation) or not v.has_one_use():
            return False
        if isinstance(owner, rtl.AddOp | rtl.SubOp):
            return True
        if not isinstance(owner, rtl.ShiftOp | rtl.NegOp):
            return False
        v = owner.operands[0]


def graph_frac(op: rtl.AdderGraphOp) -> int:
    """The finest grid of an adder graph's values (fractional bits): where its constants live."""
    body = [o for o in op.block.ops if o.results]
    return max(t.format.frac for t in {v.type for v in op.block.args} | {o.results[0].type for o in body})


def graph_fold(op: rtl.AdderGraphOp, forward: dict) -> tuple[Operation, Fraction] | None:
    """The cast whose rounding constant the graph's output constants carry, and that constant
    (``rounding_fold``), where it lies on the graph's grid."""
    fold = rounding_fold(op.result, forward)
    if fold is None or (fold[1] * Fraction(2) ** graph_frac(op)).denominator != 1:
        return None
    return fold


@lowering(rtl.AdderGraphOp)
def _adder_graph(op: rtl.AdderGraphOp, env):
    """Evaluate the graph per row on unsigned signals (``_Offset``): every value is
    ``sign * u + c`` with u unsigned and c a constant; the constants (biases, the inputs'
    sign offsets, the adders' offsets) meet in one adder per output.

    When the graph's outputs only go (through lossless casts) into a cast that rounds half
    up, half to even or half down, that rounding constant joins the output's constant: the
    rounding then costs no incrementer (``Logic.cast(biased=...)``)."""
    L = env.logic
    x = env[op.input]
    body = [o for o in op.block.ops if not isinstance(o, rtl.YieldOp)]
    outputs = op.block.last_op.values
    m = shape_of(op.result)[-1]
    grid = _Grid(graph_frac(op))
    lsb = Fraction(2) ** -grid.frac  # grid.frac may be negative: exact, never a float
    fold = graph_fold(op, env.forward)
    r = int(fold[1] / lsb) if fold is not None else 0
    steps = []  # the body once, as (kind, result, operands, data): read per row without xDSL
    for o in body:
        result, operands = o.results[0], tuple(o.operands)
        fmt = result.type.format
        if isinstance(o, rtl.ShiftOp):
            steps.append(("shift", result, operands, o.shift))
        elif isinstance(o, rtl.AddOp | rtl.SubOp):
            keep = (not read_by_one_adder(operands[0]), not read_by_one_adder(operands[1]))
            steps.append(("add", result, operands, (isinstance(o, rtl.SubOp), fmt, keep)))
        elif isinstance(o, rtl.NegOp):
            steps.append(("neg", result, operands, None))
        elif isinstance(o, rtl.ConstantOp):
            steps.append(("const", result, operands, grid.code(o.code, fmt.frac)))
        else:
            raise env.fail(o, "is not an adder-graph operation")
    rs = np.zeros(x.shape[:-1] + (m,), dtype=object)
    out = np.empty(x.shape[:-1] + (m,), dtype=object)
    for lead in np.ndindex(x.shape[:-1]):
        vals: dict[SSAValue, _Offset] = {a: _unsigned(L, s, grid) for a, s in zip(op.block.args, x[lead])}
        for kind, result, operands, data in steps:
            if kind == "add":
                vals[result] = _combine(L, grid, vals[operands[0]], vals[operands[1]], *data)
            elif kind == "shift":
                v = vals[operands[0]]
                c = v.c << data if data >= 0 else v.c >> -data  # exact: the shifted value stays on the grid
                vals[result] = _Offset(None if v.u is None else L.scale(v.u, data), v.sign, c, v.adder)
            elif kind == "neg":
                v = vals[operands[0]]
                vals[result] = _Offset(v.u, -v.sign, -v.c, v.adder)
            else:
                vals[result] = _Offset(None, 1, data)
        for k, v in enumerate(outputs):
            off, fmt = vals[v], v.type.format
            if off.u is None:
                out[lead + (k,)] = Sig.const(off.c, grid.frac)
            elif off.sign > 0 and off.c == 0:  # no adder here to carry a rounding constant
                out[lead + (k,)] = off.u
            else:
                # the constant is added to ~u (u's bits inverted: ~u = ones - u), so that Yosys
                # does not merge the adder computing u into this one (see _combine)
                rs[lead + (k,)] = r * lsb if r else 0
                (u,), _, _ = L.sync([off.u], ADD_COST)  # registered as it is, inverted after the register
                off = _Offset(u, off.sign, off.c)
                ones = grid.ones(off.u)
                within = (grid.code(fmt.min_code, fmt.frac) + r, grid.code(fmt.max_code, fmt.frac) + r, grid.frac)
                if off.sign > 0:  # u + c = (c + ones) - ~u
                    out[lead + (k,)] = L.add(Sig.const(off.c + r + ones, grid.frac), L.invert(off.u), sub=True, within=within)
                else:  # c - u = ~u + (c - ones)
                    out[lead + (k,)] = L.add(L.invert(off.u), Sig.const(off.c + r - ones, grid.frac), within=within)
    env.tensors[op.result] = out
    if r:
        env.biased[op.result] = rs


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
    dots = {}  # output index -> (its (input, weight) pairs, its bias)
    for lead in np.ndindex(rows.shape[:-2]):
        win = rows[lead]
        for m in range(f):
            g = m // fg
            pairs = []
            for t in range(win.shape[0]):
                for c in range(cg):
                    xv = win[t, g * cg + c]
                    wv = wt[t, c, m]
                    if xv is None or (wv.is_const and wv.lo == 0):
                        continue
                    pairs.append((xv, wv))
            dots[lead + (m,)] = (pairs, biases[m])
    rule = _DotRule(acc, per_product, dst)
    out = np.empty(rows.shape[:-2] + (f,), dtype=object)
    if op.weight in env.registers and L.new_module is not None:
        _shared_dots(L, dots, rule, out)
    else:
        for idx, (pairs, b) in dots.items():
            out[idx] = rule(L, pairs, b)
    env.tensors[op.result] = out


@dataclass(frozen=True)
class _DotRule:
    """The general rule of a dense/conv output: ``sum(x * w) + b`` in the accumulator (each
    product cast to it first when it rounds), then cast to the result type."""

    acc: FixedFormat
    per_product: bool
    dst: FixedFormat

    def __call__(self, L: Logic, pairs: list[tuple[Sig, Sig]], bias: Sig | None) -> Sig:
        wrap_acc = self.acc.with_modes(overflow="WRAP")
        terms = []
        for xv, wv in pairs:
            p = L.mul(xv, wv)
            terms.append(L.cast(p, wrap_acc) if self.per_product else p)
        return L.cast(_accumulate(L, terms, bias, self.acc), self.dst)


def _shape(s: Sig) -> tuple:
    """What a dot-product module must know of a signal: its bits and arrival (a constant: its code)."""
    return ("const", s.lo, s.frac) if s.is_const else (s.width, s.signed, s.frac, s.stage, s.depth)


def _shared_dots(L: Logic, dots: dict, rule: _DotRule, out: np.ndarray) -> None:
    """Outputs of programmable weights, one module per shape of dot product, instantiated per output.

    With weights in registers, every output of a layer computes the same logic on different
    wires: a dense layer's outputs all read the same inputs and weights of one format.  One
    module a shape (the inputs' and weights' widths, grids and arrivals; value ranges are
    joined over the outputs that share it), instantiated once per output, keeps the IR, the
    Verilog and the simulators' work a fraction of the flat logic's."""
    groups: dict[tuple, list] = {}
    for idx, (pairs, b) in dots.items():
        key = (tuple((_shape(x), _shape(w)) for x, w in pairs), None if b is None else _shape(b))
        groups.setdefault(key, []).append(idx)
    packed_inputs: dict[tuple, object] = {}
    for key, members in groups.items():
        if len(members) == 1:
            pairs, b = dots[members[0]]
            out[members[0]] = rule(L, pairs, b)
            continue
        module, kept, y = _dot_module(L, [dots[i] for i in members], rule)
        if y.is_const:  # the weights do not matter after all (a saturated result, say)
            for idx in members:
                out[idx] = y
            continue
        for idx in members:
            pairs, b = dots[idx]
            inputs = []
            if "clk" in kept:
                inputs.append(("clk", L.clock()))
            for port, sigs in (("x", [x for x, _ in pairs]), ("w", [w for _, w in pairs]), ("b", [b] if b is not None else [])):
                live = tuple(s.value for s in sigs if not s.is_const)
                if port in kept:
                    if live not in packed_inputs:
                        packed_inputs[live] = L.concat(list(reversed(live)))
                    inputs.append((port, packed_inputs[live]))
            (value,) = L.mb.instance(f"{L.name}_dot{'_'.join(map(str, idx))}", module, inputs, [("y", y.width)])
            out[idx] = replace(y, value=value)


def _dot_module(L: Logic, dots: list, rule: _DotRule) -> tuple[str, list[str], Sig]:
    """A module computing one output by ``rule`` for every dot product of ``dots`` (equal
    shapes): (its name, its input ports, its output Sig with the value unset)."""
    pairs0, b0 = dots[0]

    def joined(sigs: list[Sig]) -> Sig:  # a port signal holding every member's range
        return replace(sigs[0], lo=min(s.lo for s in sigs), hi=max(s.hi for s in sigs))

    xs = [joined([d[0][j][0] for d in dots]) for j in range(len(pairs0))]
    ws = [joined([d[0][j][1] for d in dots]) for j in range(len(pairs0))]
    bs = [joined([d[1] for d in dots])] if b0 is not None else []
    ports = [("clk", 0)] + [(n, sum(s.width for s in sigs if not s.is_const)) for n, sigs in (("x", xs), ("w", ws), ("b", bs))]
    ports = [(n, w) for n, w in ports if n == "clk" or w > 0]
    mb = L.new_module(f"{L.mb.name}_dot", ports)
    args = dict(zip([n for n, _ in ports], mb.args))
    inner = Logic(mb, lambda: args["clk"], L.budget, L.table_module, L.name, L.new_module)

    def unpack(name: str, sigs: list[Sig]) -> list[Sig]:
        low, got = 0, []
        for s in sigs:
            if not s.is_const:
                s = replace(s, value=inner.extract(args[name], low, s.width))
                low += s.width
            got.append(s)
        return got

    xs, ws, bs = unpack("x", xs), unpack("w", ws), unpack("b", bs)
    y = rule(inner, list(zip(xs, ws)), bs[0] if bs else None)
    kept = mb.finish([("y", inner.bits(y))], drop_unused=("clk",))
    L.registers += inner.registers * len(dots)
    return mb.name, kept, y
