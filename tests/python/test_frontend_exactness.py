"""The rule for quantized models (docs/frontend.md): exact, an exact replacement computed with the
reference's own float32 semantics, bounded with a stated bound that holds, or refused.

- Models shaped like real Brevitas/QONNX exports that ../shared/models does not have (the zoo's
  extras: keyword spotting with non-power-of-two scales everywhere, the network-intrusion MLP
  with bipolar input and output, one Quant of scale 0.1, channels-last CNNs with Resize and
  Concat) against ``execute_onnx``: every output element within the stated bound, outputs the
  report calls exact bit-exact, quantized outputs disagreeing on at most a stated fraction.
- The parts: exact float32 arithmetic (``f32.affine_f32``), thresholds by bisection against
  thresholds by exhaustive evaluation, the Softmax bound against measurement, refusals.
"""

from __future__ import annotations

import contextlib
import io
from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import zoo
from fmlc.driver import resolve
from fmlc.emulator import Emulator
from fmlc.frontend import ModelImportError, f32
from fmlc.frontend.onnx_import import import_model_with_report

SAMPLES = 300


def reference(path, x: np.ndarray) -> np.ndarray:
    """execute_onnx sample by sample (the exports fix the batch at 1)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    from qonnx.transformation.infer_shapes import InferShapes

    with contextlib.redirect_stdout(io.StringIO()):
        model = ModelWrapper(str(path))
        try:
            model = model.transform(InferShapes())
        except Exception:  # noqa: BLE001 - qonnx's channels-last shape inference needs the stored shapes
            pass
        name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
        return np.concatenate([np.asarray(execute_onnx(model, {name_in: x[i : i + 1]})[name_out], dtype=np.float64) for i in range(len(x))])


def inputs(name: str, shape, n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    if name.startswith("unsw"):
        return np.where(rng.random((n,) + shape) < 0.5, -1.0, 1.0).astype(np.float32)
    if name == "quant_scale_0p1":
        x = rng.uniform(-4, 4, (n,) + shape).astype(np.float32)
        x[: n // 4] = ((rng.integers(-40, 40, (n // 4,) + shape) + 0.5) * np.float32(0.1)).astype(np.float32)  # near ties
        return x
    return (rng.standard_normal((n,) + shape) * 2).astype(np.float32)


EXTRAS = {
    # name: (samples, largest share of quantized output elements allowed to differ)
    "kws_mlp_w3a3": (SAMPLES, None),  # float output: within the stated bound
    "unsw_nb15_mlp_w2a2": (SAMPLES, 0.1),  # bipolar output of a sum the reference rounds
    "quant_scale_0p1": (SAMPLES, 0.0),
    "unet_channels_last": (12, 0.0),
    "branched_cnn_channels_last": (40, None),  # float logits: within the stated bound
}


@pytest.mark.parametrize("name", sorted(EXTRAS))
def test_extras_within_stated_bounds(name):
    n, share = EXTRAS[name]
    path = zoo.zoo_model(name)
    module, report = import_model_with_report(path)
    emu = Emulator(resolve(module))
    x = inputs(name, emu.input_shapes[0], n)
    got = emu.run(x)[0]
    ref = reference(path, x)
    got = got.reshape(ref.shape)
    bound = next(iter(report.outputs.values()))
    diff = np.abs(got - ref)
    assert diff.max() <= bound.max_abs, f"{name}: |fmlc - reference| = {diff.max()} beyond the stated {bound.max_abs}"
    if bound.max_abs == 0.0:
        assert np.array_equal(got, ref)
    if share is not None:
        assert np.mean(diff > 0) <= share, f"{name}: {np.mean(diff > 0):.2%} of the outputs differ"


def test_kws_input_quantizer_and_weights_stay_integer():
    """Brevitas KWS: the input Quant runs on the host as QONNX computes it (no fixed<16,6>
    pre-cast), weights keep their integer codes, the float default precision appears nowhere."""
    from fmlc.ir import print_module

    module, report = import_model_with_report(zoo.zoo_model("kws_mlp_w3a3"))
    text = print_module(module)
    assert "fixed<16, 6" not in text
    assert '["div",' in text and '["round", "ROUND"]' in text
    hows = {n.name: n.how for n in report.nodes}
    assert not report.inputs  # the model quantizes its own input
    assert "thresholds" in hows.values() or "bounded" in hows.values()


def test_pytorch_opset6_is_upgraded(capsys):
    import onnxruntime as ort
    from onnx import version_converter

    path = zoo.zoo_model("pytorch_opset6_mlp")
    module, _ = import_model_with_report(path, {"model": {"precision": "fixed<24,8,RND,SAT>"}})
    assert "opset 6 was upgraded" in capsys.readouterr().err
    emu = Emulator(resolve(module))
    x = inputs("pytorch", emu.input_shapes[0], 200)
    upgraded = version_converter.convert_version(onnx.load(path), 11)
    session = ort.InferenceSession(upgraded.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = np.concatenate([session.run(None, {session.get_inputs()[0].name: x[i : i + 1]})[0] for i in range(len(x))])
    got = emu.run(x)[0].reshape(ref.shape)
    assert np.abs(got - ref).max() < 0.01  # a float model at fixed<24,8>: accuracy, not bits
    assert np.mean(got.argmax(axis=1) == ref.argmax(axis=1)) >= 0.99


# ------------------------------------------------------------------ float32 facts


def test_affine_f32_rounds_once():
    """``fl32(code * 2**-frac * scale + shift)``, exactly (integer arithmetic), against Fractions."""
    rng = np.random.default_rng(0)
    for frac, big in ((0, False), (10, False), (3, True)):
        codes = rng.integers(-(2**40) if big else -(2**20), 2**40 if big else 2**20, (400, 3))
        scale = np.array([0.1, np.float32(0.0123), 2.0**-5])
        shift = np.array([0.0, 1e-3, -7.25])
        got = f32.affine_f32(codes, frac, scale[None, :], shift[None, :])
        for (i, c), v in np.ndenumerate(got):
            exact = Fraction(int(codes[i, c])) / (1 << frac) * Fraction(float(scale[c])) + Fraction(float(shift[c]))
            want = f32.round_f32(*_num_exp(exact))
            assert float(v) == want, (codes[i, c], c)


def _num_exp(q: Fraction) -> tuple[int, int]:
    """A dyadic Fraction as (num, exp)."""
    den = q.denominator
    exp = -(den.bit_length() - 1)
    assert den == 1 << -exp
    return q.numerator, exp


def test_gamma_bounds_a_float32_sum():
    rng = np.random.default_rng(1)
    for n in (8, 100, 1000):
        x = rng.standard_normal((200, n)).astype(np.float32)
        s = np.zeros(200, dtype=np.float32)
        for k in range(n):
            s = (s + x[:, k]).astype(np.float32)
        exact = x.astype(np.float64).sum(axis=1)  # exact enough: 1000 terms, 53 bits
        assert np.all(np.abs(s - exact) <= f32.gamma(n) * np.abs(x).sum(axis=1) + 1e-12)


# ------------------------------------------------------------------ thresholds


def _chain_model(tmp_path, gamma, beta, mean, var, bits, scale, signed=0):
    """MatMul (power-of-two weights, 16-bit input codes: a wide accumulator) -> BN -> Relu -> Quant."""
    rng = np.random.default_rng(5)
    w = rng.integers(-7, 8, (6, gamma.size)).astype(np.float32) / 8
    nodes = [
        helper.make_node("Quant", ["x", "s_in", "z", "b_in"], ["xq"], name="qin", domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("MatMul", ["xq", "W"], ["h"], name="mm"),
        helper.make_node("BatchNormalization", ["h", "g", "bb", "m", "v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("Quant", ["r", "s_out", "z", "b_out"], ["y"], name="qout", domain="qonnx.custom_op.general", signed=signed, narrow=0, rounding_mode="ROUND"),
    ]
    inits = {"s_in": 2.0**-8, "z": 0.0, "b_in": 16.0, "W": w, "g": gamma, "bb": beta, "m": mean, "v": var, "s_out": scale, "b_out": float(bits)}
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)])
    path = tmp_path / "chain.onnx"
    onnx.save(model, path)
    return path


def test_wide_accumulator_thresholds_by_bisection(tmp_path):
    """An accumulator with about 2**22 codes per channel: thresholds by bisection (no 65,536-code
    limit), per channel, negative BatchNorm scales mirrored; bit-exact against execute_onnx."""
    rng = np.random.default_rng(2)
    c = 5
    gamma = rng.normal(size=c).astype(np.float32)  # some negative: falling staircases
    path = _chain_model(tmp_path, gamma, rng.normal(size=c), rng.normal(size=c), rng.uniform(0.3, 2, c), 4, 0.137)
    module, report = import_model_with_report(path)
    assert {n.how for n in report.nodes if n.name in ("bn", "relu", "qout")} == {"thresholds"}
    assert "bisection" in next(n.detail for n in report.nodes if n.name == "qout")
    emu = Emulator(resolve(module))
    x = (rng.standard_normal((400, 6)) * 40).astype(np.float32)
    assert np.array_equal(emu.run(x)[0], reference(path, x).reshape(400, -1))


def test_bisection_equals_exhaustive():
    """On a domain small enough for both, the two searches find the same thresholds."""
    from fmlc.frontend import staircase
    from fmlc.frontend.reference import ReferenceChain

    rng = np.random.default_rng(4)
    c = 3
    params = {"g": rng.normal(size=c), "bb": rng.normal(size=c), "m": rng.normal(size=c), "v": rng.uniform(0.2, 2, c)}
    bn = helper.make_node("BatchNormalization", ["h", "g", "bb", "m", "v"], ["n"], name="bn")
    q = helper.make_node("Quant", ["n", "s", "z", "b"], ["y"], name="q", domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND")
    consts = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()} | {"s": np.float32(0.21), "z": np.float32(0.0), "b": np.float32(4.0)}
    chain = ReferenceChain([bn, q], consts, 13, 2)
    levels = staircase.quantizer_levels(q, consts.get, c)

    def estimate(codes):
        return f32.affine_f32(codes, 4, np.ones((1, c)), np.zeros((1, c)))

    ex = staircase._exhaustive(-3000, 3000, c, estimate, chain, levels)
    bi = staircase._bisect(-3000, 3000, c, estimate, chain, levels)
    assert np.array_equal(ex.sign, bi.sign)
    assert np.array_equal(ex.thresholds, bi.thresholds)


def test_non_monotone_wide_chain_is_refused(tmp_path):
    """Abs is not monotone: on an accumulator too wide to tabulate, the chain is refused, naming
    the node and the reason."""
    path = _chain_model(tmp_path, np.ones(4, dtype=np.float32), np.zeros(4), np.zeros(4), np.ones(4), 3, 0.5)
    model = onnx.load(path)
    for n in model.graph.node:
        if n.op_type == "Relu":
            n.op_type = "Abs"
    onnx.save(model, path)
    with pytest.raises(ModelImportError, match=r"node 'qout' \(Quant\).*Abs 'relu' is not monotone"):
        import_model_with_report(path)


# ------------------------------------------------------------------ Softmax


@pytest.mark.parametrize("n", [2, 5, 10])
def test_softmax_bound_holds(n):
    from fmlc.frontend import tables

    types = tables.SoftmaxTypes.defaults(n)
    measured = tables.softmax_error(types, n, samples=4000, spread=8.0, seed=n)
    bound = tables.softmax_bound(types, n, 10, 0.0)
    assert measured <= bound < 0.01


# ------------------------------------------------------------------ regressions (adversarial review)


def _graph(nodes, inputs, inits, opset=13, in_type=TensorProto.FLOAT):
    used = {i for n in nodes for i in n.input}
    outs = [o for n in nodes for o in n.output if o not in used]
    graph = helper.make_graph(
        nodes, "case", [helper.make_tensor_value_info(k, in_type, list(s)) for k, s in inputs], [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v), k) for k, v in inits],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("qonnx.custom_op.general", 1)])
    model.ir_version = 8
    return model


def _quant(x, s, bits, name, signed=1, mode="ROUND", out=None):
    n = helper.make_node("Quant", [x, f"{name}_s", f"{name}_z", f"{name}_b"], [out or f"{name}_q"], name=name, domain="qonnx.custom_op.general", signed=signed, narrow=0, rounding_mode=mode)
    return n, [(f"{name}_s", np.float32(s)), (f"{name}_z", np.float32(0.0)), (f"{name}_b", np.float32(bits))]


def _check_against_reference(tmp_path, model, x):
    path = tmp_path / "case.onnx"
    onnx.save(model, path)
    module, report = import_model_with_report(path)
    emu = Emulator(resolve(module))
    got = emu.run(x.reshape((len(x),) + emu.input_shapes[0]))[0]
    ref = reference(path, x)
    bound = next(iter(report.outputs.values())).max_abs
    diff = np.abs(got.reshape(ref.shape) - ref)
    assert diff.max() <= bound, f"|fmlc - reference| = {diff.max()} beyond the stated {bound}"
    return report, diff


def test_bias_along_another_axis_is_not_folded(tmp_path):
    """A [F]-shaped constant after an NCHW Conv broadcasts along W, not the channels."""
    rng = np.random.default_rng(0)
    q1, i1 = _quant("x", 2.0**-3, 8, "qin")
    qw, iw = _quant("W", 2.0**-2, 4, "qw")
    conv = helper.make_node("Conv", ["qin_q", "qw_q"], ["h"], name="conv", pads=[1, 1, 1, 1])
    add = helper.make_node("Add", ["h", "b"], ["hb"], name="bias")
    q2, i2 = _quant("hb", 2.0**-2, 8, "qout", out="y")
    model = _graph([q1, qw, conv, add, q2], [("x", (1, 2, 4, 4))], i1 + iw + i2 + [("W", rng.normal(size=(4, 2, 3, 3))), ("b", np.array([0.0, 10.0, -10.0, 5.0]))])
    x = rng.uniform(-4, 4, (8, 2, 4, 4)).astype(np.float32)
    report, diff = _check_against_reference(tmp_path, model, x)
    assert diff.max() == 0.0


def test_half_up_cast_of_a_fine_value_follows_float32(tmp_path):
    """QONNX's HALF_UP adds 0.5 in float32: 0.5 - 2**-25 + 0.5 rounds to 1.0."""
    q1, i1 = _quant("x", 2.0**-25, 24, "qin", signed=0)
    q2, i2 = _quant("qin_q", 1.0, 4, "qout", signed=0, mode="HALF_UP", out="y")
    model = _graph([q1, q2], [("x", (1, 3))], i1 + i2)
    x = np.array([[0.5 - 2.0**-25, 0.25, 0.5]], dtype=np.float32).repeat(2, axis=0)
    report, diff = _check_against_reference(tmp_path, model, x)
    assert diff.max() == 0.0


