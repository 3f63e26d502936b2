"""``fmlc profile`` and ``fmlc tune``: the command-line side of ``fmlc.profile`` and ``fmlc.tune``.

    fmlc profile MODEL.onnx|IR.mlir [-c CONFIG] --input X.npy -o DIR [--no-plot]
    fmlc tune MODEL.onnx [-c CONFIG] --input X.npy [--labels Y.npy] --budget B -o TUNED.yaml
              [--target verilog|hls|cuda] [--holdout F]

``register(subparsers)`` adds both to ``fmlc``'s parser.  Everything the user gives is checked
before the work starts; outputs appear whole or not at all (``fmlc.outputs``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROFILE_JSON = "profile.json"
PROFILE_PNG = "profile.png"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got '{text}'") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 (exclusive), got {text}")
    return value


def _budget(text: str) -> float:
    from fmlc.tune import TuneError, parse_budget

    try:
        return parse_budget(text)
    except TuneError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def is_profile_folder(path: Path) -> bool:
    """An earlier ``fmlc profile`` output, which a new run may replace."""
    return (path / PROFILE_JSON).is_file()


def register(subparsers) -> None:
    """Add ``profile`` and ``tune`` to fmlc's subcommands."""
    p = subparsers.add_parser("profile", help="value ranges of every tensor on data, against its type: profile.json, profile.png")
    p.add_argument("model", help="an .onnx model or an .mlir file of fxp IR")
    p.add_argument("-c", "--config", help="YAML configuration (ONNX models): the types to profile")
    p.add_argument("--input", required=True, help="inputs as .npy, shaped (N, *input_shape)")
    p.add_argument("-o", "--output", required=True, help="output folder (replaced if it is an earlier profile)")
    p.add_argument("--no-plot", action="store_true", help="write profile.json only (profile.png needs matplotlib: pip install 'fmlc[plot]')")
    p.set_defaults(func=cmd_profile)

    p = subparsers.add_parser("tune", help="the smallest types within an accuracy budget -> a configuration for fmlc compile -c")
    p.add_argument("model", help="the .onnx model, as exported")
    p.add_argument("-c", "--config", help="YAML configuration to start from (its other settings are kept)")
    p.add_argument("--input", required=True, help="inputs as .npy, shaped (N, *input_shape)")
    p.add_argument("--labels", help="labels as .npy (class indices or one-hot rows): the budget is then an accuracy drop")
    p.add_argument("--budget", required=True, type=_budget, help="the loss allowed, e.g. 0.5%% or 0.005: disagreement with the reference, or accuracy drop with --labels")
    p.add_argument("-o", "--output", required=True, help="where to write the tuned configuration (YAML)")
    p.add_argument("-t", "--target", default="verilog", choices=("verilog", "hls", "cuda"), help="whose cost to minimise (default verilog)")
    p.add_argument("--holdout", type=_fraction, default=0.25, help="fraction of the data held out to confirm the result (default 0.25)")
    p.set_defaults(func=cmd_tune)


# --------------------------------------------------------------------------------------------
# fmlc profile
# --------------------------------------------------------------------------------------------


def cmd_profile(args) -> None:
    from fmlc.cli import (
        UserError,
        check_inputs,
        check_model_path,
        load_input,
        load_module,
    )
    from fmlc.driver import resolve
    from fmlc.emulator import Emulator
    from fmlc.outputs import check_destination, staged_output
    from fmlc.profile import profile_module, write_plot

    check_model_path(args.model)
    check_destination(args.output, "dir", is_profile_folder)
    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("profile.png needs matplotlib: pip install 'fmlc[plot]' (or give --no-plot)") from None
    x = load_input(args.input)
    module = resolve(load_module(args.model, args, _log))
    check_inputs([x], [args.input], Emulator(module).input_shapes)
    if len(x) == 0:
        raise UserError(f"{args.input}: holds no samples")
    t0 = time.perf_counter()
    prof = profile_module(module, [x])
    _log(f"profiled {Path(args.model).name} on {len(x)} samples in {time.perf_counter() - t0:.1f} s")
    with staged_output(args.output, "dir", is_profile_folder) as folder:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PROFILE_JSON).write_text(prof.to_json())
        if not args.no_plot:
            write_plot(prof, folder / PROFILE_PNG, f"{Path(args.model).name}: {len(x)} samples")
    sys.stdout.write(prof.table())
    written = [PROFILE_JSON] + ([] if args.no_plot else [PROFILE_PNG])
    _log(f"wrote {', '.join(str(Path(args.output) / w) for w in written)}")


# --------------------------------------------------------------------------------------------
# fmlc tune
# --------------------------------------------------------------------------------------------


def cmd_tune(args) -> None:
    from fmlc.cli import UserError, check_model_path, load_config, load_input
    from fmlc.outputs import check_destination, write_file
    from fmlc.tune import TuneError, tune

    path = check_model_path(args.model)
    if path.suffix == ".mlir":
        raise UserError(f"{args.model}: fmlc tune needs the ONNX model: it imports it again with every candidate configuration")
    check_destination(args.output, "file")
    config = load_config(args.config)
    x = load_input(args.input)
    labels = None
    if args.labels is not None:
        labels = load_input(args.labels)
        if labels.shape[0] != x.shape[0]:
            raise UserError(f"{args.labels}: holds {labels.shape[0]} labels for {x.shape[0]} inputs")
    t0 = time.perf_counter()
    try:
        result = tune(path, x, args.budget, labels, args.target, config, args.holdout, progress=True, log=_log)
    except TuneError as err:
        raise UserError(str(err)) from None
    sys.stdout.write(result.table())
    write_file(args.output, result.yaml())
    _log(f"wrote {args.output} in {time.perf_counter() - t0:.1f} s")
