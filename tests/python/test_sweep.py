"""fmlc sweep: grids, points, the results store, Dask (a real LocalCluster of 2 worker
processes), fault tolerance, resuming, reports and the command line.

Most points are HLS points of a tiny model (the HLS cost is read from the IR: no tools), so the
Dask tests measure the runner, not Yosys; one test runs a Verilog point through Yosys and a
CUDA point through ptxas.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from fmlc.cli import main as fmlc_main
from fmlc.sweep import SweepError, plan_sweep, run_sweep
from fmlc.sweep.grid import expand_grid, read_grid
from fmlc.sweep.point import TIMING_FIELDS
from fmlc.sweep.report import pareto_front
from fmlc.sweep.store import ResultStore, read_records, write_atomic

ROOT = Path(__file__).resolve().parents[2]

GRID = """\
target: hls
precision: ["fixed<5,3>", "fixed<8,3>", "fixed<12,4>"]
reuse_factor: [1, 2]
"""


def tiny_model(path: Path, seed: int = 1) -> Path:
    """A float MLP 4 -> 6 -> 3 (MatMul, Add, Relu, MatMul) with seeded weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.5, (4, 6)).astype(np.float32), "w0"),
        numpy_helper.from_array(rng.normal(0, 0.1, 6).astype(np.float32), "b0"),
        numpy_helper.from_array(rng.normal(0, 0.5, (6, 3)).astype(np.float32), "w1"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["h0"], name="MatMul_0"),
        helper.make_node("Add", ["h0", "b0"], ["h1"], name="Add_0"),
        helper.make_node("Relu", ["h1"], ["h2"], name="Relu_0"),
        helper.make_node("MatMul", ["h2", "w1"], ["y"], name="MatMul_1"),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 4)).astype(np.float32)
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", rng.integers(0, 3, 300))
    (d / "grid.yaml").write_text(GRID)
    return {"dir": d, "model": tiny_model(d / "tiny.onnx"), "x": d / "x.npy", "y": d / "y.npy", "grid": d / "grid.yaml"}


@pytest.fixture(scope="module")
def client():
    import logging

    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def serial(files, tmp_path_factory):
    """The reference run: every point in this process, one after another."""
    out = tmp_path_factory.mktemp("serial")
    plan = plan_sweep([files["model"]], files["grid"], inputs=[files["x"]], labels=files["y"])
    outcome = run_sweep(plan, out, None, progress=False)
    return out, outcome


