"""cuda -> CUDA C++: a printer walking the cuda IR, one op at a time.

``emit_sources(module, name)`` returns the text of every file of a compiled folder:

- ``fmlc_runtime.cuh``: the fixed-point helpers every model shares (rounding, wrap,
  saturation, ``__dp4a`` and its host emulation, the exact float quantizer);
- ``<name>_model.cuh``: the constant arrays and the ``__host__ __device__`` per-sample
  functions (``cuda.global``, ``cuda.func``) -- the same source on GPU and CPU;
- ``<name>_kernels.cu``: the kernels (``cuda.kernel``) and the C API (``cuda.entry``);
- ``fmlc_<name>.h``: the C API header;
- ``<name>_host.cpp``: the CPU program (g++): runs the per-sample functions on files;
- ``<name>_tool.cu``: the GPU program: runs the C API on files, and a throughput benchmark;
- ``CMakeLists.txt``: builds the library, the tool and the host program.

Expressions are printed inline where a value has one use in the same block (loads only when
nothing writes memory in between); other values become ``const`` locals.  Run as
``python -m fmlc.lowering.cuda_to_cpp FILE.mlir`` it prints the model header and kernels of
cuda IR (what the lit tests check).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, Float32Type, Float64Type, IndexType, MemRefType, ModuleOp, i1
from xdsl.ir import Block, Operation, SSAValue
from xdsl.traits import Pure

from fmlc.dialects import cuda
from fmlc.dialects.cuda import c_type

INDENT = "    "


class EmitError(RuntimeError):
    """The cuda IR holds something the printer cannot spell (names the op)."""


# ============================================================================================
# scalars
# ============================================================================================


def int_literal(value: int, t) -> str:
    """An integer literal of exactly type ``t`` (so that templates deduce the right type)."""
    if isinstance(t, IndexType) or t == cuda.int_type(32, True):
        if value == -(1 << 31):
            return "(-2147483647 - 1)"
        return str(value)
    if t == i1:
        return "true" if value else "false"
    if t == cuda.int_type(64, True):
        return "(-INT64_C(9223372036854775807) - 1)" if value == -(1 << 63) else f"INT64_C({value})"
    if t == cuda.int_type(64, False):
        return f"UINT64_C({value})"
    if t == cuda.int_type(32, False):
        return f"{value}u"
    return f"({c_type(t)}){value}"


def float_literal(value: float, t) -> str:
    text = float(value).hex()
    return text + "f" if isinstance(t, Float32Type) else text


def pow2(exp: int) -> str:
    """The double ``2**exp`` as a hex literal (exact)."""
    return f"0x1p{exp:+d}"


ROUND_HELPERS = {
    "TRN_ZERO": "fmlc_trn_zero",
    "RND": "fmlc_rnd",
    "RND_ZERO": "fmlc_rnd_zero",
    "RND_INF": "fmlc_rnd_inf",
    "RND_MIN_INF": "fmlc_rnd_min_inf",
    "RND_CONV": "fmlc_rnd_conv",
}
BINARY = {cuda.AddOp: "+", cuda.SubOp: "-", cuda.MulOp: "*", cuda.DivOp: "/", cuda.RemOp: "%", cuda.AndOp: "&&"}


def _narrow(t) -> bool:
    """Types that C++ promotes to int in arithmetic (their results need a cast back)."""
    return cuda.is_int(t) and t.width.data < 32


# ============================================================================================
# functions and kernels
# ============================================================================================


class BodyPrinter:
    """Prints the body of one cuda.func or cuda.kernel."""

    SIDE_EFFECT_FREE = (cuda.LoadOp, cuda.CommentOp, cuda.AllocaOp)

    def __init__(self, out: list[str], taken: set[str]):
        self.out = out
        self.names: dict[SSAValue, str] = {}
        self.taken = set(taken)
        self.inline: set[Operation] = set()

    # -- naming ---------------------------------------------------------------------------

    def name(self, v: SSAValue) -> str:
        if v not in self.names:
            base = re.sub(r"\W", "_", v.name_hint or "v")
            if base[0].isdigit():
                base = "v" + base
            base = re.sub(r"_\d+$", "", base) if v.name_hint and re.search(r"_\d+$", v.name_hint) else base
            name, n = base, 1
            while name in self.taken:
                name, n = f"{base}_{n}", n + 1
            self.taken.add(name)
            self.names[v] = name
        return self.names[v]

    # -- which values print inline ----------------------------------------------------------

    def plan(self, block: Block) -> None:
        """Decide, for every op of ``block`` and nested blocks, whether it prints inline."""
        for op in block.ops:
            for region in op.regions:
                for inner in region.blocks:
                    self.plan(inner)
        ops = list(block.ops)
        position = {op: k for k, op in enumerate(ops)}
        for op in ops:
            if isinstance(op, cuda.ConstantOp | cuda.GetGlobalOp):
                self.inline.add(op)
            elif len(op.results) == 1 and op.results[0].has_one_use() and op.has_trait(Pure):
                user = op.results[0].get_user_of_unique_use()
                if user.parent_block() is block:
                    self.inline.add(op)
        for op in ops:  # a load moves to where its value is used: nothing may write memory in between
            if not isinstance(op, cuda.LoadOp) or not op.result.has_one_use():
                continue
            user = op.result.get_user_of_unique_use()
            while user in self.inline and user.parent_block() is block and user.results[0].has_one_use():
                user = user.results[0].get_user_of_unique_use()
            if user.parent_block() is not block:
                continue
            between = ops[position[op] + 1 : position[user]]
            if all(o.has_trait(Pure) or isinstance(o, self.SIDE_EFFECT_FREE) for o in between):
                self.inline.add(op)

    # -- expressions ------------------------------------------------------------------------

    def expr(self, v: SSAValue) -> str:
        """The C++ text of a value: a name, a literal, or an inline expression."""
        op = v.owner
        if isinstance(op, Operation) and op in self.inline:
            return self.render(op)
        return self.name(v)

    def operand(self, v: SSAValue) -> str:
        """An expression usable as an operand of a binary operator (parenthesized if compound)."""
        text = self.expr(v)
        simple = r"[\w.]+|\w+\[[^\[\]]*\]|\(\w+\)\w+(\[[^\[\]]*\])?"  # names, elements, casts of those
        if re.fullmatch(simple, text) or (re.fullmatch(r"\w+\(.*\)|\(.*\)", text) and not _unbalanced(text)):
            return text
        return f"({text})"

    def index(self, op) -> str:
        if not op.indices:
            return self.expr(op.array)
        return f"{self.expr(op.array)}[{self.expr(op.indices[0])}]"

    def render(self, op: Operation) -> str:
        t = op.results[0].type if op.results else None
        if isinstance(op, cuda.ConstantOp):
            v = op.number
            return float_literal(v, t) if isinstance(t, Float32Type | Float64Type) else int_literal(v, t)
        if isinstance(op, cuda.GetGlobalOp):
            return op.global_name.string_value()
        if isinstance(op, cuda.LoadOp):
            return self.index(op)
        if type(op) in BINARY:
            text = f"{self.operand(op.lhs)} {BINARY[type(op)]} {self.operand(op.rhs)}"
            return f"({c_type(t)})({text})" if _narrow(t) else text
        if isinstance(op, cuda.MaxOp | cuda.MinOp):
            return f"fmlc_{'max' if isinstance(op, cuda.MaxOp) else 'min'}({self.expr(op.lhs)}, {self.expr(op.rhs)})"
        if isinstance(op, cuda.CmpOp):
            return f"{self.operand(op.lhs)} {cuda.CMP_PREDICATES[op.predicate.data]} {self.operand(op.rhs)}"
        if isinstance(op, cuda.SelectOp):
            return f"{self.operand(op.cond)} ? {self.operand(op.a)} : {self.operand(op.b)}"
        if isinstance(op, cuda.ConvertOp):
            return f"({c_type(t)}){self.operand(op.input)}"
        if isinstance(op, cuda.ShrOp):
            text = f"{self.operand(op.input)} >> {op.amount.value.data}"
            return f"({c_type(t)})({text})" if _narrow(t) else text
        if isinstance(op, cuda.RoundShiftOp):
            return f"{ROUND_HELPERS[op.mode.data]}({self.expr(op.input)}, {op.shift.value.data})"
        if isinstance(op, cuda.WrapOp):
            kind = "signed" if op.is_signed else "unsigned"
            return f"fmlc_wrap_{kind}({self.expr(op.input)}, {op.width.value.data})"
        if isinstance(op, cuda.ClampOp | cuda.ZeroOutsideOp):
            fn = "fmlc_clamp" if isinstance(op, cuda.ClampOp) else "fmlc_zero_outside"
            return f"{fn}({self.expr(op.input)}, {int_literal(op.lo.value.data, t)}, {int_literal(op.hi.value.data, t)})"
        if isinstance(op, cuda.Pack4Op):
            return f"fmlc_pack4({', '.join(self.expr(p) for p in op.parts)})"
        if isinstance(op, cuda.Dp4aOp):
            sa = "s" if op.a_signed.value.data else "u"
            sb = "s" if op.b_signed.value.data else "u"
            return f"fmlc_dp4a_{sa}{sb}({self.expr(op.a)}, {self.expr(op.b)}, {self.expr(op.c)})"
        if isinstance(op, cuda.QuantizeOp):
            return self.render_quantize(op)
        if isinstance(op, cuda.DequantizeOp):
            return f"(float)((double){self.operand(op.input)} * {pow2(-op.frac.value.data)})"
        if isinstance(op, cuda.OffsetOp):
            return f"{self.operand(op.array)} + {self.operand(op.offset)}"
        raise EmitError(f"the C++ printer cannot spell {op.name} as an expression")

    def render_quantize(self, op: cuda.QuantizeOp) -> str:
        x = self.expr(op.input)
        if isinstance(op.ftype, Float64Type):
            x = f"(double){self.operand(op.input)}"
            mul, add = "fmlc_dmul", "fmlc_dadd"
        else:
            mul, add = "fmlc_fmul", "fmlc_fadd"
        if op.scale is not None:
            x = f"{mul}({x}, {float_literal(op.scale.value.data, op.ftype)})"
        if op.offset is not None:
            x = f"{add}({x}, {float_literal(op.offset.value.data, op.ftype)})"
        if op.steps is not None:
            x = self.render_steps(op, x)
        width, frac = op.width.value.data, op.frac.value.data
        signed = bool(op.signed.value.data)
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        ovf = op.overflow.data
        if ovf == "SAT_SYM" and signed and width > 1:
            lo = -hi
        if not (x.startswith("fmlc_") or re.fullmatch(r"[\w\[\]]+", x)):
            x = f"({x})"
        return (
            f"({c_type(op.result.type)})fmlc_quantize((double){x} * {pow2(frac)}, "
            f"FMLC_{op.rounding.data}, FMLC_{ovf}, {float(lo)!r}, {float(hi)!r}, {pow2(width)})"
        )

    def render_steps(self, op: cuda.QuantizeOp, x: str) -> str:
        """fxp.quantize's float steps (fmlc.boundary) as calls of the runtime's IEEE helpers,
        one rounding per arithmetic step, as numpy computes them on the host."""
        from fmlc.boundary import ARITHMETIC

        d = "d" if isinstance(op.ftype, Float64Type) else "f"
        ftype = op.ftype
        consts = iter(op.consts)
        for step in op.steps.data:
            items = [a.data if hasattr(a, "data") and isinstance(a.data, str) else (None if isinstance(a, DenseIntOrFPElementsAttr) else a.value.data) for a in step.data]
            kind, args = items[0], items[1:]
            if kind in ARITHMETIC:
                if args[0] is None:  # a per-element constant: its float32 bits, loaded for this element
                    c = f"fmlc_bits_float({self.operand(next(consts))})"
                    neg = f"-{c}"
                else:
                    c = float_literal(args[0], ftype)
                    neg = float_literal(-args[0], ftype)
                x = {
                    "mul": f"fmlc_{d}mul({x}, {c})",
                    "add": f"fmlc_{d}add({x}, {c})",
                    "sub": f"fmlc_{d}add({x}, {neg})",
                    "div": f"fmlc_{d}div({x}, {c})",
                    "rsub": f"fmlc_{d}add(-({x}), {c})",
                }[kind]
            elif kind == "clip":
                x = f"fmlc_{d}clip({x}, {float_literal(args[0], ftype)}, {float_literal(args[1], ftype)})"
            elif kind == "round":
                x = f"fmlc_{d}round_{args[0].lower()}({x})"
            elif kind == "bipolar":
                x = f"fmlc_{d}bipolar({x})"
            elif kind == "widen":  # the remaining steps in double, as numpy promotes them
                x, d, ftype = f"(double)({x})", "d", Float64Type()
            else:
                raise EmitError(f"cuda.quantize: unknown step {kind}")
        return x

    # -- statements -----------------------------------------------------------------------

    def line(self, depth: int, text: str) -> None:
        self.out.append(INDENT * depth + text)

    def block(self, block: Block, depth: int) -> None:
        for op in block.ops:
            self.statement(op, depth)

    def statement(self, op: Operation, depth: int) -> None:
        if op in self.inline:
            return
        if isinstance(op, cuda.CommentOp):
            for part in op.text.data.splitlines() or [""]:
                self.line(depth, f"// {part}")
        elif isinstance(op, cuda.AllocaOp):
            t = op.result.type
            zero = " = {}" if op.zero is not None else ""
            dims = "".join(f"[{d}]" for d in t.get_shape())
            self.line(depth, f"{c_type(t.get_element_type())} {self.name(op.result)}{dims}{zero};")
        elif isinstance(op, cuda.SharedAllocOp):
            t = op.result.type
            self.line(depth, f"__shared__ {c_type(t.get_element_type())} {self.name(op.result)}[{t.get_shape()[0]}];")
        elif isinstance(op, cuda.StoreOp):
            target = self.expr(op.array) + (f"[{self.expr(op.indices[0])}]" if op.indices else "")
            self.line(depth, f"{target} = {self.expr(op.value)};")
        elif isinstance(op, cuda.CallOp):
            self.line(depth, f"{op.callee.string_value()}({', '.join(self.expr(a) for a in op.args)});")
        elif isinstance(op, cuda.ForOp):
            unroll = op.unroll.value.data
            self.line(depth, "FMLC_UNROLL" if unroll == 0 else f"FMLC_UNROLL_BY({unroll})")
            i = self.name(op.index)
            step = f"++{i}" if op.step.value.data == 1 else f"{i} += {op.step.value.data}"
            self.line(depth, f"for (int {i} = {op.lb.value.data}; {i} < {op.ub.value.data}; {step}) {{")
            self.block(op.body.block, depth + 1)
            self.line(depth, "}")
        elif isinstance(op, cuda.IfOp):
            self.line(depth, f"if ({self.expr(op.cond)}) {{")
            self.block(op.body.block, depth + 1)
            self.line(depth, "}")
        elif isinstance(op, cuda.TileLoopOp):
            tile = op.tile.value.data
            base, count, n = self.name(op.base), self.name(op.active), self.expr(op.count)
            self.line(depth, f"for (long long {base} = (long long)blockIdx.x * {tile}; {base} < {n}; {base} += (long long)gridDim.x * {tile}) {{")
            self.line(depth + 1, f"const int {count} = {n} - {base} < {tile} ? (int)({n} - {base}) : {tile};")
            self.block(op.body.block, depth + 1)
            self.line(depth, "}")
        elif isinstance(op, cuda.TileLoadOp | cuda.TileStoreOp):
            self.tile_copy(op, depth)
        elif isinstance(op, cuda.BarrierOp):
            self.line(depth, "__syncthreads();")
        elif isinstance(op, cuda.ThreadSampleOp):
            t = self.name(op.thread)
            self.line(depth, f"if ((int)threadIdx.x < {self.expr(op.active)}) {{")
            self.line(depth + 1, f"const int {t} = threadIdx.x;")
            self.block(op.body.block, depth + 1)
            self.line(depth, "}")
        elif len(op.results) == 1:
            if op.results[0].first_use is None:
                return  # a value nobody reads
            r = op.results[0]
            self.line(depth, f"const {self.c_decl_type(r)} {self.name(r)} = {self.render(op)};")
        else:
            raise EmitError(f"the C++ printer cannot spell {op.name} as a statement")

    def c_decl_type(self, v: SSAValue) -> str:
        t = v.type
        if isinstance(t, MemRefType):
            return f"{c_type(t.get_element_type())}*"
        return c_type(t)

    def tile_copy(self, op, depth: int) -> None:
        tile = _enclosing_kernel(op).block_size.value.data
        elems, stride = op.elems.value.data, op.stride.value.data
        g, s = self.expr(op.global_array), self.expr(op.shared_array)
        base, count = self.expr(op.base), self.expr(op.active)
        shared_at = "e" if elems == stride else f"(e / {elems}) * {stride} + e % {elems}"
        self.line(depth, f"for (int e = threadIdx.x; e < {count} * {elems}; e += {tile}) {{")
        if isinstance(op, cuda.TileLoadOp):
            self.line(depth + 1, f"{s}[{shared_at}] = {g}[{base} * {elems} + e];")
        else:
            self.line(depth + 1, f"{g}[{base} * {elems} + e] = {s}[{shared_at}];")
        self.line(depth, "}")


def _unbalanced(text: str) -> bool:
    """``(a) + (b)`` or ``f(a) + g(b)``: the first parenthesis closes before the end, so the
    text is not one call or one parenthesized group."""
    start = text.find("(")
    if start < 0:
        return False
    depth = 0
    for k in range(start, len(text)):
        depth += text[k] == "("
        depth -= text[k] == ")"
        if depth == 0 and k != len(text) - 1:
            return True
    return False


def _enclosing_kernel(op: Operation) -> cuda.KernelOp:
    parent = op.parent_op()
    while not isinstance(parent, cuda.KernelOp):
        parent = parent.parent_op()
    return parent


def _param(arg: SSAValue, name: str, is_input: bool) -> str:
    t = arg.type
    if isinstance(t, MemRefType):
        const = "const " if is_input else ""
        return f"{const}{c_type(t.get_element_type())}* __restrict__ {name}"
    return f"{'long long' if t == cuda.int_type(64, True) else c_type(t)} {name}"


def print_function(op: cuda.FuncOp, out: list[str]) -> None:
    printer = BodyPrinter(out, set())
    printer.plan(op.block)
    n_in = op.num_inputs.value.data
    params = [_param(a, printer.name(a), k < n_in) for k, a in enumerate(op.block.args)]
    if op.doc is not None:
        out.append(f"// {op.doc.data}")
    out.append(f"FMLC_HD void {op.sym_name.data}({', '.join(params)}) {{")
    printer.block(op.block, 1)
    out.append("}")
    out.append("")


def print_kernel(op: cuda.KernelOp, out: list[str]) -> None:
    printer = BodyPrinter(out, set())
    printer.plan(op.block)
    params = [_param(a, printer.name(a), k == 0) for k, a in enumerate(op.block.args)]
    if op.doc is not None:
        out.append(f"// {op.doc.data}")
    out.append(f"__global__ void __launch_bounds__({op.block_size.value.data}) {op.sym_name.data}({', '.join(params)}) {{")
    printer.block(op.block, 1)
    out.append("}")
    out.append("")


def print_global(op: cuda.GlobalOp, out: list[str]) -> None:
    values = op.values()
    elem = op.elem
    qualifier = "FMLC_CONSTANT" if op.space.data == "constant" else "FMLC_GLOBAL"
    if op.doc is not None:
        out.append(f"// {op.doc.data}")
    out.append(f"{qualifier} {c_type(elem)} {op.sym_name.data}[{len(values)}] = {{")
    items = [int_literal(int(v), elem) if elem.width.data == 64 else str(int(v)) for v in values]
    for k in range(0, len(items), 16):
        out.append(INDENT + ", ".join(items[k : k + 16]) + ",")
    out.append("};")
    out.append("")


# ============================================================================================
# the C API
# ============================================================================================


def entries(module: ModuleOp) -> list[cuda.EntryOp]:
    return [op for op in module.ops if isinstance(op, cuda.EntryOp)]


def entry_types(entry: cuda.EntryOp) -> tuple[str, str]:
    ins = entry.kernel_op().function_type.inputs.data
    return c_type(ins[0].get_element_type()), c_type(ins[1].get_element_type())


def entry_signature(entry: cuda.EntryOp) -> str:
    tin, tout = entry_types(entry)
    return f"cudaError_t {entry.sym_name.data}(const {tin}* x, {tout}* y, size_t n, cudaStream_t stream)"


def print_entry(entry: cuda.EntryOp, out: list[str]) -> None:
    kernel = entry.kernel_op()
    block = kernel.block_size.value.data
    name = kernel.sym_name.data
    out.append(f"// {entry.doc.data if entry.doc else entry.kind.data}")
    out.append(f'extern "C" {entry_signature(entry)} {{')
    out.append(f"{INDENT}if (n == 0) return cudaSuccess;")
    out.append(f"{INDENT}// enough blocks to fill the GPU once; the kernel's grid-stride loop covers the rest")
    out.append(f"{INDENT}static int max_grid = 0;")
    out.append(f"{INDENT}if (max_grid == 0) {{")
    out.append(f"{INDENT * 2}int device = 0, sms = 0, per_sm = 0;")
    out.append(f"{INDENT * 2}cudaError_t err = cudaGetDevice(&device);")
    out.append(f"{INDENT * 2}if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);")
    out.append(f"{INDENT * 2}if (err == cudaSuccess) err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, {name}, {block}, 0);")
    out.append(f"{INDENT * 2}if (err != cudaSuccess) return err;")
    out.append(f"{INDENT * 2}max_grid = sms * (per_sm > 0 ? per_sm : 1);")
    out.append(f"{INDENT}}}")
    out.append(f"{INDENT}const size_t tiles = (n + {block - 1}) / {block};")
    out.append(f"{INDENT}const int grid = tiles < (size_t)max_grid ? (int)tiles : max_grid;")
    out.append(f"{INDENT}{name}<<<grid, {block}, 0, stream>>>(x, y, (long long)n);")
    out.append(f"{INDENT}return cudaGetLastError();")
    out.append("}")
    out.append("")


def print_header(module: ModuleOp, name: str) -> str:
    guard = f"FMLC_{name.upper()}_H"
    es = entries(module)
    out = [
        f"// fmlc_{name}.h: C API of the fmlc-compiled model '{name}' (generated by fmlc; do not edit).",
        "//",
        "// Every function runs n samples on the current CUDA device, asynchronously on `stream`;",
        "// x and y are device pointers, samples one after the other (row-major per sample).",
        *[f"// {c.text.data}" for c in module.ops if isinstance(c, cuda.CommentOp)],
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "#include <cuda_runtime_api.h>",
        "",
        f"#define FMLC_{name.upper()}_IN_ELEMS {es[0].in_elems.value.data}",
        f"#define FMLC_{name.upper()}_OUT_ELEMS {es[0].out_elems.value.data}",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
    ]
    for e in es:
        out.append(f"// {e.doc.data if e.doc else e.kind.data}")
        out.append(entry_signature(e) + ";")
        out.append("")
    out += ["#ifdef __cplusplus", "}", "#endif", "", f"#endif  // {guard}", ""]
    return "\n".join(out)


# ============================================================================================
# files
# ============================================================================================


RUNTIME = r"""// fmlc_runtime.cuh: fixed-point helpers shared by every fmlc CUDA model (generated by fmlc).
//
// Each helper is exact integer arithmetic reproducing fmlc's reference semantics
// (docs/semantics.md): the same source compiles for the GPU (nvcc) and the CPU (any C++17
// compiler), which is how fmlc checks the kernels bit for bit without a GPU.
#ifndef FMLC_RUNTIME_CUH
#define FMLC_RUNTIME_CUH

