"""fxp -> dataflow: partition a network into hardware nodes, one per layer.

Every computing fxp op (not constants, not the boundary ``fxp.quantize``) becomes a
``dataflow.node`` holding the op and the constants it uses, with:

- ``reuse_factor``: how many times each multiplier serves one sample.  The default comes
  from the pass option; a layer overrides it with an ``fmlc.reuse_factor`` attribute (the
  importer sets these from the user's configuration, per ONNX node name or op type).  Only
  dense and conv share multipliers; other layers keep 1.  It is clamped to the number of
  multiplications of the layer.
- ``io``: ``parallel`` (whole arrays) or ``stream`` (one position per beat, channels
  parallel), from the option or an ``fmlc.io`` attribute.
- a schedule estimate: initiation interval, latency in cycles and, for streams, the depth
  of the output FIFO.  Backends report what they actually build; these numbers are the
  target-independent plan they start from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Operation, Region
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import PassFailedException

from fmlc.dialects import dataflow, fxp
from fmlc.dialects.fxp import shape_of

REUSE_ATTR = "fmlc.reuse_factor"
IO_ATTR = "fmlc.io"


def multiplications(op: Operation) -> int:
    """Multiplications per sample of a dense/conv layer (weights times positions)."""
    if isinstance(op, fxp.DenseOp):
        k, m = shape_of(op.weight)
        return k * m * int(np.prod(shape_of(op.input)[:-1], dtype=np.int64))
    if isinstance(op, fxp.ConvOp):
        w = shape_of(op.weight)
        return int(np.prod(w)) * int(np.prod(shape_of(op.result)[:-1]))
    return 0


def schedule(op: Operation, reuse: int, io: str) -> tuple[int, int, int | None]:
    """(initiation interval, latency, output stream depth) of one layer, in clock cycles."""
    out_shape = shape_of(op.results[0])
    positions = int(np.prod(out_shape[:-1])) if len(out_shape) > 1 else 1
    depth = positions if io == "stream" else None
    if isinstance(op, fxp.DenseOp | fxp.ConvOp):
        terms = shape_of(op.weight)[0] if isinstance(op, fxp.DenseOp) else int(np.prod(shape_of(op.weight)[:-1]))
        tree = max(1, math.ceil(math.log2(max(terms, 1))))
        per_position = reuse
        if io == "stream" and isinstance(op, fxp.ConvOp):
            ii = per_position * positions
        else:
            ii = per_position
        return ii, ii + tree + 1, depth
    if isinstance(op, fxp.SoftmaxOp):
        n = out_shape[-1]
        ii = positions if io == "stream" else 1
        return ii, ii + 2 * max(1, math.ceil(math.log2(max(n, 2)))) + 4, depth
    if isinstance(op, fxp.MaxPoolOp | fxp.AvgPoolOp | fxp.GlobalMaxPoolOp | fxp.GlobalAvgPoolOp):
        window = int(np.prod(shape_of(op.input)[:-1])) if isinstance(op, fxp.GlobalMaxPoolOp | fxp.GlobalAvgPoolOp) else int(np.prod(fxp.ints(op.kernel)))
        inputs = int(np.prod(shape_of(op.input)[:-1]))
        ii = inputs if io == "stream" else 1
        return ii, ii + max(1, math.ceil(math.log2(max(window, 2)))) + 1, depth
    if isinstance(op, fxp.ReshapeOp | fxp.FlattenOp | fxp.TransposeOp | fxp.PadOp | fxp.UpsampleOp | fxp.ConcatOp):
        return (positions if io == "stream" else 1), (positions if io == "stream" else 0), depth
    ii = positions if io == "stream" else 1
    return ii, ii + 1, depth


def _int_attr(op: Operation, name: str) -> int | None:
    attr = op.attributes.get(name)
    if attr is None:
        return None
    if not isinstance(attr, IntegerAttr):
        raise PassFailedException(f"{op.name}: attribute {name} must be an integer, got {attr}")
    return attr.value.data


@dataclass(frozen=True)
class FxpToDataflow(ModulePass):
    """Wrap each layer into a ``dataflow.node`` with its reuse factor, I/O style and schedule."""

    name = "fxp-to-dataflow"

    reuse_factor: int = 1
    """Default reuse factor of dense and conv layers (overridden per layer by fmlc.reuse_factor)."""

    io: str = "parallel"
    """Default I/O style, 'parallel' or 'stream' (overridden per layer by fmlc.io)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.io not in dataflow.IO_STYLES:
            raise PassFailedException(f"fxp-to-dataflow: io must be one of {dataflow.IO_STYLES}, got '{self.io}'")
        if self.reuse_factor < 1:
            raise PassFailedException(f"fxp-to-dataflow: reuse-factor must be >= 1, got {self.reuse_factor}")
        for func in op.ops:
            if isinstance(func, FuncOp) and not func.is_declaration:
                self._partition(func)

    def _partition(self, func: FuncOp) -> None:
        names: set[str] = set()
        for k, op in enumerate(list(func.body.block.ops)):
            if isinstance(op, fxp.ConstantOp | fxp.QuantizeOp | ReturnOp | dataflow.NodeOp):
                continue
            self._wrap(op, self._layer_name(op, k, names))
        for op in list(func.body.block.ops):  # constants now live inside the nodes that use them
            if isinstance(op, fxp.ConstantOp) and not op.result.uses:
                Rewriter.erase_op(op)

    @staticmethod
    def _layer_name(op: Operation, k: int, taken: set[str]) -> str:
        name = op.attributes.get("name")
        base = name.data if isinstance(name, StringAttr) else f"{op.name.split('.')[-1]}_{k}"
        unique, n = base, 1
        while unique in taken:
            unique, n = f"{base}_{n}", n + 1
        taken.add(unique)
        return unique

    def _wrap(self, op: Operation, layer: str) -> None:
        inputs = [v for v in op.operands if not isinstance(v.owner, fxp.ConstantOp)]
        unique_inputs = list(dict.fromkeys(inputs))
        block = Block(arg_types=[v.type for v in unique_inputs])
        mapping = dict(zip(unique_inputs, block.args))
        for v in op.operands:
            if isinstance(v.owner, fxp.ConstantOp) and v not in mapping:
                const = v.owner.clone()
                block.add_op(const)
                mapping[v] = const.result
        inner = op.clone(value_mapper=dict(mapping))
        block.add_op(inner)
        block.add_op(dataflow.YieldOp(*inner.results))

        reuse, io = self._choices(op)
        node = dataflow.NodeOp(layer, unique_inputs, [r.type for r in op.results], Region(block), reuse, io)
        node.set_schedule(*schedule(op, reuse, io))
        for key in (REUSE_ATTR, IO_ATTR):
            inner.attributes.pop(key, None)
        Rewriter.insert_op(node, InsertPoint.before(op))
        for old, new in zip(op.results, node.outputs):
            old.replace_all_uses_with(new)
        Rewriter.erase_op(op)

    def _choices(self, op: Operation) -> tuple[int, str]:
        io_attr = op.attributes.get(IO_ATTR)
        io = io_attr.data if isinstance(io_attr, StringAttr) else self.io
        if io not in dataflow.IO_STYLES:
            raise PassFailedException(f"{op.name}: {IO_ATTR} must be one of {dataflow.IO_STYLES}, got '{io}'")
        mults = multiplications(op)
        if mults == 0:
            return 1, io
        reuse = _int_attr(op, REUSE_ATTR)
        reuse = self.reuse_factor if reuse is None else reuse  # an attribute of 0 is an error, not the default
        if reuse < 1:
            raise PassFailedException(f"{op.name}: reuse factor must be >= 1, got {reuse}")
        per_position = mults // max(1, int(np.prod(shape_of(op.results[0])[:-1])))
        return min(reuse, max(per_position, 1)), io
