"""``fmlc-opt``: parse, verify, transform and print fmlc IR, like ``mlir-opt`` / ``xdsl-opt``.

It is xDSL's driver with fmlc's dialects and passes registered (through the same
``xdsl.universe`` entry point that lets the stock ``xdsl-opt`` run them too).

    fmlc-opt model.mlir -p fxp-canonicalize,fxp-infer-precision
    fmlc-opt errors.mlir --verify-diagnostics --split-input-file
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.xdsl_opt_main import xDSLOptMain


class FmlcOptMain(xDSLOptMain):
    version_format: ClassVar[str] = "fmlc-opt (fmlc {fmlc_version}) built on xdsl {xdsl_version}"

    def __init__(self, args: Sequence[str] | None = None):
        super().__init__(description="fmlc modular optimizer driver: fmlc's dialects and passes on MLIR text", args=args)


def main(args: Sequence[str] | None = None) -> None:
    FmlcOptMain(args).run()


if __name__ == "__main__":
    main()
