"""CUDA target: deterministic output, the CLI (compile, run on the host path, report), clear
errors for what it cannot compile, and the cuda dialect's verifiers."""

from __future__ import annotations

import filecmp
import subprocess
import sys

import numpy as np
import pytest
from xdsl.dialects.builtin import TensorType, f32
from xdsl.utils.exceptions import VerifyException

from fmlc.dialects import cuda, fxp
from fmlc.driver import CompileError, CompileOptions, compile_model
from fmlc.emulator import Emulator
from fmlc.fixed import FixedFormat
from fmlc.ir import FunctionBuilder, parse_module, print_module
from fmlc.netgen import random_network


def _same_tree(a, b) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors


def test_two_compiles_give_identical_folders(tmp_path):
    module = random_network("conv2d", 2)
    a = compile_model(module, tmp_path / "a", CompileOptions(target="cuda", name="m"))
    b = compile_model(random_network("conv2d", 2), tmp_path / "b", CompileOptions(target="cuda", name="m"))
    assert _same_tree(a, b)
    for name in ("fmlc_m.h", "m_kernels.cu", "m_model.cuh", "m_host.cpp", "m_tool.cu", "CMakeLists.txt", "cuda.mlir", "fmlc_runtime.cuh"):
        assert (a / name).is_file(), name
    assert "set(CMAKE_CUDA_ARCHITECTURES 90)" in (a / "CMakeLists.txt").read_text()
    text = (a / "cuda.mlir").read_text()
    assert print_module(parse_module(text)) == text  # the cuda IR round-trips


def test_cli_compile_run_report(tmp_path):
    module = random_network("mlp", 3)
    (tmp_path / "m.mlir").write_text(print_module(module))
    x = np.random.default_rng(1).uniform(-6, 6, (500,) + Emulator(module).input_shapes[0]).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "fmlc.cli"]
    res = subprocess.run(cli + ["compile", str(tmp_path / "m.mlir"), "--target", "cuda", "-o", str(out), "--cuda-arch", "80", "--name", "mlp"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "set(CMAKE_CUDA_ARCHITECTURES 80)" in (out / "CMakeLists.txt").read_text()
    env = {"FMLC_CUDA_DEVICE": "cpu"}
    import os

    res = subprocess.run(cli + ["run", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"), "--raw"],
                         capture_output=True, text=True, env={**os.environ, **env})
    assert res.returncode == 0, res.stderr
    assert "CPU host path" in res.stderr
    assert np.array_equal(np.load(tmp_path / "y.npy"), Emulator(module).run(x, raw=True)[0])
    res = subprocess.run(cli + ["report", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "dense_1" in res.stdout and "multiplications" in res.stdout and "__constant__" in res.stdout


def test_too_wide_codes_are_refused_by_name(tmp_path):
    b = FunctionBuilder("main", [TensorType(f32, [4])])
    x = b.add(fxp.QuantizeOp(b.args[0], FixedFormat(16, 8))).result
    w = b.add(fxp.ConstantOp(np.full((4, 2), 3), FixedFormat(8, 8))).result
    y = b.add(fxp.DenseOp(x, w, None, FixedFormat(70, 30), FixedFormat(70, 30)), name="wide_dense").result
    module = b.finish([y])
    with pytest.raises(CompileError, match=r"wide_dense.*64 bits"):
        compile_model(module, tmp_path / "o", CompileOptions(target="cuda", name="w"))
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_unknown_setting_is_refused(tmp_path):
    with pytest.raises(CompileError, match="unknown setting"):
        compile_model(random_network("mlp", 0), tmp_path / "o", CompileOptions(target="cuda", name="m", extra={"blocksize": 64}))


def test_dialect_verifiers():
    with pytest.raises(VerifyException, match="block_size"):
        cuda.KernelOp("k", [cuda.array_type(f32, [cuda.DYNAMIC], "global")], 100).verify()
    x = cuda.ConstantOp(5, cuda.int_type(32, True))
    with pytest.raises(VerifyException, match="round_shift"):
        cuda.RoundShiftOp(x.result, 3, "NEAREST").verify()
    with pytest.raises(VerifyException, match="bounds"):
        cuda.ClampOp(x.result, 10, -10).verify()
    with pytest.raises(VerifyException, match="fit"):
        cuda.ClampOp(cuda.ConstantOp(1, cuda.int_type(8, True)).result, -1000, 10).verify()
    with pytest.raises(VerifyException, match="four 8-bit"):
        cuda.Pack4Op([x.result] * 4).verify()
