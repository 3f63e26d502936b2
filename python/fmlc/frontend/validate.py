"""Malformed QONNX quantizer parameters, refused before import.

QONNX's quantizers take their parameters as tensors: a scale of 0, infinity or NaN, a negative
scale, a non-finite zero point or a bit width of 2.5 is not a quantizer, and would otherwise
surface deep in the importer as an overflow or a silently wrong type.  ``validate_graph``
checks every quantizer node whose parameters are constants (initializers or ``Constant``
nodes) and raises ``ModelImportError(message, node, op_type)`` for the first bad one.
Parameters computed at run time are left to the importer, which requires constants.

    Quant(x, scale, zeropt, bitwidth)        signed, narrow in {0, 1}; rounding_mode text
    BipolarQuant(x, scale)
    Trunc(x, scale, zeropt, in_bitwidth, out_bitwidth)              (version 1)
    Trunc(x, scale, zeropt, in_bitwidth, out_scale, out_bitwidth)   (version 2)
    MultiThreshold(x, thresholds)            out_scale, out_bias finite
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from fmlc.frontend import ModelImportError

QONNX_DOMAINS = ("qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general", "finn")
MAX_BITS = 64
"""Widest quantizer fmlc reads: QONNX itself computes quantizers in floating point."""

ROLES = {
    "Quant": (("x", None), ("scale", "scale"), ("zero point", "zero"), ("bit width", "bits")),
    "BipolarQuant": (("x", None), ("scale", "scale")),
    "MultiThreshold": (("x", None), ("thresholds", "thresholds")),
}
TRUNC_V1 = (("x", None), ("scale", "scale"), ("zero point", "zero"), ("input bit width", "bits"), ("output bit width", "bits"))
TRUNC_V2 = (("x", None), ("scale", "scale"), ("zero point", "zero"), ("input bit width", "bits"), ("output scale", "scale"), ("output bit width", "bits"))


def load_external_data(model: onnx.ModelProto, path) -> None:
    """Read the tensors an ONNX file keeps in separate files (beside it), or say which is missing."""
    from pathlib import Path

    external = [t for t in _all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        return
    folder = Path(path).resolve().parent
    for tensor in external:
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        target = (folder / location).resolve()
        if not location or folder not in target.parents:
            raise ModelImportError(f"{path}: tensor '{tensor.name}' keeps its data in '{location}', outside the model's folder")
        if not target.is_file():
            raise ModelImportError(f"{path}: tensor '{tensor.name}' keeps its data in '{location}', which is missing (it must sit beside the model)")
    try:
        onnx.load_external_data_for_model(model, str(folder))
    except (OSError, ValueError, onnx.checker.ValidationError) as err:
        raise ModelImportError(f"{path}: cannot read the model's external data ({err})") from None


def _all_tensors(model: onnx.ModelProto):
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t


def check_graph(model: onnx.ModelProto, path) -> None:
    """The graph as ``onnx.checker.check_model`` sees it (refused with its reason), plus the
    outputs: at least one, each listed once."""
    outputs = [o.name for o in model.graph.output]
    if not outputs:
        raise ModelImportError(f"{path}: the ONNX graph has no outputs")
    seen = set()
    inputs = {i.name for i in model.graph.input}
    for name in outputs:
        if name in seen:
            raise ModelImportError(f"{path}: graph output '{name}' is listed twice")
        if name in inputs:
            raise ModelImportError(f"{path}: graph output '{name}' is a graph input: the model computes nothing for it")
        seen.add(name)
    checked = onnx.ModelProto()
    checked.CopyFrom(model)
    # QONNX exporters often leave their quantizers' domains out of opset_import, and outputs
    # without a shape (shape inference adds it): neither is wrong for fmlc
    declared = {o.domain for o in checked.opset_import}
    for domain in sorted({n.domain for n in checked.graph.node} - declared - {"", "ai.onnx"}):
        checked.opset_import.append(helper.make_opsetid(domain, 1))
    for value in list(checked.graph.input) + list(checked.graph.output):
        if value.type.HasField("tensor_type") and not value.type.tensor_type.HasField("shape"):
            value.type.tensor_type.shape.SetInParent()
    try:
        onnx.checker.check_model(checked)
    except onnx.checker.ValidationError as err:
        reason = " ".join(str(err).split("==> Context:")[0].split())
        raise ModelImportError(f"{path}: onnx.checker rejects the model: {reason}") from None
    except ValueError as err:  # e.g. a model over 2 GB
        raise ModelImportError(f"{path}: onnx.checker cannot check the model ({err})") from None


def validate_graph(model: onnx.ModelProto) -> None:
    """Refuse the first QONNX quantizer with malformed constant parameters (see the module doc)."""
    constants = _constants(model.graph)
    for index, node in enumerate(model.graph.node):
        if node.domain not in QONNX_DOMAINS:
            continue
        if node.op_type == "Trunc":
            roles = TRUNC_V2 if len(node.input) == 6 else TRUNC_V1
        elif node.op_type in ROLES:
            roles = ROLES[node.op_type]
        else:
            continue
        where = (node.name or f"{node.op_type}_{index}", node.op_type)
        if len(node.input) != len(roles):
            names = ", ".join(r[0] for r in roles)
            raise ModelImportError(f"takes {len(roles)} inputs ({names}), got {len(node.input)}", *where)
        for name, (what, kind) in zip(node.input, roles):
            if kind is None or name not in constants:
                continue
            _check(constants[name], what, kind, where)
        _check_attributes(node, where)


def _check(value: np.ndarray, what: str, kind: str, where: tuple[str, str]) -> None:
    if value.dtype.kind not in "iuf":
        raise ModelImportError(f"the {what} must be numbers, got a {value.dtype} tensor", *where)
    if value.size == 0:
        raise ModelImportError(f"the {what} is an empty tensor", *where)
    v = value.astype(np.float64)
    if kind == "thresholds":
        if np.isnan(v).any():
            raise ModelImportError(f"the thresholds hold NaN at index {_first(np.isnan(v))}", *where)
        return
    bad = ~np.isfinite(v)
    if bad.any():
        raise ModelImportError(f"the {what} must be finite, got {v[bad].ravel()[0]} at index {_first(bad)}", *where)
    if kind == "scale" and (v <= 0).any():
        raise ModelImportError(f"the {what} must be > 0, got {v[v <= 0].ravel()[0]} at index {_first(v <= 0)}", *where)
    if kind == "bits":
        if v.size != 1:
            raise ModelImportError(f"the {what} must be one number, got {v.size} values", *where)
        bits = float(v.ravel()[0])
        if bits != int(bits) or not 1 <= bits <= MAX_BITS:
            raise ModelImportError(f"the {what} must be a whole number from 1 to {MAX_BITS}, got {bits:g}", *where)


def _check_attributes(node, where: tuple[str, str]) -> None:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    for flag in ("signed", "narrow"):
        if flag in attrs and attrs[flag] not in (0, 1):
            raise ModelImportError(f"attribute {flag} must be 0 or 1, got {attrs[flag]!r}", *where)
    for key in ("out_scale", "out_bias"):
        if key in attrs:
            value = attrs[key]
            if not isinstance(value, int | float) or not np.isfinite(value):
                raise ModelImportError(f"attribute {key} must be a finite number, got {value!r}", *where)
    if "rounding_mode" in attrs:
        mode = attrs["rounding_mode"]
        try:
            text = mode.decode("ascii") if isinstance(mode, bytes) else None
        except UnicodeDecodeError:
            text = None
        if text is None or not text.isidentifier():
            raise ModelImportError(f"attribute rounding_mode must be a name such as ROUND, got {mode!r}", *where)


def _constants(graph) -> dict[str, np.ndarray]:
    """Tensors whose values the file holds: initializers and ``Constant`` node outputs."""
    found: dict[str, np.ndarray] = {}
    for init in graph.initializer:
        value = _array(init)
        if value is not None:
            found[init.name] = value
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.output) == 1:
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                    value = _array(attr.t)
                elif attr.name in ("value_float", "value_int"):
                    value = np.asarray(helper.get_attribute_value(attr))
                elif attr.name in ("value_floats", "value_ints"):
                    value = np.asarray(list(helper.get_attribute_value(attr)))
                else:
                    continue
                if value is not None:
                    found[node.output[0]] = value
    return found


def _array(tensor) -> np.ndarray | None:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None  # read by the loader with its data; checked there
    try:
        return np.asarray(numpy_helper.to_array(tensor))
    except Exception:  # noqa: BLE001 - a tensor onnx cannot decode is reported by the checker
        return None


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])
