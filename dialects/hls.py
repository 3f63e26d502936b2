"""The ``vhls`` dialect (Vitis HLS): HLS-style C++ as IR, printed by ``fmlc.lowering.hls_to_cpp``.

(Named ``vhls`` because xDSL ships an experimental dialect called ``hls``, and both are
registered with ``xdsl-opt``; this file is ``dialects/hls.py`` all the same.)

The dialect sits one step above the text, as EmitC does for plain C: functions with interface
pragmas, counted loops with pipeline/unroll directives, arrays with partitioning, ``hls::stream``
channels, and scalar ``ap_fixed`` arithmetic.  Scalars are ``!fxp.fixed`` (one ``ap_fixed`` /
``ap_ufixed`` each, rounding and overflow modes included), ``index`` (a C ``int``; integer
arithmetic on it uses the ``arith`` dialect) and ``i1`` (``bool``).  Arrays are
``!vhls.array<N x T>`` (or ``!vhls.array<T>``, a scalar variable): C arrays, row-major flat, as
hls4ml writes them.  They are not ``memref``s: upstream MLIR's memref takes only element types
that declare themselves memref elements (``!fxp.fixed`` is opaque there), and an array's type
must say which ``ap_fixed`` it holds (docs/hls.md).

Arithmetic means what ``ap_fixed`` does in C++, so the verifiers check result types against the
header's rules: ``vhls.add``/``vhls.sub``/``vhls.mul`` are exact (their result type is the one the
C++ operator returns), and only ``vhls.cast`` and storing into a variable round and saturate.
Constant arrays (``vhls.global``) hold integer codes, the form that compiles fastest and says
exactly which bits the weights have.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    FlatSymbolRefAttrConstr,
    FunctionType,
    IndexType,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    UnitAttr,
    i1,
    i64,
)
from xdsl.dialects.utils import parse_func_op_like, print_func_op_like
from xdsl.ir import Attribute, Block, Dialect, Operation, ParametrizedAttribute, Region, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import (
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    Pure,
    SymbolOpInterface,
    SymbolTable,
    SymbolUserOpInterface,
)
from xdsl.utils.exceptions import VerifyException

from fmlc.dialects.fxp import FixedType, codes_of, storage_bits
from fmlc.fixed import FixedFormat

AP_MAX_WIDTH = 1024
"""Widest ``ap_fixed`` the headers accept without redefining AP_INT_MAX_W."""

PREDICATES = ("lt", "le", "gt", "ge", "eq", "ne")
INTERFACE_MODES = ("ap_vld", "ap_none", "ap_ctrl_hs", "ap_ctrl_none", "axis", "ap_fifo", "s_axilite", "m_axi")
PARTITION_KINDS = ("complete", "cyclic", "block")


# ============================================================================================
# Types
# ============================================================================================


def _parse_lanes(parser: AttrParser) -> tuple[Attribute, IntAttr]:
    with parser.in_angle_brackets():
        elem = parser.parse_type()
        parser.parse_punctuation(",")
        lanes = parser.parse_integer(allow_boolean=False, allow_negative=False, context_msg=" (lanes)")
    return elem, IntAttr(lanes)


class _LanesType(ParametrizedAttribute, TypeAttribute):
    # each concrete type declares ``elem: TypeAttribute`` and ``lanes: IntAttr`` itself: the
    # parameters (and so equality) come from the decorated class's own annotations

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string("<")
        printer.print_attribute(self.elem)
        printer.print_string(f", {self.lanes.data}>")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        return _parse_lanes(parser)

    def verify(self) -> None:
        if not isinstance(self.elem, FixedType):
            raise VerifyException(f"{self.name} lanes must be !fxp.fixed, got {self.elem}")
        if self.lanes.data < 1:
            raise VerifyException(f"{self.name} needs at least one lane, got {self.lanes.data}")

    @property
    def format(self) -> FixedFormat:
        return self.elem.format


@irdl_attr_definition
class BeatType(_LanesType):
    """One stream beat held in a variable: ``fmlc::beat<T, N>`` (N lanes of T, one position)."""

    name = "vhls.beat"

    elem: TypeAttribute
    lanes: IntAttr


@irdl_attr_definition
class StreamType(_LanesType):
    """``hls::stream<fmlc::beat<T, N>>``: a FIFO of beats, one position of a tensor per beat."""

    name = "vhls.stream"

    elem: TypeAttribute
    lanes: IntAttr

    def beat(self) -> BeatType:
        return BeatType(self.elem, self.lanes)


@irdl_attr_definition
class ArrayType(ParametrizedAttribute, TypeAttribute):
    """A C array ``T a[N]`` of fixed-point elements, or a scalar variable ``T a;`` (no size)."""

    name = "vhls.array"

    shape: ArrayAttr[IntAttr]
    element_type: TypeAttribute

    def __init__(self, element_type: Attribute, shape: Sequence[int]):
        super().__init__(ArrayAttr([IntAttr(d) for d in shape]), element_type)

    def get_shape(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.shape.data)

    def print_parameters(self, printer: Printer) -> None:
        # like a memref: !vhls.array<16x!fxp.fixed<6, 1, signed>>, !vhls.array<!fxp.fixed<...>>
        printer.print_string("<")
        printer.print_string("".join(f"{d}x" for d in self.get_shape()))
        printer.print_attribute(self.element_type)
        printer.print_string(">")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            shape, elem = parser.parse_ranked_shape()
            # a parse error (with the position), not the verifier's exception at construction
            problem = _array_problem(shape, elem)
            if problem:
                parser.raise_error(problem, start, parser.pos)
        return ArrayAttr([IntAttr(d) for d in shape]), elem

    def verify(self) -> None:
        problem = _array_problem(self.get_shape(), self.element_type)
        if problem:
            raise VerifyException(problem)


def _array_problem(shape: Sequence[int], elem: Attribute) -> str | None:
    if len(shape) > 1 or any(d < 1 for d in shape):
        return f"'vhls.array' is 1-D with a static size >= 1, or 0-D (a scalar variable); got shape {list(shape)}"
    if not isinstance(elem, FixedType):
        return f"'vhls.array' must hold !fxp.fixed elements, got {elem}"
    return None


def array_type(fmt: FixedFormat | Attribute, size: int | None) -> ArrayType:
    """A flat array of ``size`` elements, or a scalar variable when size is None."""
    elem = FixedType.get(fmt) if isinstance(fmt, FixedFormat) else fmt
    return ArrayType(elem, [] if size is None else [size])


def _fixed(value: SSAValue | Attribute, op: Operation, what: str) -> FixedFormat:
    t = value.type if isinstance(value, SSAValue) else value
    if not isinstance(t, FixedType):
        raise VerifyException(f"'{op.name}' {what} must be !fxp.fixed, got {t}")
    fmt = t.format
    if fmt.width > AP_MAX_WIDTH:
        raise VerifyException(f"'{op.name}' {what} {fmt} is wider than ap_fixed's {AP_MAX_WIDTH} bits")
    return fmt


def _check_array(op: Operation, t: Attribute, what: str) -> Attribute:
    """An array (``!vhls.array``, whose own verifier checks shape and element) or a beat; returns the element type."""
    if isinstance(t, BeatType):
        return t.elem
    if not isinstance(t, ArrayType):
        raise VerifyException(f"'{op.name}' {what} must be a !vhls.array or a beat; got {t}")
    return t.element_type


# ============================================================================================
# ap_fixed's arithmetic result types (ap_fixed_base.h, struct RType)
# ============================================================================================


def _align(a: FixedFormat, b: FixedFormat) -> tuple[int, int]:
    """Integer bits of the exact sum/difference (before the carry bit) and its fraction."""
    ia = a.int_bits + (1 if b.signed and not a.signed else 0)
    ib = b.int_bits + (1 if a.signed and not b.signed else 0)
    return max(ia, ib), max(a.frac, b.frac)


def mul_format(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """Type of ``a * b`` in C++: ``ap_fixed<Wa+Wb, Ia+Ib>`` (exact)."""
    return FixedFormat(a.width + b.width, a.int_bits + b.int_bits, a.signed or b.signed)


def add_format(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """Type of ``a + b`` in C++ (exact: one carry bit over the aligned operands)."""
    i, f = _align(a, b)
    return FixedFormat(i + 1 + f, i + 1, a.signed or b.signed)


def sub_format(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """Type of ``a - b`` in C++ (exact, always signed)."""
    i, f = _align(a, b)
    return FixedFormat(i + 1 + f, i + 1, True)


# ============================================================================================
# Module level: typedefs, constant arrays, functions
# ============================================================================================


@irdl_op_definition
class TypedefOp(IRDLOperation):
    """A name for a fixed-point type: ``typedef ap_fixed<...> name;``."""

    name = "vhls.typedef"

    sym_name = prop_def(SymbolNameConstraint())
    type = prop_def(FixedType)

    traits = traits_def(SymbolOpInterface())
    assembly_format = "$sym_name `=` qualified($type) attr-dict"

    def __init__(self, name: str, fmt: FixedFormat):
        super().__init__(properties={"sym_name": StringAttr(name), "type": FixedType.get(fmt)})

    def verify_(self) -> None:
        _fixed(self.type, self, "type")


@irdl_op_definition
class GlobalOp(IRDLOperation):
    """A constant array (weights, biases, tables) stored as the integer codes of its element type."""

    name = "vhls.global"

    sym_name = prop_def(SymbolNameConstraint())
    type = prop_def(ArrayType)
    value = prop_def(DenseIntOrFPElementsAttr)

    traits = traits_def(SymbolOpInterface())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$sym_name `:` qualified($type) attr-dict"

    def __init__(self, name: str, codes: np.ndarray, fmt: FixedFormat):
        from fmlc.dialects.fxp import dense_codes

        flat = np.asarray(codes).reshape(-1)
        super().__init__(
            properties={"sym_name": StringAttr(name), "type": array_type(fmt, flat.size), "value": dense_codes(flat, fmt)}
        )

    @property
    def format(self) -> FixedFormat:
        return self.type.element_type.format

    def codes(self) -> np.ndarray:
        return codes_of(self.value)

    def verify_(self) -> None:
        elem = _check_array(self, self.type, "type")
        fmt = _fixed(elem, self, "element type")
        if len(self.type.get_shape()) != 1:
            raise VerifyException(f"'vhls.global' @{self.sym_name.data} must be a 1-D array")
        stored = self.value.get_element_type()
        if not isinstance(stored, IntegerType) or stored.width.data != storage_bits(fmt):
            raise VerifyException(f"'vhls.global' @{self.sym_name.data}: codes of {fmt} are stored as i{storage_bits(fmt)}, got {stored}")
        codes = self.codes()
        if codes.shape != tuple(self.type.get_shape()):
            raise VerifyException(f"'vhls.global' @{self.sym_name.data}: {codes.size} codes for an array of {self.type.get_shape()[0]}")
        if codes.size and (codes.min() < fmt.min_code or codes.max() > fmt.max_code):
            raise VerifyException(f"'vhls.global' @{self.sym_name.data}: a code lies outside {fmt}")


def _check_port(op: Operation, t: Attribute, k: int) -> None:
    if isinstance(t, StreamType):
        return
    _check_array(op, t, f"argument #{k}")


@irdl_op_definition
class FuncOp(IRDLOperation):
    """A C++ function: inputs first (``num_inputs`` of them, read-only), then outputs; no return value."""

    name = "vhls.func"

    sym_name = prop_def(SymbolNameConstraint())
    function_type = prop_def(FunctionType)
    num_inputs = prop_def(IntegerAttr)
    top = opt_prop_def(UnitAttr)
    port_names = opt_prop_def(ArrayAttr)
    comment = opt_prop_def(StringAttr)
    body = region_def("single_block")

    traits = lazy_traits_def(lambda: (SymbolOpInterface(), IsolatedFromAbove()))

    EXTRA: ClassVar[tuple[str, ...]] = ("num_inputs", "top", "port_names", "comment")

    def __init__(
        self,
        name: str,
        input_types: Sequence[Attribute],
        output_types: Sequence[Attribute],
        *,
        top: bool = False,
        port_names: Sequence[str] | None = None,
        comment: str | None = None,
    ):
        types = [*input_types, *output_types]
        props: dict[str, Attribute] = {
            "sym_name": StringAttr(name),
            "function_type": FunctionType.from_lists(types, []),
            "num_inputs": IntegerAttr(len(input_types), i64),
        }
        if top:
            props["top"] = UnitAttr()
        if port_names is not None:
            props["port_names"] = ArrayAttr([StringAttr(n) for n in port_names])
        if comment:
            props["comment"] = StringAttr(comment)
        super().__init__(properties=props, regions=[Region(Block(arg_types=types))])
        for arg, port in zip(self.block.args, port_names or ()):
            arg.name_hint = port

    @property
    def block(self) -> Block:
        return self.body.block

    @property
    def inputs(self) -> tuple[SSAValue, ...]:
        return self.block.args[: self.num_inputs.value.data]

    @property
    def outputs(self) -> tuple[SSAValue, ...]:
        return self.block.args[self.num_inputs.value.data :]

    def verify_(self) -> None:
        types = self.function_type.inputs.data
        if self.function_type.outputs.data:
            raise VerifyException(f"'vhls.func' @{self.sym_name.data} returns nothing: outputs are arguments")
        if [a.type for a in self.block.args] != list(types):
            raise VerifyException(f"'vhls.func' @{self.sym_name.data}: block arguments differ from the function type")
        if not 0 <= self.num_inputs.value.data <= len(types):
            raise VerifyException(f"'vhls.func' @{self.sym_name.data}: num_inputs must be within [0, {len(types)}]")
        if self.port_names is not None and len(self.port_names.data) != len(types):
            raise VerifyException(f"'vhls.func' @{self.sym_name.data}: {len(self.port_names.data)} port names for {len(types)} arguments")
        for k, t in enumerate(types):
            _check_port(self, t, k)
        if not isinstance(self.block.last_op, ReturnOp):
            raise VerifyException(f"'vhls.func' @{self.sym_name.data} must end with vhls.return")

    def print(self, printer: Printer) -> None:
        extra = {k: self.properties[k] for k in self.EXTRA if k in self.properties}
        print_func_op_like(
            printer,
            self.sym_name,
            self.function_type,
            self.body,
            {**extra, **self.attributes},
            reserved_attr_names=("sym_name", "function_type"),
        )

    @classmethod
    def parse(cls, parser: Parser) -> FuncOp:
        name, input_types, _, region, extra, _, _ = parse_func_op_like(parser, reserved_attr_names=("sym_name", "function_type"))
        attrs = dict(extra.data) if extra is not None else {}
        props: dict[str, Attribute] = {"sym_name": StringAttr(name), "function_type": FunctionType.from_lists(input_types, [])}
        for key in cls.EXTRA:
            if key in attrs:
                props[key] = attrs.pop(key)
        if "num_inputs" not in props:
            parser.raise_error("vhls.func needs a num_inputs attribute")
        return cls.create(properties=props, attributes=attrs, regions=[region])


@irdl_op_definition
class ReturnOp(IRDLOperation):
    """Ends a function."""

    name = "vhls.return"

    traits = traits_def(IsTerminator(), HasParent(FuncOp))
    assembly_format = "attr-dict"


class CallSymbolUser(SymbolUserOpInterface):
    def verify(self, op: Operation) -> None:
        assert isinstance(op, CallOp)
        callee = SymbolTable.lookup_symbol(op, op.callee)
        if not isinstance(callee, FuncOp):
            raise VerifyException(f"'vhls.call' callee {op.callee} is not an vhls.func")
        want = list(callee.function_type.inputs.data)
        have = [v.type for v in op.args]
        if want != have:
            show = lambda ts: ", ".join(str(t) for t in ts)  # noqa: E731
            raise VerifyException(f"'vhls.call' to {op.callee}: argument types ({show(have)}) differ from the callee's ({show(want)})")


@irdl_op_definition
class CallOp(IRDLOperation):
    """Calls a function (a layer, from the top function)."""

    name = "vhls.call"

    callee = prop_def(FlatSymbolRefAttrConstr)
    args = var_operand_def()

    traits = traits_def(CallSymbolUser())
    assembly_format = "$callee `(` $args `)` attr-dict `:` type($args)"

    def __init__(self, callee: str, args: Sequence[SSAValue]):
        super().__init__(operands=[list(args)], properties={"callee": SymbolRefAttr(callee)})


# ============================================================================================
# Pragmas
# ============================================================================================


@irdl_op_definition
class InterfaceOp(IRDLOperation):
    """``#pragma HLS INTERFACE mode=M port=P`` (no port: the function's return / control)."""

    name = "vhls.interface"

    port = opt_operand_def()
    mode = prop_def(StringAttr)

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "($port^ `:` type($port))? attr-dict"

    def __init__(self, mode: str, port: SSAValue | None = None):
        super().__init__(operands=[[port] if port is not None else []], properties={"mode": StringAttr(mode)})

    def verify_(self) -> None:
        if self.mode.data not in INTERFACE_MODES:
            raise VerifyException(f"'vhls.interface' mode must be one of {INTERFACE_MODES}, got '{self.mode.data}'")
        if self.port is not None and not isinstance(self.port.owner, Block):
            raise VerifyException("'vhls.interface' port must be a function argument")


