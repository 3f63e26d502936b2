"""Every operator the front door reads, on a tiny graph of its own.

- QONNX quantizers (Quant, BipolarQuant, Trunc, MultiThreshold) and the float ops around them:
  bit-exact (float64 ``==``) against ``qonnx.core.onnx_exec.execute_onnx``.
- Standard ONNX ops in float graphs: imported at a wide precision, compared with onnxruntime;
  the bound is the precision's resolution (this is accuracy against float, not a bit-exact
  claim), and a wrong import (a transposed weight, a wrong axis) would miss it by far.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fmlc.driver import resolve
from fmlc.emulator import Emulator
from fmlc.frontend.onnx_import import SUPPORTED_OPS, import_model

WIDE = {"model": {"precision": "fixed<32,12,RND,SAT>"}, "op_types": {
    k: {"table_input": "fixed<16,4,RND,SAT>", "table_output": "fixed<24,4,RND,SAT>"}
    for k in ("Sigmoid", "Tanh", "Softplus", "Softsign", "Elu", "Selu", "HardSigmoid", "Exp")
}}
rng = np.random.default_rng(0)


def make(nodes, inputs, inits=(), opset=13, qonnx=False):
    """A model from nodes; ``inputs`` are (name, shape) with the batch first."""
    outs = {o for n in nodes for o in n.output}
    used = {i for n in nodes for i in n.input}
    graph_out = [o for n in nodes for o in n.output if o not in used]
    graph = helper.make_graph(
        nodes,
        "op_test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in graph_out if o in outs],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits],
    )
    opsets = [helper.make_opsetid("", opset)]
    if qonnx:
        opsets.append(helper.make_opsetid("qonnx.custom_op.general", 1))
    return helper.make_model(graph, opset_imports=opsets)


def run_fmlc(tmp_path, model, x, config=None):
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    module = resolve(import_model(path, config or {}))
    emu = Emulator(module)
    return emu.run(x.reshape((len(x),) + emu.input_shapes[0]))[0]


def run_ort(model, x):
    import onnxruntime as ort

    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i : i + 1]})[0] for i in range(len(x))])


def run_qonnx(model, x):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    with contextlib.redirect_stdout(io.StringIO()):
        m = ModelWrapper(model).transform(InferShapes())
        return np.concatenate([execute_onnx(m, {m.graph.input[0].name: x[i : i + 1]})[m.graph.output[0].name] for i in range(len(x))])


def close(tmp_path, model, x, tol, config=WIDE):
    ref = run_ort(model, x)
    got = run_fmlc(tmp_path, model, x, config).reshape(ref.shape)
    err = float(np.abs(got - ref).max())
    assert err <= tol, f"max |fmlc - onnxruntime| = {err} > {tol}"


def node(op, ins, outs="y", name=None, **attrs):
    return helper.make_node(op, list(ins), [outs] if isinstance(outs, str) else list(outs), name=name or f"{op.lower()}_0", **attrs)


def x_of(shape, n=16, scale=2.0):
    return (rng.uniform(-scale, scale, (n,) + tuple(shape))).astype(np.float32)


# ------------------------------------------------------------------ standard ONNX, float graphs

EPS = 2.0**-18  # a few LSBs of fixed<32,12>


def test_matmul_add_gemm(tmp_path):
    w, b = rng.normal(size=(6, 4)), rng.normal(size=4)
    close(tmp_path, make([node("MatMul", ["x", "W"], "h"), node("Add", ["h", "B"])], [("x", (1, 6))], [("W", w), ("B", b)]), x_of((6,)), 64 * EPS)
    wt = rng.normal(size=(4, 6))
    g = node("Gemm", ["x", "W", "C"], transB=1, alpha=0.5, beta=2.0)
    close(tmp_path, make([g], [("x", (1, 6))], [("W", wt), ("C", b)]), x_of((6,)), 64 * EPS)


@pytest.mark.parametrize("nsp", [1, 2])
@pytest.mark.parametrize("group", [1, 2])
def test_conv(tmp_path, nsp, group):
    c, f = 4, 6
    k = (3,) * nsp
    w = rng.normal(size=(f, c // group) + k)
    b = rng.normal(size=f)
    attrs = dict(group=group, strides=[2] + [1] * (nsp - 1), dilations=[1] * (nsp - 1) + [2], pads=[1] * nsp + [0] * nsp)
    spatial = (9,) * nsp
    close(tmp_path, make([node("Conv", ["x", "W", "B"], **attrs)], [("x", (1, c) + spatial)], [("W", w), ("B", b)]), x_of((c,) + spatial), 256 * EPS)


def test_conv_auto_pad_and_channels_last_transposes(tmp_path):
    """Keras style: NHWC input, Transpose to NCHW, Conv SAME_UPPER, Transpose back, Flatten."""
    w = rng.normal(size=(3, 2, 3, 3))
    nodes = [
        node("Transpose", ["x"], "t", name="t0", perm=[0, 3, 1, 2]),
        node("Conv", ["t", "W"], "c", auto_pad="SAME_UPPER", strides=[2, 2]),
        node("Transpose", ["c"], "u", name="t1", perm=[0, 2, 3, 1]),
        node("Flatten", ["u"], "y"),
    ]
    close(tmp_path, make(nodes, [("x", (1, 7, 7, 2))], [("W", w)]), x_of((7, 7, 2)), 128 * EPS)


def test_pooling(tmp_path):
    x = x_of((3, 8, 8))
    # averages multiply by 1/n rounded to ufixed<18,1>: up to 2**-18 relative error on sums of
    # up to 64 values of magnitude 2
    avg_tol = 64 * 2 * 2.0**-18
    for op, attrs, tol in (
        ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2]), EPS),
        ("MaxPool", dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), EPS),
        ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), avg_tol),
        ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1), avg_tol),
    ):
        close(tmp_path, make([node(op, ["x"], **attrs)], [("x", (1, 3, 8, 8))]), x, tol)
    for op, tol in (("GlobalAveragePool", avg_tol), ("GlobalMaxPool", EPS)):
        close(tmp_path, make([node(op, ["x"])], [("x", (1, 3, 8, 8))]), x, tol)


def test_batchnorm(tmp_path):
    c = 5
    params = [("g", rng.uniform(0.5, 2, c)), ("b", rng.normal(size=c)), ("m", rng.normal(size=c)), ("v", rng.uniform(0.5, 2, c))]
    close(tmp_path, make([node("BatchNormalization", ["x", "g", "b", "m", "v"])], [("x", (1, c, 4))], params), x_of((c, 4)), 16 * EPS)


def test_elementwise_binary(tmp_path):
    k = rng.normal(size=(1, 4))
    for op in ("Add", "Sub", "Mul", "Max", "Min"):
        close(tmp_path, make([node(op, ["x", "K"])], [("x", (1, 4))], [("K", k)]), x_of((4,)), 16 * EPS)
        close(tmp_path, make([node("Relu", ["x"], "r"), node(op, ["x", "r"])], [("x", (1, 4))]), x_of((4,)), 16 * EPS)
    close(tmp_path, make([node("Div", ["x", "K"])], [("x", (1, 4))], [("K", np.full((1, 4), 4.0))]), x_of((4,)), 2 * EPS)
    close(tmp_path, make([node("Relu", ["x"], "r"), node("Sum", ["x", "r", "x"])], [("x", (1, 4))]), x_of((4,)), 16 * EPS)


def test_activations(tmp_path):
    x = x_of((6,), scale=3.0)
    for op, attrs, tol in (
        ("Relu", {}, EPS),
        ("LeakyRelu", dict(alpha=0.1), 8 * EPS),
        ("ThresholdedRelu", dict(alpha=0.5), EPS),
        ("Sigmoid", {}, 2.0**-12),
        ("Tanh", {}, 2.0**-11),
        ("Softplus", {}, 2.0**-11),
        ("Softsign", {}, 2.0**-11),
        ("Elu", dict(alpha=0.7), 2.0**-11),
        ("Selu", {}, 2.0**-10),
        ("HardSigmoid", {}, 2.0**-12),
    ):
        close(tmp_path, make([node(op, ["x"], **attrs)], [("x", (1, 6))]), x, tol)
    slope = rng.uniform(0, 0.5, (3, 1))
    close(tmp_path, make([node("PRelu", ["x", "S"])], [("x", (1, 3, 4))], [("S", slope)]), x_of((3, 4)), 8 * EPS)
    clip = make([node("Clip", ["x", "lo", "hi"])], [("x", (1, 6))], [("lo", -0.5), ("hi", 1.25)])
    close(tmp_path, clip, x, EPS)


def test_softmax(tmp_path):
    close(tmp_path, make([node("Softmax", ["x"], axis=-1)], [("x", (1, 7))]), x_of((7,)), 0.003)
    close(tmp_path, make([node("Softmax", ["x"], axis=1)], [("x", (1, 7))], opset=11), x_of((7,)), 0.003)


def test_data_movement(tmp_path):
    shape = np.array([1, 6, 4], dtype=np.int64)
    nodes = [
        node("Reshape", ["x", "S"], "r"),
        node("Transpose", ["r"], "t", perm=[0, 2, 1]),
        node("Unsqueeze", ["t", "A"], "u"),
        node("Squeeze", ["u", "A"], "s"),
        node("Identity", ["s"], "i"),
        node("Dropout", ["i"], "d"),
        node("Pad", ["d", "P"], "p"),
        node("Concat", ["p", "p"], "c", axis=1),
        node("Flatten", ["c"], "y"),
    ]
    inits = [("A", np.array([3])), ("P", np.array([0, 1, 0, 0, 0, 2]))]
    model = make(nodes, [("x", (1, 24))], inits)
    for t in model.graph.initializer:
        if t.name in ("A", "P"):
            t.CopyFrom(numpy_helper.from_array(np.asarray(numpy_helper.to_array(t), dtype=np.int64), t.name))
    model.graph.initializer.append(numpy_helper.from_array(shape, "S"))
    close(tmp_path, model, x_of((24,)), EPS)


def test_constant_node(tmp_path):
    c = helper.make_node("Constant", [], ["K"], name="const_0", value=numpy_helper.from_array(np.full((1, 4), 0.75, dtype=np.float32)))
    close(tmp_path, make([c, node("Mul", ["x", "K"])], [("x", (1, 4))]), x_of((4,)), EPS)


def test_every_operator_is_covered():
    """The tests above and below reach every operator the importer reads."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    missing = [op for op in SUPPORTED_OPS if f'"{op}"' not in source]
    assert not missing, f"operators without a test: {missing}"


