"""The HLS target: Vitis-HLS-style ``ap_fixed`` C++ with a C-simulation build, bit-exact with the emulator.

``emit`` lowers the dataflow IR with ``dataflow-to-hls`` and prints it with
``fmlc.lowering.hls_to_cpp``.  The folder (see docs/hls.md):

- ``firmware/``: ``defines.h`` (types), ``layers.{h,cpp}`` (one function per layer),
  ``TOP.{h,cpp}`` (the top function), ``weights/*.h`` (constant arrays as codes);
- ``bridge.cpp`` (C API: codes in, codes out) and ``TOP_test.cpp`` (file testbench), with
  ``tb_data/`` (inputs and the emulator's expected outputs, as codes);
- ``Makefile`` (C simulation with g++) and ``build_prj.tcl`` (Vitis HLS: csim, synthesis,
  co-simulation, for ``options.part`` at ``options.clock_period`` ns);
- ``vhls.mlir``: the vhls-dialect IR the C++ was printed from.

``run`` builds the shared library with the folder's Makefile in the build cache (a copy of
the sources, keyed by their hash, the compiler and the ap_types headers: ``fmlc.cache``), so
the folder itself is never written, and calls it through ctypes on int64 codes.  ``report``
reads the dataflow IR.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import PassFailedException

from fmlc.ir import make_context, print_module

HLS_IR = "hls.mlir"
TB_SAMPLES = 16
TB_SEED = 2024

_LIBRARIES: dict[str, object] = {}


def _compile_error(message: str) -> Exception:
    from fmlc.driver import CompileError

    return CompileError(message)


class HlsTarget:
    name = "hls"
    backends = ("csim",)

    # -- emission -----------------------------------------------------------------------

    def lower(self, module: ModuleOp, top: str) -> ModuleOp:
        """The vhls-dialect module of a prepared (dataflow) module; the input is left as it is."""
        from fmlc.lowering.dataflow_to_hls import DataflowToHls

        lowered = module.clone()
        try:
            DataflowToHls(top=top).apply(make_context(), lowered)
            lowered.verify()
        except PassFailedException as err:
            raise _compile_error(f"hls: {err}") from None
        return lowered

    def emit(self, module: ModuleOp, out: Path, options) -> None:
        from fmlc.driver import boundary
        from fmlc.lowering.hls_project import project_files
        from fmlc.lowering.hls_to_cpp import EmitError, emit_cpp, emit_host

        if options.clock_period <= 0:
            raise _compile_error(f"hls: clock period must be positive, got {options.clock_period} ns")
        if options.extra:
            raise _compile_error(f"hls: unknown setting(s) {sorted(options.extra)} in the configuration: the HLS target takes none (part and clock period are options)")
        lowered = self.lower(module, options.name)
        spec = boundary(module)
        sizes = ([int(np.prod(s["shape"])) for s in spec["inputs"]], [int(np.prod(s["shape"])) for s in spec["outputs"]])
        try:
            files = {**emit_cpp(lowered), **emit_host(lowered, sizes)}
        except EmitError as err:
            raise _compile_error(f"hls: {err}") from None
        files.update(project_files(options.name, options.part, options.clock_period))
        files.update(_testbench_data(module, spec))
        files[HLS_IR] = print_module(lowered)
        for rel in sorted(files):
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[rel])

    # -- C simulation ----------------------------------------------------------------------

    def build(self, out: Path, what: str = "lib", opt: str | None = None) -> str:
        """``make what`` in the folder (no-op when up to date); returns the compiler's output.

        ``opt`` overrides the Makefile's optimization flags (``-O2``), e.g. ``-O0`` for a
        quick build that runs few samples.
        """
        from fmlc.toolchain import ap_types_include, cxx, require

        require("make", "install make (`apt-get install -y make`)")
        cmd = ["make", "-C", str(out), f"-j{os.cpu_count() or 2}", what, f"AP_TYPES={ap_types_include()}", f"CXX={cxx()}"]
        if opt is not None:
            cmd.append(f"OPT={opt}")
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise _compile_error(f"hls: the C simulation does not build ({' '.join(cmd)}):\n{(result.stdout + result.stderr)[-6000:]}")
        return result.stderr

    def library(self, out: Path):
        """The C simulation's entry point (``fmlc_TOP_run``), built in the cache if needed, loaded once."""
        from fmlc.driver import load_manifest
        from fmlc.lowering.hls_to_cpp import api_name

        top = load_manifest(out)["options"]["name"]
        path = self.cached_library(out, top)
        if str(path) not in _LIBRARIES:  # a cache slot is named by its content: one path, one library
            lib = ctypes.CDLL(str(path))
            entry = getattr(lib, api_name(top))
            entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
            entry.restype = ctypes.c_int64
            _LIBRARIES[str(path)] = entry
        return _LIBRARIES[str(path)]

    def cached_library(self, out: Path, top: str, opt: str | None = None) -> Path:
        """``make lib`` on a copy of the folder's sources, in the build cache (``fmlc.cache``)."""
        from fmlc.cache import cached_build, digest, file_parts, tool_version
        from fmlc.lowering.hls_project import library_name
        from fmlc.toolchain import ap_types_include, cxx

        out = Path(out).resolve()
        sources = [p for p in out.rglob("*") if p.is_file() and _is_source(p.relative_to(out))]
        key = digest(["hls-csim", tool_version(cxx()), str(ap_types_include()), opt or "", *file_parts(sources, out)])

        def build(work: Path) -> None:
            for p in sources:
                dest = work / p.relative_to(out)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, dest)
            self.build(work, "lib", opt)

        return cached_build("hls", key, build, library_name(top)) / library_name(top)

    def run(self, out: Path, codes: Sequence[np.ndarray], backend: str) -> list[np.ndarray]:
        from fmlc.driver import load_manifest

        if backend != "csim":
            raise _compile_error(f"hls: unknown backend '{backend}': the HLS target runs its C simulation ('csim')")
        manifest = load_manifest(out)
        entry = self.library(out)
        if len(codes) != len(manifest["inputs"]):
            raise ValueError(f"the model takes {len(manifest['inputs'])} input(s), got {len(codes)}")
        n = len(codes[0]) if codes else 0
        ins = [np.ascontiguousarray(np.asarray(c).astype(np.int64)).reshape(n, -1) for c in codes]
        outs = [np.empty((n, int(np.prod(s["shape"]))), dtype=np.int64) for s in manifest["outputs"]]
        in_ptrs = (ctypes.c_void_p * max(1, len(ins)))(*[a.ctypes.data for a in ins])
        out_ptrs = (ctypes.c_void_p * max(1, len(outs)))(*[a.ctypes.data for a in outs])
        done = entry(in_ptrs, out_ptrs, n)
        if done != n:
            raise RuntimeError(f"hls: the C simulation ran {done} of {n} samples")
        return [o.reshape((n, *s["shape"])) for o, s in zip(outs, manifest["outputs"])]

    def predict(self, out: Path, *xs: np.ndarray, raw: bool = False) -> list[np.ndarray]:
        """Float inputs -> outputs through the C simulation (quantized on the host as the emulator does)."""
        from fmlc.driver import run_compiled

        return run_compiled(out, xs, "csim", raw=raw)

    # -- report ------------------------------------------------------------------------------

    def report(self, out: Path) -> str:
        from fmlc.driver import load_ir, load_manifest

        manifest = load_manifest(out)
        return hls_report(load_ir(out), manifest)