class _ArrayPragma(IRDLOperation):
    array = operand_def(ArrayType | BeatType)  # a beat: its lanes (``variable=b.data``)
    kind = prop_def(StringAttr)
    factor = opt_prop_def(IntegerAttr)
    dim = opt_prop_def(IntegerAttr)

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$array attr-dict `:` type($array)"

    def __init__(self, array: SSAValue, kind: str = "complete", factor: int | None = None, dim: int | None = None):
        props: dict[str, Attribute] = {"kind": StringAttr(kind)}
        if factor is not None:
            props["factor"] = IntegerAttr(factor, i64)
        if dim is not None:
            props["dim"] = IntegerAttr(dim, i64)
        super().__init__(operands=[array], properties=props)

    def verify_(self) -> None:
        if self.kind.data not in PARTITION_KINDS:
            raise VerifyException(f"'{self.name}' kind must be one of {PARTITION_KINDS}, got '{self.kind.data}'")
        if (self.factor is not None) != (self.kind.data != "complete"):
            raise VerifyException(f"'{self.name}': cyclic and block partitions need a factor, complete takes none")
        if self.factor is not None and self.factor.value.data < 1:
            raise VerifyException(f"'{self.name}' factor must be >= 1")


@irdl_op_definition
class ArrayPartitionOp(_ArrayPragma):
    """``#pragma HLS ARRAY_PARTITION``: split an array into registers or banks."""

    name = "vhls.array_partition"


