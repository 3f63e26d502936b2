"""A float MLP trained with numpy on a synthetic task, exported with ``onnx.helper``.

The task: inputs are standard normal; the label is the argmax of a fixed random teacher
network (two ReLU layers), so the classes have curved boundaries and the trained student's
accuracy means something.  The student (``sizes``, ReLU between layers, Softmax at the end)
is trained with Adam on cross-entropy; everything is seeded, so the same arguments give the
same weights and the same ONNX bytes.  The graph is what Keras exporters write: MatMul, Add,
Relu per layer and a final Softmax, the batch dimension symbolic.

    model, data = trained_mlp()          # onnx.ModelProto and a Dataset (x, labels, accuracy)
    path = save_mlp(folder)              # writes mlp.onnx, returns its path
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DEFAULT_SIZES = (16, 32, 16, 5)


@dataclass
class Dataset:
    x: np.ndarray
    """float32 inputs (N, sizes[0])."""
    labels: np.ndarray
    """int64 class indices (N,)."""
    accuracy: float
    """The trained student's accuracy on these samples (float64 forward pass)."""


def teacher_labels(x: np.ndarray, classes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    w1 = rng.standard_normal((x.shape[1], 24)) / np.sqrt(x.shape[1])
    w2 = rng.standard_normal((24, classes)) / np.sqrt(24)
    b1 = rng.standard_normal(24) * 0.3
    return np.argmax(np.maximum(x @ w1 + b1, 0) @ w2, axis=1)


def _forward(params, x):
    acts = [x]
    for k, (w, b) in enumerate(params):
        z = acts[-1] @ w + b
        acts.append(np.maximum(z, 0) if k < len(params) - 1 else z)
    return acts


def train(sizes=DEFAULT_SIZES, samples: int = 20_000, epochs: int = 12, seed: int = 0):
    """Weights [(w, b), ...] of the student and its training data."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, sizes[0]))
    y = teacher_labels(x, sizes[-1], seed)
    params = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a), np.zeros(b)) for a, b in zip(sizes, sizes[1:])]
    moments = [[np.zeros_like(p) for p in layer] + [np.zeros_like(p) for p in layer] for layer in params]
    lr, beta1, beta2, step = 3e-3, 0.9, 0.999, 0
    onehot = np.eye(sizes[-1])[y]
    for _ in range(epochs):
        order = rng.permutation(samples)
        for start in range(0, samples, 128):
            idx = order[start : start + 128]
            acts = _forward(params, x[idx])
            logits = acts[-1]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            grad = (p - onehot[idx]) / len(idx)
            step += 1
            for k in range(len(params) - 1, -1, -1):
                w, b = params[k]
                gw, gb = acts[k].T @ grad, grad.sum(axis=0)
                if k:
                    grad = (grad @ w.T) * (acts[k] > 0)
                new = []
                for j, (param, g) in enumerate(((w, gw), (b, gb))):
                    m, v = moments[k][j], moments[k][j + 2]
                    m *= beta1
                    m += (1 - beta1) * g
                    v *= beta2
                    v += (1 - beta2) * g * g
                    mh, vh = m / (1 - beta1**step), v / (1 - beta2**step)
                    new.append(param - lr * mh / (np.sqrt(vh) + 1e-8))
                params[k] = (new[0], new[1])
    return params


def export(params, name: str = "mlp") -> onnx.ModelProto:
    """MatMul/Add/Relu per layer, Softmax at the end; float32 weights."""
    nodes, inits = [], []
    x = "input"
    for k, (w, b) in enumerate(params):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"dense_{k}/kernel"), numpy_helper.from_array(b.astype(np.float32), f"dense_{k}/bias")]
        nodes.append(helper.make_node("MatMul", [x, f"dense_{k}/kernel"], [f"dense_{k}/mm"], name=f"dense_{k}"))
        nodes.append(helper.make_node("Add", [f"dense_{k}/mm", f"dense_{k}/bias"], [f"dense_{k}/out"], name=f"dense_{k}/bias_add"))
        x = f"dense_{k}/out"
        if k < len(params) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"relu_{k}"], name=f"relu_{k}"))
            x = f"relu_{k}"
    nodes.append(helper.make_node("Softmax", [x], ["probabilities"], name="softmax", axis=-1))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", params[0][0].shape[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", params[-1][0].shape[1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="fmlc-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def dataset(params, samples: int, seed: int) -> Dataset:
    """Fresh samples of the task (not the training ones), with the student's accuracy on them."""
    rng = np.random.default_rng(seed + 77)
    sizes = [params[0][0].shape[0]] + [w.shape[1] for w, _ in params]
    x = rng.standard_normal((samples, sizes[0])).astype(np.float32)
    y = teacher_labels(x.astype(np.float64), sizes[-1], seed)
    pred = np.argmax(_forward(params, x.astype(np.float64))[-1], axis=1)
    return Dataset(x, y.astype(np.int64), float(np.mean(pred == y)))


def trained_mlp(sizes=DEFAULT_SIZES, samples: int = 20_000, epochs: int = 12, seed: int = 0, data: int = 10_000):
    """(the ONNX model, a Dataset of ``data`` fresh samples)."""
    params = train(sizes, samples, epochs, seed)
    return export(params), dataset(params, data, seed)


def save_mlp(folder: Path, **kwargs) -> tuple[Path, Dataset]:
    """Write ``mlp.onnx`` into ``folder``; returns its path and a dataset."""
    model, data = trained_mlp(**kwargs)
    path = Path(folder) / "mlp.onnx"
    onnx.save(model, str(path))
    return path, data
