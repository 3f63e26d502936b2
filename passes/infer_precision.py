"""Precision inference: give every ``!fxp.auto`` the narrowest type that loses nothing.

Walks each function in order, tracking the exact value range of every tensor (from input
types and the actual constant values), and resolves:

- an ``!fxp.auto`` accumulator of dense/conv to the narrowest type holding the exact sum of
  products and bias (so it never rounds nor wraps);
- an ``!fxp.auto`` result type to the narrowest type holding the op's exact result (so the
  final cast is lossless).

A type the user fixed is never changed; its range (after its own rounding and overflow) is
what flows on.  Data-movement ops take their input's type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import PassFailedException

from fmlc.dialects import dataflow, fxp
from fmlc.dialects.fxp import AutoType, FixedType
from fmlc.ir import op_label, sync_signatures
from fmlc.ranges import Interval, accumulator_interval, cast_interval, exact_interval

MOVE_OPS = (fxp.ReshapeOp, fxp.FlattenOp, fxp.TransposeOp, fxp.PadOp, fxp.UpsampleOp)


def is_auto(value: SSAValue) -> bool:
    return isinstance(value.type, TensorType) and isinstance(value.type.get_element_type(), AutoType)


class RangeTracker:
    """Exact ranges and constant values of the tensors of one function, in program order."""

    def __init__(self) -> None:
        self.ranges: dict[SSAValue, Interval] = {}
        self.consts: dict[SSAValue, np.ndarray] = {}

    def range_of(self, v: SSAValue) -> Interval:
        if v in self.ranges:
            return self.ranges[v]
        if fxp.is_resolved(v):
            return Interval.of_format(fxp.element_format(v))
        raise PassFailedException(f"no range known for a value of type {v.type}")

    def const_of(self, v: SSAValue) -> np.ndarray | None:
        return self.consts.get(v)


@dataclass(frozen=True)
class InferPrecision(ModulePass):
    """Resolve ``!fxp.auto`` accumulators and result types to exact, narrowest fixed-point types."""

    name = "fxp-infer-precision"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for func in op.ops:
            if isinstance(func, FuncOp) and not func.is_declaration:
                tracker = RangeTracker()
                for arg in func.body.block.args:
                    if fxp.is_resolved(arg):
                        tracker.ranges[arg] = Interval.of_format(fxp.element_format(arg))
                self._visit(func.body.block, tracker)
        sync_signatures(op)

    def _visit(self, block: Block, tracker: RangeTracker) -> None:
        for op in list(block.ops):
            if isinstance(op, ReturnOp | dataflow.YieldOp):
                continue
            if isinstance(op, fxp.ConstantOp):
                codes = op.codes()
                tracker.consts[op.result] = codes
                tracker.ranges[op.result] = Interval.of_codes(codes, op.format.frac)
            elif isinstance(op, dataflow.NodeOp):
                self._visit_node(op, tracker)
            elif isinstance(op, fxp.QuantizeOp):
                if is_auto(op.result):
                    raise PassFailedException(f"{op_label(op)}: the type a float input is quantized to must be given, not !fxp.auto")
                tracker.ranges[op.result] = Interval.of_format(fxp.element_format(op.result))
            elif isinstance(op, MOVE_OPS):
                self._follow_input(op, tracker)
            elif isinstance(op, fxp.ConcatOp):
                self._unify_concat(op, tracker)
            else:
                self._resolve(op, tracker)

    def _visit_node(self, node: dataflow.NodeOp, tracker: RangeTracker) -> None:
        for arg, operand in zip(list(node.block.args), node.inputs):
            if arg.type != operand.type:  # the operand was resolved upstream
                arg = Rewriter.replace_value_with_new_type(arg, operand.type)
            if operand in tracker.ranges:
                tracker.ranges[arg] = tracker.ranges[operand]
            if operand in tracker.consts:
                tracker.consts[arg] = tracker.consts[operand]
        self._visit(node.block, tracker)
        term = node.block.last_op
        for res, val in zip(list(node.outputs), term.values):
            if res.type != val.type:
                res = Rewriter.replace_value_with_new_type(res, val.type)
            tracker.ranges[res] = tracker.range_of(val)

    def _resolve(self, op: Operation, tracker: RangeTracker) -> None:
        if isinstance(op, fxp.DenseOp | fxp.ConvOp) and isinstance(op.acc, AutoType):
            exact = accumulator_interval(op, tracker.range_of, tracker.const_of)
            op.properties["acc"] = FixedType.get(exact.narrowest())
        exact = exact_interval(op, tracker.range_of, tracker.const_of)
        result = op.results[0]
        if is_auto(result):
            if exact is None:
                raise PassFailedException(f"{op_label(op)}: cannot infer a type for its result; give it one")
            result = Rewriter.replace_value_with_new_type(result, TensorType(FixedType.get(exact.narrowest()), result.type.get_shape()))
        fmt = fxp.element_format(result)
        tracker.ranges[result] = cast_interval(exact, fmt) if exact is not None else Interval.of_format(fmt)

    def _follow_input(self, op: Operation, tracker: RangeTracker) -> None:
        """Data movement keeps the element type: an auto result takes the input's type."""
        src, result = op.operands[0], op.results[0]
        if result.type.get_element_type() != src.type.get_element_type():
            result = Rewriter.replace_value_with_new_type(result, TensorType(src.type.get_element_type(), result.type.get_shape()))
        iv = tracker.range_of(src)
        tracker.ranges[result] = iv.with_zero() if isinstance(op, fxp.PadOp) else iv

    def _unify_concat(self, op: fxp.ConcatOp, tracker: RangeTracker) -> None:
        """Inputs of different types meet in the narrowest type holding them all (casts inserted)."""
        ivs = [tracker.range_of(v) for v in op.inputs]
        union = ivs[0]
        for iv in ivs[1:]:
            union = union.union(iv)
        result = op.result
        if is_auto(result):
            target = union.narrowest()
            for k, v in enumerate(list(op.inputs)):
                if fxp.element_format(v) != target:
                    cast = fxp.CastOp(v, target)
                    Rewriter.insert_op(cast, InsertPoint.before(op))
                    op.operands[k] = cast.result
                    tracker.ranges[cast.result] = ivs[k]
            result = Rewriter.replace_value_with_new_type(result, TensorType(FixedType.get(target), result.type.get_shape()))
        tracker.ranges[result] = cast_interval(union, fxp.element_format(result))
