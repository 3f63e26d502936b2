"""``fmlc tune``: the result keeps its budget on the held-out split (checked here independently:
the configuration imported again, the emulator against onnxruntime), what is searched, the
cost estimates, and the command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from fmlc.cost import csd_digits, estimate
from fmlc.driver import resolve
from fmlc.emulator import Emulator
from fmlc.fixed import FixedFormat
from fmlc.frontend.config import read_config
from fmlc.frontend.onnx_import import import_model
from fmlc.tune import TABLE_KEYS, Model, TuneError, discover_knobs, parse_budget, tune
from models import model_path
from trained_mlp import save_mlp

STRIP = {"model": {"strip_softmax": True}}  # logits out: fewer settings, a quicker search


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """A small trained MLP (8-16-4) and 3000 fresh samples of its task."""
    folder = tmp_path_factory.mktemp("mlp")
    path, data = save_mlp(folder, sizes=(8, 16, 4), samples=4000, epochs=10, data=3000)
    return path, data


def onnxruntime_logits(path, x):
    """The float model's logits (Softmax cut off: the argmax is the same)."""
    import onnxruntime as ort

    model = onnx.load(str(path))
    graph = model.graph
    softmax = next(n for n in graph.node if n.op_type == "Softmax")
    graph.output[0].name = softmax.input[0]
    graph.node.remove(softmax)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def held_out(n: int, fraction: float = 0.25) -> np.ndarray:
    """The held-out samples as docs/precision.md defines them: the first round(n/4) of a permutation seeded 0."""
    return np.sort(np.random.default_rng(0).permutation(n)[: round(n * fraction)])


def emulated(path, config, x):
    return Emulator(resolve(import_model(path, config))).run(x)[0]


def test_tuned_configuration_keeps_the_budget_on_the_held_out_split(mlp):
    path, data = mlp
    result = tune(path, data.x, "1%", target="verilog", config=STRIP)
    # the written YAML is what compile -c reads, and it is the configuration returned
    written = yaml.safe_load(result.yaml())
    assert written == result.config
    assert written["model"]["strip_softmax"] is True  # the starting configuration's settings stay
    # independently: import with the tuned configuration, emulate the held-out samples, compare
    # with onnxruntime's float model
    idx = held_out(len(data.x))
    got = np.argmax(emulated(path, written, data.x[idx]), axis=1)
    want = np.argmax(onnxruntime_logits(path, data.x[idx]), axis=1)
    loss = 1 - np.mean(got == want)
    assert loss <= 0.01
    assert result.loss_after[1] == pytest.approx(loss, abs=1e-12)
    # and it is cheaper than the default, in the target's estimate and in plain bits
    assert result.cost_after.total < 0.6 * result.cost_before.total
    assert all(a.width <= b.width for a, b in zip(result.after, result.before))
    assert {k.path for k in result.knobs} == {
        "inputs.input.precision",
        *(f"layers.dense_{k}.precision.{key}" for k in (0, 1) for key in ("weight", "bias", "result")),
    }


def test_labels_make_the_budget_an_accuracy_drop(mlp):
    path, data = mlp
    result = tune(path, data.x, 0.02, labels=data.labels, target="verilog", config=STRIP)
    idx = held_out(len(data.x))
    ref = np.mean(np.argmax(onnxruntime_logits(path, data.x[idx]), axis=1) == data.labels[idx])
    got = np.mean(np.argmax(emulated(path, result.config, data.x[idx]), axis=1) == data.labels[idx])
    assert ref - got <= 0.02
    assert result.loss_after[1] == pytest.approx(ref - got, abs=1e-12)


def test_accumulators_are_tuned_for_hls_and_cuda_not_verilog(mlp):
    path, _ = mlp
    model = Model(path, STRIP)
    for target, has_accum in (("hls", True), ("cuda", True), ("verilog", False)):
        assert any(k.key == "accum" for k in discover_knobs(model, target)) == has_accum


