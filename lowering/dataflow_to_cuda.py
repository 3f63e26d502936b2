"""dataflow -> cuda: every layer becomes a per-sample ``__host__ __device__`` function.

The network runs one sample a thread, all layers fused: the model's per-sample function
calls one function a ``dataflow.node`` (all ``__forceinline__``), intermediate tensors live
in thread-local arrays (registers once the loops are unrolled), weights in ``__constant__``
memory (every thread of a warp reads the same weight at the same time: a broadcast), and
data-indexed tables in global memory (read through the L1 cache).  Three kernels map
samples to threads: raw codes in and out, floats in and codes out, floats in and out; each
walks the batch in tiles of ``block_size`` samples, staging the tile's inputs and outputs
through shared memory so that global memory is read and written coalesced.

Arithmetic is exact integer arithmetic on the codes, in C types picked from exact value
ranges (``fmlc.ranges``): storage types are the narrowest of int8..int64 (or unsigned)
holding a tensor's format, arithmetic is int32 when every intermediate fits and int64
otherwise (a layer needing more is an error naming it).  Casts reproduce
``fmlc.fixed._cast_int``: an arithmetic shift with the rounding mode's increment, then wrap
or saturation.  Dense layers whose inputs and weights are 8-bit use ``__dp4a`` (four exact
int8 products a instruction, int32 sums).

The pass replaces the module's contents: the ``fxp.quantize`` at the boundary becomes the
per-sample quantizer of the float API, the rest the per-sample model function.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    Float32Type,
    Float64Type,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    i64,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from fmlc import fixed
from fmlc.boundary import describe
from fmlc.dialects import cuda, dataflow, fxp
from fmlc.dialects.fxp import shape_of
from fmlc.fixed import FixedFormat, round_code
from fmlc.ir import UniqueNames, identifier, main_function, op_label
from fmlc.ranges import Interval, cast_interval, exact_interval

INDEX = IndexType()
SI32 = cuda.int_type(32, True)
SI64 = cuda.int_type(64, True)
F32 = Float32Type()

LAYERS_ATTR = "fmlc.cuda.layers"
"""Module attribute: per layer, what it computes and how it maps to the GPU (for reports)."""

CONSTANT_BUDGET = 60 * 1024
"""Bytes of ``__constant__`` memory the weights may take (the hardware has 64 KiB)."""
BOUNDARY_UNROLL = 64
"""Quantizers of larger inputs stay loops: each unrolled float cast is long code for nvcc."""
STAGE_BUDGET = 24 * 1024
"""Bytes of shared memory a tile's inputs plus outputs may take; larger samples are read in place."""


class CudaLoweringError(PassFailedException):
    """A layer cannot be lowered to CUDA as written; the message names the layer and why."""


# ============================================================================================
# C types from formats and exact ranges
# ============================================================================================


def storage_type(fmt: FixedFormat, what: str) -> IntegerType:
    """The narrowest C integer type holding every code of ``fmt``."""
    for bits in (8, 16, 32, 64):
        if fmt.width <= bits:
            return cuda.int_type(bits, fmt.signed)
    raise CudaLoweringError(f"{what}: {fmt} is {fmt.width} bits wide; the CUDA target holds codes of at most 64 bits")


def type_for_values(lo: int, hi: int, what: str) -> IntegerType:
    """The narrowest C integer type holding ``lo..hi`` (constant arrays)."""
    for bits in (8, 16, 32, 64):
        if lo >= 0 and hi < (1 << bits) and (hi >= 1 << (bits - 1)):
            return cuda.int_type(bits, False)
        if -(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1)):
            return cuda.int_type(bits, True)
    raise CudaLoweringError(f"{what}: constants in [{lo}, {hi}] do not fit 64 bits")


def work_type(lo: int, hi: int, what: str) -> IntegerType:
    """int32 when every value ``lo..hi`` fits, else int64 (arithmetic is never narrower than int)."""
    if -(1 << 31) <= lo and hi < (1 << 31):
        return SI32
    if -(1 << 63) <= lo and hi < (1 << 63):
        return SI64
    raise CudaLoweringError(f"{what}: intermediate values in [{lo}, {hi}] need more than 64 bits")


# ============================================================================================
# A builder for per-thread code
# ============================================================================================


