"""A float MLP as PyTorch 0.3/0.4 exported it, at ONNX opset 6 (for the front end's issue 9).

``pytorch_opset6_mlp``: 16 -> 32 -> 32 -> 5, each hidden layer ``Linear`` -> ``BatchNorm1d`` ->
``ReLU``, then ``Softmax(dim=1)``; written directly at opset 6 with the attributes of that era's
exporter (IR 3, graph ``torch-jit-export``, unnamed nodes, input ``0``, parameters named by
their state-dict keys and listed as graph inputs):

- ``Gemm`` with ``broadcast=1``, ``transB=1``, ``alpha=beta=1`` (Gemm-6);
- ``BatchNorm1d`` on the 2-D tensor is ``Unsqueeze(axes=[2])`` -> ``BatchNormalization``
  (``is_test=1``, ``epsilon=1e-5``, ``momentum=0.9``; opset 6 has no ``consumed_inputs``, which
  only opsets 1-5 had) -> ``Squeeze(axes=[2])``: axes as attributes, as before opset 13;
- ``Relu`` and ``Softmax(axis=1)``.

onnxruntime implements no opset-6 BatchNormalization (nor Gemm-6), so neither onnxruntime nor
QONNX's ``execute_onnx`` runs the file as written; both run it once ``onnx.version_converter``
has lifted it to opset 7 (what the tests do to get a reference).  Float weights have a trained
MLP's spread; the batch is fixed at 1.
"""

from __future__ import annotations

import numpy as np

from .export import Graph, Producer, f32, finish, rng_for, value

TORCH_0_4 = Producer("pytorch", "0.4", ir_version=3, opsets=(("", 6),), inits_as_inputs=True)
SIZES = (16, 32, 32, 5)


def pytorch_opset6_mlp():
    rng = rng_for("pytorch_opset6_mlp")
    g = Graph()
    names = iter(range(1, 1000))
    cur = "0"
    for k, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        w = g.init(f"fc{k}.weight", f32(rng.normal(0, 1.2 / np.sqrt(fan_in), (fan_out, fan_in))))
        b = g.init(f"fc{k}.bias", f32(rng.uniform(-0.2, 0.2, fan_out)))
        cur = g.add("Gemm", [cur, w, b], [str(next(names))], alpha=1.0, beta=1.0, broadcast=1, transB=1)
        if fan_out == SIZES[-1]:
            break
        params = [
            g.init(f"bn{k}.weight", f32(rng.uniform(0.7, 1.5, fan_out))),
            g.init(f"bn{k}.bias", f32(rng.normal(0.1, 0.3, fan_out))),
            g.init(f"bn{k}.running_mean", f32(rng.normal(0, 0.5, fan_out))),
            g.init(f"bn{k}.running_var", f32(rng.uniform(0.5, 3.0, fan_out))),
        ]
        cur = g.add("Unsqueeze", [cur], [str(next(names))], axes=[2])
        cur = g.add("BatchNormalization", [cur, *params], [str(next(names))], epsilon=1e-5, is_test=1, momentum=0.9)
        cur = g.add("Squeeze", [cur], [str(next(names))], axes=[2])
        cur = g.add("Relu", [cur], [str(next(names))])
    out = g.add("Softmax", [cur], [str(next(names))], axis=1)
    return finish(g, TORCH_0_4, [value("0", [1, SIZES[0]])], [value(out, [1, SIZES[-1]])], "torch-jit-export")


MODELS = {"pytorch_opset6_mlp": pytorch_opset6_mlp}
