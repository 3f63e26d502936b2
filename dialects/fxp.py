"""The ``fxp`` dialect: fixed-point tensor operations, fmlc's semantic core.

Tensors are per sample (no batch dimension) with static shapes; convolutions and pooling are
channels-last.  Every operation computes its exact mathematical result from the exact values
of its operands and then casts it to its result element type (rounding, then overflow, as
``ap_fixed`` does; see ``fmlc.fixed``).  ``!fxp.auto`` marks a type that precision inference
has yet to choose.

Operations whose semantics need more than "exact result, then cast" say so in their docstring
(dense and conv accumulate in an explicit accumulator type; softmax and average pooling are
defined step by step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    AnyFloat,
    Float32Type,
    ArrayAttr,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    f64,
    i64,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from fmlc.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat

# ============================================================================================
# Types
# ============================================================================================


@irdl_attr_definition
class FixedType(ParametrizedAttribute, TypeAttribute):
    """A fixed-point number: ``!fxp.fixed<W, I, signed|unsigned[, ROUNDING, OVERFLOW]>``."""

    name = "fxp.fixed"

    width: IntAttr
    int_bits: IntAttr
    signedness: StringAttr
    rounding: StringAttr
    overflow: StringAttr

    @staticmethod
    def get(fmt: FixedFormat) -> FixedType:
        return FixedType(
            IntAttr(fmt.width),
            IntAttr(fmt.int_bits),
            StringAttr("signed" if fmt.signed else "unsigned"),
            StringAttr(fmt.rounding),
            StringAttr(fmt.overflow),
        )

    @property
    def format(self) -> FixedFormat:
        # kept on the instance (immutable): the passes and lowerings read it once per op they
        # visit; not a cached_property, which xDSL would take for a parameter
        fmt = self.__dict__.get("_format")
        if fmt is None:
            fmt = FixedFormat(
                self.width.data,
                self.int_bits.data,
                self.signedness.data == "signed",
                self.rounding.data,
                self.overflow.data,
            )
            self.__dict__["_format"] = fmt
        return fmt

    def verify(self) -> None:
        if self.signedness.data not in ("signed", "unsigned"):
            raise VerifyException(f"fxp.fixed signedness must be 'signed' or 'unsigned', got '{self.signedness.data}'")
        try:
            self.format
        except ValueError as err:
            raise VerifyException(f"invalid fxp.fixed: {err}") from None

    def print_parameters(self, printer: Printer) -> None:
        text = f"<{self.width.data}, {self.int_bits.data}, {self.signedness.data}"
        if (self.rounding.data, self.overflow.data) != ("TRN", "WRAP"):
            text += f", {self.rounding.data}, {self.overflow.data}"
        printer.print_string(text + ">")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            width = parser.parse_integer(allow_boolean=False, allow_negative=False, context_msg=" (fixed-point width)")
            parser.parse_punctuation(",")
            int_bits = parser.parse_integer(allow_boolean=False, context_msg=" (fixed-point integer bits)")
            parser.parse_punctuation(",")
            sign = parser.parse_keyword_in(("signed", "unsigned"), " (fixed-point signedness)")
            rounding, overflow = "TRN", "WRAP"
            if parser.parse_optional_punctuation(","):
                mode = parser.parse_keyword_in(ROUNDING_MODES + OVERFLOW_MODES, " (rounding or overflow mode)")
                if mode in ROUNDING_MODES:
                    rounding = mode
                    if parser.parse_optional_punctuation(","):
                        overflow = parser.parse_keyword_in(OVERFLOW_MODES, " (overflow mode)")
                else:
                    overflow = mode
        return (IntAttr(width), IntAttr(int_bits), StringAttr(sign), StringAttr(rounding), StringAttr(overflow))


@irdl_attr_definition
class AutoType(ParametrizedAttribute, TypeAttribute):
    """A fixed-point type left for precision inference to choose: ``!fxp.auto``."""

    name = "fxp.auto"


def fixed_tensor(fmt: FixedFormat | None, shape: Sequence[int]) -> TensorType:
    """``tensor<shape x !fxp.fixed<...>>``, or of ``!fxp.auto`` when ``fmt`` is None."""
    return TensorType(FixedType.get(fmt) if fmt is not None else AutoType(), list(shape))


def element_format(value: SSAValue | Attribute) -> FixedFormat:
    """The fixed-point format of a tensor value or type; errors on ``!fxp.auto``."""
    elem = _elem(value)
    if not isinstance(elem, FixedType):
        raise VerifyException(f"expected a resolved fixed-point type, got {elem}")
    return elem.format


def is_resolved(value: SSAValue | Attribute) -> bool:
    return isinstance(_elem(value), FixedType)


# ============================================================================================
# Verification helpers
# ============================================================================================


def _type(value: SSAValue | Attribute) -> Attribute:
    return value.type if isinstance(value, SSAValue) else value


def _elem(value: SSAValue | Attribute) -> Attribute:
    t = _type(value)
    return t.get_element_type() if isinstance(t, TensorType) else t


def shape_of(value: SSAValue | Attribute) -> tuple[int, ...]:
    t = _type(value)
    assert isinstance(t, TensorType), t
    return tuple(t.get_shape())


def _check_fixed_tensor(op: IRDLOperation, value: SSAValue, what: str) -> tuple[int, ...]:
    t = value.type
    if not isinstance(t, TensorType):
        raise VerifyException(f"'{op.name}' {what} must be a tensor, got {t}")
    if not isinstance(t.get_element_type(), FixedType | AutoType):
        raise VerifyException(f"'{op.name}' {what} must hold !fxp.fixed or !fxp.auto elements, got {t.get_element_type()}")
    shape = tuple(t.get_shape())
    if any(d < 0 for d in shape):
        raise VerifyException(f"'{op.name}' {what} must have a static shape, got {t}")
    return shape


def _check_same_element(op: IRDLOperation, a: SSAValue, b: SSAValue, what: str) -> None:
    """Data movement keeps the element type (an !fxp.auto result is left for precision inference)."""
    if _elem(a) != _elem(b) and not isinstance(_elem(b), AutoType):
        raise VerifyException(f"'{op.name}' {what}: element types differ ({_elem(a)} vs {_elem(b)})")


def broadcast_shapes(op_name: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy broadcasting of two static shapes, or a VerifyException naming the op."""
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise VerifyException(f"'{op_name}' operand shapes {list(a)} and {list(b)} do not broadcast") from None


