"""The HLS target's C simulation against the emulator, bit for bit, on random networks.

Every kind of ``fmlc.netgen`` network, several seeds, both I/O styles and reuse factors 1
and 4: compiled with ``fmlc.driver.compile_model`` (the real target), built, run on random
float inputs (quantized on the host as ``run_compiled`` does), integer codes compared with
``==``.  To keep g++ time down, the four configurations of one network (same types, so the
same template instantiations) are compiled into one shared library: each folder's build
units go into a namespace of their own, and each model exports its own C entry point
(``fmlc_TOP_run``).  That build uses the Makefile's warning flags and must print nothing.

The folder's own Makefile, its testbench and the driver's ``run_compiled`` are exercised too
(one model per I/O style), with the determinism of the output folder and the CLI.
"""

from __future__ import annotations

import ctypes
import filecmp
import random
import hashlib
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects.builtin import IntegerAttr, StringAttr, TensorType, f32, i64

from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs, run_compiled
from fmlc.emulator import Emulator
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.ir import FunctionBuilder, main_function
from fmlc.lowering.hls_to_cpp import api_name
from fmlc.netgen import KINDS, random_network
from fmlc.targets.hls import HlsTarget
from fmlc.toolchain import ap_types_include, cxx

CACHE = Path(os.environ.get("FMLC_TEST_CACHE", Path(tempfile.gettempdir()) / "fmlc-test-cache"))
SEEDS = (0, 1, 2)
CONFIGS = (("parallel", 1), ("parallel", 4), ("stream", 1), ("stream", 4))
SAMPLES = 400
# the Makefile's flags: every warning of the generated code on, the vendor headers' off
CXXFLAGS = ["-std=c++17", "-Wall", "-Wextra", "-fPIC", "-shared", "-DNDEBUG"]
# a few hundred samples of a small network run in no time at -O0, which g++ compiles twice as
# fast as -O2 (big models, many samples: -O1)
FAST = "-O0"

PRELUDE = """\
#include <cstdint>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <ap_fixed.h>
#include <ap_int.h>
#include <hls_stream.h>
#pragma GCC diagnostic pop
"""


# --------------------------------------------------------------------------------------------
# building several compiled folders into one library
# --------------------------------------------------------------------------------------------


