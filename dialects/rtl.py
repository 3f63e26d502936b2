"""The ``rtl`` dialect: adder graphs and window gathering for the Verilog target.

A constant-weight dense or convolution layer becomes an ``rtl.adder_graph``: its constant
matrix-vector product written as a graph of exact additions of shifted scalars (canonical
signed digits with shared subexpressions), applied to every row of the input tensor.  The
graph's scalars are ``!fxp.fixed`` values with exact widths: every ``rtl.add`` states, in its
result type, the narrowest format holding every value it can take (the pass that builds the
graph proves it by interval analysis over the actual weights), so a hardware backend reads
the width of each adder off the IR.

``rtl.patches`` gathers convolution windows (im2col, padded taps read code 0), so that a
convolution becomes patches followed by an adder graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, IntegerType, TensorType
from xdsl.ir import Attribute, Block, Dialect, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, Pure, SingleBlockImplicitTerminator
from xdsl.utils.exceptions import VerifyException

from fmlc.dialects.fxp import FixedType, conv_output_shape, i64_array, ints, shape_of
from fmlc.fixed import FixedFormat


def _format(value: SSAValue, op: IRDLOperation, what: str) -> FixedFormat:
    if not isinstance(value.type, FixedType):
        raise VerifyException(f"'{op.name}' {what} must be a scalar !fxp.fixed, got {value.type}")
    return value.type.format


@lru_cache(maxsize=4096)
def integer_attr(value: int) -> IntegerAttr:
    """``value : i64`` (or as wide as it needs): builtin integers, which upstream MLIR reads."""
    return IntegerAttr(value, IntegerType(max(64, value.bit_length() + 1)))


def _check_grid(op: IRDLOperation, fmt: FixedFormat) -> None:
    if (fmt.rounding, fmt.overflow) != ("TRN", "WRAP"):
        raise VerifyException(f"'{op.name}' values are exact: their type {fmt} takes no rounding or overflow mode")


# ============================================================================================
# Scalar operations inside an adder graph
# ============================================================================================


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A scalar code of its result type (a bias term)."""

    name = "rtl.constant"

    value = prop_def(IntegerAttr)
    result = result_def(FixedType)

    traits = traits_def(Pure())

    def __init__(self, code: int, fmt: FixedFormat):
        super().__init__(properties={"value": integer_attr(code)}, result_types=[FixedType.get(fmt)])

    @property
    def code(self) -> int:
        return self.value.value.data

    def verify_(self) -> None:
        fmt = _format(self.result, self, "result")
        _check_grid(self, fmt)
        if not fmt.min_code <= self.code <= fmt.max_code:
            raise VerifyException(f"'rtl.constant' code {self.code} is outside {fmt}")

    def print(self, printer: Printer) -> None:
        printer.print_string(f" {self.code}")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        code = parser.parse_integer(allow_boolean=False, context_msg=" (constant code)")
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        t = parser.parse_type()
        if not isinstance(t, FixedType):
            parser.raise_error(f"rtl.constant needs a scalar !fxp.fixed type, got {t}")
        op = cls(code, t.format)
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class ShiftOp(IRDLOperation):
    """``x * 2**by``: the same code read on a grid ``by`` bits coarser (wiring, no logic)."""

    name = "rtl.shift"

    input = operand_def(FixedType)
    by = prop_def(IntegerAttr)
    result = result_def(FixedType)

    traits = traits_def(Pure())

    def __init__(self, x: SSAValue, by: int):
        f = x.type.format
        out = FixedFormat(f.width, f.int_bits + by, f.signed)
        super().__init__(operands=[x], properties={"by": integer_attr(by)}, result_types=[FixedType.get(out)])

    @property
    def shift(self) -> int:
        return self.by.value.data

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.input)
        printer.print_string(f" by {self.shift}")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.input.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> ShiftOp:
        operand = parser.parse_unresolved_operand()
        parser.parse_keyword("by")
        by = parser.parse_integer(allow_boolean=False, context_msg=" (shift amount)")
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        in_type = parser.parse_type()
        parser.parse_punctuation("->")
        out_type = parser.parse_type()
        (x,) = parser.resolve_operands([operand], [in_type], parser.pos)
        op = cls.create(operands=[x], result_types=[out_type], properties={"by": integer_attr(by)})
        op.attributes.update(attributes)
        return op

    def verify_(self) -> None:
        a, y = _format(self.input, self, "input"), _format(self.result, self, "result")
        _check_grid(self, y)
        if (y.width, y.signed, y.int_bits) != (a.width, a.signed, a.int_bits + self.shift):
            raise VerifyException(f"'rtl.shift' by {self.shift} of {a} must give the same code as {a.width}-bit with {a.int_bits + self.shift} integer bits, got {y}")


class _SumOp(IRDLOperation):
    lhs = operand_def(FixedType)
    rhs = operand_def(FixedType)
    result = result_def(FixedType)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue, out: FixedFormat):
        super().__init__(operands=[lhs, rhs], result_types=[FixedType.get(out)])

    def verify_(self) -> None:
        a, b = _format(self.lhs, self, "lhs"), _format(self.rhs, self, "rhs")
        y = _format(self.result, self, "result")
        _check_grid(self, y)
        if y.frac != max(a.frac, b.frac):
            raise VerifyException(f"'{self.name}' result must have the finer operand grid ({max(a.frac, b.frac)} fractional bits), got {y}")


