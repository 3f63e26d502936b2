"""The reference models for tests: where they are, inputs that exercise them, and the reference
executions (QONNX's execute_onnx, onnxruntime) to compare against.

Every model exists twice: the real file in ../shared/models (or ``$FMLC_MODELS``), when that
folder is there, and its replica in the zoo (``tests/python/zoo``: the same graph as the exporter
wrote it, seeded random weights), built on demand.  ``model_path(name)`` gives the shared file
when present, else the replica, so a clone runs every test; ``model_sources(names)``
parametrizes a test over both (ids ``zoo:NAME`` and ``shared:NAME``) where running both adds
coverage at little cost.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import zoo

ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("FMLC_MODELS", ROOT.parent / "shared" / "models"))

QONNX_MODELS = ("qkeras_jettagging", "TFC_2W2A", "bnn_model_fc_1layer")
FLOAT_MODELS = ("three_layer_keras", "three_layer_bn_keras", "two_layer_keras", "conv1d_small_keras", "conv2d_small_keras")
ALL_MODELS = QONNX_MODELS + FLOAT_MODELS
assert set(ALL_MODELS) == set(zoo.REPLICAS), "every reference model has a zoo replica"

JET_LOGITS = "Add_3_out0"
"""The jet tagger's tensor before Softmax (the replica names it alike): QONNX checks compare logits here."""


def shared_path(name: str) -> Path | None:
    """The real model in the shared folder, or None where the folder or the file is absent."""
    path = MODELS / f"{name}.onnx"
    return path if path.is_file() else None


def model_path(name: str) -> Path:
    """The shared model when present, otherwise its zoo replica (built on first use)."""
    return shared_path(name) or zoo.zoo_model(name)


def model_file(source: str, name: str) -> Path:
    """The model of one ``model_sources`` parameter: ``"zoo"`` or ``"shared"``."""
    if source == "zoo":
        return zoo.zoo_model(name)
    path = shared_path(name)
    assert path is not None, f"{name} is not in {MODELS}"
    return path


def model_sources(names) -> list:
    """``(source, name)`` parameters: every zoo replica, and the shared file where present."""
    params = [pytest.param("zoo", n, id=f"zoo:{n}") for n in names]
    params += [pytest.param("shared", n, id=f"shared:{n}") for n in names if shared_path(n)]
    return params


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
    """The model with its exported batch (often 1) replaced by ``n``, shapes inferred again.

    Shapes are inferred from scratch (value_info dropped), which also re-derives layouts where
    the batch is not the first axis.  qonnx cannot do that for its channels-last ops (it asks
    their inputs' value_info for shapes first): there the recorded shapes of the tensors that
    depend on the input are kept, their batch axis (first, in those models) widened."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    def widen(model: onnx.ModelProto, keep_value_info: bool) -> onnx.ModelProto:
        inits = {i.name for i in model.graph.initializer}
        runtime = {i.name for i in model.graph.input if i.name not in inits}
        for node in model.graph.node:  # graph order is topological
            if any(name in runtime for name in node.input):
                runtime.update(node.output)
        infos = list(model.graph.input) + list(model.graph.output)
        if keep_value_info:
            infos += list(model.graph.value_info)
        else:
            del model.graph.value_info[:]
        for v in infos:
            dims = v.type.tensor_type.shape.dim
            if len(dims) and v.name in runtime:
                dims[0].dim_value = n
        return model

    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return ModelWrapper(widen(onnx.load(path), False)).transform(InferShapes())
        except Exception:  # noqa: BLE001 - qonnx's shape inference fails in many ways; retry once
            if not any(node.domain == "qonnx.custom_op.channels_last" for node in onnx.load(path).graph.node):
                raise
            return ModelWrapper(widen(onnx.load(path), True)).transform(InferShapes())


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

    three_layer_bn_keras as exported (and its replica) does not run in onnxruntime (its
    Transposes swap the batch with the features around each BatchNormalization, which
    onnxruntime rejects); its reference is the same graph with those Transposes removed.
    """
    import onnxruntime as ort

    model = onnx.load(path)
    g = model.graph
    producers = {o: n for n in g.node for o in n.output}
    if any(n.op_type == "BatchNormalization" and getattr(producers.get(n.input[0]), "op_type", None) == "Transpose" for n in g.node):
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