# ------------------------------------------------------------------ QONNX, bit-exact

def quant(x, s, bits, name, signed=1, narrow=0, mode="ROUND", out=None):
    inits = [(f"{name}_s", s), (f"{name}_z", 0.0), (f"{name}_b", float(bits))]
    n = helper.make_node("Quant", [x, f"{name}_s", f"{name}_z", f"{name}_b"], [out or f"{name}_q"], name=name, domain="qonnx.custom_op.general", signed=signed, narrow=narrow, rounding_mode=mode)
    return n, inits


@pytest.mark.parametrize("signed,narrow,mode", [(1, 0, "ROUND"), (1, 1, "ROUND"), (0, 0, "ROUND"), (0, 1, "FLOOR"), (1, 0, "HALF_UP"), (1, 0, "DOWN")])
def test_quant_bit_exact(tmp_path, signed, narrow, mode):
    qi, ii = quant("x", 2.0**-4, 8, "qin")
    w = rng.normal(size=(5, 3))
    qw, iw = quant("W", 2.0**-3, 4, "qw")
    mm = node("MatMul", ["qin_q", "qw_q"], "h")
    qo, io_ = quant("h", 2.0**-2, 5, "qout", signed, narrow, mode, out="y")
    model = make([qi, qw, mm, qo], [("x", (1, 5))], ii + iw + io_ + [("W", w)], qonnx=True)
    x = x_of((5,), n=300, scale=9.0)
    x[::7] = np.round(x[::7] * 16) / 16 + 1 / 32  # exact ties on the input grid
    assert np.array_equal(run_fmlc(tmp_path, model, x), run_qonnx(model, x).reshape(len(x), -1))


