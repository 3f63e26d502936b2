"""Fuzz graphs through the compiled targets, against fmlc's own emulator (integer codes, ``==``).

Targets and backends: ``hls`` (C simulation, ``csim``), ``verilog`` (``verilator``, ``icarus``),
``cuda`` (the host path: the kernels' per-sample code built for the CPU with g++, as
tests/python/test_cuda_host.py runs it without a GPU; all CUDA models go into one host bundle,
one g++ run).  The CUDA check covers both of its entry points: raw codes in, and float inputs
quantized by the generated device quantizer (``codes`` mode), each against the emulator.

Only graphs fmlc imports are used; ``small_cases`` picks small ones so HDL builds stay quick.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qonnx_fuzz.generate import FuzzCase, make_case
from qonnx_fuzz.harness import fmlc_module

BACKENDS = {"hls": ("csim",), "verilog": ("verilator", "icarus"), "cuda": ("host",)}


@dataclass
class TargetResult:
    seed: int
    target: str
    backend: str
    status: str  # exact | differs | error
    detail: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        return f"seed {self.seed} {self.target}/{self.backend}: {self.status} {self.detail}"


def case_size(case: FuzzCase) -> int:
    """Parameters plus per-sample input elements: a proxy for build and simulation time."""
    params = sum(int(np.prod(t.dims)) for t in case.builder.inits)
    return params + int(np.prod(case.x.shape[1:]))


def small_cases(count: int, start: int = 0, max_size: int = 400, n_samples: int = 32, limit: int = 4000):
    """``count`` (case, resolved module) pairs, in seed order from ``start``, that fmlc imports
    and whose size is at most ``max_size``."""
    from fmlc.frontend import ModelImportError

    found = []
    for seed in range(start, start + limit):
        if len(found) == count:
            break
        case = make_case(seed, n_samples)
        if case_size(case) > max_size:
            continue
        try:
            module, _ = fmlc_module(case)
        except ModelImportError:
            continue
        found.append((case, module))
    return found


def _emulated(module, x: np.ndarray) -> list[np.ndarray]:
    from fmlc.emulator import Emulator

    return Emulator(module).run(x, raw=True)


def _same(got, want) -> tuple[bool, str]:
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g).reshape(w.shape), np.asarray(w)
        if not np.array_equal(g, w):
            bad = np.argwhere(g != w)[0]
            return False, f"output #{k} {list(bad)}: {g[tuple(bad)]} vs emulator {w[tuple(bad)]} ({int((g != w).sum())}/{w.size} differ)"
    return True, ""


def check_compiled(case: FuzzCase, module, root: Path, target: str) -> list[TargetResult]:
    """Compile for ``target`` (hls or verilog) and run every backend of it."""
    from fmlc.driver import CompileOptions, compile_model, run_compiled

    results = []
    t0 = time.perf_counter()
    try:
        folder = compile_model(module, root / f"{target}_{case.seed}", CompileOptions(target=target, name=f"fz{case.seed}"))
    except Exception as err:  # noqa: BLE001 - recorded per case
        return [TargetResult(case.seed, target, b, "error", f"compile: {type(err).__name__}: {err}"[:400], time.perf_counter() - t0) for b in BACKENDS[target]]
    want = _emulated(module, case.x)
    for backend in BACKENDS[target]:
        t1 = time.perf_counter()
        try:
            got = run_compiled(folder, [case.x], backend=backend, raw=True)
            ok, why = _same(got, want)
            results.append(TargetResult(case.seed, target, backend, "exact" if ok else "differs", why, time.perf_counter() - t1))
        except Exception as err:  # noqa: BLE001
            tb = traceback.extract_tb(err.__traceback__)[-1]
            results.append(TargetResult(case.seed, target, backend, "error", f"{type(err).__name__}: {err} [{Path(tb.filename).name}:{tb.lineno}]"[:400], time.perf_counter() - t1))
    return results


def check_hls_bundled(items: list, root: Path, per_library: int = 10) -> list[TargetResult]:
    """The HLS C simulation of many cases, ``per_library`` compiled folders a shared library
    (one g++ run for all of them, as tests/python/test_hls_csim.py builds its networks: the
    ap_fixed headers dominate a build).  For the bench; the suite goes through run_compiled."""
    from fmlc.driver import (
        CompileOptions,
        compile_model,
        load_manifest,
        quantize_inputs,
    )
    from test_hls_csim import build_many, run_entry

    results, built = [], []
    for case, module in items:
        t0 = time.perf_counter()
        try:
            built.append((case, module, compile_model(module, root / f"hlsb_{case.seed}", CompileOptions(target="hls", name=f"fz{case.seed}"))))
        except Exception as err:  # noqa: BLE001
            results.append(TargetResult(case.seed, "hls", "csim", "error", f"compile: {type(err).__name__}: {err}"[:400], time.perf_counter() - t0))
    for start in range(0, len(built), per_library):
        group = built[start : start + per_library]
        t0 = time.perf_counter()
        try:
            lib, _ = build_many([f for _, _, f in group], f"fuzz{group[0][0].seed}")
        except BaseException as err:  # noqa: BLE001 - an assertion inside build_many is a failed build
            results += [TargetResult(c.seed, "hls", "csim", "error", f"build: {err}"[:400], 0.0) for c, _, _ in group]
            continue
        share = (time.perf_counter() - t0) / len(group)
        for case, module, folder in group:
            t1 = time.perf_counter()
            try:
                got = run_entry(lib, folder, quantize_inputs(load_manifest(folder), [case.x]))
                ok, why = _same(got, _emulated(module, case.x))
                results.append(TargetResult(case.seed, "hls", "csim", "exact" if ok else "differs", why, share + time.perf_counter() - t1))
            except Exception as err:  # noqa: BLE001
                results.append(TargetResult(case.seed, "hls", "csim", "error", f"{type(err).__name__}: {err}"[:400], share))
    return results


def check_cuda_host(items: list, root: Path) -> list[TargetResult]:
    """All cases through the CUDA host path in one bundle: raw codes, then float inputs through
    the generated device quantizer, each against the emulator."""
    from fmlc.driver import (
        CompileOptions,
        compile_model,
        load_manifest,
        quantize_inputs,
    )
    from fmlc.targets.cuda import build_host_bundle, run_program

    results, built = [], []
    for case, module in items:
        t0 = time.perf_counter()
        try:
            built.append((case, module, compile_model(module, root / f"cuda_{case.seed}", CompileOptions(target="cuda", name=f"fz{case.seed}"))))
        except Exception as err:  # noqa: BLE001
            results.append(TargetResult(case.seed, "cuda", "host", "error", f"compile: {type(err).__name__}: {err}"[:400], time.perf_counter() - t0))
    if not built:
        return results
    program = build_host_bundle([f for _, _, f in built])
    for case, module, folder in built:
        t0 = time.perf_counter()
        try:
            want = _emulated(module, case.x)[0]
            n = len(case.x)
            want2 = np.asarray(want).reshape(n, -1)
            codes = quantize_inputs(load_manifest(folder), [case.x])[0].reshape(n, -1)
            raw = run_program(program, "raw", codes.astype(np.int64), np.int64, n, want2.shape[1], model=f"fz{case.seed}")
            ok, why = _same([raw], [want2])
            if ok:
                flat = np.ascontiguousarray(case.x.reshape(n, -1))
                dev = run_program(program, "codes", flat, np.int64, n, want2.shape[1], model=f"fz{case.seed}")
                ok, why = _same([dev], [want2])
                why = ("float inputs through the device quantizer: " + why) if not ok else ""
            results.append(TargetResult(case.seed, "cuda", "host", "exact" if ok else "differs", why, time.perf_counter() - t0))
        except Exception as err:  # noqa: BLE001
            results.append(TargetResult(case.seed, "cuda", "host", "error", f"{type(err).__name__}: {err}"[:400], time.perf_counter() - t0))
    return results