#include <math.h>
#include <string.h>
#include <stdint.h>

#ifdef __CUDACC__
#define FMLC_HD __host__ __device__ __forceinline__
#else  // a plain C++ compiler: the CUDA qualifiers mean nothing on the host
#define FMLC_HD inline
#define __host__
#define __device__
#endif

// loop unrolling hints, for the device compiler only (host compilers warn about them)
#ifdef __CUDA_ARCH__
#define FMLC_PRAGMA(text) _Pragma(#text)
#define FMLC_UNROLL FMLC_PRAGMA(unroll)
#define FMLC_UNROLL_BY(n) FMLC_PRAGMA(unroll n)
#else
#define FMLC_UNROLL
#define FMLC_UNROLL_BY(n)
#endif

// Where constant arrays live: weights in __constant__ memory (every thread of a warp reads the
// same element: a broadcast), data-indexed tables in global memory (cached); plain arrays on the host.
#if defined(__CUDA_ARCH__)
#define FMLC_CONSTANT __constant__ const
#define FMLC_GLOBAL __device__ const
#else
#define FMLC_CONSTANT static const
#define FMLC_GLOBAL static const
#endif

template <typename T> FMLC_HD T fmlc_max(T a, T b) { return a > b ? a : b; }
template <typename T> FMLC_HD T fmlc_min(T a, T b) { return a < b ? a : b; }
template <typename T> FMLC_HD T fmlc_clamp(T x, T lo, T hi) { return x < lo ? lo : (x > hi ? hi : x); }
// SAT_ZERO: out-of-range values become 0
template <typename T> FMLC_HD T fmlc_zero_outside(T x, T lo, T hi) { return (x < lo || x > hi) ? T(0) : x; }