def test_bipolar_trunc_multithreshold_bit_exact(tmp_path):
    bq = helper.make_node("BipolarQuant", ["x", "s1"], ["b"], name="bq", domain="qonnx.custom_op.general")
    w = rng.normal(size=(4, 6))
    bw = helper.make_node("BipolarQuant", ["W", "s1"], ["wb"], name="bw", domain="qonnx.custom_op.general")
    mm = node("MatMul", ["b", "wb"], "h")
    tr = helper.make_node("Trunc", ["h", "s1", "z", "ib", "ob"], ["t"], name="trunc_0", domain="qonnx.custom_op.general", rounding_mode="FLOOR")
    thr = np.sort(rng.uniform(-2, 2, (6, 3)), axis=1)
    mt = helper.make_node("MultiThreshold", ["t", "T"], ["y"], name="mt_0", domain="qonnx.custom_op.general", out_scale=2.0, out_bias=-3.0)
    inits = [("s1", 1.0), ("z", 0.0), ("ib", 8.0), ("ob", 6.0), ("W", w), ("T", thr)]
    model = make([bq, bw, mm, tr, mt], [("x", (1, 4))], inits, qonnx=True)
    x = x_of((4,), n=300)
    assert np.array_equal(run_fmlc(tmp_path, model, x), run_qonnx(model, x).reshape(len(x), -1))