def stable(records: list[dict]) -> dict[str, dict]:
    """Records by key without the fields that differ from run to run (durations, worker)."""
    return {r["key"]: {k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records}


# --------------------------------------------------------------------------------------------
# grids
# --------------------------------------------------------------------------------------------


def test_grid_product_points_overrides_and_config(tmp_path):
    (tmp_path / "base.yaml").write_text("model:\n  precision: fixed<10,4>\nlayers:\n  MatMul_0:\n    precision: {weight: \"fixed<6,1>\"}\n")
    data = {
        "target": ["hls", "verilog"],
        "config": "base.yaml",
        "layers.MatMul_0.precision.weight": ["fixed<4,1>", "fixed<8,1>"],
        "points": [{"reuse_factor": 1}, {"reuse_factor": 2, "io": "stream"}, {"reuse_factor": 1}],
    }
    grid = expand_grid(data, "g.yaml", tmp_path, {})
    assert len(grid.points) == 2 * 2 * 2  # the repeated explicit point is one point
    assert grid.swept == ["io", "layers.MatMul_0.precision.weight", "reuse_factor", "target"]
    p = grid.points[0]
    assert p.options["target"] == "hls" and p.options["reuse_factor"] == 1 and p.options["io"] == "parallel"
    assert p.config["model"]["precision"] == "fixed<10,4>"  # from the file
    assert p.config["layers"]["MatMul_0"]["precision"] == {"weight": "fixed<4,1>"}  # the override wins
    assert grid.points[1].options["io"] == "stream" and grid.points[1].options["reuse_factor"] == 2
    # a scalar is one value; the -c configuration is the base
    grid = expand_grid({"precision": "fixed<8,3>", "cuda.block_size": [64, 128], "target": "cuda"}, "g", tmp_path, {"model": {"reuse_factor": 4}})
    assert [pt.options["extra"] for pt in grid.points] == [{"block_size": 64}, {"block_size": 128}]
    assert all(pt.options["reuse_factor"] == 4 and pt.config["model"]["precision"] == "fixed<8,3>" for pt in grid.points)


@pytest.mark.parametrize(
    "text, message",
    [
        ("reuse: [1, 2]\n", "unknown option 'reuse' (did you mean 'reuse_factor'?)"),
        ("target: [hls, fpga]\n", "target: 'fpga' must be one of hls, verilog, cuda"),
        ("precision: [fixed<8,3>]\n", "precision: 'fixed<8' is not a precision"),
        ("reuse_factor: [0]\n", "reuse_factor: 0 must be a positive integer"),
        ("adders_per_stage: [-1]\n", "adders_per_stage: -1 must be an integer >= 0"),
        ("io: []\n", "io has an empty list of values"),
        ("points:\n  - {reuse_factor: [1, 2]}\n", "points[0].reuse_factor: a point takes a single value"),
        ("config: missing.yaml\n", "missing.yaml: no such configuration file"),
        ("layers.Dense_0.precision.weight: fixed<8,99,FOO>\n", "Dense_0"),
        ("[1, 2]\n", "a grid is a mapping"),
        ("target: [hls\n", "not valid YAML"),
    ],
)
def test_grid_errors(tmp_path, text, message):
    (tmp_path / "g.yaml").write_text(text)
    with pytest.raises(SweepError) as err:
        read_grid(tmp_path / "g.yaml")
    assert message in str(err.value) and "g.yaml" in str(err.value), str(err.value)


# --------------------------------------------------------------------------------------------
# serial, Dask, killed workers, resuming
# --------------------------------------------------------------------------------------------


def test_serial_sweep_records_reports_and_front(serial, files):
    out, outcome = serial
    assert outcome.total == outcome.evaluated == 6 and outcome.failed == 0 and outcome.skipped == 0
    records = read_records(out / "results.parquet")
    assert stable(records) == stable(outcome.records)
    for r in records:
        assert r["status"] == "ok" and r["error"] is None and r["samples"] == 300
        assert r["target"] == "hls" and r["mults"] > 0 and r["latency_cycles"] > 0 and r["ii"] == r["reuse_factor"]
        # per layer ceil(mults / reuse): the whole network's ceiling is a lower bound
        if r["reuse_factor"] == 1:
            assert r["dsp_estimate"] == r["mults"]
        else:
            assert -(-r["mults"] // r["reuse_factor"]) <= r["dsp_estimate"] < r["mults"]
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["fidelity"] <= 1 and r["max_abs_error"] >= 0
    # quality follows from the emulator's outputs: recompute one point's accuracy by hand
    from fmlc.driver import resolve
    from fmlc.emulator import Emulator
    from fmlc.frontend.onnx_import import import_model

    r = next(r for r in records if r["precision"] == "fixed<5,3>" and r["reuse_factor"] == 1)
    y = Emulator(resolve(import_model(files["model"], {"model": {"precision": "fixed<5,3>"}}))).run(np.load(files["x"]))[0]
    assert r["accuracy"] == float(np.mean(np.argmax(y, axis=1) == np.load(files["y"])))
    # narrower inputs cost fewer multiplier bits... and the reuse factor halves the DSPs
    by = {(r["precision"], r["reuse_factor"]): r for r in records}
    assert by["fixed<8,3>", 2]["dsp_estimate"] < by["fixed<8,3>", 1]["dsp_estimate"]
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    front = pareto_front(records, "dsp_estimate", "accuracy")
    assert f"{len(front)} of 6 points on the front" in summary
    for r in front:
        assert f"| {r['precision']} | {r['reuse_factor']} | {r['dsp_estimate']} |" in summary


def test_pareto_front_rules():
    pts = [
        {"key": "a", "c": 10, "q": 0.5},
        {"key": "b", "c": 10, "q": 0.7},  # same cost, better: a is dominated
        {"key": "c", "c": 20, "q": 0.7},  # costlier, not better: dominated
        {"key": "d", "c": 30, "q": 0.9},
        {"key": "e", "c": 5, "q": 0.1},
        {"key": "f", "c": 30, "q": 0.9},  # a tie with d: the first key stays
    ]
    assert [r["key"] for r in pareto_front(pts, "c", "q")] == ["e", "b", "d"]


def test_dask_cluster_gives_the_serial_records(serial, files, client, tmp_path):
    client.wait_for_workers(2)
    plan = plan_sweep([files["model"]], files["grid"], inputs=[files["x"]], labels=files["y"])
    outcome = run_sweep(plan, tmp_path, client, progress=False)
    assert outcome.evaluated == 6
    workers = {r["worker"] for r in outcome.records}
    assert len(workers) == 2 and all(w.split(":")[1] != str(os.getpid()) for w in workers)  # ran in both worker processes
    assert stable(read_records(tmp_path / "results.parquet")) == stable(read_records(serial[0] / "results.parquet"))
    # the reports depend only on the results: same bytes
    for name in ("summary.md", "pareto.png"):
        assert (tmp_path / name).read_bytes() == (serial[0] / name).read_bytes(), name


def test_killed_worker_process_mid_sweep(serial, files, client, tmp_path):
    """SIGKILL a worker process while it runs a point: Dask reruns it elsewhere; same records."""
    client.wait_for_workers(2)
    killed, interrupted = [], []

    def kill_a_busy_worker(record):
        if killed:
            return
        busy = {addr: keys for addr, keys in client.processing().items() if any(str(k).startswith("fmlc-point-") for k in keys)}
        assert busy, "no worker was running a point when the first record arrived"
        addr, keys = sorted(busy.items())[0]
        pid = client.run(os.getpid, workers=[addr])[addr]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        interrupted.extend(str(k).split("-")[2] for k in keys if str(k).startswith("fmlc-point-"))

    plan = plan_sweep([files["model"]], files["grid"], inputs=[files["x"]], labels=files["y"])
    outcome = run_sweep(plan, tmp_path, client, progress=False, on_record=kill_a_busy_worker)
    assert killed and outcome.evaluated == 6 and outcome.failed == 0
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)  # the process is gone
    # the points the dead worker held were run again by a live one
    rerun = [r for r in outcome.records if r["key"] in interrupted]
    assert rerun and all(r["worker"].split(":")[1] != str(killed[0]) for r in rerun)
    assert stable(outcome.records) == stable(serial[1].records)


def test_interrupted_sweep_resumes_without_recomputing(files, tmp_path, monkeypatch, client):
    from fmlc.sweep import runner

    calls = []
    real = runner.evaluate_point
    monkeypatch.setattr(runner, "evaluate_point", lambda task, model: calls.append(task["key"]) or real(task, model))
    plan = plan_sweep([files["model"]], files["grid"], inputs=[files["x"]], labels=files["y"])

    def interrupt(record):
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, tmp_path, None, progress=False, on_record=interrupt)
    first = read_records(tmp_path / "results.parquet")  # complete file, two records
    assert sorted(r["key"] for r in first) == sorted(calls) and len(calls) == 2
    assert "2 points: 2 ok" in (tmp_path / "summary.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".results")]

    outcome = run_sweep(plan, tmp_path, None, progress=False)
    assert (outcome.skipped, outcome.evaluated) == (2, 4) and len(calls) == 6 and len(set(calls)) == 6
    again = run_sweep(plan, tmp_path, client, progress=False)  # on Dask too: nothing left to do
    assert (again.skipped, again.evaluated) == (6, 0) and len(calls) == 6
    assert stable(read_records(tmp_path / "results.parquet")) == stable(outcome.records)


def test_failed_points_are_recorded_and_retried_on_request(files, tmp_path, monkeypatch):
    from fmlc.sweep import runner
    import fmlc.toolchain

    calls = []
    real = runner.evaluate_point
    monkeypatch.setattr(runner, "evaluate_point", lambda task, model: calls.append(1) or real(task, model))
    which = shutil.which
    monkeypatch.setattr(fmlc.toolchain.shutil, "which", lambda tool, *a, **k: None if tool == "yosys" else which(tool, *a, **k))
    # a worker without Yosys: the Verilog point fails when its cost is measured, the HLS one runs
    (tmp_path / "g.yaml").write_text("target: [hls, verilog]\nprecision: \"fixed<6,3>\"\n")
    plan = plan_sweep([files["model"]], tmp_path / "g.yaml", inputs=[files["x"]])
    outcome = run_sweep(plan, tmp_path / "out", None, fmt="csv", progress=False)
    assert (outcome.evaluated, outcome.failed) == (2, 1)
    records = {r["target"]: r for r in read_records(tmp_path / "out" / "results.csv")}
    bad = records["verilog"]
    assert bad["status"] == "failed" and bad["error"].startswith("ToolchainError: `yosys` is not on the PATH"), bad["error"]
    assert bad["fidelity"] is not None and bad["lut"] is None  # measured up to the failure
    assert records["hls"]["status"] == "ok" and records["hls"]["accuracy"] is None  # no labels: fidelity only
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## Failed points" in summary and "yosys" in summary
    run_sweep(plan, tmp_path / "out", None, progress=False)
    assert len(calls) == 2  # a failed point stays failed...
    again = run_sweep(plan, tmp_path / "out", None, progress=False, retry_failed=True)
    assert again.evaluated == 1 and len(calls) == 3  # ...until asked


def test_csv_and_parquet_hold_the_same_records(serial, files, tmp_path):
    plan = plan_sweep([files["model"]], files["grid"], inputs=[files["x"]], labels=files["y"])
    run_sweep(plan, tmp_path, None, fmt="csv", progress=False)
    assert stable(read_records(tmp_path / "results.csv")) == stable(read_records(serial[0] / "results.parquet"))


def test_results_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    store = ResultStore(tmp_path, "parquet", interval=0)
    store.add({"key": "a", "model": "m", "target": "hls", "status": "ok", "lut": 3})
    before = (tmp_path / "results.parquet").read_bytes()

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.add({"key": "b", "model": "m", "target": "hls", "status": "ok", "lut": None})
    monkeypatch.undo()
    assert (tmp_path / "results.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.parquet"]
    write_atomic(tmp_path / "results.parquet", b"not parquet")
    with pytest.raises(SweepError, match="cannot read the earlier results"):
        ResultStore(tmp_path, "parquet")


# --------------------------------------------------------------------------------------------
# costs from the real tools
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["verilog", "cuda"])
def test_costs_from_yosys_and_ptxas(target, files, tmp_path):
    tool = {"verilog": "yosys", "cuda": "nvcc"}[target]
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not on the PATH")
    (tmp_path / "g.yaml").write_text(f"target: {target}\nprecision: \"fixed<6,3>\"\nadders_per_stage: 1\n")
    plan = plan_sweep([files["model"]], tmp_path / "g.yaml", inputs=[files["x"]])
    outcome = run_sweep(plan, tmp_path / "out", None, progress=False)
    (r,) = outcome.records
    assert r["status"] == "ok", r["error"]
    if target == "verilog":
        assert r["lut"] > 0 and r["carry"] > 0 and r["ff"] > 0 and r["latency_cycles"] >= 1
        # one adder level a stage: the register-to-register path is a few LUTs, estimated in ns
        assert 0 < r["depth"] <= 4 and r["depth_ns"] > 0
    else:
        assert r["registers"] > 0 and r["spill_bytes"] >= 0 and r["smem_bytes"] >= 0 and r["lut"] is None


