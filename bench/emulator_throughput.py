#!/usr/bin/env python3
"""Emulator throughput (samples/s, one thread) next to onnxruntime on the same network.

The network is the hls4ml jet tagger's shape, 16 -> 64 -> 32 -> 32 -> 5 dense/ReLU, with the
QONNX model's weights when ../shared/models is present (else seeded random weights of the same
formats): input fixed<16,6> (truncating), weights and biases fixed<6,1>, activations
ufixed<6,0> rounded half-to-even and saturated, logits exact.

fmlc runs it as fxp IR in the emulator; onnxruntime runs the same weights with the
quantization written as Floor/Round/Clip/Mul.  Both get the same inputs (codes of the input
type, so the input quantizer is exact), in one process, one thread each.

    python bench/emulator_throughput.py [--samples 200000] [--repeat 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from xdsl.dialects.builtin import TensorType, f32  # noqa: E402

from fmlc.dialects import fxp  # noqa: E402
from fmlc.emulator import Emulator  # noqa: E402
from fmlc.fixed import FixedFormat  # noqa: E402
from fmlc.ir import FunctionBuilder  # noqa: E402
from fmlc.passes.infer_precision import InferPrecision  # noqa: E402

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
SIZES = [16, 64, 32, 32, 5]
IN_FMT = FixedFormat(16, 6, True)
W_FMT = FixedFormat(6, 1, True)
ACT_FMT = FixedFormat(6, 0, False, "RND_CONV", "SAT")


def jet_tagger_weights(rng: np.random.Generator) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Integer codes (scale 2**-5) of the four layers' weights and biases."""
    path = MODELS / "qkeras_jettagging.onnx"
    if path.exists():
        model = onnx.load(path)
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        quant_src = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Quant"}
        layers = []
        for k in range(4):
            mm = next(n for n in model.graph.node if n.name == f"MatMul_{k}")
            add = next(n for n in model.graph.node if n.name == f"Add_{k}")
            w = inits[quant_src[mm.input[1]]]
            b = inits[quant_src[next(i for i in add.input if i in quant_src)]]
            # the Quant nodes round to 6-bit codes at scale 2**-5 (half to even), saturating
            layers.append((np.clip(np.rint(w * 32), -32, 31).astype(np.int64), np.clip(np.rint(b * 32), -32, 31).astype(np.int64)))
        return layers, "qkeras_jettagging.onnx weights"
    layers = [(rng.integers(-32, 32, (a, b)), rng.integers(-32, 32, b)) for a, b in zip(SIZES, SIZES[1:])]
    return layers, "random weights (../shared/models absent)"


def fxp_module(layers):
    b = FunctionBuilder("main", [TensorType(f32, [SIZES[0]])])
    x = b.add(fxp.QuantizeOp(b.args[0], IN_FMT)).result
    for k, (w, bias) in enumerate(layers):
        wc = b.add(fxp.ConstantOp(w, W_FMT)).result
        bc = b.add(fxp.ConstantOp(bias, W_FMT)).result
        x = b.add(fxp.DenseOp(x, wc, bc, None, None), name=f"dense_{k}").result
        if k < len(layers) - 1:
            x = b.add(fxp.ReluOp(x, ACT_FMT), name=f"relu_{k}").result
    module = b.finish([x])
    InferPrecision().apply(None, module)
    return module


