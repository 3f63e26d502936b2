"""The test-model zoo (tests/python/zoo): replicas that mirror the reference models, extras that
run under QONNX's executor, reproducible builds and the command that writes them.

``test_replica_mirrors_shared_model`` is the one shared-only check: it compares each replica
with the real file in ../shared/models and skips, saying so, on a clone without that folder.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import numpy as np
import onnx
import pytest
import zoo
from models import ROOT, qonnx_reference, qonnx_reference_single, shared_path
from onnx import helper, numpy_helper

SHARED = [n for n in zoo.REPLICAS if shared_path(n)]


def _attrs(node) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else (tuple(v) if isinstance(v, list) else v)
    return out


def _type(v) -> tuple:
    t = v.type.tensor_type
    return v.name, t.elem_type, tuple(d.dim_value for d in t.shape.dim) if t.HasField("shape") else None


def _structure(m: onnx.ModelProto) -> dict:
    """Everything an exporter decides, weights' values excepted."""
    g = m.graph
    return {
        "ir_version": m.ir_version,
        "producer": (m.producer_name, m.producer_version, m.domain),
        "opsets": sorted((o.domain, o.version) for o in m.opset_import),
        "graph": (g.name, g.doc_string),
        "nodes": [(n.op_type, n.domain, n.name, tuple(n.input), tuple(n.output), _attrs(n)) for n in g.node],
        "inputs": [_type(v) for v in g.input],
        "outputs": [_type(v) for v in g.output],
        "value_info": sorted(_type(v) for v in g.value_info),  # its order means nothing
        "initializers": [(t.name, tuple(t.dims), t.data_type, bool(t.raw_data)) for t in g.initializer],
    }


def _parameters(m: onnx.ModelProto) -> dict:
    """Values that are not weights: quantizer parameters and int64 constants (shapes, indices)."""
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    names = {x for n in m.graph.node if n.op_type in ("Quant", "BipolarQuant", "Trunc") for x in n.input[1:]}
    names |= {k for k, v in inits.items() if v.dtype == np.int64}
    return {k: inits[k].tolist() for k in sorted(names) if k in inits}


@pytest.mark.parametrize("name", SHARED or [pytest.param("-", marks=pytest.mark.skip(reason="shared-only check: ../shared/models is absent"))])
def test_replica_mirrors_shared_model(name):
    """The replica is the real export with other weights: same structure, same quantizers."""
    real = onnx.load(shared_path(name))
    replica = zoo.build(name)
    want, got = _structure(real), _structure(replica)
    for key in want:
        assert got[key] == want[key], f"{name}: the replica's {key} differs from the shared model's"
    assert _parameters(replica) == _parameters(real)


@pytest.mark.parametrize("name", sorted(zoo.BUILDERS))
def test_builds_are_reproducible(name):
    """A fresh build gives the bytes the session's cached file holds."""
    assert zoo.build(name).SerializeToString() == zoo.zoo_model(name).read_bytes()


def test_replica_weights_are_on_the_exporters_grids():
    """Quantized replicas carry the originals' weight grids (the README's facts)."""
    tfc = {t.name: numpy_helper.to_array(t) for t in zoo.build("TFC_2W2A").graph.initializer}
    for w in ("41", "53", "65", "77"):
        assert set(np.unique(tfc[w])) == {-1.0, 0.0, 1.0}
    bnn = {t.name: numpy_helper.to_array(t) for t in zoo.build("bnn_model_fc_1layer").graph.initializer}
    assert set(np.unique(bnn["/linear/weight_quant/export_handler/Constant_output_0"])) == {-1.0, 1.0}
    assert np.array_equal(bnn["linear.bias"], np.round(bnn["linear.bias"]))
    jet = zoo.build("qkeras_jettagging")
    inits = {t.name: numpy_helper.to_array(t) for t in jet.graph.initializer}
    scales = {float(inits[n.input[1]]) for n in jet.graph.node if n.op_type == "Quant"}  # weights 2**-5, activations 2**-6
    assert sorted(scales) == [2.0**-6, 2.0**-5]


def _kws_inputs(n: int) -> np.ndarray:
    return np.random.default_rng(7).normal(0, 60, (n, 1, 10, 49)).astype(np.float32)


def test_kws_mlp_runs_under_execute_onnx():
    path = zoo.zoo_model("kws_mlp_w3a3")
    x = _kws_inputs(64)
    model = onnx.load(path)
    first_quant = model.graph.node[0].output[0]
    levels = qonnx_reference(path, x, first_quant)
    assert levels.min() == pytest.approx(-128 * 116 / 127) and levels.max() == pytest.approx(116.0)
    for node in model.graph.node:
        if node.op_type == "Quant" and node.input[0] not in {t.name for t in model.graph.initializer} and node is not model.graph.node[0]:
            acts = qonnx_reference(path, x, node.output[0])
            assert len(np.unique(acts)) <= 8 and acts.min() == 0.0  # 3-bit unsigned
    out = qonnx_reference(path, x)
    assert out.shape == (64, 12) and np.all(np.isfinite(out)) and len(np.unique(out.argmax(1))) > 1