def test_ptxas_report_parsing():
    from fmlc.sweep.cost import parse_ptxas

    text = """ptxas info    : Compiling entry function 'k1' for 'sm_90'
ptxas info    : Function properties for k1
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 32 registers, used 1 barriers, 17408 bytes smem
ptxas info    : Compiling entry function 'k2' for 'sm_90'
ptxas info    : Function properties for k2
    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 1024 bytes smem
"""
    assert parse_ptxas(text) == {"registers": 255, "smem_bytes": 17408, "spill_bytes": 12, "stack_bytes": 16}


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------


def run_cli(capsys, *args) -> tuple[int, str]:
    code = fmlc_main(["sweep", *map(str, args), "--no-progress"])
    return code, capsys.readouterr().err


def test_cli_errors_leave_nothing_behind(files, tmp_path, capsys):
    out = tmp_path / "out"
    (tmp_path / "bad.yaml").write_text("target: hls\nreuse_factr: [1, 2]\n")
    code, err = run_cli(capsys, files["model"], "-g", tmp_path / "bad.yaml", "-o", out, "--workers", "0")
    assert code == 2 and "fmlc: error:" in err and "unknown option 'reuse_factr'" in err and "Traceback" not in err
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07garbage")
    code, err = run_cli(capsys, tmp_path / "broken.onnx", "-g", files["grid"], "-o", out, "--workers", "0")
    assert code == 2 and "broken.onnx: the model does not import" in err, err
    code, err = run_cli(capsys, files["model"], "-g", files["grid"], "-o", out, "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "1")
    assert code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s" in err, err
    np.save(tmp_path / "x3.npy", np.zeros((5, 3), dtype=np.float32))
    code, err = run_cli(capsys, files["model"], "-g", files["grid"], "-o", out, "--input", tmp_path / "x3.npy", "--workers", "0")
    assert code == 2 and "input #0 must be shaped (N, 4), got (5, 3)" in err, err
    code, err = run_cli(capsys, files["model"], "-g", files["grid"], "-o", out, "--input", files["x"], "--labels", tmp_path / "x3.npy", "--workers", "0")
    assert code == 2 and "5 labels for 300 input samples" in err, err
    np.save(tmp_path / "nan.npy", np.full((5, 4), np.nan, dtype=np.float32))
    code, err = run_cli(capsys, files["model"], "-g", files["grid"], "-o", out, "--input", tmp_path / "nan.npy", "--workers", "0")
    assert code == 2 and "nan.npy: the inputs hold NaN or infinite values" in err, err
    (tmp_path / "notsweep").mkdir()
    (tmp_path / "notsweep" / "thesis.tex").write_text("")
    code, err = run_cli(capsys, files["model"], "-g", files["grid"], "-o", tmp_path / "notsweep", "--workers", "0")
    assert code == 2 and "holds no sweep results" in err
    assert not out.exists() and sorted(p.name for p in (tmp_path / "notsweep").iterdir()) == ["thesis.tex"]


def test_cli_on_an_existing_scheduler(files, client, tmp_path, capsys, serial):
    """--scheduler ADDRESS: the same command on a cluster started elsewhere."""
    client.wait_for_workers(2)
    address = client.scheduler.address
    code, err = run_cli(capsys, files["model"], "-g", files["grid"], "-o", tmp_path, "--input", files["x"], "--labels", files["y"], "--scheduler", address)
    assert code == 0, err
    assert f"6 points (1 model(s) x 6) on {address}" in err and "6 evaluated (0 failed)" in err
    assert stable(read_records(tmp_path / "results.parquet")) == stable(serial[1].records)


def readme_sweep_command() -> list[str]:
    text = (ROOT / "README.md").read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("fmlc sweep ")]
    assert len(lines) == 1, "README shows one sweep command"
    return shlex.split(lines[0].split("#")[0])


