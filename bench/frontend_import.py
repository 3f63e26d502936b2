#!/usr/bin/env python3
"""Import time per model, and emulator throughput next to QONNX's execute_onnx, in one run.

For every model in ../shared/models: the time to import it (best of 3; load, clean, build fxp
IR, resolve types), the emulator's samples/s, and qonnx.core.onnx_exec.execute_onnx's
samples/s on the same inputs, both as exported (batch fixed at 1: one call per sample) and
with the batch widened to the whole input set; plus whether the outputs agree bit for bit
(QONNX models; the jet tagger on its logits).

    python bench/frontend_import.py [--samples 20000] [--single 50]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from models import ALL_MODELS, JET_LOGITS, MODELS, QONNX_MODELS, qonnx_reference, qonnx_reference_single, random_inputs  # noqa: E402

from fmlc.driver import resolve  # noqa: E402
from fmlc.emulator import Emulator  # noqa: E402
from fmlc.frontend.onnx_import import import_model  # noqa: E402


def best(fn, repeat=3):
    out, t = None, float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return out, t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--single", type=int, default=50, help="samples for execute_onnx as exported (one call each)")
    args = parser.parse_args()
    if not MODELS.exists():
        sys.exit(f"{MODELS} is absent: nothing to measure")
    warnings.filterwarnings("ignore")  # qonnx warns about every shape it did not expect

    print(f"{'model':<22}{'import s':>9}{'emulator/s':>13}{'qonnx/s':>10}{'qonnx batch/s':>15}{'emu/qonnx':>11}{'bit-exact':>11}")
    for name in ALL_MODELS:
        path = MODELS / f"{name}.onnx"
        config = {"model": {"strip_softmax": True}} if name == "qkeras_jettagging" else {}
        module, t_import = best(lambda: resolve(import_model(path, config)))
        emu = Emulator(module)
        x = random_inputs(name, args.samples, seed=5)
        xs = x.reshape((len(x),) + emu.input_shapes[0])
        got, t_emu = best(lambda: emu.run(xs)[0])
        tensor = JET_LOGITS if name == "qkeras_jettagging" else None
        rate_emu = args.samples / t_emu
        try:
            _, t_single = best(lambda: qonnx_reference_single(path, x[: args.single], tensor), repeat=1)
            ref, t_batch = best(lambda: qonnx_reference(path, x, tensor), repeat=1)
        except Exception as err:  # noqa: BLE001 - report any reference failure in the table
            print(f"{name:<22}{t_import:>9.3f}{rate_emu:>13,.0f}   execute_onnx fails on this export: {str(err).splitlines()[0][:60]}")
            continue
        exact = "yes" if np.array_equal(got, np.asarray(ref, dtype=np.float64).reshape(got.shape)) else ("no" if name in QONNX_MODELS else "float")
        rate_single = args.single / t_single
        print(f"{name:<22}{t_import:>9.3f}{rate_emu:>13,.0f}{rate_single:>10,.0f}{args.samples / t_batch:>15,.0f}{rate_emu / rate_single:>10,.0f}x{exact:>11}")
    print("qonnx/s: execute_onnx on the model as exported (batch 1, one call per sample);")
    print("qonnx batch/s: the same graph with the batch widened to all samples; float models are not bit-exact by design")


if __name__ == "__main__":
    main()