class Builder:
    """Appends cuda ops to a block; folds index arithmetic on constants as it goes."""

    def __init__(self, block: Block):
        self.block = block

    def add(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def comment(self, text: str) -> None:
        self.add(cuda.CommentOp(text))

    # -- constants and index arithmetic ---------------------------------------------------

    def const(self, value: int, t: Attribute = INDEX) -> SSAValue:
        return self.add(cuda.ConstantOp(value, t)).result

    @staticmethod
    def known(v: SSAValue) -> int | None:
        return v.owner.number if isinstance(v.owner, cuda.ConstantOp) and isinstance(v.type, IndexType) else None

    def idx(self, v: SSAValue | int) -> SSAValue:
        return self.const(v) if isinstance(v, int) else v

    def iadd(self, a: SSAValue | int, b: SSAValue | int) -> SSAValue | int:
        """Index ``a + b``; plain ints stay ints (folded)."""
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        if isinstance(b, int) and b == 0:
            return a
        if isinstance(a, int) and a == 0:
            return b
        return self.add(cuda.AddOp(self.idx(a), self.idx(b))).result

    def imul(self, a: SSAValue | int, b: int) -> SSAValue | int:
        if isinstance(a, int):
            return a * b
        if b == 1:
            return a
        if b == 0:
            return 0
        return self.add(cuda.MulOp(a, self.const(b))).result

    def idiv(self, a: SSAValue | int, b: int) -> SSAValue | int:
        if isinstance(a, int):
            return a // b
        return a if b == 1 else self.add(cuda.DivOp(a, self.const(b))).result

    def irem(self, a: SSAValue | int, b: int) -> SSAValue | int:
        if isinstance(a, int):
            return a % b
        return 0 if b == 1 else self.add(cuda.RemOp(a, self.const(b))).result

    def linear(self, terms: Sequence[tuple[SSAValue | int, int]], offset: int = 0) -> SSAValue | int:
        """``offset + sum(v * c)``: array index arithmetic."""
        acc: SSAValue | int = offset
        for v, c in terms:
            acc = self.iadd(acc, self.imul(v, c))
        return acc

    # -- memory -------------------------------------------------------------------------------

    def load(self, array: SSAValue, index: SSAValue | int | None = None) -> SSAValue:
        return self.add(cuda.LoadOp(array, self.idx(index) if index is not None else None)).result

    def store(self, value: SSAValue, array: SSAValue, index: SSAValue | int | None = None) -> None:
        self.add(cuda.StoreOp(value, array, self.idx(index) if index is not None else None))

    def var(self, t: Attribute, init: SSAValue | None = None, hint: str = "v") -> SSAValue:
        """A scalar variable (rank-0 local array), optionally initialized."""
        v = self.add(cuda.AllocaOp(t, [], hint=hint)).result
        if init is not None:
            self.store(init, v)
        return v

    # -- arithmetic ---------------------------------------------------------------------------

    def convert(self, v: SSAValue, t: Attribute) -> SSAValue:
        return v if v.type == t else self.add(cuda.ConvertOp(v, t)).result

    def binary(self, cls, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(cls(a, b)).result

    def cmp(self, pred: str, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(cuda.CmpOp(pred, a, b)).result

    def select(self, c: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(cuda.SelectOp(c, a, b)).result

    # -- control flow ------------------------------------------------------------------------

    @contextmanager
    def loop(self, n: int, unroll: int = 0, hint: str = "i") -> Iterator[SSAValue | int]:
        """``for (int i = 0; i < n; ++i)``; a loop of one iteration is no loop (yields 0)."""
        if n == 1:
            yield 0
            return
        op = self.add(cuda.ForOp(0, n, 1, unroll, hint))
        outer = self.block
        self.block = op.body.block
        try:
            yield op.index
        finally:
            self.block = outer

    @contextmanager
    def when(self, cond: SSAValue | None) -> Iterator[None]:
        """``if (cond)``; no condition: unconditional."""
        if cond is None:
            yield
            return
        op = self.add(cuda.IfOp(cond))
        outer = self.block
        self.block = op.body.block
        try:
            yield
        finally:
            self.block = outer


def unroll_for(trips: int, inner: int, limit: int) -> int:
    """Unroll hint: fully (0) while the unrolled nest stays under ``limit`` iterations, else not (1)."""
    return 0 if trips * inner <= limit else 1


# ============================================================================================
# Tensors during lowering
# ============================================================================================


@dataclass
class Tensor:
    """A per-sample tensor: a local/argument array of codes, or a constant (codes known here)."""

    fmt: FixedFormat
    iv: Interval
    shape: tuple[int, ...]
    array: SSAValue | None = None
    codes: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Cast:
    """The result cast of an op: exact values at ``frac`` within ``iv`` to ``dst``."""

    iv: Interval
    dst: FixedFormat


@dataclass
class LayerInfo:
    """What the report says about one layer."""

    layer: str
    op: str
    mults: int
    mapping: str
    types: str


# ============================================================================================
# The pass
# ============================================================================================


@dataclass(frozen=True)
class DataflowToCuda(ModulePass):
    """Lower a dataflow module to the cuda dialect: per-sample functions, kernels and the C API."""

    name = "dataflow-to-cuda"

    model: str = "model"
    """Prefix of every C symbol (``fmlc_<model>_infer`` ...): letters, digits, underscores."""

    block_size: int = 256
    """Threads per block, one sample each (a multiple of 32)."""

    dp4a: bool = True
    """Use ``__dp4a`` (exact int8 dot products) for dense layers with 8-bit inputs and weights."""

    unroll_limit: int = 1024
    """Loops are unrolled fully while a nest stays under this many iterations (bigger: slower nvcc)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.model.isidentifier():
            raise CudaLoweringError(f"dataflow-to-cuda: model name '{self.model}' must be a C identifier")
        if self.block_size % 32 or not 32 <= self.block_size <= 1024:
            raise CudaLoweringError(f"dataflow-to-cuda: block_size must be a multiple of 32 in [32, 1024], got {self.block_size}")
        lowering = ModelLowering(self, main_function(op))
        new_ops = lowering.run()
        for old in list(op.body.block.ops):
            old.detach()
            old.erase(safe_erase=False)
        op.body.block.add_ops(new_ops)
        # what the report says per layer travels with the IR
        op.attributes[LAYERS_ATTR] = ArrayAttr(
            [
                DictionaryAttr({"layer": StringAttr(i.layer), "op": StringAttr(i.op), "types": StringAttr(i.types),
                                "mults": IntegerAttr(i.mults, i64), "mapping": StringAttr(i.mapping)})
                for i in lowering.layers
            ]
        )


class ModelLowering:
    """Lowers one model function; collects the module-level ops it makes."""

    def __init__(self, options: DataflowToCuda, func: FuncOp):
        self.opt = options
        self.func = func
        self.prefix = options.model
        self.globals: list[cuda.GlobalOp] = []
        self.funcs: list[cuda.FuncOp] = []
        self.names = UniqueNames()
        self.constant_bytes = 0
        self.ranges: dict[SSAValue, Interval] = {}
        self.consts: dict[SSAValue, np.ndarray] = {}
        self.layers: list[LayerInfo] = []

    def unique(self, base: str) -> str:
        return self.names(identifier(base))

    # -- ranges ---------------------------------------------------------------------------

    def range_of(self, v: SSAValue) -> Interval:
        if v in self.ranges:
            return self.ranges[v]
        return Interval.of_format(fxp.element_format(v))

    def const_of(self, v: SSAValue) -> np.ndarray | None:
        return self.consts.get(v)

    def track(self, op: Operation) -> None:
        """Exact range of an op's result, as precision inference computes it."""
        result = op.results[0]
        fmt = fxp.element_format(result)
        if isinstance(op, fxp.ConstantOp):
            self.consts[result] = op.codes()
            self.ranges[result] = Interval.of_codes(op.codes(), fmt.frac)
        elif isinstance(op, fxp.ReshapeOp | fxp.FlattenOp | fxp.TransposeOp):
            self.ranges[result] = self.range_of(op.operands[0])
        elif isinstance(op, fxp.PadOp):
            self.ranges[result] = self.range_of(op.operands[0]).with_zero()
        else:
            exact = exact_interval(op, self.range_of, self.const_of)
            self.ranges[result] = cast_interval(exact, fmt) if exact is not None else Interval.of_format(fmt)

    # -- globals ------------------------------------------------------------------------

    def global_array(self, codes: np.ndarray, name: str, doc: str, space: str = "constant", elem: IntegerType | None = None) -> SSAValue:
        """A ``cuda.global`` holding ``codes`` (narrowest type unless ``elem`` pins one); returns the name to get it by.

        Pin ``elem`` for bit patterns (packed bytes, float bits): narrowing by value would pick a
        type by accident (small words became ui16), and their users need the 32-bit word."""
        flat = np.asarray(codes).reshape(-1).astype(object)
        lo, hi = (int(min(flat)), int(max(flat))) if flat.size else (0, 0)
        elem = elem or type_for_values(lo, hi, doc)
        nbytes = max(flat.size, 1) * elem.width.data // 8
        if space == "constant" and self.constant_bytes + nbytes > CONSTANT_BUDGET:
            space = "global"  # constant memory is full: the rest is read through the cache
        if space == "constant":
            self.constant_bytes += nbytes
        data = np.array([int(v) for v in flat] or [0], dtype=np.uint64 if hi >= 1 << 63 else np.int64)
        glob = cuda.GlobalOp(self.unique(f"{self.prefix}_{name}"), elem, data, space, doc)
        self.globals.append(glob)
        return glob

    # -- the model ------------------------------------------------------------------------

    def run(self) -> list[Operation]:
        block = self.func.body.block
        args = list(block.args)
        if len(args) != 1:
            raise CudaLoweringError(f"the CUDA target compiles models of one input; @{self.func.sym_name.data} takes {len(args)}")
        ret = block.last_op
        assert isinstance(ret, ReturnOp)
        if len(ret.operands) != 1:
            raise CudaLoweringError(f"the CUDA target compiles models of one output; @{self.func.sym_name.data} returns {len(ret.operands)}")
        quant = self._boundary(args[0])
        codes_in = quant.result if quant is not None else args[0]
        in_fmt = fxp.element_format(codes_in)
        self.ranges[codes_in] = Interval.of_format(in_fmt)
        out_value = ret.operands[0]
        out_fmt = fxp.element_format(out_value)
        n_in = int(np.prod(shape_of(codes_in), dtype=np.int64))
        n_out = int(np.prod(shape_of(out_value), dtype=np.int64))
        in_t = storage_type(in_fmt, "the model input")
        producer = out_value.owner
        out_t = storage_type(out_fmt, f"layer '{producer.layer.data}' (the model output)" if isinstance(producer, dataflow.NodeOp) else "the model output")

        sample = self._sample_function(codes_in, out_value, in_t, out_t, n_in, n_out)
        quantize = self._quantize_function(quant, codes_in, in_t, n_in)
        dequantize = self._dequantize_function(out_fmt, out_t, n_out)
        infer = self._chain(f"{self.prefix}_infer_sample", F32, F32, n_in, n_out, [(quantize, in_t, n_in), (sample, out_t, n_out), (dequantize, None, None)],
                            "float inputs -> quantize -> model -> float values of the output codes")
        codes = self._chain(f"{self.prefix}_infer_codes_sample", F32, out_t, n_in, n_out, [(quantize, in_t, n_in), (sample, None, None)],
                            "float inputs -> quantize -> model -> output codes")
        kernels, entries = [], []
        flavours = (
            ("float", infer, F32, F32, n_out),
            ("codes", codes, F32, out_t, n_out),
            ("raw", sample, in_t, out_t, n_out),
            ("quantize", quantize, F32, in_t, n_in),
        )
        for kind, fn, tin, tout, n_res in flavours:
            kname = f"{self.prefix}_{kind}_kernel"
            kernels.append(self._kernel(kname, fn, tin, tout, n_in, n_res))
            entries.append(cuda.EntryOp(ENTRY_NAMES[kind].format(self.prefix), kname, fn.sym_name.data, kind, n_in, n_res, ENTRY_DOCS[kind]))
        header = cuda.CommentOp(f"model {self.prefix}: input {in_fmt} x {n_in}, output {out_fmt} x {n_out}")
        report = [cuda.CommentOp(f"layer {i.layer}: {i.op}; {i.types}; {i.mults} multiplications; {i.mapping}") for i in self.layers]
        return [header, *report, *self.globals, *self.funcs, quantize, dequantize, infer, codes, *kernels, *entries]

    def _boundary(self, arg: SSAValue) -> fxp.QuantizeOp | None:
        uses = [u.operation for u in arg.uses]
        quants = [u for u in uses if isinstance(u, fxp.QuantizeOp)]
        if not quants:
            if not fxp.is_resolved(arg):
                raise CudaLoweringError("the model input must be a float tensor quantized by fxp.quantize, or a fixed-point tensor")
            return None
        if len(quants) != 1 or len(uses) != 1:
            raise CudaLoweringError(f"the float input must feed exactly one fxp.quantize; it feeds {', '.join(op_label(u) for u in uses)}")
        return quants[0]

    # -- per-sample model function ----------------------------------------------------------

    def _sample_function(self, codes_in, out_value, in_t, out_t, n_in, n_out) -> cuda.FuncOp:
        fn = cuda.FuncOp(f"{self.prefix}_sample", [cuda.array_type(in_t, [n_in]), cuda.array_type(out_t, [n_out])], 1,
                         "the model on one sample: input codes -> output codes (every layer inlined)")
        fn.block.args[0].name_hint = "x"
        fn.block.args[1].name_hint = "y"
        b = Builder(fn.block)
        env: dict[SSAValue, SSAValue] = {codes_in: fn.block.args[0]}
        for op in self.func.body.block.ops:
            if isinstance(op, dataflow.NodeOp):
                self._node(op, b, env, out_value, fn.block.args[1])
            elif isinstance(op, fxp.ConstantOp):
                self.track(op)
                raise CudaLoweringError(f"{op_label(op)} outside a dataflow node: run fxp-to-dataflow first")
            elif not isinstance(op, fxp.QuantizeOp | ReturnOp):
                raise CudaLoweringError(f"{op_label(op)} outside a dataflow node: run fxp-to-dataflow first")
        result = env.get(out_value)
        if result is None:
            raise CudaLoweringError("the model output is a constant; nothing to compute")
        if result is not fn.block.args[1]:  # the output is an alias (a reshape) or the input itself
            b.comment("the output is an earlier tensor: copy it")
            with b.loop(n_out, unroll_for(n_out, 1, self.opt.unroll_limit)) as i:
                b.store(b.convert(b.load(result, i), out_t), fn.block.args[1], i)
        self.funcs.append(fn)
        return fn

    def _node(self, node: dataflow.NodeOp, b: Builder, env: dict, out_value: SSAValue, y: SSAValue) -> None:
        layer = node.layer.data
        for arg, operand in zip(node.block.args, node.inputs):
            self.ranges[arg] = self.range_of(operand)
            if operand in self.consts:
                self.consts[arg] = self.consts[operand]
        ops = node.compute_ops()
        for op in node.block.ops:
            if isinstance(op, fxp.ConstantOp):
                self.track(op)
        term = node.block.last_op
        outputs = list(node.outputs)
        if all(isinstance(op, fxp.ReshapeOp | fxp.FlattenOp) for op in ops) and len(ops) == 1:
            # a reshape moves nothing: the codes are the same row-major array
            self.track(ops[0])
            env[outputs[0]] = env[node.inputs[0]]
            self.ranges[outputs[0]] = self.ranges[ops[0].results[0]]
            b.comment(f"{layer}: {ops[0].name} (nothing to move)")
            return
        inputs = [v for v in node.inputs]
        params = [cuda.array_type(storage_type(fxp.element_format(v), layer), [int(np.prod(shape_of(v), dtype=np.int64))]) for v in inputs + outputs]
        fn = cuda.FuncOp(self.unique(f"{self.prefix}_{layer}"), params, len(inputs))
        for k, arg in enumerate(fn.block.args):
            arg.name_hint = "x" if k < len(inputs) else "y"
            if len(inputs) > 1 and k < len(inputs):
                arg.name_hint = f"x{k}"
        lb = Builder(fn.block)
        tensors: dict[SSAValue, Tensor] = {}
        for arg, p in zip(node.block.args, fn.block.args):
            tensors[arg] = Tensor(fxp.element_format(arg), self.range_of(arg), shape_of(arg), array=p)
        out_arrays = dict(zip(term.values, fn.block.args[len(inputs):]))
        infos = []
        for op in node.block.ops:
            if isinstance(op, fxp.ConstantOp):
                tensors[op.result] = Tensor(op.format, self.range_of(op.result), shape_of(op.result), codes=op.codes())
                continue
            if isinstance(op, dataflow.YieldOp):
                continue
            self.track(op)
            result = op.results[0]
            fmt = fxp.element_format(result)
            dest = out_arrays.get(result)
            if dest is None:
                dest = lb.add(cuda.AllocaOp(storage_type(fmt, layer), [int(np.prod(shape_of(result), dtype=np.int64))], hint="t")).result
            out = Tensor(fmt, self.range_of(result), shape_of(result), array=dest)
            lowering = OpLowering(self, lb, layer, op, tensors, out)
            infos.append(lowering.run())
            tensors[result] = out
        for value in term.values:  # a node yielding its input or a constant: copy
            if out_arrays[value] is not tensors[value].array:
                src = tensors[value]
                n = src.size
                with lb.loop(n, unroll_for(n, 1, self.opt.unroll_limit)) as i:
                    v = lb.load(self._materialize(src, lb, layer), i)
                    lb.store(lb.convert(v, out_arrays[value].type.get_element_type()), out_arrays[value], i)
        mapping = "; ".join(i[1] for i in infos if i[1])
        mults = sum(i[0] for i in infos)
        types = ", ".join(f"{fxp.element_format(v)} {cuda.c_type(storage_type(fxp.element_format(v), layer))}[{int(np.prod(shape_of(v)))}]" for v in inputs)
        types += " -> " + ", ".join(f"{fxp.element_format(v)} {cuda.c_type(storage_type(fxp.element_format(v), layer))}[{int(np.prod(shape_of(v)))}]" for v in outputs)
        doc = f"layer {layer} ({', '.join(op.name for op in ops)}): {types}"
        fn.properties["doc"] = StringAttr(doc + (f"; {mapping}" if mapping else ""))
        self.layers.append(LayerInfo(layer, ", ".join(op.name for op in ops), mults, mapping or "elementwise", types))
        self.funcs.append(fn)
        for res, val in zip(outputs, term.values):
            self.ranges[res] = self.range_of(val)
        # the model function: allocate the node's outputs and call it
        actual_outs = []
        for res in outputs:
            if res is out_value:
                actual_outs.append(y)
            else:
                n = int(np.prod(shape_of(res), dtype=np.int64))
                actual_outs.append(b.add(cuda.AllocaOp(storage_type(fxp.element_format(res), layer), [n], hint=identifier(layer))).result)
            env[res] = actual_outs[-1]
        b.add(cuda.CallOp(fn.sym_name.data, [env[v] for v in inputs] + actual_outs))

    def _materialize(self, t: Tensor, b: Builder, layer: str) -> SSAValue:
        if t.array is not None:
            return t.array
        return b.add(cuda.GetGlobalOp(self.global_array(t.codes, f"{layer}_const", f"constant of {layer}"))).result

    # -- boundary functions ---------------------------------------------------------------

    def _quantize_function(self, quant: fxp.QuantizeOp | None, codes_in: SSAValue, in_t, n: int) -> cuda.FuncOp:
        fmt = fxp.element_format(codes_in)
        if fmt.width > cuda.QuantizeOp.MAX_WIDTH:
            raise CudaLoweringError(f"{op_label(quant) if quant else 'the model input'}: quantizing floats to {fmt} (wider than 52 bits) is not supported")
        ftype = F32
        scale = offset = steps = None
        if quant is not None:
            elem = quant.input.type.get_element_type()
            ftype = Float64Type() if isinstance(elem, Float64Type) else F32
            scale = quant.scale.value.data if quant.scale is not None else None
            offset = quant.offset.value.data if quant.offset is not None else None
            steps = quant.steps
            if ftype == F32:  # the affine part happens in float32: round its constants like the emulator
                scale = float(np.float32(scale)) if scale is not None else None
                offset = float(np.float32(offset)) if offset is not None else None
        fn = cuda.FuncOp(f"{self.prefix}_quantize", [cuda.array_type(F32, [n]), cuda.array_type(in_t, [n])], 1,
                         f"fxp.quantize: float -> {fmt} codes" + (f" of x * {scale}" if scale is not None else "") + (f" + {offset}" if offset is not None else "") + (f" after {describe(quant.step_list())}" if steps is not None else ""))
        fn.block.args[0].name_hint = "x"
        fn.block.args[1].name_hint = "q"
        b = Builder(fn.block)
        # per-element step constants (per-channel normalization): float32 bit patterns in globals
        arrays = []
        if quant is not None:
            shape = fxp.shape_of(quant.input)
            for k, step in enumerate(quant.step_list()):
                for c in step[1:]:
                    if isinstance(c, np.ndarray):
                        bits = np.broadcast_to(c.astype(np.float32), shape).reshape(-1).view(np.int32).astype(np.int64)
                        arrays.append(b.add(cuda.GetGlobalOp(self.global_array(bits, f"quantize_step{k}", f"fxp.quantize step {k} ({step[0]}): float32 bits per element", elem=SI32))).result)
        with b.loop(n, unroll_for(n, 1, BOUNDARY_UNROLL)) as i:
            consts = [b.load(a, i) for a in arrays]
            v = b.add(cuda.QuantizeOp(b.load(fn.block.args[0], i), in_t, ftype, fmt, scale, offset, steps, consts)).result
            b.store(v, fn.block.args[1], i)
        return fn

    def _dequantize_function(self, fmt: FixedFormat, out_t, n: int) -> cuda.FuncOp:
        fn = cuda.FuncOp(f"{self.prefix}_dequantize", [cuda.array_type(out_t, [n]), cuda.array_type(F32, [n])], 1,
                         f"float values of {fmt} codes")
        fn.block.args[0].name_hint = "c"
        fn.block.args[1].name_hint = "y"
        b = Builder(fn.block)
        with b.loop(n, unroll_for(n, 1, BOUNDARY_UNROLL)) as i:
            b.store(b.add(cuda.DequantizeOp(b.load(fn.block.args[0], i), fmt.frac)).result, fn.block.args[1], i)
        return fn

    def _chain(self, name: str, tin, tout, n_in: int, n_out: int, steps, doc: str) -> cuda.FuncOp:
        """A function calling ``steps`` in turn through local arrays (the last writes the output)."""
        fn = cuda.FuncOp(name, [cuda.array_type(tin, [n_in]), cuda.array_type(tout, [n_out])], 1, doc)
        fn.block.args[0].name_hint = "x"
        fn.block.args[1].name_hint = "y"
        b = Builder(fn.block)
        current = fn.block.args[0]
        for k, (callee, t, n) in enumerate(steps):
            if k == len(steps) - 1:
                b.add(cuda.CallOp(callee.sym_name.data, [current, fn.block.args[1]]))
            else:
                nxt = b.add(cuda.AllocaOp(t, [n], hint="codes" if k == 0 else "out")).result
                b.add(cuda.CallOp(callee.sym_name.data, [current, nxt]))
                current = nxt
        return fn

    # -- kernels ---------------------------------------------------------------------------

    def _kernel(self, name: str, sample: cuda.FuncOp, tin, tout, n_in: int, n_out: int) -> cuda.KernelOp:
        block = self.opt.block_size
        k = cuda.KernelOp(name, [cuda.array_type(tin, [cuda.DYNAMIC], "global"), cuda.array_type(tout, [cuda.DYNAMIC], "global"), SI64], block,
                          f"one sample a thread, {block} a block; grid-stride over tiles of {block} samples")
        x, y, n = k.block.args
        x.name_hint, y.name_hint, n.name_hint = "x", "y", "n"
        b = Builder(k.block)
        in_stride, out_stride = padded_stride(n_in, tin), padded_stride(n_out, tout)
        in_bytes = block * in_stride * byte_size(tin)
        out_bytes = block * out_stride * byte_size(tout)
        stage_in = in_bytes <= STAGE_BUDGET
        stage_out = out_bytes <= STAGE_BUDGET - (in_bytes if stage_in else 0)
        xs = b.add(cuda.SharedAllocOp(tin, block * in_stride, "xs")).result if stage_in else None
        ys = b.add(cuda.SharedAllocOp(tout, block * out_stride, "ys")).result if stage_out else None
        loop = b.add(cuda.TileLoopOp(n, block))
        tb = Builder(loop.body.block)
        if stage_in:
            tb.comment("stage the tile's inputs: consecutive threads read consecutive elements")
            tb.add(cuda.TileLoadOp(x, xs, loop.base, loop.active, n_in, in_stride))
            tb.add(cuda.BarrierOp())
        else:
            tb.comment(f"inputs are read in place ({n_in} elements a sample are too many to stage)")
        ts = tb.add(cuda.ThreadSampleOp(loop.active))
        sb = Builder(ts.body.block)
        t = ts.thread
        sample_index = None

        def global_slice(arr, elems):
            nonlocal sample_index
            if sample_index is None:
                sample_index = sb.add(cuda.AddOp(loop.base, sb.convert(t, SI64))).result
            off = sb.add(cuda.MulOp(sample_index, sb.const(elems, SI64))).result
            return sb.add(cuda.OffsetOp(arr, off)).result

        xin = sb.add(cuda.OffsetOp(xs, sb.imul(t, in_stride))).result if stage_in else global_slice(x, n_in)
        yout = sb.add(cuda.OffsetOp(ys, sb.imul(t, out_stride))).result if stage_out else global_slice(y, n_out)
        sb.add(cuda.CallOp(sample.sym_name.data, [xin, yout]))
        tb.add(cuda.BarrierOp())
        if stage_out:
            tb.comment("write the tile's outputs back, coalesced")
            tb.add(cuda.TileStoreOp(y, ys, loop.base, loop.active, n_out, out_stride))
        return k


ENTRY_NAMES = {
    "float": "fmlc_{}_infer",
    "codes": "fmlc_{}_infer_codes",
    "raw": "fmlc_{}_infer_raw",
    "quantize": "fmlc_{}_quantize",
}
ENTRY_DOCS = {
    "quantize": "float inputs -> input codes, exactly as fxp.quantize says (what the raw entry takes)",
    "float": "float inputs, quantized on the device exactly as fxp.quantize says; float values of the output codes",
    "codes": "float inputs, quantized on the device; integer output codes",
    "raw": "integer input codes (after fxp.quantize); integer output codes",
}


def byte_size(t: Attribute) -> int:
    return 4 if isinstance(t, Float32Type) else t.width.data // 8


def padded_stride(n: int, t: Attribute) -> int:
    """Elements between two samples in shared memory: an odd number of 4-byte words when the
    element size allows, so that the threads of a warp (reading sample t each) hit distinct banks."""
    size = byte_size(t)
    stride = n
    if size <= 4:
        while (stride * size) % 4 or (stride * size // 4) % 2 == 0:
            stride += 1
    return stride


# ============================================================================================
# One fxp op -> per-thread code
# ============================================================================================


class OpLowering:
    """Writes the code of one fxp op into a layer function (``out`` is its result array)."""

    def __init__(self, model: ModelLowering, b: Builder, layer: str, op: Operation, tensors: dict, out: Tensor):
        self.m = model
        self.b = b
        self.layer = layer
        self.op = op
        self.tensors = tensors
        self.out = out
        self.limit = model.opt.unroll_limit

    def what(self) -> str:
        return f"layer '{self.layer}' ({op_label(self.op)})"

    def t(self, v: SSAValue) -> Tensor:
        return self.tensors[v]

    def array(self, t: Tensor, name: str, space: str = "constant") -> SSAValue:
        """The array of a tensor (constants become a cuda.global)."""
        if t.array is not None:
            return t.array
        return self.b.add(cuda.GetGlobalOp(self.m.global_array(t.codes, f"{self.layer}_{name}", f"{name} of {self.layer}: {t.fmt}", space))).result

    def const_array(self, codes: np.ndarray, name: str, doc: str, space: str = "constant", elem: IntegerType | None = None) -> SSAValue:
        return self.b.add(cuda.GetGlobalOp(self.m.global_array(codes, f"{self.layer}_{name}", doc, space, elem))).result

    def run(self) -> tuple[int, str]:
        handler = getattr(self, "lower_" + self.op.name.split(".")[1], None)
        if handler is None:
            raise CudaLoweringError(f"{self.what()}: the CUDA target has no lowering for {self.op.name}")
        result = handler()
        return result if result is not None else (0, "")

    # -- loading and casting ---------------------------------------------------------------

    def load_as(self, array: SSAValue, index, t: Attribute) -> SSAValue:
        return self.b.convert(self.b.load(array, index), t)

    def cast(self, v: SSAValue, iv: Interval, dst: FixedFormat) -> SSAValue:
        """``fixed.cast`` of exact values ``v`` (within ``iv``, at ``iv.frac``) to ``dst``; returns storage-typed codes."""
        b = self.b
        lo, hi = iv.lo, iv.hi
        shift = iv.frac - dst.frac
        if shift > 0:
            if shift > 62:
                raise CudaLoweringError(f"{self.what()}: casting drops {shift} fraction bits (more than 62)")
            t = work_type(lo - (1 << shift), hi + (1 << shift), self.what())
            v = b.convert(v, t)
            if dst.rounding == "TRN":
                v = b.add(cuda.ShrOp(v, shift)).result
            else:
                v = b.add(cuda.RoundShiftOp(v, shift, dst.rounding)).result
            lo, hi = round_code(lo, shift, dst.rounding), round_code(hi, shift, dst.rounding)
        elif shift < 0:
            lo, hi = lo << -shift, hi << -shift
            t = work_type(lo, hi, self.what())
            v = b.binary(cuda.MulOp, b.convert(v, t), b.const(1 << -shift, t))
        v = self.overflow(v, lo, hi, dst)
        return b.convert(v, storage_type(dst, self.what()))

    def overflow(self, v: SSAValue, lo: int, hi: int, dst: FixedFormat) -> SSAValue:
        b = self.b
        if dst.min_code <= lo and hi <= dst.max_code:
            return v  # nothing can overflow
        t = v.type
        if dst.overflow == "WRAP":
            # the wrapped code must be representable in a signed work type with room for the sign
            need = work_type(min(lo, dst.min_code), max(hi, dst.max_code + (0 if dst.signed else 1)), self.what())
            if cuda.int_range(need)[1] > cuda.int_range(t)[1]:
                v = b.convert(v, need)
            if not dst.signed and dst.width >= v.type.width.data:
                raise CudaLoweringError(f"{self.what()}: wrapping to {dst} needs more than 64 bits")
            return b.add(cuda.WrapOp(v, dst.width, dst.signed)).result
        lo_c, hi_c = dst.min_code, dst.max_code
        if dst.overflow == "SAT_SYM" and dst.signed and dst.width > 1:
            lo_c = -hi_c
        tlo, thi = cuda.int_range(t)
        lo_c, hi_c = max(lo_c, tlo), min(hi_c, thi)  # bounds outside the type's range never bite
        if dst.overflow == "SAT_ZERO":
            return b.add(cuda.ZeroOutsideOp(v, max(dst.min_code, tlo), min(dst.max_code, thi))).result
        return b.add(cuda.ClampOp(v, lo_c, hi_c)).result

    def store_cast(self, v: SSAValue, iv: Interval, index) -> None:
        self.b.store(self.cast(v, iv, self.out.fmt), self.out.array, index)

    # -- linear layers -----------------------------------------------------------------------

    def _linear_setup(self, w2d: np.ndarray):
        """Shared by dense and conv: (weights scaled to the accumulator's grid, bias codes in acc,
        per-product rounding?, the accumulator format)."""
        op = self.op
        if not isinstance(op.acc, fxp.FixedType):
            raise CudaLoweringError(f"{self.what()}: unresolved !fxp.auto accumulator; run precision inference first")
        fx, fw, fa = self.t(op.input).fmt, self.t(op.weight).fmt, op.acc.format
        fp = fx.frac + fw.frac
        per_product = fa.frac < fp
        bias = None
        if op.bias is not None:
            bt = self.t(op.bias)
            if bt.codes is None:
                raise CudaLoweringError(f"{self.what()}: the bias must be a constant")
            bias = fixed.to_kind(fixed.cast(fixed.to_kind(bt.codes, "object"), bt.fmt.frac, fa), "object")
            bias = np.array([int(v) for v in np.asarray(bias).ravel()], dtype=object)
        w = np.asarray(w2d).astype(object)
        if not per_product:
            w = w * (1 << (fa.frac - fp))  # exact: the sum lands on the accumulator's grid
        return w, bias, per_product, fa, fp

    def _acc_bound(self, w: np.ndarray, x: Interval, bias, per_product: bool, fa: FixedFormat) -> tuple[int, int]:
        """Bounds of every partial sum (the accumulator's C type must hold them all)."""
        if per_product:
            terms = w.shape[0] * max(-fa.min_code, fa.max_code)
            lo, hi = -terms, terms
        else:
            a, c = w * x.lo, w * x.hi
            lo = int(np.minimum(np.minimum(a, c), 0).sum(axis=0).min()) if w.size else 0
            hi = int(np.maximum(np.maximum(a, c), 0).sum(axis=0).max()) if w.size else 0
        if bias is not None and bias.size:
            lo += min(0, int(min(bias)))
            hi += max(0, int(max(bias)))
        return lo, hi

    def _finish_acc(self, acc: SSAValue, lo: int, hi: int, fa: FixedFormat, index) -> None:
        """The accumulator wraps in ``fa`` (when it can leave it), then the result cast."""
        if lo < fa.min_code or hi > fa.max_code:
            acc = self.overflow(acc, lo, hi, fa.with_modes(overflow="WRAP"))
            lo, hi = fa.min_code, fa.max_code
        self.store_cast(acc, Interval(lo, hi, fa.frac), index)

    def _term(self, xv: SSAValue, wv: SSAValue, t: Attribute, per_product: bool, fp: int, fa: FixedFormat, prod_iv: tuple[int, int]) -> SSAValue:
        """One product x * w in the accumulator's type (rounded to it first when acc is coarser)."""
        b = self.b
        if not per_product:
            return b.binary(cuda.MulOp, b.convert(xv, t), b.convert(wv, t))
        pt = work_type(prod_iv[0] - (1 << (fp - fa.frac)), prod_iv[1] + (1 << (fp - fa.frac)), self.what())
        p = b.binary(cuda.MulOp, b.convert(xv, pt), b.convert(wv, pt))
        shift = fp - fa.frac
        p = b.add(cuda.ShrOp(p, shift)).result if fa.rounding == "TRN" else b.add(cuda.RoundShiftOp(p, shift, fa.rounding)).result
        lo, hi = round_code(prod_iv[0], shift, fa.rounding), round_code(prod_iv[1], shift, fa.rounding)
        p = self.overflow(p, lo, hi, fa.with_modes(overflow="WRAP"))
        return b.convert(p, t)

    def lower_dense(self):
        op = self.op
        x, wt = self.t(op.input), self.t(op.weight)
        if wt.codes is None:
            raise CudaLoweringError(f"{self.what()}: the weights must be constants")
        k, m = wt.codes.shape
        positions = x.size // k
        w, bias, per_product, fa, fp = self._linear_setup(wt.codes)
        lo, hi = self._acc_bound(w, x.iv, bias, per_product, fa)
        t = work_type(lo, hi, self.what())
        b = self.b
        use_dp4a = self.m.opt.dp4a and not per_product and t == SI32 and k >= 4 and _fits_byte(x.fmt) and _byte_signedness(w) is not None
        total_lo, total_hi = lo, hi
        bias_arr = self.const_array(np.array(bias), "bias", f"bias of {self.layer} on the accumulator grid ({fa})") if bias is not None else None
        mults = k * m * positions
        if use_dp4a:
            return self._dense_dp4a(x, w, bias_arr, k, m, positions, fa, total_lo, total_hi, mults)
        w_arr = self.const_array(np.array(w), "w", f"weights of {self.layer} [{k}][{m}], {wt.fmt}" + (f" scaled by 2^{fa.frac - fp}" if not per_product and fa.frac != fp else ""))
        prod_lo = min(int(min(w.ravel(), default=0)) * x.iv.lo, int(min(w.ravel(), default=0)) * x.iv.hi, int(max(w.ravel(), default=0)) * x.iv.lo, int(max(w.ravel(), default=0)) * x.iv.hi)
        prod_hi = max(int(min(w.ravel(), default=0)) * x.iv.lo, int(min(w.ravel(), default=0)) * x.iv.hi, int(max(w.ravel(), default=0)) * x.iv.lo, int(max(w.ravel(), default=0)) * x.iv.hi)
        b.comment(f"{self.layer}: y[m] = cast<{self.out.fmt}>(b[m] + sum_k x[k] * w[k][m]), exact in {cuda.c_type(t)}")
        with b.loop(positions, unroll_for(positions, k * m, self.limit), "p") as p:
            with b.loop(m, unroll_for(m, k, self.limit), "m") as mi:
                acc = b.var(t, self.load_as(bias_arr, mi, t) if bias_arr is not None else b.const(0, t), "acc")
                with b.loop(k, unroll_for(k, 1, self.limit), "k") as ki:
                    xv = b.load(x.array, b.linear([(p, k), (ki, 1)]))
                    wv = b.load(w_arr, b.linear([(ki, m), (mi, 1)]))
                    b.store(b.binary(cuda.AddOp, b.load(acc), self._term(xv, wv, t, per_product, fp, fa, (prod_lo, prod_hi))), acc)
                self._finish_acc(b.load(acc), total_lo, total_hi, fa, b.linear([(p, m), (mi, 1)]))
        return mults, f"scalar {cuda.c_type(t)} multiply-add, weights in {self._space(w_arr)} memory"

    def _space(self, arr: SSAValue) -> str:
        return cuda.space_of(arr.type) or "local"

    def _dense_dp4a(self, x: Tensor, w: np.ndarray, bias_arr, k: int, m: int, positions: int, fa, lo, hi, mults):
        b = self.b
        kw = (k + 3) // 4
        w_signed = _byte_signedness(w)
        x_signed = x.fmt.signed
        # weights packed 4 along k: word [m][j] holds w[4j .. 4j+3][m], low byte first
        padded = np.zeros((m, kw * 4), dtype=np.int64)
        padded[:, :k] = np.array(w, dtype=np.int64).T
        words = padded.astype(np.int8 if w_signed else np.uint8).view(np.int32).reshape(m, kw)
        wp = self.const_array(words, "w4", f"weights of {self.layer}, 4 int8 a word along k: [{m}][{kw}]", elem=SI32)  # cuda.dp4a takes si32 words
        b.comment(f"{self.layer}: y[m] = cast<{self.out.fmt}>(b[m] + sum_k x[k] * w[k][m]) with __dp4a (exact int8 products, int32 sums)")
        byte_t = cuda.int_type(8, x_signed)
        with b.loop(positions, unroll_for(positions, kw * m, self.limit), "p") as p:
            xp = b.add(cuda.AllocaOp(SI32, [kw], hint="x4")).result
            full = k // 4
            with b.loop(full, unroll_for(full, 1, self.limit), "j") as j:
                parts = [b.convert(b.load(x.array, b.linear([(p, k), (j, 4)], q)), byte_t) for q in range(4)]
                b.store(b.add(cuda.Pack4Op(parts)).result, xp, j)
            if k % 4:  # the last word is partial: zeros beyond k
                parts = [
                    b.convert(b.load(x.array, b.linear([(p, k)], 4 * full + q)), byte_t) if 4 * full + q < k else b.const(0, byte_t)
                    for q in range(4)
                ]
                b.store(b.add(cuda.Pack4Op(parts)).result, xp, full)
            with b.loop(m, unroll_for(m, kw, self.limit), "m") as mi:
                acc = b.var(SI32, self.load_as(bias_arr, mi, SI32) if bias_arr is not None else b.const(0, SI32), "acc")
                with b.loop(kw, unroll_for(kw, 1, self.limit), "j") as j:
                    wv = b.load(wp, b.linear([(mi, kw), (j, 1)]))
                    b.store(b.add(cuda.Dp4aOp(b.load(xp, j), wv, b.load(acc), x_signed, w_signed)).result, acc)
                self._finish_acc(b.load(acc), lo, hi, fa, b.linear([(p, m), (mi, 1)]))
        return mults, f"__dp4a ({'s' if x_signed else 'u'}8 x {'s' if w_signed else 'u'}8 -> s32), weights in {self._space(wp)} memory"

    def lower_conv(self):
        op = self.op
        x, wt = self.t(op.input), self.t(op.weight)
        if wt.codes is None:
            raise CudaLoweringError(f"{self.what()}: the weights must be constants")
        kernel, strides, dilations, padding, groups = op.window()
        nsp = len(kernel)
        in_sp, cin = x.shape[:-1], x.shape[-1]
        out_sp, f = self.out.shape[:-1], self.out.shape[-1]
        cg, fg = cin // groups, f // groups
        taps = int(np.prod(kernel))
        w, bias, per_product, fa, fp = self._linear_setup(wt.codes.reshape(-1, f))
        # every filter's partial sums: the window's taps (padding adds zero terms)
        lo, hi = self._acc_bound(w, x.iv, bias, per_product, fa)
        t = work_type(lo, hi, self.what())
        b = self.b
        bias_arr = self.const_array(np.array(bias), "bias", f"bias of {self.layer} on the accumulator grid ({fa})") if bias is not None else None
        w_arr = self.const_array(np.array(w), "w", f"weights of {self.layer} [{']['.join(map(str, wt.shape))}], {wt.fmt}")
        wlist = [int(v) for v in w.ravel()] or [0]
        ends = [min(wlist) * x.iv.lo, min(wlist) * x.iv.hi, max(wlist) * x.iv.lo, max(wlist) * x.iv.hi]
        prod_iv = (min(ends), max(ends))
        positions = int(np.prod(out_sp))
        inner = taps * cg
        b.comment(f"{self.layer}: {nsp}-D convolution, {groups} group(s); y[o][f] = cast<{self.out.fmt}>(b[f] + sum x[window] * w[tap][c][f]), exact in {cuda.c_type(t)}")
        with self._nest(out_sp, inner * f, "o") as o:
            with b.loop(f, unroll_for(f, inner, self.limit), "f") as fi:
                acc = b.var(t, self.load_as(bias_arr, fi, t) if bias_arr is not None else b.const(0, t), "acc")
                cbase = b.imul(b.idiv(fi, fg), cg) if groups > 1 else 0
                with self._window(o, kernel, strides, dilations, padding, in_sp, cg) as (pos, tap):
                    with b.loop(cg, unroll_for(cg, 1, self.limit), "c") as c:
                        xv = b.load(x.array, b.iadd(b.linear([(pos, cin), (c, 1)]), cbase))
                        wv = b.load(w_arr, b.linear([(tap, cg * f), (c, f), (fi, 1)]))
                        b.store(b.binary(cuda.AddOp, b.load(acc), self._term(xv, wv, t, per_product, fp, fa, prod_iv)), acc)
                self._finish_acc(b.load(acc), lo, hi, fa, b.linear([(self._flat(o, out_sp), f), (fi, 1)]))
        return taps * cg * f * positions, f"scalar {cuda.c_type(t)} multiply-add over {taps} taps x {cg} channels, weights in {self._space(w_arr)} memory"

    @contextmanager
    def _nest(self, dims: Sequence[int], inner: int, hint: str):
        """Loops over a multi-dimensional index (outermost first); yields the index list."""
        b = self.b
        idx: list = []
        sizes = list(dims)

        def rec(d: int, inner_total: int):
            if d == len(sizes):
                yield list(idx)
                return
            rest = int(np.prod(sizes[d + 1 :])) * inner
            with b.loop(sizes[d], unroll_for(sizes[d], rest, self.limit), f"{hint}{d}") as i:
                idx.append(i)
                yield from rec(d + 1, rest)
                idx.pop()

        gen = rec(0, inner)
        value = next(gen)
        try:
            yield value
        finally:
            for _ in gen:
                raise AssertionError("one iteration")

    def _flat(self, idx: Sequence, dims: Sequence[int]) -> SSAValue | int:
        terms, stride = [], 1
        for i, d in reversed(list(zip(idx, dims))):
            terms.append((i, stride))
            stride *= d
        return self.b.linear(list(reversed(terms)))

    @contextmanager
    def _window(self, o, kernel, strides, dilations, padding, in_sp, inner: int):
        """Loops over a window's taps; yields (flat input position, flat tap); padded taps are skipped."""
        b = self.b
        n = len(kernel)
        with self._nest(kernel, inner, "k") as taps:
            coords, conds = [], []
            for d in range(n):
                c = b.linear([(o[d], strides[d]), (taps[d], dilations[d])], -padding[d])
                if isinstance(c, SSAValue):
                    c.name_hint = f"in{d}"
                coords.append(c)
                # does any (position, tap) pair fall outside? then this axis needs a bounds check
                outside = any(
                    not 0 <= oo * strides[d] + tt * dilations[d] - padding[d] < in_sp[d]
                    for oo in range(self.out.shape[d] if isinstance(o[d], SSAValue) else 1)
                    for tt in range(kernel[d])
                ) if not isinstance(c, int) else not 0 <= c < in_sp[d]
                if isinstance(c, int):
                    if outside:
                        conds.append(None)  # statically outside: skip the tap
                    continue
                if outside:
                    conds.append(b.add(cuda.AndOp(b.cmp("ge", c, b.const(0)), b.cmp("lt", c, b.const(in_sp[d])))).result)
            if any(cnd is None for cnd in conds):
                yield_body = False
            else:
                yield_body = True
            cond = None
            for cnd in conds:
                cond = cnd if cond is None else b.add(cuda.AndOp(cond, cnd)).result
            pos = self._flat(coords, in_sp)
            tap = self._flat(taps, kernel)
            if yield_body:
                with b.when(cond):
                    yield pos, tap
            else:
                # this tap lies in the padding for the only output position: nothing to add.
                # The caller's body is built into a scratch block and thrown away.
                outer, scratch = b.block, Block()
                b.block = scratch
                try:
                    yield 0, 0
                finally:
                    b.block = outer
                    for dead in reversed(list(scratch.ops)):
                        dead.erase(safe_erase=False)

    # -- elementwise ---------------------------------------------------------------------

    def operand_index(self, i, src_shape: Sequence[int]):
        """Flat index into a broadcast operand for flat output index ``i``."""
        out_shape = self.out.shape
        src = (1,) * (len(out_shape) - len(src_shape)) + tuple(src_shape)
        if src == tuple(out_shape):
            return i
        b = self.b
        terms, in_stride = [], 1
        strides_out = [int(np.prod(out_shape[d + 1 :])) for d in range(len(out_shape))]
        src_strides = [int(np.prod(src[d + 1 :])) for d in range(len(src))]
        for d in range(len(out_shape)):
            if src[d] == 1:
                continue
            coord = b.irem(b.idiv(i, strides_out[d]), out_shape[d])
            terms.append((coord, src_strides[d]))
        return b.linear(terms)

    def elementwise(self, body, inner_cost: int = 1) -> None:
        """``for i: y[i] = body(i)``; body returns (exact value, its interval)."""
        n = self.out.size
        with self.b.loop(n, unroll_for(n, inner_cost, self.limit), "i") as i:
            v, iv = body(i)
            self.store_cast(v, iv, i)

    def lower_cast(self):
        x = self.t(self.op.input)
        self.b.comment(f"{self.layer}: cast {x.fmt} -> {self.out.fmt}")
        self.elementwise(lambda i: (self.b.load(self.array(x, "x"), i), x.iv))

    def lower_relu(self):
        x = self.t(self.op.input)
        b = self.b
        self.b.comment(f"{self.layer}: y = cast<{self.out.fmt}>(max(x, 0))")
        t = work_type(min(x.iv.lo, 0), max(x.iv.hi, 0), self.what())
        arr = self.array(x, "x")
        self.elementwise(lambda i: (b.binary(cuda.MaxOp, self.load_as(arr, i, t), b.const(0, t)), Interval(max(x.iv.lo, 0), max(x.iv.hi, 0), x.iv.frac)))

    def _aligned(self, a: Tensor, c: Tensor):
        frac = max(a.fmt.frac, c.fmt.frac)
        return frac, frac - a.fmt.frac, frac - c.fmt.frac

    def _binary(self, cls, combine_iv, sym: str):
        op = self.op
        a, c = self.t(op.lhs), self.t(op.rhs)
        frac, sa, sc = self._aligned(a, c)
        ia, ic = a.iv.at(frac), c.iv.at(frac)
        iv = combine_iv(ia, ic)
        t = work_type(min(ia.lo, ic.lo, iv.lo), max(ia.hi, ic.hi, iv.hi), self.what())
        b = self.b
        arr_a, arr_c = self.array(a, "lhs"), self.array(c, "rhs")
        b.comment(f"{self.layer}: y = cast<{self.out.fmt}>({sym}) on the common grid 2^-{frac}")

        def body(i):
            va = self._scaled(self.load_as(arr_a, self.operand_index(i, a.shape), t), sa)
            vc = self._scaled(self.load_as(arr_c, self.operand_index(i, c.shape), t), sc)
            return b.binary(cls, va, vc), Interval(iv.lo, iv.hi, frac)

        self.elementwise(body)

    def _scaled(self, v: SSAValue, shift: int) -> SSAValue:
        return v if shift == 0 else self.b.binary(cuda.MulOp, v, self.b.const(1 << shift, v.type))

    def lower_add(self):
        self._binary(cuda.AddOp, lambda a, c: Interval(a.lo + c.lo, a.hi + c.hi, a.frac), "lhs + rhs")

    def lower_sub(self):
        self._binary(cuda.SubOp, lambda a, c: Interval(a.lo - c.hi, a.hi - c.lo, a.frac), "lhs - rhs")

    def lower_maximum(self):
        self._binary(cuda.MaxOp, lambda a, c: Interval(max(a.lo, c.lo), max(a.hi, c.hi), a.frac), "max(lhs, rhs)")

    def lower_minimum(self):
        self._binary(cuda.MinOp, lambda a, c: Interval(min(a.lo, c.lo), min(a.hi, c.hi), a.frac), "min(lhs, rhs)")

    def lower_mul(self):
        op = self.op
        a, c = self.t(op.lhs), self.t(op.rhs)
        ends = [a.iv.lo * c.iv.lo, a.iv.lo * c.iv.hi, a.iv.hi * c.iv.lo, a.iv.hi * c.iv.hi]
        iv = Interval(min(ends), max(ends), a.fmt.frac + c.fmt.frac)
        t = work_type(min(iv.lo, a.iv.lo, c.iv.lo), max(iv.hi, a.iv.hi, c.iv.hi), self.what())
        b = self.b
        arr_a, arr_c = self.array(a, "lhs"), self.array(c, "rhs")
        b.comment(f"{self.layer}: y = cast<{self.out.fmt}>(lhs * rhs)")
        self.elementwise(lambda i: (b.binary(cuda.MulOp, self.load_as(arr_a, self.operand_index(i, a.shape), t), self.load_as(arr_c, self.operand_index(i, c.shape), t)), iv))
        return self.out.size, ""

    def lower_leaky_relu(self):
        op = self.op
        x, al = self.t(op.input), self.t(op.alpha)
        up_x, up_p = max(al.fmt.frac, 0), max(-al.fmt.frac, 0)
        frac = x.fmt.frac + up_x
        ends = [x.iv.lo * al.iv.lo, x.iv.lo * al.iv.hi, x.iv.hi * al.iv.lo, x.iv.hi * al.iv.hi]
        lo = min(min(ends) << up_p, x.iv.lo << up_x, 0)
        hi = max(max(ends) << up_p, x.iv.hi << up_x, 0)
        t = work_type(min(lo, x.iv.lo), max(hi, x.iv.hi), self.what())
        b = self.b
        xa, aa = self.array(x, "x"), self.array(al, "alpha")
        b.comment(f"{self.layer}: y = cast<{self.out.fmt}>(x >= 0 ? x : alpha * x)")

        def body(i):
            xv = self.load_as(xa, i, t)
            neg = self._scaled(b.binary(cuda.MulOp, xv, self.load_as(aa, self.operand_index(i, al.shape), t)), up_p)
            return b.select(b.cmp("ge", xv, b.const(0, t)), self._scaled(xv, up_x), neg), Interval(lo, hi, frac)

        self.elementwise(body)
        return self.out.size, ""

    def lower_thresholded_relu(self):
        x = self.t(self.op.input)
        limit = int(np.floor(Fraction(self.op.alpha.value.data) * Fraction(2) ** x.fmt.frac))
        limit = max(min(limit, x.iv.hi), x.iv.lo - 1)  # outside the input's range the test is constant
        t = work_type(min(x.iv.lo, limit, 0), max(x.iv.hi, limit, 0), self.what())
        b = self.b
        arr = self.array(x, "x")
        b.comment(f"{self.layer}: y = cast<{self.out.fmt}>(x > alpha ? x : 0), alpha = {self.op.alpha.value.data} (code {limit})")

        def body(i):
            xv = self.load_as(arr, i, t)
            return b.select(b.cmp("gt", xv, b.const(limit, t)), xv, b.const(0, t)), x.iv.with_zero()

        self.elementwise(body)

    def lower_table(self):
        x = self.t(self.op.input)
        codes = self.op.codes()
        table = self.const_array(codes, "table", f"{self.op.function.data if self.op.function else 'table'} of {self.layer}: {self.out.fmt} codes indexed by {x.fmt} code - {x.fmt.min_code}", "global")
        b = self.b
        arr = self.array(x, "x")
        b.comment(f"{self.layer}: y = table[x - ({x.fmt.min_code})] (no cast: entries are {self.out.fmt} codes)")
        n = self.out.size
        with b.loop(n, unroll_for(n, 1, self.limit), "i") as i:
            xv = b.convert(b.load(arr, i), INDEX)
            idx = b.binary(cuda.SubOp, xv, b.const(x.fmt.min_code)) if x.fmt.min_code else xv
            b.store(b.convert(b.load(table, idx), self.out.array.type.get_element_type()), self.out.array, i)

    def lower_batchnorm(self):
        op = self.op
        x, s, sh = self.t(op.input), self.t(op.scale), self.t(op.shift)
        if s.codes is None or sh.codes is None:
            raise CudaLoweringError(f"{self.what()}: scale and shift must be constants")
        frac = max(x.fmt.frac + s.fmt.frac, sh.fmt.frac)
        up_p, up_s = frac - x.fmt.frac - s.fmt.frac, frac - sh.fmt.frac
        sc = s.codes.astype(object) * (1 << up_p)
        tc = sh.codes.astype(object) * (1 << up_s)
        a, c = sc * x.iv.lo, sc * x.iv.hi
        lo = int((np.minimum(a, c) + tc).min())
        hi = int((np.maximum(a, c) + tc).max())
        plo = int(np.minimum(a, c).min())
        phi = int(np.maximum(a, c).max())
        t = work_type(min(lo, plo, x.iv.lo, int(tc.min())), max(hi, phi, x.iv.hi, int(tc.max())), self.what())
        b = self.b
        xa = self.array(x, "x")
        sa = self.const_array(sc, "scale", f"batchnorm scale of {self.layer} on the grid 2^-{frac - x.fmt.frac}")
        ta = self.const_array(tc, "shift", f"batchnorm shift of {self.layer} on the grid 2^-{frac}")
        b.comment(f"{self.layer}: y = cast<{self.out.fmt}>(x * scale[c] + shift[c])")
        ch = x.shape[-1]

        def body(i):
            c_i = b.irem(i, ch)
            v = b.binary(cuda.MulOp, self.load_as(xa, i, t), self.load_as(sa, c_i, t))
            return b.binary(cuda.AddOp, v, self.load_as(ta, c_i, t)), Interval(lo, hi, frac)

        self.elementwise(body)
        return self.out.size, ""

    def lower_multithreshold(self):
        op = self.op
        x, th = self.t(op.input), self.t(op.thresholds)
        if th.codes is None:
            raise CudaLoweringError(f"{self.what()}: the thresholds must be constants")
        frac = max(x.fmt.frac, th.fmt.frac)
        thr = np.sort(th.codes.astype(object) * (1 << (frac - th.fmt.frac)), axis=1)
        rows, steps = thr.shape
        xs = frac - x.fmt.frac
        xlo, xhi = x.iv.lo << xs, x.iv.hi << xs
        # a threshold beyond the input's range is always / never reached: clamp it into the type
        thr = np.clip(thr, xlo - 1, xhi + 1)
        t = work_type(min(xlo - 1, int(thr.min())), max(xhi + 1, int(thr.max())), self.what())
        sc, scf = fixed.code_of_float_exact(op.out_scale.value.data)
        bi, bif = fixed.code_of_float_exact(op.out_bias.value.data)
        of = max(scf, bif)
        sc, bi = sc << (of - scf), bi << (of - bif)
        ends = [bi, bi + sc * steps]
        ot = work_type(min(ends + [0, -steps]), max(ends + [steps]), self.what())
        b = self.b
        xa = self.array(x, "x")
        ta = self.const_array(thr, "thresholds", f"thresholds of {self.layer} [{rows}][{steps}], sorted, on the grid 2^-{frac}")
        ch = x.shape[-1]
        b.comment(f"{self.layer}: y = cast<{self.out.fmt}>({bi} + {sc} * count(x >= thresholds[c][:])) on the grid 2^-{of}")
        n = self.out.size
        with b.loop(n, unroll_for(n, steps, self.limit), "i") as i:
            xv = self._scaled(self.load_as(xa, i, t), xs)
            row = b.irem(i, ch) if rows > 1 else 0
            cnt = b.var(ot, b.const(0, ot), "count")
            with b.loop(steps, unroll_for(steps, 1, self.limit), "s") as s:
                reached = b.cmp("ge", xv, self.load_as(ta, b.linear([(row, steps), (s, 1)]), t))
                b.store(b.binary(cuda.AddOp, b.load(cnt), b.select(reached, b.const(1, ot), b.const(0, ot))), cnt)
            v = b.binary(cuda.AddOp, b.binary(cuda.MulOp, b.load(cnt), b.const(sc, ot)), b.const(bi, ot))
            self.store_cast(v, Interval(min(ends), max(ends), of), i)

    def lower_softmax(self):
        op = self.op
        x = self.t(op.input)
        diff, expf, total, inv = (a.format for a in (op.diff_type, op.exp_type, op.sum_type, op.inv_type))
        n = x.shape[-1]
        positions = x.size // n
        b = self.b
        exp_codes, inv_codes = fxp.codes_of(op.exp_table), fxp.codes_of(op.inv_table)
        et = self.const_array(exp_codes, "exp", f"exp table of {self.layer}: {expf} codes indexed by {diff} codes", "global")
        it = self.const_array(inv_codes, "inv", f"reciprocal table of {self.layer}: {inv} codes indexed by {total} codes", "global")
        xa = self.array(x, "x")
        span = x.iv.hi - x.iv.lo
        dt = work_type(min(x.iv.lo, 0), max(x.iv.hi, span), self.what())
        e_lo, e_hi = int(exp_codes.min()), int(exp_codes.max())
        st = work_type(min(0, e_lo * n), max(0, e_hi * n), self.what())
        r_lo, r_hi = int(inv_codes.min()), int(inv_codes.max())
        pe = [e_lo * r_lo, e_lo * r_hi, e_hi * r_lo, e_hi * r_hi]
        pt = work_type(min(pe), max(pe), self.what())
        e_t = storage_type(expf, self.what())
        b.comment(f"{self.layer}: softmax over {n}: m = max(x); e = exp_table[cast<{diff}>(m - x)]; "
                  f"r = inv_table[cast<{total}>(sum e)]; y = cast<{self.out.fmt}>(e * r)")
        with b.loop(positions, unroll_for(positions, 3 * n, self.limit), "p") as p:
            base = b.imul(p, n)
            mx = b.var(dt, self.load_as(xa, base, dt), "mx")
            if n > 1:
                with b.loop(n - 1, unroll_for(n - 1, 1, self.limit), "j") as j:
                    b.store(b.binary(cuda.MaxOp, b.load(mx), self.load_as(xa, b.iadd(b.iadd(base, j), 1), dt)), mx)
            e = b.add(cuda.AllocaOp(e_t, [n], hint="e")).result
            total_var = b.var(st, b.const(0, st), "sum")
            with b.loop(n, unroll_for(n, 1, self.limit), "j") as j:
                d = b.binary(cuda.SubOp, b.load(mx), self.load_as(xa, b.iadd(base, j), dt))
                code = self._cast_to(d, Interval(0, span, x.fmt.frac), diff)
                idx = b.convert(code, INDEX)
                ev = b.load(et, b.binary(cuda.SubOp, idx, b.const(diff.min_code)) if diff.min_code else idx)
                b.store(b.convert(ev, e_t), e, j)
                b.store(b.binary(cuda.AddOp, b.load(total_var), b.convert(ev, st)), total_var)
            s_code = self._cast_to(b.load(total_var), Interval(min(0, e_lo * n), max(0, e_hi * n), expf.frac), total)
            s_idx = b.convert(s_code, INDEX)
            r = b.var(pt, b.convert(b.load(it, b.binary(cuda.SubOp, s_idx, b.const(total.min_code)) if total.min_code else s_idx), pt), "r")
            with b.loop(n, unroll_for(n, 1, self.limit), "j") as j:
                v = b.binary(cuda.MulOp, self.load_as(e, j, pt), b.load(r))
                self.store_cast(v, Interval(min(pe), max(pe), expf.frac + inv.frac), b.iadd(base, j))
        return positions * n, "max, table lookups (global memory), one multiply a output"

    def _cast_to(self, v: SSAValue, iv: Interval, dst: FixedFormat) -> SSAValue:
        """A cast to an intermediate format (softmax's index types)."""
        return self.cast(v, iv, dst)

    # -- pooling -------------------------------------------------------------------------

    def lower_maxpool(self):
        x = self.t(self.op.input)
        kernel, strides, padding = self.op.window()
        b = self.b
        xa = self.array(x, "x")
        c = x.shape[-1]
        t = work_type(min(x.iv.lo, x.fmt.min_code), max(x.iv.hi, 0), self.what())
        b.comment(f"{self.layer}: y = cast<{self.out.fmt}>(max over the window); padding never wins")
        in_sp = x.shape[:-1]
        with self._nest(self.out.shape[:-1], int(np.prod(kernel)) * c, "o") as o:
            with b.loop(c, unroll_for(c, int(np.prod(kernel)), self.limit), "c") as ci:
                mx = b.var(t, b.const(x.fmt.min_code, t), "mx")
                with self._window(o, kernel, strides, (1,) * len(kernel), padding, in_sp, 1) as (pos, _):
                    b.store(b.binary(cuda.MaxOp, b.load(mx), self.load_as(xa, b.linear([(pos, c), (ci, 1)]), t)), mx)
                iv = x.iv.union(Interval(x.fmt.min_code, x.fmt.min_code, x.fmt.frac)) if any(padding) else x.iv
                self.store_cast(b.load(mx), iv, b.linear([(self._flat(o, self.out.shape[:-1]), c), (ci, 1)]))

    def lower_avgpool(self):
        from fmlc.emulator import reciprocal_codes, window_counts

        x = self.t(self.op.input)
        kernel, strides, padding = self.op.window()
        scale = self.op.scale_type.format
        counts = window_counts(x.shape, kernel, strides, padding, self.op.includes_pad)
        recips = np.array([int(r) for r in reciprocal_codes(counts, scale).ravel()], dtype=object)
        window = int(np.prod(kernel))
        s_lo, s_hi = min(x.iv.lo * window, 0), max(x.iv.hi * window, 0)
        ends = [s_lo * int(recips.min()), s_lo * int(recips.max()), s_hi * int(recips.min()), s_hi * int(recips.max())]
        t = work_type(min(ends + [s_lo]), max(ends + [s_hi]), self.what())
        b = self.b
        xa = self.array(x, "x")
        ra = self.const_array(recips, "recip", f"q(1/n) per output position of {self.layer}, {scale} codes")
        c = x.shape[-1]
        b.comment(f"{self.layer}: y = cast<{self.out.fmt}>(sum(window) * q(1/n)), n the taps inside the input")
        with self._nest(self.out.shape[:-1], window * c, "o") as o:
            with b.loop(c, unroll_for(c, window, self.limit), "c") as ci:
                acc = b.var(t, b.const(0, t), "sum")
                with self._window(o, kernel, strides, (1,) * len(kernel), padding, x.shape[:-1], 1) as (pos, _):
                    b.store(b.binary(cuda.AddOp, b.load(acc), self.load_as(xa, b.linear([(pos, c), (ci, 1)]), t)), acc)
                flat = self._flat(o, self.out.shape[:-1])
                v = b.binary(cuda.MulOp, b.load(acc), self.load_as(ra, flat, t))
                self.store_cast(v, Interval(min(ends), max(ends), x.fmt.frac + scale.frac), b.linear([(flat, c), (ci, 1)]))

    def lower_global_maxpool(self):
        x = self.t(self.op.input)
        b = self.b
        xa = self.array(x, "x")
        c = x.shape[-1]
        npos = x.size // c
        t = work_type(x.iv.lo, x.iv.hi, self.what())
        b.comment(f"{self.layer}: y[c] = cast<{self.out.fmt}>(max over {npos} positions)")
        with b.loop(c, unroll_for(c, npos, self.limit), "c") as ci:
            mx = b.var(t, self.load_as(xa, ci, t), "mx")
            if npos > 1:
                with b.loop(npos - 1, unroll_for(npos - 1, 1, self.limit), "q") as q:
                    b.store(b.binary(cuda.MaxOp, b.load(mx), self.load_as(xa, b.linear([(q, c), (ci, 1)], c), t)), mx)
            self.store_cast(b.load(mx), x.iv, ci)

    def lower_global_avgpool(self):
        x = self.t(self.op.input)
        scale = self.op.scale_type.format
        c = x.shape[-1]
        npos = x.size // c
        recip = fixed.from_fraction(Fraction(1, npos), scale)
        s_lo, s_hi = min(x.iv.lo * npos, 0), max(x.iv.hi * npos, 0)
        ends = [s_lo * recip, s_hi * recip]
        t = work_type(min(ends + [s_lo]), max(ends + [s_hi]), self.what())
        b = self.b
        xa = self.array(x, "x")
        b.comment(f"{self.layer}: y[c] = cast<{self.out.fmt}>(sum over {npos} positions * q(1/{npos}) = {recip} * 2^-{scale.frac})")
        with b.loop(c, unroll_for(c, npos, self.limit), "c") as ci:
            acc = b.var(t, b.const(0, t), "sum")
            with b.loop(npos, unroll_for(npos, 1, self.limit), "q") as q:
                b.store(b.binary(cuda.AddOp, b.load(acc), self.load_as(xa, b.linear([(q, c), (ci, 1)]), t)), acc)
            v = b.binary(cuda.MulOp, b.load(acc), b.const(recip, t))
            self.store_cast(v, Interval(min(ends), max(ends), x.fmt.frac + scale.frac), ci)

    # -- data movement ---------------------------------------------------------------------

    def _copy(self, src: SSAValue, src_index, dst_index) -> None:
        b = self.b
        b.store(b.convert(b.load(src, src_index), self.out.array.type.get_element_type()), self.out.array, dst_index)

    def lower_reshape(self):
        self._move_flat()

    def lower_flatten(self):
        self._move_flat()

    def _move_flat(self):
        x = self.t(self.op.input)
        xa = self.array(x, "x")
        n = self.out.size
        with self.b.loop(n, unroll_for(n, 1, self.limit), "i") as i:
            self._copy(xa, i, i)

    def lower_transpose(self):
        x = self.t(self.op.input)
        perm = fxp.ints(self.op.perm)
        xa = self.array(x, "x")
        self.b.comment(f"{self.layer}: transpose {list(perm)}")
        with self._nest(self.out.shape, 1, "d") as idx:
            src = [0] * len(perm)
            for d, p in enumerate(perm):
                src[p] = idx[d]
            self._copy(xa, self._flat(src, x.shape), self._flat(idx, self.out.shape))

    def lower_pad(self):
        x = self.t(self.op.input)
        pads = fxp.ints(self.op.padding)
        xa = self.array(x, "x")
        b = self.b
        n = self.out.size
        zero = b.const(0, self.out.array.type.get_element_type())
        self.b.comment(f"{self.layer}: zero padding {list(pads)}")
        with b.loop(n, unroll_for(n, 1, self.limit), "i") as i:
            b.store(zero, self.out.array, i)
        with self._nest(x.shape, 1, "d") as idx:
            dst = [b.iadd(v, pads[d]) for d, v in enumerate(idx)]
            self._copy(xa, self._flat(idx, x.shape), self._flat(dst, self.out.shape))

    def lower_upsample(self):
        x = self.t(self.op.input)
        factors = fxp.ints(self.op.factors)
        xa = self.array(x, "x")
        self.b.comment(f"{self.layer}: nearest-neighbour upsampling by {list(factors)}")
        with self._nest(self.out.shape, 1, "d") as idx:
            src = [self.b.idiv(i, f) for i, f in zip(idx, factors)] + [idx[-1]]
            self._copy(xa, self._flat(src, x.shape), self._flat(idx, self.out.shape))

    def lower_concat(self):
        axis = self.op.axis.value.data
        offset = 0
        self.b.comment(f"{self.layer}: concatenate along axis {axis}")
        for k, v in enumerate(self.op.inputs):
            x = self.t(v)
            xa = self.array(x, f"in{k}")
            with self._nest(x.shape, 1, "d") as idx:
                dst = list(idx)
                dst[axis] = self.b.iadd(idx[axis], offset)
                self._copy(xa, self._flat(idx, x.shape), self._flat(dst, self.out.shape))
            offset += x.shape[axis]


def _fits_byte(fmt: FixedFormat) -> bool:
    return fmt.width <= 8


def _byte_signedness(w: np.ndarray) -> bool | None:
    """True: every weight fits int8; False: uint8; None: neither."""
    vals = [int(v) for v in np.asarray(w).ravel()] or [0]
    if min(vals) >= -128 and max(vals) <= 127:
        return True
    if min(vals) >= 0 and max(vals) <= 255:
        return False
    return None