def _check_acc(op: IRDLOperation, acc: Attribute) -> None:
    if isinstance(acc, FixedType) and acc.format.overflow != "WRAP":
        raise VerifyException(
            f"'{op.name}' accumulator {acc} must wrap (WRAP): a saturating sum would depend on the order of terms"
        )
    if not isinstance(acc, FixedType | AutoType):
        raise VerifyException(f"'{op.name}' accumulator must be !fxp.fixed or !fxp.auto, got {acc}")


def ints(attr: DenseArrayBase | None, default: Sequence[int] = ()) -> tuple[int, ...]:
    """The integers of an ``array<i64: ...>`` property (``default`` when absent)."""
    return tuple(attr.get_values()) if attr is not None else tuple(default)


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


# ============================================================================================
# Constants: integer codes in a dense attribute, typed by the result's fixed-point format
# ============================================================================================


def storage_bits(fmt: FixedFormat) -> int:
    """Bits of the signless integer that stores one code of ``fmt`` in a dense attribute."""
    need = fmt.width + (0 if fmt.signed else 1)
    for bits in (8, 16, 32, 64):
        if need <= bits:
            return bits
    raise VerifyException(f"constants of {fmt} are not supported: codes wider than 63 bits")


def dense_codes(codes: np.ndarray, fmt: FixedFormat) -> DenseIntOrFPElementsAttr:
    """A dense attribute holding ``codes`` (integers in ``fmt``'s range) from numpy bytes."""
    bits = storage_bits(fmt)
    data = np.ascontiguousarray(np.asarray(codes).astype(f"<i{bits // 8}"))
    shape = list(data.shape) if data.ndim else []
    return DenseIntOrFPElementsAttr(TensorType(IntegerType(bits), shape), BytesAttr(data.tobytes()))


