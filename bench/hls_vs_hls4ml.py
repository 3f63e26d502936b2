#!/usr/bin/env python3
"""fmlc's HLS target next to hls4ml 1.3.0 on the jet tagger, in one run: time and bits.

Both start from ``../shared/models/qkeras_jettagging.onnx`` with its final Softmax removed
(the logits are the output), io_parallel, Vitis backend:

- fmlc: ``fmlc.frontend.onnx_import.import_model`` (strip_softmax), ``compile_model`` to a
  folder, then the C-simulation library built by the folder's Makefile;
- hls4ml: the QONNX model cleaned as hls4ml needs it (qonnx cleanup, channels-last,
  Gemm -> MatMul), ``convert_from_onnx_model`` + ``write()``, then its C-simulation build
  (``compile()`` minus the write), then ``predict()``.

Columns: model -> files (s), C-sim build (s, wall; CPU in parentheses: the machine may be
shared), C-sim throughput (samples/s, one thread each), and whether the outputs equal fmlc's
emulator bit for bit (values compared with ==; hls4ml returns floats of its fixed-point
outputs, exact in float64).  The last line gives fmlc/hls4ml ratios.

    python bench/hls_vs_hls4ml.py [--samples 20000] [--out bench/out/hls]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT.parent / "shared" / "models" / "qkeras_jettagging.onnx"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn):
    """(result, wall seconds, CPU seconds of the child processes it ran)."""
    c0, t0 = children_cpu(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0, children_cpu() - c0


def jet_inputs(n: int) -> np.ndarray:
    """Codes of the input type fixed<16,6> over its whole range: both tools see the same values."""
    return np.ldexp(np.random.default_rng(0).integers(-(2**15), 2**15, (n, 16)), -10).astype(np.float32)


def run_fmlc(out: Path, x: np.ndarray) -> dict:
    from fmlc import fixed
    from fmlc.driver import CompileOptions, compile_model, resolve, run_compiled
    from fmlc.emulator import Emulator
    from fmlc.frontend.onnx_import import import_model
    from fmlc.targets.hls import HlsTarget

    shutil.rmtree(out, ignore_errors=True)
    config = {"model": {"strip_softmax": True}}

    def files():
        module = import_model(MODEL, config)
        compile_model(module, out, CompileOptions(target="hls", name="jet", io="parallel"))
        return module

    module, t_files, _ = timed(files)
    target = HlsTarget()
    _, t_build, cpu_build = timed(lambda: target.build(out))
    run_compiled(out, [x[:10]], "csim", raw=True)  # load the library
    got, t_run, _ = timed(lambda: run_compiled(out, [x], "csim", raw=True)[0])
    want = Emulator(resolve(module)).run(x, raw=True)[0]
    values = fixed.to_float(want, fixed.FixedFormat.parse(str(_output_format(module))).frac)
    return {"files": t_files, "build": t_build, "build_cpu": cpu_build, "rate": len(x) / t_run, "exact": bool(np.array_equal(got, want)), "values": values}


def _output_format(module):
    from fmlc.dialects import fxp
    from fmlc.ir import main_function

    return fxp.element_format(main_function(module).body.block.last_op.operands[0])


def hls4ml_model(out: Path):
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    import hls4ml

    model = ModelWrapper(str(MODEL))
    graph = model.graph
    softmax = next(n for n in graph.node if n.op_type == "Softmax")
    logits = softmax.input[0]
    graph.output.remove(graph.output[0])
    for vi in [v for v in graph.value_info if v.name == logits]:
        graph.value_info.remove(vi)
    graph.output.append(onnx.helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, [1, 5]))
    graph.node.remove(softmax)
    model = cleanup_model(model)
    model = model.transform(ConvertToChannelsLastAndClean())
    model = model.transform(GemmToMatMul())
    model = cleanup_model(model)
    config = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend="Vitis", default_precision="fixed<16,6>")
    return hls4ml.converters.convert_from_onnx_model(model, output_dir=str(out), io_type="io_parallel", backend="Vitis", hls_config=config)


def run_hls4ml(out: Path, x: np.ndarray, want: np.ndarray) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    quiet = contextlib.redirect_stdout(io.StringIO())

    def files():
        with quiet:
            hm = hls4ml_model(out)
            hm.write()
        return hm

    hm, t_files, _ = timed(files)
    _, t_build, cpu_build = timed(hm._compile)  # compile() = write() + this
    hm.predict(x[:10])
    got, t_run, _ = timed(lambda: hm.predict(x))
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)
    return {"files": t_files, "build": t_build, "build_cpu": cpu_build, "rate": len(x) / t_run, "exact": bool(np.array_equal(got, want))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "hls"), help="where both projects are written")
    args = parser.parse_args()
    if not MODEL.exists():
        sys.exit(f"{MODEL} is absent: nothing to measure")
    warnings.filterwarnings("ignore")
    out = Path(args.out)
    x = jet_inputs(args.samples)

    fm = run_fmlc(out / "fmlc", x)
    h4 = run_hls4ml(out / "hls4ml", x, fm["values"])

    print(f"jet tagger (Softmax stripped), io_parallel, {args.samples} samples, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'':<8}{'files s':>9}{'C-sim build s':>19}{'files+build s':>15}{'C-sim samples/s':>17}{'bit-exact':>11}")
    for name, r in (("fmlc", fm), ("hls4ml", h4)):
        build = f"{r['build']:.2f} ({r['build_cpu']:.1f} cpu)"
        print(f"{name:<8}{r['files']:>9.2f}{build:>19}{r['files'] + r['build']:>15.2f}{r['rate']:>17,.0f}{'yes' if r['exact'] else 'NO':>11}")
    ratio_total = (fm["files"] + fm["build"]) / (h4["files"] + h4["build"])
    print(
        f"{'fmlc/h4':<8}{fm['files'] / h4['files']:>9.2f}{fm['build'] / h4['build']:>19.2f}{ratio_total:>15.2f}{fm['rate'] / h4['rate']:>17.2f}"
        f"   (target: files+build <= 0.50)"
    )


if __name__ == "__main__":
    main()
