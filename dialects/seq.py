"""CIRCT's ``seq`` dialect as fmlc reads and writes it: xDSL's, with ``seq.compreg`` shaped as
CIRCT (pycde 0.12.1) defines it.

xDSL 0.74's ``seq.compreg`` keeps its operand segment sizes as an attribute and has no
register name; CIRCT keeps both as properties (``operandSegmentSizes``, ``name``) and calls the
fifth operand ``initialValue``.  With this definition the generic form CIRCT prints parses here,
and what fmlc prints parses in CIRCT, unchanged.  The custom form is CIRCT's; the name is
shown in the attribute dictionary (CIRCT elides it when it equals the SSA name).
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects import seq as xdsl_seq
from xdsl.dialects.builtin import StringAttr, i1
from xdsl.dialects.hw import InnerSymAttr
from xdsl.ir import Dialect
from xdsl.irdl import (
    AnyAttr,
    AttrSizedOperandSegments,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    result_def,
)
from xdsl.utils.exceptions import VerifyException

clock = xdsl_seq.clock
ClockType = xdsl_seq.ClockType


@irdl_op_definition
class CompRegOp(IRDLOperation):
    """A register: ``input`` at each rising edge of ``clk``, ``resetValue`` while ``reset`` is high."""

    name = "seq.compreg"

    DATA_TYPE: ClassVar = VarConstraint("DataType", AnyAttr())

    name_attr = opt_prop_def(StringAttr, prop_name="name")
    inner_sym = opt_prop_def(InnerSymAttr)
    input = operand_def(DATA_TYPE)
    clk = operand_def(clock)
    reset = opt_operand_def(i1)
    reset_value = opt_operand_def(DATA_TYPE)
    initial_value = opt_operand_def(AnyAttr())
    data = result_def(DATA_TYPE)

    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())

    assembly_format = "(`sym` $inner_sym^)? $input `,` $clk (`reset` $reset^ `,` $reset_value)? (`initial` $initial_value^ `:` type($initial_value))? attr-dict `:` type($input)"

    def verify_(self) -> None:
        if (self.reset is None) != (self.reset_value is None):
            raise VerifyException("'seq.compreg' takes a reset and a reset value together, or neither")


SEQ = Dialect("seq", [CompRegOp, xdsl_seq.ClockDividerOp, xdsl_seq.ConstClockOp], [ClockType, xdsl_seq.ClockConstAttr])