def codes_of(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """The integer codes of a dense attribute as an int64 numpy array of its shape."""
    elem = attr.get_element_type()
    assert isinstance(elem, IntegerType), elem
    width = elem.width.data
    shape = tuple(attr.get_shape())
    count = int(np.prod(shape)) if shape else 1
    raw = np.frombuffer(attr.data.data, dtype=f"<i{width // 8}")
    if raw.size == 1 and count > 1:  # splat
        raw = np.full(count, raw[0])
    return raw.astype(np.int64).reshape(shape)


def _check_codes(op_name: str, codes: np.ndarray, fmt: FixedFormat, what: str) -> None:
    if codes.size and (codes.min() < fmt.min_code or codes.max() > fmt.max_code):
        bad = codes[(codes < fmt.min_code) | (codes > fmt.max_code)].ravel()[0]
        raise VerifyException(f"'{op_name}' {what} holds code {bad}, outside {fmt} [{fmt.min_code}, {fmt.max_code}]")


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A constant tensor (weights, biases, tables), stored as integer codes of its result type."""

    name = "fxp.constant"

    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())

    def __init__(self, codes: np.ndarray, fmt: FixedFormat, attributes: dict[str, Attribute] | None = None):
        codes = np.asarray(codes)
        super().__init__(
            properties={"value": dense_codes(codes, fmt)},
            result_types=[fixed_tensor(fmt, codes.shape)],
            attributes=attributes,
        )

    @property
    def format(self) -> FixedFormat:
        return element_format(self.result)

    def codes(self) -> np.ndarray:
        return codes_of(self.value)

    def verify_(self) -> None:
        shape = _check_fixed_tensor(self, self.result, "result")
        if not is_resolved(self.result):
            raise VerifyException("'fxp.constant' needs a resolved fixed-point type, not !fxp.auto")
        fmt = self.format
        elem = self.value.get_element_type()
        if not isinstance(elem, IntegerType) or elem.width.data != storage_bits(fmt):
            raise VerifyException(f"'fxp.constant' codes of {fmt} must be stored as i{storage_bits(fmt)}, got {elem}")
        if tuple(self.value.get_shape()) != shape:
            raise VerifyException(f"'fxp.constant' value shape {list(self.value.get_shape())} differs from result {list(shape)}")
        _check_codes(self.name, self.codes(), fmt, "value")

    def print(self, printer: Printer) -> None:
        codes = self.codes()
        printer.print_string(" dense<")
        if codes.size and np.all(codes == codes.flat[0]):
            printer.print_string(str(int(codes.flat[0])))
        else:
            printer.print_string(f'"0x{self.value.data.data.hex().upper()}"')
        printer.print_string(">")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        parser.parse_keyword("dense")
        parser.parse_punctuation("<")
        pos = parser.pos
        hex_text = parser.parse_optional_str_literal()
        values = None
        if hex_text is None:
            values = _parse_nested_ints(parser)
        parser.parse_punctuation(">")
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        result_type = parser.parse_type()
        if not isinstance(result_type, TensorType) or not isinstance(result_type.get_element_type(), FixedType):
            parser.raise_error(f"fxp.constant needs a tensor of !fxp.fixed, got {result_type}")
        fmt = result_type.get_element_type().format
        shape = tuple(result_type.get_shape())
        count = int(np.prod(shape)) if shape else 1
        if hex_text is not None:
            if not hex_text.startswith("0x"):
                parser.raise_error("fxp.constant hex data must start with 0x", pos)
            bits = storage_bits(fmt)
            raw = bytes.fromhex(hex_text[2:])
            if len(raw) != count * bits // 8:
                parser.raise_error(
                    f"fxp.constant hex data has {len(raw)} bytes; {count} codes of i{bits} need {count * bits // 8}", pos
                )
            codes = np.frombuffer(raw, dtype=f"<i{bits // 8}").reshape(shape)
        else:
            arr = np.array(values, dtype=object)
            if arr.ndim == 0:
                arr = np.full(shape, int(arr), dtype=object)
            if tuple(arr.shape) != shape:
                parser.raise_error(f"fxp.constant values have shape {list(arr.shape)}, the type says {list(shape)}", pos)
            if arr.size and (min(arr.flat) < fmt.min_code or max(arr.flat) > fmt.max_code):
                parser.raise_error(f"fxp.constant value out of range for {fmt}", pos)
            codes = arr.astype(np.int64)
        return cls(codes, fmt, attributes)


def _parse_nested_ints(parser: Parser):
    if parser.parse_optional_punctuation("["):
        if parser.parse_optional_punctuation("]"):
            return []
        items = [_parse_nested_ints(parser)]
        while parser.parse_optional_punctuation(","):
            items.append(_parse_nested_ints(parser))
        parser.parse_punctuation("]")
        return items
    return parser.parse_integer(allow_boolean=False, context_msg=" (constant code)")


# ============================================================================================
# Conversions
# ============================================================================================


@irdl_op_definition
class QuantizeOp(IRDLOperation):
    """Float to fixed at the model boundary: float steps in x's float type (``fmlc.boundary``), then cast."""

    name = "fxp.quantize"

    input = operand_def(TensorType)
    scale = opt_prop_def(FloatAttr)
    offset = opt_prop_def(FloatAttr)
    steps = opt_prop_def(ArrayAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, fmt: FixedFormat, scale: float | None = None, offset: float | None = None, steps: Sequence | None = None):
        props: dict[str, Attribute] = {}
        if scale is not None:
            props["scale"] = FloatAttr(scale, f64)
        if offset is not None:
            props["offset"] = FloatAttr(offset, f64)
        if steps:
            props["steps"] = ArrayAttr([_step_attr(s) for s in steps])
        super().__init__(operands=[x], result_types=[fixed_tensor(fmt, shape_of(x))], properties=props)

    def step_list(self) -> list[tuple]:
        """The float steps before the cast (``scale``/``offset`` are ``mul``, ``add``)."""
        out: list[tuple] = []
        if self.scale is not None:
            out.append(("mul", self.scale.value.data))
        if self.offset is not None:
            out.append(("add", self.offset.value.data))
        if self.steps is not None:
            for step in self.steps.data:
                items = step.data if isinstance(step, ArrayAttr) else ()
                out.append(tuple(_step_item(a) for a in items))
        return out

    def verify_(self) -> None:
        from fmlc.boundary import check_step

        t = self.input.type
        if not isinstance(t, TensorType) or not isinstance(t.get_element_type(), AnyFloat):
            raise VerifyException(f"'fxp.quantize' input must be a float tensor, got {t}")
        shape = _check_fixed_tensor(self, self.result, "result")
        if tuple(t.get_shape()) != shape:
            raise VerifyException(f"'fxp.quantize' changes the shape {list(t.get_shape())} -> {list(shape)}")
        if self.steps is not None and (self.scale is not None or self.offset is not None):
            raise VerifyException("'fxp.quantize' takes either steps or scale/offset, not both")
        if self.steps is not None:
            for step in self.steps.data:
                if not isinstance(step, ArrayAttr) or not step.data or not isinstance(step.data[0], StringAttr):
                    raise VerifyException(f"'fxp.quantize' step {step} must be an array [\"kind\", operands...]")
                if not all(isinstance(a, StringAttr | FloatAttr | DenseIntOrFPElementsAttr) for a in step.data):
                    raise VerifyException(f"'fxp.quantize' step {step} holds something other than strings, floats and float tensors")
        shape = tuple(t.get_shape())
        for step in self.step_list():
            why = check_step(step, shape)
            if why:
                raise VerifyException(f"'fxp.quantize': {why}")


def _step_attr(step: Sequence) -> ArrayAttr:
    """A step as an attribute: its kind, then floats, or float32 tensors (per-element constants)."""
    items: list[Attribute] = []
    for a in step:
        if isinstance(a, str):
            items.append(StringAttr(a))
        elif isinstance(a, np.ndarray):
            data = np.ascontiguousarray(a.astype("<f4"))
            items.append(DenseIntOrFPElementsAttr(TensorType(Float32Type(), list(data.shape)), BytesAttr(data.tobytes())))
        else:
            items.append(FloatAttr(float(a), f64))
    return ArrayAttr(items)


def _step_item(a: Attribute):
    if isinstance(a, StringAttr):
        return a.data
    if isinstance(a, FloatAttr):
        return a.value.data
    if isinstance(a, DenseIntOrFPElementsAttr):
        shape = tuple(a.get_shape())
        return np.frombuffer(a.data.data, dtype="<f4").astype(np.float32).reshape(shape)
    return a


@irdl_op_definition
class CastOp(IRDLOperation):
    """Fixed to fixed: round and handle overflow as the result type says."""

    name = "fxp.cast"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, fmt: FixedFormat | None):
        super().__init__(operands=[x], result_types=[fixed_tensor(fmt, shape_of(x))])

    def verify_(self) -> None:
        a = _check_fixed_tensor(self, self.input, "input")
        b = _check_fixed_tensor(self, self.result, "result")
        if a != b:
            raise VerifyException(f"'fxp.cast' changes the shape {list(a)} -> {list(b)}")


