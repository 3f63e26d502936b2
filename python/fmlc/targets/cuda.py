"""The CUDA target: fixed-point kernels for batched inference, bit-exact with the emulator.

``emit`` lowers the dataflow IR with ``dataflow-to-cuda`` and prints it with
``fmlc.lowering.cuda_to_cpp``; the folder gets the C API header, the kernels, the
per-sample model (``__host__ __device__``: the same source runs on the CPU), a CPU program,
a GPU tool with a benchmark, a CMake project and ``cuda.mlir`` (the cuda-dialect IR).

``run`` executes the raw-code path: on the GPU through the C API when one is present
(built with nvcc), otherwise on the CPU from the same per-sample source (built with g++);
it says which on stderr.  ``FMLC_CUDA_DEVICE=cpu|gpu`` forces the choice.
Built programs are cached by the hash of their sources, commands and compiler version under
``$XDG_CACHE_HOME/fmlc/cuda`` (``fmlc.cache``): the compiled folder is never written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import PassFailedException

from fmlc.ir import make_context, print_module

CUDA_IR = "cuda.mlir"
HOST_FLAGS = ["-O2", "-std=c++17", "-ffp-contract=off"]
NVCC_FLAGS = ["-O3", "-std=c++17"]


def _compile_error(message: str) -> Exception:
    from fmlc.driver import CompileError

    return CompileError(message)


class CudaTarget:
    name = "cuda"
    backends = ("cuda",)

    # -- emission -----------------------------------------------------------------------

    def lower(self, module: ModuleOp, options) -> ModuleOp:
        """The cuda-dialect module of a prepared (dataflow) module; the input is left as it is."""
        from fmlc.lowering.dataflow_to_cuda import DataflowToCuda

        extra = dict(options.extra or {})
        known = {"block_size", "dp4a", "unroll_limit"}
        unknown = set(extra) - known
        if unknown:
            raise _compile_error(f"cuda: unknown setting(s) {sorted(unknown)} in the configuration; known: {sorted(known)}")
        lowered = module.clone()
        try:
            DataflowToCuda(
                model=options.name,
                block_size=int(extra.get("block_size", 256)),
                dp4a=bool(extra.get("dp4a", True)),
                unroll_limit=int(extra.get("unroll_limit", 1024)),
            ).apply(make_context(), lowered)
            lowered.verify()
        except PassFailedException as err:
            raise _compile_error(f"cuda: {err}") from None
        return lowered

    def emit(self, module: ModuleOp, out: Path, options) -> None:
        from fmlc.lowering.cuda_to_cpp import emit_sources

        arch = str(options.cuda_arch)
        if not arch.isdigit():
            raise _compile_error(f"cuda: cuda_arch must be a compute capability like 90, got '{arch}'")
        lowered = self.lower(module, options)
        for name, text in emit_sources(lowered, options.name, arch).items():
            (out / name).write_text(text)
        (out / CUDA_IR).write_text(print_module(lowered))

    # -- running -----------------------------------------------------------------------

    def run(self, out: Path, codes, backend: str) -> list[np.ndarray]:
        if backend != "cuda":
            raise _compile_error(f"the CUDA target runs with --backend cuda, not '{backend}'")
        from fmlc.driver import load_manifest

        out = Path(out).resolve()
        manifest = load_manifest(out)
        name = manifest["options"]["name"]
        x = np.ascontiguousarray(np.asarray(codes[0]).astype(np.int64))
        n = x.shape[0]
        out_shape = tuple(manifest["outputs"][0]["shape"])
        if use_gpu():
            print(f"fmlc: cuda: running {n} samples on the GPU ({gpu_name()})", file=sys.stderr)
            program = build_tool(out, name, manifest["options"]["cuda_arch"])
        else:
            print(f"fmlc: cuda: no GPU found: running {n} samples on the CPU host path (the kernels' per-sample code, built with g++)", file=sys.stderr)
            program = build_host(out, name)
        y = run_program(program, "raw", x, np.int64, n, int(np.prod(out_shape, dtype=np.int64)))
        return [y.reshape((n,) + out_shape)]

    # -- report ---------------------------------------------------------------------------

    def report(self, out: Path) -> str:
        from fmlc.dialects import cuda
        from fmlc.lowering.dataflow_to_cuda import LAYERS_ATTR

        from fmlc.diagnostics import parse_ir
        from fmlc.driver import CompileError, load_manifest

        manifest = load_manifest(out)
        try:
            module = parse_ir((Path(out) / CUDA_IR).read_bytes().decode("utf-8"), str(Path(out) / CUDA_IR))[0]
        except (OSError, UnicodeDecodeError) as err:
            raise CompileError(f"{Path(out) / CUDA_IR}: cannot be read ({err}); recompile the folder") from None
        opts = manifest["options"]
        lines = [f"CUDA target: model '{opts['name']}', built for sm_{opts['cuda_arch']}"]
        for k, spec in enumerate(manifest["inputs"]):
            lines.append(f"  input #{k}: {spec['format']} {spec['shape']}" + (" (quantized on the device from float)" if "float_type" in spec else ""))
        for k, spec in enumerate(manifest["outputs"]):
            lines.append(f"  output #{k}: {spec['format']} {spec['shape']}")
        const_bytes = glob_bytes = 0
        for op in module.ops:
            if isinstance(op, cuda.GlobalOp):
                size = op.type.get_shape()[0] * op.elem.width.data // 8
                if op.space.data == "constant":
                    const_bytes += size
                else:
                    glob_bytes += size
        lines.append(f"  weights in __constant__ memory: {const_bytes} bytes; tables in global memory: {glob_bytes} bytes")
        for op in module.ops:
            if isinstance(op, cuda.KernelOp):
                staged = [s.result.type for s in op.block.ops if isinstance(s, cuda.SharedAllocOp)]
                shared = sum(t.get_shape()[0] * _bytes(t.get_element_type()) for t in staged)
                lines.append(
                    f"  kernel {op.sym_name.data}: {op.block_size.value.data} threads a block, one sample a thread, all layers fused; "
                    f"{len(staged)} of 2 tiles staged in shared memory ({shared} bytes)"
                )
        lines.append("")
        header = f"  {'layer':<20} {'op':<22} {'mults':>9}  types / mapping"
        lines.append(header)
        total = 0
        for entry in module.attributes[LAYERS_ATTR].data:
            d = {k: v for k, v in entry.data.items()}
            mults = d["mults"].value.data
            total += mults
            lines.append(f"  {d['layer'].data:<20} {d['op'].data:<22} {mults:>9}  {d['types'].data}")
            lines.append(f"  {'':<20} {'':<22} {'':>9}  {d['mapping'].data}")
        lines.append(f"  {'total':<20} {'':<22} {total:>9}  multiplications a sample")
        return "\n".join(lines) + "\n"


def _bytes(t) -> int:
    from xdsl.dialects.builtin import Float32Type

    return 4 if isinstance(t, Float32Type) else t.width.data // 8


# ============================================================================================
# devices, builds and programs (also used by the tests and bench/cuda_device_check.py)
# ============================================================================================


def use_gpu() -> bool:
    """Run on the GPU? ``FMLC_CUDA_DEVICE`` (cpu|gpu) decides, else whether nvidia-smi lists one."""
    forced = os.environ.get("FMLC_CUDA_DEVICE", "").lower()
    if forced in ("cpu", "host"):
        return False
    have = gpu_name() is not None and shutil.which("nvcc") is not None
    if forced == "gpu" and not have:
        raise _compile_error("FMLC_CUDA_DEVICE=gpu, but no GPU (nvidia-smi) and nvcc were found")
    return have


def gpu_name() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        res = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("GPU")]
    return lines[0].split(" (UUID")[0] if res.returncode == 0 and lines else None


def _cached_build(sources: list[Path], command: list[str], what: str) -> Path:
    """Build ``command`` (with ``{out}`` for the program) in a cache slot keyed by the sources,
    the command and the compiler's version (``fmlc.cache``)."""
    from fmlc.cache import cached_build, digest, file_parts, tool_version

    for s in sources:
        if not s.is_file():
            raise _compile_error(f"cuda: {s} is missing; recompile the folder")
    key = digest(["cuda", what, tool_version(command[0]), *command, *file_parts(sources)])

    def build(work: Path) -> None:
        for s in sources:
            shutil.copy(s, work / s.name)
        cmd = [c.replace("{out}", str(work / "program")) for c in command]
        res = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if res.returncode != 0:
            raise _compile_error(f"cuda: building the {what} failed:\n$ {' '.join(cmd)}\n{res.stdout}{res.stderr}")

    return cached_build("cuda", key, build, "program") / "program"


