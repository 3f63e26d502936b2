#!/usr/bin/env python3
"""fmlc's Verilog target next to da4ml on two networks, combinational and pipelined, in one run:
Yosys LUTs, FFs and CARRY4s (``synth_xilinx -flatten -nodsp``), latency in cycles, the
register-to-register depth of each design, and the time from model to Verilog.

The networks, both through fmlc's ONNX front end:

- ``jet``: the hls4ml jet tagger 16 -> 64 -> 32 -> 32 -> 5 (../shared/models/
  qkeras_jettagging.onnx, Softmax stripped: the logits), 4,256 multiplications; skipped with
  a note where that folder is absent;
- ``mlp57``: a QONNX MLP of the same kind, 57 -> 64 -> 64 -> 64 -> 64 -> 5 (four hidden layers
  of 64), 16,256 multiplications (3.8x the jet's), written here as QONNX (``Quant`` nodes:
  10-bit inputs at scale 2**-5, 6-bit weights and biases at 2**-5, ReLU then 6-bit unsigned
  activations at 2**-6 rounding half to even), with seeded random weights.  (The inputs are
  quantized so that QONNX's float32 sums are exact, as the jet tagger's are; otherwise the
  front end rightly builds the activations as float32 thresholds, which da4ml cannot trace.)

da4ml (``pip install da4ml``; 0.6.0 here) traces the same network with its numpy-like tracer:
the weight and bias codes read from fmlc's IR, the input type, and each activation's ReLU,
rounding and saturation (QONNX's half-to-even rounding built from da4ml's bit operations:
``floor(v + 2^-(f+1) - u + bit_f(v) * u)`` with u the LSB of the exact sum v).  Before anything
is measured, both are checked bit for bit against fmlc's emulator: da4ml's own reference
(``predict``) on ``--check`` random inputs, fmlc's Verilog simulated with Icarus on
``--simulate`` of them, combinational and pipelined.

Latency is in clock cycles from input to output: da4ml registers its inputs and outputs (N
stages take N + 1 cycles); fmlc registers only between stages (``--adders-per-stage``).
LUTs are Yosys's LUT1..LUT6 cells; its ``INV`` cells (each a LUT1 unless a neighbouring LUT
absorbs it, as Vivado does for one on a carry chain's DI input) are listed apart, and again
added to the LUTs, so that neither tool gains from how the other's inverters are counted.
Depth is the worst register-to-register path of the mapped netlist in the delay model of
``fmlc.targets.rtl_depth`` (LUT levels, CARRY4 cells, estimated ns); ``ltp`` after
``synth_xilinx`` does not cut at Xilinx flip-flops and is not used.  Compile time is the best of
``--repeat`` runs of model -> Verilog files (fmlc: ``compile_model`` from the imported model;
da4ml: trace, pipeline, write), wall clock and CPU.

    python bench/verilog_vs_da4ml.py [--networks jet,mlp57] [--adders-per-stage 5]
        [--da4ml-cutoff 5] [--check 20000] [--simulate 2000] [--repeat 3] [--no-yosys] [--keep DIR]

Yosys 0.23 takes one to several minutes per design (two run at a time, under ``nice``).
"""

from __future__ import annotations

import argparse
import json
import os
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
JET = MODELS / "qkeras_jettagging.onnx"

from fmlc.dialects import dataflow, fxp  # noqa: E402
from fmlc.driver import CompileOptions, boundary, compile_model, load_manifest, prepare, quantize_inputs  # noqa: E402
from fmlc.emulator import Emulator  # noqa: E402
from fmlc.fixed import FixedFormat  # noqa: E402
from fmlc.ir import body_ops, main_function  # noqa: E402
from fmlc.targets.rtl_depth import YOSYS_COMMAND, depth_of_netlist  # noqa: E402
from fmlc.targets.verilog import VerilogTarget, parse_stat  # noqa: E402

# ============================================================================================
# The networks
# ============================================================================================

MLP57 = (57, 64, 64, 64, 64, 5)