def test_sub_near_two_to_the_24(tmp_path):
    q1, i1 = _quant("x", 1.0, 24, "qin", signed=0)
    sub = helper.make_node("Sub", ["qin_q", "c"], ["y"], name="sub")
    model = _graph([q1, sub], [("x", (1, 4))], i1 + [("c", np.float32(-3.0))])
    x = np.array([[2.0**24 - 2, 2.0**24 - 4, 5.0, 2.0**24 - 2]], dtype=np.float32)
    _check_against_reference(tmp_path, model, x)


@pytest.mark.parametrize("case", ["leaky_negative_slope", "softplus", "wide_quant", "float16", "double_scale"])
def test_refusals_name_the_reason(tmp_path, case):
    if case == "leaky_negative_slope":  # folds the line: not monotone, too wide to tabulate
        q1, i1 = _quant("x", 2.0**-12, 20, "qin")
        act = helper.make_node("LeakyRelu", ["qin_q"], ["a"], name="act", alpha=-0.3)
        q2, i2 = _quant("a", 2.0**-4, 8, "qout", out="y")
        model, words = _graph([q1, act, q2], [("x", (1, 3))], i1 + i2), "LeakyRelu 'act' is not monotone"
    elif case == "softplus":  # onnxruntime's bits depend on the element's position
        q1, i1 = _quant("x", 2.0**-4, 8, "qin")
        act = helper.make_node("Softplus", ["qin_q"], ["a"], name="act")
        q2, i2 = _quant("a", 0.1, 8, "qout", out="y")
        model, words = _graph([q1, act, q2], [("x", (1, 5))], i1 + i2), "body and the tail"
    elif case == "wide_quant":  # QONNX's clamp bound is a float32
        q1, i1 = _quant("x", 1.0, 32, "qin")
        model, words = _graph([q1], [("x", (1, 4))], i1), "32-bit input quantizer"
    elif case == "float16":
        q1, i1 = _quant("x", 0.3, 8, "qin")
        model, words = _graph([q1], [("x", (1, 4))], i1, in_type=TensorProto.FLOAT16), "FLOAT16"
    else:
        q1, i1 = _quant("x", 0.3, 8, "qin")
        model, words = _graph([q1], [("x", (1, 4))], i1), "stored as float64"
        scale = next(t for t in model.graph.initializer if t.name == "qin_s")
        scale.CopyFrom(numpy_helper.from_array(np.float64(np.float32(0.3)), "qin_s"))  # QONNX then divides in float64
    path = tmp_path / "case.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelImportError, match=words):
        import_model_with_report(path)


def test_integer_annotations_round_like_the_reference(tmp_path):
    """execute_onnx rounds tensors annotated with an integer datatype (FINN exports): on the
    graph input and after the node producing an internal one; fmlc does the same rounding."""
    q1, i1 = _quant("x", 1.0, 4, "qin")
    mul = helper.make_node("Mul", ["qin_q", "k"], ["m"], name="mul")
    q2, i2 = _quant("m", 0.5, 8, "qout", mode="FLOOR", out="y")
    model = _graph([q1, mul, q2], [("x", (1, 4))], i1 + i2 + [("k", np.float32(0.996))])
    for tensor, dtype in (("m", "INT4"), ("x", "INT8")):
        a = model.graph.quantization_annotation.add()
        a.tensor_name = tensor
        e = a.quant_parameter_tensor_names.add()
        e.key, e.value = "finn_datatype", dtype
    x = np.array([[1.0, 2.0, -1.0, -2.0], [1.999, -1.004, 0.0, 2.0]], dtype=np.float32)  # the reference refuses values far from integers
    _, diff = _check_against_reference(tmp_path, model, x)
    assert diff.max() == 0.0