# ============================================================================================
# Linear layers
# ============================================================================================


@irdl_op_definition
class DenseOp(IRDLOperation):
    """``y[..., m] = cast(sum_k acc(x[..., k] * w[k, m]) + acc(b[m]))``, the sum wrapping in ``acc``."""

    name = "fxp.dense"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    acc = prop_def(TypeAttribute)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(self, x: SSAValue, w: SSAValue, b: SSAValue | None, acc: FixedFormat | None, out: FixedFormat | None):
        shape = shape_of(x)[:-1] + shape_of(w)[1:]
        super().__init__(
            operands=[x, w, b],
            properties={"acc": FixedType.get(acc) if acc else AutoType()},
            result_types=[fixed_tensor(out, shape)],
        )

    def verify_(self) -> None:
        x = _check_fixed_tensor(self, self.input, "input")
        w = _check_fixed_tensor(self, self.weight, "weight")
        y = _check_fixed_tensor(self, self.result, "result")
        _check_acc(self, self.acc)
        if len(x) < 1 or len(w) != 2:
            raise VerifyException(f"'fxp.dense' needs input [..., K] and weight [K, M], got {list(x)} and {list(w)}")
        if x[-1] != w[0]:
            raise VerifyException(f"'fxp.dense' input has {x[-1]} features but weight expects {w[0]}")
        if self.bias is not None and _check_fixed_tensor(self, self.bias, "bias") != (w[1],):
            raise VerifyException(f"'fxp.dense' bias must be [{w[1]}], got {list(shape_of(self.bias))}")
        if y != x[:-1] + (w[1],):
            raise VerifyException(f"'fxp.dense' result must be {list(x[:-1] + (w[1],))}, got {list(y)}")


def conv_output_shape(
    in_shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], padding: Sequence[int]
) -> tuple[int, ...]:
    """Spatial output size of a convolution or pooling window (padding: all befores, then afters)."""
    n = len(kernel)
    out = []
    for d in range(n):
        span = dilations[d] * (kernel[d] - 1) + 1
        size = in_shape[d] + padding[d] + padding[n + d]
        out.append((size - span) // strides[d] + 1)
    return tuple(out)


def _check_window(op: IRDLOperation, nsp: int, kernel, strides, dilations, padding) -> None:
    for name, vals, least in (("kernel", kernel, 1), ("strides", strides, 1), ("dilations", dilations, 1)):
        if len(vals) != nsp or any(v < least for v in vals):
            raise VerifyException(f"'{op.name}' {name} must hold {nsp} values >= {least}, got {list(vals)}")
    if len(padding) != 2 * nsp or any(p < 0 for p in padding):
        raise VerifyException(f"'{op.name}' padding must hold {2 * nsp} values >= 0 (befores, then afters), got {list(padding)}")


@irdl_op_definition
class ConvOp(IRDLOperation):
    """1-D/2-D convolution, channels-last, zero padding; accumulates like ``fxp.dense``."""

    name = "fxp.conv"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    strides = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    padding = opt_prop_def(DenseArrayBase)
    groups = opt_prop_def(IntegerAttr)
    acc = prop_def(TypeAttribute)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(
        self,
        x: SSAValue,
        w: SSAValue,
        b: SSAValue | None,
        acc: FixedFormat | None,
        out: FixedFormat | None,
        strides: Sequence[int] | None = None,
        dilations: Sequence[int] | None = None,
        padding: Sequence[int] | None = None,
        groups: int = 1,
    ):
        nsp = len(shape_of(w)) - 2
        strides = tuple(strides or (1,) * nsp)
        dilations = tuple(dilations or (1,) * nsp)
        padding = tuple(padding or (0,) * (2 * nsp))
        kernel = shape_of(w)[:nsp]
        shape = conv_output_shape(shape_of(x), kernel, strides, dilations, padding) + (shape_of(w)[-1],)
        props: dict[str, Attribute] = {"acc": FixedType.get(acc) if acc else AutoType()}
        if any(s != 1 for s in strides):
            props["strides"] = i64_array(strides)
        if any(d != 1 for d in dilations):
            props["dilations"] = i64_array(dilations)
        if any(padding):
            props["padding"] = i64_array(padding)
        if groups != 1:
            props["groups"] = IntegerAttr(groups, i64)
        super().__init__(operands=[x, w, b], properties=props, result_types=[fixed_tensor(out, shape)])

    @property
    def spatial_rank(self) -> int:
        return len(shape_of(self.weight)) - 2

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], int]:
        """(kernel, strides, dilations, padding, groups) with defaults filled in."""
        n = self.spatial_rank
        kernel = shape_of(self.weight)[:n]
        groups = self.groups.value.data if self.groups is not None else 1
        return kernel, ints(self.strides, (1,) * n), ints(self.dilations, (1,) * n), ints(self.padding, (0,) * 2 * n), groups

    def verify_(self) -> None:
        x = _check_fixed_tensor(self, self.input, "input")
        w = _check_fixed_tensor(self, self.weight, "weight")
        y = _check_fixed_tensor(self, self.result, "result")
        _check_acc(self, self.acc)
        nsp = len(w) - 2
        if nsp not in (1, 2) or len(x) != nsp + 1:
            raise VerifyException(
                f"'fxp.conv' is 1-D or 2-D: input [L, C] / [H, W, C] and weight [K, C/g, F] / [KH, KW, C/g, F]; "
                f"got input {list(x)} and weight {list(w)}"
            )
        kernel, strides, dilations, padding, groups = self.window()
        _check_window(self, nsp, kernel, strides, dilations, padding)
        cin, cout = x[-1], w[-1]
        if groups < 1 or cin % groups or cout % groups:
            raise VerifyException(f"'fxp.conv' with {groups} group(s) needs C={cin} and F={cout} divisible by it")
        if w[-2] * groups != cin:
            raise VerifyException(f"'fxp.conv' weight must hold C/groups = {cin // groups} input channels, got {w[-2]}")
        if self.bias is not None and _check_fixed_tensor(self, self.bias, "bias") != (cout,):
            raise VerifyException(f"'fxp.conv' bias must be [{cout}], got {list(shape_of(self.bias))}")
        expect = conv_output_shape(x, kernel, strides, dilations, padding) + (cout,)
        if any(d < 1 for d in expect) or y != expect:
            raise VerifyException(f"'fxp.conv' result must be {list(expect)}, got {list(y)}")


