"""``fmlc-opt``: parse, verify, transform and print fmlc IR, like ``mlir-opt`` / ``xdsl-opt``.

It is xDSL's driver with fmlc's dialects and passes registered (through the same
``xdsl.universe`` entry point that lets the stock ``xdsl-opt`` run them too), behind fmlc's
error boundary (``fmlc.errors``): an unknown pass, a bad pass option, a parse error, a
verifier failure (located: ``FILE:LINE:COL`` and the op, never the whole module) or a
missing file ends with ``fmlc: error: ...`` and exit status 2.  ``-o FILE`` is written whole
or not at all.  ``--verify-diagnostics`` and ``--parsing-diagnostics`` keep xDSL's behaviour
(the diagnostic on stdout, exit status 0) for FileCheck tests.

    fmlc-opt model.mlir -p fxp-canonicalize,fxp-infer-precision
    fmlc-opt errors.mlir --verify-diagnostics --split-input-file
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from collections.abc import Sequence
from typing import ClassVar

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.utils.arg_spec import parse_spec
from xdsl.utils.diagnostic import Diagnostic
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError, ShrinkException
from xdsl.xdsl_opt_main import xDSLOptMain

from fmlc import __version__
from fmlc.errors import EXIT_USAGE, UserError, run_command


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(EXIT_USAGE, f"fmlc: error: fmlc-opt: {message} (see `fmlc-opt --help`)\n")


class FmlcOptMain(xDSLOptMain):
    version_format: ClassVar[str] = f"fmlc-opt (fmlc {__version__}) built on xdsl {{xdsl_version}}"

    def __init__(self, args: Sequence[str] | None = None):
        # xDSLOptMain.__init__, with fmlc's argument parser (its errors in fmlc's format)
        self.available_frontends = {}
        self.available_passes = {}
        self.available_targets = {}
        self.spans = {}
        self.ctx = Context()
        self.register_all_dialects()
        self.register_all_frontends()
        self.register_all_passes()
        self.register_all_targets()
        parser = _Parser(prog="fmlc-opt", description="fmlc modular optimizer driver: fmlc's dialects and passes on MLIR text")
        self.register_all_arguments(parser)
        parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error (also FMLC_DEBUG=1)")
        self.args = parser.parse_args(args=args)
        if parse_spec(self.args.target).name not in self.available_targets:
            parser.error(f"argument -t/--target: invalid choice: '{self.args.target}' (choose from {', '.join(self.available_targets)})")
        self.ctx.allow_unregistered = self.args.allow_unregistered_dialect
        if self.args.disable_verify:
            Attribute.__post_init__ = lambda self: None
        if self.args.syntax_highlight:
            Diagnostic.colored = True
        self.setup_pipeline()

    # -- input ------------------------------------------------------------------------------

    def register_all_dialects(self):
        """xDSL's universe, with hw and seq shaped as CIRCT defines them (fmlc.universe.CIRCT_SHAPED)."""
        from fmlc.universe import dialect_factories

        for name, factory in dialect_factories().items():
            self.ctx.register_dialect(name, factory)

    def register_all_frontends(self):
        from fmlc.diagnostics import LocatingParser

        def parse_mlir(stream):
            data = stream.read()
            try:
                text = data.decode("utf-8") if isinstance(data, bytes) else data
            except UnicodeDecodeError as err:
                raise UserError(f"{self.get_input_name()}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start})") from None
            parser = LocatingParser(self.ctx, text, self.get_input_name())
            module = parser.parse_module(not self.args.no_implicit_module)
            self.spans = parser.spans
            return module

        self.available_frontends["mlir"] = parse_mlir

    def prepare_input(self):
        from fmlc.errors import os_message

        try:
            chunks, extension = super().prepare_input()
        except OSError as err:
            raise UserError(os_message(err, self.args.input_file)) from None
        except ValueError as err:  # an unknown file extension
            raise UserError(f"{self.args.input_file}: {err} (give -f mlir for MLIR text)") from None
        return chunks, extension

    # -- passes -----------------------------------------------------------------------------

    def setup_pipeline(self):
        """The pass pipeline; unknown passes and bad options are the user's errors.  Between
        passes the module is verified, a failure located and named after the pass."""
        from fmlc import diagnostics

        def callback(previous: ModulePass | None, module: ModuleOp, following: ModulePass | None) -> None:
            if not self.args.disable_verify:
                if self.args.verify_diagnostics:
                    module.verify()  # xDSL's diagnostic (the module with the message), for FileCheck
                else:
                    diagnostics.verify(module, self.spans, after=previous.name if previous else None)
            if previous and following and self.args.print_between_passes:
                print(f"IR after {previous.name}:")
                Printer(stream=sys.stdout).print_op(module)
                print("\n\n\n")

        try:
            self.pipeline = PassPipeline.parse_spec(self.available_passes, self.args.passes, callback)
        except ArgSpecParseError as err:
            raise UserError(f"-p: {err}") from None
        except (ValueError, TypeError) as err:
            from fmlc.universe import FMLC_UNIVERSE

            known = ", ".join(sorted(FMLC_UNIVERSE.all_passes))
            hint = f" (fmlc's passes: {known}; xDSL's are listed by --help)" if "Unrecognized passes" in str(err) else ""
            raise UserError(f"-p '{self.args.passes}': {err}{hint}") from None

    # -- the run ----------------------------------------------------------------------------

    def run(self):
        """As xDSL's ``run``; output to ``-o`` is written whole, or not at all."""
        from fmlc.outputs import check_destination, write_file

        if self.args.output_file is not None:
            check_destination(self.args.output_file, "file")
        chunks, extension = self.prepare_input()
        out = io.StringIO() if self.args.output_file is not None else sys.stdout
        try:
            for i, (chunk, offset) in enumerate(chunks):
                try:
                    if i > 0:
                        out.write("// -----\n")
                    module = self.parse_chunk(chunk, extension, offset)
                    if module is not None:
                        self.apply_passes(module)
                        out.write(self.output_resulting_program(module))
                    out.flush()
                except ParseError as err:
                    err.span = dataclasses.replace(err.span, line_offset=offset)
                    if not self.args.parsing_diagnostics:
                        raise
                    print(err)
                except DiagnosticException as err:
                    if not self.args.verify_diagnostics:
                        from fmlc.diagnostics import first_lines

                        raise UserError(f"{self.get_input_name()}: {first_lines(str(err))}") from None
                    print(err)
                    for note in getattr(err, "__notes__", ()):
                        print(note)
                finally:
                    chunk.close()
        except ShrinkException:
            print("Success, can shrink")
            sys.exit(0)
        if self.args.shrink:
            print("Failure, can't shrink")
            sys.exit(1)
        if self.args.output_file is not None:
            write_file(self.args.output_file, out.getvalue())


def main(args: Sequence[str] | None = None) -> int:
    """Run ``fmlc-opt``; returns the exit status (0, 2 bad input, 70 internal error)."""
    argv = sys.argv[1:] if args is None else list(args)
    try:
        return run_command(lambda: FmlcOptMain(argv).run(), debug="--debug" in argv)
    except SystemExit as done:  # --help, --version, a usage error (already printed), --shrink
        return done.code if isinstance(done.code, int) else EXIT_USAGE


def console_main() -> None:
    """Entry point of the ``fmlc-opt`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
