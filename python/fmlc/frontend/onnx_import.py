"""ONNX and QONNX models, as exported, into fxp IR.

``import_model(path, config)`` reads the file, cleans it (``normalize``), and walks the nodes in
order, building one fxp operation (or a few) per node.  The ops are grouped by family, as
onnx-mlir does: the model boundary (``ops_boundary``), quantizers (``ops_quant``), linear layers
(``ops_linear``), elementwise ops (``ops_elementwise``), float chains (``chains``), data movement (``ops_movement``) and pooling (``ops_pool``), on the shared
``ImporterCore``.

The rule for models with any QONNX quantizer (docs/frontend.md): every value fmlc computes is
exact fixed point; or an exact replacement of a float subgraph, computed with the reference's
own float32 semantics (tables, thresholds); or, where the reference itself rounds in float32
before a decision, exact integers with the possible disagreement stated; or the model is
refused naming the node.  The configured float precision never applies inside such a model.
``import_model_with_report`` also returns what was done to each node (``fmlc import
--explain``).

Errors name the node, its op and the reason; nothing is written on error.
"""

from __future__ import annotations

from pathlib import Path

from xdsl.dialects.builtin import ModuleOp

from fmlc.frontend.chains import ChainOps, QuantizedChainOps
from fmlc.frontend.config import Config, check_names
from fmlc.frontend.core import ImporterCore
from fmlc.frontend.normalize import load, normalize
from fmlc.frontend.ops_boundary import BoundaryOps
from fmlc.frontend.ops_elementwise import ElementwiseOps
from fmlc.frontend.ops_linear import LinearOps
from fmlc.frontend.ops_movement import MovementOps, ResizeOps
from fmlc.frontend.ops_pool import PoolOps
from fmlc.frontend.ops_quant import QuantOps
from fmlc.frontend.report import ImportReport
from fmlc.frontend.validate import validate_graph


class Importer(BoundaryOps, QuantOps, QuantizedChainOps, ChainOps, LinearOps, ElementwiseOps, MovementOps, ResizeOps, PoolOps, ImporterCore):
    """One import: an ONNX graph (cleaned) into an fxp function ``@main``."""


def import_model_with_report(path: str | Path, config: dict | Config | None = None, log=None) -> tuple[ModuleOp, ImportReport]:
    """Import an ONNX/QONNX file; also return how each node was made exact."""
    cfg = config if isinstance(config, Config) else Config(config or {})
    model = load(path)
    validate_graph(model)
    wrapper = normalize(model, log=log)
    inits = {i.name for i in wrapper.graph.initializer}
    check_names(cfg.data, [n.name for n in wrapper.graph.node], [i.name for i in wrapper.graph.input if i.name not in inits])
    importer = Importer(wrapper, cfg)
    module = importer.run()
    return module, importer.report


def import_model(path: str | Path, config: dict | Config | None = None, log=None) -> ModuleOp:
    """Import an ONNX/QONNX file into an fxp module (function ``@main``)."""
    return import_model_with_report(path, config, log)[0]


SUPPORTED_OPS = Importer.supported_ops()
