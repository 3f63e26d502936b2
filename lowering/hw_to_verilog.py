"""hw -> Verilog: CIRCT's ExportVerilog on the MLIR text of hw/comb/seq modules.

CIRCT comes from the ``pycde`` wheel (``pycde.circt``).  Its native libraries must not share
a process with the separate ``circt`` wheel (they segfault together): when that wheel is
installed, the export runs in a child process; otherwise in this one (faster).

The pipeline:

    canonicalize, cse               constant folding (padding zeros, constant-weight taps)
    lower-seq-to-sv                 seq.compreg -> always_ff
    hw-legalize-modules             hw.array_get on constants -> case statements
    prettify-verilog                readable expressions

with lowering options ``locationInfoStyle=none`` (no source locations: the output is the
same on every machine), ``disallowLocalVariables`` and ``disallowPackedArrays`` (Yosys 0.23
reads no packed arrays, and Verilator 5.006 mis-simulates them).  ExportVerilog reports what
it cannot emit on stderr and writes nothing for it, so any diagnostic is an error here.
"""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys

LOWERING_OPTIONS = "locationInfoStyle=none,disallowLocalVariables,disallowPackedArrays"
PIPELINE = "builtin.module(canonicalize,cse,lower-seq-to-sv,hw.module(hw-legalize-modules),canonicalize,hw.module(prettify-verilog))"


class ExportError(RuntimeError):
    """CIRCT rejected the hw IR or could not emit part of it."""


def export_verilog(mlir_text: str, timeout: float = 600.0) -> str:
    """The Verilog of every module in ``mlir_text`` (hw/comb/seq dialects), via CIRCT."""
    if importlib.util.find_spec("pycde") is None:
        raise ExportError("the Verilog target needs CIRCT from the pycde wheel: `pip install pycde==0.12.1`")
    if importlib.util.find_spec("circt") is None:  # no second CIRCT can ever load here: stay in-process
        return _export_here(mlir_text)
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__)],  # the file alone: no fmlc imports in the child
        input=mlir_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0 or proc.stderr.strip():
        raise ExportError(f"CIRCT export failed (exit {proc.returncode}):\n{proc.stderr.strip()[-4000:]}")
    return proc.stdout


def _export_here(text: str) -> str:
    import pycde.circt as circt
    from pycde.circt import ir, passmanager

    diagnostics: list[str] = []

    def collect(d) -> bool:  # every diagnostic is a failure: ExportVerilog skips what it reports
        diagnostics.append(f"{d.severity}: {d.message}")
        return True

    with ir.Context() as ctx, ir.Location.unknown():
        ctx.enable_multithreading(False)  # small modules: threads cost more than they give
        circt.register_dialects(ctx)
        handler = ctx.attach_diagnostic_handler(collect)
        try:
            module = ir.Module.parse(text)
            module.operation.attributes["circt.loweringOptions"] = ir.StringAttr.get(LOWERING_OPTIONS)
            passmanager.PassManager.parse(PIPELINE).run(module.operation)
            out = io.StringIO()
            circt.export_verilog(module, out)
        except Exception as err:
            raise ExportError("; ".join(diagnostics) or str(err)) from None
        finally:
            handler.detach()
        if diagnostics:
            raise ExportError("; ".join(diagnostics))
        return out.getvalue()


def main() -> None:
    text = sys.stdin.read()
    try:
        verilog = _export_here(text)
    except Exception as err:  # CIRCT raises plain exceptions carrying its diagnostics
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(verilog)


if __name__ == "__main__":
    main()