@irdl_op_definition
class ArrayReshapeOp(_ArrayPragma):
    """``#pragma HLS ARRAY_RESHAPE``: pack an array's elements into wider words (ports)."""

    name = "vhls.array_reshape"


@irdl_op_definition
class PipelineOp(IRDLOperation):
    """``#pragma HLS PIPELINE II=n`` for the enclosing function."""

    name = "vhls.pipeline"

    ii = prop_def(IntegerAttr)

    traits = traits_def(HasParent(FuncOp))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "attr-dict"

    def __init__(self, ii: int):
        super().__init__(properties={"ii": IntegerAttr(ii, i64)})

    def verify_(self) -> None:
        if self.ii.value.data < 1:
            raise VerifyException("'vhls.pipeline' II must be >= 1")


@irdl_op_definition
class DataflowOp(IRDLOperation):
    """``#pragma HLS DATAFLOW``: the enclosing function's calls run as concurrent processes."""

    name = "vhls.dataflow"

    traits = traits_def(HasParent(FuncOp))
    assembly_format = "attr-dict"


@irdl_op_definition
class InlineOffOp(IRDLOperation):
    """``#pragma HLS INLINE off``: keep the enclosing function a unit of its own (one per layer)."""

    name = "vhls.inline_off"

    traits = traits_def(HasParent(FuncOp))
    assembly_format = "attr-dict"


