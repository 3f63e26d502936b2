"""Loop nests for each fxp operation, as ``vhls`` IR (used by ``dataflow-to-hls``).

Every kernel computes exactly what ``docs/semantics.md`` says, in the form that makes C++'s
``ap_fixed`` arithmetic do the work: exact products and sums (``vhls.mul``/``vhls.add`` keep
every bit), then one conversion to the type the IR names (``vhls.cast``, or the store into a
variable of that type).  Dense and conv accumulate as the HLS textbook loop does:
``acc_t acc = bias; acc += acc_t(x * w); y = acc;``.

Kernels come in two shapes:

- *position-wise* (``POSITIONWISE``): the result at one position (all but the last axis)
  depends on the operands at that position only (elementwise ops, dense, softmax over the
  last axis...).  They are called once per position with its multi-index, so a stream can
  feed them one beat at a time.
- *whole* (``WHOLE``): windows and data movement (conv, pooling, transpose, pad, concat...)
  read other positions; they run over whole arrays and loop over positions themselves.

The kernel reads operands through ``Tensor``s (arrays, beats, constant arrays broadcast as
numpy does) and writes the result through ``ctx.out``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from xdsl.ir import Operation, SSAValue

from fmlc import fixed
from fmlc.dialects import fxp, hls
from fmlc.dialects.fxp import element_format, shape_of
from fmlc.emulator import reciprocal_codes, window_counts
from fmlc.fixed import FixedFormat
from fmlc.lowering.hls_builder import Affine, ArrayTensor, Broadcast, Builder, GlobalTensor, Tensor, flat_index


class KernelError(ValueError):
    """An operation the HLS target cannot lower as written; the message names it."""


@dataclass
class KernelContext:
    """What a kernel sees: its op, how its operands are held, and the node's choices."""

    op: Operation
    layer: str
    reuse: int
    tensors: dict[SSAValue, Tensor]
    out: Tensor
    sequential: bool
    """Positions run one after the other (streams) rather than all at once (parallel arrays)."""
    name_type: Callable[[FixedFormat, str], None]
    """Give a type a readable name (a typedef) for the C++, e.g. ``dense_1_accum_t``."""
    tables: dict[str, GlobalTensor]
    """The op's own constant arrays (see ``tables``): lookup tables, reciprocals, levels."""

    def operand(self, v: SSAValue) -> Tensor:
        """An operand, broadcast to the result's rank."""
        return Broadcast(self.tensors[v], len(self.out.shape))

    def constant(self, v: SSAValue, what: str) -> GlobalTensor:
        t = self.tensors[v]
        if not isinstance(t, GlobalTensor):
            raise KernelError(f"{self.label}: the {what} must be an fxp.constant for the HLS target")
        return t

    @property
    def label(self) -> str:
        return f"{self.op.name} in node '{self.layer}'"

    @contextmanager
    def positions(self, b: Builder, shape: Sequence[int], label: str, inner_pipelined: bool = False) -> Iterator[tuple[Builder, list[Affine]]]:
        """Loops over output positions: unrolled (parallel), or one a cycle (streams)."""
        names = loop_names("o", len(shape))
        if self.sequential:
            with b.loops(shape, label, names, unroll=False, pipeline_inner=None if inner_pipelined else 1) as r:
                yield r
        else:
            with b.loops(shape, label, names, unroll=True) as r:
                yield r


def loop_names(prefix: str, n: int) -> list[str]:
    return [prefix] if n == 1 else [f"{prefix}{d}" for d in range(n)]


def _clog2(n: int) -> int:
    return max(0, math.ceil(math.log2(max(n, 1))))


def sum_format(fmt: FixedFormat, terms: int) -> FixedFormat:
    """A type that holds the exact sum of ``terms`` values of ``fmt``."""
    extra = _clog2(terms)
    return FixedFormat(fmt.width + extra, fmt.int_bits + extra, fmt.signed)


def _var(b: Builder, fmt: FixedFormat, name: str, init: SSAValue) -> SSAValue:
    var = b.alloca(fmt, None, name)
    b.add(hls.StoreOp(init, var))
    return var


def _get(b: Builder, var: SSAValue) -> SSAValue:
    return b.value(hls.LoadOp(var))


def _set(b: Builder, var: SSAValue, value: SSAValue) -> None:
    b.add(hls.StoreOp(value, var))