# ============================================================================================
# Elementwise arithmetic
# ============================================================================================


class _BinaryOp(IRDLOperation):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue, out: FixedFormat | None):
        shape = np.broadcast_shapes(shape_of(lhs), shape_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[fixed_tensor(out, shape)])

    def verify_(self) -> None:
        a = _check_fixed_tensor(self, self.lhs, "lhs")
        b = _check_fixed_tensor(self, self.rhs, "rhs")
        y = _check_fixed_tensor(self, self.result, "result")
        if broadcast_shapes(self.name, a, b) != y:
            raise VerifyException(f"'{self.name}' result must be {list(broadcast_shapes(self.name, a, b))}, got {list(y)}")


@irdl_op_definition
class AddOp(_BinaryOp):
    """Elementwise ``lhs + rhs`` (numpy broadcasting), exact, then cast."""

    name = "fxp.add"


@irdl_op_definition
class SubOp(_BinaryOp):
    """Elementwise ``lhs - rhs`` (numpy broadcasting), exact, then cast."""

    name = "fxp.sub"


@irdl_op_definition
class MulOp(_BinaryOp):
    """Elementwise ``lhs * rhs`` (numpy broadcasting), exact, then cast."""

    name = "fxp.mul"


@irdl_op_definition
class MaximumOp(_BinaryOp):
    """Elementwise ``max(lhs, rhs)`` (numpy broadcasting), then cast."""

    name = "fxp.maximum"


@irdl_op_definition
class MinimumOp(_BinaryOp):
    """Elementwise ``min(lhs, rhs)`` (numpy broadcasting), then cast."""

    name = "fxp.minimum"


class _UnaryOp(IRDLOperation):
    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, out: FixedFormat | None, properties: dict[str, Attribute] | None = None):
        super().__init__(operands=[x], result_types=[fixed_tensor(out, shape_of(x))], properties=properties or {})

    def verify_(self) -> None:
        a = _check_fixed_tensor(self, self.input, "input")
        b = _check_fixed_tensor(self, self.result, "result")
        if a != b:
            raise VerifyException(f"'{self.name}' is elementwise: result shape {list(b)} differs from input {list(a)}")


@irdl_op_definition
class ReluOp(_UnaryOp):
    """``max(x, 0)``, then cast."""

    name = "fxp.relu"


@irdl_op_definition
class LeakyReluOp(IRDLOperation):
    """``x >= 0 ? x : alpha * x`` (alpha broadcast: a scalar for LeakyRelu, per channel for PRelu), exact, then cast."""

    name = "fxp.leaky_relu"

    input = operand_def(TensorType)
    alpha = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input `,` $alpha attr-dict `:` functional-type(operands, results)"

    def __init__(self, x: SSAValue, alpha: SSAValue, out: FixedFormat | None):
        super().__init__(operands=[x, alpha], result_types=[fixed_tensor(out, shape_of(x))])

    def verify_(self) -> None:
        x = _check_fixed_tensor(self, self.input, "input")
        a = _check_fixed_tensor(self, self.alpha, "alpha")
        y = _check_fixed_tensor(self, self.result, "result")
        if broadcast_shapes(self.name, x, a) != x or y != x:
            raise VerifyException(f"'fxp.leaky_relu' alpha {list(a)} must broadcast to input {list(x)} = result {list(y)}")


@irdl_op_definition
class ThresholdedReluOp(_UnaryOp):
    """``x > alpha ? x : 0`` (alpha an exact float), then cast."""

    name = "fxp.thresholded_relu"

    alpha = prop_def(FloatAttr)
    irdl_options = (ParsePropInAttrDict(),)


