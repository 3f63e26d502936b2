"""The ``cuda`` dialect: fixed-point inference as CUDA C++ kernels, one op per C++ construct.

The level sits just above C++: ``lowering/cuda_to_cpp.py`` prints every op as one statement
or expression, so what the IR says is what the GPU runs.

- **Translation unit**: ``cuda.global`` (weights and tables in ``__constant__`` or global
  memory), ``cuda.func`` (a ``__host__ __device__`` function: the per-sample computation,
  which also compiles for the CPU), ``cuda.kernel`` (a ``__global__`` function mapping
  samples to threads) and ``cuda.entry`` (a C API function launching a kernel).
- **Per-thread code** (inside ``cuda.func``): local arrays (``cuda.alloca``; rank 0 is a
  scalar variable), counted loops with an unroll hint, ``cuda.if``, loads and stores, and
  integer arithmetic on explicit C types (``si8`` .. ``si64``, ``ui8`` .. ``ui64``, ``index``
  is ``int``).  Fixed-point casts are spelled out by ``cuda.round_shift`` (division by a
  power of two with an ``ap_fixed`` rounding mode), ``cuda.wrap``, ``cuda.clamp`` and
  ``cuda.zero_outside``; ``cuda.dp4a`` is the exact 4-way int8 dot product.
- **Kernel mapping** (inside ``cuda.kernel``): a grid-stride loop over tiles of samples
  (``cuda.tile_loop``), coalesced copies of a tile between global and shared memory
  (``cuda.tile_load``/``cuda.tile_store``), ``cuda.barrier`` and one sample a thread
  (``cuda.thread_sample``).

Arrays are ``memref`` types whose memory space names where they live: none (a pointer of
any space, as a function parameter), ``"constant"``, ``"global"``, ``"shared"``.  Every
arithmetic op requires operands of its result type; the lowering picks each type from exact
value ranges, so no C++ operation overflows (the ops document what range they need).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DYNAMIC_INDEX,
    BytesAttr,
    DenseIntOrFPElementsAttr,
    Float32Type,
    Float64Type,
    FloatAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    NoneAttr,
    Signedness,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    TensorType,
    i1,
    i64,
)
from xdsl.dialects.utils import parse_func_op_like, print_func_op_like
from xdsl.ir import Attribute, Block, Dialect, Operation, Region, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import IsolatedFromAbove, NoTerminator, Pure, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException

# ============================================================================================
# Types: C scalar types and arrays
# ============================================================================================

MEMORY_SPACES = ("constant", "global", "shared")
ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
CMP_PREDICATES = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
ENTRY_KINDS = ("float", "codes", "raw", "quantize")
"""C API flavours: float in/float out, float in/codes out, codes in/codes out, float in/input codes out."""


def int_type(bits: int, signed: bool) -> IntegerType:
    """``si<bits>`` or ``ui<bits>``: the C types ``intN_t`` / ``uintN_t``."""
    return IntegerType(bits, Signedness.SIGNED if signed else Signedness.UNSIGNED)


def is_int(t: Attribute) -> bool:
    """A fixed-width C integer type (si/ui 8..64)."""
    return isinstance(t, IntegerType) and t.width.data in (8, 16, 32, 64) and t.signedness.data != Signedness.SIGNLESS


def is_signed(t: Attribute) -> bool:
    return isinstance(t, IndexType) or (isinstance(t, IntegerType) and t.signedness.data == Signedness.SIGNED)


def int_range(t: Attribute) -> tuple[int, int]:
    """Smallest and largest value of a C integer type (``index`` is a 32-bit ``int``)."""
    if isinstance(t, IndexType):
        return -(1 << 31), (1 << 31) - 1
    assert is_int(t), t
    w = t.width.data
    return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if is_signed(t) else (0, (1 << w) - 1)


def c_type(t: Attribute) -> str:
    """The C++ spelling of a scalar type."""
    if isinstance(t, IndexType):
        return "int"
    if isinstance(t, Float32Type):
        return "float"
    if isinstance(t, Float64Type):
        return "double"
    if t == i1:
        return "bool"
    if is_int(t):
        return f"{'' if is_signed(t) else 'u'}int{t.width.data}_t"
    raise VerifyException(f"no C type for {t}")


def _is_scalar(t: Attribute) -> bool:
    return is_int(t) or isinstance(t, IndexType | Float32Type | Float64Type) or t == i1


def _is_integer(t: Attribute) -> bool:
    return is_int(t) or isinstance(t, IndexType)


DYNAMIC = DYNAMIC_INDEX
"""The extent of an array known only at run time (``?``: a pointer)."""


def array_type(elem: Attribute, shape: Sequence[int], space: str | None = None) -> MemRefType:
    """``memref<N x T [, space]>`` (rank 0: a scalar variable, ``DYNAMIC``: a pointer of unknown extent)."""
    return MemRefType(elem, list(shape), memory_space=StringAttr(space) if space else NoneAttr())


def space_of(t: MemRefType) -> str | None:
    space = t.memory_space
    return space.data if isinstance(space, StringAttr) else None


def _check_array(op: Operation, t: Attribute, what: str) -> MemRefType:
    if not isinstance(t, MemRefType):
        raise VerifyException(f"'{op.name}' {what} must be a memref (an array), got {t}")
    if len(t.get_shape()) > 1:
        raise VerifyException(f"'{op.name}' {what} must be a flat array (rank 0 or 1), got {t}")
    if not _is_scalar(t.get_element_type()):
        raise VerifyException(f"'{op.name}' {what} holds {t.get_element_type()}, which has no C scalar type")
    space = t.memory_space
    if not (isinstance(space, StringAttr) and space.data in MEMORY_SPACES) and not _no_space(space):
        raise VerifyException(f"'{op.name}' {what}: memory space must be one of {MEMORY_SPACES} or none, got {space}")
    return t


def _no_space(space: Attribute) -> bool:
    return isinstance(space, NoneAttr)


def _i64(value: int) -> IntegerAttr:
    return IntegerAttr(value, i64)


def _check_int_attr(op: Operation, name: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise VerifyException(f"'{op.name}' {name} must be in [{lo}, {hi}], got {value}")


# ============================================================================================
# Translation unit
# ============================================================================================


@irdl_op_definition
class GlobalOp(IRDLOperation):
    """A constant array in ``__constant__`` or global device memory (a plain array on the host)."""

    name = "cuda.global"

    sym_name = prop_def(StringAttr)
    space = prop_def(StringAttr)
    type = prop_def(MemRefType)
    value = prop_def(DenseIntOrFPElementsAttr)
    doc = opt_prop_def(StringAttr)

    traits = traits_def(SymbolOpInterface())

    def __init__(self, name: str, elem: IntegerType, codes: np.ndarray, space: str, doc: str | None = None):
        codes = np.ascontiguousarray(np.asarray(codes).reshape(-1))
        bits = elem.width.data
        data = codes.astype(f"<{'i' if is_signed(elem) else 'u'}{bits // 8}")
        dense = DenseIntOrFPElementsAttr(TensorType(IntegerType(bits), [codes.size]), BytesAttr(data.tobytes()))
        props: dict[str, Attribute] = {
            "sym_name": StringAttr(name),
            "space": StringAttr(space),
            "type": array_type(elem, [codes.size], space),
            "value": dense,
        }
        if doc:
            props["doc"] = StringAttr(doc)
        super().__init__(properties=props)

    @property
    def elem(self) -> IntegerType:
        return self.type.get_element_type()

    def values(self) -> np.ndarray:
        """The array's values as int64 (uint64 for ui64)."""
        elem = self.elem
        bits = elem.width.data
        raw = np.frombuffer(self.value.data.data, dtype=f"<{'i' if is_signed(elem) else 'u'}{bits // 8}")
        return raw.astype(np.uint64 if (bits == 64 and not is_signed(elem)) else np.int64)

    def verify_(self) -> None:
        if self.space.data not in ("constant", "global"):
            raise VerifyException(f"'cuda.global' @{self.sym_name.data}: space must be 'constant' or 'global', got '{self.space.data}'")
        _check_array(self, self.type, "type")
        if space_of(self.type) != self.space.data:
            raise VerifyException(f"'cuda.global' @{self.sym_name.data}: type's memory space must be \"{self.space.data}\"")
        elem = self.elem
        if not is_int(elem):
            raise VerifyException(f"'cuda.global' @{self.sym_name.data} must hold integers (si/ui 8..64), got {elem}")
        n = self.type.get_shape()[0] if self.type.get_shape() else 1
        stored = self.value.get_element_type()
        if not isinstance(stored, IntegerType) or stored.width.data != elem.width.data:
            raise VerifyException(f"'cuda.global' @{self.sym_name.data}: data must be i{elem.width.data}, got {stored}")
        if len(self.value.data.data) != n * elem.width.data // 8:
            raise VerifyException(f"'cuda.global' @{self.sym_name.data}: {n} elements need {n * elem.width.data // 8} bytes")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        printer.print_string(f" {self.space.data} dense<\"0x{self.value.data.data.hex().upper()}\">")
        if self.doc is not None:
            printer.print_string(" doc ")
            printer.print_string_literal(self.doc.data)
        printer.print_string(" : ")
        printer.print_attribute(self.type)

    @classmethod
    def parse(cls, parser: Parser) -> GlobalOp:
        name = parser.parse_symbol_name().data
        space = parser.parse_keyword_in(("constant", "global"), " (memory space)")
        parser.parse_keyword("dense")
        parser.parse_punctuation("<")
        pos = parser.pos
        text = parser.parse_str_literal(" (hex data)")
        parser.parse_punctuation(">")
        doc = parser.parse_str_literal() if parser.parse_optional_keyword("doc") else None
        parser.parse_punctuation(":")
        t = parser.parse_type()
        if not isinstance(t, MemRefType) or not is_int(t.get_element_type()) or len(t.get_shape()) != 1:
            parser.raise_error(f"cuda.global needs a 1-D memref of si/ui integers, got {t}", pos)
        if not text.startswith("0x"):
            parser.raise_error("cuda.global data must be hex (\"0x...\")", pos)
        elem = t.get_element_type()
        raw = np.frombuffer(bytes.fromhex(text[2:]), dtype=f"<{'i' if is_signed(elem) else 'u'}{elem.width.data // 8}")
        if raw.size != t.get_shape()[0]:
            parser.raise_error(f"cuda.global data holds {raw.size} elements, the type says {t.get_shape()[0]}", pos)
        return cls(name, elem, raw, space, doc)


