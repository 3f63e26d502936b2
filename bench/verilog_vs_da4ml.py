#!/usr/bin/env python3
"""fmlc's Verilog target next to da4ml on the jet tagger's logits: compile time, Yosys LUTs and
FFs (``synth_xilinx -flatten -nodsp``), pipeline latency.

The network is the hls4ml jet tagger 16 -> 64 -> 32 -> 32 -> 5 (Softmax removed): with fmlc's
ONNX front end on ../shared/models/qkeras_jettagging.onnx when both are there, else built as
bench/emulator_throughput.py does (the model's weights, or seeded random ones without the
models folder).  The script says which.

da4ml (``pip install da4ml``; 0.6.0 here) traces the same network with its numpy-like tracer:
the same weight and bias codes (read from fmlc's IR), the input type, and each activation's
ReLU, rounding and saturation.  da4ml has no round-half-to-even, so QONNX's rounding (RND_CONV
after ReLU) is built from its bit operations: ``floor(v + 2^-(f+1) - u + bit_f(v) * u)`` with u
the LSB of the exact sum v, then saturation.  Both are checked bit-exact against fmlc's
emulator before anything is measured.

Latency is counted in clock cycles from input to output.  da4ml registers its inputs and
outputs: N stages take N + 1 cycles.  fmlc registers only between stages (adder-level budget).

    python bench/verilog_vs_da4ml.py [--adders-per-stage 5] [--da4ml-cutoff 5] [--combinational]
                                      [--check 20000] [--no-yosys] [--keep DIR]

Reference (this machine, Yosys 0.23, da4ml 0.5.2 measured by the project lead): 3.4 s to trace
and optimize; combinational 31,570 LUTs; 8 stages 31,024 LUTs and 6,985 FFs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = HERE.parents[1] / "shared" / "models"
sys.path.insert(0, str(HERE))

from fmlc.dialects import dataflow, fxp  # noqa: E402
from fmlc.driver import CompileOptions, boundary, compile_model, prepare, quantize_inputs  # noqa: E402
from fmlc.emulator import Emulator  # noqa: E402
from fmlc.fixed import FixedFormat  # noqa: E402
from fmlc.ir import body_ops, main_function  # noqa: E402
from fmlc.targets.verilog import parse_stat  # noqa: E402

# ============================================================================================
# The network, and what da4ml needs of it
# ============================================================================================


def load_network():
    """(fxp module, where it came from)."""
    path = MODELS / "qkeras_jettagging.onnx"
    try:
        from fmlc.frontend.onnx_import import import_model
    except ImportError:
        import_model = None
    if import_model is not None and path.exists():
        return import_model(path, {"model": {"strip_softmax": True}}), f"fmlc's ONNX front end on {path.name} (Softmax stripped: logits)"
    from emulator_throughput import fxp_module, jet_tagger_weights

    layers, source = jet_tagger_weights(np.random.default_rng(0))
    return fxp_module(layers), f"bench/emulator_throughput.py's fxp_module ({source})"


def layers_of(module):
    """The input format and, per layer, ('dense', w, w_frac, b, b_frac) or ('act', format)."""
    func = main_function(module)
    in_fmt = None
    layers = []
    ops = []
    for op in body_ops(func):  # the layers, inside their dataflow nodes or not
        ops += [o for o in op.block.ops if not isinstance(o, dataflow.YieldOp)] if isinstance(op, dataflow.NodeOp) else [op]
    for op in ops:
        if isinstance(op, fxp.QuantizeOp):
            in_fmt = fxp.element_format(op.result)
        elif isinstance(op, fxp.ConstantOp):
            continue
        elif isinstance(op, fxp.DenseOp):
            w, b = op.weight.owner, op.bias.owner if op.bias is not None else None
            layers.append(("dense", w.codes(), w.format.frac, b.codes() if b else None, b.format.frac if b else 0))
            out = fxp.element_format(op.result)
            if not out.contains(op.acc.format):  # the layer's own cast rounds or saturates
                layers.append(("act", out))
        elif isinstance(op, fxp.ReluOp):
            layers.append(("relu", fxp.element_format(op.result)))
        elif isinstance(op, fxp.CastOp):
            layers.append(("act", fxp.element_format(op.result)))
        else:
            raise SystemExit(f"the da4ml side of this benchmark handles dense, ReLU and casts only, not {op.name}")
    return in_fmt, layers


def da4ml_trace(in_fmt: FixedFormat, layers):
    """The network through da4ml's tracer: returns its CombLogic."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace
    from da4ml.trace.ops import quantize, relu

    def activate(v, fmt: FixedFormat):
        k, i, f = int(fmt.signed), fmt.int_bits - int(fmt.signed), fmt.frac
        if fmt.rounding == "RND_CONV":  # half to even, from bits: floor(v + half - u + bit_f(v) * u)
            u = 2.0 ** -int(np.max(v.kif[2]))
            v = v + (2.0 ** -(f + 1) - u) + (v & 2.0**-f) * (u * 2.0**f)
            rounding = "TRN"
        elif fmt.rounding in ("TRN", "RND"):
            rounding = fmt.rounding
        else:
            raise SystemExit(f"da4ml has no rounding mode {fmt.rounding}")
        if fmt.overflow not in ("WRAP", "SAT", "SAT_SYM"):
            raise SystemExit(f"da4ml has no overflow mode {fmt.overflow}")
        return quantize(v, k, i, f, fmt.overflow, rounding)

    inp = FixedVariableArrayInput(16, hwconf=HWConfig(1, -1, -1))
    x = quantize(inp, int(in_fmt.signed), in_fmt.int_bits - int(in_fmt.signed), in_fmt.frac)
    for layer in layers:
        if layer[0] == "dense":
            _, w, wf, b, bf = layer
            x = x @ (w.astype(np.float64) * 2.0**-wf)
            if b is not None:
                x = x + b.astype(np.float64) * 2.0**-bf
        elif layer[0] == "relu":
            x = activate(relu(x), layer[1])
        else:
            x = activate(x, layer[1])
    return comb_trace(inp, x)


