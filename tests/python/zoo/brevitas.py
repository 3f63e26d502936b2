"""Brevitas models as Brevitas' QONNX export writes them (PyTorch's exporter underneath).

``TFC_2W2A`` mirrors the QONNX model zoo's MNIST/Brevitas_FINN_TFC (FINN's TFC-w2a2): an MLP
784 -> 64 -> 64 -> 64 -> 10 with ternary weights and activations, exported by PyTorch 1.7 at
opset 9 (IR 6, graph ``torch-jit-export``), tensors named by number:

- the flatten is the shape-computing subgraph ``Shape -> Gather(0) -> Unsqueeze -> Concat(-1)
  -> Reshape`` on the input ``0`` [1, 1, 28, 28] (batch fixed at 1);
- the float preprocessing ``x * 2 - 1`` (``Mul_7``, ``Sub_9``) precedes the input quantizer;
- quantizers are ``Quant`` in domain ``onnx.brevitas`` (no opset import for it, as in the
  original), inputs (x, scale, zero point, bits) as float scalars: 2 bits, scale 1, signed,
  ``narrow=1`` — the levels {-1, 0, 1};
- each layer: weight ``Quant`` on the float [out, in] weight (already ternary), ``Transpose``
  (perm 1,0), ``MatMul``, float ``BatchNormalization`` (epsilon 1e-5), activation ``Quant``;
- the last layer's TensorNorm is written out as ``Sub(mean) / Pow(var, 0.5) * weight + bias``
  with one-element parameters, and is the float output [1, 10];
- every initializer is listed as a graph input too; there is no value_info.

Weights: ternary, with the trained layers' share of zeros.  BatchNorm statistics are the
statistics of each layer's MatMul output on the inputs the tests use, perturbed as trained
running statistics are, so every activation level occurs.

``bnn_model_fc_1layer`` mirrors hls4ml's example-models ``bnn_model_fc_1layer``: one binary
``QuantLinear`` 3 -> 4 exported by PyTorch 2.7 (opset 17 plus ``onnx.brevitas`` 1, IR 8, graph
``main_graph``): ``BipolarQuant`` on the input, on the ±1 weight (a constant) and on the output,
a 4-bit ``Quant`` (scale 1) on the integer-valued bias, ``Gemm`` with ``transB=1``.  Parameter
tensors are named after the exporter's ``Constant`` nodes; ``linear.bias`` is both an
initializer and a graph input; value_info as PyTorch 2 writes it.
"""

from __future__ import annotations

import numpy as np

from .export import Graph, Producer, f32, finish, i64, rng_for, value

TORCH_1_7 = Producer("pytorch", "1.7", ir_version=6, opsets=(("", 9),), inits_as_inputs=True)
TORCH_2_7 = Producer("pytorch", "2.7.0", ir_version=8, opsets=(("", 17), ("onnx.brevitas", 1)))
BREVITAS = "onnx.brevitas"

# per layer, the names PyTorch 1.7 gave: wq = weight Quant (node, weight, scale, zero, bits, out),
# t = Transpose (node, out), mm = MatMul (node, out), bn = BatchNorm (node, parameter prefix, out),
# aq = activation Quant (node, scale, zero, bits, out)
TFC_LAYERS = (
    dict(wq=("Quant_18", "41", "42", "43", "40", "44"), t=("Transpose_19", "45"), mm=("MatMul_20", "46"), bn=("BatchNormalization_21", "features.3", "47"), aq=("Quant_25", "49", "50", "48", "51")),
    dict(wq=("Quant_30", "53", "54", "55", "52", "56"), t=("Transpose_31", "57"), mm=("MatMul_32", "58"), bn=("BatchNormalization_33", "features.7", "59"), aq=("Quant_37", "61", "62", "60", "63")),
    dict(wq=("Quant_42", "65", "66", "67", "64", "68"), t=("Transpose_43", "69"), mm=("MatMul_44", "70"), bn=("BatchNormalization_45", "features.11", "71"), aq=("Quant_49", "73", "74", "72", "75")),
)
TFC_LAST = dict(wq=("Quant_54", "77", "78", "79", "76", "80"), t=("Transpose_55", "81"), mm=("MatMul_56", "82"))
TFC_SIZES = (784, 64, 64, 64, 10)
TFC_NONZERO = (0.31, 0.74, 0.74, 0.92)  # share of nonzero ternary weights per layer in the trained model
# graph inputs after "0", in the exporter's order
TFC_INPUT_ORDER = [
    *(f"features.{k}.{p}" for k in (3, 7, 11) for p in ("weight", "bias", "running_mean", "running_var")),
    "features.15.weight", "features.15.bias", "features.15.running_mean",
    "91", "92", "25", "32", "34", "36", "37", "38", "40", "41", "42", "43", "48", "49", "50", "52", "53", "54", "55",
    "60", "61", "62", "64", "65", "66", "67", "72", "73", "74", "76", "77", "78", "79", "86",
]  # fmt: skip


