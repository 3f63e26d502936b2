"""The ``dataflow`` dialect: how a network becomes hardware, independent of the target.

A ``dataflow.node`` wraps one layer (its fxp operations and constants) and carries the
architecture decisions for it: the reuse factor (how many times each multiplier is used per
sample), the I/O style (all-parallel arrays or streams), and the schedule the partition
pass estimates from them (initiation interval, latency, output stream depth).  Nodes are
isolated from above: everything a layer uses enters as an operand, so a backend can emit
each node as one function or module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import IntegerAttr, StringAttr, TensorType, i64
from xdsl.ir import Attribute, Block, Dialect, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    lazy_traits_def,
    opt_prop_def,
    prop_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, SingleBlockImplicitTerminator
from xdsl.utils.exceptions import VerifyException

IO_STYLES = ("parallel", "stream")


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Returns a node's results from its body."""

    name = "dataflow.yield"

    values = var_operand_def()

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(NodeOp)))
    assembly_format = "$values attr-dict `:` type($values)"

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[list(values)])


@irdl_op_definition
class NodeOp(IRDLOperation):
    """One layer as a hardware unit, with its reuse factor, I/O style and estimated schedule."""

    name = "dataflow.node"

    inputs = var_operand_def(TensorType)
    layer = prop_def(StringAttr)
    reuse_factor = prop_def(IntegerAttr)
    io = prop_def(StringAttr)
    ii = opt_prop_def(IntegerAttr)
    latency = opt_prop_def(IntegerAttr)
    stream_depth = opt_prop_def(IntegerAttr)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")

    traits = traits_def(IsolatedFromAbove(), SingleBlockImplicitTerminator(YieldOp))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$layer `(` $inputs `)` attr-dict `:` functional-type($inputs, $outputs) $body"

    SCHEDULE_FIELDS: ClassVar[tuple[str, ...]] = ("ii", "latency", "stream_depth")

    def __init__(
        self,
        layer: str,
        inputs: Sequence[SSAValue],
        output_types: Sequence[Attribute],
        body: Region,
        reuse_factor: int = 1,
        io: str = "parallel",
    ):
        super().__init__(
            operands=[list(inputs)],
            result_types=[list(output_types)],
            regions=[body],
            properties={
                "layer": StringAttr(layer),
                "reuse_factor": IntegerAttr(reuse_factor, i64),
                "io": StringAttr(io),
            },
        )

    @property
    def block(self) -> Block:
        return self.body.block

    def compute_ops(self) -> list[Operation]:
        """The body's operations other than constants and the terminator."""
        from fmlc.dialects.fxp import ConstantOp

        return [op for op in self.block.ops if not isinstance(op, ConstantOp | YieldOp)]

    def main_op(self) -> Operation:
        """The operation that gives the node its kind (the last computing one)."""
        ops = self.compute_ops()
        if not ops:
            raise VerifyException(f"dataflow.node '{self.layer.data}' computes nothing")
        return ops[-1]

    def set_schedule(self, ii: int, latency: int, stream_depth: int | None = None) -> None:
        self.properties["ii"] = IntegerAttr(ii, i64)
        self.properties["latency"] = IntegerAttr(latency, i64)
        if stream_depth is not None:
            self.properties["stream_depth"] = IntegerAttr(stream_depth, i64)

    def verify_(self) -> None:
        if self.reuse_factor.value.data < 1:
            raise VerifyException(f"dataflow.node '{self.layer.data}' reuse factor must be >= 1, got {self.reuse_factor.value.data}")
        if self.io.data not in IO_STYLES:
            raise VerifyException(f"dataflow.node '{self.layer.data}' io must be one of {IO_STYLES}, got '{self.io.data}'")
        for field in self.SCHEDULE_FIELDS:
            attr = getattr(self, field)
            if attr is not None and attr.value.data < 0:
                raise VerifyException(f"dataflow.node '{self.layer.data}' {field} must be >= 0")
        block = self.block
        if [a.type for a in block.args] != [v.type for v in self.inputs]:
            raise VerifyException(f"dataflow.node '{self.layer.data}' block arguments must match its input types")
        term = block.last_op
        if not isinstance(term, YieldOp) or [v.type for v in term.values] != [r.type for r in self.outputs]:
            raise VerifyException(f"dataflow.node '{self.layer.data}' must yield values of its result types")


DATAFLOW = Dialect("dataflow", [NodeOp, YieldOp], [])