def test_batchnorm_then_quant_is_exact(tmp_path):
    """A float BatchNorm between quantizers is evaluated on every code: bit-exact, per channel,
    channels whose scale is negative included."""
    qi, ii = quant("x", 2.0**-2, 4, "qin")
    w = rng.normal(size=(6, 5))
    qw, iw = quant("W", 2.0**-2, 3, "qw")
    mm = node("MatMul", ["qin_q", "qw_q"], "h")
    gamma = rng.normal(size=5)  # some negative
    bn = node("BatchNormalization", ["h", "g", "bb", "m", "v"], "n")
    qo, io_ = quant("n", 0.5, 3, "qout", out="y")
    inits = ii + iw + io_ + [("W", w), ("g", gamma), ("bb", rng.normal(size=5)), ("m", rng.normal(size=5)), ("v", rng.uniform(0.1, 3, 5))]
    model = make([qi, qw, mm, bn, qo], [("x", (1, 6))], inits, qonnx=True)
    x = x_of((6,), n=400, scale=3.0)
    assert np.array_equal(run_fmlc(tmp_path, model, x), run_qonnx(model, x).reshape(len(x), -1))


def test_float_preprocessing_folds_into_quantize(tmp_path):
    """x * 2 - 1 then Quant (Brevitas MNIST) computes in float32 like the reference."""
    pre = [node("Mul", ["x", "two"], "m"), node("Sub", ["m", "one"], "s")]
    q, iq = quant("s", 1.0, 2, "qin", narrow=1, out="y")
    model = make(pre + [q], [("x", (1, 8))], [("two", 2.0), ("one", 1.0)] + iq, qonnx=True)
    x = rng.uniform(-0.5, 1.5, (500, 8)).astype(np.float32)
    x[:40] = np.float32(0.25) + np.arange(40).reshape(40, 1).astype(np.float32) * np.float32(2.0**-24)  # around a tie
    assert np.array_equal(run_fmlc(tmp_path, model, x), run_qonnx(model, x).reshape(len(x), -1))