@irdl_op_definition
class CommentOp(IRDLOperation):
    """A ``// comment`` line in the C++, for the reader."""

    name = "vhls.comment"

    text = prop_def(StringAttr)

    assembly_format = "$text attr-dict"

    def __init__(self, text: str):
        super().__init__(properties={"text": StringAttr(text)})

    def verify_(self) -> None:
        if "\n" in self.text.data:
            raise VerifyException("'vhls.comment' holds one line")


# ============================================================================================
# Storage and streams
# ============================================================================================


@irdl_op_definition
class AllocaOp(IRDLOperation):
    """A local array, scalar variable (0-D) or beat: ``T name[N];``."""

    name = "vhls.alloca"

    result = result_def()

    assembly_format = "attr-dict `:` type($result)"

    def __init__(self, t: Attribute, name: str | None = None):
        super().__init__(result_types=[t])
        if name:
            self.result.name_hint = name

    def verify_(self) -> None:
        _check_array(self, self.result.type, "result")


@irdl_op_definition
class ChannelOp(IRDLOperation):
    """A stream between two functions: ``hls::stream<...> s; #pragma HLS STREAM depth=D``."""

    name = "vhls.channel"

    depth = prop_def(IntegerAttr)
    result = result_def(StreamType)

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "attr-dict `:` type($result)"

    def __init__(self, t: StreamType, depth: int, name: str | None = None):
        super().__init__(result_types=[t], properties={"depth": IntegerAttr(depth, i64)})
        if name:
            self.result.name_hint = name

    def verify_(self) -> None:
        if self.depth.value.data < 1:
            raise VerifyException("'vhls.channel' depth must be >= 1")


