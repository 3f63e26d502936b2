"""Building ``vhls`` IR: an insertion point with loops, affine index arithmetic and typed arrays.

The lowering from dataflow nodes writes loop nests; this module keeps that code short.

- ``Affine``: an integer expression ``sum(coef * v) + const`` over index values (loop
  counters, quotients), with the value ranges known, so bounds checks that always hold are
  dropped at compile time instead of reaching the C++.
- ``Builder``: appends ops at the end of a block (before its terminator); ``loop`` opens a
  counted loop (a loop of one trip vanishes), ``when`` an ``if``.
- ``Tensor``s: how a kernel reads and writes a per-sample tensor, row-major, whatever holds
  it: an array, a constant array (broadcast as numpy does), or the beat of a stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import IndexType, IntegerAttr
from xdsl.ir import Block, Operation, SSAValue

from fmlc.dialects import hls
from fmlc.dialects.fxp import FixedType
from fmlc.fixed import FixedFormat

Ranges = dict[SSAValue, tuple[int, int]]


# ============================================================================================
# Affine index expressions
# ============================================================================================


@dataclass(frozen=True)
class Affine:
    """``sum(coef * value) + const`` over index values."""

    terms: tuple[tuple[SSAValue, int], ...] = ()
    const: int = 0

    @staticmethod
    def of(x: Affine | SSAValue | int) -> Affine:
        if isinstance(x, Affine):
            return x
        if isinstance(x, int):
            return Affine((), x)
        return Affine(((x, 1),), 0)

    def __add__(self, other: Affine | SSAValue | int) -> Affine:
        o = Affine.of(other)
        merged: dict[SSAValue, int] = dict(self.terms)
        for v, c in o.terms:
            merged[v] = merged.get(v, 0) + c
        return Affine(tuple((v, c) for v, c in merged.items() if c), self.const + o.const)

    __radd__ = __add__

    def __mul__(self, k: int) -> Affine:
        if k == 0:
            return Affine()
        return Affine(tuple((v, c * k) for v, c in self.terms), self.const * k)

    __rmul__ = __mul__

    def __sub__(self, other: Affine | SSAValue | int) -> Affine:
        return self + Affine.of(other) * -1

    def bounds(self, ranges: Ranges) -> tuple[int, int]:
        """Smallest and largest value over the ranges of the terms."""
        lo = hi = self.const
        for v, c in self.terms:
            a, b = ranges[v]
            lo += min(c * a, c * b)
            hi += max(c * a, c * b)
        return lo, hi


def flat_index(shape: Sequence[int], idx: Sequence[Affine]) -> Affine:
    """Row-major flat position of a multi-index (outer dimensions first: ``h * 24 + w * 3 + c``)."""
    total = Affine()
    for d in range(len(shape)):
        total = total + idx[d] * int(np.prod(shape[d + 1 :], dtype=np.int64))
    return total


# ============================================================================================
# The builder
# ============================================================================================


@dataclass
class Builder:
    """Appends ops to ``block`` (before its terminator, if it has one)."""

    block: Block
    ranges: Ranges = field(default_factory=dict)

    def add(self, op: Operation) -> Operation:
        last = self.block.last_op
        if last is not None and isinstance(last, hls.YieldOp | hls.ReturnOp):
            self.block.insert_op_before(op, last)
        else:
            self.block.add_op(op)
        return op

    def value(self, op: Operation) -> SSAValue:
        return self.add(op).results[0]

    # ---- index arithmetic ---------------------------------------------------------------

    def index(self, e: Affine | SSAValue | int) -> SSAValue:
        """Materialize an index expression (``k * 16 + m``) as arith ops."""
        e = Affine.of(e)
        acc: SSAValue | None = None
        for v, c in e.terms:
            term = v if abs(c) == 1 else self.value(arith.MuliOp(v, self.constant_index(abs(c))))
            if acc is None:
                acc = term if c > 0 else self.value(arith.SubiOp(self.constant_index(0), term))
            else:
                acc = self.value(arith.AddiOp(acc, term) if c > 0 else arith.SubiOp(acc, term))
        if acc is None:
            return self.constant_index(e.const)
        if e.const > 0:
            acc = self.value(arith.AddiOp(acc, self.constant_index(e.const)))
        elif e.const < 0:
            acc = self.value(arith.SubiOp(acc, self.constant_index(-e.const)))
        return acc

    def constant_index(self, n: int) -> SSAValue:
        return self.value(arith.ConstantOp(IntegerAttr(n, IndexType())))

    def divmod(self, e: Affine, d: int, names: tuple[str, str] | None = None) -> tuple[Affine, Affine]:
        """Quotient and remainder of a non-negative expression by a constant (named locals if ``names``)."""
        lo, hi = e.bounds(self.ranges)
        assert lo >= 0, "divmod of a possibly negative index"
        if d == 1:
            return e, Affine()
        if hi < d:
            return Affine(), e
        v = self.index(e)
        c = self.constant_index(d)
        q = self.value(arith.DivUIOp(v, c))
        r = self.value(arith.RemUIOp(v, c))
        if names:
            q.name_hint, r.name_hint = names
        self.ranges[q] = (lo // d, hi // d)
        self.ranges[r] = (0, min(d - 1, hi))
        return Affine.of(q), Affine.of(r)

    def in_range(self, checks: Sequence[tuple[Affine, int]]) -> SSAValue | None:
        """``0 <= e < n`` for every (e, n), as one i1; None when it always holds."""
        conds = []
        for e, n in checks:
            lo, hi = e.bounds(self.ranges)
            if lo < 0:
                conds.append(self.value(arith.CmpiOp(self.index(e), self.constant_index(0), "sge")))
            if hi >= n:
                conds.append(self.value(arith.CmpiOp(self.index(e), self.constant_index(n), "slt")))
        if not conds:
            return None
        cond = conds[0]
        for c in conds[1:]:
            cond = self.value(arith.AndIOp(cond, c))
        return cond

    # ---- structure -----------------------------------------------------------------------

    @contextmanager
    def loop(self, n: int, label: str, name: str, *, pipeline: int | None = None, unroll: bool = False) -> Iterator[tuple[Builder, Affine]]:
        """``label: for (int name = 0; name < n; ++name)``; one trip gives the body inline, index 0."""
        if n == 1:
            yield self, Affine()
            return
        op = hls.ForOp(0, n, 1, label=label, pipeline=pipeline, unroll=unroll)
        op.iv.name_hint = name
        self.add(op)
        self.ranges[op.iv] = (0, n - 1)
        yield Builder(op.block, self.ranges), Affine.of(op.iv)

    @contextmanager
    def loops(self, shape: Sequence[int], label: str, names: Sequence[str], *, unroll: bool, pipeline_inner: int | None = None) -> Iterator[tuple[Builder, list[Affine]]]:
        """Nested loops over ``shape`` (row-major); the innermost may be pipelined."""
        idx: list[Affine] = []
        with _nest(self, list(shape), label, list(names), unroll, pipeline_inner, idx) as inner:
            yield inner, idx

    @contextmanager
    def when(self, cond: SSAValue | None) -> Iterator[Builder]:
        """``if (cond) { ... }``; no condition gives the body inline."""
        if cond is None:
            yield self
            return
        op = self.add(hls.IfOp(cond))
        yield Builder(op.block, self.ranges)

    # ---- storage ---------------------------------------------------------------------------

    def alloca(self, fmt: FixedFormat, size: int | None, name: str) -> SSAValue:
        return self.value(hls.AllocaOp(hls.array_type(fmt, size), name))

    def partition(self, array: SSAValue) -> None:
        """Every element in a register of its own (arrays of more than one element, beats)."""
        t = array.type
        if isinstance(t, hls.BeatType) or (t.get_shape() and t.get_shape()[0] > 1):
            self.add(hls.ArrayPartitionOp(array))

    def comment(self, text: str) -> None:
        self.add(hls.CommentOp(text))

    # ---- fixed-point arithmetic ----------------------------------------------------------------

    def const(self, code: int, fmt: FixedFormat) -> SSAValue:
        return self.value(hls.ConstantOp(code, fmt))

    def cast(self, x: SSAValue, fmt: FixedFormat) -> SSAValue:
        if x.type == FixedType.get(fmt):
            return x
        return self.value(hls.CastOp(x, fmt))

    def add_(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.value(hls.AddOp(a, b))

    def sub(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.value(hls.SubOp(a, b))

    def mul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.value(hls.MulOp(a, b))

    def cmp(self, predicate: str, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.value(hls.CmpOp(predicate, a, b))

    def select(self, c: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.value(hls.SelectOp(c, a, b))

    def code_index(self, x: SSAValue) -> Affine:
        """``code(x) - min_code``: the row of a table indexed by every code of x's type."""
        fmt = x.type.format
        bits = self.value(hls.BitsOp(x))
        self.ranges[bits] = (0, (1 << fmt.width) - 1)
        if not fmt.signed:
            return Affine.of(bits)
        # two's complement bits XOR the sign bit = code + 2^(W-1)
        idx = self.value(arith.XOrIOp(bits, self.constant_index(1 << (fmt.width - 1))))
        self.ranges[idx] = (0, (1 << fmt.width) - 1)
        return Affine.of(idx)


