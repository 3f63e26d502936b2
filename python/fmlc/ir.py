"""Reading, writing and walking fmlc IR (MLIR text through xDSL)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, ModuleOp
from xdsl.dialects.func import Func, FuncOp, ReturnOp
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.printer import Printer


def make_context() -> Context:
    """A context with builtin, func and all of fmlc's dialects loaded."""
    from fmlc.dialects import ALL_DIALECTS

    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    for dialect in ALL_DIALECTS:
        ctx.load_dialect(dialect)
    return ctx


def parse_module(text: str, name: str = "<input>") -> ModuleOp:
    """Parse and verify MLIR text into a module."""
    module = Parser(make_context(), text, name).parse_module()
    module.verify()
    return module


def print_module(module: ModuleOp) -> str:
    out = io.StringIO()
    Printer(stream=out).print_op(module)
    return out.getvalue() + "\n"


def main_function(module: ModuleOp) -> FuncOp:
    """The model function: ``@main`` if present, else the only function."""
    funcs = [op for op in module.ops if isinstance(op, FuncOp)]
    for f in funcs:
        if f.sym_name.data == "main":
            return f
    if len(funcs) == 1:
        return funcs[0]
    raise ValueError(f"the module must hold one function or one named @main; it holds {[f.sym_name.data for f in funcs]}")


def body_ops(func: FuncOp) -> Iterator[Operation]:
    """The operations of a function's single block, terminator excluded."""
    for op in func.body.block.ops:
        if not isinstance(op, ReturnOp):
            yield op


def op_label(op: Operation) -> str:
    """How errors and reports name an operation: its ONNX node name when it has one."""
    name = op.attributes.get("name")
    return f"{op.name} '{name.data}'" if name is not None else op.name


def identifier(text: str) -> str:
    """A C or Verilog identifier from a layer name (ONNX names are free text)."""
    name = re.sub(r"\W", "_", text)
    return name if name and not name[0].isdigit() else f"l_{name}"


class UniqueNames:
    """Hands out names not handed out before: ``base``, else ``base_1``, ``base_2``, ..."""

    def __init__(self, taken: tuple[str, ...] = ()):
        self.taken = set(taken)

    def __call__(self, base: str) -> str:
        name, n = base, 1
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name


class FunctionBuilder:
    """Builds ``func.func @name`` one operation at a time, then wraps it in a module.

    ``b = FunctionBuilder("main", [input_type]); y = b.add(SomeOp(b.args[0], ...)).result;
    module = b.finish([y])``
    """

    def __init__(self, name: str, input_types, arg_names: list[str] | None = None):
        from xdsl.dialects.builtin import FunctionType
        from xdsl.ir import Block, Region

        self.block = Block(arg_types=list(input_types))
        if arg_names:
            for arg, hint in zip(self.block.args, arg_names):
                arg.name_hint = _ssa_name(hint)
        self.func = FuncOp(name, FunctionType.from_lists(list(input_types), []), Region(self.block))

    @property
    def args(self):
        return list(self.block.args)

    def add(self, op: Operation, name: str | None = None) -> Operation:
        """Append ``op``; ``name`` (an ONNX node name) is kept as its ``name`` attribute."""
        from xdsl.dialects.builtin import StringAttr

        if name:
            op.attributes["name"] = StringAttr(name)
        self.block.add_op(op)
        return op

    def finish(self, outputs) -> ModuleOp:
        from xdsl.dialects.builtin import FunctionType

        self.block.add_op(ReturnOp(*outputs))
        self.func.function_type = FunctionType.from_lists(
            [a.type for a in self.block.args], [v.type for v in outputs]
        )
        module = ModuleOp([self.func])
        module.verify()
        return module


def _ssa_name(hint: str) -> str | None:
    """A valid SSA name hint from an arbitrary string (ONNX tensor names are free text)."""
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_$.]", "_", hint)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "v" + cleaned
    return cleaned


def sync_signatures(module: ModuleOp) -> None:
    """After result types changed: make node results, node block arguments and function
    signatures agree with the values they carry again."""
    from xdsl.rewriter import Rewriter

    from fmlc.dialects.dataflow import NodeOp, YieldOp

    for op in module.walk():
        if isinstance(op, NodeOp):
            for arg, operand in zip(list(op.block.args), op.inputs):
                if arg.type != operand.type:
                    Rewriter.replace_value_with_new_type(arg, operand.type)
            term = op.block.last_op
            assert isinstance(term, YieldOp)
            for res, val in zip(list(op.outputs), term.values):
                if res.type != val.type:
                    Rewriter.replace_value_with_new_type(res, val.type)
    for op in module.ops:
        if isinstance(op, FuncOp) and not op.is_declaration:
            op.update_function_type()