def test_quantized_models_tune_only_what_they_leave_free():
    # the jet tagger has no input quantizer (fmlc's input precision applies) and a Softmax;
    # its weights, biases and activations are the model's own Quant types
    knobs = discover_knobs(Model(model_path("qkeras_jettagging")), "verilog")
    assert {k.key for k in knobs if k.section == "layers"} == {"diff", "exp", "sum", "inv"}
    assert all(k.key in TABLE_KEYS for k in knobs if k.section == "layers")
    assert [k.section for k in knobs].count("inputs") == 1


def test_budget_is_a_fraction_or_a_percentage():
    assert parse_budget("0.5%") == 0.005 and parse_budget("0.02") == 0.02
    for bad in ("150%", "-1", "x", "1"):
        with pytest.raises(TuneError):
            parse_budget(bad)


def test_csd_digits_match_the_adder_graph_pass():
    from fmlc.passes.adder_graph import csd

    codes = np.arange(-1100, 1100)
    count, low, high = csd_digits(codes)
    for c, n, lo, hi in zip(codes, count, low, high):
        digits = csd(abs(int(c)))
        assert n == len(digits)
        assert (lo, hi) == ((digits[0][0], digits[-1][0]) if digits else (-1, -1))


@pytest.mark.parametrize("target", ["verilog", "hls", "cuda"])
def test_costs_fall_with_the_widths(mlp, target):
    path, _ = mlp
    wide = estimate(resolve(import_model(path, {"model": {"precision": "fixed<16,6,RND,SAT>"}})), target)
    narrow = estimate(resolve(import_model(path, {"model": {"precision": "fixed<8,3,RND,SAT>"}})), target)
    assert 0 < narrow.total < wide.total
    assert {lay.layer for lay in wide.layers} >= {"dense_0", "dense_1"}


def fmlc(*args):
    return subprocess.run([sys.executable, "-m", "fmlc.cli", *map(str, args)], capture_output=True, text=True)


DOC = Path(__file__).resolve().parents[2] / "docs" / "precision.md"
DOC_COMMANDS = [
    "fmlc profile model.onnx --input x.npy -o prof",
    "fmlc tune model.onnx --input x.npy --budget 0.5% -o tuned.yaml",
    "fmlc compile model.onnx -c tuned.yaml -t verilog -o out",
]


def test_the_commands_and_the_snippet_of_the_docs_work(mlp, tmp_path):
    path, data = mlp
    text = DOC.read_text()
    shutil.copy(path, tmp_path / "model.onnx")
    np.save(tmp_path / "x.npy", data.x[:1200])
    for command in DOC_COMMANDS:
        assert command in text, f"docs/precision.md no longer shows `{command}`"
        proc = subprocess.run([sys.executable, "-m", "fmlc.cli", *command.split()[1:]], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, (command, proc.stderr)
    assert (tmp_path / "prof" / "profile.png").is_file() and (tmp_path / "out" / "model.sv").is_file()
    tuned = read_config(tmp_path / "tuned.yaml")
    ir = (tmp_path / "out" / "model.mlir").read_text()
    want = FixedFormat.parse(tuned["inputs"]["input"]["precision"])
    assert f"!fxp.fixed<{want.width}, {want.int_bits}, signed, RND, SAT>" in ir  # compile took the tuned type
    snippet = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(snippet, {"x": data.x[:500]})
    finally:
        os.chdir(cwd)
    assert (tmp_path / "profile.png").is_file()


def test_command_refuses_ir_and_bad_budgets(mlp, tmp_path):
    path, data = mlp
    np.save(tmp_path / "x.npy", data.x[:10])
    proc = fmlc("tune", path, "--input", tmp_path / "x.npy", "--budget", "150%", "-o", tmp_path / "t.yaml")
    assert proc.returncode == 2 and "budget" in proc.stderr and not (tmp_path / "t.yaml").exists()
    (tmp_path / "m.mlir").write_text("builtin.module {}\n")
    proc = fmlc("tune", tmp_path / "m.mlir", "--input", tmp_path / "x.npy", "--budget", "1%", "-o", tmp_path / "t.yaml")
    assert proc.returncode == 2 and "ONNX" in proc.stderr and not (tmp_path / "t.yaml").exists()