def build_host(out: Path, name: str) -> Path:
    """The CPU program of a compiled folder (g++), cached."""
    from fmlc.toolchain import cxx

    files = [out / f"{name}_host.cpp", out / f"{name}_model.cuh", out / "fmlc_runtime.cuh"]
    return _cached_build(files, [cxx(), *HOST_FLAGS, f"{name}_host.cpp", "-o", "{out}"], "CPU host program")


def build_tool(out: Path, name: str, arch: str) -> Path:
    """The GPU tool of a compiled folder (nvcc), cached."""
    from fmlc.toolchain import require

    nvcc = require("nvcc", "install the CUDA toolkit (nvcc) to build the CUDA target")
    files = [out / f for f in (f"{name}_kernels.cu", f"{name}_tool.cu", f"{name}_model.cuh", f"fmlc_{name}.h", "fmlc_runtime.cuh")]
    cmd = [nvcc, *NVCC_FLAGS, f"-arch=sm_{arch}", f"{name}_kernels.cu", f"{name}_tool.cu", "-o", "{out}"]
    return _cached_build(files, cmd, "GPU tool")


def run_program(program: Path, mode: str, x: np.ndarray, out_dtype, n: int, out_elems: int, model: str | None = None) -> np.ndarray:
    """Run a host program or GPU tool in ``mode`` on the samples ``x``; returns (n, out_elems) outputs.
    ``model`` picks the model of a host bundle."""
    with tempfile.TemporaryDirectory(prefix="fmlc-cuda-") as tmp:
        src, dst = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        np.ascontiguousarray(x).tofile(src)
        head = [str(program)] + ([model] if model else [])
        res = subprocess.run(head + [mode, str(src), str(dst), str(n)], capture_output=True, text=True)
        if res.returncode != 0:
            raise _compile_error(f"cuda: {program.name} {mode} failed: {res.stderr.strip()}")
        y = np.fromfile(dst, dtype=out_dtype)
    if y.size != n * out_elems:
        raise _compile_error(f"cuda: {program.name} wrote {y.size} values, expected {n * out_elems}")
    return y.reshape(n, out_elems)


