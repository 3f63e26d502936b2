"""Compiled folders are only read: every backend builds its simulator in the build cache
(``fmlc.cache``), so a read-only folder runs, from any working folder, with relative paths,
and stays byte for byte as ``fmlc compile`` wrote it.  Empty batches, concurrent builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from robustness.robustness_cases import qmlp, save, snapshot

from fmlc.cache import cached_build, digest
from fmlc.driver import CompileError, CompileOptions, compile_model, resolve, run_compiled
from fmlc.emulator import Emulator
from fmlc.frontend.onnx_import import import_model

BACKENDS = {"hls": ("csim",), "verilog": ("verilator", "icarus"), "cuda": ("cuda",)}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    root = tmp_path_factory.mktemp("ro")
    model = root / save(root, qmlp())
    module = import_model(model)
    folders = {t: compile_model(module, root / "models" / t, CompileOptions(target=t, name=f"ro_{t}")) for t in BACKENDS}
    return root, model, folders


def _drop_root_privilege() -> list[str]:
    """As root, a read-only folder is writable unless the capability that overrides file
    permissions is dropped: run through setpriv."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made read-only")
    return ["setpriv", "--bounding-set", "-dac_override", "--"]


def test_read_only_folders_run_on_every_backend_from_another_folder(compiled, tmp_path):
    root, model, folders = compiled
    x = np.random.default_rng(3).uniform(-3, 3, (40, 4)).astype(np.float32)
    np.save(root / "x.npy", x)
    expected = Emulator(resolve(import_model(model))).run(x, raw=True)[0]
    before = snapshot(root / "models")
    subprocess.run(["chmod", "-R", "a-w", str(root / "models")], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    prefix = _drop_root_privilege()
    env = {**os.environ, "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))}
    try:
        for target, backends in BACKENDS.items():
            rel = os.path.relpath(folders[target], elsewhere)
            for backend in backends:
                out = f"y_{backend}.npy"
                proc = subprocess.run(
                    [*prefix, sys.executable, "-m", "fmlc.cli", "run", rel, "--input", os.path.relpath(root / "x.npy", elsewhere), "--output", out, "--backend", backend, "--raw"],
                    cwd=elsewhere, capture_output=True, text=True, env={**env, "FMLC_CUDA_DEVICE": "cpu"},
                )  # fmt: skip
                assert proc.returncode == 0, f"{backend}: {proc.stderr[-3000:]}"
                assert np.array_equal(np.load(elsewhere / out), expected), backend
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(root / "models")], check=True)
    assert snapshot(root / "models") == before


def test_empty_batch_gives_empty_outputs_on_every_backend(compiled):
    _, model, folders = compiled
    x = np.zeros((0, 4), np.float32)
    assert Emulator(resolve(import_model(model))).run(x)[0].shape == (0, 3)
    for target, backends in BACKENDS.items():
        for backend in (*backends, "emulator"):
            for raw in (False, True):
                y = run_compiled(folders[target], [x], backend, raw=raw)
                assert len(y) == 1 and y[0].shape == (0, 3), (target, backend, y[0].shape)
                assert y[0].dtype == (np.int64 if raw else np.float64)


def test_empty_batch_through_the_command_line(compiled, tmp_path):
    from fmlc.cli import main

    _, model, folders = compiled
    np.save(tmp_path / "x0.npy", np.zeros((0, 4), np.float32))
    for source in (model, folders["verilog"]):
        assert main(["run", str(source), "--input", str(tmp_path / "x0.npy"), "--output", str(tmp_path / "y0.npy")]) == 0
        assert np.load(tmp_path / "y0.npy").shape == (0, 3)


def test_concurrent_builds_share_one_complete_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    started = threading.Barrier(4)

    def build(work: Path) -> None:
        started.wait(timeout=30)  # all four build at once
        (work / "program").write_bytes(b"x" * 100000)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cached_build("test", digest(["same"]), build, "program"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and (results[0] / "program").read_bytes() == b"x" * 100000
    assert os.listdir(tmp_path / "fmlc" / "test") == [results[0].name]  # no temporary folders left


def test_failed_build_leaves_no_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def build(work: Path) -> None:
        (work / "half").write_text("x")
        raise CompileError("the compiler failed")

    with pytest.raises(CompileError):
        cached_build("test", digest(["failing"]), build, "program")
    assert os.listdir(tmp_path / "fmlc" / "test") == []
