"""The ``fmlc`` command: import, compile, run and report.

    fmlc import MODEL.onnx [-c CONFIG.yaml] [-o OUT.mlir]
    fmlc compile MODEL.onnx|IR.mlir --target hls|verilog|cuda -o DIR [options]
    fmlc run MODEL.onnx|IR.mlir|DIR --input X.npy --output Y.npy [--backend B] [--raw]
    fmlc report DIR

Errors print ``fmlc: error: ...`` naming what is wrong and where, exit with status 2 and
leave no output behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from fmlc import __version__

EXIT_USAGE = 2


class UserError(Exception):
    """Bad input from the user: reported without a traceback, exit status 2."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# loading models
# --------------------------------------------------------------------------------------------


def frontend_options(args) -> dict:
    """The import settings given on the command line (they override the configuration file)."""
    opts = {}
    if getattr(args, "precision", None):
        opts["precision"] = args.precision
    if getattr(args, "strip_softmax", False):
        opts["strip_softmax"] = True
    return opts


def load_config(path: str | None) -> dict:
    if path is None:
        return {}
    from fmlc.frontend.config import ConfigError, read_config

    try:
        return read_config(path)
    except ConfigError as err:
        raise UserError(str(err)) from None


def load_module(path: str, args, log=None):
    """fxp IR from an ONNX model (imported) or a .mlir file (parsed and verified)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such file")
    if p.suffix == ".mlir":
        from xdsl.utils.exceptions import DiagnosticException, ParseError

        from fmlc.ir import parse_module

        try:
            return parse_module(p.read_text(), str(p))
        except (ParseError, DiagnosticException) as err:
            raise UserError(f"{path}: {err}") from None
    from fmlc.frontend import ModelImportError
    from fmlc.frontend.config import ConfigError
    from fmlc.frontend.onnx_import import import_model

    config = load_config(getattr(args, "config", None))
    config.setdefault("model", {}).update(frontend_options(args))
    t0 = time.perf_counter()
    try:
        module = import_model(p, config)
    except (ModelImportError, ConfigError) as err:
        raise UserError(str(err)) from None
    if log:
        log(f"imported {p.name} in {time.perf_counter() - t0:.2f} s")
    return module


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------


def cmd_import(args) -> None:
    from fmlc.driver import resolve
    from fmlc.ir import print_module

    module = load_module(args.model, args, _log)
    if not args.raw_import:
        module = resolve(module)
    text = print_module(module)
    if args.output:
        _write_atomic(Path(args.output), text)
    else:
        sys.stdout.write(text)


def compile_options(args, config: dict):
    from fmlc.driver import CompileOptions

    model_cfg = config.get("model", {})
    opts = CompileOptions(target=args.target)
    opts.name = args.name or model_cfg.get("name") or _identifier(Path(args.model).stem)
    opts.reuse_factor = args.reuse_factor or int(model_cfg.get("reuse_factor", 1))
    opts.io = args.io or model_cfg.get("io", "parallel")
    if args.part:
        opts.part = args.part
    if args.clock_period:
        opts.clock_period = args.clock_period
    if args.adders_per_stage is not None:
        opts.adders_per_stage = args.adders_per_stage
    opts.programmable_weights = bool(args.programmable_weights)
    if args.cuda_arch:
        opts.cuda_arch = args.cuda_arch
    opts.extra = dict(config.get(args.target, {}))
    return opts


def cmd_compile(args) -> None:
    from fmlc.driver import CompileError, compile_model
    from fmlc.ir import print_module

    config = load_config(args.config)
    module = load_module(args.model, args, _log)
    if args.print_ir:
        sys.stdout.write(print_module(module))
    options = compile_options(args, config)
    _log(f"compiling for {options.target} into {args.output}")
    t0 = time.perf_counter()
    try:
        out = compile_model(module, args.output, options, _log)
    except CompileError as err:
        raise UserError(str(err)) from None
    _log(f"wrote {out} in {time.perf_counter() - t0:.2f} s")


def cmd_run(args) -> None:
    from fmlc.driver import MANIFEST, CompileError, run_compiled

    xs = [_load_npy(p) for p in args.input]
    path = Path(args.model)
    if path.is_dir():
        if not (path / MANIFEST).exists():
            raise UserError(f"{path} is not an fmlc output folder (no {MANIFEST})")
        try:
            outs = run_compiled(path, xs, args.backend, raw=args.raw)
        except (CompileError, ValueError) as err:
            raise UserError(str(err)) from None
        _log(f"ran {path} on {len(xs[0])} samples ({args.backend or 'default backend'})")
    else:
        if args.backend not in (None, "emulator"):
            raise UserError(f"--backend {args.backend} needs a compiled folder; a model or IR runs on the emulator")
        from fmlc.driver import resolve
        from fmlc.emulator import EmulationError, Emulator

        module = resolve(load_module(args.model, args, _log))
        try:
            outs = Emulator(module).run(*xs, raw=args.raw)
        except (EmulationError, ValueError) as err:
            raise UserError(str(err)) from None
        _log(f"emulated {path.name} on {len(xs[0])} samples")
    outputs = args.output
    if len(outputs) != len(outs):
        raise UserError(f"the model has {len(outs)} output(s); give as many --output files")
    for o, target in zip(outs, outputs):
        arr = np.asarray(o)
        if arr.dtype == object:
            arr = arr.astype(np.float64) if not args.raw else arr
        _save_npy(Path(target), arr)


def cmd_report(args) -> None:
    from fmlc.driver import CompileError, get_target, load_manifest

    try:
        manifest = load_manifest(args.dir)
        target = get_target(manifest["target"])
        sys.stdout.write(target.report(Path(args.dir)))
    except CompileError as err:
        raise UserError(str(err)) from None


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _identifier(stem: str) -> str:
    import re

    name = re.sub(r"\W", "_", stem)
    return name if name and not name[0].isdigit() else f"m_{name}"


def _load_npy(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (ValueError, EOFError, OSError) as err:
        raise UserError(f"{path}: not a numpy .npy array ({err})") from None


def _save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=arr.dtype == object)
    _write_atomic(path, buf.getvalue())


def _write_atomic(path: Path, data: str | bytes) -> None:
    """Write through a temporary file in the same folder, renamed into place."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fmlc",
        description="fmlc: compile quantized ONNX/QONNX models to bit-exact HLS C++, Verilog and CUDA.",
    )
    parser.add_argument("--version", action="version", version=f"fmlc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def frontend_args(p):
        p.add_argument("-c", "--config", help="YAML configuration (precisions per model, layer and op type; reuse factor; I/O style)")
        p.add_argument("--precision", help="default precision for float tensors, e.g. 'fixed<16,6>' (the default)")
        p.add_argument("--strip-softmax", action="store_true", help="cut the model before a final Softmax (its logits become the output)")

    p = sub.add_parser("import", help="ONNX/QONNX model -> fxp IR (printed, or written with -o)")
    p.add_argument("model", help="the .onnx file, as exported")
    frontend_args(p)
    p.add_argument("-o", "--output", help="write the IR here instead of stdout")
    p.add_argument("--raw-import", action="store_true", help="print the IR as imported, before canonicalization and precision inference")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("compile", help="model or IR -> a folder of HLS C++, Verilog or CUDA")
    p.add_argument("model", help="an .onnx model or an .mlir file of fxp IR")
    p.add_argument("-t", "--target", required=True, choices=("hls", "verilog", "cuda"))
    p.add_argument("-o", "--output", required=True, help="output folder (replaced if it is an earlier fmlc output)")
    frontend_args(p)
    p.add_argument("--name", help="name of the top function / module / C API (default: the model file's name)")
    p.add_argument("--reuse-factor", type=int, help="multiplier reuse of dense/conv layers (default 1: fully parallel)")
    p.add_argument("--io", choices=("parallel", "stream"), help="I/O style: whole arrays or streams (default parallel)")
    p.add_argument("--part", help="FPGA part for HLS synthesis scripts (default xcvu13p-flga2577-2-e)")
    p.add_argument("--clock-period", type=float, help="clock period in ns (default 5)")
    p.add_argument("--adders-per-stage", type=int, help="Verilog: adder levels between pipeline registers (0: combinational)")
    p.add_argument("--programmable-weights", action="store_true", help="Verilog: weights in registers written through a configuration port")
    p.add_argument("--cuda-arch", help="CUDA: compute capability to build for (default 90)")
    p.add_argument("--print-ir", action="store_true", help="print the imported fxp IR before compiling")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="run a model/IR on the emulator, or a compiled folder on its simulator")
    p.add_argument("model", help="an .onnx model, an .mlir file, or a folder from fmlc compile")
    p.add_argument("--input", required=True, action="append", help="float inputs as .npy, shaped (N, *input_shape); repeat per input")
    p.add_argument("--output", required=True, action="append", help="where to write outputs (.npy, float64); repeat per output")
    p.add_argument("--backend", help="emulator | csim | verilator | icarus | cuda (default: the folder's first)")
    p.add_argument("--raw", action="store_true", help="write integer codes instead of float64 values")
    frontend_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="resources, latency and precision per layer of a compiled folder")
    p.add_argument("dir", help="a folder from fmlc compile")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as err:
        print(f"fmlc: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fmlc: interrupted", file=sys.stderr)
        return 130
    return 0


def console_main() -> None:
    """Entry point of the ``fmlc`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
