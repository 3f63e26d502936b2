"""fmlc's conversions between levels, one a file, named SOURCE_to_TARGET (as CIRCT's XToY)."""

from collections.abc import Callable

from xdsl.passes import ModulePass


def _fxp_to_dataflow():
    from fmlc.lowering.fxp_to_dataflow import FxpToDataflow

    return FxpToDataflow


def _dataflow_to_cuda():
    from fmlc.lowering.dataflow_to_cuda import DataflowToCuda

    return DataflowToCuda


def _dataflow_to_hls():
    from fmlc.lowering.dataflow_to_hls import DataflowToHls

    return DataflowToHls


ALL_CONVERSIONS: dict[str, Callable[[], type[ModulePass]]] = {
    "dataflow-to-hls": _dataflow_to_hls,
    "dataflow-to-cuda": _dataflow_to_cuda,
    "fxp-to-dataflow": _fxp_to_dataflow,
    "dataflow-to-hw": lambda: __import__("fmlc.lowering.dataflow_to_hw", fromlist=["DataflowToHw"]).DataflowToHw,
}
