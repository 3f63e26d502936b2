"""Canonicalization of fxp IR: simpler programs that compute exactly the same bits.

Patterns (each exact; none changes a single output bit):

- ``FoldConstantOp``: an op whose operands are all constants becomes a constant;
- ``FoldBatchNormIntoLinear``: ``batchnorm(dense/conv(x))`` becomes one dense/conv with
  scaled weights and bias, when the dense/conv result is exact (nothing rounded or wrapped);
- ``MergeCasts``: ``cast(cast(x))`` becomes ``cast(x)`` when the inner cast loses nothing;
- ``AbsorbCast``: ``cast(op(...))`` becomes ``op(...)`` with the cast's type, when ``op``'s
  own result cast loses nothing (also retypes a table's entries);
- ``DropIdentity``: casts to the same type, reshapes to the same shape, identity
  transposes, and ReLU of values that are never negative.

Ranges are propagated from the inputs' types and the constants (``Ranges``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.dialects.fxp import FixedType
from fmlc.ir import sync_signatures
from fmlc.ranges import Interval, accumulator_interval, cast_interval, exact_interval


def constant_codes(v: SSAValue) -> np.ndarray | None:
    owner = v.owner if hasattr(v, "owner") else None
    return owner.codes() if isinstance(owner, fxp.ConstantOp) else None


class Ranges:
    """Exact value ranges, propagated from the inputs' types and the constants through every op
    (the same analysis precision inference uses), cached per value.  Rewrites keep every value's
    bits, so a cached range stays true; new values are computed from their operands on demand."""

    def __init__(self, module: ModuleOp | None = None):
        self.cache: dict[SSAValue, Interval] = {}
        if module is not None:
            for op in module.walk():  # program order: operands before users, no deep recursion
                for res in op.results:
                    if isinstance(res.type, TensorType) and fxp.is_resolved(res):
                        self(res)

    def __call__(self, v: SSAValue) -> Interval:
        got = self.cache.get(v)
        if got is None:
            got = self.cache[v] = self._compute(v)
        return got

    def _compute(self, v: SSAValue) -> Interval:
        fmt = fxp.element_format(v)
        owner = v.owner if isinstance(v, OpResult) else None
        codes = constant_codes(v)
        if codes is not None:
            return Interval.of_codes(codes, fmt.frac)
        if owner is None or isinstance(owner, fxp.QuantizeOp) or not all_resolved(owner):
            return Interval.of_format(fmt)
        exact = exact_interval(owner, self, constant_codes)
        return cast_interval(exact, fmt) if exact is not None else Interval.of_format(fmt)


def all_resolved(op: Operation) -> bool:
    return all(fxp.is_resolved(v) for v in (*op.operands, *op.results) if isinstance(v.type, TensorType)) and not (
        isinstance(op, fxp.DenseOp | fxp.ConvOp) and not isinstance(op.acc, FixedType)
    )


def result_is_exact(op: Operation, ranges: Ranges) -> bool:
    """The op's final cast loses nothing: its exact result always fits its result type."""
    if not all_resolved(op):
        return False
    exact = exact_interval(op, ranges, constant_codes)
    return exact is not None and exact.fits(fxp.element_format(op.results[0]))


# ops whose semantics are "exact result, then cast to the result type"
EXACT_THEN_CAST = (
    fxp.CastOp,
    fxp.DenseOp,
    fxp.ConvOp,
    fxp.AddOp,
    fxp.SubOp,
    fxp.MulOp,
    fxp.MaximumOp,
    fxp.MinimumOp,
    fxp.ReluOp,
    fxp.LeakyReluOp,
    fxp.BatchNormOp,
    fxp.MaxPoolOp,
    fxp.AvgPoolOp,
    fxp.GlobalMaxPoolOp,
    fxp.GlobalAvgPoolOp,
    fxp.MultiThresholdOp,
)