class GlobalSymbolUser(SymbolUserOpInterface):
    def verify(self, op: Operation) -> None:
        assert isinstance(op, GetGlobalOp)
        found = SymbolTable.lookup_symbol(op, op.global_name)
        if not isinstance(found, GlobalOp):
            raise VerifyException(f"'vhls.get_global' {op.global_name} is not an vhls.global")
        if found.type != op.result.type:
            raise VerifyException(f"'vhls.get_global' {op.global_name} has type {found.type}, not {op.result.type}")


@irdl_op_definition
class GetGlobalOp(IRDLOperation):
    """The constant array named by a global."""

    name = "vhls.get_global"

    global_name = prop_def(FlatSymbolRefAttrConstr, prop_name="name")
    result = result_def(ArrayType)

    traits = traits_def(Pure(), GlobalSymbolUser())
    assembly_format = "$name attr-dict `:` type($result)"

    def __init__(self, name: str, t: ArrayType):
        super().__init__(result_types=[t], properties={"name": SymbolRefAttr(name)})


def _check_access(op: Operation, array: SSAValue, index: SSAValue | None, elem: Attribute, what: str) -> None:
    have = _check_array(op, array.type, "array")
    if have != elem:
        raise VerifyException(f"'{op.name}' {what} type {elem} differs from the array's element type {have}")
    scalar = isinstance(array.type, ArrayType) and not array.type.get_shape()
    if scalar != (index is None):
        raise VerifyException(f"'{op.name}': a scalar variable takes no index, an array or beat takes one")
    if index is not None and not isinstance(index.type, IndexType):
        raise VerifyException(f"'{op.name}' index must be an index, got {index.type}")