def _is_source(rel: Path) -> bool:
    """A file the C simulation's library is built from (the Makefile, C++ sources, headers)."""
    return rel.parts[0] != "build" and (rel.name == "Makefile" or rel.suffix in (".cpp", ".h", ".hpp"))


def hls_report(module: ModuleOp, manifest: dict) -> str:
    """Per layer: types, multiplications (non-zero weights per sample), reuse, II and latency."""
    from fmlc.dialects import dataflow, fxp
    from fmlc.lowering.fxp_to_dataflow import multiplications

    opts = manifest["options"]
    rows = [("layer", "op", "io", "reuse", "II", "latency", "mults", "nz weights", "types")]
    total_latency, worst_ii, total_mults = 0, 0, 0
    for node in module.walk():
        if not isinstance(node, dataflow.NodeOp):
            continue
        op = node.main_op()
        ii = node.ii.value.data if node.ii is not None else 0
        latency = node.latency.value.data if node.latency is not None else 0
        nz, mults = "-", "-"
        if isinstance(op, fxp.DenseOp | fxp.ConvOp):
            w = _constant_codes(op.weight)
            if w is not None:
                count = int(np.count_nonzero(w))
                per_sample = multiplications(op) * count // max(1, w.size)
                nz, mults = str(count), str(per_sample)
                total_mults += per_sample
        types = _types(op)
        rows.append((node.layer.data, op.name.split(".")[1], node.io.data, str(node.reuse_factor.value.data), str(ii), str(latency), mults, nz, types))
        total_latency += latency
        worst_ii = max(worst_ii, ii)
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]) - 1)]
    lines = [
        f"fmlc HLS report: {opts['name']}  part {opts['part']}  clock {opts['clock_period']:g} ns",
        "(estimates from the dataflow IR; mults = multiplications by non-zero weights per sample)",
        "",
    ]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
    lines += [
        "",
        f"total: latency {total_latency} cycles ({total_latency * opts['clock_period']:g} ns), "
        f"II {worst_ii} cycles, {total_mults} multiplications per sample",
        "",
    ]
    return "\n".join(lines)


