"""The reference models of ../shared/models for tests: where they are, inputs that exercise
them, and the reference executions (QONNX's execute_onnx, onnxruntime) to compare against.

Tests that need the models call ``model_path(name)``, which skips with a clear reason when the
folder is absent, so a fresh clone elsewhere still passes.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import onnx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("FMLC_MODELS", ROOT.parent / "shared" / "models"))

QONNX_MODELS = ("qkeras_jettagging", "TFC_2W2A", "bnn_model_fc_1layer")
FLOAT_MODELS = ("three_layer_keras", "three_layer_bn_keras", "two_layer_keras", "conv1d_small_keras", "conv2d_small_keras")
ALL_MODELS = QONNX_MODELS + FLOAT_MODELS

JET_LOGITS = "Add_3_out0"
"""The jet tagger's tensor before Softmax: QONNX checks compare logits here."""


def model_path(name: str) -> Path:
    path = MODELS / f"{name}.onnx"
    if not path.exists():
        pytest.skip(f"reference model {path} is absent (the shared models folder is not next to this clone)")
    return path


def random_inputs(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Float inputs shaped (n, *input_shape) spread over what each model's input quantizer covers.

    - jet tagger: codes of its input type fixed<16,6> over the whole range [-32, 32), so the
      reference (which does not quantize its input) sees exactly the same values;
    - TFC: MNIST pixels go through ``2x - 1`` then a 2-bit quantizer; [-0.5, 1.5] covers every
      level and both saturations;
    - BNN: the binary input quantizer; [-2, 2] with exact zeros included;
    - float models: standard normal, as the jet features they were trained on are standardized.
    """
    rng = np.random.default_rng(seed)
    if name == "qkeras_jettagging":
        return np.ldexp(rng.integers(-(2**15), 2**15, (n, 16)), -10).astype(np.float32)
    if name == "TFC_2W2A":
        return rng.uniform(-0.5, 1.5, (n, 1, 28, 28)).astype(np.float32)
    if name == "bnn_model_fc_1layer":
        x = rng.uniform(-2, 2, (n, 3)).astype(np.float32)
        x[rng.random((n, 3)) < 0.05] = 0.0
        return x
    shape = {
        "three_layer_keras": (16,),
        "three_layer_bn_keras": (16,),
        "two_layer_keras": (10,),
        "conv1d_small_keras": (10, 4),
        "conv2d_small_keras": (8, 8, 1),
    }[name]
    return rng.standard_normal((n,) + shape).astype(np.float32)


def batched(path: Path, n: int):
    """The model with its exported batch (often 1) replaced by ``n``, shapes inferred again."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    model = onnx.load(path)
    del model.graph.value_info[:]
    inits = {i.name for i in model.graph.initializer}
    for v in list(model.graph.input) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) and v.name not in inits:
            dims[0].dim_value = n
    with contextlib.redirect_stdout(io.StringIO()):
        return ModelWrapper(model).transform(InferShapes())


def qonnx_reference(path: Path, x: np.ndarray, tensor: str | None = None) -> np.ndarray:
    """``qonnx.core.onnx_exec.execute_onnx`` on a batch (the graph's output, or ``tensor``)."""
    from qonnx.core.onnx_exec import execute_onnx

    model = batched(path, len(x))
    with contextlib.redirect_stdout(io.StringIO()):  # qonnx prints shape notes
        ctx = execute_onnx(model, {model.graph.input[0].name: x}, return_full_exec_context=tensor is not None)
    return np.asarray(ctx[tensor or model.graph.output[0].name])


def qonnx_reference_single(path: Path, x: np.ndarray, tensor: str | None = None) -> np.ndarray:
    """Sample by sample, as exported (slow: for checking that batching changes nothing)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    with contextlib.redirect_stdout(io.StringIO()):
        model = ModelWrapper(str(path)).transform(InferShapes())
        name = tensor or model.graph.output[0].name
        outs = [execute_onnx(model, {model.graph.input[0].name: x[i : i + 1]}, return_full_exec_context=tensor is not None)[name] for i in range(len(x))]
    return np.concatenate([np.asarray(o) for o in outs])


def ort_reference(path: Path, x: np.ndarray) -> np.ndarray:
    """onnxruntime on the float model, sample by sample (the exports fix the batch at 1).

    three_layer_bn_keras as exported does not run in onnxruntime (its Transposes swap the batch
    with the features around each BatchNormalization, which onnxruntime rejects); its
    reference is the same graph with those Transposes removed.
    """
    import onnxruntime as ort

    model = onnx.load(path)
    if path.stem == "three_layer_bn_keras":
        g = model.graph
        for t in [n for n in g.node if n.op_type == "Transpose"]:
            for node in g.node:
                for k, name in enumerate(node.input):
                    if name == t.output[0]:
                        node.input[k] = t.input[0]
            g.node.remove(t)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])