def build_host_bundle(folders: list[Path]) -> Path:
    """One CPU program for several compiled folders (one g++ run): ``program NAME MODE IN OUT N``.

    The models need distinct names; each folder's ``<name>_host.cpp`` is included as is."""
    from fmlc.toolchain import cxx

    names = [json.loads((f / "fmlc.json").read_text())["options"]["name"] for f in folders]
    if len(set(names)) != len(names):
        raise _compile_error(f"cuda: a host bundle needs distinct model names, got {names}")
    lines = ["#define FMLC_NO_MAIN", "#include <cstring>"]
    lines += [f'#include "{(f / (n + "_host.cpp")).resolve()}"' for f, n in zip(folders, names)]
    lines.append("int main(int argc, char** argv) {")
    for n in names:
        lines.append(f'    if (argc > 1 && !std::strcmp(argv[1], "{n}")) return fmlc_{n}_host_main(argc - 1, argv + 1);')
    lines += ['    std::fprintf(stderr, "unknown model\\n");', "    return 2;", "}", ""]
    from fmlc.cache import cached_build, digest, file_parts, tool_version

    text = "\n".join(lines)
    sources = [(f / s).resolve() for f, n in zip(folders, names) for s in (f"{n}_host.cpp", f"{n}_model.cuh", "fmlc_runtime.cuh")]
    key = digest(["cuda-bundle", tool_version(cxx()), *HOST_FLAGS, text, *file_parts(sources, Path("/"))])

    def build(work: Path) -> None:
        bundle = work / "bundle.cpp"
        bundle.write_text(text)
        res = subprocess.run([cxx(), *HOST_FLAGS, str(bundle), "-o", str(work / "program")], capture_output=True, text=True)
        if res.returncode != 0:
            raise _compile_error(f"cuda: building the host bundle failed:\n{res.stdout}{res.stderr}")

    return cached_build("cuda", f"bundle-{key}", build, "program") / "program"
