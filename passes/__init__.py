"""fmlc's passes, one a file; ``ALL_PASSES`` maps each pass name to a loader (as xDSL does)."""

from collections.abc import Callable

from xdsl.passes import ModulePass


def _canonicalize():
    from fmlc.passes.canonicalize import Canonicalize

    return Canonicalize


def _infer_precision():
    from fmlc.passes.infer_precision import InferPrecision

    return InferPrecision


ALL_PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "fxp-canonicalize": _canonicalize,
    "fxp-infer-precision": _infer_precision,
    "rtl-adder-graph": lambda: __import__("fmlc.passes.adder_graph", fromlist=["AdderGraph"]).AdderGraph,
}