def _folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.[ch]*")):
        if "build" not in p.parts:
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def build_many(folders: list[Path], name: str, opt: str = FAST) -> tuple[ctypes.CDLL, str]:
    """One shared library from several compiled folders; returns it and g++'s diagnostics.

    Every folder's build units (``csim/unit*.cpp``: firmware and C API) are included inside a
    namespace of their own, after the vendor headers (whose include guards keep them global).
    Cached by content, like ``apfixed.build_and_run``.
    """
    key = hashlib.sha256((opt + "".join(_folder_digest(f) for f in folders)).encode()).hexdigest()[:16]
    where = CACHE / f"hls-{name}-{key}"
    lib, log = where / "lib.so", where / "diagnostics.txt"
    if not lib.exists():
        where.mkdir(parents=True, exist_ok=True)
        parts = [PRELUDE]
        for k, folder in enumerate(folders):
            units = sorted((folder / "csim").glob("unit*.cpp"))
            parts += [f"namespace model{k} {{"] + [f'#include "{u}"' for u in units] + ["}"]
        src = where / "all.cpp"
        src.write_text("\n".join(parts) + "\n")
        tmp = where / "lib.so.tmp"
        result = subprocess.run([cxx(), *CXXFLAGS, opt, "-isystem", str(ap_types_include()), str(src), "-o", str(tmp)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-6000:]
        log.write_text(result.stderr)
        tmp.rename(lib)
    return ctypes.CDLL(str(lib)), log.read_text()


def run_entry(lib: ctypes.CDLL, folder: Path, codes: list[np.ndarray]) -> list[np.ndarray]:
    """Call ``fmlc_TOP_run`` of one folder in a shared library on int64 codes."""
    manifest = load_manifest(folder)
    entry = getattr(lib, api_name(manifest["options"]["name"]))
    n = len(codes[0])
    ins = [np.ascontiguousarray(c, dtype=np.int64).reshape(n, -1) for c in codes]
    outs = [np.empty((n, int(np.prod(s["shape"]))), dtype=np.int64) for s in manifest["outputs"]]
    entry.restype = ctypes.c_int64
    done = entry((ctypes.c_void_p * len(ins))(*[a.ctypes.data for a in ins]), (ctypes.c_void_p * len(outs))(*[a.ctypes.data for a in outs]), ctypes.c_int64(n))
    assert done == n
    return [o.reshape((n, *s["shape"])) for o, s in zip(outs, manifest["outputs"])]


def inputs_for(emu: Emulator, n: int, seed: int) -> list[np.ndarray]:
    """Floats over and beyond each input's range, a tenth of them exact ties of the input grid."""
    rng = np.random.default_rng(seed)
    xs = []
    for shape in emu.input_shapes:
        x = rng.uniform(-12, 12, (n, *shape))
        ties = rng.random(x.shape) < 0.1
        x[ties] = np.round(x[ties] * 64) / 64 + 1 / 128
        xs.append(x.astype(np.float32))
    return xs


def mismatch(got: np.ndarray, want: np.ndarray) -> str:
    bad = np.argwhere(got != want)
    i = tuple(bad[0])
    return f"{len(bad)} of {want.size} codes differ; first at {i}: C-sim {got[i]}, emulator {want[i]}"


# --------------------------------------------------------------------------------------------
# random networks
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hls")


def mixed(module, seed: int):
    """Per-layer choices, as a configuration file gives them: every other layer streams, reuse varies."""
    rng = random.Random(seed)
    layers = [op for op in main_function(module).body.block.ops if op.name not in ("fxp.constant", "fxp.quantize", "func.return")]
    for k, op in enumerate(layers):
        op.attributes["fmlc.io"] = StringAttr("stream" if k % 2 else "parallel")
        op.attributes["fmlc.reuse_factor"] = IntegerAttr(rng.choice((1, 2, 3)), i64)
    return module


def two_ports():
    """Two inputs, three outputs (one of them twice): fan-out at the ports and between layers."""
    b = FunctionBuilder("main", [TensorType(f32, [2, 3]), TensorType(f32, [3])], ["a", "b"])
    qa = b.add(fxp.QuantizeOp(b.args[0], FixedFormat(9, 4, True, "RND", "SAT"))).result
    qb = b.add(fxp.QuantizeOp(b.args[1], FixedFormat(6, 3, True, "RND_CONV", "SAT"), scale=0.75, offset=0.5)).result
    s = b.add(fxp.AddOp(qa, qb, FixedFormat(8, 4, True, "RND_INF", "SAT_SYM")), name="sum").result
    r = b.add(fxp.ReluOp(qa, FixedFormat(7, 3, False, "TRN", "SAT")), name="relu").result
    return b.finish([s, r, s])


@pytest.fixture(scope="module")
def networks(workdir):
    """Every (kind, seed) compiled in the four configurations (and mixed I/O); one library per kind."""
    groups = {}
    for kind in KINDS:
        for seed in SEEDS:
            folders = []
            for io, reuse in CONFIGS:
                top = f"{kind}{seed}_{io}{reuse}"
                folders.append(compile_model(random_network(kind, seed), workdir / top, CompileOptions(target="hls", name=top, io=io, reuse_factor=reuse)))
            groups[(kind, seed)] = folders
        top = f"{kind}_mixed"
        groups[(kind, "mixed")] = [compile_model(mixed(random_network(kind, 0), 0), workdir / top, CompileOptions(target="hls", name=top))]
    groups[("misc", "ports")] = [compile_model(two_ports(), workdir / f"ports_{io}", CompileOptions(target="hls", name=f"ports_{io}", io=io)) for io in ("parallel", "stream")]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        libs = dict(zip(KINDS, pool.map(lambda kind: build_many([f for (k, _), fs in groups.items() if k == kind for f in fs], kind), KINDS)))
    return groups, libs


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", KINDS)
def test_random_networks_match_emulator(networks, kind, seed):
    groups, libs = networks
    lib, diagnostics = libs[kind]
    assert diagnostics == "", f"g++ -Wall -Wextra is not silent on the generated code:\n{diagnostics[-4000:]}"
    module = random_network(kind, seed)
    emu = Emulator(module)
    xs = inputs_for(emu, SAMPLES, seed)
    want = emu.run(*xs, raw=True)
    for folder, (io, reuse) in zip(groups[(kind, seed)], CONFIGS):
        codes = quantize_inputs(load_manifest(folder), xs)
        got = run_entry(lib, folder, codes)
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.shape == w.shape
            assert np.array_equal(g, w), f"{kind} seed {seed} io={io} reuse={reuse} output #{k}: {mismatch(g, w)}"


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_io_matches_emulator(networks, kind):
    """Parallel and streaming layers in one design: the adapters between them keep every bit."""
    groups, libs = networks
    (folder,) = groups[(kind, "mixed")]
    functions = {p.stem for p in (folder / "firmware" / "layers").glob("*.cpp")}
    assert any(f.endswith("_to_stream") for f in functions) and any(f.endswith("_to_array") for f in functions), functions
    emu = Emulator(random_network(kind, 0))
    xs = inputs_for(emu, SAMPLES, 0)
    got = run_entry(libs[kind][0], folder, quantize_inputs(load_manifest(folder), xs))
    for g, w in zip(got, emu.run(*xs, raw=True)):
        assert np.array_equal(g, w), f"{kind} mixed: {mismatch(g, w)}"


def test_several_inputs_and_outputs(networks):
    groups, libs = networks
    module = two_ports()
    emu = Emulator(module)
    xs = inputs_for(emu, SAMPLES, 5)
    want = emu.run(*xs, raw=True)
    for folder in groups[("misc", "ports")]:
        got = run_entry(libs["misc"][0], folder, quantize_inputs(load_manifest(folder), xs))
        assert len(got) == 3
        for k, (g, w) in enumerate(zip(got, want)):
            assert np.array_equal(g, w), f"{folder.name} output #{k}: {mismatch(g, w)}"


def test_configurations_differ_where_they_should(networks):
    """Reuse factor and I/O style must reach the C++ (the four builds are not one design)."""
    groups, _ = networks
    folders = dict(zip(CONFIGS, groups[("conv2d", 0)]))
    text = {cfg: "".join(p.read_text() for p in sorted((f / "firmware" / "layers").glob("*.cpp"))) for cfg, f in folders.items()}
    assert "hls::stream" in text[("stream", 1)] and "hls::stream" not in text[("parallel", 1)]
    assert "reuse: for (int r = 0; r < 4; ++r)" in text[("parallel", 4)]
    assert "PIPELINE II=1" in text[("parallel", 4)] and "reuse:" not in text[("parallel", 1)]


# --------------------------------------------------------------------------------------------
# the folder's own build: Makefile, testbench, run_compiled, determinism, CLI
# --------------------------------------------------------------------------------------------


def check_testbench(out: Path, top: str) -> None:
    """``make test`` passes on the emulator's expected codes, and fails on a wrong one."""
    run = subprocess.run(["make", "-C", str(out), "test", f"AP_TYPES={ap_types_include()}"], capture_output=True, text=True)
    assert run.returncode == 0 and "0 differ" in run.stdout, run.stdout + run.stderr
    expected = out / "tb_data" / "expected.txt"
    rows = expected.read_text().splitlines()
    first = rows[0].split()
    first[0] = str(int(first[0]) + 1)
    expected.write_text("\n".join([" ".join(first), *rows[1:]]) + "\n")
    run = subprocess.run([str(out / f"{top}_csim")], cwd=out, capture_output=True, text=True)
    assert run.returncode == 1 and "1 differ" in run.stdout, run.stdout


def test_stream_folder_builds_with_its_makefile(workdir):
    """The folder's own build (Makefile, testbench) and ``run_compiled`` on a streaming design."""
    module = random_network("mlp", 3)
    out = compile_model(module, workdir / "own_stream", CompileOptions(target="hls", name="own_stream", io="stream", reuse_factor=2))
    log = HlsTarget().build(out, "all", opt=FAST)
    assert "warning" not in log, log[-3000:]
    emu = Emulator(module)
    xs = inputs_for(emu, 300, 3)
    assert all(np.array_equal(g, w) for g, w in zip(run_compiled(out, xs, "csim", raw=True), emu.run(*xs, raw=True)))
    assert all(np.array_equal(g, w) for g, w in zip(run_compiled(out, xs), emu.run(*xs)))
    check_testbench(out, "own_stream")


def test_two_compiles_give_identical_folders(tmp_path):
    module = random_network("conv1d", 5)
    opts = CompileOptions(target="hls", name="twice", io="stream", reuse_factor=3)
    a = compile_model(module.clone(), tmp_path / "a", opts)
    b = compile_model(module.clone(), tmp_path / "b", opts)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 10
    _, mismatch_, errors = filecmp.cmpfiles(a, b, [str(p) for p in files_a], shallow=False)
    assert not mismatch_ and not errors, mismatch_ + errors


def test_cli_compile_run_report(tmp_path):
    """``fmlc compile/run/report`` on a parallel design, and its Makefile and testbench."""
    from fmlc.cli import main
    from fmlc.ir import print_module

    module = random_network("mlp", 4)
    ir = tmp_path / "mlp.mlir"
    ir.write_text(print_module(module))
    out = tmp_path / "out"
    args = ["compile", str(ir), "--target", "hls", "-o", str(out), "--name", "cli_mlp", "--reuse-factor", "2", "--part", "xc7z020clg400-1", "--clock-period", "4"]
    assert main(args) == 0
    tcl = (out / "build_prj.tcl").read_text()
    assert "set part xc7z020clg400-1" in tcl and "set clock_period 4" in tcl and "set top cli_mlp" in tcl
    x = inputs_for(Emulator(module), 50, 4)[0]
    log = HlsTarget().build(out, "all", opt=FAST)  # `fmlc run` then finds the library up to date
    assert "warning" not in log, log[-3000:]
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"), "--raw"]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), Emulator(module).run(x, raw=True)[0])
    report = HlsTarget().report(out)
    assert "dense_1" in report and "reuse" in report and "total: latency" in report
    check_testbench(out, "cli_mlp")
