"""CUDA target on the reference models (../shared/models where present, else their zoo
replicas; imported by the ONNX front end): the host path equals the emulator bit for bit on
2000 inputs each, and every kernel compiles with ``nvcc -arch=sm_90`` without a warning."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from models import ALL_MODELS, model_path, random_inputs

from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs
from fmlc.emulator import Emulator
from fmlc.ir import parse_module
from fmlc.targets.cuda import build_host_bundle, run_program

NVCC_WARNINGS = ["--Werror", "all-warnings", "-Xcompiler", "-Wall,-Wextra"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    from fmlc.frontend.onnx_import import import_model

    root = tmp_path_factory.mktemp("cuda_models")
    folders = {}
    for name in ALL_MODELS:
        module = import_model(model_path(name), {})
        folders[name] = compile_model(module, root / name, CompileOptions(target="cuda", name=name))
    return folders


@pytest.fixture(scope="module")
def host_bundle(compiled):
    return build_host_bundle(list(compiled.values()))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_model_host_path_is_bit_exact(compiled, host_bundle, name):
    folder = compiled[name]
    manifest = load_manifest(folder)
    emu = Emulator(parse_module((folder / "model.mlir").read_text()))
    x = random_inputs(name, 2000, seed=3)
    n = len(x)
    want = emu.run(x, raw=True)[0].reshape(n, -1)
    codes = quantize_inputs(manifest, [x])[0].reshape(n, -1)
    got = run_program(host_bundle, "raw", codes.astype(np.int64), np.int64, n, want.shape[1], model=name)
    assert np.array_equal(got, want), f"{name}: raw path differs at samples {np.nonzero((got != want).any(axis=1))[0][:5]}"
    flat = x.reshape(n, -1).astype(np.float32)
    got = run_program(host_bundle, "codes", flat, np.int64, n, want.shape[1], model=name)
    assert np.array_equal(got, want), f"{name}: float API (device quantization) differs"


def test_model_kernels_compile_without_warnings(compiled, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on the PATH")

    def build(item):
        name, folder = item
        res = subprocess.run(
            [nvcc, "-arch=sm_90", "-c", f"{name}_kernels.cu", "-o", str(tmp_path / f"{name}.o"), *NVCC_WARNINGS],
            cwd=folder, capture_output=True, text=True,
        )
        return name, res

    # one model a TU: each may use most of the 64 KiB of constant memory
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(build, compiled.items()))
    for name, res in results:
        assert res.returncode == 0 and not res.stderr.strip(), f"{name}: nvcc said:\n{res.stdout}{res.stderr}"