class FoldConstantOp(RewritePattern):
    """Evaluate an op whose operands are all constants."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, fxp.ConstantOp | fxp.QuantizeOp) or op.dialect_name() != "fxp":
            return
        if not op.operands or not all(isinstance(v.owner, fxp.ConstantOp) for v in op.operands):
            return
        if not all_resolved(op):
            return
        fmt = fxp.element_format(op.results[0])
        if fmt.width + (0 if fmt.signed else 1) > 64:
            return
        from fmlc.emulator import evaluate_op

        codes = evaluate_op(op, [v.owner.codes() for v in op.operands])
        new = fxp.ConstantOp(np.asarray(codes).astype(np.int64), fmt)
        rewriter.replace(op, new)


class _WithRanges(RewritePattern):
    def __init__(self, ranges: Ranges):
        self.ranges = ranges


class FoldBatchNormIntoLinear(_WithRanges):
    """``batchnorm(dense/conv(x), s, t)`` -> ``dense/conv(x, w*s, b*s + t)`` when the first is exact."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: fxp.BatchNormOp, rewriter: PatternRewriter) -> None:
        lin = op.input.owner
        if not isinstance(lin, fxp.DenseOp | fxp.ConvOp) or not lin.result.has_one_use():
            return
        scale, shift = constant_codes(op.scale), constant_codes(op.shift)
        weight = constant_codes(lin.weight)
        if scale is None or shift is None or weight is None or not result_is_exact(lin, self.ranges):
            return
        bias = constant_codes(lin.bias) if lin.bias is not None else None
        if lin.bias is not None and bias is None:
            return
        fs, ft, fw = (fxp.element_format(v) for v in (op.scale, op.shift, lin.weight))
        # w'[..., m] = w[..., m] * s[m]: exact at fw + fs fractional bits
        w_new = weight.astype(object) * scale.astype(object)
        w_frac = fw.frac + fs.frac
        # b'[m] = b[m] * s[m] + t[m]: exact at the finer of the two grids
        fb_frac = fxp.element_format(lin.bias).frac if bias is not None else 0
        b_frac = max(fb_frac + fs.frac, ft.frac) if bias is not None else ft.frac
        b_new = shift.astype(object) * (1 << (b_frac - ft.frac))
        if bias is not None:
            b_new = b_new + bias.astype(object) * scale.astype(object) * (1 << (b_frac - fb_frac - fs.frac))
        w_fmt = Interval.of_codes(w_new, w_frac).narrowest()
        b_fmt = Interval.of_codes(b_new, b_frac).narrowest()
        if w_fmt.width > 63 or b_fmt.width > 63:
            return
        w_op = fxp.ConstantOp(w_new.astype(np.int64), w_fmt)
        b_op = fxp.ConstantOp(b_new.astype(np.int64), b_fmt)
        out = fxp.element_format(op.result)
        if isinstance(lin, fxp.DenseOp):
            new = fxp.DenseOp(lin.input, w_op.result, b_op.result, None, out)
        else:
            kernel, strides, dilations, padding, groups = lin.window()
            new = fxp.ConvOp(lin.input, w_op.result, b_op.result, None, out, strides, dilations, padding, groups)
        # the exact accumulator of the folded layer
        ranges = {lin.input: self.ranges(lin.input)}
        consts = {w_op.result: w_op.codes(), b_op.result: b_op.codes()}
        acc = accumulator_interval(new, lambda v: ranges[v], consts.get)
        new.properties["acc"] = FixedType.get(acc.narrowest())
        new.attributes.update(lin.attributes)
        rewriter.replace(op, [w_op, b_op, new])
        rewriter.erase(lin)


class MergeCasts(_WithRanges):
    """``cast(cast(x, A), B)`` -> ``cast(x, B)`` when casting x to A loses nothing."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: fxp.CastOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if not isinstance(inner, fxp.CastOp) or not all_resolved(inner):
            return
        if self.ranges(inner.input).fits(fxp.element_format(inner.result)):
            rewriter.replace(op, fxp.CastOp(inner.input, fxp.element_format(op.result)))


class AbsorbCast(_WithRanges):
    """``cast(op(...), B)`` -> ``op(...)`` typed B, when op's own final cast is lossless."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: fxp.CastOp, rewriter: PatternRewriter) -> None:
        producer = op.input.owner
        if not isinstance(producer, Operation) or not op.input.has_one_use() or not fxp.is_resolved(op.result):
            return
        target = fxp.element_format(op.result)
        if isinstance(producer, fxp.TableOp):
            src = fxp.element_format(producer.result)
            table = fixed.cast(producer.codes().astype(object), src.frac, target)
            new = fxp.TableOp(producer.input, np.array([int(v) for v in table]), target, producer.function.data if producer.function else None)
        elif isinstance(producer, EXACT_THEN_CAST) and not isinstance(producer, fxp.CastOp) and result_is_exact(producer, self.ranges):
            new = producer.clone()
            Rewriter.replace_value_with_new_type(new.results[0], op.result.type)
        else:
            return
        new.attributes.update(producer.attributes)
        rewriter.insert(new, InsertPoint.before(producer))
        rewriter.replace(op, [], [new.results[0]])
        rewriter.erase(producer)


class DropIdentity(_WithRanges):
    """Operations that return their input unchanged."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, fxp.CastOp | fxp.ReshapeOp | fxp.TransposeOp | fxp.UpsampleOp | fxp.ReluOp):
            return
        src, res = op.operands[0], op.results[0]
        if src.type != res.type:
            return
        if isinstance(op, fxp.TransposeOp) and list(fxp.ints(op.perm)) != sorted(fxp.ints(op.perm)):
            return
        if isinstance(op, fxp.ReluOp) and (not fxp.is_resolved(src) or self.ranges(src).lo < 0):
            return
        rewriter.replace(op, [], [src])


CANONICALIZATION_PATTERNS = (FoldConstantOp, FoldBatchNormIntoLinear, MergeCasts, AbsorbCast, DropIdentity)


@dataclass(frozen=True)
class Canonicalize(ModulePass):
    """Fold constants and BatchNorm, merge lossless casts, drop identity ops (all exact)."""

    name = "fxp-canonicalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        ranges = Ranges(op)
        patterns = [p(ranges) if issubclass(p, _WithRanges) else p() for p in CANONICALIZATION_PATTERNS]
        walker = PatternRewriteWalker(GreedyRewritePatternApplier(patterns))
        walker.rewrite_module(op)
        _erase_dead_constants(op)
        sync_signatures(op)


def _erase_dead_constants(module: ModuleOp) -> None:
    for op in list(module.walk()):
        if isinstance(op, fxp.ConstantOp) and not op.result.uses:
            op.detach()
            op.erase()