class _FuncLike(IRDLOperation):
    """Shared by functions and kernels: a symbol, a signature and a body."""

    sym_name = prop_def(StringAttr)
    function_type = prop_def(FunctionType)
    body = region_def("single_block")

    RESERVED: ClassVar[tuple[str, ...]] = ("sym_name", "function_type")

    def __init__(self, name: str, inputs: Sequence[Attribute], body: Region | None = None, props: dict | None = None):
        ftype = FunctionType.from_lists(list(inputs), [])
        if body is None:
            body = Region(Block(arg_types=list(inputs)))
        super().__init__(properties={"sym_name": StringAttr(name), "function_type": ftype, **(props or {})}, regions=[body])

    @property
    def block(self) -> Block:
        return self.body.block

    def verify_(self) -> None:
        if tuple(self.block.arg_types) != tuple(self.function_type.inputs.data):
            raise VerifyException(f"'{self.name}' @{self.sym_name.data}: block arguments must match the signature")
        if self.function_type.outputs.data:
            raise VerifyException(f"'{self.name}' @{self.sym_name.data} returns nothing: results go through output arrays")

    def print(self, printer: Printer) -> None:
        print_func_op_like(
            printer,
            self.sym_name,
            self.function_type,
            self.body,
            {**self.properties_to_print(), **self.attributes},
            reserved_attr_names=self.RESERVED,
        )

    def properties_to_print(self) -> dict[str, Attribute]:
        return {k: v for k, v in self.properties.items() if k not in self.RESERVED}

    @classmethod
    def parse(cls, parser: Parser):
        name, inputs, _, region, extra, _, _ = parse_func_op_like(parser, reserved_attr_names=cls.RESERVED)
        extra_attrs = dict(extra.data) if extra is not None else {}
        props = {k: extra_attrs.pop(k) for k in list(extra_attrs) if k in cls.PROPS}
        op = cls.__new__(cls)
        _FuncLike.__init__(op, name, inputs, region, props)
        op.attributes |= extra_attrs
        return op


