"""CUDA target, host path: the generated per-sample code (the kernels' own source, compiled
for the CPU with g++) must equal the emulator bit for bit on random networks of every kind,
through the raw-code path and the float API (quantize on "device" code, dequantize).

All networks are built into one host program (one g++ run) to keep the suite fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs
from fmlc.emulator import Emulator
from fmlc.netgen import KINDS, random_network
from fmlc.targets.cuda import build_host_bundle, run_program

SEEDS = range(4)
SAMPLES = 3000


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("cuda_host")
    folders, nets = [], {}
    for kind in KINDS:
        for seed in SEEDS:
            name = f"{kind}_{seed}"
            module = random_network(kind, seed)
            nets[name] = module
            folders.append(compile_model(module, root / name, CompileOptions(target="cuda", name=name)))
    return build_host_bundle(folders), folders, nets


def _inputs(emu: Emulator, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-12, 12, (SAMPLES,) + emu.input_shapes[0]).astype(np.float32)
    x[: SAMPLES // 10] = np.round(x[: SAMPLES // 10] * 64) / 64  # values on the grid: ties for the rounding modes
    return x


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_host_path_matches_emulator(bundle, kind, seed):
    program, folders, nets = bundle
    name = f"{kind}_{seed}"
    folder = next(f for f in folders if f.name == name)
    manifest = load_manifest(folder)
    emu = Emulator(nets[name])
    x = _inputs(emu, seed)
    n = len(x)
    want = emu.run(x, raw=True)[0].reshape(n, -1)
    codes = quantize_inputs(manifest, [x])[0].reshape(n, -1)

    raw = run_program(program, "raw", codes.astype(np.int64), np.int64, n, want.shape[1], model=name)
    assert np.array_equal(raw, want), f"{name}: raw codes differ at samples {np.nonzero((raw != want).any(axis=1))[0][:5]}"

    flat = x.reshape(n, -1)
    quantized = run_program(program, "quantize", flat, np.int64, n, flat.shape[1], model=name)
    assert np.array_equal(quantized, codes), f"{name}: device quantization differs from fxp.quantize"
    out_codes = run_program(program, "codes", flat, np.int64, n, want.shape[1], model=name)
    assert np.array_equal(out_codes, want), f"{name}: float-in/codes-out path differs"
    values = run_program(program, "float", flat, np.float32, n, want.shape[1], model=name)
    assert np.array_equal(values, emu.run(x)[0].reshape(n, -1).astype(np.float32)), f"{name}: float API values differ"


def test_quantize_with_scale_and_offset(tmp_path):
    """fxp.quantize's affine part runs in float32 without FMA, every rounding and overflow mode."""
    from xdsl.dialects.builtin import TensorType, f32

    from fmlc.dialects import fxp
    from fmlc.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
    from fmlc.ir import FunctionBuilder

    folders, modules = [], {}
    for k, (q, o) in enumerate([(q, o) for q in ROUNDING_MODES for o in OVERFLOW_MODES][::3]):
        b = FunctionBuilder("main", [TensorType(f32, [8])])
        y = b.add(fxp.QuantizeOp(b.args[0], FixedFormat(7, 2, k % 2 == 0, q, o), scale=0.3 + k, offset=-0.1 * k)).result
        r = b.add(fxp.ReluOp(y, FixedFormat(7, 2, k % 2 == 0, q, o))).result
        module = b.finish([r])
        name = f"q{k}"
        modules[name] = module
        folders.append(compile_model(module, tmp_path / name, CompileOptions(target="cuda", name=name)))
    program = build_host_bundle(folders)
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-40, 40, (500, 8)), np.round(rng.uniform(-8, 8, (500, 8)) * 8) / 8]).astype(np.float32)
    for folder in folders:
        name = folder.name
        want = quantize_inputs(load_manifest(folder), [x])[0]
        got = run_program(program, "quantize", x, np.int64, len(x), 8, model=name)
        assert np.array_equal(got, want), name
        assert np.array_equal(run_program(program, "codes", x, np.int64, len(x), 8, model=name), Emulator(modules[name]).run(x, raw=True)[0])
