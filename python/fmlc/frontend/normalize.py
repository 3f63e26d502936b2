"""Reading and cleaning an ONNX graph before import, so users pass models exactly as exported.

- reading: a missing, truncated or corrupt file gets a clear message;
- checking: opset versions and operator domains fmlc understands;
- cleaning (with qonnx): initializers listed as graph inputs become constants, shapes are
  inferred (custom QONNX ops included), and constant subgraphs are folded — Brevitas'
  shape-computing subgraphs (Shape/Gather/Unsqueeze/Concat/Reshape) among them — while
  quantizers (Quant, BipolarQuant, Trunc, MultiThreshold) are kept: they carry the types;
- naming: nodes keep their exported names (users configure layers by them); unnamed nodes get
  ``<OpType>_<index>``;
- shapes: the first dimension of every graph input is the batch, whatever value it was fixed
  to at export; any other dynamic dimension is an error.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from fmlc.frontend import ModelImportError

MIN_OPSET, MAX_OPSET = 7, 22
QONNX_DOMAINS = ("qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general", "finn", "qonnx.custom_op.channels_last")
CHANNELS_LAST_OPS = ("Conv", "MaxPool", "BatchNormalization")
UPGRADE_TO = 11
"""Models older than opset 7 are upgraded to this opset with ``onnx.version_converter``."""
QUANTIZERS = ("Quant", "BipolarQuant", "Trunc", "MultiThreshold")


def load(path: str | Path) -> onnx.ModelProto:
    """Read an ONNX file, or raise a ModelImportError saying why it cannot be read."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ModelImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelImportError(f"{path}: is a folder, not an ONNX file") from None
    except OSError as err:
        from fmlc.errors import os_message

        raise ModelImportError(os_message(err, path)) from None
    if not data:
        raise ModelImportError(f"{path}: the file is empty")
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as err:
        raise ModelImportError(f"{path}: not a readable ONNX model; the file may be truncated or corrupt ({err})") from None
    if not model.graph.node:
        raise ModelImportError(f"{path}: the ONNX graph has no nodes (truncated or empty model?)")
    from fmlc.frontend.validate import check_graph, load_external_data

    _check_connected(model, path)
    load_external_data(model, p)
    check_graph(model, path)
    return model


def _check_connected(model: onnx.ModelProto, path) -> None:
    """Every node input must come from somewhere: a truncated file often fails here."""
    known = {i.name for i in model.graph.initializer} | {i.name for i in model.graph.input} | {""}
    for node in model.graph.node:
        for name in node.input:
            if name not in known:
                raise ModelImportError(
                    f"{path}: input '{name}' is produced by no node, initializer or graph input "
                    "(the graph is not topologically sorted, or the file is truncated)",
                    node.name or None,
                    node.op_type,
                )
        known.update(node.output)
    for out in model.graph.output:
        if out.name not in known:
            raise ModelImportError(f"{path}: graph output '{out.name}' is produced by no node")


def standard_opset(model: onnx.ModelProto) -> int | None:
    versions = {o.domain: o.version for o in model.opset_import}
    return versions.get("", versions.get("ai.onnx"))


def upgrade(model: onnx.ModelProto, log=None) -> onnx.ModelProto:
    """Models exported at opsets below 7 (old PyTorch exporters) are upgraded in one call of
    ``onnx.version_converter``; fmlc says so, and refuses only when the converter fails."""
    std = standard_opset(model)
    if std is None or std >= MIN_OPSET:
        return model
    from onnx import version_converter

    try:
        upgraded = version_converter.convert_version(model, UPGRADE_TO)
    except Exception as err:  # noqa: BLE001 - the converter raises several kinds
        raise ModelImportError(f"ONNX opset {std} is older than fmlc reads ({MIN_OPSET} to {MAX_OPSET}) and onnx.version_converter cannot upgrade it: {err}") from None
    message = f"fmlc: note: the model's ONNX opset {std} was upgraded to {UPGRADE_TO} with onnx.version_converter"
    if log is not None:
        log(message)
    else:
        import sys

        print(message, file=sys.stderr)
    return upgraded


