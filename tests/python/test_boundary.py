"""The model boundary: ``fxp.quantize`` steps reproduce QONNX's input quantizers bit for bit.

- ``fmlc.boundary.apply_steps`` (the emulator's and the host's quantizer) against QONNX's own
  ``int_quant`` / ``binary_quant`` on float32 inputs full of ties, for every rounding mode,
  signed/unsigned/narrow, non-power-of-two scales and zero points, with float preprocessing;
- the CUDA target's quantizer (the same steps printed as C++, compiled for the host) against the
  emulator's codes.
"""

from __future__ import annotations

import numpy as np
import pytest

from fmlc.boundary import ROUNDINGS, apply_steps

rng = np.random.default_rng(11)


def qonnx_steps(scale: float, zero: float, bits: int, signed: bool, narrow: bool, rounding: str) -> tuple[list, float, float]:
    """The steps fmlc's importer writes for a QONNX Quant (see ops_quant.input_quant)."""
    if signed and bits == 1:
        return [("div", scale), ("add", zero), ("bipolar",)], -1, 1
    lo = -(1 << (bits - 1)) + int(narrow) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1 - int(narrow)
    return [("div", scale), ("add", zero), ("clip", float(lo), float(hi)), ("round", rounding)], lo, hi


def inputs(scale: float, n: int = 4000) -> np.ndarray:
    x = rng.uniform(-300, 300, n) * scale
    ties = (rng.integers(-400, 400, n // 2) + 0.5) * scale  # halfway between codes (in float32, near it)
    grid = rng.integers(-400, 400, n // 4) * scale
    near = np.nextafter(ties.astype(np.float32), np.float32(np.inf))
    return np.concatenate([x, ties, grid, near, [0.0, -0.0]]).astype(np.float32)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("signed,narrow,bits", [(True, False, 8), (True, True, 4), (False, False, 3), (False, True, 5), (True, False, 1)])
def test_steps_equal_qonnx_int_quant(rounding, signed, narrow, bits):
    from qonnx.custom_op.general.intquant import int_quant

    for scale, zero in ((0.1, 0.0), (0.0123, 0.0), (0.25, 0.0), (0.37, 3.0 if not signed else 0.0)):
        s32, z32 = np.float32(scale), np.float32(zero)
        steps, _, _ = qonnx_steps(float(s32), float(z32), bits, signed, narrow, rounding)
        pre = [("mul", 2.0), ("sub", 1.0)]  # Brevitas' x * 2 - 1 in front of the quantizer
        x = inputs(scale)
        ref = int_quant((x * np.float32(2.0)) - np.float32(1.0), s32, z32, np.float32(bits), signed, narrow, rounding)
        q = apply_steps(x, pre + steps, np.float32)
        got = ((q - z32) * s32).astype(np.float32)  # QONNX's dequantization, in float32
        assert np.array_equal(got, np.asarray(ref, dtype=np.float32)), f"scale {scale} zero {zero}"


def test_int64_zero_point_widens_like_numpy():
    """QKeras writes the zero point as int64: numpy then adds it, clamps and rounds in float64."""
    from qonnx.custom_op.general.intquant import int_quant

    s32 = np.float32(0.0123)
    x = inputs(0.0123)
    for rounding in ROUNDINGS:
        ref = int_quant(x, s32, np.int64(7), np.float32(8), False, False, rounding)
        steps = [("div", float(s32)), ("widen",), ("add", 7.0), ("clip", 0.0, 255.0), ("round", rounding), ("sub", 7.0)]
        got = (apply_steps(x, steps, np.float32) * np.float64(s32)).astype(np.float32)
        assert np.array_equal(got, np.asarray(ref, dtype=np.float32)), rounding


def test_bipolar_quant_equals_qonnx():
    from qonnx.custom_op.general.bipolar_quant import binary_quant

    x = np.concatenate([inputs(1.0), [0.0, -0.0, 1e-30, -1e-30]]).astype(np.float32)
    got = apply_steps(x, [("bipolar",), ("mul", 0.5)], np.float32)
    assert np.array_equal(got, binary_quant(x, np.float32(0.5)).astype(np.float32))


def test_cuda_quantizer_runs_the_same_steps(tmp_path):
    """Every rounding mode and a non-power-of-two scale through the CUDA host build."""
    from xdsl.dialects.builtin import TensorType, f32

    from fmlc.dialects import fxp
    from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs
    from fmlc.emulator import Emulator
    from fmlc.fixed import FixedFormat
    from fmlc.ir import FunctionBuilder
    from fmlc.targets.cuda import build_host_bundle, run_program

    folders, modules = [], {}
    cases = [(r, 0.0123, 0.0, 8, True, False) for r in ROUNDINGS] + [("ROUND", 0.37, 3.0, 4, False, True), ("ROUND", 0.5, 0.0, 1, True, False), ("HALF_UP", 0.0123, 7.0, 8, False, False)]
    for k, (rounding, scale, zero, bits, signed, narrow) in enumerate(cases):
        steps, lo, hi = qonnx_steps(float(np.float32(scale)), zero, bits, signed, narrow, rounding)
        if k == len(cases) - 1:  # an int64 zero point: numpy adds it in float64
            steps = steps[:1] + [("widen",)] + steps[1:]
        steps = [("add", 0.3), ("div", 1.7)] + steps + ([("sub", zero)] if zero else [])
        b = FunctionBuilder("main", [TensorType(f32, [16])])
        fmt = FixedFormat(bits + 2, bits + 2, True, "RND_CONV", "SAT")
        y = b.add(fxp.QuantizeOp(b.args[0], fmt, steps=steps)).result
        module = b.finish([y])
        name = f"s{k}"
        modules[name] = module
        folders.append(compile_model(module, tmp_path / name, CompileOptions(target="cuda", name=name)))
    program = build_host_bundle(folders)
    x = inputs(0.0123, 1600)[:1600].reshape(100, 16)
    for folder in folders:
        want = quantize_inputs(load_manifest(folder), [x])[0]
        assert np.array_equal(want, Emulator(modules[folder.name]).run(x, raw=True)[0]), folder.name
        got = run_program(program, "quantize", x, np.int64, len(x), 16, model=folder.name)
        assert np.array_equal(got, want), folder.name


def test_per_channel_normalization_on_every_path(tmp_path):
    """(x - mean[c]) / std[c] then a Quant, as image models normalize: the emulator equals
    QONNX, and the CUDA device quantizer (per-element constants) equals the emulator."""
    from onnx import TensorProto, helper, numpy_helper

    from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs, resolve
    from fmlc.emulator import Emulator
    from fmlc.frontend.onnx_import import import_model_with_report
    from fmlc.targets.cuda import build_host_bundle, run_program

    mean = np.array([123.7, 116.3, 103.5], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array([58.4, 57.1, 57.4], dtype=np.float32).reshape(1, 3, 1, 1)
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["c"], name="center"),
        helper.make_node("Div", ["c", "std"], ["n"], name="scale"),
        helper.make_node("Quant", ["n", "s", "z", "b"], ["y"], name="qin", domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND"),
    ]
    inits = {"mean": mean, "std": std, "s": np.float32(2.0**-5), "z": np.float32(0), "b": np.float32(8)}
    graph = helper.make_graph(nodes, "norm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)])
    path = tmp_path / "norm.onnx"
    path.write_bytes(model.SerializeToString())
    module, report = import_model_with_report(path)
    assert not report.inputs and report.outputs["y"].max_abs == 0.0
    module = resolve(module)
    x = np.random.default_rng(2).integers(0, 256, (64, 3, 2, 2)).astype(np.float32)
    got = Emulator(module).run(x)[0]
    from qonnx.custom_op.general.intquant import int_quant

    ref = int_quant((x - mean) / std, np.float32(2.0**-5), np.float32(0), np.float32(8), True, False, "ROUND")
    assert np.array_equal(got, np.asarray(ref, dtype=np.float64))
    out = compile_model(module, tmp_path / "cuda", CompileOptions(target="cuda", name="norm"))
    program = build_host_bundle([out])
    flat = x.reshape(64, -1)
    want = quantize_inputs(load_manifest(out), [x])[0].reshape(64, -1)
    assert np.array_equal(run_program(program, "quantize", flat, np.int64, 64, flat.shape[1], model="norm"), want)
