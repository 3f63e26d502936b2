"""CUDA target: the generated kernels, C API, GPU tool and CPU program compile without a
warning (nvcc for sm_90, g++ -Wall -Wextra); several networks share one nvcc run."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fmlc.driver import CompileOptions, compile_model
from fmlc.netgen import KINDS, random_network

WARNINGS = ["--Werror", "all-warnings", "-Xcompiler", "-Wall,-Wextra"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("cuda_nvcc")
    return [compile_model(random_network(kind, 5), root / kind, CompileOptions(target="cuda", name=f"n_{kind}")) for kind in KINDS]


def test_kernels_compile_for_sm90_without_warnings(folders, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on the PATH")
    bundle = tmp_path / "all.cu"
    bundle.write_text("".join(f'#include "{f}/n_{f.name}_kernels.cu"\n' for f in folders))
    res = subprocess.run([nvcc, "-arch=sm_90", "-c", str(bundle), "-o", str(tmp_path / "all.o"), *WARNINGS], capture_output=True, text=True)
    assert res.returncode == 0 and not res.stderr.strip(), res.stdout + res.stderr


def test_tool_and_host_programs_build(folders, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on the PATH")
    f = folders[0]
    name = f"n_{f.name}"
    # the GPU tool links against the C API (what CMake builds, without CMake)
    res = subprocess.run(
        [nvcc, "-arch=sm_90", f"{name}_kernels.cu", f"{name}_tool.cu", "-o", str(tmp_path / "tool"), *WARNINGS],
        cwd=f, capture_output=True, text=True,
    )
    assert res.returncode == 0 and not res.stderr.strip(), res.stdout + res.stderr
    res = subprocess.run(["g++", "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", f"{name}_host.cpp", "-o", str(tmp_path / "host")], cwd=f, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