@irdl_op_definition
class TableOp(IRDLOperation):
    """Lookup ``table[code(x) - min_code]`` over every code of x's type (any elementwise function)."""

    name = "fxp.table"

    input = operand_def(TensorType)
    table = prop_def(DenseIntOrFPElementsAttr)
    function = opt_prop_def(StringAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    MAX_INDEX_BITS: ClassVar[int] = 20

    def __init__(self, x: SSAValue, table: np.ndarray, out: FixedFormat, function: str | None = None):
        props: dict[str, Attribute] = {"table": dense_codes(table, out)}
        if function:
            props["function"] = StringAttr(function)
        super().__init__(operands=[x], properties=props, result_types=[fixed_tensor(out, shape_of(x))])

    def codes(self) -> np.ndarray:
        return codes_of(self.table)

    def verify_(self) -> None:
        a = _check_fixed_tensor(self, self.input, "input")
        b = _check_fixed_tensor(self, self.result, "result")
        if a != b:
            raise VerifyException(f"'fxp.table' is elementwise: result shape {list(b)} differs from input {list(a)}")
        if not is_resolved(self.input) or not is_resolved(self.result):
            raise VerifyException("'fxp.table' needs resolved input and result types: the table is indexed by codes")
        fin, fout = element_format(self.input), element_format(self.result)
        if fin.width > self.MAX_INDEX_BITS:
            raise VerifyException(f"'fxp.table' input {fin} is too wide to index a table (at most {self.MAX_INDEX_BITS} bits); cast it first")
        if tuple(self.table.get_shape()) != (1 << fin.width,):
            raise VerifyException(f"'fxp.table' needs {1 << fin.width} entries for input {fin}, got {list(self.table.get_shape())}")
        _check_codes(self.name, self.codes(), fout, "table")


@irdl_op_definition
class SoftmaxOp(IRDLOperation):
    """Softmax over the last axis, defined step by step for bit-exactness (see the docstring body).

    ``m = max(x)``; ``d = cast<diff_type>(m - x)``; ``e = exp_table[d]`` (of ``exp_type``);
    ``s = cast<sum_type>(sum(e))``; ``r = inv_table[s]`` (of ``inv_type``); ``y = cast(e * r)``.
    Both tables are indexed by code, like ``fxp.table``.
    """

    name = "fxp.softmax"

    input = operand_def(TensorType)
    diff_type = prop_def(FixedType)
    exp_type = prop_def(FixedType)
    sum_type = prop_def(FixedType)
    inv_type = prop_def(FixedType)
    exp_table = prop_def(DenseIntOrFPElementsAttr)
    inv_table = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(
        self,
        x: SSAValue,
        out: FixedFormat,
        diff: FixedFormat,
        exp: FixedFormat,
        total: FixedFormat,
        inv: FixedFormat,
        exp_table: np.ndarray,
        inv_table: np.ndarray,
    ):
        props = {
            "diff_type": FixedType.get(diff),
            "exp_type": FixedType.get(exp),
            "sum_type": FixedType.get(total),
            "inv_type": FixedType.get(inv),
            "exp_table": dense_codes(exp_table, exp),
            "inv_table": dense_codes(inv_table, inv),
        }
        super().__init__(operands=[x], properties=props, result_types=[fixed_tensor(out, shape_of(x))])

    def verify_(self) -> None:
        a = _check_fixed_tensor(self, self.input, "input")
        b = _check_fixed_tensor(self, self.result, "result")
        if a != b or not a:
            raise VerifyException(f"'fxp.softmax' result shape {list(b)} must equal input {list(a)} (rank >= 1)")
        for name, index_type, table, entry_type in (
            ("exp", self.diff_type, self.exp_table, self.exp_type),
            ("inv", self.sum_type, self.inv_table, self.inv_type),
        ):
            fmt = index_type.format
            if fmt.signed:
                raise VerifyException(f"'fxp.softmax' {name} table index type {fmt} must be unsigned")
            if fmt.width > TableOp.MAX_INDEX_BITS:
                raise VerifyException(f"'fxp.softmax' {name} table index type {fmt} is wider than {TableOp.MAX_INDEX_BITS} bits")
            if tuple(table.get_shape()) != (1 << fmt.width,):
                raise VerifyException(f"'fxp.softmax' {name}_table needs {1 << fmt.width} entries, got {list(table.get_shape())}")
            _check_codes(self.name, codes_of(table), entry_type.format, f"{name}_table")
        if self.exp_type.format.signed:
            raise VerifyException("'fxp.softmax' exp_type must be unsigned")


# ============================================================================================
# Pooling and normalization
# ============================================================================================


class _PoolOp(IRDLOperation):
    input = operand_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    strides = opt_prop_def(DenseArrayBase)
    padding = opt_prop_def(DenseArrayBase)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def window(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        kernel = ints(self.kernel)
        n = len(kernel)
        return kernel, ints(self.strides, kernel), ints(self.padding, (0,) * 2 * n)

    def verify_(self) -> None:
        x = _check_fixed_tensor(self, self.input, "input")
        y = _check_fixed_tensor(self, self.result, "result")
        kernel, strides, padding = self.window()
        nsp = len(kernel)
        if nsp not in (1, 2) or len(x) != nsp + 1:
            raise VerifyException(f"'{self.name}' pools 1-D or 2-D channels-last tensors; got input {list(x)}, kernel {list(kernel)}")
        _check_window(self, nsp, kernel, strides, (1,) * nsp, padding)
        expect = conv_output_shape(x, kernel, strides, (1,) * nsp, padding) + (x[-1],)
        if any(d < 1 for d in expect) or y != expect:
            raise VerifyException(f"'{self.name}' result must be {list(expect)}, got {list(y)}")


def _pool_props(kernel, strides, padding) -> dict[str, Attribute]:
    props: dict[str, Attribute] = {"kernel": i64_array(kernel)}
    if strides is not None and tuple(strides) != tuple(kernel):
        props["strides"] = i64_array(strides)
    if padding is not None and any(padding):
        props["padding"] = i64_array(padding)
    return props


@irdl_op_definition
class MaxPoolOp(_PoolOp):
    """Maximum over each window (padding never wins), then cast."""

    name = "fxp.maxpool"

    def __init__(self, x: SSAValue, out: FixedFormat | None, kernel, strides=None, padding=None):
        n = len(kernel)
        shape = conv_output_shape(shape_of(x), kernel, strides or kernel, (1,) * n, padding or (0,) * 2 * n) + (shape_of(x)[-1],)
        super().__init__(operands=[x], properties=_pool_props(kernel, strides, padding), result_types=[fixed_tensor(out, shape)])


@irdl_op_definition
class AvgPoolOp(_PoolOp):
    """``cast(sum(window) * q(1/n))``: n counts the window (or its unpadded part), q rounds to ``scale_type``."""

    name = "fxp.avgpool"

    scale_type = prop_def(FixedType)
    count_include_pad = opt_prop_def(IntegerAttr)

    def __init__(self, x: SSAValue, out: FixedFormat | None, scale: FixedFormat, kernel, strides=None, padding=None, count_include_pad=False):
        n = len(kernel)
        shape = conv_output_shape(shape_of(x), kernel, strides or kernel, (1,) * n, padding or (0,) * 2 * n) + (shape_of(x)[-1],)
        props = _pool_props(kernel, strides, padding)
        props["scale_type"] = FixedType.get(scale)
        if count_include_pad:
            props["count_include_pad"] = IntegerAttr(1, IntegerType(1))
        super().__init__(operands=[x], properties=props, result_types=[fixed_tensor(out, shape)])

    @property
    def includes_pad(self) -> bool:
        return self.count_include_pad is not None and bool(self.count_include_pad.value.data)


class _GlobalPoolOp(IRDLOperation):
    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        x = _check_fixed_tensor(self, self.input, "input")
        y = _check_fixed_tensor(self, self.result, "result")
        if len(x) < 2 or y != (x[-1],):
            raise VerifyException(f"'{self.name}' reduces [..spatial.., C] to [C]; got input {list(x)}, result {list(y)}")


@irdl_op_definition
class GlobalMaxPoolOp(_GlobalPoolOp):
    """Maximum over all spatial positions per channel, then cast."""

    name = "fxp.global_maxpool"

    def __init__(self, x: SSAValue, out: FixedFormat | None):
        super().__init__(operands=[x], result_types=[fixed_tensor(out, shape_of(x)[-1:])])


@irdl_op_definition
class GlobalAvgPoolOp(_GlobalPoolOp):
    """``cast(sum over positions * q(1/n))`` per channel, q rounding 1/n to ``scale_type``."""

    name = "fxp.global_avgpool"

    scale_type = prop_def(FixedType)

    def __init__(self, x: SSAValue, out: FixedFormat | None, scale: FixedFormat):
        super().__init__(
            operands=[x], properties={"scale_type": FixedType.get(scale)}, result_types=[fixed_tensor(out, shape_of(x)[-1:])]
        )


@irdl_op_definition
class BatchNormOp(IRDLOperation):
    """``x * scale + shift`` per channel (last axis), exact, then cast; folded into dense/conv by canonicalize."""

    name = "fxp.batchnorm"

    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    shift = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input `,` $scale `,` $shift attr-dict `:` functional-type(operands, results)"

    def __init__(self, x: SSAValue, scale: SSAValue, shift: SSAValue, out: FixedFormat | None):
        super().__init__(operands=[x, scale, shift], result_types=[fixed_tensor(out, shape_of(x))])

    def verify_(self) -> None:
        x = _check_fixed_tensor(self, self.input, "input")
        y = _check_fixed_tensor(self, self.result, "result")
        for what, v in (("scale", self.scale), ("shift", self.shift)):
            if _check_fixed_tensor(self, v, what) != x[-1:]:
                raise VerifyException(f"'fxp.batchnorm' {what} must be [{x[-1]}] (one per channel), got {list(shape_of(v))}")
        if y != x:
            raise VerifyException(f"'fxp.batchnorm' result shape {list(y)} differs from input {list(x)}")


@irdl_op_definition
class MultiThresholdOp(IRDLOperation):
    """``cast(out_bias + out_scale * count(x >= thresholds[c, :]))`` per channel c (last axis); QONNX MultiThreshold."""

    name = "fxp.multithreshold"

    input = operand_def(TensorType)
    thresholds = operand_def(TensorType)
    out_scale = prop_def(FloatAttr)
    out_bias = prop_def(FloatAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input `,` $thresholds attr-dict `:` functional-type(operands, results)"

    def __init__(self, x: SSAValue, thresholds: SSAValue, out: FixedFormat, out_scale: float = 1.0, out_bias: float = 0.0):
        super().__init__(
            operands=[x, thresholds],
            properties={"out_scale": FloatAttr(out_scale, f64), "out_bias": FloatAttr(out_bias, f64)},
            result_types=[fixed_tensor(out, shape_of(x))],
        )

    def verify_(self) -> None:
        x = _check_fixed_tensor(self, self.input, "input")
        t = _check_fixed_tensor(self, self.thresholds, "thresholds")
        y = _check_fixed_tensor(self, self.result, "result")
        if len(t) != 2 or t[0] not in (1, x[-1]) or y != x:
            raise VerifyException(
                f"'fxp.multithreshold' needs thresholds [C or 1, T] for input [..., C={x[-1]}] and result = input shape; "
                f"got thresholds {list(t)}, result {list(y)}"
            )
        for what, attr in (("out_scale", self.out_scale), ("out_bias", self.out_bias)):
            if not np.isfinite(attr.value.data):
                raise VerifyException(f"'fxp.multithreshold' {what} must be finite")


# ============================================================================================
# Data movement (element type unchanged)
# ============================================================================================


class _MoveOp(IRDLOperation):
    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        x = _check_fixed_tensor(self, self.input, "input")
        y = _check_fixed_tensor(self, self.result, "result")
        _check_same_element(self, self.input, self.result, "moves data without changing it")
        self.verify_shapes(x, y)

    def verify_shapes(self, x: tuple[int, ...], y: tuple[int, ...]) -> None:
        if int(np.prod(x)) != int(np.prod(y)):
            raise VerifyException(f"'{self.name}' cannot turn {list(x)} ({int(np.prod(x))} elements) into {list(y)}")


@irdl_op_definition
class ReshapeOp(_MoveOp):
    """Reinterpret the shape (row-major order kept)."""

    name = "fxp.reshape"

    def __init__(self, x: SSAValue, shape: Sequence[int]):
        super().__init__(operands=[x], result_types=[TensorType(_elem(x), list(shape))])


@irdl_op_definition
class FlattenOp(_MoveOp):
    """Flatten to one dimension (row-major order)."""

    name = "fxp.flatten"

    def __init__(self, x: SSAValue):
        super().__init__(operands=[x], result_types=[TensorType(_elem(x), [int(np.prod(shape_of(x)))])])

    def verify_shapes(self, x, y) -> None:
        if len(y) != 1:
            raise VerifyException(f"'fxp.flatten' result must be 1-D, got {list(y)}")
        super().verify_shapes(x, y)


@irdl_op_definition
class TransposeOp(_MoveOp):
    """Permute dimensions: ``result.shape[i] = input.shape[perm[i]]``."""

    name = "fxp.transpose"

    perm = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, x: SSAValue, perm: Sequence[int]):
        shape = [shape_of(x)[p] for p in perm]
        super().__init__(operands=[x], properties={"perm": i64_array(perm)}, result_types=[TensorType(_elem(x), shape)])

    def verify_shapes(self, x, y) -> None:
        perm = ints(self.perm)
        if sorted(perm) != list(range(len(x))):
            raise VerifyException(f"'fxp.transpose' perm {list(perm)} is not a permutation of {len(x)} dimensions")
        if y != tuple(x[p] for p in perm):
            raise VerifyException(f"'fxp.transpose' result must be {[x[p] for p in perm]}, got {list(y)}")


@irdl_op_definition
class PadOp(_MoveOp):
    """Zero padding: ``padding`` holds every dimension's before-count, then every after-count."""

    name = "fxp.pad"

    padding = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, x: SSAValue, padding: Sequence[int]):
        shape = shape_of(x)
        n = len(shape)
        out = [shape[d] + padding[d] + padding[n + d] for d in range(n)]
        super().__init__(operands=[x], properties={"padding": i64_array(padding)}, result_types=[TensorType(_elem(x), out)])

    def verify_shapes(self, x, y) -> None:
        pads = ints(self.padding)
        n = len(x)
        if len(pads) != 2 * n or any(p < 0 for p in pads):
            raise VerifyException(f"'fxp.pad' padding must hold {2 * n} values >= 0, got {list(pads)}")
        expect = tuple(x[d] + pads[d] + pads[n + d] for d in range(n))
        if y != expect:
            raise VerifyException(f"'fxp.pad' result must be {list(expect)}, got {list(y)}")


def upsample_shape(in_shape: Sequence[int], factors: Sequence[int]) -> tuple[int, ...]:
    """[*spatial, C] -> [*(spatial * factors), C]."""
    return tuple(d * f for d, f in zip(in_shape[:-1], factors)) + tuple(in_shape[-1:])


@irdl_op_definition
class UpsampleOp(_MoveOp):
    """Nearest-neighbour upsampling by integer factors, channels-last: ``y[i * f + k] = x[i]`` (0 <= k < f) per spatial axis."""

    name = "fxp.upsample"

    factors = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, x: SSAValue, factors: Sequence[int]):
        shape = upsample_shape(shape_of(x), factors)
        super().__init__(operands=[x], properties={"factors": i64_array(factors)}, result_types=[TensorType(_elem(x), list(shape))])

    def verify_shapes(self, x, y) -> None:
        factors = ints(self.factors)
        if len(x) not in (2, 3):
            raise VerifyException(f"'fxp.upsample' upsamples 1-D or 2-D channels-last tensors ([L, C] or [H, W, C]); got input {list(x)}")
        if len(factors) != len(x) - 1 or any(f < 1 for f in factors):
            raise VerifyException(f"'fxp.upsample' factors must hold {len(x) - 1} values >= 1 (one per spatial axis), got {list(factors)}")
        expect = upsample_shape(x, factors)
        if y != expect:
            raise VerifyException(f"'fxp.upsample' result must be {list(expect)}, got {list(y)}")