def test_unsw_nb15_mlp_runs_under_execute_onnx():
    path = zoo.zoo_model("unsw_nb15_mlp_w2a2")
    x = np.where(np.random.default_rng(8).random((200, 593)) < 0.25, 1.0, -1.0).astype(np.float32)
    out = qonnx_reference(path, x)
    assert out.shape == (200, 1)
    assert set(np.unique(out)) == {-1.0, 1.0}  # bipolar, both decisions taken


def test_quant_scale_0p1_runs_under_execute_onnx():
    path = zoo.zoo_model("quant_scale_0p1")
    x = np.random.default_rng(9).uniform(-15, 15, (100, 16)).astype(np.float32)
    scale = np.float32(0.1)
    want = np.clip(np.round(x / scale), -128, 127) * scale  # float32 throughout, as QONNX
    assert np.array_equal(qonnx_reference(path, x), want)


def test_pytorch_opset6_mlp_runs_after_version_conversion():
    """onnxruntime has no opset-6 kernels; lifted to opset 7 the export runs and computes
    Gemm -> BatchNorm -> ReLU twice, then Gemm -> Softmax."""
    from onnx import version_converter
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    model = zoo.build("pytorch_opset6_mlp")
    assert [o.version for o in model.opset_import] == [6]
    onnx.checker.check_model(model)
    x = np.random.default_rng(10).standard_normal((1, 16)).astype(np.float32)
    with pytest.raises(Exception, match="Gemm\\(6\\)|BatchNormalization\\(6\\)"):
        execute_onnx(ModelWrapper(model).transform(InferShapes()), {"0": x})
    lifted = ModelWrapper(version_converter.convert_version(model, 7)).transform(InferShapes())
    got = execute_onnx(lifted, {"0": x})[model.graph.output[0].name]
    p = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    h = x.astype(np.float64)
    for k in (1, 2):
        h = h @ p[f"fc{k}.weight"].T + p[f"fc{k}.bias"]
        h = (h - p[f"bn{k}.running_mean"]) / np.sqrt(p[f"bn{k}.running_var"] + 1e-5) * p[f"bn{k}.weight"] + p[f"bn{k}.bias"]
        h = np.maximum(h, 0)
    z = h @ p["fc3.weight"].T + p["fc3.bias"]
    want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    np.testing.assert_allclose(got, want, rtol=1e-5)  # float32 execution against a float64 reference


@pytest.mark.parametrize("name", ["unet_channels_last", "branched_cnn_channels_last"])
def test_channels_last_models_equal_their_channels_first_source(name):
    """qonnx's conversion keeps the function: under execute_onnx the channels-last model on an
    NHWC input gives exactly what the channels-first graph gives on the NCHW input."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    from zoo import qonnx_channels_last

    last = zoo.build(name)
    first = getattr(qonnx_channels_last, name.replace("_last", "_first"))()
    assert {n.op_type for n in last.graph.node if n.domain == "qonnx.custom_op.channels_last"} == {"Conv", "MaxPool"}
    shape = [d.dim_value for d in first.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(11).uniform(-4, 4, shape).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):
        a = execute_onnx(ModelWrapper(first).transform(InferShapes()), {"global_in": x})["global_out"]
        b = execute_onnx(ModelWrapper(last), {"global_in": x.transpose(0, 2, 3, 1)})["global_out"]
    assert np.array_equal(a, b)
    assert len(np.unique(b)) > 8


def test_batched_reference_runs_channels_last_models():
    """models.batched widens the batch of channels-last graphs too (qonnx cannot infer their
    shapes from scratch): the batched reference equals execute_onnx sample by sample."""
    path = zoo.zoo_model("branched_cnn_channels_last")
    x = np.random.default_rng(12).uniform(-4, 4, (3, 16, 16, 3)).astype(np.float32)
    assert np.array_equal(qonnx_reference(path, x), qonnx_reference_single(path, x))


def test_build_command_writes_the_models(tmp_path):
    script = ROOT / "scripts" / "build_zoo.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path), "two_layer_keras", "quant_scale_0p1"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quant_scale_0p1.onnx", "two_layer_keras.onnx"]
    assert (tmp_path / "two_layer_keras.onnx").read_bytes() == zoo.build("two_layer_keras").SerializeToString()


def test_build_command_refuses_unknown_names(tmp_path, capsys):
    from zoo.__main__ import main

    with pytest.raises(SystemExit) as done:
        main([str(tmp_path / "x"), "no_such_model"])
    assert done.value.code == 2 and "unknown model(s): no_such_model" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
