"""The front door: ONNX and QONNX models, as exported, into fxp IR.

``fmlc.frontend.onnx_import.import_model(path, config)`` is the entry point; ``normalize``
cleans the graph (shapes, constant folding, names), ``config`` reads the user's precisions,
``tables`` builds lookup tables for non-linear functions and Softmax, and ``staircase``
evaluates float subgraphs exactly over finite fixed-point domains.
"""


import numpy as np


def is_power_of_two(v: float) -> bool:
    """Whether a (scale) value is exactly 2**k for some integer k."""
    return bool(np.isfinite(v) and v > 0 and np.frexp(v)[0] == 0.5)


class ModelImportError(ValueError):
    """A model cannot be imported: names the node, its op and what would make it work."""

    def __init__(self, message: str, node: str | None = None, op: str | None = None):
        where = f"node '{node}' ({op}): " if node is not None else ""
        super().__init__(where + message)
        self.node = node
        self.op = op