# ============================================================================================
# Synthesis
# ============================================================================================


def yosys(sources: list[Path], top: str, workdir: Path) -> dict:
    script = "".join(f"read_verilog -sv {s}\n" for s in sources)
    script += f"synth_xilinx -flatten -nodsp -top {top}\ntee -o stat.txt stat\ntee -o ltp.txt ltp -noff\n"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "run.ys").write_text(script)
    t0 = time.perf_counter()
    proc = subprocess.run(["yosys", "-q", "-s", "run.ys"], cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"yosys failed on {top}:\n{proc.stderr[-2000:]}")
    stats = parse_stat((workdir / "stat.txt").read_text(), (workdir / "ltp.txt").read_text())
    stats["seconds"] = time.perf_counter() - t0
    return stats


# ============================================================================================
# Main
# ============================================================================================


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adders-per-stage", type=int, default=5, help="fmlc's pipeline budget (default 5)")
    ap.add_argument("--da4ml-cutoff", type=float, default=5, help="da4ml's latency cutoff per stage (default 5: 8 stages)")
    ap.add_argument("--combinational", action="store_true", help="compare fully combinational designs")
    ap.add_argument("--check", type=int, default=20000, help="random inputs for the bit-exactness checks")
    ap.add_argument("--no-yosys", action="store_true", help="skip synthesis (about two minutes a design)")
    ap.add_argument("--keep", help="keep both designs in this folder")
    args = ap.parse_args()

    import da4ml
    import pycde.circt  # noqa: F401  (both tools' libraries load before the clocks start)
    from da4ml.codegen import RTLModel
    from da4ml.trace import to_pipeline

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fmlc-vs-da4ml-"))
    work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    module, source = load_network()
    t_import = time.perf_counter() - t0
    print(f"network: {source}")
    budget = 0 if args.combinational else args.adders_per_stage

    # -- fmlc ------------------------------------------------------------------------------
    t0 = time.perf_counter()
    out = compile_model(module.clone(), work / "fmlc", CompileOptions(target="verilog", name="jet", adders_per_stage=budget))
    t_fmlc = time.perf_counter() - t0
    import json

    meta = json.loads((out / "verilog.json").read_text())
    prepared = prepare(module.clone(), CompileOptions())

    # -- da4ml -----------------------------------------------------------------------------
    in_fmt, layers = layers_of(prepared)
    t0 = time.perf_counter()
    comb = da4ml_trace(in_fmt, layers)
    t_trace = time.perf_counter() - t0
    solution = comb if args.combinational else to_pipeline(comb, args.da4ml_cutoff, verbose=False)
    RTLModel(solution, "jet_da4ml", work / "da4ml", flavor="verilog").write()
    t_da4ml = time.perf_counter() - t0
    stages = 0 if args.combinational else len(solution.solutions)
    da4ml_latency = 0 if args.combinational else stages + 1

    # -- both compute the emulator's bits ----------------------------------------------------
    rng = np.random.default_rng(1)
    x = np.ldexp(rng.integers(in_fmt.min_code, in_fmt.max_code + 1, (args.check, 16)), -in_fmt.frac).astype(np.float32)
    want = Emulator(prepared).run(x, raw=False)[0]
    codes = quantize_inputs(boundary(prepared), [x])[0]
    got = np.asarray(comb.predict(codes.astype(np.float64) * 2.0**-in_fmt.frac)).reshape(want.shape)
    exact = np.array_equal(got, want)
    print(f"da4ml {da4ml.__version__} == fmlc emulator on {args.check} inputs: {exact}")
    if not exact:
        raise SystemExit("da4ml does not compute the same network: no comparison")

    print(f"fmlc import {t_import:.2f} s (not counted below)")
    rows = [
        ("compile to Verilog (s)", t_fmlc, t_da4ml),
        ("  of which trace + optimize (s)", None, t_trace),
        ("latency (cycles)", meta["latency"], da4ml_latency),
    ]
    if not args.no_yosys and shutil.which("yosys"):
        da4ml_src = sorted((work / "da4ml" / "src").glob("jet_da4ml*.v"))
        da4ml_src = [p for p in da4ml_src if not p.name.endswith("_wrapper.v")]
        static = [p for p in sorted((work / "da4ml" / "src" / "static").glob("*.v")) if p.name != "lookup_table.v"]
        with ThreadPoolExecutor(max_workers=2) as pool:
            f = pool.submit(yosys, [out / "jet.sv"], "jet", work / "yosys_fmlc")
            d = pool.submit(yosys, static + da4ml_src, "jet_da4ml", work / "yosys_da4ml")
            fs, ds = f.result(), d.result()
        rows += [
            ("LUT (synth_xilinx -nodsp)", fs["lut"], ds["lut"]),
            ("FF", fs["ff"], ds["ff"]),
            ("CARRY4", fs["carry"], ds["carry"]),
            ("logic depth (ltp -noff)", fs["depth"], ds["depth"]),
            ("yosys time (s)", fs["seconds"], ds["seconds"]),
        ]
    print()
    print(f"{'jet tagger logits':<34}{'fmlc':>12}{'da4ml':>12}{'fmlc/da4ml':>12}")
    for label, a, b in rows:
        fa = "" if a is None else (f"{a:.2f}" if isinstance(a, float) else str(a))
        fb = f"{b:.2f}" if isinstance(b, float) else str(b)
        ratio = f"{a / b:.3f}" if a is not None and b else ""
        print(f"{label:<34}{fa:>12}{fb:>12}{ratio:>12}")
    print()
    print(f"fmlc: adders per stage {budget or 'combinational'}; da4ml: " + ("combinational" if args.combinational else f"cutoff {args.da4ml_cutoff}, {stages} stages + input/output registers"))
    print(f"designs in {work}")


if __name__ == "__main__":
    main()
