"""The fmlc command: import, run on the emulator, errors (targets have their own tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from fmlc.driver import resolve
from fmlc.emulator import Emulator
from fmlc.frontend.onnx_import import import_model
from fmlc.ir import parse_module

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jet_mlp_qonnx.onnx"


def fmlc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fmlc.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_import_prints_resolved_ir(tmp_path):
    out = tmp_path / "m.mlir"
    r = fmlc("import", EXAMPLE, "-o", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "!fxp.auto" not in text and "fxp.softmax" in text
    parse_module(text)  # verifies
    raw = fmlc("import", EXAMPLE, "--raw-import")
    assert raw.returncode == 0 and "!fxp.auto" in raw.stdout


def test_run_model_and_ir_on_the_emulator(tmp_path):
    x = np.random.default_rng(0).uniform(-4, 4, (50, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    expect = Emulator(resolve(import_model(EXAMPLE))).run(x)[0]
    r = fmlc("run", EXAMPLE, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "y.npy"), expect)
    fmlc("import", EXAMPLE, "-o", tmp_path / "m.mlir")
    r = fmlc("run", tmp_path / "m.mlir", "--input", tmp_path / "x.npy", "--output", tmp_path / "y2.npy", "--raw")
    assert r.returncode == 0, r.stderr
    codes = np.load(tmp_path / "y2.npy")
    assert codes.dtype == np.int64 and np.array_equal(np.ldexp(codes.astype(np.float64), -17), expect)


def test_run_errors(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((3, 7), dtype=np.float32))
    r = fmlc("run", EXAMPLE, "--input", tmp_path / "bad.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 2 and "must be shaped (N, 16)" in r.stderr, r.stderr
    assert not (tmp_path / "y.npy").exists()
    r = fmlc("run", EXAMPLE, "--input", tmp_path / "missing.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 2 and "no such file" in r.stderr
    r = fmlc("report", tmp_path)
    assert r.returncode == 2 and "not an fmlc output folder" in r.stderr
    (tmp_path / "broken.mlir").write_text("func.func @main() {\n  %x = fxp.bogus\n}\n")
    r = fmlc("run", tmp_path / "broken.mlir", "--input", tmp_path / "bad.npy", "--output", tmp_path / "y.npy")
    assert r.returncode == 2 and "broken.mlir" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_help_documents_every_command():
    r = fmlc("--help")
    for command in ("import", "compile", "run", "report"):
        assert command in r.stdout
    for command in ("import", "compile", "run", "report"):
        r = fmlc(command, "--help")
        assert r.returncode == 0 and "usage: fmlc " + command in r.stdout