def _ternary(rng, shape, nonzero: float) -> np.ndarray:
    mask = rng.random(shape) < nonzero
    return f32(np.where(mask, rng.choice([-1.0, 1.0], shape), 0.0))


def _tfc_inputs(rng, n: int) -> np.ndarray:
    """The ternary codes the input quantizer makes of the tests' inputs (uniform on [-0.5, 1.5])."""
    x = rng.uniform(-0.5, 1.5, (n, 784)) * 2 - 1
    return np.clip(np.round(x), -1, 1)  # half-way points have probability 0


def TFC_2W2A():
    rng = rng_for("TFC_2W2A")
    weights = [_ternary(rng, (o, i), p) for i, o, p in zip(TFC_SIZES[:-1], TFC_SIZES[1:], TFC_NONZERO)]
    # BatchNorm statistics from the layers' own outputs on test-like inputs, as training leaves them
    a = _tfc_inputs(rng, 2000)
    bn = []
    for w in weights[:3]:
        y = a @ w.T.astype(np.float64)
        mean = y.mean(0) + rng.normal(0, 0.3, y.shape[1]) * y.std(0)
        var = y.var(0) * rng.uniform(0.7, 1.5, y.shape[1])
        gamma, beta = rng.normal(0.2, 1.2, y.shape[1]), rng.normal(0, 1.4, y.shape[1])
        bn.append((f32(gamma), f32(beta), f32(mean), f32(var)))
        z = gamma * (y - mean) / np.sqrt(var + 1e-5) + beta
        a = np.clip(np.round(z), -1, 1)
    logits = a @ weights[3].T.astype(np.float64)
    tn = (f32([rng.uniform(0.5, 1.0)]), f32([rng.normal(0, 1.0)]), f32([logits.mean()]), f32([logits.var()]))

    g = Graph()
    inits = {"91": i64([-1]), "92": tn[3]}
    # the original's initializer order: sorted names of the BatchNorm parameters, then the rest
    for k, (gamma, beta, mean, var) in sorted(zip((3, 7, 11), bn), key=lambda t: str(t[0])):
        inits[f"features.{k}.bias"] = beta
        inits[f"features.{k}.running_mean"] = mean
        inits[f"features.{k}.running_var"] = var
        inits[f"features.{k}.weight"] = gamma
    inits["features.15.bias"], inits["features.15.running_mean"], inits["features.15.weight"] = tn[1], tn[2], tn[0]
    inits.update({"25": i64(0), "32": f32(2.0), "34": f32([1.0])})
    scalars = {"36": 2.0, "37": 1.0, "38": 0.0}
    for layer, w in zip(TFC_LAYERS + (TFC_LAST,), weights):
        _, wname, scale, zero, bits, _ = layer["wq"]
        if "aq" in layer:
            _, ascale, azero, abits, _ = layer["aq"]
            scalars.update({abits: 2.0, ascale: 1.0, azero: 0.0})
        scalars.update({bits: 2.0, scale: 1.0, zero: 0.0})
        inits[wname] = w
    scalars["86"] = 0.5
    for name in sorted(scalars, key=int):
        inits[name] = f32(scalars[name])
    order = ["91", "92"] + sorted(n for n in inits if n.startswith("features.")) + sorted((n for n in inits if n[0].isdigit() and n not in ("91", "92")), key=int)
    for name in order:
        g.init(name, inits[name])

    g.add("Shape", ["0"], ["24"], "Shape_0")
    g.add("Gather", ["24", "25"], ["26"], "Gather_2", axis=0)
    g.add("Unsqueeze", ["26"], ["28"], "Unsqueeze_3", axes=[0])
    g.add("Concat", ["28", "91"], ["30"], "Concat_4", axis=0)
    g.add("Reshape", ["0", "30"], ["31"], "Reshape_5")
    g.add("Mul", ["31", "32"], ["33"], "Mul_7")
    g.add("Sub", ["33", "34"], ["35"], "Sub_9")
    x = g.add("Quant", ["35", "37", "38", "36"], ["39"], "Quant_13", BREVITAS, narrow=1, rounding_mode="ROUND", signed=1)
    for layer in TFC_LAYERS + (TFC_LAST,):
        qname, wname, scale, zero, bits, qout = layer["wq"]
        g.add("Quant", [wname, scale, zero, bits], [qout], qname, BREVITAS, narrow=1, rounding_mode="ROUND", signed=1)
        tname, tout = layer["t"]
        g.add("Transpose", [qout], [tout], tname, perm=[1, 0])
        mname, mout = layer["mm"]
        x = g.add("MatMul", [x, tout], [mout], mname)
        if "bn" in layer:
            bname, prefix, bout = layer["bn"]
            params = [f"{prefix}.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
            x = g.add("BatchNormalization", [x, *params], [bout], bname, epsilon=1e-5, momentum=0.9)
            aname, ascale, azero, abits, aout = layer["aq"]
            x = g.add("Quant", [x, ascale, azero, abits], [aout], aname, BREVITAS, narrow=1, rounding_mode="ROUND", signed=1)
    g.add("Sub", [x, "features.15.running_mean"], ["83"], "Sub_57")
    g.add("Pow", ["92", "86"], ["87"], "Pow_59")
    g.add("Div", ["83", "87"], ["88"], "Div_60")
    g.add("Mul", ["88", "features.15.weight"], ["89"], "Mul_61")
    g.add("Add", ["89", "features.15.bias"], ["90"], "Add_62")
    return finish(g, TORCH_1_7, [value("0", [1, 1, 28, 28])], [value("90", [1, 10])], "torch-jit-export", input_order=TFC_INPUT_ORDER)


BNN = "/linear/{}/export_handler/{}"


def bnn_model_fc_1layer():
    rng = rng_for("bnn_model_fc_1layer")
    g = Graph()
    one, one_v, zero = BNN.format("input_quant", "Constant_output_0"), BNN.format("input_quant", "Constant_1_output_0"), BNN.format("input_quant", "Constant_2_output_0")
    weight, bits = BNN.format("weight_quant", "Constant_output_0"), BNN.format("bias_quant", "Constant_output_0")
    g.init("linear.bias", f32(rng.integers(-4, 4, 4)))
    g.init(one, f32(1.0))
    g.init(one_v, f32([1.0]))
    g.init(zero, f32(0.0))
    g.init(weight, f32(rng.choice([-1.0, 1.0], (4, 3))))
    g.init(bits, f32(4.0))
    xq, wq, bq = BNN.format("input_quant", "BipolarQuant_output_0"), BNN.format("weight_quant", "BipolarQuant_output_0"), BNN.format("bias_quant", "Quant_output_0")
    g.add("BipolarQuant", ["x.1", one_v], [xq], BNN.format("input_quant", "BipolarQuant"), BREVITAS)
    g.add("BipolarQuant", [weight, one_v], [wq], BNN.format("weight_quant", "BipolarQuant"), BREVITAS)
    g.add("Quant", ["linear.bias", one, zero, bits], [bq], BNN.format("bias_quant", "Quant"), BREVITAS, narrow=0, rounding_mode="ROUND", signed=1)
    g.add("Gemm", [xq, wq, bq], ["/linear/Gemm_output_0"], "/linear/Gemm", alpha=1.0, beta=1.0, transB=1)
    g.add("BipolarQuant", ["/linear/Gemm_output_0", one_v], ["12"], BNN.format("output_quant", "BipolarQuant"), BREVITAS)
    for name, shape in ((xq, [1, 3]), (wq, [4, 3]), (bq, [4]), (one_v, [1]), (weight, [4, 3]), (one, []), (zero, []), (bits, [])):
        g.info(name, shape)
    return finish(g, TORCH_2_7, [value("x.1", [1, 3])], [value("12", [1, 4])], "main_graph", extra_inputs=("linear.bias",))


MODELS = {"TFC_2W2A": TFC_2W2A, "bnn_model_fc_1layer": bnn_model_fc_1layer}