@irdl_op_definition
class LoadOp(IRDLOperation):
    """Read ``a[i]`` (or a scalar variable, or lane i of a beat)."""

    name = "vhls.load"

    array = operand_def()
    index = opt_operand_def(IndexType)
    result = result_def(FixedType)

    assembly_format = "$array (`[` $index^ `]`)? attr-dict `:` type($array) `->` type($result)"

    def __init__(self, array: SSAValue, index: SSAValue | None = None):
        t = array.type
        elem = t.elem if isinstance(t, BeatType) else t.element_type
        super().__init__(operands=[array, [index] if index is not None else []], result_types=[elem])

    def verify_(self) -> None:
        _check_access(self, self.array, self.index, self.result.type, "result")


@irdl_op_definition
class StoreOp(IRDLOperation):
    """Write ``a[i] = v`` (v of exactly the element type: casts are explicit)."""

    name = "vhls.store"

    value = operand_def(FixedType)
    array = operand_def()
    index = opt_operand_def(IndexType)

    assembly_format = "$value `,` $array (`[` $index^ `]`)? attr-dict `:` type($value) `,` type($array)"

    def __init__(self, value: SSAValue, array: SSAValue, index: SSAValue | None = None):
        super().__init__(operands=[value, array, [index] if index is not None else []])

    def verify_(self) -> None:
        _check_access(self, self.array, self.index, self.value.type, "value")


class _StreamAccess(IRDLOperation):
    stream = operand_def(StreamType)
    beat = operand_def(BeatType)

    assembly_format = "$stream `,` $beat attr-dict `:` type($stream) `,` type($beat)"

    def __init__(self, stream: SSAValue, beat: SSAValue):
        super().__init__(operands=[stream, beat])

    def verify_(self) -> None:
        if self.stream.type.beat() != self.beat.type:
            raise VerifyException(f"'{self.name}' beat {self.beat.type} does not match stream {self.stream.type}")


@irdl_op_definition
class ReadOp(_StreamAccess):
    """``beat = s.read();``: take the next beat of a stream."""

    name = "vhls.read"


@irdl_op_definition
class WriteOp(_StreamAccess):
    """``s.write(beat);``: append a beat to a stream."""

    name = "vhls.write"


