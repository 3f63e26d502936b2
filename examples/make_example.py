#!/usr/bin/env python3
"""Writes examples/jet_mlp_qonnx.onnx: a small QONNX MLP in the style of the hls4ml jet tagger.

16 inputs -> 32 -> 32 -> 5 with ReLU, 6-bit weights and biases (scale 2**-5), 6-bit unsigned
activations (scale 2**-6, rounded half to even), a float input (fmlc gives it the default
precision) and Softmax at the end.  Weights are seeded random numbers, so the file is
reproducible: `python examples/make_example.py` writes the same bytes every time.
"""

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent / "jet_mlp_qonnx.onnx"
SIZES = [16, 32, 32, 5]


def main() -> None:
    rng = np.random.default_rng(2026)
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def quant(x, out, scale, bits, signed):
        args = [x, const(f"{out}_scale", scale), const(f"{out}_zero", 0.0), const(f"{out}_bits", bits)]
        nodes.append(helper.make_node("Quant", args, [out], name=f"Quant_{out}", domain="qonnx.custom_op.general", signed=signed, narrow=0, rounding_mode="ROUND"))
        return out

    x = "global_in"
    for k, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        w = quant(const(f"w{k}", rng.normal(0, 0.4, (a, b))), f"w{k}_q", 2.0**-5, 6, 1)
        bias = quant(const(f"b{k}", rng.normal(0, 0.2, b)), f"b{k}_q", 2.0**-5, 6, 1)
        nodes.append(helper.make_node("MatMul", [x, w], [f"mm{k}"], name=f"MatMul_{k}"))
        nodes.append(helper.make_node("Add", [f"mm{k}", bias], [f"add{k}"], name=f"Add_{k}"))
        x = f"add{k}"
        if k < len(SIZES) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"relu{k}"], name=f"Relu_{k}"))
            x = quant(f"relu{k}", f"act{k}", 2.0**-6, 6, 0)
    nodes.append(helper.make_node("Softmax", [x], ["global_out"], name="Softmax_0", axis=-1))
    graph = helper.make_graph(
        nodes,
        "jet_mlp_qonnx",
        [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, SIZES[0]])],
        [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, SIZES[-1]])],
        inits,
    )
    model = helper.make_model(graph, producer_name="fmlc-examples", opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)])
    model.ir_version = 8
    OUT.write_bytes(model.SerializeToString())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
