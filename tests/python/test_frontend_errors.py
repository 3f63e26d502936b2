"""Bad models stop with a message naming the node, the op and the reason; exit status 2;
nothing is written."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fmlc.frontend import ModelImportError
from fmlc.frontend.onnx_import import import_model


def mlp(opset: int = 13, dims=(1, 4), extra_nodes=(), second_input=False, node_op="MatMul", attrs=None) -> onnx.ModelProto:
    """x[1, 4] @ W[4, 3] -> Relu, with knobs to break it."""
    w = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), "W")
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))]
    if second_input:
        inputs.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3]))
    nodes = [helper.make_node(node_op, ["x", "W"], ["h"], name="dense_0", **(attrs or {})), helper.make_node("Relu", ["h"], ["y"], name="relu_0"), *extra_nodes]
    out = nodes[-1].output[0]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], [] if second_input else [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def write(tmp_path, model: onnx.ModelProto, name="model.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def fmlc(*args):
    return subprocess.run([sys.executable, "-m", "fmlc.cli", *map(str, args)], capture_output=True, text=True)


def check_cli_refuses(tmp_path, path, *messages):
    """fmlc import and fmlc compile both stop with status 2, the messages, and write nothing."""
    out_ir = tmp_path / "out.mlir"
    out_dir = tmp_path / "out_dir"
    for args in (["import", path, "-o", out_ir], ["compile", path, "-t", "hls", "-o", out_dir]):
        r = fmlc(*args)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("fmlc: error: "), r.stderr
        assert "Traceback" not in r.stderr, r.stderr
        for m in messages:
            assert m in r.stderr, r.stderr
    assert not out_ir.exists() and not out_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary leftovers


def test_truncated_file(tmp_path):
    good = mlp().SerializeToString()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelImportError, match="truncated or corrupt|produced by no node"):
        import_model(path)
    check_cli_refuses(tmp_path, path, "truncated.onnx")


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x00\xffnot an onnx model at all\x13" * 10)
    check_cli_refuses(tmp_path, path, "garbage.onnx", "not a readable ONNX model")


def test_missing_and_empty_file(tmp_path):
    with pytest.raises(ModelImportError, match="no such file"):
        import_model(tmp_path / "missing.onnx")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelImportError, match="the file is empty"):
        import_model(empty)


def test_unknown_op(tmp_path):
    topk = helper.make_node("Hardmax", ["y"], ["z"], name="pick_0")
    path = write(tmp_path, mlp(extra_nodes=[topk]))
    with pytest.raises(ModelImportError) as err:
        import_model(path)
    assert err.value.node == "pick_0" and err.value.op == "Hardmax"
    check_cli_refuses(tmp_path, path, "node 'pick_0' (Hardmax)", "not supported")


def test_wrong_opset(tmp_path):
    path = write(tmp_path, mlp(opset=30))
    check_cli_refuses(tmp_path, path, "ONNX opset 30 is not supported", "opsets 7 to 22")


def test_old_opset_is_upgraded(tmp_path):
    """Opsets below 7 go through onnx.version_converter (said on stderr), not a refusal."""
    path = write(tmp_path, mlp(opset=6))
    result = fmlc("import", path)
    assert result.returncode == 0, result.stderr
    assert "opset 6 was upgraded" in result.stderr


def test_dynamic_shape(tmp_path):
    path = write(tmp_path, mlp(dims=("N", "features")))
    check_cli_refuses(tmp_path, path, "graph input 'x'", "dynamic dimension 1 ('features')")


def test_non_constant_weight(tmp_path):
    path = write(tmp_path, mlp(second_input=True))
    check_cli_refuses(tmp_path, path, "node 'dense_0' (MatMul)", "must be constant weights")


def test_unsupported_attribute(tmp_path):
    model = mlp()
    # a MaxPool with ceil_mode=1 on an image input
    x = helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 2, 6, 6])
    pool = helper.make_node("MaxPool", ["img"], ["p"], name="pool_0", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    graph = helper.make_graph([pool], "g", [x], [helper.make_tensor_value_info("p", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = write(tmp_path, model)
    check_cli_refuses(tmp_path, path, "node 'pool_0' (MaxPool)", "ceil_mode=1 is not supported")


def test_unknown_domain(tmp_path):
    node = helper.make_node("Mystery", ["y"], ["z"], name="mystery_0", domain="com.example")
    model = mlp(extra_nodes=[node])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path = write(tmp_path, model)
    check_cli_refuses(tmp_path, path, "node 'mystery_0' (Mystery)", "domain 'com.example'")


def test_bad_configuration(tmp_path):
    path = write(tmp_path, mlp())
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model:\n  precision: fixed<16>\n")
    r = fmlc("import", path, "-c", cfg)
    assert r.returncode == 2 and "model.precision" in r.stderr and "expected 2 to 4 fields" in r.stderr, r.stderr
    cfg.write_text("layers:\n  dense_0: {reuse: 4}\n")
    r = fmlc("import", path, "-c", cfg)
    assert r.returncode == 2 and "layers.dense_0.reuse is not a setting" in r.stderr, r.stderr


def test_good_model_imports(tmp_path):
    """The same tiny model without the faults imports and runs."""
    path = write(tmp_path, mlp())
    out = tmp_path / "m.mlir"
    r = fmlc("import", path, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "fxp.dense" in out.read_text() and "fxp.relu" in out.read_text()