# ============================================================================================
# Control flow
# ============================================================================================


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Ends a loop body or a branch."""

    name = "vhls.yield"

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(ForOp, IfOp)))
    assembly_format = "attr-dict"


@irdl_op_definition
class ForOp(IRDLOperation):
    """``label: for (int i = lower; i < upper; i += step)`` with optional PIPELINE II or full UNROLL."""

    name = "vhls.for"

    lower = prop_def(IntegerAttr)
    upper = prop_def(IntegerAttr)
    step = prop_def(IntegerAttr)
    label = opt_prop_def(StringAttr)
    pipeline = opt_prop_def(IntegerAttr)
    unroll = opt_prop_def(UnitAttr)
    body = region_def("single_block")

    EXTRA: ClassVar[tuple[str, ...]] = ("label", "pipeline", "unroll")

    def __init__(self, lower: int, upper: int, step: int = 1, *, label: str | None = None, pipeline: int | None = None, unroll: bool = False):
        props: dict[str, Attribute] = {
            "lower": IntegerAttr(lower, i64),
            "upper": IntegerAttr(upper, i64),
            "step": IntegerAttr(step, i64),
        }
        if label:
            props["label"] = StringAttr(label)
        if pipeline is not None:
            props["pipeline"] = IntegerAttr(pipeline, i64)
        if unroll:
            props["unroll"] = UnitAttr()
        block = Block(arg_types=[IndexType()])
        block.add_op(YieldOp())
        super().__init__(properties=props, regions=[Region(block)])

    @property
    def block(self) -> Block:
        return self.body.block

    @property
    def iv(self) -> SSAValue:
        return self.block.args[0]

    @property
    def trip_count(self) -> int:
        lo, hi, st = (a.value.data for a in (self.lower, self.upper, self.step))
        return max(0, -(-(hi - lo) // st))

    def verify_(self) -> None:
        if self.step.value.data < 1:
            raise VerifyException("'vhls.for' step must be >= 1")
        if self.pipeline is not None and self.unroll is not None:
            raise VerifyException("'vhls.for' is either pipelined or unrolled, not both")
        if self.pipeline is not None and self.pipeline.value.data < 1:
            raise VerifyException("'vhls.for' pipeline II must be >= 1")
        args = self.block.args
        if len(args) != 1 or not isinstance(args[0].type, IndexType):
            raise VerifyException("'vhls.for' body takes one index argument, the induction variable")
        if not isinstance(self.block.last_op, YieldOp):
            raise VerifyException("'vhls.for' body must end with vhls.yield")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.iv)
        printer.print_string(f" = {self.lower.value.data} to {self.upper.value.data} step {self.step.value.data}")
        extra = {k: self.properties[k] for k in self.EXTRA if k in self.properties}
        printer.print_op_attributes({**extra, **self.attributes}, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=False, print_block_terminators=False)

    @classmethod
    def parse(cls, parser: Parser) -> ForOp:
        iv = parser.parse_argument(expect_type=False)
        parser.parse_punctuation("=")
        lower = parser.parse_integer(context_msg=" (lower bound)")
        parser.parse_keyword("to")
        upper = parser.parse_integer(context_msg=" (upper bound)")
        parser.parse_keyword("step")
        step = parser.parse_integer(context_msg=" (step)")
        extra = parser.parse_optional_attr_dict_with_keyword()
        attrs = dict(extra.data) if extra is not None else {}
        body = parser.parse_region((iv.resolve(IndexType()),))
        if not body.block.ops or not isinstance(body.block.last_op, YieldOp):
            body.block.add_op(YieldOp())
        props: dict[str, Attribute] = {
            "lower": IntegerAttr(lower, i64),
            "upper": IntegerAttr(upper, i64),
            "step": IntegerAttr(step, i64),
        }
        for key in cls.EXTRA:
            if key in attrs:
                props[key] = attrs.pop(key)
        return cls.create(properties=props, attributes=attrs, regions=[body])


@irdl_op_definition
class IfOp(IRDLOperation):
    """``if (cond) { ... }``."""

    name = "vhls.if"

    cond = operand_def(i1)
    then = region_def("single_block")

    def __init__(self, cond: SSAValue):
        block = Block()
        block.add_op(YieldOp())
        super().__init__(operands=[cond], regions=[Region(block)])

    @property
    def block(self) -> Block:
        return self.then.block

    def verify_(self) -> None:
        if not isinstance(self.block.last_op, YieldOp) or self.block.args:
            raise VerifyException("'vhls.if' body takes no arguments and ends with vhls.yield")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.cond)
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.then, print_entry_block_args=False, print_empty_block=False, print_block_terminators=False)

    @classmethod
    def parse(cls, parser: Parser) -> IfOp:
        cond = parser.resolve_operand(parser.parse_unresolved_operand(), i1)
        extra = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region()
        if not body.block.ops or not isinstance(body.block.last_op, YieldOp):
            body.block.add_op(YieldOp())
        return cls.create(operands=[cond], attributes=dict(extra.data) if extra is not None else {}, regions=[body])


# ============================================================================================
# Scalar arithmetic, as ap_fixed does it
# ============================================================================================


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A fixed-point constant given by its code: ``T(value)``."""

    name = "vhls.constant"

    code = prop_def(IntegerAttr)
    result = result_def(FixedType)

    traits = traits_def(Pure())

    def __init__(self, code: int, fmt: FixedFormat):
        super().__init__(properties={"code": IntegerAttr(int(code), i64)}, result_types=[FixedType.get(fmt)])

    def print(self, printer: Printer) -> None:
        printer.print_string(f" {self.code.value.data}")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        code = parser.parse_integer(allow_boolean=False, context_msg=" (code)")
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        t = parser.parse_type()
        if not isinstance(t, FixedType):
            parser.raise_error(f"vhls.constant needs a !fxp.fixed type, got {t}")
        op = cls(code, t.format)
        op.attributes |= attrs
        return op

    def verify_(self) -> None:
        fmt = _fixed(self.result, self, "result")
        code = self.code.value.data
        if not fmt.min_code <= code <= fmt.max_code:
            raise VerifyException(f"'vhls.constant' code {code} lies outside {fmt}")


