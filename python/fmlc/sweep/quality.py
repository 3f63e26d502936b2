"""How good a point is: accuracy on labels, fidelity to the model as exported.

- ``accuracy``: the share of samples whose predicted class equals the label;
- ``fidelity``: the share whose predicted class equals the class the model *as exported*
  predicts (QONNX's executor on the ONNX file: float arithmetic, Quant nodes as QONNX defines
  them), the usual measure of what quantization and fixed-point types cost;
- ``max_abs_error``: the largest difference between the point's outputs and the exported
  model's, over all samples and outputs of the first output.

The predicted class is the argmax over the first output's features (flattened per sample);
a single feature is a binary score, class ``score > 0.5``.  Labels are class indices shaped
``(N,)`` or scores/one-hot shaped ``(N, C)`` (their argmax).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np


def classes(y: np.ndarray) -> np.ndarray:
    """Predicted class per sample of outputs shaped (N, ...)."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if y.shape[1] == 1:
        return (y[:, 0] > 0.5).astype(np.int64)
    return np.argmax(y, axis=1)


def label_classes(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return labels.astype(np.int64)
    return np.argmax(labels.reshape(len(labels), -1), axis=1)


def measure(outputs: np.ndarray, labels: np.ndarray | None, reference: np.ndarray | None) -> dict:
    """accuracy, fidelity and max_abs_error of one point's first output (None where not known)."""
    got = classes(outputs)
    out = {"accuracy": None, "fidelity": None, "max_abs_error": None}
    if labels is not None:
        out["accuracy"] = float(np.mean(got == label_classes(labels)))
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
        out["fidelity"] = float(np.mean(got == classes(ref)))
        out["max_abs_error"] = float(np.max(np.abs(np.asarray(outputs, dtype=np.float64).reshape(ref.shape) - ref))) if ref.size else 0.0
    return out


def reference_outputs(model_bytes: bytes, inputs: list[np.ndarray]) -> np.ndarray:
    """The exported model's first output on ``inputs`` (QONNX's executor, whole batch at once;
    sample by sample when the export fixes its batch size in a way that does not rebatch)."""
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    model = onnx.load_model_from_string(model_bytes)
    n = len(inputs[0])
    names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    with contextlib.redirect_stdout(io.StringIO()):  # qonnx prints notes on shapes
        try:
            wrapper = ModelWrapper(_rebatched(model, n)).transform(InferShapes())
            out = wrapper.graph.output[0].name
            return np.asarray(execute_onnx(wrapper, dict(zip(names, inputs)))[out])
        except Exception:  # noqa: BLE001 - some exports only run at their own batch size
            wrapper = ModelWrapper(model).transform(InferShapes())
            out = wrapper.graph.output[0].name
            rows = [execute_onnx(wrapper, {nm: x[i : i + 1] for nm, x in zip(names, inputs)})[out] for i in range(n)]
            return np.concatenate([np.asarray(r) for r in rows])


def _rebatched(model, n: int):
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.value_info[:]
    inits = {i.name for i in model.graph.initializer}
    for v in list(model.graph.input) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) and v.name not in inits:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = n
    return model


def check_labels(labels: np.ndarray, where, n: int) -> np.ndarray:
    """Labels for ``n`` samples: class indices (N,) or scores/one-hot (N, C)."""
    from fmlc.sweep.grid import SweepError

    shown = where if isinstance(where, str | Path) else "the labels"
    if labels.ndim == 0 or len(labels) != n:
        raise SweepError(f"{shown}: {labels.shape[0] if labels.ndim else 0} labels for {n} input samples")
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)) or not np.isfinite(labels).all():
        raise SweepError(f"{shown}: labels must be finite numbers")
    if labels.ndim == 1 and not np.all(np.mod(labels, 1) == 0):
        raise SweepError(f"{shown}: labels shaped (N,) must be class indices (integers)")
    return labels


def load_npy(path: str | Path) -> np.ndarray:
    from fmlc.sweep.grid import SweepError

    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise SweepError(f"{path}: no such file") from None
    except (ValueError, EOFError, OSError) as err:
        raise SweepError(f"{path}: not a numpy .npy array ({err})") from None