// x / 2^s rounded as ap_fixed's quantization modes say (TRN is a plain x >> s): the floor
// q = x >> s plus the mode's increment, folded into one addition before the shift.  The
// caller's type holds x + 2^s.
template <typename T> FMLC_HD T fmlc_trn_zero(T x, int s) { return (x + (x < 0 ? (T(1) << s) - 1 : T(0))) >> s; }
template <typename T> FMLC_HD T fmlc_rnd(T x, int s) { return (x + (T(1) << (s - 1))) >> s; }
template <typename T> FMLC_HD T fmlc_rnd_min_inf(T x, int s) { return (x + ((T(1) << (s - 1)) - 1)) >> s; }
template <typename T> FMLC_HD T fmlc_rnd_zero(T x, int s) { return (x + (T(1) << (s - 1)) - T(x >= 0)) >> s; }
template <typename T> FMLC_HD T fmlc_rnd_inf(T x, int s) { return (x + (T(1) << (s - 1)) - T(x < 0)) >> s; }
template <typename T> FMLC_HD T fmlc_rnd_conv(T x, int s) { return (x + ((T(1) << (s - 1)) - 1) + ((x >> s) & 1)) >> s; }

template <typename T> struct fmlc_unsigned;
template <> struct fmlc_unsigned<int32_t> { typedef uint32_t type; };
template <> struct fmlc_unsigned<int64_t> { typedef uint64_t type; };