class _ArithOp(IRDLOperation):
    lhs = operand_def(FixedType)
    rhs = operand_def(FixedType)
    result = result_def(FixedType)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($result)"

    @staticmethod
    def rule(a: FixedFormat, b: FixedFormat) -> FixedFormat:
        raise NotImplementedError

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        fmt = self.rule(lhs.type.format, rhs.type.format)
        super().__init__(operands=[lhs, rhs], result_types=[FixedType.get(fmt)])

    def verify_(self) -> None:
        a, b = _fixed(self.lhs, self, "lhs"), _fixed(self.rhs, self, "rhs")
        want = self.rule(a, b)
        if _fixed(self.result, self, "result") != want:
            raise VerifyException(f"'{self.name}' of {a} and {b} gives {want} in C++, not {self.result.type.format}")


@irdl_op_definition
class AddOp(_ArithOp):
    """Exact ``a + b`` (ap_fixed's plus type)."""

    name = "vhls.add"
    rule = staticmethod(add_format)


@irdl_op_definition
class SubOp(_ArithOp):
    """Exact ``a - b`` (ap_fixed's minus type, signed)."""

    name = "vhls.sub"
    rule = staticmethod(sub_format)


@irdl_op_definition
class MulOp(_ArithOp):
    """Exact ``a * b`` (ap_fixed's mult type)."""

    name = "vhls.mul"
    rule = staticmethod(mul_format)


@irdl_op_definition
class CastOp(IRDLOperation):
    """``(T)x``: round and handle overflow as T's modes say."""

    name = "vhls.cast"

    input = operand_def(FixedType)
    result = result_def(FixedType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, fmt: FixedFormat):
        super().__init__(operands=[x], result_types=[FixedType.get(fmt)])

    def verify_(self) -> None:
        _fixed(self.input, self, "input")
        _fixed(self.result, self, "result")


@irdl_op_definition
class CmpOp(IRDLOperation):
    """Exact comparison of two fixed-point values: ``a < b`` etc."""

    name = "vhls.cmp"

    predicate = prop_def(StringAttr)
    lhs = operand_def(FixedType)
    rhs = operand_def(FixedType)
    result = result_def(i1)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)"

    def __init__(self, predicate: str, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], properties={"predicate": StringAttr(predicate)}, result_types=[i1])

    def verify_(self) -> None:
        if self.predicate.data not in PREDICATES:
            raise VerifyException(f"'vhls.cmp' predicate must be one of {PREDICATES}, got '{self.predicate.data}'")
        _fixed(self.lhs, self, "lhs")
        _fixed(self.rhs, self, "rhs")


@irdl_op_definition
class SelectOp(IRDLOperation):
    """``c ? a : b`` on two values of one fixed-point type."""

    name = "vhls.select"

    T: ClassVar = VarConstraint("T", base(FixedType))
    cond = operand_def(i1)
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    assembly_format = "$cond `,` $lhs `,` $rhs attr-dict `:` type($result)"

    def __init__(self, cond: SSAValue, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[cond, lhs, rhs], result_types=[lhs.type])

    def verify_(self) -> None:
        if not self.lhs.type == self.rhs.type == self.result.type:
            raise VerifyException(f"'vhls.select' operands and result must share one type, got {self.lhs.type}, {self.rhs.type} -> {self.result.type}")


@irdl_op_definition
class BitsOp(IRDLOperation):
    """The raw bits of a fixed-point value as an unsigned integer (``x.range().to_uint()``)."""

    name = "vhls.bits"

    input = operand_def(FixedType)
    result = result_def(IndexType)

    MAX_WIDTH: ClassVar[int] = 30
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, x: SSAValue):
        super().__init__(operands=[x], result_types=[IndexType()])

    def verify_(self) -> None:
        fmt = _fixed(self.input, self, "input")
        if fmt.width > self.MAX_WIDTH:
            raise VerifyException(f"'vhls.bits' of {fmt}: at most {self.MAX_WIDTH} bits fit a C int")


HLS = Dialect(
    "vhls",
    [
        TypedefOp,
        GlobalOp,
        FuncOp,
        ReturnOp,
        CallOp,
        InterfaceOp,
        ArrayPartitionOp,
        ArrayReshapeOp,
        PipelineOp,
        DataflowOp,
        InlineOffOp,
        CommentOp,
        AllocaOp,
        ChannelOp,
        GetGlobalOp,
        LoadOp,
        StoreOp,
        ReadOp,
        WriteOp,
        YieldOp,
        ForOp,
        IfOp,
        ConstantOp,
        AddOp,
        SubOp,
        MulOp,
        CastOp,
        CmpOp,
        SelectOp,
        BitsOp,
    ],
    [ArrayType, BeatType, StreamType],
)