@contextmanager
def _nest(b: Builder, shape, label, names, unroll, pipeline_inner, idx: list[Affine]):
    if not shape:
        yield b
        return
    inner = len(shape) == 1
    pipe = pipeline_inner if inner else None
    with b.loop(shape[0], f"{label}_{names[0]}", names[0], pipeline=pipe, unroll=unroll and pipe is None) as (body, i):
        idx.append(i)
        with _nest(body, shape[1:], label, names[1:], unroll, pipeline_inner, idx) as innermost:
            yield innermost


# ============================================================================================
# Tensors: how kernels read and write per-sample tensors
# ============================================================================================


class Tensor:
    """A per-sample tensor of one fixed-point format, read and written by multi-index."""

    shape: tuple[int, ...]
    fmt: FixedFormat

    def load(self, b: Builder, idx: Sequence[Affine]) -> SSAValue:
        raise NotImplementedError

    def store(self, b: Builder, idx: Sequence[Affine], value: SSAValue) -> None:
        raise NotImplementedError(f"{type(self).__name__} is read-only")


@dataclass
class ArrayTensor(Tensor):
    """A flat, row-major array (an argument or a local buffer)."""

    array: SSAValue
    shape: tuple[int, ...]

    @property
    def fmt(self) -> FixedFormat:
        return self.array.type.element_type.format

    def load(self, b, idx):
        return self.load_flat(b, flat_index(self.shape, idx))

    def store(self, b, idx, value):
        self.store_flat(b, flat_index(self.shape, idx), value)

    def load_flat(self, b: Builder, i: Affine) -> SSAValue:
        return b.value(hls.LoadOp(self.array, b.index(i)))

    def store_flat(self, b: Builder, i: Affine, value: SSAValue) -> None:
        b.add(hls.StoreOp(value, self.array, b.index(i)))


