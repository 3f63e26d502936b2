"""The compile driver: the pass pipeline per target, output folders, and running compiled models.

``compile_model`` takes fxp IR (from ``fmlc.frontend`` or a .mlir file), runs the pipeline

    fxp-canonicalize -> fxp-infer-precision -> fxp-canonicalize -> fxp-to-dataflow -> target

and writes the target's files into a fresh folder: everything is written into a staging
folder beside the destination and renamed into place at the end (``fmlc.outputs``), so a
failure, a signal or a kill leaves no half-written output.  Every output folder holds
``fmlc.json`` (what was compiled, how, the boundary types) and ``model.mlir`` (the dataflow
IR the target was built from).

At the hardware boundary models take integer codes: ``fxp.quantize`` ops (float -> fixed) are
applied on the host by ``run_compiled`` with the emulator's exact semantics, and outputs come
back as codes; only the CUDA target also quantizes on the device (its C API takes floats).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from fmlc import fixed
from fmlc.boundary import apply_steps
from fmlc.dialects import fxp
from fmlc.ir import body_ops, main_function, make_context, print_module

MANIFEST = "fmlc.json"
IR_FILE = "model.mlir"


class CompileError(RuntimeError):
    """A model cannot be compiled as asked; the message names what and where."""


@dataclass
class CompileOptions:
    """Everything ``fmlc compile`` can be told; targets read the fields they use."""

    target: str = "hls"
    name: str = "model"
    """Identifier of the top function / module / C API (letters, digits, underscores)."""
    reuse_factor: int = 1
    io: str = "parallel"
    # HLS
    part: str = "xcvu13p-flga2577-2-e"
    clock_period: float = 5.0
    """Target clock period in ns (HLS and the RTL report)."""
    # Verilog
    adders_per_stage: int | None = None
    """Pipeline budget: adder levels between registers (None: the target's default)."""
    programmable_weights: bool = False
    # CUDA
    cuda_arch: str = "90"
    extra: dict = field(default_factory=dict)
    """Target-specific settings from the configuration file."""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Refuse, before any work, a setting of the wrong type or out of range (CompileError)."""
        if self.target not in TARGETS:
            raise CompileError(f"unknown target '{self.target}': choose one of {', '.join(TARGETS)}")
        if not isinstance(self.name, str) or not self.name.isidentifier() or not self.name.isascii():
            raise CompileError(f"model name '{self.name}' must be an identifier (letters, digits, underscores)")
        _check_int("reuse_factor", self.reuse_factor, 1)
        if self.io not in IO_STYLES:
            raise CompileError(f"io must be one of {', '.join(IO_STYLES)}, got {self.io!r}")
        if not isinstance(self.part, str) or not self.part.strip():
            raise CompileError(f"part must be a non-empty FPGA part name, got {self.part!r}")
        if isinstance(self.clock_period, bool) or not isinstance(self.clock_period, int | float) or not math.isfinite(self.clock_period) or self.clock_period <= 0:
            raise CompileError(f"clock_period must be a finite number of nanoseconds > 0, got {self.clock_period!r}")
        if self.adders_per_stage is not None:
            _check_int("adders_per_stage", self.adders_per_stage, 0)
        if not isinstance(self.programmable_weights, bool):
            raise CompileError(f"programmable_weights must be true or false, got {self.programmable_weights!r}")
        if not str(self.cuda_arch).isdigit() or isinstance(self.cuda_arch, bool):
            raise CompileError(f"cuda_arch must be a compute capability like 90, got {self.cuda_arch!r}")
        if not isinstance(self.extra, dict):
            raise CompileError(f"the {self.target} section of the configuration must be a mapping, got {self.extra!r}")


IO_STYLES = ("parallel", "stream")


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise CompileError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise CompileError(f"{name} must be >= {minimum}, got {value}")


# --------------------------------------------------------------------------------------------
# pipeline
# --------------------------------------------------------------------------------------------


def run_passes(module: ModuleOp, pipeline: Sequence, log: Callable[[str], None] | None = None) -> ModuleOp:
    """Apply passes in order, verifying after each; ``log`` gets one line per pass."""
    from fmlc.diagnostics import verify

    ctx: Context = make_context()
    for p in pipeline:
        t0 = time.perf_counter()
        p.apply(ctx, module)
        verify(module, after=p.name)  # a failure names the op, not the whole module
        if log:
            log(f"  {p.name:<24} {time.perf_counter() - t0:7.2f} s")
    return module


def resolve(module: ModuleOp, log: Callable[[str], None] | None = None) -> ModuleOp:
    """Exact types everywhere (canonicalize, infer precision, canonicalize): runnable fxp IR."""
    from fmlc.passes.canonicalize import Canonicalize
    from fmlc.passes.infer_precision import InferPrecision

    return run_passes(module, [Canonicalize(), InferPrecision(), Canonicalize()], log)


def prepare(module: ModuleOp, options: CompileOptions, log: Callable[[str], None] | None = None) -> ModuleOp:
    """The target-independent pipeline: exact types everywhere, then one dataflow node a layer."""
    from fmlc.lowering.fxp_to_dataflow import FxpToDataflow

    resolve(module, log)
    return run_passes(module, [FxpToDataflow(options.reuse_factor, options.io)], log)


# --------------------------------------------------------------------------------------------
# boundary description
# --------------------------------------------------------------------------------------------


def boundary(module: ModuleOp) -> dict:
    """Inputs (float shape and how they are quantized) and outputs (shape, format) of the model."""
    func = main_function(module)
    quantizers = {op.input: op for op in body_ops(func) if isinstance(op, fxp.QuantizeOp)}
    inputs = []
    for arg in func.body.block.args:
        entry = {"shape": list(fxp.shape_of(arg))}
        if arg in quantizers:
            q = quantizers[arg]
            entry["float_type"] = str(arg.type.get_element_type())
            entry["format"] = str(fxp.element_format(q.result))
            entry["steps"] = [[a.tolist() if isinstance(a, np.ndarray) else a for a in step] for step in q.step_list()]
        else:
            entry["format"] = str(fxp.element_format(arg))
        inputs.append(entry)
    ret = func.body.block.last_op
    outputs = [{"shape": list(fxp.shape_of(v)), "format": str(fxp.element_format(v))} for v in ret.operands]
    return {"inputs": inputs, "outputs": outputs}


def quantize_inputs(manifest: dict, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Host-side ``fxp.quantize`` of float inputs into int64 codes, exactly as the emulator does."""
    codes = []
    for k, (spec, x) in enumerate(zip(manifest["inputs"], xs)):
        x = np.asarray(x)
        want = tuple(spec["shape"])
        if x.shape[1:] != want:
            raise ValueError(f"input #{k} must be shaped (N, {', '.join(map(str, want))}), got {x.shape}")
        fmt = fixed.FixedFormat.parse(spec["format"])
        if "float_type" in spec:
            ftype = np.float32 if spec["float_type"] == "f32" else np.float64
            steps = [tuple(s) for s in spec.get("steps", [])]
            if spec.get("scale") is not None:  # folders written before steps existed
                steps.append(("mul", spec["scale"]))
            if spec.get("offset") is not None:
                steps.append(("add", spec["offset"]))
            c = fixed.from_float(apply_steps(x, steps, ftype).astype(np.float64), fmt)
        else:
            c = fixed.from_float(x.astype(np.float64), fmt)
        codes.append(fixed.to_kind(c, "int") if fmt.width <= fixed.INT_BITS else c)
    return codes


# --------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------

TARGETS: dict[str, str] = {
    "hls": "fmlc.targets.hls:HlsTarget",
    "verilog": "fmlc.targets.verilog:VerilogTarget",
    "cuda": "fmlc.targets.cuda:CudaTarget",
}


def get_target(name: str):
    """The target object for ``name`` (imported on first use)."""
    if name not in TARGETS:
        raise CompileError(f"unknown target '{name}': choose one of {', '.join(TARGETS)}")
    module_name, cls_name = TARGETS[name].split(":")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise CompileError(f"target '{name}' is not available in this build ({err})") from None
    return getattr(module, cls_name)()


def compile_model(
    module: ModuleOp, out_dir: str | os.PathLike, options: CompileOptions, log: Callable[[str], None] | None = None
) -> Path:
    """Compile fxp IR for ``options.target`` into ``out_dir`` (replaced atomically).

    Options and the destination are checked before any work; a folder that exists must be an
    earlier fmlc output (or empty).  On any failure, signal or kill the destination is left
    as it was and nothing else stays behind (``fmlc.outputs.staged_output``)."""
    from fmlc.outputs import OutputError, staged_output

    options.validate()
    target = get_target(options.target)
    try:
        with staged_output(out_dir, "dir", is_output_folder) as staging:
            prepared = prepare(module.clone(), options, log)
            t0 = time.perf_counter()
            target.emit(prepared, staging, options)
            if log:
                log(f"  {options.target + ' emission':<24} {time.perf_counter() - t0:7.2f} s")
            (staging / IR_FILE).write_text(print_module(prepared))
            manifest = {"fmlc": 1, "target": options.target, "options": options.to_json(), **boundary(prepared)}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except OutputError as err:
        raise CompileError(str(err)) from None
    return Path(out_dir).resolve()


def is_output_folder(path: Path) -> bool:
    """May ``fmlc compile`` replace this folder? Yes if fmlc wrote it, or if it is empty."""
    return (path / MANIFEST).is_file() or not any(path.iterdir())


MANIFEST_KEYS = {"target": str, "options": dict, "inputs": list, "outputs": list}


def load_manifest(out_dir: str | os.PathLike) -> dict:
    """The ``fmlc.json`` of a compiled folder, checked; CompileError names what is wrong."""
    folder = Path(out_dir)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise CompileError(f"{out_dir}: no such folder" if not folder.exists() else f"{out_dir}: is a file, not a folder from fmlc compile")
    if not path.is_file():
        raise CompileError(f"{out_dir} is not an fmlc output folder (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        from fmlc.errors import os_message

        raise CompileError(os_message(err, path)) from None
    except (UnicodeDecodeError, ValueError) as err:
        raise CompileError(f"{path}: not valid JSON ({err}); recompile the folder") from None
    if not isinstance(manifest, dict):
        raise CompileError(f"{path}: expected a JSON object; recompile the folder")
    for key, kind in MANIFEST_KEYS.items():
        if not isinstance(manifest.get(key), kind):
            raise CompileError(f"{path}: incomplete ('{key}' missing or not a {kind.__name__}); recompile the folder")
    if manifest["target"] not in TARGETS:
        raise CompileError(f"{path}: unknown target '{manifest['target']}'")
    if not isinstance(manifest["options"].get("name"), str):
        raise CompileError(f"{path}: incomplete (options.name missing); recompile the folder")
    for side in ("inputs", "outputs"):
        for k, spec in enumerate(manifest[side]):
            if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list) or not isinstance(spec.get("format"), str):
                raise CompileError(f"{path}: {side}[{k}] needs a shape and a format; recompile the folder")
            try:
                fixed.FixedFormat.parse(spec["format"])
            except ValueError as err:
                raise CompileError(f"{path}: {side}[{k}]: {err}") from None
    for name in (IR_FILE,):
        if not (folder / name).is_file():
            raise CompileError(f"{out_dir}: {name} is missing; recompile the folder")
    return manifest


def load_ir(out_dir: str | os.PathLike) -> ModuleOp:
    """The dataflow IR a compiled folder was built from (``model.mlir``), parsed and verified."""
    from fmlc.diagnostics import parse_ir

    path = Path(out_dir) / IR_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        from fmlc.errors import os_message

        raise CompileError(os_message(err, path)) from None
    except UnicodeDecodeError:
        raise CompileError(f"{path}: not UTF-8 text; recompile the folder") from None
    return parse_ir(text, str(path))[0]


def run_compiled(out_dir: str | os.PathLike, xs: Sequence[np.ndarray], backend: str | None = None, raw: bool = False) -> list[np.ndarray]:
    """Run a compiled folder on float inputs; returns float64 values (or codes if ``raw``)."""
    out = Path(out_dir).resolve()  # simulators run in other working folders
    manifest = load_manifest(out)
    target = get_target(manifest["target"])
    if backend not in (None, "emulator", *target.backends):
        raise CompileError(f"{out_dir}: the {manifest['target']} target runs with --backend {' or '.join(('emulator', *target.backends))}, not '{backend}'")
    if len(xs) != len(manifest["inputs"]):
        raise CompileError(f"the model takes {len(manifest['inputs'])} input(s), got {len(xs)}")
    codes = quantize_inputs(manifest, xs)
    if codes and len(codes[0]) == 0:  # an empty batch: nothing to simulate, on every backend
        outs = [np.zeros((0, *spec["shape"]), dtype=np.int64) for spec in manifest["outputs"]]
    elif backend == "emulator":
        from fmlc.emulator import Emulator

        outs = Emulator(load_ir(out)).run(*xs, raw=True)
    else:
        outs = target.run(out, codes, backend or target.backends[0])
    if raw:
        return outs
    return [fixed.to_float(np.asarray(o), fixed.FixedFormat.parse(spec["format"]).frac) for o, spec in zip(outs, manifest["outputs"])]
