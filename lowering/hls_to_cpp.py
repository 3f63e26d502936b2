"""vhls -> C++: print ``vhls`` IR as Vitis HLS C++, walking the IR (as EmitC and ExportVerilog do).

Every construct of the output comes from an op: functions from ``vhls.func``, loops and their
directives from ``vhls.for``, arrays from ``vhls.alloca``, statements from stores and calls.
Pure ops (arithmetic, casts, loads, index math) print as expressions: inlined into the one
statement that uses them when nothing in between could change what they read, otherwise
bound to a ``const`` local.  Types print as the ``vhls.typedef`` names when there is one, else
in full (``ap_fixed<W, I, AP_Q, AP_O>``, modes always spelled out).

``emit_cpp(module)`` returns the firmware files; ``emit_host(module)`` the C API and the
testbench that drive the top function with integer codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import IndexType, IntegerType, ModuleOp
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue

from fmlc.dialects import hls
from fmlc.dialects.fxp import FixedType
from fmlc.fixed import FixedFormat
from fmlc.lowering.dataflow_to_hls import CPP_RESERVED, c_identifier

INDENT = "  "
MAX_LINE = 110

# C++ operator precedence (higher binds tighter)
PREC_TERNARY, PREC_LOR, PREC_LAND, PREC_BITXOR = 2, 3, 4, 6
PREC_EQ, PREC_REL, PREC_ADD, PREC_MUL, PREC_POSTFIX, PREC_PRIMARY = 8, 9, 11, 12, 14, 15

FIXED_BINARY = {hls.AddOp: ("+", PREC_ADD), hls.SubOp: ("-", PREC_ADD), hls.MulOp: ("*", PREC_MUL)}
INDEX_BINARY = {
    arith.AddiOp: ("+", PREC_ADD),
    arith.SubiOp: ("-", PREC_ADD),
    arith.MuliOp: ("*", PREC_MUL),
    arith.DivUIOp: ("/", PREC_MUL),
    arith.RemUIOp: ("%", PREC_MUL),
    arith.XOrIOp: ("^", PREC_BITXOR),
    arith.AndIOp: ("&&", PREC_LAND),
}
CMPI = {0: "==", 1: "!=", 2: "<", 3: "<=", 4: ">", 5: ">=", 6: "<", 7: "<=", 8: ">", 9: ">="}
CMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
EXPRESSIONS = (
    hls.ConstantOp,
    hls.CastOp,
    hls.AddOp,
    hls.SubOp,
    hls.MulOp,
    hls.CmpOp,
    hls.SelectOp,
    hls.BitsOp,
    hls.GetGlobalOp,
    hls.LoadOp,
    arith.ConstantOp,
    *INDEX_BINARY,
    arith.CmpiOp,
)
ALWAYS_INLINE = (hls.ConstantOp, hls.GetGlobalOp, arith.ConstantOp)
SIDE_EFFECTS = (hls.StoreOp, hls.ReadOp, hls.WriteOp, hls.CallOp, hls.ForOp, hls.IfOp)


class EmitError(ValueError):
    """The IR holds something the C++ printer cannot write; the message names it."""


def ap_type(fmt: FixedFormat) -> str:
    """``ap_fixed<W, I, AP_Q, AP_O>`` / ``ap_ufixed<...>``, modes always written out."""
    kind = "ap_fixed" if fmt.signed else "ap_ufixed"
    return f"{kind}<{fmt.width}, {fmt.int_bits}, AP_{fmt.rounding}, AP_{fmt.overflow}>"


def storage_ctype(bits: int) -> str:
    return {8: "int8_t", 16: "int16_t", 32: "int32_t", 64: "int64_t"}[bits]


# ============================================================================================
# Module-level: types, globals, functions, files
# ============================================================================================


class ModulePrinter:
    """Names and types shared by every function of one module."""

    def __init__(self, module: ModuleOp):
        self.module = module
        self.typedefs = [op for op in module.ops if isinstance(op, hls.TypedefOp)]
        self.globals = [op for op in module.ops if isinstance(op, hls.GlobalOp)]
        self.funcs = [op for op in module.ops if isinstance(op, hls.FuncOp)]
        tops = [f for f in self.funcs if f.top is not None]
        if len(tops) != 1:
            raise EmitError(f"the module needs exactly one vhls.func marked top, found {len(tops)}")
        self.top = tops[0]
        self.type_names: dict[Attribute, str] = {}
        for t in self.typedefs:
            self.type_names.setdefault(t.type, t.sym_name.data)
        self.global_names = {g.sym_name.data for g in self.globals} | {f.sym_name.data for f in self.funcs}
        self.global_names |= {t.sym_name.data for t in self.typedefs}
        for name in sorted(self.global_names):
            if c_identifier(name) != name:
                raise EmitError(f"symbol @{name} is not a C++ identifier")

    def type(self, t: Attribute) -> str:
        if isinstance(t, FixedType):
            return self.type_names.get(t) or ap_type(t.format)
        if isinstance(t, IndexType):
            return "int"
        if isinstance(t, IntegerType) and t.width.data == 1:
            return "bool"
        if isinstance(t, hls.BeatType):
            return f"fmlc::beat<{self.type(t.elem)}, {t.lanes.data}>"
        if isinstance(t, hls.StreamType):
            return f"hls::stream<{self.type(t.beat())}>"
        raise EmitError(f"no C++ type for {t}")

    def signature(self, func: hls.FuncOp, names: list[str] | None = None) -> str:
        names = names or port_names(func)
        params = []
        for k, (arg, name) in enumerate(zip(func.block.args, names)):
            t = arg.type
            if isinstance(t, hls.StreamType):
                params.append(f"{self.type(t)}& {name}")
            else:
                const = "const " if k < func.num_inputs.value.data else ""
                size = "".join(f"[{d}]" for d in t.get_shape())
                params.append(f"{const}{self.type(t.element_type)} {name}{size}")
        return f"void {func.sym_name.data}({', '.join(params)})"

    # ---- files -------------------------------------------------------------------------------

    def defines_h(self) -> str:
        top = self.top.sym_name.data
        guard = self.guard("defines")
        lines = [
            f"// {top}: fixed-point types and helpers. Generated by fmlc from the hls IR (hls.mlir); do not edit.",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            "#include <cstdint>",
            "",
            "// The ap_types headers are vendor code that warns about itself: silence their warnings,",
            "// not ours (the Makefile also includes them with -isystem).",
            "#pragma GCC diagnostic push",
            '#pragma GCC diagnostic ignored "-Wuninitialized"',
            '#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"',
            "#include <ap_fixed.h>",
            "#include <ap_int.h>",
            "#include <hls_stream.h>",
            "#pragma GCC diagnostic pop",
            "",
            "// HLS directives. Vitis HLS reads them when it synthesizes (__SYNTHESIS__); g++ does not",
            "// know them and warns under -Wall, so the C simulation leaves them out.",
            "#ifdef __SYNTHESIS__",
            "#define HLS_PRAGMA(x) _Pragma(#x)",
            "#else",
            "#define HLS_PRAGMA(x)",
            "#endif",
            "",
            "namespace fmlc {",
            "",
            "// One beat of a stream: every channel of one position (as hls4ml's nnet::array).",
            "template <class T, int N>",
            "struct beat {",
            "  T data[N];",
            "};",
            "",
            "// The value whose code (two's complement bits) is `code`. Constant arrays hold codes:",
            "// they compile fast and say exactly which bits every weight has. `V` is the raw integer",
            "// every ap_fixed is built on (in simulation and synthesis); assigning it keeps the low",
            "// T::width bits, as `value.range() = code` does, without the range proxy's cost.",
            "template <class T>",
            "inline T from_code(long long code) {",
            "  T value;",
            "  value.V = code;",
            "  return value;",
            "}",
            "",
            "}  // namespace fmlc",
            "",
            "// Every fixed-point type of the model, named after the first layer that uses it.",
        ]
        for t in self.typedefs:
            lines.append(f"typedef {ap_type(t.type.format)} {t.sym_name.data};")
        lines += ["", f"#endif  // {guard}", ""]
        return "\n".join(lines)

    def global_h(self, g: hls.GlobalOp) -> str:
        name = g.sym_name.data
        fmt = g.format
        guard = self.guard(f"weights_{name}")
        bits = g.value.get_element_type().width.data
        codes = g.codes()
        suffix = "LL" if bits == 64 else ""
        items = [f"{int(c)}{suffix}" for c in codes]
        body = _wrap_items(items, INDENT)
        return "\n".join(
            [
                f"// {name}: {codes.size} codes of {self.type(g.type.element_type)} ({ap_type(fmt)}), row-major.",
                f"// Value = code * 2^-{fmt.frac}; read with fmlc::from_code<{self.type(g.type.element_type)}>(...).",
                f"#ifndef {guard}",
                f"#define {guard}",
                "",
                f"static const {storage_ctype(bits)} {name}[{codes.size}] = {{",
                body,
                "};",
                "",
                f"#endif  // {guard}",
                "",
            ]
        )

    def function(self, func: hls.FuncOp) -> str:
        return FunctionPrinter(self, func).print()

    def guard(self, what: str) -> str:
        """An include guard unique to this model and file (several models may share a build)."""
        return f"FMLC_{self.top.sym_name.data.upper()}_{what.upper()}_H"

    def header(self, what: str, comment: str, body: list[str]) -> str:
        guard = self.guard(what)
        return "\n".join([comment, f"#ifndef {guard}", f"#define {guard}", "", *body, "", f"#endif  // {guard}", ""])

    def layers(self) -> list[hls.FuncOp]:
        return [f for f in self.funcs if f is not self.top]

    def files(self) -> dict[str, str]:
        top = self.top.sym_name.data
        files: dict[str, str] = {"firmware/defines.h": self.defines_h()}
        for g in self.globals:
            files[f"firmware/weights/{g.sym_name.data}.h"] = self.global_h(g)
        files["firmware/layers.h"] = self.header(
            "layers",
            f"// {top}: the layer functions the top function calls. Generated by fmlc; do not edit.",
            ['#include "defines.h"', ""] + [self.signature(f) + ";" for f in self.layers()],
        )
        for f in self.layers():
            weights = sorted({op.global_name.root_reference.data for op in f.walk() if isinstance(op, hls.GetGlobalOp)})
            files[f"firmware/layers/{f.sym_name.data}.cpp"] = "\n".join(
                [f"// {f.sym_name.data}: generated by fmlc from the hls IR (hls.mlir).", "", '#include "../layers.h"']
                + [f'#include "../weights/{w}.h"' for w in weights]
                + ["", self.function(f)]
            )
        files[f"firmware/{top}.h"] = self.header(
            "top", f"// {top}: the top function of the HLS project. Generated by fmlc; do not edit.", ['#include "defines.h"', "", self.signature(self.top) + ";"]
        )
        files[f"firmware/{top}.cpp"] = "\n".join(
            [f"// {top}: the top function. Generated by fmlc from the hls IR.", "", f'#include "{top}.h"', '#include "layers.h"', "", self.function(self.top)]
        )
        return files

    def build_units(self) -> list[list[str]]:
        """Firmware files in one or two groups, each compiled as one translation unit.

        The cost of compiling ap_fixed code is parsing the headers (about as much as
        ``SPLIT_COST`` instantiations) plus its template instantiations: one per distinct
        (operation, types) pair, shared within a translation unit.  A small model compiles
        fastest as one unit; a larger one is cut in two contiguous runs of layers that balance
        their instantiations, which build in parallel.  The top function goes with the first.
        """
        layers = self.layers()
        sigs = [_instantiations(f) for f in layers]
        names = [f"firmware/layers/{f.sym_name.data}.cpp" for f in layers]
        top = f"firmware/{self.top.sym_name.data}.cpp"
        if len(set().union(*sigs)) <= SPLIT_COST:
            return [names + [top]]
        best, cut = None, len(layers)
        for k in range(len(layers) + 1):
            a = len(set().union(*sigs[:k])) if k else 0
            b = len(set().union(*sigs[k:])) if k < len(layers) else 0
            cost = max(a, b)
            if best is None or cost < best:
                best, cut = cost, k
        return [names[:cut] + [top], names[cut:]]


SPLIT_COST = 48
"""Instantiations above which two parallel units build faster than one (measured with g++ 12)."""


def _instantiations(func: hls.FuncOp) -> set:
    """The distinct ap_fixed template instantiations a function needs (its compile cost)."""
    sigs = set()
    for op in func.walk():
        if isinstance(op, hls.AddOp | hls.SubOp | hls.MulOp | hls.CmpOp | hls.CastOp | hls.StoreOp | hls.LoadOp | hls.ConstantOp):
            sigs.add((op.name, *(v.type for v in op.operands), *(r.type for r in op.results)))
    return sigs


def port_names(func: hls.FuncOp) -> list[str]:
    if func.port_names is not None:
        return [c_identifier(a.data) for a in func.port_names.data]
    return [c_identifier(a.name_hint) if a.name_hint else f"arg{k}" for k, a in enumerate(func.block.args)]


def _wrap_items(items: list[str], indent: str) -> str:
    lines, cur = [], indent
    for item in items:
        piece = item + ", "
        if len(cur) + len(piece) > MAX_LINE and cur.strip():
            lines.append(cur.rstrip())
            cur = indent
        cur += piece
    if cur.strip():
        lines.append(cur.rstrip().rstrip(","))
    return "\n".join(lines)


# ============================================================================================
# Functions
# ============================================================================================


@dataclass
class _Expr:
    text: str
    prec: int


class FunctionPrinter:
    """Prints one ``vhls.func``: names every value, chooses what to inline, writes statements."""

    def __init__(self, mp: ModulePrinter, func: hls.FuncOp):
        self.mp = mp
        self.func = func
        self.taken: set[str] = set(CPP_RESERVED) | mp.global_names
        self.labels: set[str] = set()
        self.names: dict[SSAValue, str] = {}
        self.inlined: set[Operation] = set()
        self.merged: set[Operation] = set()  # statements printed as part of a declaration
        self.lines: list[str] = []
        self.counter = 0
        for arg, name in zip(func.block.args, port_names(func)):
            self.names[arg] = self._unique(name)
        self._choose_inlining(func.block)

    # ---- naming -------------------------------------------------------------------------------

    def _unique(self, hint: str, taken: set[str] | None = None) -> str:
        taken = self.taken if taken is None else taken
        base = c_identifier(hint)
        name, n = base, 1
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        return name

    def name(self, v: SSAValue) -> str:
        if v not in self.names:
            hint = v.name_hint
            if not hint or hint.isdigit():
                hint = f"t{self.counter}"
                self.counter += 1
            self.names[v] = self._unique(hint)
        return self.names[v]

    # ---- inlining -----------------------------------------------------------------------------

    def _choose_inlining(self, block: Block) -> dict[Operation, Operation]:
        """Decide, users first, which expression ops print inside the statement that uses them."""
        anchor: dict[Operation, Operation] = {}  # op -> statement it is printed in
        ops = list(block.ops)
        position = {op: k for k, op in enumerate(ops)}
        for op in reversed(ops):
            for region in op.regions:
                for inner in region.blocks:
                    anchor.update(self._choose_inlining(inner))
            anchor.setdefault(op, op)
            if not isinstance(op, EXPRESSIONS) or len(op.results) != 1:
                continue
            uses = list(op.results[0].uses)
            if not uses:
                self.inlined.add(op)  # nothing reads it: nothing to print
                continue
            if isinstance(op, ALWAYS_INLINE):
                self.inlined.add(op)
                continue
            hint = op.results[0].name_hint
            if len(uses) != 1 or (hint and not hint.isdigit()):
                continue  # read more than once, or named on purpose by the lowering: a local
            stmt = anchor.get(uses[0].operation, uses[0].operation)
            if isinstance(op, hls.LoadOp) and not _reads_constant(op):
                # a load moves to the statement that prints it: only within its block, past nothing that writes
                if stmt.parent_block() is not block or any(
                    isinstance(o, SIDE_EFFECTS) for o in ops[position[op] + 1 : position[stmt]]
                ):
                    continue
            self.inlined.add(op)
            anchor[op] = stmt
        return anchor

    # ---- expressions --------------------------------------------------------------------------

    def expr(self, v: SSAValue) -> _Expr:
        op = v.owner
        if isinstance(v, BlockArgument) or op not in self.inlined:
            return _Expr(self.name(v), PREC_PRIMARY)
        return self._expression(op)

    def wrap(self, v: SSAValue, prec: int, strict: bool = False) -> str:
        e = self.expr(v)
        tight = e.prec > prec if strict else e.prec >= prec
        return e.text if tight else f"({e.text})"

    def _expression(self, op: Operation) -> _Expr:
        if isinstance(op, hls.ConstantOp):
            return _Expr(self._constant(op), PREC_POSTFIX)
        if isinstance(op, arith.ConstantOp):
            n = op.value.value.data
            return _Expr(str(n), PREC_PRIMARY if n >= 0 else PREC_ADD - 1)
        if isinstance(op, hls.CastOp):
            return _Expr(f"{self.mp.type(op.result.type)}({self.expr(op.input).text})", PREC_POSTFIX)
        if type(op) in FIXED_BINARY or type(op) in INDEX_BINARY:
            sym, prec = FIXED_BINARY.get(type(op)) or INDEX_BINARY[type(op)]
            if prec == PREC_BITXOR:  # g++ -Wparentheses wants arithmetic inside ^ parenthesized
                return _Expr(f"{self.wrap(op.lhs, PREC_PRIMARY)} {sym} {self.wrap(op.rhs, PREC_PRIMARY)}", prec)
            return _Expr(f"{self.wrap(op.lhs, prec)} {sym} {self.wrap(op.rhs, prec, strict=True)}", prec)
        if isinstance(op, hls.CmpOp | arith.CmpiOp):
            sym = CMP[op.predicate.data] if isinstance(op, hls.CmpOp) else CMPI[op.predicate.value.data]
            prec = PREC_EQ if sym in ("==", "!=") else PREC_REL
            return _Expr(f"{self.wrap(op.lhs, prec + 1)} {sym} {self.wrap(op.rhs, prec + 1)}", prec)
        if isinstance(op, hls.SelectOp):
            c = self.wrap(op.cond, PREC_LOR)
            return _Expr(f"{c} ? {self.wrap(op.lhs, PREC_LOR)} : {self.wrap(op.rhs, PREC_LOR)}", PREC_TERNARY)
        if isinstance(op, hls.BitsOp):
            w = op.input.type.format.width
            return _Expr(f"{self.wrap(op.input, PREC_POSTFIX)}.range({w - 1}, 0).to_int()", PREC_POSTFIX)
        if isinstance(op, hls.GetGlobalOp):
            return _Expr(op.global_name.root_reference.data, PREC_PRIMARY)
        if isinstance(op, hls.LoadOp):
            return _Expr(self._access(op.array, op.index), PREC_POSTFIX)
        raise EmitError(f"no C++ expression for {op.name}")

    def _constant(self, op: hls.ConstantOp) -> str:
        fmt = op.result.type.format
        code = op.code.value.data
        t = self.mp.type(op.result.type)
        if fmt.width > 53:
            return f"fmlc::from_code<{t}>({code}LL)"
        value = code * 2.0**-fmt.frac  # exact: at most 53 significant bits
        if value == int(value) and abs(value) < 2**31:
            return f"{t}({int(value)})"
        return f"{t}({value!r})"

    def _access(self, array: SSAValue, index: SSAValue | None) -> str:
        t = array.type
        base = self.expr(array).text
        if isinstance(t, hls.BeatType):
            return f"{base}.data[{self.expr(index).text}]"
        if index is None:
            return base
        element = f"{base}[{self.expr(index).text}]"
        if isinstance(array.owner, hls.GetGlobalOp):
            return f"fmlc::from_code<{self.mp.type(t.element_type)}>({element})"
        return element

    # ---- statements ---------------------------------------------------------------------------

    def print(self) -> str:
        func = self.func
        out = []
        if func.comment is not None:
            out += [f"// {line}" for line in _wrap_comment(func.comment.data)]
        out.append(self.mp.signature(func, [self.names[a] for a in func.block.args]) + " {")
        self.lines = out
        self._block(func.block, 1)
        out.append("}")
        return "\n".join(out) + "\n"

    def emit(self, depth: int, text: str) -> None:
        self.lines.append(INDENT * depth + text)

    def pragma(self, depth: int, text: str) -> None:
        self.emit(depth, f"HLS_PRAGMA(HLS {text})")

    def _block(self, block: Block, depth: int) -> None:
        scope = set(self.taken)  # names declared in a block end with it (labels do not)
        for op in block.ops:
            if op in self.inlined or op in self.merged:
                continue
            handler = STATEMENTS.get(type(op))
            if handler is not None:
                handler(self, op, depth)
            elif isinstance(op, EXPRESSIONS):
                v = op.results[0]
                self.emit(depth, f"const {self.mp.type(v.type)} {self.name(v)} = {self._expression(op).text};")
            else:
                raise EmitError(f"no C++ statement for {op.name} in @{self.func.sym_name.data}")
        self.taken = scope

    def _store(self, op: hls.StoreOp, depth: int) -> None:
        self.emit(depth, f"{self._access(op.array, op.index)} = {self.expr(_uncast(self, op.value)).text};")

    def _alloca(self, op: hls.AllocaOp, depth: int) -> None:
        t = op.result.type
        name = self.name(op.result)
        first = op.next_op
        init = ""
        # `T v; v = x;` reads better as `T v = x;`, and `beat b; b = s.read();` as `beat b = s.read();`
        if isinstance(first, hls.StoreOp) and first.array is op.result and first.index is None and first not in self.inlined:
            init = f" = {self.expr(_uncast(self, first.value)).text}"
            self.merged.add(first)
        elif isinstance(first, hls.ReadOp) and first.beat is op.result:
            init = f" = {self.name(first.stream)}.read()"
            self.merged.add(first)
        if isinstance(t, hls.BeatType):
            self.emit(depth, f"{self.mp.type(t)} {name}{init};")
        else:
            size = "".join(f"[{d}]" for d in t.get_shape())
            self.emit(depth, f"{self.mp.type(t.element_type)} {name}{size}{init};")

    def _channel(self, op: hls.ChannelOp, depth: int) -> None:
        name = self.name(op.result)
        self.emit(depth, f'{self.mp.type(op.result.type)} {name}("{name}");')
        self.pragma(depth, f"STREAM variable={name} depth={op.depth.value.data}")

    def _for(self, op: hls.ForOp, depth: int) -> None:
        scope = set(self.taken)  # the counter lives in the loop
        iv = self.name(op.iv)
        lo, hi, st = (a.value.data for a in (op.lower, op.upper, op.step))
        step = f"++{iv}" if st == 1 else f"{iv} += {st}"
        # loop labels name the loops in HLS reports; C++ never jumps to them
        label = f"[[maybe_unused]] {self._unique(op.label.data, self.labels)}: " if op.label is not None else ""
        self.emit(depth, f"{label}for (int {iv} = {lo}; {iv} < {hi}; {step}) {{")
        if op.pipeline is not None:
            self.pragma(depth + 1, f"PIPELINE II={op.pipeline.value.data}")
        if op.unroll is not None:
            self.pragma(depth + 1, "UNROLL")
        self._block(op.block, depth + 1)
        self.emit(depth, "}")
        self.taken = scope

    def _if(self, op: hls.IfOp, depth: int) -> None:
        self.emit(depth, f"if ({self.expr(op.cond).text}) {{")
        self._block(op.block, depth + 1)
        self.emit(depth, "}")

    def _array_pragma(self, op: hls.ArrayPartitionOp | hls.ArrayReshapeOp, depth: int) -> None:
        kind = "ARRAY_PARTITION" if isinstance(op, hls.ArrayPartitionOp) else "ARRAY_RESHAPE"
        lanes = ".data" if isinstance(op.array.type, hls.BeatType) else ""
        text = f"{kind} variable={self.expr(op.array).text}{lanes} {op.kind.data}"
        if op.factor is not None:
            text += f" factor={op.factor.value.data}"
        if op.dim is not None:
            text += f" dim={op.dim.value.data}"
        self.pragma(depth, text)

    def _interface(self, op: hls.InterfaceOp, depth: int) -> None:
        port = self.name(op.port) if op.port is not None else "return"
        self.pragma(depth, f"INTERFACE mode={op.mode.data} port={port}")


def _wrap_comment(text: str) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > MAX_LINE - 3:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return lines + ([cur] if cur else [])


def _uncast(p: FunctionPrinter, value: SSAValue) -> SSAValue:
    """``a[i] = T(x)`` converts exactly as ``a[i] = x`` does: leave an inlined cast to the assignment."""
    if isinstance(value.owner, hls.CastOp) and value.owner in p.inlined:
        return value.owner.input
    return value


def _reads_constant(op: Operation) -> bool:
    return isinstance(op, hls.LoadOp) and isinstance(op.array.owner, hls.GetGlobalOp)


STATEMENTS: dict[type, Callable[[FunctionPrinter, Operation, int], None]] = {
    hls.StoreOp: FunctionPrinter._store,
    hls.AllocaOp: FunctionPrinter._alloca,
    hls.ChannelOp: FunctionPrinter._channel,
    hls.ForOp: FunctionPrinter._for,
    hls.IfOp: FunctionPrinter._if,
    hls.ReadOp: lambda p, op, d: p.emit(d, f"{p.name(op.beat)} = {p.name(op.stream)}.read();"),
    hls.WriteOp: lambda p, op, d: p.emit(d, f"{p.name(op.stream)}.write({p.name(op.beat)});"),
    hls.CallOp: lambda p, op, d: p.emit(d, f"{op.callee.root_reference.data}({', '.join(p.expr(a).text for a in op.args)});"),
    hls.CommentOp: lambda p, op, d: p.emit(d, f"// {op.text.data}"),
    hls.InterfaceOp: FunctionPrinter._interface,
    hls.ArrayPartitionOp: FunctionPrinter._array_pragma,
    hls.ArrayReshapeOp: FunctionPrinter._array_pragma,
    hls.PipelineOp: lambda p, op, d: p.pragma(d, f"PIPELINE II={op.ii.value.data}"),
    hls.DataflowOp: lambda p, op, d: p.pragma(d, "DATAFLOW"),
    hls.InlineOffOp: lambda p, op, d: p.pragma(d, "INLINE off"),
    hls.ReturnOp: lambda p, op, d: None,
    hls.YieldOp: lambda p, op, d: None,
}


def emit_cpp(module: ModuleOp) -> dict[str, str]:
    """The firmware: ``firmware/{defines.h, layers.h, layers.cpp, TOP.h, TOP.cpp, weights/*.h}``."""
    return ModulePrinter(module).files()


# ============================================================================================
# Host side: the C API of the C simulation and the testbench
# ============================================================================================


@dataclass
class Port:
    """One port of the top function, as the host sees it: a tensor of integer codes."""

    name: str
    fmt: FixedFormat
    size: int
    lanes: int | None  # beats of `lanes` values when the port is a stream

    @property
    def ctype(self) -> str:
        return f"ap_{'' if self.fmt.signed else 'u'}int<{self.fmt.width}>"


def top_ports(module: ModuleOp) -> tuple[list[Port], list[Port]]:
    mp = ModulePrinter(module)
    top = mp.top
    ports = []
    for arg, name in zip(top.block.args, port_names(top)):
        t = arg.type
        if isinstance(t, hls.StreamType):
            fmt, lanes = t.format, t.lanes.data
            size = None
        else:
            fmt, lanes = t.element_type.format, None
            size = int(np.prod(t.get_shape()))
        if fmt.width > (64 if fmt.signed else 63):
            raise EmitError(f"port '{name}' of type {fmt} has codes wider than 64 bits: the C simulation passes codes as int64")
        ports.append(Port(name, fmt, size or 0, lanes))
    n = top.num_inputs.value.data
    return ports[:n], ports[n:]


def emit_host(module: ModuleOp, sizes: tuple[list[int], list[int]]) -> dict[str, str]:
    """``bridge.cpp`` (C API: codes in, codes out) and ``TOP_test.cpp`` (the file testbench).

    ``sizes`` gives the number of codes per sample of every input and output (for streams,
    the port type only says how many lanes a beat has).
    """
    mp = ModulePrinter(module)
    top = mp.top.sym_name.data
    ins, outs = top_ports(module)
    for port, n in zip(ins + outs, sizes[0] + sizes[1]):
        port.size = n
    files = {"bridge.cpp": _bridge(mp, top, ins, outs), f"{top}_test.cpp": _testbench(top, ins, outs)}
    units = mp.build_units()
    for k, group in enumerate(units):
        sources = [*group, "bridge.cpp"] if k == len(units) - 1 else group
        files[f"csim/unit{k}.cpp"] = "\n".join(
            [
                f"// C-simulation build unit {k} of {top}: these sources compile as one translation unit, so the",
                "// ap_types headers are parsed once for them" + (", and the units build in parallel." if len(units) > 1 else "."),
                *(f'#include "../{s}"' for s in sources),
                "",
            ]
        )
    return files


def api_name(top: str) -> str:
    """The C API's entry point, named after the model so that several models can share a program."""
    return f"fmlc_{top}_run"


def _bridge(mp: ModulePrinter, top: str, ins: list[Port], outs: list[Port]) -> str:
    # the ports keep their names; every other local ends in "_", which no port name does
    lines = [
        f"// C API of the C simulation of {top}: integer codes in, integer codes out, so the host",
        "// passes and checks exact values. Generated by fmlc; do not edit.",
        "#include <cstdint>",
        "",
        f'#include "firmware/{top}.h"',
        "",
        "namespace {",
        "",
        "// One sample: codes -> ap_fixed ports, run the top function, ports -> codes.",
        "void run_one(const int64_t* const* in_, int64_t* const* out_, int64_t s_) {",
    ]
    body: list[str] = []
    for k, p in enumerate(ins):
        t = mp.type(FixedType.get(p.fmt))
        if p.lanes is None:
            body += [f"{t} {p.name}[{p.size}];", f"for (int i_ = 0; i_ < {p.size}; ++i_) {p.name}[i_] = fmlc::from_code<{t}>(in_[{k}][s_ * {p.size} + i_]);"]
        else:
            beat = f"fmlc::beat<{t}, {p.lanes}>"
            body += [
                f'hls::stream<{beat}> {p.name}("{p.name}");',
                f"for (int i_ = 0; i_ < {p.size}; i_ += {p.lanes}) {{",
                f"  {beat} b_;",
                f"  for (int c_ = 0; c_ < {p.lanes}; ++c_) b_.data[c_] = fmlc::from_code<{t}>(in_[{k}][s_ * {p.size} + i_ + c_]);",
                f"  {p.name}.write(b_);",
                "}",
            ]
    for p in outs:
        t = mp.type(FixedType.get(p.fmt))
        if p.lanes is None:
            body.append(f"{t} {p.name}[{p.size}];")
        else:
            body.append(f'hls::stream<fmlc::beat<{t}, {p.lanes}>> {p.name}("{p.name}");')
    body.append(f"{top}({', '.join(p.name for p in ins + outs)});")
    for k, p in enumerate(outs):
        t = mp.type(FixedType.get(p.fmt))
        # the code: the value's bits, sign-extended when the type is signed
        code = f"(int64_t){p.ctype}({{v}}.range({p.fmt.width - 1}, 0)).to_int64()"
        if p.lanes is None:
            body.append(f"for (int i_ = 0; i_ < {p.size}; ++i_) out_[{k}][s_ * {p.size} + i_] = {code.format(v=f'{p.name}[i_]')};")
        else:
            body += [
                f"for (int i_ = 0; i_ < {p.size}; i_ += {p.lanes}) {{",
                f"  const fmlc::beat<{t}, {p.lanes}> b_ = {p.name}.read();",
                f"  for (int c_ = 0; c_ < {p.lanes}; ++c_) out_[{k}][s_ * {p.size} + i_ + c_] = {code.format(v='b_.data[c_]')};",
                "}",
            ]
    lines += [INDENT + line for line in body]
    lines += [
        "}",
        "",
        "}  // namespace",
        "",
        f"// {api_name(top)}: n samples; inputs[k] holds n x (codes of input k), outputs[k] likewise. Returns n.",
        f'extern "C" int64_t {api_name(top)}(const int64_t* const* inputs, int64_t* const* outputs, int64_t n) {{',
        "  for (int64_t s = 0; s < n; ++s) run_one(inputs, outputs, s);",
        "  return n;",
        "}",
        "",
    ]
    return "\n".join(lines)


def _testbench(top: str, ins: list[Port], outs: list[Port]) -> str:
    api = api_name(top)
    in_sizes = ", ".join(str(p.size) for p in ins)
    out_sizes = ", ".join(str(p.size) for p in outs)
    return f"""// Testbench of {top}: reads samples of integer codes, runs the top function on each, writes the
// output codes and, given expected codes, compares them bit for bit. Generated by fmlc.
//
//   {top}_csim [inputs.txt] [outputs.txt] [expected.txt]
//
// One sample a line: the codes of every input in port order (outputs: every output).
// Defaults: tb_data/inputs.txt, tb_data/outputs.txt, tb_data/expected.txt (if present).
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int64_t {api}(const int64_t* const* inputs, int64_t* const* outputs, int64_t n);

namespace {{

const int kInputSizes[] = {{{in_sizes}}};
const int kOutputSizes[] = {{{out_sizes}}};
const int kInputs = {len(ins)};
const int kOutputs = {len(outs)};

bool read_line(std::istream& in, std::vector<int64_t>& codes) {{
  std::string line;
  while (std::getline(in, line)) {{
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    codes.clear();
    int64_t c;
    while (words >> c) codes.push_back(c);
    return true;
  }}
  return false;
}}

}}  // namespace

int main(int argc, char** argv) {{
  const char* in_path = argc > 1 ? argv[1] : "tb_data/inputs.txt";
  const char* out_path = argc > 2 ? argv[2] : "tb_data/outputs.txt";
  const char* expect_path = argc > 3 ? argv[3] : "tb_data/expected.txt";
  std::ifstream in(in_path);
  if (!in) {{
    std::fprintf(stderr, "{top}_csim: cannot read %s\\n", in_path);
    return 2;
  }}
  std::ofstream out(out_path);
  std::ifstream expect(expect_path);
  int in_total = 0, out_total = 0;
  for (int k = 0; k < kInputs; ++k) in_total += kInputSizes[k];
  for (int k = 0; k < kOutputs; ++k) out_total += kOutputSizes[k];
  std::vector<int64_t> codes, results(out_total), wanted;
  long samples = 0, mismatches = 0;
  while (read_line(in, codes)) {{
    if ((int)codes.size() != in_total) {{
      std::fprintf(stderr, "{top}_csim: sample %ld has %zu codes, expected %d\\n", samples, codes.size(), in_total);
      return 2;
    }}
    const int64_t* inputs[kInputs];
    int64_t* outputs[kOutputs];
    for (int k = 0, at = 0; k < kInputs; at += kInputSizes[k], ++k) inputs[k] = codes.data() + at;
    for (int k = 0, at = 0; k < kOutputs; at += kOutputSizes[k], ++k) outputs[k] = results.data() + at;
    {api}(inputs, outputs, 1);
    for (int i = 0; i < out_total; ++i) out << results[i] << (i + 1 < out_total ? ' ' : '\\n');
    if (expect && read_line(expect, wanted) && wanted != results) ++mismatches;
    ++samples;
  }}
  std::printf("{top}_csim: %ld samples", samples);
  if (expect) std::printf(", %ld differ from %s", mismatches, expect_path);
  std::printf("\\n");
  return mismatches ? 1 : 0;
}}
"""


# ============================================================================================
# Command line: hls IR (a file or stdin) -> C++ on stdout, for FileCheck tests and inspection
# ============================================================================================


def main(argv: list[str] | None = None) -> int:
    """``python -m fmlc.lowering.hls_to_cpp [IR.mlir] [--file PATH]``: print the firmware.

    Every file is printed after a ``// ----- PATH`` line, or only ``--file PATH``.
    """
    import argparse
    import sys

    from xdsl.dialects.arith import Arith
    from xdsl.parser import Parser
    from xdsl.utils.exceptions import ParseError

    from fmlc.ir import make_context

    parser = argparse.ArgumentParser(prog="python -m fmlc.lowering.hls_to_cpp", description="print hls IR as Vitis HLS C++")
    parser.add_argument("input", nargs="?", help="vhls-dialect IR (default: stdin)")
    parser.add_argument("--file", help="print only this file of the firmware (e.g. firmware/layers/dense_1.cpp)")
    args = parser.parse_args(argv)
    text = open(args.input).read() if args.input else sys.stdin.read()
    ctx = make_context()
    ctx.load_dialect(Arith)
    try:
        module = Parser(ctx, text, args.input or "<stdin>").parse_module()
        module.verify()
        files = emit_cpp(module)
    except (ParseError, EmitError, ValueError) as err:
        print(f"hls_to_cpp: error: {err}", file=sys.stderr)
        return 1
    if args.file:
        if args.file not in files:
            print(f"hls_to_cpp: error: no file {args.file}; the firmware has {', '.join(sorted(files))}", file=sys.stderr)
            return 1
        sys.stdout.write(files[args.file])
        return 0
    for path in sorted(files):
        sys.stdout.write(f"// ----- {path}\n{files[path]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