// WRAP: the low w bits of x, as a two's complement number or an unsigned one
template <typename T> FMLC_HD T fmlc_wrap_signed(T x, int w) {
    typedef typename fmlc_unsigned<T>::type U;
    const U mask = w >= (int)(8 * sizeof(T)) ? ~U(0) : (U(1) << w) - 1;
    const U sign = U(1) << (w - 1);
    return (T)((((U)x & mask) ^ sign) - sign);
}
template <typename T> FMLC_HD T fmlc_wrap_unsigned(T x, int w) {
    typedef typename fmlc_unsigned<T>::type U;
    return (T)((U)x & ((U(1) << w) - 1));
}

// four 8-bit codes in one word, the first in the low byte (the operand layout of __dp4a)
FMLC_HD int32_t fmlc_pack4(int a, int b, int c, int d) {
    return (int32_t)((uint32_t)(uint8_t)a | ((uint32_t)(uint8_t)b << 8) | ((uint32_t)(uint8_t)c << 16) | ((uint32_t)(uint8_t)d << 24));
}

// c + the dot product of the bytes of a and b (signed s / unsigned u): exact in int32
#define FMLC_DP4A_HOST(SA, SB)                                                              \
    for (int j = 0; j < 32; j += 8) {                                                       \
        const int aj = SA ? (int)(int8_t)(uint8_t)(a >> j) : (int)(uint8_t)(a >> j);       \
        const int bj = SB ? (int)(int8_t)(uint8_t)(b >> j) : (int)(uint8_t)(b >> j);       \
        c += aj * bj;                                                                       \
    }                                                                                       \
    return c;