def test_readme_sweep_command(tmp_path, monkeypatch, capsys):
    """The README's command, from the repository's root: its grid checked, then run on a small grid."""
    argv = readme_sweep_command()
    monkeypatch.chdir(ROOT)
    grid = Path(argv[argv.index("-g") + 1])
    models = [Path(a) for a in argv[2 : argv.index("-g")]]
    assert len(read_grid(grid).points) == 16 and all(m.exists() for m in models)
    (tmp_path / "small.yaml").write_text('target: hls\nprecision: ["fixed<8,4>", "fixed<12,6>"]\n')
    argv[argv.index("-g") + 1] = str(tmp_path / "small.yaml")
    argv[argv.index("-o") + 1] = str(tmp_path / "out")
    code = fmlc_main(argv[1:] + ["--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 evaluated (0 failed)" in err
    records = read_records(tmp_path / "out" / "results.parquet")
    assert len(records) == 2 and all(r["status"] == "ok" and r["fidelity"] is not None for r in records)
    assert (tmp_path / "out" / "pareto.png").exists() and "Pareto front" in (tmp_path / "out" / "summary.md").read_text()


def test_docs_python_snippet(files, client, tmp_path, monkeypatch):
    """docs/sweep.md's Python example, run with this module's cluster as its client."""
    text = (ROOT / "docs" / "sweep.md").read_text()
    snippet = re.search(r"```python\n(# sweep from Python.*?)```", text, re.DOTALL).group(1)
    connect = 'client = Client("tcp://10.0.0.5:37211")\n'
    assert connect in snippet
    monkeypatch.chdir(tmp_path)
    shutil.copy(files["x"], "x.npy")
    shutil.copy(files["y"], "y.npy")
    shutil.copy(files["grid"], "grid.yaml")
    shutil.copy(files["model"], "model.onnx")
    scope = {"client": client}
    exec(snippet.replace(connect, ""), scope)
    assert scope["outcome"].evaluated == 6 and (tmp_path / "sweep_out" / "results.parquet").exists()