@irdl_op_definition
class FuncOp(_FuncLike):
    """A ``__host__ __device__`` function: per-sample code, the same source on GPU and CPU."""

    name = "cuda.func"

    num_inputs = prop_def(IntegerAttr)
    doc = opt_prop_def(StringAttr)

    traits = traits_def(IsolatedFromAbove(), SymbolOpInterface(), NoTerminator())
    PROPS: ClassVar[tuple[str, ...]] = ("num_inputs", "doc")

    def __init__(self, name: str, inputs: Sequence[Attribute], num_inputs: int, doc: str | None = None):
        props: dict[str, Attribute] = {"num_inputs": _i64(num_inputs)}
        if doc:
            props["doc"] = StringAttr(doc)
        super().__init__(name, inputs, None, props)

    def verify_(self) -> None:
        super().verify_()
        n = self.num_inputs.value.data
        _check_int_attr(self, "num_inputs", n, 0, len(self.block.args))
        for k, t in enumerate(self.function_type.inputs.data):
            if isinstance(t, MemRefType):
                _check_array(self, t, f"argument #{k}")
                if len(t.get_shape()) != 1:
                    raise VerifyException(f"'cuda.func' @{self.sym_name.data} argument #{k} must be a 1-D array")
            elif not _is_scalar(t):
                raise VerifyException(f"'cuda.func' @{self.sym_name.data} argument #{k} has no C type: {t}")


@irdl_op_definition
class KernelOp(_FuncLike):
    """A ``__global__`` kernel with ``block_size`` threads a block (its launch bound)."""

    name = "cuda.kernel"

    block_size = prop_def(IntegerAttr)
    doc = opt_prop_def(StringAttr)

    traits = traits_def(IsolatedFromAbove(), SymbolOpInterface(), NoTerminator())
    PROPS: ClassVar[tuple[str, ...]] = ("block_size", "doc")

    def __init__(self, name: str, inputs: Sequence[Attribute], block_size: int, doc: str | None = None):
        props: dict[str, Attribute] = {"block_size": _i64(block_size)}
        if doc:
            props["doc"] = StringAttr(doc)
        super().__init__(name, inputs, None, props)

    def verify_(self) -> None:
        super().verify_()
        b = self.block_size.value.data
        if b < 32 or b > 1024 or b % 32:
            raise VerifyException(f"'cuda.kernel' @{self.sym_name.data}: block_size must be a multiple of 32 in [32, 1024], got {b}")
        for k, t in enumerate(self.function_type.inputs.data):
            if isinstance(t, MemRefType):
                if space_of(t) != "global":
                    raise VerifyException(f"'cuda.kernel' @{self.sym_name.data} argument #{k} must be a global-memory array")
            elif t != int_type(64, True):
                raise VerifyException(f"'cuda.kernel' @{self.sym_name.data} scalar argument #{k} must be si64 (a sample count)")


@irdl_op_definition
class EntryOp(IRDLOperation):
    """A C API function: ``cudaError_t NAME(const IN* x, OUT* y, size_t n, cudaStream_t)`` launching a kernel."""

    name = "cuda.entry"

    sym_name = prop_def(SymbolNameConstraint())
    kernel = prop_def(SymbolRefAttr)
    sample = prop_def(SymbolRefAttr)
    kind = prop_def(StringAttr)
    in_elems = prop_def(IntegerAttr)
    out_elems = prop_def(IntegerAttr)
    doc = opt_prop_def(StringAttr)

    traits = traits_def(SymbolOpInterface())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$sym_name `launches` $kernel `per` $sample attr-dict"

    def __init__(self, name: str, kernel: str, sample: str, kind: str, in_elems: int, out_elems: int, doc: str | None = None):
        props: dict[str, Attribute] = {
            "sym_name": StringAttr(name),
            "kernel": SymbolRefAttr(kernel),
            "sample": SymbolRefAttr(sample),
            "kind": StringAttr(kind),
            "in_elems": _i64(in_elems),
            "out_elems": _i64(out_elems),
        }
        if doc:
            props["doc"] = StringAttr(doc)
        super().__init__(properties=props)

    def verify_(self) -> None:
        if self.kind.data not in ENTRY_KINDS:
            raise VerifyException(f"'cuda.entry' @{self.sym_name.data}: kind must be one of {ENTRY_KINDS}, got '{self.kind.data}'")
        for what in ("in_elems", "out_elems"):
            if getattr(self, what).value.data < 1:
                raise VerifyException(f"'cuda.entry' @{self.sym_name.data}: {what} must be >= 1")
        module = self.parent_op()
        if module is None:
            return
        kernel = _lookup(module, self.kernel.string_value())
        sample = _lookup(module, self.sample.string_value())
        if not isinstance(kernel, KernelOp):
            raise VerifyException(f"'cuda.entry' @{self.sym_name.data}: @{self.kernel.string_value()} is not a cuda.kernel")
        if not isinstance(sample, FuncOp):
            raise VerifyException(f"'cuda.entry' @{self.sym_name.data}: @{self.sample.string_value()} is not a cuda.func")
        ins = kernel.function_type.inputs.data
        if len(ins) != 3 or not all(isinstance(t, MemRefType) for t in ins[:2]):
            raise VerifyException(f"'cuda.entry' @{self.sym_name.data}: the kernel must take (input array, output array, si64 count)")

    def kernel_op(self) -> KernelOp:
        return _lookup(self.parent_op(), self.kernel.string_value())

    def sample_op(self) -> FuncOp:
        return _lookup(self.parent_op(), self.sample.string_value())


def _lookup(module: Operation, name: str) -> Operation | None:
    for region in module.regions:
        for block in region.blocks:
            for op in block.ops:
                sym = op.properties.get("sym_name")
                if isinstance(sym, StringAttr) and sym.data == name:
                    return op
    return None


@irdl_op_definition
class CommentOp(IRDLOperation):
    """A ``//`` comment in the generated code, where a reader of the C++ would look."""

    name = "cuda.comment"

    text = prop_def(StringAttr)

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$text attr-dict"

    def __init__(self, text: str):
        super().__init__(properties={"text": StringAttr(text)})


# ============================================================================================
# Per-thread code: arrays, control flow, memory
# ============================================================================================


