"""The ``fmlc`` command: import, compile, run and report.

    fmlc import MODEL.onnx [-c CONFIG.yaml] [-o OUT.mlir]
    fmlc compile MODEL.onnx|IR.mlir --target hls|verilog|cuda -o DIR [options]
    fmlc run MODEL.onnx|IR.mlir|DIR --input X.npy --output Y.npy [--backend B] [--raw]
    fmlc report DIR [--synth]

Every option and input is checked before any work.  Bad input ends with ``fmlc: error: ...``
naming what is wrong and where, exit status 2, and nothing written; an unexpected exception
is an internal error, exit status 70 (see ``fmlc.errors`` and docs/cli.md).  Outputs appear
whole or not at all (``fmlc.outputs``).

Subcommands live in ``build_parser``; a module adds its own with a ``register(subparsers)``
function that calls ``subparsers.add_parser(...)`` and ``set_defaults(func=...)``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from fmlc import __version__
from fmlc.errors import EXIT_USAGE, UserError, run_command

__all__ = ["EXIT_USAGE", "UserError", "build_parser", "main"]

BACKENDS = ("emulator", "csim", "verilator", "icarus", "cuda")
MAX_EXACT_INT = 2**53
"""Inputs are quantized from float64: larger integers would be rounded first."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# option types: checked by argparse, before any work
# --------------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of nanoseconds > 0, got '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of nanoseconds > 0, got {text}")
    return value


def precision(text: str) -> str:
    from fmlc.fixed import FixedFormat

    try:
        FixedFormat.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"'{text}' is not a precision ({err})") from None
    return text


def identifier(text: str) -> str:
    if not text.isidentifier() or not text.isascii():
        raise argparse.ArgumentTypeError(f"'{text}' is not an identifier (letters, digits and underscores, not starting with a digit)")
    return text


def compute_capability(text: str) -> str:
    if not text.isdigit() or not text.isascii():
        raise argparse.ArgumentTypeError(f"expected a compute capability like 90, got '{text}'")
    return text


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


# --------------------------------------------------------------------------------------------
# loading models
# --------------------------------------------------------------------------------------------


def frontend_options(args) -> dict:
    """The import settings given on the command line (they override the configuration file)."""
    opts = {}
    if getattr(args, "precision", None) is not None:
        opts["precision"] = args.precision
    if getattr(args, "strip_softmax", False):
        opts["strip_softmax"] = True
    return opts


def load_config(path: str | None) -> dict:
    if path is None:
        return {}
    from fmlc.frontend.config import read_config

    return read_config(path)


def is_ir(path: str | Path) -> bool:
    return Path(path).suffix == ".mlir"


