"""The models that ship inside the qonnx wheel (qonnx/data/onnx): each imports, or fails with a
ModelImportError naming the node, the op and the reason.  The expected outcome of each is
pinned here so a regression (or an improvement) shows."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

from fmlc.driver import resolve
from fmlc.emulator import Emulator
from fmlc.frontend import ModelImportError
from fmlc.frontend.onnx_import import import_model


def zoo() -> Path:
    spec = importlib.util.find_spec("qonnx")
    return Path(spec.submodule_search_locations[0]) / "data" / "onnx"


# path -> None (imports) or (node op type, words of the reason)
EXPECTED = {
    "mnist-conv/model.onnx": None,
    "residual_block_clean.onnx": None,
    "eltwise_chanlast_testcase.onnx": None,
    "bsd300x3-espcn/nn_resize/float_model.onnx": None,
    "bsd300x3-espcn/nn_resize/quant_model.onnx": None,
    "bsd300x3-espcn/subpixel/float_model.onnx": ("DepthToSpace", "not supported"),
    "bsd300x3-espcn/subpixel/quant_model.onnx": ("DepthToSpace", "not supported"),
    "floatquant_exec/qonnx_act_weight_fp8.onnx": ("FloatQuant", "not supported"),
    "matmul_update/sdp.onnx": ("MatMul", "must be constant weights"),
}


def test_every_zoo_model_is_listed():
    found = sorted(str(p.relative_to(zoo())) for p in zoo().rglob("*.onnx"))
    assert found == sorted(EXPECTED), "the qonnx wheel's models changed: update EXPECTED"


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_zoo_model(rel):
    path = zoo() / rel
    expected = EXPECTED[rel]
    if expected is None:
        module = resolve(import_model(path))
        assert Emulator(module).input_shapes
        return
    op, reason = expected
    with pytest.raises(ModelImportError) as err:
        import_model(path)
    assert err.value.op == op and err.value.node, str(err.value)
    assert reason in str(err.value)


def test_eltwise_chanlast_is_bit_exact():
    """A QONNX model whose unquantized integer conv weights and float32 per-channel scales
    stay exact: equal to execute_onnx on full 224x224 images."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    path = zoo() / "eltwise_chanlast_testcase.onnx"
    x = np.random.default_rng(0).integers(0, 256, (2, 1, 3, 224, 224)).astype(np.float32)  # its input is UINT8
    with contextlib.redirect_stdout(io.StringIO()):
        model = ModelWrapper(str(path)).transform(InferShapes())
        ref = np.concatenate([execute_onnx(model, {model.graph.input[0].name: xi})[model.graph.output[0].name] for xi in x])
    module = resolve(import_model(path, {"model": {"precision": "fixed<20,10,RND,SAT>"}}))
    got = Emulator(module).run(x[:, 0])[0].reshape(ref.shape)
    assert np.array_equal(got, ref.astype(np.float64))