@irdl_op_definition
class AllocaOp(IRDLOperation):
    """A thread-local array (rank 0: a scalar variable), optionally zero-initialized."""

    name = "cuda.alloca"

    zero = opt_prop_def(IntegerAttr)
    result = result_def(MemRefType)

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "attr-dict `:` type($result)"

    def __init__(self, elem: Attribute, shape: Sequence[int], zero: bool = False, hint: str | None = None):
        props = {"zero": IntegerAttr(1, i1)} if zero else {}
        super().__init__(result_types=[array_type(elem, shape)], properties=props)
        if hint:
            self.result.name_hint = hint

    def verify_(self) -> None:
        t = _check_array(self, self.result.type, "result")
        if space_of(t) is not None or any(d < 1 for d in t.get_shape()):
            raise VerifyException(f"'cuda.alloca' makes a local array of static size, got {t}")


@irdl_op_definition
class SharedAllocOp(IRDLOperation):
    """A ``__shared__`` array of the thread block (declared at the top of a kernel)."""

    name = "cuda.shared_alloc"

    result = result_def(MemRefType)

    assembly_format = "attr-dict `:` type($result)"

    def __init__(self, elem: Attribute, size: int, hint: str | None = None):
        super().__init__(result_types=[array_type(elem, [size], "shared")])
        if hint:
            self.result.name_hint = hint

    def verify_(self) -> None:
        t = _check_array(self, self.result.type, "result")
        if space_of(t) != "shared" or len(t.get_shape()) != 1 or t.get_shape()[0] < 1:
            raise VerifyException(f"'cuda.shared_alloc' makes a 1-D shared array of static size, got {t}")
        if not isinstance(self.parent_op(), KernelOp):
            raise VerifyException("'cuda.shared_alloc' must be at the top level of a cuda.kernel")


