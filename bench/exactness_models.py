#!/usr/bin/env python3
"""Quantized models against QONNX's execute_onnx: how exact fmlc is on real and real-shaped exports.

For each model (the shared reference models when ../shared/models is there, the zoo's replicas
and its Brevitas/QONNX-shaped extras, the QONNX wheel's quantized ESPCN): import with the report,
run the emulator and execute_onnx (the exported batch of 1, sample by sample) on the same
inputs, and print: output elements that differ, the largest difference, the stated bound, the
share of differing elements that are one output step or less, argmax agreement, and how many
nodes are exact / tables or thresholds / bounded.

    python bench/exactness_models.py [--samples 200] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import zoo  # noqa: E402
from models import MODELS, QONNX_MODELS  # noqa: E402

from fmlc.driver import resolve  # noqa: E402
from fmlc.emulator import Emulator  # noqa: E402
from fmlc.frontend.onnx_import import import_model_with_report  # noqa: E402

EXTRAS = ("kws_mlp_w3a3", "unsw_nb15_mlp_w2a2", "quant_scale_0p1", "unet_channels_last", "branched_cnn_channels_last")


def models() -> list[tuple[str, Path]]:
    out = []
    for name in QONNX_MODELS:
        if (MODELS / f"{name}.onnx").exists():
            out.append((f"shared:{name}", MODELS / f"{name}.onnx"))
        out.append((f"zoo:{name}", zoo.zoo_model(name)))
    out += [(f"zoo:{name}", zoo.zoo_model(name)) for name in EXTRAS]
    wheel = Path(importlib.util.find_spec("qonnx").submodule_search_locations[0]) / "data" / "onnx"
    out.append(("qonnx:espcn nn_resize quant", wheel / "bsd300x3-espcn/nn_resize/quant_model.onnx"))
    return out


def inputs(name: str, shape, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    if "unsw" in name:
        return np.where(rng.random((n,) + shape) < 0.5, -1.0, 1.0).astype(np.float32)
    if "espcn" in name:
        return rng.uniform(0, 1, (n,) + shape).astype(np.float32)
    if "jettagging" in name:  # no input quantizer: inputs on the boundary's fixed<16,6> grid
        return np.ldexp(rng.integers(-(2**15), 2**15, (n,) + shape), -10).astype(np.float32)
    if "TFC" in name:
        return rng.uniform(-0.5, 1.5, (n,) + shape).astype(np.float32)
    return (rng.standard_normal((n,) + shape) * 2).astype(np.float32)


def reference(path: Path, x: np.ndarray) -> np.ndarray:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    with contextlib.redirect_stdout(io.StringIO()):
        model = ModelWrapper(str(path))
        try:
            model = model.transform(InferShapes())
        except Exception:  # noqa: BLE001 - channels-last models keep their stored shapes
            pass
        name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
        return np.concatenate([np.asarray(execute_onnx(model, {name_in: x[i : i + 1]})[name_out], dtype=np.float64) for i in range(len(x))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    only = [s for s in args.only.split(",") if s]
    rows = []
    for label, path in models():
        if only and not any(o in label for o in only):
            continue
        t0 = time.perf_counter()
        module, report = import_model_with_report(path)
        emu = Emulator(resolve(module))
        n = args.samples if "unet" not in label and "espcn" not in label else max(4, args.samples // 20)
        x = inputs(label, emu.input_shapes[0], n)
        got = emu.run(x)[0]
        ref = reference(path, x)
        got = got.reshape(ref.shape)
        d = np.abs(got - ref)
        bound = next(iter(report.outputs.values()))
        flat_g, flat_r = got.reshape(n, -1), ref.reshape(n, -1)
        argmax = float(np.mean(flat_g.argmax(axis=1) == flat_r.argmax(axis=1))) if flat_g.shape[1] > 1 else float(np.mean(np.sign(flat_g) == np.sign(flat_r)))
        c = report.counts()
        rows.append((label, n, int(np.count_nonzero(d)), d.size, float(d.max()), bound.max_abs, argmax, c["exact"], c["table"] + c["thresholds"], c["bounded"], time.perf_counter() - t0))
    print(f"{'model':34} {'samples':>7} {'differ':>14} {'max |d|':>10} {'stated':>10} {'argmax':>7}  {'exact':>5} {'tab/thr':>7} {'bounded':>7} {'s':>5}")
    for label, n, nd, size, dmax, stated, am, ex, tt, bd, secs in rows:
        share = f"{nd}/{size}"
        print(f"{label:34} {n:7d} {share:>14} {dmax:10.3g} {stated:10.3g} {am:7.3f}  {ex:5d} {tt:7d} {bd:7d} {secs:5.0f}")


if __name__ == "__main__":
    main()
