"""A QONNX channels-last U-Net (the zoo's ``unet_channels_last``: channels-last Conv and MaxPool,
Resize x2, Concat with the skip connection, LeakyRelu, Quant) end to end: the emulator equals
``execute_onnx``, and HLS C-simulation and the CUDA host path equal the emulator, on integer
codes."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import zoo
from fmlc.driver import CompileOptions, compile_model, resolve, run_compiled
from fmlc.emulator import Emulator
from fmlc.frontend.onnx_import import import_model_with_report

SAMPLES = 3


@pytest.fixture(scope="module")
def unet():
    path = zoo.zoo_model("unet_channels_last")
    module, report = import_model_with_report(path)
    module = resolve(module)
    emu = Emulator(module)
    x = (np.random.default_rng(8).standard_normal((SAMPLES,) + emu.input_shapes[0]) * 2).astype(np.float32)
    return path, module, report, x, emu.run(x, raw=True)[0]


def test_unet_equals_execute_onnx(unet):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    import onnxruntime

    path, module, report, x, _ = unet
    onnxruntime.set_default_logger_severity(3)
    with contextlib.redirect_stdout(io.StringIO()):
        model = ModelWrapper(str(path))
        name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
        ref = np.concatenate([np.asarray(execute_onnx(model, {name_in: x[i : i + 1]})[name_out], dtype=np.float64) for i in range(len(x))])
    got = Emulator(module).run(x)[0].reshape(ref.shape)
    assert np.array_equal(got, ref)
    assert {"Resize", "Concat", "Conv", "MaxPool", "LeakyRelu"} <= {n.op_type for n in report.nodes}


@pytest.mark.parametrize("target,backend", [("hls", "csim"), ("cuda", None)])
def test_unet_targets_equal_emulator(unet, tmp_path, target, backend):
    _, module, _, x, want = unet
    out = compile_model(module, tmp_path / target, CompileOptions(target=target, name="unet"))
    got = run_compiled(out, [x], backend=backend, raw=True)[0]
    assert np.array_equal(np.asarray(got).reshape(want.shape), want)