@irdl_op_definition
class GetGlobalOp(IRDLOperation):
    """The array of a ``cuda.global``."""

    name = "cuda.get_global"

    global_name = prop_def(SymbolRefAttr)
    result = result_def(MemRefType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$global_name attr-dict `:` type($result)"

    def __init__(self, glob: GlobalOp):
        super().__init__(properties={"global_name": SymbolRefAttr(glob.sym_name.data)}, result_types=[glob.type])
        self.result.name_hint = glob.sym_name.data


def _loop_bounds(lb: int, ub: int, step: int, unroll: int) -> dict[str, Attribute]:
    # builtin integer attributes (``4 : i64``), which upstream MLIR reads, not xDSL's IntAttr
    return {"lb": IntegerAttr(lb, i64), "ub": IntegerAttr(ub, i64), "step": IntegerAttr(step, i64), "unroll": IntegerAttr(unroll, i64)}


@irdl_op_definition
class ForOp(IRDLOperation):
    """``for (int i = lb; i < ub; i += step)`` with an unroll hint (0: full, 1: none, n: by n)."""

    name = "cuda.for"

    lb = prop_def(IntegerAttr)
    ub = prop_def(IntegerAttr)
    step = prop_def(IntegerAttr)
    unroll = prop_def(IntegerAttr)
    body = region_def("single_block")

    traits = traits_def(NoTerminator())

    def __init__(self, lb: int, ub: int, step: int = 1, unroll: int = 0, hint: str = "i"):
        block = Block(arg_types=[IndexType()])
        block.args[0].name_hint = hint
        super().__init__(
            properties=_loop_bounds(lb, ub, step, unroll),
            regions=[Region(block)],
        )

    @property
    def index(self) -> SSAValue:
        return self.body.block.args[0]

    @property
    def trip_count(self) -> int:
        return max(0, -(-(self.ub.value.data - self.lb.value.data) // self.step.value.data))

    def verify_(self) -> None:
        step, unroll = self.step.value.data, self.unroll.value.data
        if step < 1 or unroll < 0:
            raise VerifyException(f"'cuda.for' needs step >= 1 and unroll >= 0, got step {step}, unroll {unroll}")
        args = self.body.block.args
        if len(args) != 1 or not isinstance(args[0].type, IndexType):
            raise VerifyException("'cuda.for' body takes one index argument (the induction variable)")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.index)
        lb, ub, step, unroll = (a.value.data for a in (self.lb, self.ub, self.step, self.unroll))
        printer.print_string(f" = {lb} to {ub} step {step} unroll {unroll} ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=True)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> ForOp:
        arg = parser.parse_argument(expect_type=False)
        parser.parse_punctuation("=")
        lb = parser.parse_integer()
        parser.parse_keyword("to")
        ub = parser.parse_integer()
        parser.parse_keyword("step")
        step = parser.parse_integer()
        parser.parse_keyword("unroll")
        unroll = parser.parse_integer()
        index = arg.resolve(IndexType())
        body = parser.parse_region((index,))
        op = cls.__new__(cls)
        IRDLOperation.__init__(
            op,
            properties=_loop_bounds(lb, ub, step, unroll),
            regions=[body],
        )
        op.attributes |= parser.parse_optional_attr_dict()
        return op


@irdl_op_definition
class IfOp(IRDLOperation):
    """``if (cond) { ... }``."""

    name = "cuda.if"

    cond = operand_def(i1)
    body = region_def("single_block")

    traits = traits_def(NoTerminator())

    def __init__(self, cond: SSAValue):
        super().__init__(operands=[cond], regions=[Region(Block())])

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.cond)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=True)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> IfOp:
        cond = parser.parse_operand(i1)
        body = parser.parse_region()
        op = cls.__new__(cls)
        IRDLOperation.__init__(op, operands=[cond], regions=[body])
        op.attributes |= parser.parse_optional_attr_dict()
        return op


@irdl_op_definition
class LoadOp(IRDLOperation):
    """``array[index]`` (no index: the value of a scalar variable)."""

    name = "cuda.load"

    array = operand_def(MemRefType)
    indices = var_operand_def(IndexType)
    result = result_def(AnyAttr())

    assembly_format = "$array `[` $indices `]` attr-dict `:` type($array) `->` type($result)"

    def __init__(self, array: SSAValue, index: SSAValue | None = None):
        super().__init__(operands=[array, [index] if index is not None else []], result_types=[array.type.get_element_type()])

    def verify_(self) -> None:
        _check_indexing(self, self.array.type, len(self.indices))
        if self.result.type != self.array.type.get_element_type():
            raise VerifyException(f"'cuda.load' result must be {self.array.type.get_element_type()}, got {self.result.type}")


@irdl_op_definition
class StoreOp(IRDLOperation):
    """``array[index] = value`` (no index: assign a scalar variable)."""

    name = "cuda.store"

    value = operand_def(AnyAttr())
    array = operand_def(MemRefType)
    indices = var_operand_def(IndexType)

    assembly_format = "$value `,` $array `[` $indices `]` attr-dict `:` type($value) `,` type($array)"

    def __init__(self, value: SSAValue, array: SSAValue, index: SSAValue | None = None):
        super().__init__(operands=[value, array, [index] if index is not None else []])

    def verify_(self) -> None:
        t = _check_indexing(self, self.array.type, len(self.indices))
        if space_of(t) == "constant" or _is_const_global(self.array):
            raise VerifyException("'cuda.store' cannot write a constant array")
        if self.value.type != t.get_element_type():
            raise VerifyException(f"'cuda.store' value must be {t.get_element_type()}, got {self.value.type}")


def _is_const_global(v: SSAValue) -> bool:
    return isinstance(v.owner, GetGlobalOp)


def _check_indexing(op: Operation, t: Attribute, n: int) -> MemRefType:
    t = _check_array(op, t, "array")
    if len(t.get_shape()) != n:
        raise VerifyException(f"'{op.name}' on {t} takes {len(t.get_shape())} index operand(s), got {n}")
    return t


@irdl_op_definition
class OffsetOp(IRDLOperation):
    """``array + offset``: the part of an array from ``offset`` on (a pointer in C)."""

    name = "cuda.offset"

    array = operand_def(MemRefType)
    offset = operand_def(AnyAttr())
    result = result_def(MemRefType)

    traits = traits_def(Pure())
    assembly_format = "$array `,` $offset attr-dict `:` type($array) `,` type($offset) `->` type($result)"

    def __init__(self, array: SSAValue, offset: SSAValue):
        t = array.type
        super().__init__(operands=[array, offset], result_types=[array_type(t.get_element_type(), [DYNAMIC], space_of(t))])

    def verify_(self) -> None:
        a = _check_array(self, self.array.type, "array")
        r = _check_array(self, self.result.type, "result")
        if not _is_integer(self.offset.type):
            raise VerifyException(f"'cuda.offset' offset must be an integer, got {self.offset.type}")
        if a.get_element_type() != r.get_element_type() or space_of(a) != space_of(r):
            raise VerifyException("'cuda.offset' keeps the element type and memory space")


@irdl_op_definition
class CallOp(IRDLOperation):
    """Call a ``cuda.func`` (inlined: every per-sample function is ``__forceinline__``)."""

    name = "cuda.call"

    callee = prop_def(SymbolRefAttr)
    args = var_operand_def(AnyAttr())

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$callee `(` $args `)` attr-dict `:` type($args)"

    def __init__(self, callee: str, args: Sequence[SSAValue]):
        super().__init__(operands=[list(args)], properties={"callee": SymbolRefAttr(callee)})

    def verify_(self) -> None:
        module = self.parent_op()
        while module is not None and module.parent_op() is not None:
            module = module.parent_op()
        if module is None:
            return
        func = _lookup(module, self.callee.string_value())
        if not isinstance(func, FuncOp):
            raise VerifyException(f"'cuda.call' @{self.callee.string_value()} is not a cuda.func")
        params = func.function_type.inputs.data
        if len(params) != len(self.args):
            raise VerifyException(f"'cuda.call' @{self.callee.string_value()} takes {len(params)} arguments, got {len(self.args)}")
        for k, (p, a) in enumerate(zip(params, self.args)):
            ok = (
                isinstance(p, MemRefType) and isinstance(a.type, MemRefType) and p.get_element_type() == a.type.get_element_type()
            ) or p == a.type
            if not ok:
                raise VerifyException(f"'cuda.call' @{self.callee.string_value()} argument #{k}: expected {p}, got {a.type}")


# ============================================================================================
# Per-thread code: arithmetic
# ============================================================================================


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A literal of a scalar type."""

    name = "cuda.constant"

    value = prop_def(IntegerAttr | FloatAttr)
    result = result_def(AnyAttr())

    traits = traits_def(Pure())

    def __init__(self, value: int | float, t: Attribute):
        attr = FloatAttr(float(value), t) if isinstance(t, Float32Type | Float64Type) else IntegerAttr(int(value), t)
        super().__init__(properties={"value": attr}, result_types=[t])

    @property
    def number(self) -> int | float:
        return self.value.value.data

    def verify_(self) -> None:
        t = self.result.type
        if not _is_scalar(t) or self.value.type != t:
            raise VerifyException(f"'cuda.constant' must have a C scalar type equal to its value's, got {t}")

    def print(self, printer: Printer) -> None:
        v = self.number
        printer.print_string(f" {v if not isinstance(v, float) else repr(v)} : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        pos = parser.pos
        v = parser.parse_number()
        parser.parse_punctuation(":")
        t = parser.parse_type()
        if not _is_scalar(t):
            parser.raise_error(f"cuda.constant needs a C scalar type, got {t}", pos)
        if isinstance(t, Float32Type | Float64Type):
            return cls(float(v), t)
        if isinstance(v, float):
            parser.raise_error("cuda.constant of an integer type needs an integer literal", pos)
        lo, hi = int_range(t) if t != i1 else (0, 1)
        if not lo <= v <= hi:
            parser.raise_error(f"cuda.constant {v} does not fit {t}", pos)
        return cls(v, t)


class _Binary(IRDLOperation):
    T: ClassVar = VarConstraint("T", AnyAttr())
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[lhs.type])

    def verify_(self) -> None:
        if not _is_integer(self.result.type):
            raise VerifyException(f"'{self.name}' works on integers (si/ui 8..64, index), got {self.result.type}")


@irdl_op_definition
class AddOp(_Binary):
    """``lhs + rhs`` (the result type holds the exact sum)."""

    name = "cuda.add"


@irdl_op_definition
class SubOp(_Binary):
    """``lhs - rhs`` (the result type holds the exact difference)."""

    name = "cuda.sub"


@irdl_op_definition
class MulOp(_Binary):
    """``lhs * rhs`` (the result type holds the exact product)."""

    name = "cuda.mul"


@irdl_op_definition
class DivOp(_Binary):
    """``lhs / rhs`` on non-negative index values (array index arithmetic)."""

    name = "cuda.div"

    def verify_(self) -> None:
        if not isinstance(self.result.type, IndexType):
            raise VerifyException("'cuda.div' is for index arithmetic (non-negative index operands)")


@irdl_op_definition
class RemOp(_Binary):
    """``lhs % rhs`` on non-negative index values (array index arithmetic)."""

    name = "cuda.rem"

    def verify_(self) -> None:
        if not isinstance(self.result.type, IndexType):
            raise VerifyException("'cuda.rem' is for index arithmetic (non-negative index operands)")


@irdl_op_definition
class MaxOp(_Binary):
    """``max(lhs, rhs)``."""

    name = "cuda.max"


@irdl_op_definition
class MinOp(_Binary):
    """``min(lhs, rhs)``."""

    name = "cuda.min"


@irdl_op_definition
class AndOp(_Binary):
    """``lhs && rhs`` on booleans."""

    name = "cuda.and"

    def verify_(self) -> None:
        if self.result.type != i1:
            raise VerifyException("'cuda.and' works on i1 (bool)")


@irdl_op_definition
class CmpOp(IRDLOperation):
    """``lhs PRED rhs`` (eq, ne, lt, le, gt, ge) as a bool."""

    name = "cuda.cmp"

    T: ClassVar = VarConstraint("T", AnyAttr())
    predicate = prop_def(StringAttr)
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(i1)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$predicate $lhs `,` $rhs attr-dict `:` type($lhs)"

    def __init__(self, predicate: str, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], properties={"predicate": StringAttr(predicate)}, result_types=[i1])

    def verify_(self) -> None:
        if self.predicate.data not in CMP_PREDICATES:
            raise VerifyException(f"'cuda.cmp' predicate must be one of {list(CMP_PREDICATES)}, got '{self.predicate.data}'")
        if not _is_integer(self.lhs.type):
            raise VerifyException(f"'cuda.cmp' compares integers, got {self.lhs.type}")


@irdl_op_definition
class SelectOp(IRDLOperation):
    """``cond ? a : b``."""

    name = "cuda.select"

    T: ClassVar = VarConstraint("T", AnyAttr())
    cond = operand_def(i1)
    a = operand_def(T)
    b = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    assembly_format = "$cond `,` $a `,` $b attr-dict `:` type($result)"

    def __init__(self, cond: SSAValue, a: SSAValue, b: SSAValue):
        super().__init__(operands=[cond, a, b], result_types=[a.type])


@irdl_op_definition
class ConvertOp(IRDLOperation):
    """``static_cast<T>(x)``: integer widening/narrowing of a value that fits, or int <-> float."""

    name = "cuda.convert"

    input = operand_def(AnyAttr())
    result = result_def(AnyAttr())

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, t: Attribute):
        super().__init__(operands=[x], result_types=[t])

    def verify_(self) -> None:
        for what, t in (("input", self.input.type), ("result", self.result.type)):
            if not _is_scalar(t):
                raise VerifyException(f"'cuda.convert' {what} must be a C scalar type, got {t}")


class _IntUnary(IRDLOperation):
    T: ClassVar = VarConstraint("T", AnyAttr())
    input = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($result)"

    def verify_(self) -> None:
        if not _is_integer(self.result.type):
            raise VerifyException(f"'{self.name}' works on integers, got {self.result.type}")


@irdl_op_definition
class ShrOp(_IntUnary):
    """``x >> amount``: floor division by ``2**amount`` (arithmetic shift)."""

    name = "cuda.shr"

    amount = prop_def(IntegerAttr)

    def __init__(self, x: SSAValue, amount: int):
        super().__init__(operands=[x], properties={"amount": _i64(amount)}, result_types=[x.type])

    def verify_(self) -> None:
        super().verify_()
        bits = 32 if isinstance(self.result.type, IndexType) else self.result.type.width.data
        _check_int_attr(self, "amount", self.amount.value.data, 1, bits - 1)


@irdl_op_definition
class RoundShiftOp(_IntUnary):
    """``x / 2**shift`` rounded by an ``ap_fixed`` mode; the type must hold ``x + 2**shift``."""

    name = "cuda.round_shift"

    shift = prop_def(IntegerAttr)
    mode = prop_def(StringAttr)

    def __init__(self, x: SSAValue, shift: int, mode: str):
        super().__init__(operands=[x], properties={"shift": _i64(shift), "mode": StringAttr(mode)}, result_types=[x.type])

    def verify_(self) -> None:
        super().verify_()
        if not is_signed(self.result.type):
            raise VerifyException("'cuda.round_shift' works on signed types (the rounding needs the sign)")
        bits = self.result.type.width.data if is_int(self.result.type) else 32
        _check_int_attr(self, "shift", self.shift.value.data, 1, bits - 2)
        if self.mode.data not in ROUNDING_MODES:
            raise VerifyException(f"'cuda.round_shift' mode must be one of {ROUNDING_MODES}, got '{self.mode.data}'")


@irdl_op_definition
class WrapOp(_IntUnary):
    """The low ``width`` bits of ``x`` as a signed (two's complement) or unsigned number."""

    name = "cuda.wrap"

    width = prop_def(IntegerAttr)
    signed = prop_def(IntegerAttr)

    def __init__(self, x: SSAValue, width: int, signed: bool):
        super().__init__(operands=[x], properties={"width": _i64(width), "signed": IntegerAttr(int(signed), i1)}, result_types=[x.type])

    @property
    def is_signed(self) -> bool:
        return bool(self.signed.value.data)

    def verify_(self) -> None:
        super().verify_()
        if not is_signed(self.result.type):
            raise VerifyException("'cuda.wrap' works on a signed type wide enough for the wrapped value")
        bits = self.result.type.width.data if is_int(self.result.type) else 32
        _check_int_attr(self, "width", self.width.value.data, 1, bits - 1 if not self.is_signed else bits)


@irdl_op_definition
class ClampOp(_IntUnary):
    """``min(max(x, lo), hi)`` (saturation)."""

    name = "cuda.clamp"

    lo = prop_def(IntegerAttr)
    hi = prop_def(IntegerAttr)

    def __init__(self, x: SSAValue, lo: int, hi: int):
        super().__init__(operands=[x], properties={"lo": _i64(lo), "hi": _i64(hi)}, result_types=[x.type])

    def verify_(self) -> None:
        super().verify_()
        _check_bounds(self, self.lo.value.data, self.hi.value.data)


@irdl_op_definition
class ZeroOutsideOp(_IntUnary):
    """``lo <= x <= hi ? x : 0`` (SAT_ZERO overflow)."""

    name = "cuda.zero_outside"

    lo = prop_def(IntegerAttr)
    hi = prop_def(IntegerAttr)

    def __init__(self, x: SSAValue, lo: int, hi: int):
        super().__init__(operands=[x], properties={"lo": _i64(lo), "hi": _i64(hi)}, result_types=[x.type])

    def verify_(self) -> None:
        super().verify_()
        _check_bounds(self, self.lo.value.data, self.hi.value.data)


def _check_bounds(op: Operation, lo: int, hi: int) -> None:
    tlo, thi = int_range(op.result.type)
    if not tlo <= lo <= hi <= thi:
        raise VerifyException(f"'{op.name}' bounds [{lo}, {hi}] must be ordered and fit {op.result.type}")


@irdl_op_definition
class Pack4Op(IRDLOperation):
    """Four 8-bit codes as the bytes of one 32-bit word (the first in the low byte), for ``cuda.dp4a``."""

    name = "cuda.pack4"

    T: ClassVar = VarConstraint("T", AnyAttr())
    parts = var_operand_def(T)
    result = result_def(AnyAttr())

    traits = traits_def(Pure())
    assembly_format = "$parts attr-dict `:` type($parts) `->` type($result)"

    def __init__(self, parts: Sequence[SSAValue]):
        super().__init__(operands=[list(parts)], result_types=[int_type(32, True)])

    def verify_(self) -> None:
        if len(self.parts) != 4 or not all(is_int(p.type) and p.type.width.data == 8 for p in self.parts):
            raise VerifyException("'cuda.pack4' takes four 8-bit integers")
        if self.result.type != int_type(32, True):
            raise VerifyException("'cuda.pack4' makes an si32 word")


@irdl_op_definition
class Dp4aOp(IRDLOperation):
    """``c + sum_j a.byte[j] * b.byte[j]`` (``__dp4a``; bytes signed or unsigned as the op says), exact in si32."""

    name = "cuda.dp4a"

    a = operand_def(int_type(32, True))
    b = operand_def(int_type(32, True))
    c = operand_def(int_type(32, True))
    a_signed = prop_def(IntegerAttr)
    b_signed = prop_def(IntegerAttr)
    result = result_def(int_type(32, True))

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$a `,` $b `,` $c attr-dict"

    def __init__(self, a: SSAValue, b: SSAValue, c: SSAValue, a_signed: bool, b_signed: bool):
        super().__init__(
            operands=[a, b, c],
            properties={"a_signed": IntegerAttr(int(a_signed), i1), "b_signed": IntegerAttr(int(b_signed), i1)},
            result_types=[int_type(32, True)],
        )


@irdl_op_definition
class QuantizeOp(IRDLOperation):
    """``fxp.quantize`` of one float: its steps (or ``x * scale + offset``) in ``ftype`` (no FMA), then the exact cast to a code."""

    name = "cuda.quantize"

    input = operand_def(Float32Type)
    consts = var_operand_def(AnyAttr())  # per-element step constants, as their float32 bits (int32)
    ftype = prop_def(Attribute)
    scale = opt_prop_def(FloatAttr)
    offset = opt_prop_def(FloatAttr)
    steps = opt_prop_def(ArrayAttr)
    frac = prop_def(IntegerAttr)
    width = prop_def(IntegerAttr)
    signed = prop_def(IntegerAttr)
    rounding = prop_def(StringAttr)
    overflow = prop_def(StringAttr)
    result = result_def(AnyAttr())

    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())
    assembly_format = "$input (`consts` `(` $consts^ `:` type($consts) `)`)? attr-dict `:` type($input) `->` type($result)"

    MAX_WIDTH: ClassVar[int] = 52
    """Codes up to 52 bits are exact integers of a double, where the cast happens."""

    def __init__(self, x: SSAValue, t: Attribute, ftype: Attribute, fmt, scale: float | None, offset: float | None, steps: ArrayAttr | None = None, consts=()):
        props: dict[str, Attribute] = {
            "ftype": ftype,
            "frac": _i64(fmt.frac),
            "width": _i64(fmt.width),
            "signed": IntegerAttr(int(fmt.signed), i1),
            "rounding": StringAttr(fmt.rounding),
            "overflow": StringAttr(fmt.overflow),
        }
        if scale is not None:
            props["scale"] = FloatAttr(scale, ftype)
        if offset is not None:
            props["offset"] = FloatAttr(offset, ftype)
        if steps is not None:
            props["steps"] = steps  # fxp.quantize's float steps (fmlc.boundary), same attribute
        super().__init__(operands=[x, list(consts)], properties=props, result_types=[t])

    def verify_(self) -> None:
        if not isinstance(self.ftype, Float32Type | Float64Type):
            raise VerifyException(f"'cuda.quantize' ftype must be f32 or f64, got {self.ftype}")
        if self.rounding.data not in ROUNDING_MODES or self.overflow.data not in OVERFLOW_MODES:
            raise VerifyException(f"'cuda.quantize' has unknown modes {self.rounding.data}, {self.overflow.data}")
        _check_int_attr(self, "width", self.width.value.data, 1, self.MAX_WIDTH)
        if not is_int(self.result.type):
            raise VerifyException(f"'cuda.quantize' result must be a C integer type, got {self.result.type}")
        # float bits are a word, not a value: a narrower type would only fit them by accident
        if any(c.type != int_type(32, True) for c in self.consts):
            raise VerifyException("'cuda.quantize' step constants are float32 bits in si32")


@irdl_op_definition
class DequantizeOp(IRDLOperation):
    """The float value ``code * 2**-frac`` (one rounding, to float)."""

    name = "cuda.dequantize"

    input = operand_def(AnyAttr())
    frac = prop_def(IntegerAttr)
    result = result_def(Float32Type)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, x: SSAValue, frac: int):
        super().__init__(operands=[x], properties={"frac": _i64(frac)}, result_types=[Float32Type()])

    def verify_(self) -> None:
        if not is_int(self.input.type):
            raise VerifyException(f"'cuda.dequantize' input must be a C integer type, got {self.input.type}")


