#!/usr/bin/env python3
"""``fmlc tune`` against the default precision: Yosys LUTs of the Verilog target, and agreement.

For each float model, the default configuration (every float tensor ``fixed<16,6,RND,SAT>``)
and the configuration ``fmlc tune --budget 0.5% --target verilog`` writes (argmax agreement
with the float model run by onnxruntime) are compiled for the Verilog target and synthesized
with Yosys (``synth_xilinx -flatten -nodsp``).  The table gives LUTs side by side with their
ratio, and the loss (1 - agreement) on the held-out split that took no part in the search.

Models: three_layer_keras and conv2d_small_keras from ../shared/models (their zoo replicas
from tests/python/zoo when the folder is absent: the script says which), and a float MLP
16-32-16-5 trained with numpy on a synthetic task (tests/python/trained_mlp.py).  Inputs:
standard normal for the Keras models (their features were standardized), fresh task samples
for the MLP.

    python bench/tune_luts.py [--samples 40000] [--budget 0.5%] [--models a,b,c]
                              [--jobs 2] [--no-yosys] [--keep DIR]

Yosys needs minutes per design (the default precision's designs are the large ones); it runs
at low priority (nice 10), ``--jobs`` at a time.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = Path(os.environ.get("FMLC_MODELS", ROOT.parent / "shared" / "models"))
sys.path.insert(0, str(ROOT / "tests" / "python"))

from fmlc.driver import CompileOptions, compile_model  # noqa: E402
from fmlc.frontend.onnx_import import import_model  # noqa: E402
from fmlc.targets.verilog import synthesize  # noqa: E402
from fmlc.tune import tune  # noqa: E402

FLOW = "synth_xilinx -flatten -nodsp"
KERAS = {"three_layer_keras": (16,), "conv2d_small_keras": (8, 8, 1)}


def yosys_script(top: str) -> str:
    return f"""read_verilog -sv {top}.sv
hierarchy -top {top}
synth_xilinx -flatten -nodsp -top {top}
tee -o stat_xilinx_nodsp.txt stat
"""


def keras_model(name: str, work: Path) -> tuple[Path, str]:
    path = MODELS / f"{name}.onnx"
    if path.is_file():
        return path, f"{path.name} ({MODELS})"
    import zoo  # tests/python/zoo: script-made replicas with seeded weights

    return zoo.zoo_model(name), f"{name} zoo replica (../shared/models absent)"


def models(names: list[str], samples: int, work: Path):
    """(name, path, inputs, where it came from) per model."""
    rng = np.random.default_rng(2024)
    for name in names:
        if name in KERAS:
            path, origin = keras_model(name, work)
            yield name, path, rng.standard_normal((samples,) + KERAS[name]).astype(np.float32), origin
        elif name == "mlp":
            from trained_mlp import save_mlp

            path, data = save_mlp(work, data=samples)
            yield name, path, data.x, f"trained MLP 16-32-16-5 (accuracy {data.accuracy:.1%} on its task)"
        else:
            raise SystemExit(f"unknown model '{name}': choose among {', '.join([*KERAS, 'mlp'])}")


def compile_verilog(path: Path, config: dict, out: Path, name: str) -> Path:
    module = import_model(path, config)
    compile_model(module, out, CompileOptions(target="verilog", name=name))
    return out / f"{name}.sv"


def luts(source: Path) -> int:
    stats = synthesize(source, source.stem, flows=(FLOW,), script=yosys_script(source.stem))
    return int(stats[FLOW]["lut"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40_000, help="samples per model (a quarter held out)")
    parser.add_argument("--budget", default="0.5%")
    parser.add_argument("--models", default="three_layer_keras,conv2d_small_keras,mlp")
    parser.add_argument("--jobs", type=int, default=2, help="Yosys runs at a time")
    parser.add_argument("--no-yosys", action="store_true", help="tune and compile only (cost estimates, no LUTs)")
    parser.add_argument("--keep", help="keep the compiled folders and tuned configurations here")
    args = parser.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fmlc-tune-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for name, path, x, origin in models(args.models.split(","), args.samples, work):
            print(f"{name}: {origin}; tuning on {len(x)} samples ...", flush=True)
            t0 = time.perf_counter()
            result = tune(path, x, args.budget, target="verilog")
            seconds = time.perf_counter() - t0
            (work / f"{name}_tuned.yaml").write_text(result.yaml())
            print(result.table(), flush=True)
            top = name.replace("-", "_")
            sources = [compile_verilog(path, {}, work / f"{name}_default", top), compile_verilog(path, result.config, work / f"{name}_tuned", top)]
            rows.append((name, result, seconds, sources))
        counts: dict[Path, int] = {}
        if not args.no_yosys:
            os.nice(10)  # Yosys inherits the low priority
            jobs = [s for *_, sources in rows for s in sources]
            with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                t0 = time.perf_counter()
                for source, count in zip(jobs, pool.map(luts, jobs)):
                    counts[source] = count
                print(f"Yosys: {len(jobs)} designs in {time.perf_counter() - t0:.0f} s", flush=True)
        print()
        print(f"fmlc tune --budget {args.budget} --target verilog vs the default fixed<16,6,RND,SAT>; LUTs from Yosys {FLOW}")
        head = f"{'model':<20}{'default LUTs':>14}{'tuned LUTs':>12}{'ratio':>8}{'est. default':>14}{'est. tuned':>12}{'held-out loss':>15}{'budget':>8}{'tune s':>8}"
        print(head)
        print("-" * len(head))
        for name, result, seconds, (d, t) in rows:
            ld, lt = counts.get(d), counts.get(t)
            ratio = f"{lt / ld:.2f}" if ld and lt is not None else "-"
            print(
                f"{name:<20}{ld if ld is not None else '-':>14}{lt if lt is not None else '-':>12}{ratio:>8}"
                f"{result.cost_before.total:>14,.0f}{result.cost_after.total:>12,.0f}"
                f"{100 * result.loss_after[1]:>14.2f}%{100 * result.budget:>7.2f}%{seconds:>8.0f}"
            )
        print("(ratio: tuned / default LUTs; est.: fmlc.cost's LUT estimate; held-out loss: 1 - argmax agreement with onnxruntime on the quarter of the data the search never saw)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