FMLC_HD int32_t fmlc_dp4a_ss(int32_t a, int32_t b, int32_t c) {
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, c);
#else
    FMLC_DP4A_HOST(1, 1)
#endif
}
FMLC_HD int32_t fmlc_dp4a_uu(int32_t a, int32_t b, int32_t c) {
#ifdef __CUDA_ARCH__
    return (int32_t)__dp4a((unsigned)a, (unsigned)b, (unsigned)c);
#else
    FMLC_DP4A_HOST(0, 0)
#endif
}
FMLC_HD int32_t fmlc_dp4a_us(int32_t a, int32_t b, int32_t c) {
#ifdef __CUDA_ARCH__
    int32_t d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
#else
    FMLC_DP4A_HOST(0, 1)
#endif
}
FMLC_HD int32_t fmlc_dp4a_su(int32_t a, int32_t b, int32_t c) {
#ifdef __CUDA_ARCH__
    int32_t d;
    asm("dp4a.s32.u32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
#else
    FMLC_DP4A_HOST(1, 0)
#endif
}

// fxp.quantize's affine part: one IEEE rounding per operation, never a fused multiply-add
FMLC_HD float fmlc_fmul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
FMLC_HD float fmlc_fadd(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
FMLC_HD double fmlc_dmul(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}
FMLC_HD double fmlc_dadd(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}

FMLC_HD float fmlc_bits_float(int bits) {
#ifdef __CUDA_ARCH__
    return __int_as_float(bits);
#else
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
#endif
}
FMLC_HD float fmlc_fdiv(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}
FMLC_HD double fmlc_ddiv(double a, double b) {
#ifdef __CUDA_ARCH__
    return __ddiv_rn(a, b);
#else
    return a / b;
#endif
}

// fxp.quantize's QONNX steps (fmlc.boundary): QONNX's clamp and rounding functions, written with
// the same float operations numpy performs (HALF_UP adds 0.5 in the float type first)
#define FMLC_QONNX_STEPS(T, P, ADD)                                                               \
    FMLC_HD T fmlc_##P##clip(T x, T lo, T hi) { x = x > hi ? hi : x; return x < lo ? lo : x; }   \
    FMLC_HD T fmlc_##P##sign(T x) { return x > 0 ? (T)1 : (x < 0 ? (T)-1 : (T)0); }             \
    FMLC_HD T fmlc_##P##round_round(T x) { return rint(x); }                                     \
    FMLC_HD T fmlc_##P##round_half_even(T x) { return rint(x); }                                 \
    FMLC_HD T fmlc_##P##round_floor(T x) { return floor(x); }                                    \
    FMLC_HD T fmlc_##P##round_ceil(T x) { return ceil(x); }                                      \
    FMLC_HD T fmlc_##P##round_down(T x) { return trunc(x); }                                     \
    FMLC_HD T fmlc_##P##round_up(T x) { return fmlc_##P##sign(x) * ceil(fabs(x)); }              \
    FMLC_HD T fmlc_##P##round_half_up(T x) { return fmlc_##P##sign(x) * floor(ADD(fabs(x), (T)0.5)); } \
    FMLC_HD T fmlc_##P##round_half_down(T x) { return fmlc_##P##sign(x) * ceil(ADD(fabs(x), (T)-0.5)); } \
    FMLC_HD T fmlc_##P##bipolar(T x) { return x >= 0 ? (T)1 : (T)-1; }
FMLC_QONNX_STEPS(float, f, fmlc_fadd)
FMLC_QONNX_STEPS(double, d, fmlc_dadd)

enum { FMLC_TRN, FMLC_TRN_ZERO, FMLC_RND, FMLC_RND_ZERO, FMLC_RND_INF, FMLC_RND_MIN_INF, FMLC_RND_CONV };
enum { FMLC_WRAP, FMLC_SAT, FMLC_SAT_ZERO, FMLC_SAT_SYM };

// The code of the exact value t = x * 2^F (a float times a power of two: exact in double),
// rounded by mode q and brought into [lo, hi] by overflow mode o (span = 2^W), exactly as
// fmlc.fixed.from_float.  Codes are at most 52 bits wide, so every step is exact in double.
// A non-finite input gives code 0 (fmlc's host refuses such inputs).
FMLC_HD long long fmlc_quantize(double t, int q, int o, double lo, double hi, double span) {
    if (!(fabs(t) < HUGE_VAL)) t = 0.0;
    double r;
    if (q == FMLC_TRN) {
        r = floor(t);
    } else if (q == FMLC_TRN_ZERO) {
        r = trunc(t);
    } else if (q == FMLC_RND_CONV) {
        r = rint(t);  // round half to even
    } else {
        const double fl = floor(t);
        const bool frac = t != fl;
        const double mid = fl + 0.5;
        const bool above = frac && t > mid, tie = frac && t == mid;
        const bool inc = q == FMLC_RND ? (above || tie)
                       : q == FMLC_RND_ZERO ? (above || (tie && t < 0))
                       : q == FMLC_RND_MIN_INF ? above
                       : (above || (tie && t >= 0));  // RND_INF
        r = fl + (inc ? 1.0 : 0.0);
    }
    if (o == FMLC_SAT || o == FMLC_SAT_SYM) {
        r = fmin(fmax(r, lo), hi);
    } else if (r < lo || r > hi) {
        if (o == FMLC_SAT_ZERO) {
            r = 0.0;
        } else {  // WRAP: (r - lo) mod 2^W + lo, every step exact
            r = fmod(r, span) - lo;
            r = fmod(r, span);
            if (r < 0) r += span;
            r += lo;
        }
    }
    return (long long)r;
}

#endif  // FMLC_RUNTIME_CUH
"""


def print_model(module: ModuleOp, name: str) -> str:
    out = [
        f"// {name}_model.cuh: the model '{name}' on one sample, for GPU and CPU alike (generated by fmlc).",
        "//",
        *[f"// {c.text.data}" for c in module.ops if isinstance(c, cuda.CommentOp)],
        f"#ifndef FMLC_{name.upper()}_MODEL_CUH",
        f"#define FMLC_{name.upper()}_MODEL_CUH",
        "",
        '#include "fmlc_runtime.cuh"',
        "",
    ]
    for op in module.ops:
        if isinstance(op, cuda.GlobalOp):
            print_global(op, out)
    for op in module.ops:
        if isinstance(op, cuda.FuncOp):
            print_function(op, out)
    out += [f"#endif  // FMLC_{name.upper()}_MODEL_CUH", ""]
    return "\n".join(out)


def print_kernels(module: ModuleOp, name: str) -> str:
    out = [
        f"// {name}_kernels.cu: kernels and C API of the model '{name}' (generated by fmlc).",
        "#include <cuda_runtime.h>",
        "",
        f'#include "fmlc_{name}.h"',
        f'#include "{name}_model.cuh"',
        "",
    ]
    for op in module.ops:
        if isinstance(op, cuda.KernelOp):
            print_kernel(op, out)
    for e in entries(module):
        print_entry(e, out)
    return "\n".join(out)


def print_host_program(module: ModuleOp, name: str) -> str:
    """The CPU program: the per-sample functions over a file of samples, and a CPU benchmark."""
    es = {e.kind.data: e for e in entries(module)}
    cases = []
    for kind in ("raw", "codes", "float", "quantize"):
        e = es[kind]
        tin, tout = entry_types(e)
        fin = "int64_t" if kind == "raw" else "float"
        fout = "float" if kind == "float" else "int64_t"
        cases.append(
            f'    if (mode == "{kind}") return fmlc_host_run<{fin}, {tin}, {fout}, {tout}>([](const {tin}* a, {tout}* b) {{ {e.sample.string_value()}(a, b); }}, in, out, n, {e.in_elems.value.data}, {e.out_elems.value.data});'
        )
    raw = es["raw"]
    tin, tout = entry_types(raw)
    return "\n".join(
        [
            f"// {name}_host.cpp: the model '{name}' on the CPU, from the same source as the GPU kernels (generated by fmlc).",
            "//",
            f"//   {name}_host raw|codes|float|quantize IN OUT N    run N samples: IN holds int64 codes (raw) or float32",
            "//                                          values; OUT gets int64 codes (raw, codes) or float32 values",
            f"//   {name}_host bench N                      CPU throughput of the raw per-sample function",
            "//",
            "// Build: g++ -O2 -std=c++17 -ffp-contract=off " + f"{name}_host.cpp -o {name}_host",
            "#include <chrono>",
            "#include <cstdio>",
            "#include <cstdlib>",
            "#include <string>",
            "#include <vector>",
            "",
            f'#include "{name}_model.cuh"',
            "",
            "#ifndef FMLC_HOST_HELPERS",
            "#define FMLC_HOST_HELPERS",
            "template <typename FI, typename TI, typename FO, typename TO, typename F>",
            "static int fmlc_host_run(F fn, const char* in, const char* out, long long n, int in_elems, int out_elems) {",
            "    std::vector<FI> xf((size_t)n * in_elems);",
            "    std::vector<FO> yf((size_t)n * out_elems);",
            '    FILE* f = std::fopen(in, "rb");',
            '    if (!f || std::fread(xf.data(), sizeof(FI), xf.size(), f) != xf.size()) { std::fprintf(stderr, "cannot read %s\\n", in); return 1; }',
            "    std::fclose(f);",
            "    std::vector<TI> x(in_elems);",
            "    std::vector<TO> y(out_elems);",
            "    for (long long s = 0; s < n; ++s) {",
            "        for (int k = 0; k < in_elems; ++k) x[k] = (TI)xf[(size_t)s * in_elems + k];",
            "        fn(x.data(), y.data());",
            "        for (int k = 0; k < out_elems; ++k) yf[(size_t)s * out_elems + k] = (FO)y[k];",
            "    }",
            '    f = std::fopen(out, "wb");',
            '    if (!f || std::fwrite(yf.data(), sizeof(FO), yf.size(), f) != yf.size()) { std::fprintf(stderr, "cannot write %s\\n", out); return 1; }',
            "    std::fclose(f);",
            "    return 0;",
            "}",
            "#endif",
            "",
            f"static int fmlc_{name}_host_bench(long long n) {{",
            f"    const int in_elems = {raw.in_elems.value.data}, out_elems = {raw.out_elems.value.data};",
            f"    std::vector<{tin}> x((size_t)n * in_elems);",
            f"    std::vector<{tout}> y((size_t)n * out_elems);",
            f"    // valid input codes: quantize pseudo-random floats in [-4, 4)",
            "    std::vector<float> xf(in_elems);",
            "    unsigned state = 12345u;",
            "    for (long long s = 0; s < n; ++s) {",
            "        for (int k = 0; k < in_elems; ++k) { state = state * 1664525u + 1013904223u; xf[k] = (float)(state >> 8) / 16777216.0f * 8.0f - 4.0f; }",
            f"        {name}_quantize(xf.data(), &x[(size_t)s * in_elems]);",
            "    }",
            "    const auto t0 = std::chrono::steady_clock::now();",
            f"    for (long long s = 0; s < n; ++s) {raw.sample.string_value()}(&x[(size_t)s * in_elems], &y[(size_t)s * out_elems]);",
            "    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();",
            "    long long check = 0;",
            "    for (size_t k = 0; k < y.size(); ++k) check += (long long)y[k];",
            f'    std::printf("{{\\"model\\": \\"{name}\\", \\"path\\": \\"cpu\\", \\"batch\\": %lld, \\"samples_per_s\\": %.6g, \\"checksum\\": %lld}}\\n", n, n / dt, check);',
            "    return 0;",
            "}",
            "",
            f"int fmlc_{name}_host_main(int argc, char** argv) {{",
            "    if (argc == 3 && std::string(argv[1]) == \"bench\") return fmlc_" + name + "_host_bench(std::atoll(argv[2]));",
            f'    if (argc != 5) {{ std::fprintf(stderr, "usage: %s raw|codes|float IN OUT N | bench N\\n", argv[0]); return 2; }}',
            "    const std::string mode = argv[1];",
            "    const char* in = argv[2];",
            "    const char* out = argv[3];",
            "    const long long n = std::atoll(argv[4]);",
            *cases,
            '    std::fprintf(stderr, "unknown mode %s\\n", argv[1]);',
            "    return 2;",
            "}",
            "",
            "#ifndef FMLC_NO_MAIN",
            f"int main(int argc, char** argv) {{ return fmlc_{name}_host_main(argc, argv); }}",
            "#endif",
            "",
        ]
    )


def print_tool(module: ModuleOp, name: str) -> str:
    """The GPU program: the C API over files (bit-exactness checks) and a throughput benchmark."""
    es = {e.kind.data: e for e in entries(module)}
    n_in, n_out = es["raw"].in_elems.value.data, es["raw"].out_elems.value.data
    tin, tout = entry_types(es["raw"])
    run_cases, bench_cases = [], []
    for kind in ("raw", "codes", "float", "quantize"):
        e = es[kind]
        ti, to = entry_types(e)
        fi = "int64_t" if kind == "raw" else "float"
        fo = "float" if kind == "float" else "int64_t"
        run_cases.append(f'    if (mode == "{kind}") return run_file<{fi}, {ti}, {fo}, {to}>({e.sym_name.data}, argv[2], argv[3], n);')
        if kind == "quantize":
            continue
        src = "xc" if kind == "raw" else "xf"
        dst = "yf" if kind == "float" else "yc"
        bench_cases.append(f'        bench("{kind}", [&](size_t m) {{ return {e.sym_name.data}({src}, {dst}, m, 0); }}, n);')
    return "\n".join(
        [
            f"// {name}_tool.cu: the model '{name}' on the GPU through its C API (generated by fmlc).",
            "//",
            f"//   {name}_tool raw|codes|float|quantize IN OUT N   run N samples (files as for {name}_host)",
            f"//   {name}_tool bench N...                  throughput at each batch size, one JSON line each",
            f"//   {name}_tool devices                     how many CUDA devices there are",
            "#include <cuda_runtime.h>",
            "",
            "#include <algorithm>",
            "#include <cstdio>",
            "#include <cstdlib>",
            "#include <string>",
            "#include <vector>",
            "",
            f'#include "fmlc_{name}.h"',
            "",
            f"static const int IN_ELEMS = {n_in}, OUT_ELEMS = {n_out};",
            "",
            "#define CHECK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) { \\",
            '    std::fprintf(stderr, "%s: %s\\n", #call, cudaGetErrorString(e_)); std::exit(1); } } while (0)',
            "",
            "template <typename FI, typename TI, typename FO, typename TO, typename F>",
            "static int run_file(F api, const char* in, const char* out, size_t n) {",
            "    std::vector<FI> xf(n * IN_ELEMS);",
            '    FILE* f = std::fopen(in, "rb");',
            '    if (!f || std::fread(xf.data(), sizeof(FI), xf.size(), f) != xf.size()) { std::fprintf(stderr, "cannot read %s\\n", in); return 1; }',
            "    std::fclose(f);",
            "    std::vector<TI> x(xf.begin(), xf.end());",
            "    std::vector<TO> y(n * OUT_ELEMS);",
            "    TI* dx = nullptr;",
            "    TO* dy = nullptr;",
            "    CHECK(cudaMalloc(&dx, std::max<size_t>(1, x.size()) * sizeof(TI)));",
            "    CHECK(cudaMalloc(&dy, std::max<size_t>(1, y.size()) * sizeof(TO)));",
            "    CHECK(cudaMemcpy(dx, x.data(), x.size() * sizeof(TI), cudaMemcpyHostToDevice));",
            "    CHECK(api(dx, dy, n, 0));",
            "    CHECK(cudaMemcpy(y.data(), dy, y.size() * sizeof(TO), cudaMemcpyDeviceToHost));",
            "    CHECK(cudaFree(dx));",
            "    CHECK(cudaFree(dy));",
            "    std::vector<FO> yf(y.begin(), y.end());",
            '    f = std::fopen(out, "wb");',
            '    if (!f || std::fwrite(yf.data(), sizeof(FO), yf.size(), f) != yf.size()) { std::fprintf(stderr, "cannot write %s\\n", out); return 1; }',
            "    std::fclose(f);",
            "    return 0;",
            "}",
            "",
            "// pseudo-random floats in [-4, 4) (an LCG), the same on every run",
            "__global__ void fill(float* x, size_t count) {",
            "    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {",
            "        unsigned s = (unsigned)(i * 2654435761u) * 1664525u + 1013904223u;",
            "        x[i] = (float)(s >> 8) / 16777216.0f * 8.0f - 4.0f;",
            "    }",
            "}",
            "",
            "template <typename F>",
            "static void bench(const char* path, F launch, size_t n) {",
            "    cudaEvent_t a, b;",
            "    CHECK(cudaEventCreate(&a));",
            "    CHECK(cudaEventCreate(&b));",
            "    CHECK(launch(n));  // warm-up (and the one-time grid sizing)",
            "    CHECK(cudaDeviceSynchronize());",
            "    int reps = 1;",
            "    float ms = 0.0f;",
            "    for (;;) {  // repeat until the timed span is long enough to trust",
            "        CHECK(cudaEventRecord(a));",
            "        for (int r = 0; r < reps; ++r) CHECK(launch(n));",
            "        CHECK(cudaEventRecord(b));",
            "        CHECK(cudaEventSynchronize(b));",
            "        CHECK(cudaEventElapsedTime(&ms, a, b));",
            "        if (ms > 50.0f || reps >= 1 << 14) break;",
            "        reps *= ms > 1.0f ? std::max(2, (int)(60.0f / ms)) : 16;",
            "    }",
            f'    std::printf("{{\\"model\\": \\"{name}\\", \\"path\\": \\"%s\\", \\"batch\\": %zu, \\"samples_per_s\\": %.6g, \\"reps\\": %d}}\\n", path, n, n * (double)reps / (ms * 1e-3), reps);',
            "    std::fflush(stdout);",
            "    CHECK(cudaEventDestroy(a));",
            "    CHECK(cudaEventDestroy(b));",
            "}",
            "",
            "int main(int argc, char** argv) {",
            '    if (argc == 2 && std::string(argv[1]) == "devices") {',
            "        int count = 0;",
            "        if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;",
            '        std::printf("%d\\n", count);',
            "        return 0;",
            "    }",
            '    if (argc >= 3 && std::string(argv[1]) == "bench") {',
            "        size_t most = 0;",
            "        for (int k = 2; k < argc; ++k) most = std::max(most, (size_t)std::atoll(argv[k]));",
            "        // every buffer at the largest batch must fit in 80% of the free device memory",
            "        size_t free_bytes = 0, total_bytes = 0;",
            "        CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));",
            f"        const size_t per_sample = IN_ELEMS * (sizeof(float) + sizeof({tin})) + OUT_ELEMS * (sizeof(float) + sizeof({tout}));",
            "        most = std::min(most, (size_t)(0.8 * free_bytes) / per_sample);",
            "        float* xf = nullptr;",
            "        float* yf = nullptr;",
            f"        {tin}* xc = nullptr;",
            f"        {tout}* yc = nullptr;",
            "        CHECK(cudaMalloc(&xf, most * IN_ELEMS * sizeof(float)));",
            "        CHECK(cudaMalloc(&yf, most * OUT_ELEMS * sizeof(float)));",
            f"        CHECK(cudaMalloc(&xc, most * IN_ELEMS * sizeof({tin})));",
            f"        CHECK(cudaMalloc(&yc, most * OUT_ELEMS * sizeof({tout})));",
            "        fill<<<1024, 256>>>(xf, most * IN_ELEMS);",
            "        CHECK(cudaGetLastError());",
            "        // valid input codes for the raw path: the floats, quantized on the device",
            f"        CHECK(fmlc_{name}_quantize(xf, xc, most, 0));",
            "        CHECK(cudaDeviceSynchronize());",
            "        for (int k = 2; k < argc; ++k) {",
            "            const size_t n = (size_t)std::atoll(argv[k]);",
            "            if (n > most) {",
            f'                std::printf("{{\\"model\\": \\"{name}\\", \\"batch\\": %zu, \\"skipped\\": \\"not enough device memory\\"}}\\n", n);',
            "                continue;",
            "            }",
            *bench_cases,
            "        }",
            "        CHECK(cudaFree(xf));",
            "        CHECK(cudaFree(yf));",
            "        CHECK(cudaFree(xc));",
            "        CHECK(cudaFree(yc));",
            "        return 0;",
            "    }",
            '    if (argc != 5) { std::fprintf(stderr, "usage: %s raw|codes|float IN OUT N | bench N... | devices\\n", argv[0]); return 2; }',
            "    const std::string mode = argv[1];",
            "    const size_t n = (size_t)std::atoll(argv[4]);",
            *run_cases,
            '    std::fprintf(stderr, "unknown mode %s\\n", argv[1]);',
            "    return 2;",
            "}",
            "",
        ]
    )


def cmake_project(name: str, arch: str) -> str:
    return "\n".join(
        [
            f"# Builds the fmlc-compiled model '{name}' (generated by fmlc).",
            "#   cmake -S . -B build [-DCMAKE_CUDA_ARCHITECTURES=90] && cmake --build build",
            "cmake_minimum_required(VERSION 3.18)",
            f"project(fmlc_{name} LANGUAGES CXX CUDA)",
            "",
            "if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)",
            f"  set(CMAKE_CUDA_ARCHITECTURES {arch})",
            "endif()",
            "set(CMAKE_CXX_STANDARD 17)",
            "set(CMAKE_CUDA_STANDARD 17)",
            "",
            "# the C API: fmlc_" + name + "_infer, _infer_codes, _infer_raw (see fmlc_" + name + ".h)",
            f"add_library(fmlc_{name} STATIC {name}_kernels.cu)",
            f"target_include_directories(fmlc_{name} PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}})",
            f"target_compile_options(fmlc_{name} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3 --Werror all-warnings>)",
            "",
            "# runs the C API on files, and measures throughput",
            f"add_executable({name}_tool {name}_tool.cu)",
            f"target_link_libraries({name}_tool PRIVATE fmlc_{name})",
            "",
            "# the same per-sample code on the CPU (no GPU needed): the bit-exactness reference build",
            f"add_executable({name}_host {name}_host.cpp)",
            f"target_compile_options({name}_host PRIVATE -O2 -ffp-contract=off)",
            "",
        ]
    )


def emit_sources(module: ModuleOp, name: str, arch: str = "90") -> dict[str, str]:
    """Every generated source of the model, by file name."""
    return {
        "fmlc_runtime.cuh": RUNTIME,
        f"{name}_model.cuh": print_model(module, name),
        f"{name}_kernels.cu": print_kernels(module, name),
        f"fmlc_{name}.h": print_header(module, name),
        f"{name}_host.cpp": print_host_program(module, name),
        f"{name}_tool.cu": print_tool(module, name),
        "CMakeLists.txt": cmake_project(name, arch),
    }


def main(argv: Iterable[str] | None = None) -> int:
    """Print the model header and the kernels of a cuda-dialect file (for lit tests)."""
    from fmlc.ir import parse_module

    args = list(sys.argv[1:] if argv is None else argv)
    text = open(args[0]).read() if args and args[0] != "-" else sys.stdin.read()
    module = parse_module(text)
    name = next((e.sym_name.data[len("fmlc_") :].rsplit("_infer", 1)[0] for e in entries(module)), "model")
    sys.stdout.write(print_model(module, name))
    if entries(module):
        sys.stdout.write(print_kernels(module, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