# ============================================================================================
# Kernel mapping
# ============================================================================================


@irdl_op_definition
class TileLoopOp(IRDLOperation):
    """Grid-stride loop over tiles of ``tile`` samples; the body gets (first sample, samples in the tile)."""

    name = "cuda.tile_loop"

    count = operand_def(int_type(64, True))
    tile = prop_def(IntegerAttr)
    body = region_def("single_block")

    traits = traits_def(NoTerminator())

    def __init__(self, count: SSAValue, tile: int):
        block = Block(arg_types=[int_type(64, True), IndexType()])
        block.args[0].name_hint = "base"
        block.args[1].name_hint = "count"
        super().__init__(operands=[count], properties={"tile": IntegerAttr(tile, i64)}, regions=[Region(block)])

    @property
    def base(self) -> SSAValue:
        return self.body.block.args[0]

    @property
    def active(self) -> SSAValue:
        return self.body.block.args[1]

    def verify_(self) -> None:
        args = self.body.block.args
        if [a.type for a in args] != [int_type(64, True), IndexType()]:
            raise VerifyException("'cuda.tile_loop' body takes (si64 first sample, index samples in this tile)")
        kernel = self.parent_op()
        if not isinstance(kernel, KernelOp) or self.tile.value.data != kernel.block_size.value.data:
            raise VerifyException("'cuda.tile_loop' must sit in a cuda.kernel, with one sample a thread (tile = block_size)")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.base)
        printer.print_string(", ")
        printer.print_ssa_value(self.active)
        printer.print_string(" in ")
        printer.print_operand(self.count)
        printer.print_string(f" tile {self.tile.value.data} ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=True)

    @classmethod
    def parse(cls, parser: Parser) -> TileLoopOp:
        base = parser.parse_argument(expect_type=False)
        parser.parse_punctuation(",")
        active = parser.parse_argument(expect_type=False)
        parser.parse_keyword("in")
        count = parser.parse_operand(int_type(64, True))
        parser.parse_keyword("tile")
        tile = parser.parse_integer()
        body = parser.parse_region((base.resolve(int_type(64, True)), active.resolve(IndexType())))
        op = cls.__new__(cls)
        IRDLOperation.__init__(op, operands=[count], properties={"tile": IntegerAttr(tile, i64)}, regions=[body])
        return op


class _TileCopy(IRDLOperation):
    global_array = operand_def(MemRefType)
    shared_array = operand_def(MemRefType)
    base = operand_def(int_type(64, True))
    active = operand_def(IndexType)
    elems = prop_def(IntegerAttr)
    stride = prop_def(IntegerAttr)

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$global_array `,` $shared_array `,` $base `,` $active attr-dict `:` type($global_array) `,` type($shared_array)"
    )

    def __init__(self, glob: SSAValue, shared: SSAValue, base: SSAValue, active: SSAValue, elems: int, stride: int):
        super().__init__(operands=[glob, shared, base, active], properties={"elems": _i64(elems), "stride": _i64(stride)})

    def verify_(self) -> None:
        g = _check_array(self, self.global_array.type, "global array")
        s = _check_array(self, self.shared_array.type, "shared array")
        if space_of(g) != "global" or space_of(s) != "shared":
            raise VerifyException(f"'{self.name}' copies between a global and a shared array")
        if g.get_element_type() != s.get_element_type():
            raise VerifyException(f"'{self.name}' element types differ: {g.get_element_type()} vs {s.get_element_type()}")
        if not 1 <= self.elems.value.data <= self.stride.value.data:
            raise VerifyException(f"'{self.name}' needs 1 <= elems <= stride")
        tile = _enclosing_tile(self)
        if tile is not None and s.get_shape()[0] < tile * self.stride.value.data:
            raise VerifyException(f"'{self.name}' shared array must hold {tile} samples x stride {self.stride.value.data}")


