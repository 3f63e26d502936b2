"""The front door on the reference models, as exported: each zoo replica, and the shared file
where ../shared/models is present (test ids ``zoo:NAME`` and ``shared:NAME``).

- QONNX models: the emulator equals ``qonnx.core.onnx_exec.execute_onnx`` bit for bit (float64
  ``==``) on 1000 inputs over the input quantizer's whole range; the jet tagger on its logits,
  its Softmax checked against float softmax separately.
- Float models at the default precision: argmax agrees with onnxruntime on >= 99% of 1000
  inputs; the largest error is printed.
"""

from __future__ import annotations

import numpy as np
import pytest

from fmlc.driver import CompileOptions, prepare, resolve
from fmlc.emulator import Emulator
from fmlc.frontend.onnx_import import import_model
from fmlc.ir import print_module
from models import (
    ALL_MODELS,
    FLOAT_MODELS,
    JET_LOGITS,
    QONNX_MODELS,
    model_file,
    model_path,
    model_sources,
    ort_reference,
    qonnx_reference,
    qonnx_reference_single,
    random_inputs,
)

N = 1000


def emulate(module, x):
    emu = Emulator(module)
    return emu.run(x.reshape((len(x),) + emu.input_shapes[0]))[0]


@pytest.mark.parametrize("source,name", model_sources(QONNX_MODELS))
def test_qonnx_models_bit_exact(source, name):
    path = model_file(source, name)
    config = {"model": {"strip_softmax": True}} if name == "qkeras_jettagging" else {}
    tensor = JET_LOGITS if name == "qkeras_jettagging" else None
    x = random_inputs(name, N, seed=1)
    ref = qonnx_reference(path, x, tensor).astype(np.float64)
    module = resolve(import_model(path, config))
    got = emulate(module, x)
    ref = ref.reshape(got.shape)
    mismatches = int(np.sum(np.any(got != ref, axis=tuple(range(1, got.ndim)))))
    assert mismatches == 0, f"{name}: {mismatches}/{N} samples differ from execute_onnx (max |d| {np.abs(got - ref).max()})"
    # the same bits after the whole target-independent pipeline
    assert np.array_equal(emulate(prepare(module.clone(), CompileOptions(reuse_factor=4)), x), got)


@pytest.mark.parametrize("source,name", model_sources(QONNX_MODELS))
def test_batched_reference_equals_exported_batch(source, name):
    """The fast batched reference is execute_onnx on the model with its batch widened: check
    it against the model exactly as exported, sample by sample."""
    path = model_file(source, name)
    tensor = JET_LOGITS if name == "qkeras_jettagging" else None
    x = random_inputs(name, 12, seed=2)
    assert np.array_equal(qonnx_reference(path, x, tensor), qonnx_reference_single(path, x, tensor))


def test_jet_tagger_softmax_error():
    """The one bit-exact Softmax definition against float softmax of the same logits."""
    path = model_path("qkeras_jettagging")
    x = random_inputs("qkeras_jettagging", N, seed=3) / 8  # logits in a realistic range
    logits = emulate(resolve(import_model(path, {"model": {"strip_softmax": True}})), x)
    probs = emulate(resolve(import_model(path)), x)
    ref = np.exp(logits - logits.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)
    err = float(np.abs(probs - ref).max())
    print(f"jet tagger softmax: max |fxp - float| = {err:.5f} on {N} samples")
    assert err < 0.005
    assert np.mean(probs.argmax(1) == ref.argmax(1)) >= 0.999


@pytest.mark.parametrize("source,name", model_sources(FLOAT_MODELS))
def test_float_models_agree_with_onnxruntime(source, name):
    path = model_file(source, name)
    x = random_inputs(name, N, seed=4)
    ref = ort_reference(path, x)
    got = emulate(resolve(import_model(path)), x).reshape(ref.shape)
    if ref.shape[1] > 1:
        agree = float(np.mean(got.argmax(1) == ref.argmax(1)))
    else:  # one sigmoid output: the decision at 0.5
        agree = float(np.mean((got[:, 0] > 0.5) == (ref[:, 0] > 0.5)))
    err = float(np.abs(got - ref).max())
    print(f"{source}:{name}: argmax agreement {agree * 100:.1f}%, max |error| {err:.4f} (fixed<16,6,RND,SAT>)")
    assert agree >= 0.99
    assert err < 0.05


@pytest.mark.parametrize("source,name", model_sources(ALL_MODELS))
def test_import_is_deterministic(source, name):
    path = model_file(source, name)
    a = print_module(import_model(path))
    b = print_module(import_model(path))
    assert a == b


def test_configuration_overrides_reach_the_ir():
    path = model_path("three_layer_keras")
    config = {
        "model": {"precision": "fixed<12,4,RND,SAT>"},
        "layers": {"_class__keras_layers_core_Dense__": {"precision": {"weight": "fixed<8,2,RND,SAT>", "result": "fixed<10,5>"}, "reuse_factor": 4}},
        "op_types": {"Softmax": {"diff": "ufixed<10,4,RND,SAT>"}},
    }
    text = print_module(import_model(path, config))
    first = next(line for line in text.splitlines() if "fxp.dense" in line)
    assert "fmlc.reuse_factor = 4" in first
    assert "tensor<16x64x!fxp.fixed<8, 2, signed, RND, SAT>>" in first  # layer weight precision
    assert first.rstrip().endswith("tensor<64x!fxp.fixed<10, 5, signed>>")  # layer result precision
    assert "tensor<16x!fxp.fixed<12, 4, signed, RND, SAT>>" in text  # model default on the input
    assert "diff_type = !fxp.fixed<10, 4, unsigned, RND, SAT>" in text