@irdl_op_definition
class ConcatOp(IRDLOperation):
    """Join tensors of one element type along ``axis``."""

    name = "fxp.concat"

    inputs = var_operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    def __init__(self, xs: Sequence[SSAValue], axis: int):
        shapes = [shape_of(x) for x in xs]
        shape = list(shapes[0])
        shape[axis] = sum(s[axis] for s in shapes)
        super().__init__(operands=[list(xs)], properties={"axis": IntegerAttr(axis, i64)}, result_types=[TensorType(_elem(xs[0]), shape)])

    def verify_(self) -> None:
        if len(self.inputs) < 1:
            raise VerifyException("'fxp.concat' needs at least one input")
        y = _check_fixed_tensor(self, self.result, "result")
        axis = self.axis.value.data
        if not 0 <= axis < len(y):
            raise VerifyException(f"'fxp.concat' axis {axis} is outside the result's {len(y)} dimensions")
        total = 0
        for k, v in enumerate(self.inputs):
            s = _check_fixed_tensor(self, v, f"input #{k}")
            _check_same_element(self, v, self.result, f"input #{k}")
            if len(s) != len(y) or any(s[d] != y[d] for d in range(len(y)) if d != axis):
                raise VerifyException(f"'fxp.concat' input #{k} shape {list(s)} does not match result {list(y)} off axis {axis}")
            total += s[axis]
        if total != y[axis]:
            raise VerifyException(f"'fxp.concat' result axis {axis} must be {total}, got {y[axis]}")


FXP = Dialect(
    "fxp",
    [
        ConstantOp,
        QuantizeOp,
        CastOp,
        DenseOp,
        ConvOp,
        AddOp,
        SubOp,
        MulOp,
        MaximumOp,
        MinimumOp,
        ReluOp,
        LeakyReluOp,
        ThresholdedReluOp,
        TableOp,
        SoftmaxOp,
        MaxPoolOp,
        AvgPoolOp,
        GlobalMaxPoolOp,
        GlobalAvgPoolOp,
        BatchNormOp,
        MultiThresholdOp,
        ReshapeOp,
        FlattenOp,
        TransposeOp,
        PadOp,
        UpsampleOp,
        ConcatOp,
    ],
    [FixedType, AutoType],
)