def _enclosing_tile(op: Operation) -> int | None:
    parent = op.parent_op()
    while parent is not None and not isinstance(parent, TileLoopOp):
        parent = parent.parent_op()
    return parent.tile.value.data if parent is not None else None


@irdl_op_definition
class TileLoadOp(_TileCopy):
    """Coalesced copy of a tile's samples (``elems`` each) from global to shared memory (``stride`` apart)."""

    name = "cuda.tile_load"


@irdl_op_definition
class TileStoreOp(_TileCopy):
    """Coalesced copy of a tile's samples (``elems`` each) from shared memory (``stride`` apart) to global."""

    name = "cuda.tile_store"


@irdl_op_definition
class BarrierOp(IRDLOperation):
    """``__syncthreads()``."""

    name = "cuda.barrier"

    assembly_format = "attr-dict"


@irdl_op_definition
class ThreadSampleOp(IRDLOperation):
    """Thread t of the block handles sample t of the tile, if the tile has that many; the body gets t."""

    name = "cuda.thread_sample"

    active = operand_def(IndexType)
    body = region_def("single_block")

    traits = traits_def(NoTerminator())

    def __init__(self, active: SSAValue):
        block = Block(arg_types=[IndexType()])
        block.args[0].name_hint = "t"
        super().__init__(operands=[active], regions=[Region(block)])

    @property
    def thread(self) -> SSAValue:
        return self.body.block.args[0]

    def verify_(self) -> None:
        if _enclosing_tile(self) is None:
            raise VerifyException("'cuda.thread_sample' must sit in a cuda.tile_loop")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.thread)
        printer.print_string(" below ")
        printer.print_operand(self.active)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=True)

    @classmethod
    def parse(cls, parser: Parser) -> ThreadSampleOp:
        arg = parser.parse_argument(expect_type=False)
        parser.parse_keyword("below")
        active = parser.parse_operand(IndexType())
        body = parser.parse_region((arg.resolve(IndexType()),))
        op = cls.__new__(cls)
        IRDLOperation.__init__(op, operands=[active], regions=[body])
        return op


CUDA = Dialect(
    "cuda",
    [
        GlobalOp,
        FuncOp,
        KernelOp,
        EntryOp,
        CommentOp,
        AllocaOp,
        SharedAllocOp,
        GetGlobalOp,
        ForOp,
        IfOp,
        LoadOp,
        StoreOp,
        OffsetOp,
        CallOp,
        ConstantOp,
        AddOp,
        SubOp,
        MulOp,
        DivOp,
        RemOp,
        MaxOp,
        MinOp,
        AndOp,
        CmpOp,
        SelectOp,
        ConvertOp,
        ShrOp,
        RoundShiftOp,
        WrapOp,
        ClampOp,
        ZeroOutsideOp,
        Pack4Op,
        Dp4aOp,
        QuantizeOp,
        DequantizeOp,
        TileLoopOp,
        TileLoadOp,
        TileStoreOp,
        BarrierOp,
        ThreadSampleOp,
    ],
    [],
)