def onnx_model(layers) -> bytes:
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def quant(x, scale, lo, hi, mode, tag):
        nodes.append(helper.make_node("Mul", [x, const(f"s_{tag}", 1.0 / scale)], [f"{tag}_m"]))
        nodes.append(helper.make_node(mode, [f"{tag}_m"], [f"{tag}_r"]))
        nodes.append(helper.make_node("Clip", [f"{tag}_r", const(f"lo_{tag}", lo), const(f"hi_{tag}", hi)], [f"{tag}_c"]))
        nodes.append(helper.make_node("Mul", [f"{tag}_c", const(f"d_{tag}", scale)], [f"{tag}_q"]))
        return f"{tag}_q"

    x = quant("x", 2.0**-10, -(2**15), 2**15 - 1, "Floor", "in")
    for k, (w, bias) in enumerate(layers):
        nodes.append(helper.make_node("MatMul", [x, const(f"w{k}", w / 32.0)], [f"mm{k}"]))
        nodes.append(helper.make_node("Add", [f"mm{k}", const(f"b{k}", bias / 32.0)], [f"add{k}"]))
        x = f"add{k}"
        if k < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"relu{k}"]))
            x = quant(f"relu{k}", 2.0**-6, 0, 63, "Round", f"a{k}")
    graph = helper.make_graph(
        nodes,
        "jet_tagger_qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", SIZES[0]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", SIZES[-1]])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def best_rate(fn, samples: int, repeat: int) -> tuple[float, float]:
    """Samples per second, best of ``repeat``: by the wall clock, and by the process's CPU time
    (the same on an idle machine; on a busy one, CPU time leaves out the time others ran)."""
    fn()  # warm up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return samples / best, samples / best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    layers, origin = jet_tagger_weights(rng)
    emu = Emulator(fxp_module(layers))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_model(layers), options, providers=["CPUExecutionProvider"])

    codes = rng.integers(IN_FMT.min_code, IN_FMT.max_code + 1, (args.samples, SIZES[0]))
    x = np.ldexp(codes, -IN_FMT.frac).astype(np.float32)

    fmlc_out = emu.run(x)[0]
    ort_out = session.run(None, {"x": x})[0].astype(np.float64)
    same = int(np.sum(np.all(fmlc_out == ort_out, axis=1)))

    rate_fmlc = best_rate(lambda: emu.run(x), args.samples, args.repeat)
    rate_ort = best_rate(lambda: session.run(None, {"x": x}), args.samples, args.repeat)

    print(f"network 16-64-32-32-5 dense/relu, {origin}; {args.samples} samples, one thread, best of {args.repeat}")
    print(f"{'engine':<28}{'samples/s':>14}{'ratio':>9}{'CPU samples/s':>16}{'ratio':>9}")
    print(f"{'fmlc emulator (exact)':<28}{rate_fmlc[0]:>14,.0f}{rate_fmlc[0] / rate_ort[0]:>9.2f}{rate_fmlc[1]:>16,.0f}{rate_fmlc[1] / rate_ort[1]:>9.2f}")
    print(f"{'onnxruntime (float32 QDQ)':<28}{rate_ort[0]:>14,.0f}{1.0:>9.2f}{rate_ort[1]:>16,.0f}{1.0:>9.2f}")
    print(f"outputs equal (float64 ==) on {same}/{args.samples} samples")
    tuning_step(args.samples, args.repeat)


def tuning_step(samples: int, repeat: int) -> None:
    """One candidate of ``fmlc tune`` on the float jet tagger (three_layer_keras): import with a
    configuration, resolve, emulate ``samples`` inputs, cost, score against onnxruntime."""
    from fmlc.tune import Evaluator, Metric, Model, decisions, discover_knobs, float_reference

    path = MODELS / "three_layer_keras.onnx"
    origin = path.name
    if not path.exists():
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
        import zoo

        path, origin = zoo.zoo_model("three_layer_keras"), "three_layer_keras zoo replica"
    x = np.random.default_rng(1).standard_normal((samples, 16)).astype(np.float32)
    model = Model(path)
    knobs = discover_knobs(model, "verilog")
    metric = Metric(decisions(float_reference(path, x), 0.0), None, 0.0)
    best = float("inf")
    for _ in range(repeat):
        evaluate = Evaluator(model, knobs, x, metric, "verilog")  # a fresh cache: a real evaluation
        t0 = time.perf_counter()
        evaluate([k.base for k in knobs])
        best = min(best, time.perf_counter() - t0)
    print(f"tuning step ({origin}, fixed<16,6> types, {samples} samples: import, resolve, emulate, cost, score): {best:.2f} s")


if __name__ == "__main__":
    main()