@dataclass
class GlobalTensor(Tensor):
    """A constant array (weights, tables), fetched by name where it is read."""

    name: str
    shape: tuple[int, ...]
    fmt: FixedFormat

    @property
    def type(self) -> hls.ArrayType:
        return hls.array_type(self.fmt, int(np.prod(self.shape, dtype=np.int64)))

    def array(self, b: Builder) -> SSAValue:
        return b.value(hls.GetGlobalOp(self.name, self.type))

    def load(self, b, idx):
        return self.load_flat(b, flat_index(self.shape, idx))

    def load_flat(self, b: Builder, i: Affine) -> SSAValue:
        return b.value(hls.LoadOp(self.array(b), b.index(i)))


@dataclass
class BeatTensor(Tensor):
    """The current beat of a stream: every index but the last names this position."""

    beat: SSAValue
    shape: tuple[int, ...]

    @property
    def fmt(self) -> FixedFormat:
        return self.beat.type.format

    def load(self, b, idx):
        return b.value(hls.LoadOp(self.beat, b.index(idx[-1])))

    def store(self, b, idx, value):
        b.add(hls.StoreOp(value, self.beat, b.index(idx[-1])))


@dataclass
class Broadcast(Tensor):
    """numpy broadcasting of ``inner`` to a result of rank ``rank``: size-1 axes read index 0."""

    inner: Tensor
    rank: int

    @property
    def shape(self):
        return self.inner.shape

    @property
    def fmt(self):
        return self.inner.fmt

    def load(self, b, idx):
        shape = self.inner.shape
        tail = list(idx[len(idx) - len(shape) :]) if shape else []
        return self.inner.load(b, [Affine() if n == 1 else i for n, i in zip(shape, tail)])
