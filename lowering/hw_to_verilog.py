"""hw -> Verilog: CIRCT's passes and ExportVerilog on a design built through its bindings.

The pipeline:

    canonicalize, cse               constant folding (padding zeros, constant-weight taps),
                                    shared extracts and sign extensions, dead logic
    lower-seq-to-sv                 seq.compreg -> always_ff
    hw-legalize-modules             hw.array_get on constants -> case statements
    canonicalize, prettify-verilog  readable expressions

with lowering options ``locationInfoStyle=none`` (no source locations: the output is the
same on every machine), ``disallowLocalVariables`` and ``disallowPackedArrays`` (Yosys 0.23
reads no packed arrays, and Verilator 5.006 mis-simulates them).  ExportVerilog reports what
it cannot emit as a diagnostic and writes nothing for it, so any diagnostic is an error here.
"""

from __future__ import annotations

import io

from fmlc.lowering.hw_builder import CirctDesign, circt

LOWERING_OPTIONS = "locationInfoStyle=none,disallowLocalVariables,disallowPackedArrays"
OPTIMIZE = "builtin.module(canonicalize,cse)"
TO_SV = "builtin.module(lower-seq-to-sv,hw.module(hw-legalize-modules),canonicalize,hw.module(prettify-verilog))"


class ExportError(RuntimeError):
    """CIRCT rejected the hw IR or could not emit part of it."""


def export_design(design: CirctDesign) -> str:
    """The Verilog of every module of ``design`` (its module is lowered in place)."""
    return _export(design.context, design.root)


def export_verilog(mlir_text: str) -> str:
    """The Verilog of every module in ``mlir_text`` (hw/comb/seq, custom or generic form)."""
    bindings = circt()
    ir = bindings.ir
    context = ir.Context()
    context.enable_multithreading(False)
    bindings.register_dialects(context)
    with _diagnostics(context) as errors:
        try:
            module = ir.Module.parse(mlir_text, context)
        except Exception as err:
            raise ExportError("; ".join(errors) or str(err)) from None
    return _export(context, module)


def _export(context, module) -> str:
    bindings = circt()
    ir, passmanager = bindings.ir, bindings.passmanager
    with _diagnostics(context) as errors:
        try:
            with context:
                module.operation.attributes["circt.loweringOptions"] = ir.StringAttr.get(LOWERING_OPTIONS)
                passmanager.PassManager.parse(OPTIMIZE).run(module.operation)
                passmanager.PassManager.parse(TO_SV).run(module.operation)
            out = io.StringIO()
            bindings.export_verilog(module, out)
        except Exception as err:  # CIRCT raises plain exceptions carrying its diagnostics
            raise ExportError("; ".join(errors) or str(err)) from None
        if errors:
            raise ExportError("; ".join(errors))
    return out.getvalue()


class _diagnostics:
    """Collects every diagnostic of a context while open (each one is a failure here)."""

    def __init__(self, context):
        self.context = context
        self.errors: list[str] = []

    def __enter__(self) -> list[str]:
        def collect(d) -> bool:
            self.errors.append(f"{d.severity}: {d.message}")
            return True

        self.handler = self.context.attach_diagnostic_handler(collect)
        return self.errors

    def __exit__(self, *exc) -> None:
        self.handler.detach()