# ============================================================================================
# Dense and convolution
# ============================================================================================


def _acc_format(ctx: KernelContext) -> FixedFormat:
    acc = ctx.op.acc
    if not isinstance(acc, fxp.FixedType):
        raise KernelError(f"{ctx.label} has an unresolved !fxp.auto accumulator: run fxp-infer-precision first")
    fmt = acc.format
    ctx.name_type(fmt, "accum")
    return fmt


def _mac(b: Builder, acc: ArrayTensor, i: Affine, x: SSAValue, w: SSAValue) -> None:
    """``acc[i] += acc_t(x * w)``: the product rounds to the accumulator, the sum wraps in it."""
    fa = acc.fmt
    prod = b.cast(b.mul(x, w), fa)
    acc.store(b, [i], b.cast(b.add_(acc.load(b, [i]), prod), fa))


def _init_acc(ctx: KernelContext, b: Builder, n: int, per: int, bias: GlobalTensor | None) -> ArrayTensor:
    """``acc[n]`` set to the bias (cast to acc_t) of filter ``i % per``, or 0."""
    fa = _acc_format(ctx)
    acc = ArrayTensor(b.alloca(fa, n, "acc"), (n,))
    b.partition(acc.array)
    with b.loop(n, "init", "i", unroll=True) as (lb, i):
        if bias is None:
            value = lb.const(0, fa)
        else:
            f = lb.divmod(i, per)[1] if n != per else i
            value = lb.cast(bias.load(lb, [f]), fa)
        acc.store(lb, [i], value)
    return acc


def _results(ctx: KernelContext, b: Builder, acc: ArrayTensor, pos: list[Affine], n: int, offset: Affine | int = 0) -> None:
    """``y[pos, m] = acc[offset + m]``: the one rounding of the layer."""
    fmt = ctx.out.fmt
    with b.loop(n, "result", "m", unroll=True) as (lb, m):
        ctx.out.store(lb, pos + [m], lb.cast(acc.load(lb, [Affine.of(offset) + m]), fmt))


def dense(ctx: KernelContext, b: Builder, pos: list[Affine]) -> None:
    """One position of ``fxp.dense``; with reuse R, ceil(K*M/R) multipliers serve R products each."""
    op: fxp.DenseOp = ctx.op
    x = ctx.tensors[op.input]
    w = ctx.constant(op.weight, "weight")
    bias = ctx.constant(op.bias, "bias") if op.bias is not None else None
    k_in, m_out = shape_of(op.weight)
    acc = _init_acc(ctx, b, m_out, m_out, bias)
    if ctx.reuse == 1:
        with b.loop(k_in, "mac", "k", unroll=True) as (kb, k):
            xk = x.load(kb, pos + [k])
            xk.name_hint = "xk"
            with kb.loop(m_out, "mac_m", "m", unroll=True) as (mb, m):
                _mac(mb, acc, m, xk, w.load(mb, [k, m]))
    else:
        with _shared_multipliers(ctx, b, k_in * m_out) as (pb, p):
            k, m = pb.divmod(p, m_out, ("k", "m"))
            _mac(pb, acc, m, x.load(pb, pos + [k]), w.load_flat(pb, p))
    _results(ctx, b, acc, pos, m_out)


