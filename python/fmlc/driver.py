"""The compile driver: the pass pipeline per target, output folders, and running compiled models.

``compile_model`` takes fxp IR (from ``fmlc.frontend`` or a .mlir file), runs the pipeline

    fxp-canonicalize -> fxp-infer-precision -> fxp-canonicalize -> fxp-to-dataflow -> target

and writes the target's files into a fresh folder: everything is written into a temporary
folder beside the destination and renamed into place at the end, so a failure leaves no
half-written output.  Every output folder holds ``fmlc.json`` (what was compiled, how, the
boundary types) and ``model.mlir`` (the dataflow IR the target was built from).

At the hardware boundary models take integer codes: ``fxp.quantize`` ops (float -> fixed) are
applied on the host by ``run_compiled`` with the emulator's exact semantics, and outputs come
back as codes; only the CUDA target also quantizes on the device (its C API takes floats).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.ir import body_ops, main_function, make_context, parse_module, print_module

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


# --------------------------------------------------------------------------------------------
# pipeline
# --------------------------------------------------------------------------------------------


def run_passes(module: ModuleOp, pipeline: Sequence, log: Callable[[str], None] | None = None) -> ModuleOp:
    """Apply passes in order, verifying after each; ``log`` gets one line per pass."""
    ctx: Context = make_context()
    for p in pipeline:
        t0 = time.perf_counter()
        p.apply(ctx, module)
        module.verify()
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
            entry["scale"] = q.scale.value.data if q.scale is not None else None
            entry["offset"] = q.offset.value.data if q.offset is not None else None
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
            y = x.astype(ftype)
            if spec.get("scale") is not None:
                y = y * ftype(spec["scale"])
            if spec.get("offset") is not None:
                y = y + ftype(spec["offset"])
            c = fixed.from_float(y.astype(np.float64), fmt)
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
    """Compile fxp IR for ``options.target`` into ``out_dir`` (replaced atomically)."""
    if not options.name.isidentifier():
        raise CompileError(f"model name '{options.name}' must be an identifier (letters, digits, underscores)")
    target = get_target(options.target)
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    prepared = prepare(module.clone(), options, log)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        t0 = time.perf_counter()
        target.emit(prepared, staging, options)
        if log:
            log(f"  {options.target + ' emission':<24} {time.perf_counter() - t0:7.2f} s")
        (staging / IR_FILE).write_text(print_module(prepared))
        manifest = {"fmlc": 1, "target": options.target, "options": options.to_json(), **boundary(prepared)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _replace_dir(new: Path, dest: Path) -> None:
    """Move ``new`` to ``dest``, replacing an existing folder only once the new one is complete."""
    if dest.exists():
        if not (dest / MANIFEST).exists() and any(dest.iterdir()):
            raise CompileError(f"{dest} exists and is not an fmlc output folder: refusing to replace it")
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        dest.rename(old)
        new.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(dest)


def load_manifest(out_dir: str | os.PathLike) -> dict:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        raise CompileError(f"{out_dir} is not an fmlc output folder (no {MANIFEST})")
    return json.loads(path.read_text())


def run_compiled(out_dir: str | os.PathLike, xs: Sequence[np.ndarray], backend: str | None = None, raw: bool = False) -> list[np.ndarray]:
    """Run a compiled folder on float inputs; returns float64 values (or codes if ``raw``)."""
    manifest = load_manifest(out_dir)
    target = get_target(manifest["target"])
    codes = quantize_inputs(manifest, xs)
    if backend == "emulator":
        from fmlc.emulator import Emulator

        module = parse_module((Path(out_dir) / IR_FILE).read_text())
        outs = Emulator(module).run(*xs, raw=True)
    else:
        outs = target.run(Path(out_dir), codes, backend or target.backends[0])
    if raw:
        return outs
    return [fixed.to_float(np.asarray(o), fixed.FixedFormat.parse(spec["format"]).frac) for o, spec in zip(outs, manifest["outputs"])]