def check_opsets(model: onnx.ModelProto) -> None:
    std = standard_opset(model)
    if std is None:
        raise ModelImportError("the model imports no standard ONNX opset")
    if not MIN_OPSET <= std <= MAX_OPSET:
        raise ModelImportError(f"ONNX opset {std} is not supported: fmlc reads opsets {MIN_OPSET} to {MAX_OPSET} (re-export with one of them)")
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") and node.domain not in QONNX_DOMAINS:
            raise ModelImportError(f"operator domain '{node.domain}' is not supported (fmlc reads standard ONNX and QONNX)", node.name, node.op_type)
        if node.domain == "qonnx.custom_op.channels_last" and node.op_type not in CHANNELS_LAST_OPS:
            raise ModelImportError(f"{node.op_type} in the channels-last domain is not supported (fmlc reads {', '.join(CHANNELS_LAST_OPS)} there)", node.name, node.op_type)


def name_nodes(model: onnx.ModelProto) -> None:
    """Give unnamed nodes ``<OpType>_<index>``, avoiding names already taken."""
    taken = {n.name for n in model.graph.node if n.name}
    for k, node in enumerate(model.graph.node):
        if not node.name:
            name, n = f"{node.op_type}_{k}", 1
            while name in taken:
                name, n = f"{node.op_type}_{k}_{n}", n + 1
            node.name = name
            taken.add(name)


def normalize(model: onnx.ModelProto, log=None):
    """A qonnx ModelWrapper of the cleaned graph (see the module docstring)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import RemoveStaticGraphInputs
    from qonnx.transformation.infer_shapes import InferShapes

    model = upgrade(model, log)
    check_opsets(model)
    name_nodes(model)
    trunc_versions = trunc_versions_of(model)
    for node in model.graph.node:  # Brevitas exports quantizers under its own domain
        if node.op_type in ("Quant", "BipolarQuant", "Trunc") and node.domain in QONNX_DOMAINS:
            node.domain = "qonnx.custom_op.general"
        if node.op_type == "MultiThreshold" and node.domain in QONNX_DOMAINS:
            node.domain = "qonnx.custom_op.general"
    wrapper = ModelWrapper(model)
    # qonnx prints shape notes on stdout; fmlc keeps stdout for the IR
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            wrapper = wrapper.transform(RemoveStaticGraphInputs())
            wrapper = wrapper.transform(InferShapes())
            wrapper = wrapper.transform(FoldConstants(exclude_op_types=list(QUANTIZERS)))
            wrapper = wrapper.transform(InferShapes())
        except ModelImportError:
            raise
        except Exception as err:  # noqa: BLE001 - qonnx/onnx raise many kinds; all mean the same here
            raise ModelImportError(f"shape inference or constant folding failed: {err}") from None
    check_shapes(wrapper)
    wrapper.fmlc_trunc_versions = trunc_versions
    return wrapper


def trunc_versions_of(model: onnx.ModelProto) -> dict[str, int]:
    """QONNX's executor picks a Trunc's version from the model's opset for the node's domain
    (1 when undeclared): version 2 from opset 2 on.  Recorded before domains are renamed."""
    opsets = {o.domain: o.version for o in model.opset_import}
    return {n.name: (2 if opsets.get(n.domain, 1) >= 2 else 1) for n in model.graph.node if n.op_type == "Trunc"}


def check_shapes(wrapper) -> None:
    """Graph inputs: batch first, everything else static."""
    inits = {i.name for i in wrapper.graph.initializer}
    for inp in wrapper.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        if not dims:
            raise ModelImportError(f"graph input '{inp.name}' has no shape: fmlc needs static shapes (batch first)")
        for k, d in enumerate(dims[1:], start=1):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                what = d.dim_param or "unknown"
                raise ModelImportError(
                    f"graph input '{inp.name}' has a dynamic dimension {k} ('{what}'); only the first (batch) "
                    "dimension may be dynamic: export with a fixed input shape"
                )