def check_model_path(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such file")
    if p.is_dir():
        raise UserError(f"{path}: is a folder; give an .onnx model or an .mlir file")
    return p


def load_module(path: str, args, log=None, config: dict | None = None, reports: list | None = None):
    """fxp IR from an ONNX model (imported) or a .mlir file (parsed and verified); the import
    report (how each node was made exact) is appended to ``reports`` when given."""
    p = check_model_path(path)
    if config is None:
        config = load_config(getattr(args, "config", None))
    if is_ir(p):
        _refuse_import_settings(path, args, config)
        return read_ir(p, path)
    from fmlc.frontend.onnx_import import import_model_with_report

    config = dict(config)
    config["model"] = {**(config.get("model") or {}), **frontend_options(args)}
    t0 = time.perf_counter()
    module, report = import_model_with_report(p, config, log=log)
    if reports is not None:
        reports.append(report)
    if log:
        log(f"imported {p.name} in {time.perf_counter() - t0:.2f} s")
    return module


def read_ir(p: Path, shown: str):
    """A .mlir file of fxp IR: parsed, verified, with one model function."""
    from fmlc.diagnostics import parse_ir
    from fmlc.ir import main_function

    text = read_text(p, shown)
    module, _ = parse_ir(text, shown)
    try:
        main_function(module)
    except ValueError as err:
        raise UserError(f"{shown}: {err}") from None
    return module


def read_text(p: Path, shown: str) -> str:
    from fmlc.errors import os_message

    try:
        return p.read_bytes().decode("utf-8")
    except OSError as err:
        raise UserError(os_message(err, shown)) from None
    except UnicodeDecodeError as err:
        raise UserError(f"{shown}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start})") from None


def _refuse_import_settings(path: str, args, config: dict) -> None:
    """Settings that only the importer reads would be silently ignored for IR: refuse them."""
    given = [f"--{k.replace('_', '-')}" for k in frontend_options(args)]
    given += [f"{k} (configuration)" for k in ("inputs", "layers", "op_types") if config.get(k)]
    given += [f"model.{k} (configuration)" for k in ("precision", "strip_softmax") if k in (config.get("model") or {})]
    if given:
        raise UserError(f"{path}: {', '.join(given)} apply when importing an ONNX model; an .mlir file carries its own types")


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------


def cmd_import(args) -> None:
    from fmlc.driver import resolve
    from fmlc.ir import print_module
    from fmlc.outputs import check_destination, write_file

    if args.output is not None:
        check_destination(args.output, "file")
    if args.explain and is_ir(args.model):
        raise UserError(f"{args.model}: --explain describes an ONNX import; an .mlir file was not imported")
    reports: list = []
    module = load_module(args.model, args, _log, reports=reports)
    if not args.raw_import:
        module = resolve(module)
    text = print_module(module)
    if args.output is not None:
        write_file(args.output, text)
    elif not args.explain:
        sys.stdout.write(text)
    if args.explain:
        sys.stdout.write(reports[0].format() + "\n")


def compile_options(args, config: dict):
    from fmlc.driver import CompileOptions

    model_cfg = config.get("model") or {}
    opts = CompileOptions(target=args.target)
    opts.name = args.name or model_cfg.get("name") or _identifier(Path(args.model).stem)
    opts.reuse_factor = args.reuse_factor if args.reuse_factor is not None else model_cfg.get("reuse_factor", 1)
    opts.io = args.io or model_cfg.get("io", "parallel")
    if args.part is not None:
        opts.part = args.part
    if args.clock_period is not None:
        opts.clock_period = args.clock_period
    if args.adders_per_stage is not None:
        opts.adders_per_stage = args.adders_per_stage
    opts.programmable_weights = bool(args.programmable_weights)
    if args.cuda_arch is not None:
        opts.cuda_arch = args.cuda_arch
    opts.extra = dict(config.get(args.target) or {})
    opts.validate()
    return opts


def cmd_compile(args) -> None:
    from fmlc.driver import compile_model, is_output_folder
    from fmlc.ir import print_module
    from fmlc.outputs import check_destination

    check_model_path(args.model)
    check_destination(args.output, "dir", is_output_folder)
    config = load_config(args.config)
    options = compile_options(args, config)
    module = load_module(args.model, args, _log, config)
    if args.print_ir:
        sys.stdout.write(print_module(module))
    _log(f"compiling for {options.target} into {args.output}")
    t0 = time.perf_counter()
    out = compile_model(module, args.output, options, _log)
    _log(f"wrote {out} in {time.perf_counter() - t0:.2f} s")


def cmd_run(args) -> None:
    from fmlc.outputs import check_destination

    path = Path(args.model)
    if not path.exists():
        raise UserError(f"{args.model}: no such file or folder")
    if len(set(map(_absolute, args.output))) != len(args.output):
        raise UserError("the --output files must be distinct")
    for target in args.output:
        check_destination(target, "file")
    xs = [load_input(p) for p in args.input]
    if path.is_dir():
        outs = _run_folder(path, xs, args)
    else:
        outs = _run_model(path, xs, args)
    _save_outputs(args.output, outs, args.raw)


def _run_folder(path: Path, xs, args) -> list[np.ndarray]:
    from fmlc.driver import load_manifest, run_compiled

    _refuse_import_settings(str(path), args, {})
    if args.config is not None:
        raise UserError(f"{path}: -c/--config applies to models; a compiled folder keeps its settings")
    manifest = load_manifest(path)
    check_inputs(xs, args.input, [tuple(s["shape"]) for s in manifest["inputs"]])
    _check_output_count(len(manifest["outputs"]), args.output)
    outs = run_compiled(path, xs, args.backend, raw=args.raw)
    _log(f"ran {path} on {len(xs[0])} samples ({args.backend or 'default backend'})")
    return outs


def _run_model(path: Path, xs, args) -> list[np.ndarray]:
    from fmlc.driver import resolve
    from fmlc.emulator import Emulator

    if args.backend not in (None, "emulator"):
        raise UserError(f"--backend {args.backend} needs a compiled folder; a model or IR runs on the emulator")
    module = resolve(load_module(str(path), args, _log))
    emulator = Emulator(module)
    check_inputs(xs, args.input, emulator.input_shapes)
    _check_output_count(len(emulator.outputs), args.output)
    outs = emulator.run(*xs, raw=args.raw)
    _log(f"emulated {path.name} on {len(xs[0])} samples")
    return outs


def cmd_report(args) -> None:
    from fmlc.driver import get_target, load_manifest

    manifest = load_manifest(args.dir)
    target = get_target(manifest["target"])
    if args.synth and manifest["target"] != "verilog":
        raise UserError(f"{args.dir}: --synth runs Yosys on Verilog folders; this folder holds the {manifest['target']} target")
    text = target.report(Path(args.dir).resolve(), synth=True) if args.synth else target.report(Path(args.dir).resolve())
    sys.stdout.write(text)


# --------------------------------------------------------------------------------------------
# inputs and outputs
# --------------------------------------------------------------------------------------------


def load_input(path: str) -> np.ndarray:
    """A ``.npy`` array of real numbers: integers or floats up to 64 bits, all finite.

    Refused: complex (its imaginary part would be dropped), booleans, strings, objects and
    records (not numbers), ``long double`` (not exact in float64), NaN and infinities (no
    fixed-point code), and integers beyond 2**53 (rounded by float64)."""
    from fmlc.errors import os_message

    try:
        arr = np.load(path, allow_pickle=False)
    except OSError as err:
        raise UserError(os_message(err, path)) from None
    except (ValueError, EOFError) as err:
        raise UserError(f"{path}: not a numpy .npy array ({err})") from None
    if not isinstance(arr, np.ndarray):
        if hasattr(arr, "close"):
            arr.close()
        raise UserError(f"{path}: is an .npz archive; give one .npy file per input")
    kind = arr.dtype.kind
    if kind == "c":
        raise UserError(f"{path}: holds complex numbers ({arr.dtype}); inputs must be real (integers or floats)")
    if kind == "b":
        raise UserError(f"{path}: holds booleans; inputs must be numbers (convert with x.astype(np.float32))")
    if kind not in "iuf":
        raise UserError(f"{path}: holds {arr.dtype} values; inputs must be real numbers (integers or floats)")
    if kind == "f" and arr.dtype.itemsize > 8:
        raise UserError(f"{path}: holds {arr.dtype} values, wider than float64; convert with x.astype(np.float64)")
    if arr.ndim == 0:
        raise UserError(f"{path}: is a single number; inputs are shaped (N, *input_shape)")
    if kind == "f" and arr.size and not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise UserError(f"{path}: holds a non-finite value ({arr[bad]}) at index {bad}; fixed point has no code for NaN or infinity")
    if kind in "iu" and arr.size and (arr.max() > MAX_EXACT_INT or (kind == "i" and arr.min() < -MAX_EXACT_INT)):
        raise UserError(f"{path}: holds integers beyond 2**53, which float64 cannot hold exactly")
    return arr


def check_inputs(xs: list[np.ndarray], paths: list[str], shapes: list[tuple[int, ...]]) -> None:
    """As many inputs as the model has, each shaped (N, *shape), with one N."""
    if len(xs) != len(shapes):
        raise UserError(f"the model takes {len(shapes)} input(s); give as many --input files (got {len(xs)})")
    for x, path, shape in zip(xs, paths, shapes):
        if tuple(x.shape[1:]) != tuple(shape):
            want = ", ".join(map(str, ("N", *shape)))
            raise UserError(f"{path}: must be shaped ({want}), got {x.shape}")
    counts = {x.shape[0] for x in xs}
    if len(counts) > 1:
        raise UserError(f"the inputs hold different numbers of samples: {', '.join(f'{p}: {x.shape[0]}' for p, x in zip(paths, xs))}")


def _check_output_count(count: int, outputs: list[str]) -> None:
    if count != len(outputs):
        raise UserError(f"the model has {count} output(s); give as many --output files (got {len(outputs)})")


def _save_outputs(paths: list[str], outs: list[np.ndarray], raw: bool) -> None:
    import io
    from contextlib import ExitStack

    from fmlc.outputs import staged_output

    with ExitStack() as stack:
        for target, o in zip(paths, outs):
            arr = np.asarray(o)
            if arr.dtype == object and not raw:
                arr = arr.astype(np.float64)
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=arr.dtype == object)
            staged = stack.enter_context(staged_output(target, "file"))
            staged.write_bytes(buf.getvalue())