def mlp_qonnx(sizes: tuple[int, ...], seed: int) -> bytes:
    """A QONNX MLP shaped like the jet tagger: Quant'd weights and biases, ReLU, Quant'd activations."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def quant(x, scale, bits, signed, tag):
        ins = [x, const(f"{tag}_scale", scale), const(f"{tag}_zero", 0.0), const(f"{tag}_bits", float(bits))]
        nodes.append(helper.make_node("Quant", ins, [f"{tag}_out"], domain="qonnx.custom_op.general", narrow=0, rounding_mode="ROUND", signed=int(signed)))
        return f"{tag}_out"

    x = quant("global_in", 2.0**-5, 10, True, "qin")  # 10-bit inputs: every sum stays exact in float32
    for k, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w = quant(const(f"w{k}", rng.integers(-32, 32, (a, b)) / 32.0), 2.0**-5, 6, True, f"qw{k}")
        bias = quant(const(f"b{k}", rng.integers(-32, 32, b) / 32.0), 2.0**-5, 6, True, f"qb{k}")
        nodes.append(helper.make_node("MatMul", [x, w], [f"MatMul_{k}_out"], name=f"MatMul_{k}"))
        nodes.append(helper.make_node("Add", [f"MatMul_{k}_out", bias], [f"Add_{k}_out"], name=f"Add_{k}"))
        x = f"Add_{k}_out"
        if k < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"Relu_{k}_out"], name=f"Relu_{k}"))
            x = quant(f"Relu_{k}_out", 2.0**-6, 6, False, f"qa{k}")
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, sizes[0]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, sizes[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11), helper.make_opsetid("qonnx.custom_op.general", 1)])
    return model.SerializeToString()


NETWORKS = ("jet", "mlp57")


def networks(arg: str) -> list[str]:
    """The networks named in ``--networks`` that this machine has: an unknown name is an
    error before any work; the jet tagger, read from ../shared/models, is skipped with a note
    where that folder is absent (a clone on its own still runs mlp57)."""
    names = [n.strip() for n in arg.split(",") if n.strip()]
    unknown = [n for n in names if n not in NETWORKS]
    if unknown or not names:
        raise SystemExit(f"unknown network {', '.join(map(repr, unknown)) or '(none given)'}: choose from {', '.join(NETWORKS)}")
    if "jet" in names and not JET.exists():
        print(f"jet: skipped, {JET} is absent (the jet tagger is read from ../shared/models)")
        names.remove("jet")
    if not names:
        raise SystemExit("no network left to run")
    return names


def import_da4ml():
    """da4ml, or a one-line error naming the package to install."""
    try:
        import da4ml
    except ImportError:
        raise SystemExit("this benchmark needs da4ml: pip install da4ml==0.6.0") from None
    return da4ml


def load_network(name: str, work: Path):
    """(fxp module from fmlc's front end, description, multiplications)."""
    from fmlc.frontend.onnx_import import import_model

    if name == "jet":
        if not JET.exists():
            raise SystemExit(f"{JET} is absent: the jet tagger is read from ../shared/models")
        return import_model(JET, {"model": {"strip_softmax": True}}), "jet tagger 16-64-32-32-5 (qkeras_jettagging.onnx, logits)"
    if name == "mlp57":
        path = work / "mlp57.onnx"
        path.write_bytes(mlp_qonnx(MLP57, seed=57))
        return import_model(path, {}), "QONNX MLP " + "-".join(map(str, MLP57)) + " (seeded random 6-bit weights)"
    raise SystemExit(f"unknown network '{name}' (jet, mlp57)")


def layers_of(module):
    """The input format and, per layer, ('dense', w, w_frac, b, b_frac), ('relu', format) or ('act', format)."""
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


def da4ml_trace(in_fmt: FixedFormat, inputs: int, layers):
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

    inp = FixedVariableArrayInput(inputs, hwconf=HWConfig(1, -1, -1))
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
# Building, checking, synthesizing
# ============================================================================================


def best_of(repeat: int, fn):
    """(result of the last run, best wall seconds, best CPU seconds)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return result, min(walls), min(cpus)


def build_fmlc(module, out: Path, budget: int, repeat: int):
    options = CompileOptions(target="verilog", name="net", adders_per_stage=budget)
    folder, wall, cpu = best_of(repeat, lambda: compile_model(module.clone(), out, options))
    meta = json.loads((folder / "verilog.json").read_text())
    return {"dir": folder, "sources": [folder / "net.sv"], "top": "net", "latency": meta["latency"], "wall": wall, "cpu": cpu}


def build_da4ml(in_fmt, inputs: int, layers, out: Path, cutoff: float | None, repeat: int):
    from da4ml.codegen import RTLModel
    from da4ml.trace import to_pipeline

    def run():
        comb = da4ml_trace(in_fmt, inputs, layers)
        solution = comb if cutoff is None else to_pipeline(comb, cutoff, verbose=False)
        shutil.rmtree(out, ignore_errors=True)
        RTLModel(solution, "net_da4ml", out, flavor="verilog").write()
        return comb, solution

    (comb, solution), wall, cpu = best_of(repeat, run)
    src = [p for p in sorted((out / "src").glob("net_da4ml*.v")) if not p.name.endswith("_wrapper.v")]
    static = [p for p in sorted((out / "src" / "static").glob("*.v")) if p.name != "lookup_table.v"]
    latency = 0 if cutoff is None else len(solution.solutions) + 1
    return {"comb": comb, "sources": static + src, "top": "net_da4ml", "latency": latency, "wall": wall, "cpu": cpu}


def check_fmlc(design: dict, prepared, x: np.ndarray) -> bool:
    want = Emulator(prepared).run(x, raw=True)[0]
    codes = quantize_inputs(load_manifest(design["dir"]), [x])
    got = VerilogTarget().run(design["dir"], codes, "icarus")[0]
    return np.array_equal(got, want)


def yosys(design: dict, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    script = "".join(f"read_verilog -sv {s}\n" for s in design["sources"])
    script += f"synth_xilinx -flatten -nodsp -top {design['top']}\ntee -q -o stat.txt stat\n{YOSYS_COMMAND.format(path='netlist.json')}\n"
    (workdir / "run.ys").write_text(script)
    t0 = time.perf_counter()
    proc = subprocess.run(["nice", "-n", "10", "yosys", "-q", "-s", "run.ys"], cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"yosys failed on {design['top']}:\n{proc.stderr[-2000:]}")
    stats = parse_stat((workdir / "stat.txt").read_text())
    stats["depth"] = depth_of_netlist(json.loads((workdir / "netlist.json").read_text()), design["top"])
    stats["seconds"] = time.perf_counter() - t0
    (workdir / "netlist.json").unlink()  # tens of MB
    return stats


# ============================================================================================
# Main
# ============================================================================================


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", default="jet,mlp57", help="comma-separated: jet, mlp57")
    ap.add_argument("--adders-per-stage", type=int, default=5, help="fmlc's pipeline budget (default 5)")
    ap.add_argument("--da4ml-cutoff", type=float, default=5, help="da4ml's latency cutoff per stage (default 5)")
    ap.add_argument("--check", type=int, default=20000, help="random inputs for da4ml's check against the emulator")
    ap.add_argument("--simulate", type=int, default=2000, help="random inputs for simulating fmlc's Verilog (Icarus)")
    ap.add_argument("--repeat", type=int, default=3, help="compile each design this many times; the best time counts")
    ap.add_argument("--no-yosys", action="store_true", help="skip synthesis")
    ap.add_argument("--keep", help="keep the designs in this folder")
    args = ap.parse_args()

    names = networks(args.networks)
    da4ml = import_da4ml()
    import pycde.circt  # noqa: F401  (both tools' libraries load before the clocks start)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fmlc-vs-da4ml-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"da4ml {da4ml.__version__}; fmlc pipelined at {args.adders_per_stage} adder levels a stage, da4ml at cutoff {args.da4ml_cutoff:g}; {os.cpu_count()} cores")
    tables = []
    for name in names:
        module, source = load_network(name, work)
        prepared = prepare(module.clone(), CompileOptions())
        in_fmt, layers = layers_of(prepared)
        inputs = boundary(prepared)["inputs"][0]["shape"][0]
        mults = sum(l[1].size for l in layers if l[0] == "dense")
        print(f"\n{name}: {source}, {mults} multiplications")
        designs = {}
        for mode, budget, cutoff in (("comb", 0, None), ("pipe", args.adders_per_stage, args.da4ml_cutoff)):
            designs["fmlc", mode] = build_fmlc(module, work / name / f"fmlc_{mode}", budget, args.repeat)
            designs["da4ml", mode] = build_da4ml(in_fmt, inputs, layers, work / name / f"da4ml_{mode}", cutoff, args.repeat)

        # -- both compute the emulator's bits --------------------------------------------------
        rng = np.random.default_rng(1)
        x = np.ldexp(rng.integers(in_fmt.min_code, in_fmt.max_code + 1, (args.check, inputs)), -in_fmt.frac).astype(np.float32)
        want = Emulator(prepared).run(x, raw=False)[0]
        codes = quantize_inputs(boundary(prepared), [x])[0]
        for mode in ("comb", "pipe"):
            comb = designs["da4ml", mode]["comb"]
            got = np.asarray(comb.predict(codes.astype(np.float64) * 2.0**-in_fmt.frac)).reshape(want.shape)
            if not np.array_equal(got, want):
                raise SystemExit(f"{name}: da4ml does not compute the emulator's bits: no comparison")
            if not check_fmlc(designs["fmlc", mode], prepared, x[: args.simulate]):
                raise SystemExit(f"{name}: fmlc's {mode} Verilog does not compute the emulator's bits")
        print(f"bit-exact with fmlc's emulator: da4ml on {args.check} inputs, fmlc's Verilog (Icarus) on {args.simulate}, combinational and pipelined")

        rows = []
        for mode, title in (("comb", "combinational"), ("pipe", "pipelined")):
            f, d = designs["fmlc", mode], designs["da4ml", mode]
            rows.append((f"{title}: compile, wall (s)", f["wall"], d["wall"]))
            rows.append((f"{title}: compile, CPU (s)", f["cpu"], d["cpu"]))
            rows.append((f"{title}: latency (cycles)", f["latency"], d["latency"]))
        if not args.no_yosys and shutil.which("yosys"):
            with ThreadPoolExecutor(max_workers=2) as pool:
                jobs = {key: pool.submit(yosys, design, work / name / f"yosys_{key[0]}_{key[1]}") for key, design in designs.items()}
                stats = {key: job.result() for key, job in jobs.items()}
            for mode, title in (("comb", "combinational"), ("pipe", "pipelined")):
                f, d = stats["fmlc", mode], stats["da4ml", mode]
                rows += [
                    (f"{title}: LUT", f["lut"], d["lut"]),
                    (f"{title}: FF", f["ff"], d["ff"]),
                    (f"{title}: CARRY4", f["carry"], d["carry"]),
                    (f"{title}: INV", f["by_type"].get("INV", 0), d["by_type"].get("INV", 0)),
                    (f"{title}: LUT + INV", f["lut"] + f["by_type"].get("INV", 0), d["lut"] + d["by_type"].get("INV", 0)),
                    (f"{title}: depth, est. ns", f["depth"].delay_ns, d["depth"].delay_ns),
                    (f"{title}: depth, LUT levels", f["depth"].luts, d["depth"].luts),
                    (f"{title}: depth, CARRY4 cells", f["depth"].carries, d["depth"].carries),
                ]
        rows.sort(key=lambda r: not r[0].startswith("combinational"))
        tables.append((name, rows))
        print_table(name, rows)
    print(f"\ndesigns in {work}")


def print_table(name: str, rows) -> None:
    print(f"\n{name:<38}{'fmlc':>10}{'da4ml':>10}{'fmlc/da4ml':>12}")
    for label, a, b in rows:
        fa = f"{a:.2f}" if isinstance(a, float) else str(a)
        fb = f"{b:.2f}" if isinstance(b, float) else str(b)
        ratio = f"{a / b:.3f}" if b else ""
        print(f"{label:<38}{fa:>10}{fb:>10}{ratio:>12}")


if __name__ == "__main__":
    sys.exit(main())