@irdl_op_definition
class AddOp(_SumOp):
    """Exact ``lhs + rhs``; the result type holds every value the sum takes (one adder)."""

    name = "rtl.add"


@irdl_op_definition
class SubOp(_SumOp):
    """Exact ``lhs - rhs``; the result type holds every value the difference takes (one adder)."""

    name = "rtl.sub"


@irdl_op_definition
class NegOp(IRDLOperation):
    """Exact ``-x`` (one adder)."""

    name = "rtl.neg"

    input = operand_def(FixedType)
    result = result_def(FixedType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, out: FixedFormat):
        super().__init__(operands=[x], result_types=[FixedType.get(out)])

    def verify_(self) -> None:
        a, y = _format(self.input, self, "input"), _format(self.result, self, "result")
        _check_grid(self, y)
        if y.frac != a.frac:
            raise VerifyException(f"'rtl.neg' keeps the grid: result must have {a.frac} fractional bits, got {y}")


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Returns an adder graph's outputs, one scalar per output column."""

    name = "rtl.yield"

    values = var_operand_def(FixedType)

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(AdderGraphOp)))
    assembly_format = "$values attr-dict `:` type($values)"

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[list(values)])


# ============================================================================================
# Tensor operations
# ============================================================================================


@irdl_op_definition
class AdderGraphOp(IRDLOperation):
    """A constant matrix-vector product as a graph of exact additions, applied to each row ``[..., K] -> [..., M]``."""

    name = "rtl.adder_graph"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    body = region_def("single_block")

    traits = traits_def(Pure(), IsolatedFromAbove(), SingleBlockImplicitTerminator(YieldOp))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result) $body"

    def __init__(self, x: SSAValue, out: FixedFormat, columns: int, body: Region, attributes: dict[str, Attribute] | None = None):
        shape = list(shape_of(x)[:-1]) + [columns]
        super().__init__(operands=[x], result_types=[TensorType(FixedType.get(out), shape)], regions=[body], attributes=attributes)

    @property
    def block(self) -> Block:
        return self.body.block

    def verify_(self) -> None:
        x, y = self.input.type, self.result.type
        for what, t in (("input", x), ("result", y)):
            if not isinstance(t, TensorType) or not isinstance(t.get_element_type(), FixedType):
                raise VerifyException(f"'rtl.adder_graph' {what} must be a tensor of !fxp.fixed, got {t}")
        xs, ys = shape_of(self.input), shape_of(self.result)
        if not xs or len(xs) != len(ys) or xs[:-1] != ys[:-1]:
            raise VerifyException(f"'rtl.adder_graph' maps [..., K] to [..., M] row by row; got {list(xs)} -> {list(ys)}")
        elem = x.get_element_type()
        args = self.block.args
        if len(args) != xs[-1] or any(a.type != elem for a in args):
            raise VerifyException(f"'rtl.adder_graph' body must take {xs[-1]} scalars of the input element type {elem}")
        term = self.block.last_op
        if not isinstance(term, YieldOp) or len(term.values) != ys[-1]:
            raise VerifyException(f"'rtl.adder_graph' body must yield {ys[-1]} scalars, one per output column")
        out = y.get_element_type().format
        for k, v in enumerate(term.values):
            if not out.contains(v.type.format):
                raise VerifyException(f"'rtl.adder_graph' output #{k} of type {v.type.format} does not fit the result element type {out}")


@irdl_op_definition
class PatchesOp(IRDLOperation):
    """Convolution windows as rows (im2col): ``[*spatial, C] -> [*out, taps * C]``, taps row-major, padding reads 0."""

    name = "rtl.patches"

    input = operand_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], padding: Sequence[int]):
        xs = shape_of(x)
        out = conv_output_shape(xs, kernel, strides, dilations, padding)
        taps = 1
        for k in kernel:
            taps *= k
        props = {
            "kernel": i64_array(kernel),
            "strides": i64_array(strides),
            "dilations": i64_array(dilations),
            "padding": i64_array(padding),
        }
        t = x.type
        super().__init__(operands=[x], properties=props, result_types=[TensorType(t.get_element_type(), list(out) + [taps * xs[-1]])])

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return ints(self.kernel), ints(self.strides), ints(self.dilations), ints(self.padding)

    def verify_(self) -> None:
        xs, ys = shape_of(self.input), shape_of(self.result)
        kernel, strides, dilations, padding = self.window()
        n = len(kernel)
        if len(xs) != n + 1 or len(strides) != n or len(dilations) != n or len(padding) != 2 * n:
            raise VerifyException(f"'rtl.patches' needs a [*spatial, C] input and kernel, strides, dilations of its spatial rank (padding twice that); got input {list(xs)}")
        if any(v < 1 for v in kernel + strides + dilations) or any(p < 0 for p in padding):
            raise VerifyException("'rtl.patches' kernel, strides and dilations must be >= 1, padding >= 0")
        taps = 1
        for k in kernel:
            taps *= k
        expect = conv_output_shape(xs, kernel, strides, dilations, padding) + (taps * xs[-1],)
        if ys != expect or any(d < 1 for d in ys):
            raise VerifyException(f"'rtl.patches' result must be {list(expect)}, got {list(ys)}")
        if self.input.type.get_element_type() != self.result.type.get_element_type():
            raise VerifyException("'rtl.patches' moves codes: input and result element types must be equal")


RTL = Dialect("rtl", [AdderGraphOp, PatchesOp, ConstantOp, ShiftOp, AddOp, SubOp, NegOp, YieldOp], [])