def _absolute(path: str) -> str:
    import os

    return os.path.abspath(path)


def _identifier(stem: str) -> str:
    import re

    name = re.sub(r"\W", "_", stem, flags=re.ASCII)
    return name if name and not name[0].isdigit() else f"m_{name}"


# --------------------------------------------------------------------------------------------
# the parser
# --------------------------------------------------------------------------------------------


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors in fmlc's format: ``fmlc: error: COMMAND: message``."""

    def error(self, message: str):
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(EXIT_USAGE, f"fmlc: error: {command}{message} (see `{self.prog} --help`)\n")


class _Subcommands(argparse._SubParsersAction):
    """Gives every subcommand (ours, and those other modules register) ``--debug``."""

    def add_parser(self, name, **kwargs):
        parser = super().add_parser(name, **kwargs)
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an internal error (also FMLC_DEBUG=1)")
        return parser


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="fmlc",
        description="fmlc: compile quantized ONNX/QONNX models to bit-exact HLS C++, Verilog and CUDA.",
        epilog="Exit status: 0 done, 2 bad input (fmlc: error: ...), 70 internal error. See docs/cli.md.",
    )
    parser.register("action", "parsers", _Subcommands)
    parser.add_argument("--version", action="version", version=f"fmlc {__version__}")
    parser.add_argument("--debug", action="store_true", default=False, help="show the traceback of an internal error (also FMLC_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def frontend_args(p):
        p.add_argument("-c", "--config", help="YAML configuration (precisions per model, layer and op type; reuse factor; I/O style)")
        p.add_argument("--precision", type=precision, help="default precision for float tensors, e.g. 'fixed<16,6>' (the default)")
        p.add_argument("--strip-softmax", action="store_true", help="cut the model before a final Softmax (its logits become the output)")

    p = sub.add_parser("import", help="ONNX/QONNX model -> fxp IR (printed, or written with -o)")
    p.add_argument("model", help="the .onnx file, as exported")
    frontend_args(p)
    p.add_argument("-o", "--output", help="write the IR here instead of stdout")
    p.add_argument("--raw-import", action="store_true", help="print the IR as imported, before canonicalization and precision inference")
    p.add_argument("--explain", action="store_true", help="print, per node, how it was made exact (exact, table, thresholds, bounded with the bound) instead of the IR (-o still writes the IR)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("compile", help="model or IR -> a folder of HLS C++, Verilog or CUDA")
    p.add_argument("model", help="an .onnx model or an .mlir file of fxp IR")
    p.add_argument("-t", "--target", required=True, choices=("hls", "verilog", "cuda"))
    p.add_argument("-o", "--output", required=True, help="output folder (replaced if it is an earlier fmlc output)")
    frontend_args(p)
    p.add_argument("--name", type=identifier, help="name of the top function / module / C API (default: the model file's name)")
    p.add_argument("--reuse-factor", type=positive_int, help="multiplier reuse of dense/conv layers (default 1: fully parallel)")
    p.add_argument("--io", choices=("parallel", "stream"), help="I/O style: whole arrays or streams (default parallel)")
    p.add_argument("--part", type=non_empty, help="FPGA part for HLS synthesis scripts (default xcvu13p-flga2577-2-e)")
    p.add_argument("--clock-period", type=positive_float, help="clock period in ns (default 5)")
    p.add_argument("--adders-per-stage", type=non_negative_int, help="Verilog: adder levels between pipeline registers (0: combinational)")
    p.add_argument("--programmable-weights", action="store_true", help="Verilog: weights in registers written through a configuration port")
    p.add_argument("--cuda-arch", type=compute_capability, help="CUDA: compute capability to build for (default 90)")
    p.add_argument("--print-ir", action="store_true", help="print the imported fxp IR before compiling")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="run a model/IR on the emulator, or a compiled folder on its simulator")
    p.add_argument("model", help="an .onnx model, an .mlir file, or a folder from fmlc compile")
    p.add_argument("--input", required=True, action="append", help="inputs as .npy (real numbers, finite), shaped (N, *input_shape); repeat per input")
    p.add_argument("--output", required=True, action="append", help="where to write outputs (.npy, float64); repeat per output")
    p.add_argument("--backend", choices=BACKENDS, help="emulator | csim | verilator | icarus | cuda (default: the folder's first)")
    p.add_argument("--raw", action="store_true", help="write integer codes instead of float64 values")
    frontend_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="latency, resources and precision per layer of a compiled folder")
    p.add_argument("dir", help="a folder from fmlc compile")
    p.add_argument("--synth", action="store_true", help="Verilog: synthesize with Yosys (three flows: LUTs, FFs, carry chains, DSPs, depth); minutes on large designs")
    p.set_defaults(func=cmd_report)

    from fmlc.sweep.cli import register as register_sweep

    register_sweep(sub)

    from fmlc.cli_precision import register as register_precision

    register_precision(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0, 2 bad input, 70 internal error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error (already printed)
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    return run_command(lambda: args.func(args), debug=getattr(args, "debug", False))


def console_main() -> None:
    """Entry point of the ``fmlc`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