@contextmanager
def _shared_multipliers(ctx: KernelContext, b: Builder, products: int) -> Iterator[tuple[Builder, Affine]]:
    """hls4ml's Resource strategy: cycle r of R feeds multiplier j with product r + R*j."""
    reuse = ctx.reuse
    mults = -(-products // reuse)
    b.comment(f"{mults} multipliers, each used {reuse} times: product p = r + {reuse} * j")
    with b.loop(reuse, "reuse", "r", pipeline=1) as (rb, r):
        with rb.loop(mults, "mult", "j", unroll=True) as (jb, j):
            p = jb.index(r + j * reuse)
            p.name_hint = "p"
            jb.ranges[p] = (r + j * reuse).bounds(jb.ranges)
            with jb.when(jb.in_range([(Affine.of(p), products)])) as pb:
                yield pb, Affine.of(p)


def conv(ctx: KernelContext, b: Builder) -> None:
    """``fxp.conv``: per output position and filter, the dense rule over the window's taps."""
    op: fxp.ConvOp = ctx.op
    x = ctx.tensors[op.input]
    w = ctx.constant(op.weight, "weight")
    bias = ctx.constant(op.bias, "bias") if op.bias is not None else None
    kernel, strides, dilations, padding, groups = op.window()
    nsp = len(kernel)
    in_shape, out_shape = shape_of(op.input), shape_of(op.result)
    cg, filters = shape_of(op.weight)[-2], shape_of(op.weight)[-1]
    fg = filters // groups

    def taps_to_input(o: list[Affine], t: list[Affine]) -> list[Affine]:
        return [o[d] * strides[d] + t[d] * dilations[d] - padding[d] for d in range(nsp)]

    if ctx.reuse == 1:
        with ctx.positions(b, out_shape[:-1], "out") as (pb, o):
            acc = _init_acc(ctx, pb, filters, filters, bias)
            with pb.loops(kernel, "tap", loop_names("t", nsp), unroll=True) as (tb, t):
                ii = taps_to_input(o, t)
                with tb.when(tb.in_range(list(zip(ii, in_shape)))) as cb:
                    with cb.loop(groups, "group", "g", unroll=True) as (gb, g):
                        with gb.loop(cg, "chan", "c", unroll=True) as (xb, c):
                            xv = x.load(xb, ii + [g * cg + c])
                            xv.name_hint = "xv"
                            with xb.loop(fg, "filt", "f", unroll=True) as (fb, f):
                                fi = g * fg + f
                                _mac(fb, acc, fi, xv, w.load(fb, t + [c, fi]))
            _results(ctx, pb, acc, o, filters)
        return

    products = int(np.prod(kernel)) * cg * filters

    def decode(pb: Builder, p: Affine) -> tuple[list[Affine], Affine, Affine]:
        """Product p = (tap * C/g + c) * F + f: its tap, input channel (in the group) and filter."""
        row, f = pb.divmod(p, filters, ("row", "f"))
        tap, c = pb.divmod(row, cg, ("tap", "c"))
        g = pb.divmod(f, fg)[0]
        return _unravel(pb, tap, kernel), g * cg + c, f

    def mac_one(pb: Builder, acc: ArrayTensor, o: list[Affine], base: Affine | int, p: Affine, t, channel, f) -> None:
        ii = taps_to_input(o, t)
        with pb.when(pb.in_range(list(zip(ii, in_shape)))) as cb:
            _mac(cb, acc, Affine.of(base) + f, x.load(cb, ii + [channel]), w.load_flat(cb, p))

    if ctx.sequential:
        # one output position after the other, each through the shared multipliers
        with ctx.positions(b, out_shape[:-1], "out", inner_pipelined=True) as (pb, o):
            acc = _init_acc(ctx, pb, filters, filters, bias)
            with _shared_multipliers(ctx, pb, products) as (qb, p):
                mac_one(qb, acc, o, 0, p, *decode(qb, p))
            _results(ctx, pb, acc, o, filters)
        return
    # all positions at once: the reuse loop outside, every position's multipliers inside it
    positions = int(np.prod(out_shape[:-1]))
    acc = _init_acc(ctx, b, positions * filters, filters, bias)
    with _shared_multipliers(ctx, b, products) as (qb, p):
        t, channel, f = decode(qb, p)
        with qb.loops(out_shape[:-1], "out", loop_names("o", nsp), unroll=True) as (ob, o):
            base = flat_index(out_shape[:-1], o) * filters
            mac_one(ob, acc, o, base, p, t, channel, f)
    with b.loops(out_shape[:-1], "out", loop_names("o", nsp), unroll=True) as (ob, o):
        _results(ctx, ob, acc, o, filters, flat_index(out_shape[:-1], o) * filters)


def _unravel(b: Builder, e: Affine, dims: Sequence[int]) -> list[Affine]:
    """Multi-index of flat ``e`` in row-major ``dims``."""
    out: list[Affine] = []
    for d in range(len(dims) - 1, 0, -1):
        e, r = b.divmod(e, dims[d], (f"t{d - 1}", f"t{d}"))
        out.append(r)
    out.append(e)
    return out[::-1]


# ============================================================================================
# Elementwise operations (position-wise)
# ============================================================================================


def _elementwise(fn: Callable[[KernelContext, Builder, list[SSAValue], Affine], SSAValue], operands: Callable[[Operation], Sequence[SSAValue]]):
    """A position-wise kernel applying ``fn`` to each channel of the result."""

    def kernel(ctx: KernelContext, b: Builder, pos: list[Affine]) -> None:
        channels = ctx.out.shape[-1]
        tensors = [ctx.operand(v) for v in operands(ctx.op)]
        with b.loop(channels, "chan", "c", unroll=True) as (cb, c):
            args = [t.load(cb, pos + [c]) for t in tensors]
            ctx.out.store(cb, pos + [c], fn(ctx, cb, args, c))

    return kernel


def _binary(rule: Callable[[Builder, SSAValue, SSAValue, FixedFormat], SSAValue]):
    return _elementwise(lambda ctx, b, a, c: rule(b, a[0], a[1], ctx.out.fmt), lambda op: (op.lhs, op.rhs))


def _pick(predicate: str):
    """max/min: compare exactly, then convert the winner (cast(max) = the cast of the larger)."""

    def rule(b: Builder, x: SSAValue, y: SSAValue, fmt: FixedFormat) -> SSAValue:
        return b.select(b.cmp(predicate, x, y), b.cast(x, fmt), b.cast(y, fmt))

    return rule


def _relu(ctx, b, a, c):
    fmt = ctx.out.fmt
    x = a[0]
    zero_x = b.const(0, x.type.format)
    return b.select(b.cmp("gt", x, zero_x), b.cast(x, fmt), b.const(0, fmt))


def _leaky_relu(ctx, b, a, c):
    fmt = ctx.out.fmt
    x, alpha = a
    zero_x = b.const(0, x.type.format)
    return b.select(b.cmp("ge", x, zero_x), b.cast(x, fmt), b.cast(b.mul(x, alpha), fmt))


def _thresholded_relu(ctx, b, a, c):
    """``x > alpha ? x : 0`` with alpha exact: x > alpha <=> code(x) > floor(alpha * 2^F)."""
    from fractions import Fraction

    fmt = ctx.out.fmt
    x = a[0]
    fx = x.type.format
    limit = math.floor(Fraction(ctx.op.alpha.value.data) * Fraction(2) ** fx.frac)
    zero = b.const(0, fmt)
    if limit >= fx.max_code:
        return zero
    if limit < fx.min_code:
        return b.cast(x, fmt)
    return b.select(b.cmp("gt", x, b.const(limit, fx)), b.cast(x, fmt), zero)


def _table(ctx, b, a, c):
    """``table[code(x) - min_code]``: no rounding, the entries are codes of the result."""
    return ctx.tables["table"].load(b, [b.code_index(a[0])])


def _cast(ctx, b, a, c):
    return b.cast(a[0], ctx.out.fmt)


def _batchnorm(ctx, b, a, c):
    x, scale, shift = a
    return b.cast(b.add_(b.mul(x, scale), shift), ctx.out.fmt)


def softmax(ctx: KernelContext, b: Builder, pos: list[Affine]) -> None:
    """``fxp.softmax`` step by step: max, differences, exp table, sum, inverse table, products."""
    op: fxp.SoftmaxOp = ctx.op
    x = ctx.tensors[op.input]
    n = ctx.out.shape[-1]
    diff, expf, total, inv = (t.format for t in (op.diff_type, op.exp_type, op.sum_type, op.inv_type))
    for fmt, role in ((diff, "diff"), (expf, "exp"), (total, "sum"), (inv, "inv")):
        ctx.name_type(fmt, role)
    exp_table = ctx.tables["exp"]
    inv_table = ctx.tables["inv"]
    fx = x.fmt
    best = _var(b, fx, "best", x.load(b, pos + [Affine()]))
    with b.loop(n - 1, "max", "c", unroll=True) as (cb, c):
        v = x.load(cb, pos + [c + 1])
        cur = _get(cb, best)
        _set(cb, best, cb.select(cb.cmp("gt", v, cur), v, cur))
    e = ArrayTensor(b.alloca(expf, n, "e"), (n,))
    b.partition(e.array)
    wide = sum_format(expf, n)
    ctx.name_type(wide, "total")
    total_exact = _var(b, wide, "total", b.const(0, wide))
    with b.loop(n, "exp", "c", unroll=True) as (cb, c):
        d = cb.cast(cb.sub(_get(cb, best), x.load(cb, pos + [c])), diff)
        ec = exp_table.load(cb, [cb.code_index(d)])
        e.store(cb, [c], ec)
        _set(cb, total_exact, cb.cast(cb.add_(_get(cb, total_exact), ec), wide))
    s = b.cast(_get(b, total_exact), total)
    r = inv_table.load(b, [b.code_index(s)])
    r.name_hint = "inv"
    with b.loop(n, "out", "c", unroll=True) as (cb, c):
        ctx.out.store(cb, pos + [c], cb.cast(cb.mul(e.load(cb, [c]), r), ctx.out.fmt))


def multithreshold(ctx: KernelContext, b: Builder, pos: list[Affine]) -> None:
    """``out_bias + out_scale * count(x >= T[c, t])``: the count indexes a table of the results."""
    op: fxp.MultiThresholdOp = ctx.op
    x = ctx.tensors[op.input]
    thr = ctx.constant(op.thresholds, "thresholds")
    rows, steps = shape_of(op.thresholds)
    bits = max(1, steps.bit_length())
    count_fmt = FixedFormat(bits, bits, False)
    ctx.name_type(count_fmt, "count")
    one, zero = b.const(1, count_fmt), b.const(0, count_fmt)
    results = ctx.tables["levels"]
    with b.loop(ctx.out.shape[-1], "chan", "c", unroll=True) as (cb, c):
        xv = x.load(cb, pos + [c])
        xv.name_hint = "xv"
        count = _var(cb, count_fmt, "count", zero)
        row = c if rows > 1 else Affine()
        with cb.loop(steps, "step", "t", unroll=True) as (tb, t):
            hit = tb.select(tb.cmp("ge", xv, thr.load(tb, [row, t])), one, zero)
            _set(tb, count, tb.cast(tb.add_(_get(tb, count), hit), count_fmt))
        ctx.out.store(cb, pos + [c], results.load(cb, [cb.code_index(_get(cb, count))]))


def multithreshold_levels(op: fxp.MultiThresholdOp) -> np.ndarray:
    """Result codes for every count 0..steps (the exact ``bias + scale * count``, cast)."""
    steps = shape_of(op.thresholds)[1]
    bits = max(1, steps.bit_length())
    sc, sc_frac = fixed.code_of_float_exact(op.out_scale.value.data)
    bi, bi_frac = fixed.code_of_float_exact(op.out_bias.value.data)
    frac = max(sc_frac, bi_frac)
    sc <<= frac - sc_frac
    bi <<= frac - bi_frac
    counts = np.arange(1 << bits, dtype=object)
    exact = np.array([bi + sc * int(min(n, steps)) for n in counts], dtype=object)
    return np.asarray(fixed.to_kind(fixed.cast(exact, frac, element_format(op.result)), "int"), dtype=np.int64)


# ============================================================================================
# Pooling (whole)
# ============================================================================================


def _window(ctx: KernelContext, b: Builder, reduce: Callable[[Builder, list[Affine], Callable], None]) -> None:
    op = ctx.op
    kernel, strides, padding = op.window()
    nsp = len(kernel)
    in_shape, out_shape = shape_of(op.input), shape_of(op.result)
    x = ctx.tensors[op.input]
    with ctx.positions(b, out_shape[:-1], "out") as (pb, o):
        with pb.loop(out_shape[-1], "chan", "c", unroll=True) as (cb, c):

            def taps(body: Callable[[Builder, SSAValue], None], cb=cb, c=c, o=o) -> None:
                with cb.loops(kernel, "tap", loop_names("t", nsp), unroll=True) as (tb, t):
                    ii = [o[d] * strides[d] + t[d] - padding[d] for d in range(nsp)]
                    with tb.when(tb.in_range(list(zip(ii, in_shape)))) as ib:
                        body(ib, x.load(ib, ii + [c]))

            reduce(cb, o + [c], taps)


def maxpool(ctx: KernelContext, b: Builder) -> None:
    """Window maximum; taps in the padding are skipped (padding never wins)."""
    fx = ctx.tensors[ctx.op.input].fmt

    def reduce(cb: Builder, idx: list[Affine], taps) -> None:
        best = _var(cb, fx, "best", cb.const(fx.min_code, fx))

        def take(ib: Builder, v: SSAValue) -> None:
            cur = _get(ib, best)
            _set(ib, best, ib.select(ib.cmp("gt", v, cur), v, cur))

        taps(take)
        ctx.out.store(cb, idx, cb.cast(_get(cb, best), ctx.out.fmt))

    _window(ctx, b, reduce)


def avgpool(ctx: KernelContext, b: Builder) -> None:
    """``sum(window) * q(1/n)``, n counting the taps inside the input (or all, count_include_pad)."""
    op: fxp.AvgPoolOp = ctx.op
    kernel, strides, padding = op.window()
    fx = ctx.tensors[op.input].fmt
    wide = sum_format(fx, int(np.prod(kernel)))
    ctx.name_type(wide, "total")
    scale = op.scale_type.format
    ctx.name_type(scale, "scale")
    recips = ctx.tables["recip"]

    def reduce(cb: Builder, idx: list[Affine], taps) -> None:
        total = _var(cb, wide, "total", cb.const(0, wide))
        taps(lambda ib, v: _set(ib, total, ib.cast(ib.add_(_get(ib, total), v), wide)))
        r = recips.load(cb, idx[:-1] if recips.shape else [])
        ctx.out.store(cb, idx, cb.cast(cb.mul(_get(cb, total), r), ctx.out.fmt))

    _window(ctx, b, reduce)


def avgpool_recips(op: Operation) -> np.ndarray:
    """``q(1/n)`` per output position (one value when every window counts the same)."""
    if isinstance(op, fxp.GlobalAvgPoolOp):
        count = int(np.prod(shape_of(op.input)[:-1]))
        return np.array(reciprocal_codes(np.array([count]), op.scale_type.format), dtype=np.int64).reshape(())
    kernel, strides, padding = op.window()
    counts = window_counts(shape_of(op.input), kernel, strides, padding, op.includes_pad)
    recips = np.asarray(reciprocal_codes(counts, op.scale_type.format), dtype=np.int64)
    return recips.reshape(()) if np.all(recips == recips.flat[0]) else recips


def global_pool(ctx: KernelContext, b: Builder) -> None:
    """Global max or average over every position, per channel."""
    op = ctx.op
    in_shape = shape_of(op.input)
    x = ctx.tensors[op.input]
    fx = x.fmt
    count = int(np.prod(in_shape[:-1]))
    is_max = isinstance(op, fxp.GlobalMaxPoolOp)
    acc_fmt = fx if is_max else sum_format(fx, count)
    ctx.name_type(acc_fmt, "total")
    with ctx.positions(b, [in_shape[-1]], "chan") as (cb, (c,)):
        init = cb.const(fx.min_code, fx) if is_max else cb.const(0, acc_fmt)
        var = _var(cb, acc_fmt, "best" if is_max else "total", init)
        with cb.loops(in_shape[:-1], "pos", loop_names("i", len(in_shape) - 1), unroll=True) as (ib, i):
            v = x.load(ib, i + [c])
            cur = _get(ib, var)
            _set(ib, var, ib.select(ib.cmp("gt", v, cur), v, cur) if is_max else ib.cast(ib.add_(cur, v), acc_fmt))
        value = _get(cb, var)
        if not is_max:
            ctx.name_type(op.scale_type.format, "scale")
            value = cb.mul(value, ctx.tables["recip"].load(cb, []))
        ctx.out.store(cb, [c], cb.cast(value, ctx.out.fmt))


# ============================================================================================
# Data movement (whole)
# ============================================================================================


def reshape(ctx: KernelContext, b: Builder) -> None:
    """Row-major order is kept: copy element by element."""
    x = ctx.tensors[ctx.op.input]
    n = int(np.prod(ctx.out.shape))
    with ctx.positions(b, [n], "copy") as (cb, (i,)):
        ctx.out.store_flat(cb, i, x.load_flat(cb, i))


def transpose(ctx: KernelContext, b: Builder) -> None:
    perm = fxp.ints(ctx.op.perm)
    x = ctx.tensors[ctx.op.input]
    with ctx.positions(b, ctx.out.shape, "copy") as (cb, idx):
        src: list[Affine] = [Affine()] * len(perm)
        for j, p in enumerate(perm):
            src[p] = idx[j]
        ctx.out.store(cb, idx, x.load(cb, src))


def pad(ctx: KernelContext, b: Builder) -> None:
    """Zeros, then the input where it lands."""
    pads = fxp.ints(ctx.op.padding)
    x = ctx.tensors[ctx.op.input]
    n = len(x.shape)
    with ctx.positions(b, ctx.out.shape, "copy") as (cb, idx):
        ctx.out.store(cb, idx, cb.const(0, ctx.out.fmt))
        src = [idx[d] - pads[d] for d in range(n)]
        with cb.when(cb.in_range(list(zip(src, x.shape)))) as ib:
            ctx.out.store(ib, idx, x.load(ib, src))


def upsample(ctx: KernelContext, b: Builder) -> None:
    """Nearest neighbour: output position ``o`` copies input position ``o / factor`` per spatial axis."""
    factors = fxp.ints(ctx.op.factors)
    x = ctx.tensors[ctx.op.input]
    with ctx.positions(b, ctx.out.shape, "copy") as (cb, idx):
        src = [cb.divmod(idx[d], f)[0] for d, f in enumerate(factors)] + [idx[-1]]
        ctx.out.store(cb, idx, x.load(cb, src))


def concat(ctx: KernelContext, b: Builder) -> None:
    axis = ctx.op.axis.value.data
    offset = 0
    for v in ctx.op.inputs:
        x = ctx.tensors[v]
        with ctx.positions(b, x.shape, "copy") as (cb, idx):
            dst = list(idx)
            dst[axis] = dst[axis] + offset
            ctx.out.store(cb, dst, x.load(cb, idx))
        offset += x.shape[axis]


# ============================================================================================
# Registry
# ============================================================================================

POSITIONWISE: dict[type, Callable[[KernelContext, Builder, list[Affine]], None]] = {
    fxp.DenseOp: dense,
    fxp.CastOp: _elementwise(_cast, lambda op: (op.input,)),
    fxp.AddOp: _binary(lambda b, x, y, f: b.cast(b.add_(x, y), f)),
    fxp.SubOp: _binary(lambda b, x, y, f: b.cast(b.sub(x, y), f)),
    fxp.MulOp: _binary(lambda b, x, y, f: b.cast(b.mul(x, y), f)),
    fxp.MaximumOp: _binary(_pick("gt")),
    fxp.MinimumOp: _binary(_pick("lt")),
    fxp.ReluOp: _elementwise(_relu, lambda op: (op.input,)),
    fxp.LeakyReluOp: _elementwise(_leaky_relu, lambda op: (op.input, op.alpha)),
    fxp.ThresholdedReluOp: _elementwise(_thresholded_relu, lambda op: (op.input,)),
    fxp.TableOp: _elementwise(_table, lambda op: (op.input,)),
    fxp.BatchNormOp: _elementwise(_batchnorm, lambda op: (op.input, op.scale, op.shift)),
    fxp.SoftmaxOp: softmax,
    fxp.MultiThresholdOp: multithreshold,
}

WHOLE: dict[type, Callable[[KernelContext, Builder], None]] = {
    fxp.ConvOp: conv,
    fxp.MaxPoolOp: maxpool,
    fxp.AvgPoolOp: avgpool,
    fxp.GlobalMaxPoolOp: global_pool,
    fxp.GlobalAvgPoolOp: global_pool,
    fxp.ReshapeOp: reshape,
    fxp.FlattenOp: reshape,
    fxp.TransposeOp: transpose,
    fxp.PadOp: pad,
    fxp.UpsampleOp: upsample,
    fxp.ConcatOp: concat,
}


def tables(op: Operation) -> dict[str, tuple[np.ndarray, FixedFormat]]:
    """Constant arrays a kernel needs beyond its operands: lookup tables, reciprocals, levels."""
    if isinstance(op, fxp.TableOp):
        return {"table": (op.codes(), element_format(op.result))}
    if isinstance(op, fxp.SoftmaxOp):
        return {
            "exp": (fxp.codes_of(op.exp_table), op.exp_type.format),
            "inv": (fxp.codes_of(op.inv_table), op.inv_type.format),
        }
    if isinstance(op, fxp.AvgPoolOp | fxp.GlobalAvgPoolOp):
        return {"recip": (avgpool_recips(op), op.scale_type.format)}
    if isinstance(op, fxp.MultiThresholdOp):
        return {"levels": (multithreshold_levels(op), element_format(op.result))}
    return {}


def positionwise_streamable(op: Operation, data: Sequence[SSAValue]) -> bool:
    """Can a stream feed this op one position (beat) at a time?"""
    if type(op) not in POSITIONWISE:
        return False
    out = shape_of(op.results[0])
    for v in data:
        s = shape_of(v)
        if s[:-1] != out[:-1] or (s[-1] != out[-1] and not isinstance(op, fxp.DenseOp)):
            return False
    return True