def test_non_power_of_two_scale_becomes_exact_thresholds(tmp_path):
    """A Quant with scale 0.1 after a 20-bit quantizer (2**20 codes: too many to tabulate):
    thresholds found by bisection with QONNX's own float32 division, so the levels are the
    reference's on every input, ties included; the output is QONNX's float32 q * 0.1f."""
    qi, ii = quant("x", 2.0**-16, 20, "qin")
    q, iq = quant("qin_q", 0.1, 6, "q", out="y")
    model = make([qi, q], [("x", (1, 3))], ii + iq, qonnx=True)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    from fmlc.frontend.onnx_import import import_model_with_report

    _, report = import_model_with_report(path)
    assert [n.how for n in report.nodes if n.name == "q"] == ["thresholds"]
    assert report.outputs["y"].max_abs == 0.0
    x = x_of((3,), n=300, scale=4.0)
    x[:60] = (np.arange(-30, 30).reshape(60, 1) + 0.5).astype(np.float32) * np.float32(0.1)  # near ties
    assert np.array_equal(run_fmlc(tmp_path, model, x), run_qonnx(model, x).reshape(len(x), -1))


def test_neg(tmp_path):
    close(tmp_path, make([node("Neg", ["x"])], [("x", (1, 4))]), x_of((4,)), EPS)


def test_resize_nearest_is_exact(tmp_path):
    """Resize (nearest, integer factors) repeats values: bit-exact in a quantized model, for the
    coordinate modes that replicate; a mode that shifts pixels is refused with the reason."""
    from fmlc.frontend import ModelImportError

    qi, ii = quant("x", 2.0**-3, 6, "qin")
    for mode, nearest in (("asymmetric", "floor"), ("half_pixel", "round_prefer_floor")):
        rs = helper.make_node("Resize", ["qin_q", "", "sc"], ["y"], name="resize_0", mode="nearest", coordinate_transformation_mode=mode, nearest_mode=nearest)
        model = make([qi, rs], [("x", (1, 2, 3, 4))], ii + [("sc", np.array([1, 1, 2, 3], dtype=np.float32))], qonnx=True)
        x = x_of((2, 3, 4), n=50, scale=3.0)
        assert np.array_equal(run_fmlc(tmp_path, model, x).reshape(len(x), -1), run_qonnx(model, x).reshape(len(x), -1)), mode
    bad = helper.make_node("Resize", ["qin_q", "", "sc"], ["y"], name="resize_bad", mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="ceil")
    model = make([qi, bad], [("x", (1, 2, 3, 4))], ii + [("sc", np.array([1, 1, 2, 2], dtype=np.float32))], qonnx=True)
    path = tmp_path / "bad.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelImportError, match="resize_bad.*does not repeat"):
        import_model(path)


def test_upsample_opset9(tmp_path):
    up = helper.make_node("Upsample", ["x", "sc"], ["y"], name="up_0", mode="nearest")
    model = make([up], [("x", (1, 2, 3))], [("sc", np.array([1, 1, 2], dtype=np.float32))], opset=9)
    close(tmp_path, model, x_of((2, 3)), EPS)


def test_abs(tmp_path):
    close(tmp_path, make([node("Abs", ["x"])], [("x", (1, 4))]), x_of((4,)), EPS)


@pytest.mark.parametrize("op", ["Round", "Floor", "Ceil"])
def test_rounding_ops(tmp_path, op):
    x = np.round(x_of((4,), n=200, scale=3.0) * 256) / 256  # on the input precision's grid
    x[:40] = (np.arange(40).reshape(40, 1) - 20 + 0.5).astype(np.float32) / 4 * 2  # halves: ties
    model = make([node(op, ["x"])], [("x", (1, 4))])
    ref = run_ort(model, x)
    assert np.array_equal(run_fmlc(tmp_path, model, x, {"model": {"precision": "fixed<16,8,RND_CONV,SAT>"}}).reshape(ref.shape), ref)
