"""fmlc's conversions between levels, one a file, named SOURCE_to_TARGET (as CIRCT's XToY)."""

from collections.abc import Callable

from xdsl.passes import ModulePass


def _fxp_to_dataflow():
    from fmlc.lowering.fxp_to_dataflow import FxpToDataflow

    return FxpToDataflow


ALL_CONVERSIONS: dict[str, Callable[[], type[ModulePass]]] = {
    "fxp-to-dataflow": _fxp_to_dataflow,
}