def _constant_codes(v) -> np.ndarray | None:
    from fmlc.dialects import fxp

    owner = v.owner
    return owner.codes() if isinstance(owner, fxp.ConstantOp) else None


def _types(op) -> str:
    from fmlc.dialects import fxp
    from fmlc.lowering.hls_to_cpp import ap_type

    parts = [f"in {ap_type(fxp.element_format(op.operands[0]))}", f"out {ap_type(fxp.element_format(op.results[0]))}"]
    if isinstance(op, fxp.DenseOp | fxp.ConvOp):
        parts.insert(1, f"w {ap_type(fxp.element_format(op.weight))}")
        if isinstance(op.acc, fxp.FixedType):
            parts.insert(2, f"acc {ap_type(op.acc.format)}")
    return ", ".join(parts)


def _testbench_data(module: ModuleOp, spec: dict) -> dict[str, str]:
    """``tb_data/inputs.txt`` and ``expected.txt``: seeded inputs as codes, the emulator's outputs."""
    from fmlc import fixed
    from fmlc.driver import quantize_inputs
    from fmlc.emulator import Emulator

    rng = np.random.default_rng(TB_SEED)
    xs = []
    for s in spec["inputs"]:
        fmt = fixed.FixedFormat.parse(s["format"])
        span = float(max(abs(fmt.min_value), abs(fmt.max_value))) * 1.25
        scale = s.get("scale") or 1.0
        xs.append((rng.uniform(-span, span, (TB_SAMPLES, *s["shape"])) / scale).astype(np.float32))
    codes = quantize_inputs(spec, xs)
    expected = Emulator(module).run(*xs, raw=True)

    def lines(arrays: list[np.ndarray]) -> str:
        rows = [" ".join(str(int(c)) for a in arrays for c in np.asarray(a[k]).ravel()) for k in range(TB_SAMPLES)]
        return "\n".join(rows) + "\n"

    return {"tb_data/inputs.txt": lines(codes), "tb_data/expected.txt": lines(expected)}
