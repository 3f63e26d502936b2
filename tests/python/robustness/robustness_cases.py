"""The robustness corpus: small generated bad inputs, each with the command line that reads it.

Every case is a function of an empty folder: it writes its inputs there and returns the
command line (``fmlc ...`` or ``fmlc-opt ...``, relative paths) and a piece of the message the
error must contain.  ``test_robustness.py`` runs each and asserts exit status 2, an
``fmlc: error:`` line with that piece, no traceback, and nothing new in the folder.

Classes: command-line options; configuration files; ONNX graphs (malformed, rejected by
onnx.checker, unsupported); QONNX quantizer parameters; .mlir files; .npy inputs; output
paths; broken compiled folders; fmlc-opt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QONNX = "qonnx.custom_op.general"


@dataclass
class Case:
    name: str
    make: Callable[[Path], list[str]]
    expect: str
    """A piece of the error message (case-sensitive)."""
    needs: str | None = None
    """A compiled folder the case copies first: 'hls', 'verilog' or 'cuda' (see COMPILED)."""


CASES: list[Case] = []


def case(name: str, expect: str, needs: str | None = None):
    def register(fn: Callable[[Path], list[str]]):
        CASES.append(Case(name, fn, expect, needs))
        return fn

    return register


# --------------------------------------------------------------------------------------------
# generated inputs
# --------------------------------------------------------------------------------------------


def vi(name: str, shape=None, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def quant(x: str, y: str, name: str, scale="s", zero="z", bits="b", **attrs) -> onnx.NodeProto:
    attrs = {"signed": 1, "narrow": 0, "rounding_mode": "ROUND", **attrs}
    return helper.make_node("Quant", [x, scale, zero, bits], [y], name=name, domain=QONNX, **attrs)


def params(scale=0.0625, zero=0.0, bits=8.0) -> list[onnx.TensorProto]:
    arr = lambda v: np.asarray(v, dtype=np.float32)  # noqa: E731
    return [numpy_helper.from_array(arr(scale), "s"), numpy_helper.from_array(arr(zero), "z"), numpy_helper.from_array(arr(bits), "b")]


def qmlp(scale=0.0625, zero=0.0, bits=8.0, quant_attrs=None, extra_nodes=(), outputs=None, opset=13, inputs=None, inits=None, nodes=None) -> onnx.ModelProto:
    """x[1, 4] -> Quant -> MatMul W[4, 3] -> Relu -> y: a valid QONNX model, with knobs."""
    w = numpy_helper.from_array(np.array([[0.5, -0.25, 1.0], [0.125, 0.75, -0.5], [-1.0, 0.25, 0.5], [0.0, 1.0, -0.75]], dtype=np.float32), "W")
    if nodes is None:
        nodes = [quant("x", "xq", "quant_in", **(quant_attrs or {})), helper.make_node("MatMul", ["xq", "W"], ["h"], name="dense_0"), helper.make_node("Relu", ["h"], ["y"], name="relu_0"), *extra_nodes]
    graph = helper.make_graph(
        nodes,
        "g",
        inputs if inputs is not None else [vi("x", [1, 4])],
        outputs if outputs is not None else [vi(nodes[-1].output[0], [1, 3])],
        inits if inits is not None else [w, *params(scale, zero, bits)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(QONNX, 1)])
    model.ir_version = 8
    return model


def save(folder: Path, model: onnx.ModelProto, name: str = "m.onnx") -> str:
    (folder / name).write_bytes(model.SerializeToString())
    return name


def good_model(folder: Path) -> str:
    return save(folder, qmlp())


def good_ir(folder: Path, name: str = "m.mlir") -> str:
    (folder / name).write_text(GOOD_IR)
    return name


GOOD_IR = """\
func.func @main(%x: tensor<4x!fxp.fixed<8, 3, signed>>) -> tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>> {
  %w = fxp.constant dense<[[1, 2, 3], [-1, 0, 2], [3, 1, -2], [0, -3, 1]]> : tensor<4x3x!fxp.fixed<4, 1, signed>>
  %y = fxp.dense %x, %w {name = "fc", acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x3x!fxp.fixed<4, 1, signed>>) -> tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>
  func.return %y : tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>
}
"""


def npy(folder: Path, arr, name: str = "x.npy") -> str:
    np.save(folder / name, arr, allow_pickle=True)
    return name


def good_x(folder: Path, n: int = 3) -> str:
    return npy(folder, np.random.default_rng(0).uniform(-2, 2, (n, 4)).astype(np.float32))


def yaml(folder: Path, text: str, name: str = "c.yaml") -> str:
    (folder / name).write_text(text)
    return name


COMPILE = ["compile", "m.onnx", "-t", "hls", "-o", "out"]


# --------------------------------------------------------------------------------------------
# command-line options (checked by the parser, before any work)
# --------------------------------------------------------------------------------------------

BAD_OPTIONS = {
    "reuse-0": (["--reuse-factor", "0"], "--reuse-factor"),
    "reuse-negative": (["--reuse-factor", "-1"], "--reuse-factor"),
    "reuse-fraction": (["--reuse-factor", "2.5"], "--reuse-factor"),
    "reuse-text": (["--reuse-factor", "abc"], "--reuse-factor"),
    "reuse-empty": (["--reuse-factor", ""], "--reuse-factor"),
    "clock-nan": (["--clock-period", "nan"], "--clock-period"),
    "clock-inf": (["--clock-period", "inf"], "--clock-period"),
    "clock-negative": (["--clock-period", "-5"], "--clock-period"),
    "clock-zero": (["--clock-period", "0"], "--clock-period"),
    "clock-text": (["--clock-period", "fast"], "--clock-period"),
    "adders-negative": (["--adders-per-stage", "-1"], "--adders-per-stage"),
    "adders-text": (["--adders-per-stage", "x"], "--adders-per-stage"),
    "precision-empty": (["--precision", ""], "--precision"),
    "precision-zero-width": (["--precision", "fixed<0,0>"], "--precision"),
    "precision-hls4ml-name": (["--precision", "ap_fixed<16,6>"], "--precision"),
    "precision-rounding": (["--precision", "fixed<16,6,FOO>"], "--precision"),
    "precision-huge": (["--precision", "fixed<100000,3>"], "--precision"),
    "io-sideways": (["--io", "sideways"], "--io"),
    "name-digit": (["--name", "1abc"], "--name"),
    "name-dash": (["--name", "a-b"], "--name"),
    "name-empty": (["--name", ""], "--name"),
    "cuda-arch-text": (["--cuda-arch", "sm_90"], "--cuda-arch"),
    "part-empty": (["--part", " "], "--part"),
    "unknown-option": (["--bogus"], "unrecognized arguments"),
}

for _key, (_extra, _expect) in BAD_OPTIONS.items():

    def _make(folder: Path, extra=_extra) -> list[str]:
        good_model(folder)
        return ["fmlc", *COMPILE, *extra]

    case(f"option-{_key}", _expect)(_make)


@case("option-target-unknown", "--target")
def _(folder):
    good_model(folder)
    return ["fmlc", "compile", "m.onnx", "-t", "fpga", "-o", "out"]


@case("option-compile-without-output", "-o/--output")
def _(folder):
    good_model(folder)
    return ["fmlc", "compile", "m.onnx", "-t", "hls"]


@case("option-no-command", "required")
def _(folder):
    return ["fmlc"]


@case("option-unknown-command", "invalid choice")
def _(folder):
    return ["fmlc", "transmogrify", "m.onnx"]


@case("option-run-backend-unknown", "--backend")
def _(folder):
    good_model(folder)
    good_x(folder)
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy", "--backend", "fpga"]


@case("option-run-simulator-on-a-model", "needs a compiled folder")
def _(folder):
    good_model(folder)
    good_x(folder)
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy", "--backend", "csim"]


@case("option-run-without-input", "--input")
def _(folder):
    good_model(folder)
    return ["fmlc", "run", "m.onnx", "--output", "y.npy"]


@case("option-precision-with-ir", "apply when importing an ONNX model")
def _(folder):
    good_ir(folder)
    return ["fmlc", "compile", "m.mlir", "-t", "hls", "-o", "out", "--precision", "fixed<8,3>"]


@case("option-strip-softmax-with-ir", "apply when importing an ONNX model")
def _(folder):
    good_ir(folder)
    return ["fmlc", "import", "m.mlir", "--strip-softmax"]


@case("option-config-layers-with-ir", "apply when importing an ONNX model")
def _(folder):
    good_ir(folder)
    yaml(folder, "layers:\n  fc: {reuse_factor: 2}\n")
    return ["fmlc", "compile", "m.mlir", "-t", "hls", "-o", "out", "-c", "c.yaml"]


@case("option-duplicate-outputs", "must be distinct")
def _(folder):
    good_model(folder)
    good_x(folder)
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy", "--output", "./y.npy"]


@case("option-too-few-outputs", "give as many --output files")
def _(folder):
    good_model(folder)
    good_x(folder)
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy", "--output", "z.npy"]


# --------------------------------------------------------------------------------------------
# configuration files
# --------------------------------------------------------------------------------------------

BAD_CONFIGS = {
    "model-scalar": ("model: 5\n", "model must be a mapping"),
    "layers-list": ("layers: [dense_0]\n", "layers must be a mapping"),
    "inputs-list": ("inputs: [x]\n", "inputs must be a mapping"),
    "op-types-scalar": ("op_types: Relu\n", "op_types must be a mapping"),
    "reuse-text": ("model: {reuse_factor: abc}\n", "model.reuse_factor"),
    "reuse-fraction": ("model: {reuse_factor: 2.5}\n", "model.reuse_factor"),
    "reuse-zero": ("model: {reuse_factor: 0}\n", "model.reuse_factor"),
    "reuse-negative": ("model: {reuse_factor: -3}\n", "model.reuse_factor"),
    "reuse-bool": ("model: {reuse_factor: true}\n", "model.reuse_factor"),
    "io-sideways": ("model: {io: sideways}\n", "model.io"),
    "strip-softmax-maybe": ("model: {strip_softmax: maybe}\n", "model.strip_softmax"),
    "strip-softmax-number": ("model: {strip_softmax: 1}\n", "model.strip_softmax"),
    "precision-empty": ("model: {precision: ''}\n", "model.precision"),
    "precision-number": ("model: {precision: 16}\n", "model.precision"),
    "precision-zero-width": ("model: {precision: 'fixed<0,0>'}\n", "model.precision"),
    "name-digit": ("model: {name: 1abc}\n", "model.name"),
    "name-number": ("model: {name: 5}\n", "model.name"),
    "unknown-section": ("moddel: {}\n", "unknown section 'moddel'"),
    "unknown-model-key": ("model: {reuse: 2}\n", "model.reuse is not a setting"),
    "unknown-layer": ("layers:\n  dense_9: {reuse_factor: 2}\n", "dense_0"),
    "unknown-input": ("inputs:\n  input_0: {precision: 'fixed<8,3>'}\n", "its inputs are: x"),
    "layer-scalar": ("layers:\n  dense_0: 4\n", "layers.dense_0 must be a mapping"),
    "layer-unknown-key": ("layers:\n  dense_0: {reuse: 4}\n", "layers.dense_0.reuse"),
    "layer-bad-precision": ("layers:\n  dense_0: {precision: 'fixed<16>'}\n", "layers.dense_0.precision"),
    "layer-precision-key": ("layers:\n  dense_0: {precision: {weights: 'fixed<8,1>'}}\n", "precision.weights"),
    "layer-precision-list": ("layers:\n  dense_0: {precision: ['fixed<8,1>']}\n", "layers.dense_0.precision"),
    "layer-reuse-zero": ("layers:\n  dense_0: {reuse_factor: 0}\n", "layers.dense_0.reuse_factor"),
    "layer-io-bad": ("layers:\n  dense_0: {io: serial}\n", "layers.dense_0.io"),
    "op-type-list": ("op_types:\n  Relu: [1]\n", "op_types.Relu must be a mapping"),
    "op-type-table-bad": ("op_types:\n  Sigmoid: {table_input: 'fixed<>'}\n", "op_types.Sigmoid.table_input"),
    "hls-setting": ("hls: {foo: 1}\n", "hls.foo is not a setting"),
    "verilog-setting": ("verilog: {lanes: 4}\n", "verilog.lanes is not a setting"),
    "cuda-block-text": ("cuda: {block_size: abc}\n", "cuda.block_size"),
    "cuda-dp4a-maybe": ("cuda: {dp4a: maybe}\n", "cuda.dp4a"),
    "cuda-scalar": ("cuda: 5\n", "cuda must be a mapping"),
    "top-list": ("- model\n- layers\n", "the top level must be a mapping"),
    "top-scalar": ("42\n", "the top level must be a mapping"),
    "invalid-yaml": ("model: {precision: [\n", "not valid YAML"),
    "tab-indent": ("model:\n\tio: stream\n", "not valid YAML"),
}

for _key, (_text, _expect) in BAD_CONFIGS.items():

    def _make(folder: Path, text=_text) -> list[str]:
        good_model(folder)
        yaml(folder, text)
        return ["fmlc", *COMPILE, "-c", "c.yaml"]

    case(f"config-{_key}", _expect)(_make)


@case("config-binary", "not UTF-8")
def _(folder):
    good_model(folder)
    (folder / "c.yaml").write_bytes(b"model:\n  io: \xff\xfe\x00stream\n")
    return ["fmlc", "import", "m.onnx", "-c", "c.yaml"]


@case("config-folder", "is a folder")
def _(folder):
    good_model(folder)
    (folder / "c.yaml").mkdir()
    return ["fmlc", "import", "m.onnx", "-c", "c.yaml"]


@case("config-missing", "no such configuration file")
def _(folder):
    good_model(folder)
    return ["fmlc", "import", "m.onnx", "-c", "missing.yaml"]


@case("config-cuda-block-size-not-warp-multiple", "block_size must be a multiple of 32")
def _(folder):
    good_model(folder)
    yaml(folder, "cuda: {block_size: 100}\n")
    return ["fmlc", "compile", "m.onnx", "-t", "cuda", "-o", "out", "-c", "c.yaml"]


@case("config-run-on-folder", "a compiled folder keeps its settings", needs="hls")
def _(folder):
    good_x(folder)
    yaml(folder, "model: {io: stream}\n")
    return ["fmlc", "run", "compiled", "--input", "x.npy", "--output", "y.npy", "-c", "c.yaml"]


# --------------------------------------------------------------------------------------------
# ONNX graphs
# --------------------------------------------------------------------------------------------


def onnx_case(name: str, expect: str, command: str = "import"):
    def register(build: Callable[[], onnx.ModelProto | bytes]):
        def make(folder: Path) -> list[str]:
            model = build()
            if isinstance(model, bytes):
                (folder / "m.onnx").write_bytes(model)
            else:
                save(folder, model)
            if command == "import":
                return ["fmlc", "import", "m.onnx", "-o", "m.mlir"]
            if command == "run":
                good_x(folder)
                return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy"]
            return ["fmlc", "compile", "m.onnx", "-t", command, "-o", "out"]

        CASES.append(Case(f"onnx-{name}", make, expect))
        return build

    return register


def _relu_chain(*nodes, outputs=None):
    return qmlp(nodes=list(nodes), outputs=outputs)


onnx_case("empty-file", "the file is empty")(lambda: b"")
onnx_case("garbage", "not a readable ONNX model")(lambda: b"\x00\xffnot onnx\x13" * 20)
onnx_case("truncated", "m.onnx")(lambda: qmlp().SerializeToString()[:150])
onnx_case("no-nodes", "has no nodes")(lambda: helper.make_model(helper.make_graph([], "g", [vi("x", [1, 4])], [vi("x", [1, 4])])))
onnx_case("two-producers", "single static assignment", "hls")(
    lambda: qmlp(extra_nodes=[helper.make_node("Relu", ["xq"], ["h"], name="relu_dup")], outputs=[vi("y", [1, 3])])
)
onnx_case("no-outputs", "has no outputs")(lambda: qmlp(outputs=[]))
onnx_case("duplicate-outputs", "listed twice", "run")(lambda: qmlp(outputs=[vi("y", [1, 3]), vi("y", [1, 3])]))
onnx_case("duplicate-inputs", "graph input names multiple times")(lambda: qmlp(inputs=[vi("x", [1, 4]), vi("x", [1, 4])]))
onnx_case("unsorted", "topologically sorted")(
    lambda: qmlp(nodes=[helper.make_node("Relu", ["h"], ["y"], name="relu_0"), quant("x", "xq", "q"), helper.make_node("MatMul", ["xq", "W"], ["h"], name="dense_0")])
)
onnx_case("dangling-input", "produced by no node")(lambda: qmlp(nodes=[quant("x", "xq", "q"), helper.make_node("MatMul", ["xq", "W2"], ["y"], name="dense_0")]))
onnx_case("output-is-input", "is a graph input")(lambda: qmlp(outputs=[vi("y", [1, 3]), vi("x", [1, 4])]))
onnx_case("output-produced-by-none", "produced by no node")(lambda: qmlp(outputs=[vi("nowhere", [1, 3])]))
onnx_case("wrong-arity", "input size 1")(lambda: qmlp(nodes=[quant("x", "xq", "q"), helper.make_node("MatMul", ["xq"], ["y"], name="dense_0")]))
onnx_case("unknown-attribute", "Unrecognized attribute")(
    lambda: qmlp(nodes=[quant("x", "xq", "q"), helper.make_node("MatMul", ["xq", "W"], ["h"], name="dense_0"), helper.make_node("Relu", ["h"], ["y"], name="relu_0", alpha=0.5)])
)
onnx_case("empty-input-name", "empty string")(lambda: qmlp(nodes=[quant("x", "xq", "q"), helper.make_node("MatMul", ["xq", "W"], ["h"], name="d"), helper.make_node("Relu", [""], ["y"], name="r")]))
onnx_case("duplicate-initializer", "initializer name is not unique")(lambda: qmlp(inits=[*params(), *params(), numpy_helper.from_array(np.ones((4, 3), np.float32), "W")]))
onnx_case("opset-too-new", "opset")(lambda: qmlp(opset=99))
onnx_case("unknown-domain", "domain 'com.example'")(
    lambda: qmlp(extra_nodes=[helper.make_node("Mystery", ["y"], ["out2"], name="mystery_0", domain="com.example")])
)
onnx_case("unsupported-op", "node 'hardmax_0' (Hardmax)")(lambda: qmlp(extra_nodes=[helper.make_node("Hardmax", ["y"], ["out2"], name="hardmax_0")]))
onnx_case("dynamic-feature-dim", "dynamic dimension 1")(lambda: qmlp(inputs=[vi("x", ["N", "F"])]))
onnx_case("string-input", "x", "run")(lambda: qmlp(inputs=[vi("x", [1, 4], TensorProto.STRING)]))
onnx_case("non-constant-weight", "node 'dense_0' (MatMul)")(
    lambda: qmlp(inputs=[vi("x", [1, 4]), vi("W", [4, 3])], inits=params())
)
onnx_case("matmul-shape-mismatch", "dense_0")(
    lambda: qmlp(inits=[numpy_helper.from_array(np.ones((5, 3), np.float32), "W"), *params()])
)


def _external_model(location: str) -> onnx.ModelProto:
    model = qmlp()
    w = model.graph.initializer[0]
    w.data_location = TensorProto.EXTERNAL
    del w.external_data[:]
    for key, value in (("location", location), ("offset", "0"), ("length", "48")):
        w.external_data.add(key=key, value=value)
    w.ClearField("float_data")
    w.ClearField("raw_data")
    return model


onnx_case("external-data-missing", "which is missing")(lambda: _external_model("weights.bin"))
onnx_case("external-data-outside", "outside the model's folder")(lambda: _external_model("../../etc/passwd"))


@case("onnx-model-is-a-folder", "is a folder")
def _(folder):
    (folder / "m.onnx").mkdir()
    return ["fmlc", "import", "m.onnx"]


@case("onnx-model-missing", "no such file")
def _(folder):
    return ["fmlc", "compile", "missing.onnx", "-t", "hls", "-o", "out"]


# --------------------------------------------------------------------------------------------
# QONNX quantizer parameters (fmlc.frontend.validate)
# --------------------------------------------------------------------------------------------

BAD_QUANT = {
    "scale-zero": (dict(scale=0.0), "scale must be > 0"),
    "scale-inf": (dict(scale=np.inf), "scale must be finite"),
    "scale-negative": (dict(scale=-0.5), "scale must be > 0"),
    "scale-nan": (dict(scale=np.nan), "scale must be finite"),
    "scale-one-of-four-zero": (dict(scale=[0.5, 0.0, 0.5, 0.5]), "scale must be > 0"),
    "scale-empty": (dict(scale=np.zeros((0,), np.float32)), "empty tensor"),
    "zero-point-nan": (dict(zero=np.nan), "zero point must be finite"),
    "zero-point-inf": (dict(zero=-np.inf), "zero point must be finite"),
    "bits-fraction": (dict(bits=2.5), "bit width must be a whole number"),
    "bits-zero": (dict(bits=0.0), "bit width must be a whole number"),
    "bits-negative": (dict(bits=-3.0), "bit width must be a whole number"),
    "bits-huge": (dict(bits=1e6), "bit width must be a whole number"),
    "bits-nan": (dict(bits=np.nan), "bit width must be finite"),
    "bits-two-values": (dict(bits=[4.0, 8.0]), "bit width must be one number"),
    "signed-two": (dict(quant_attrs={"signed": 2}), "signed must be 0 or 1"),
    "narrow-negative": (dict(quant_attrs={"narrow": -1}), "narrow must be 0 or 1"),
    "rounding-bogus": (dict(quant_attrs={"rounding_mode": "SIDEWAYS"}), "SIDEWAYS"),
}

for _key, (_kw, _expect) in BAD_QUANT.items():
    onnx_case(f"quant-{_key}", _expect, "hls")(lambda kw=_kw: qmlp(**kw))


onnx_case("quant-two-inputs", "takes 4 inputs")(
    lambda: qmlp(nodes=[helper.make_node("Quant", ["x", "s"], ["xq"], name="q", domain=QONNX), helper.make_node("MatMul", ["xq", "W"], ["y"], name="d")])
)
onnx_case("quant-string-scale", "must be numbers")(
    lambda: qmlp(inits=[numpy_helper.from_array(np.ones((4, 3), np.float32), "W"), helper.make_tensor("s", TensorProto.STRING, [], [b"x"]), *params()[1:]])
)
onnx_case("quant-constant-node-scale-zero", "scale must be > 0")(
    lambda: qmlp(
        nodes=[
            helper.make_node("Constant", [], ["s"], name="c_s", value=numpy_helper.from_array(np.array(0.0, np.float32))),
            quant("x", "xq", "quant_in"),
            helper.make_node("MatMul", ["xq", "W"], ["y"], name="dense_0"),
        ],
        inits=[numpy_helper.from_array(np.ones((4, 3), np.float32), "W"), *params()[1:]],
    )
)
onnx_case("bipolar-scale-zero", "scale must be > 0")(
    lambda: qmlp(
        nodes=[helper.make_node("BipolarQuant", ["x", "s"], ["xq"], name="bq", domain=QONNX), helper.make_node("MatMul", ["xq", "W"], ["y"], name="d")],
        inits=[numpy_helper.from_array(np.ones((4, 3), np.float32), "W"), numpy_helper.from_array(np.array(0.0, np.float32), "s")],
    )
)
onnx_case("trunc-scale-inf", "scale must be finite")(
    lambda: qmlp(
        nodes=[quant("x", "xq", "q"), helper.make_node("Trunc", ["xq", "ts", "z", "b", "b4"], ["y"], name="trunc_0", domain=QONNX)],
        inits=[*params(), numpy_helper.from_array(np.array(np.inf, np.float32), "ts"), numpy_helper.from_array(np.array(4.0, np.float32), "b4")],
        outputs=[vi("y", [1, 4])],
    )
)
onnx_case("trunc-out-bits-fraction", "output bit width")(
    lambda: qmlp(
        nodes=[quant("x", "xq", "q"), helper.make_node("Trunc", ["xq", "s", "z", "b", "b4"], ["y"], name="trunc_0", domain=QONNX)],
        inits=[*params(), numpy_helper.from_array(np.array(3.5, np.float32), "b4")],
        outputs=[vi("y", [1, 4])],
    )
)
onnx_case("multithreshold-nan", "thresholds hold NaN")(
    lambda: qmlp(
        nodes=[quant("x", "xq", "q"), helper.make_node("MultiThreshold", ["xq", "t"], ["y"], name="mt_0", domain=QONNX, out_dtype="UINT2")],
        inits=[*params(), numpy_helper.from_array(np.array([[0.0, np.nan, 1.0]], np.float32), "t")],
        outputs=[vi("y", [1, 4])],
    )
)
onnx_case("multithreshold-out-scale-inf", "out_scale must be a finite number")(
    lambda: qmlp(
        nodes=[quant("x", "xq", "q"), helper.make_node("MultiThreshold", ["xq", "t"], ["y"], name="mt_0", domain=QONNX, out_scale=float("inf"))],
        inits=[*params(), numpy_helper.from_array(np.array([[0.0, 0.5, 1.0]], np.float32), "t")],
        outputs=[vi("y", [1, 4])],
    )
)


# --------------------------------------------------------------------------------------------
# .mlir files
# --------------------------------------------------------------------------------------------

BAD_IR = {
    "garbage": ("this is not MLIR\n", "m.mlir:1:"),
    "empty": ("", "m.mlir"),
    "no-function": ("builtin.module {\n}\n", "one function"),
    "two-functions-no-main": (GOOD_IR.replace("@main", "@a") + GOOD_IR.replace("@main", "@b"), "one function or one named @main"),
    "unknown-op": ("func.func @main() {\n  %x = fxp.bogus\n}\n", "fxp.bogus is not registered"),
    "unknown-type": ("func.func @main(%x: tensor<4x!fxp.wide<8>>) {\n  func.return\n}\n", "m.mlir:1:"),
    "bad-width": (GOOD_IR.replace("fixed<8, 3, signed>>)", "fixed<0, 3, signed>>)", 1), "m.mlir:1:"),
    "verifier-dense": (GOOD_IR.replace("tensor<4x3x!fxp.fixed<4, 1, signed>>", "tensor<5x3x!fxp.fixed<4, 1, signed>>").replace("[0, -3, 1]]", "[0, -3, 1], [1, 1, 1]]"), "m.mlir:3:3: fxp.dense 'fc'"),
    "undefined-value": (GOOD_IR.replace("%x, %w", "%x, %v"), "values used but not defined: [%v]"),
    "wrong-return-type": (GOOD_IR.replace("func.return %y : tensor<3x!fxp.fixed<8, 4, signed, RND, SAT>>", "func.return %y : tensor<3x!fxp.fixed<8, 5, signed, RND, SAT>>"), "m.mlir"),
    "hex-length": (GOOD_IR.replace("dense<[[1, 2, 3], [-1, 0, 2], [3, 1, -2], [0, -3, 1]]>", 'dense<"0x0102">'), "m.mlir:2:"),
    "long-line": (GOOD_IR.replace("dense<[[1, 2, 3], [-1, 0, 2], [3, 1, -2], [0, -3, 1]]>", 'dense<"0x' + "AB" * 5000 + '">'), "m.mlir:2:"),
    "reuse-negative": (GOOD_IR.replace('name = "fc"', 'name = "fc", fmlc.reuse_factor = -1 : i64'), "reuse factor must be >= 1"),
    "reuse-zero": (GOOD_IR.replace('name = "fc"', 'name = "fc", fmlc.reuse_factor = 0 : i64'), "reuse factor must be >= 1"),
    "reuse-string": (GOOD_IR.replace('name = "fc"', 'name = "fc", fmlc.reuse_factor = "four"'), "must be an integer"),
    "io-sideways": (GOOD_IR.replace('name = "fc"', 'name = "fc", fmlc.io = "sideways"'), "fmlc.io must be one of"),
}

for _key, (_text, _expect) in BAD_IR.items():

    def _make(folder: Path, text=_text) -> list[str]:
        (folder / "m.mlir").write_text(text)
        return ["fmlc", "compile", "m.mlir", "-t", "hls", "-o", "out"]

    case(f"mlir-{_key}", _expect)(_make)


@case("mlir-binary", "not UTF-8")
def _(folder):
    (folder / "m.mlir").write_bytes(b"func.func @main() {\xff\xfe\x80}\n")
    return ["fmlc", "import", "m.mlir"]


@case("mlir-folder", "m.mlir is not an fmlc output folder")
def _(folder):
    (folder / "m.mlir").mkdir()
    return ["fmlc", "run", "m.mlir", "--input", good_x(folder), "--output", "y.npy"]


@case("mlir-run-verifier", "m.mlir:3:3")
def _(folder):
    (folder / "m.mlir").write_text(BAD_IR["verifier-dense"][0])
    return ["fmlc", "run", "m.mlir", "--input", good_x(folder), "--output", "y.npy"]


# --------------------------------------------------------------------------------------------
# .npy inputs
# --------------------------------------------------------------------------------------------

BAD_NPY = {
    "complex": (lambda: np.ones((3, 4), np.complex64), "complex"),
    "bool": (lambda: np.ones((3, 4), bool), "booleans"),
    "strings": (lambda: np.array([["a"] * 4] * 3), "inputs must be real numbers"),
    "bytes": (lambda: np.array([[b"a"] * 4] * 3), "inputs must be real numbers"),
    "object": (lambda: np.array([[1, 2, 3, None]] * 3, dtype=object), "not a numpy .npy array"),
    "record": (lambda: np.zeros((3, 4), dtype=[("a", "f4"), ("b", "i4")]), "inputs must be real numbers"),
    "datetime": (lambda: np.zeros((3, 4), dtype="datetime64[s]"), "inputs must be real numbers"),
    "longdouble": (lambda: np.ones((3, 4), np.longdouble), "wider than float64"),
    "nan": (lambda: np.where(np.eye(3, 4) > 0, np.nan, 0.0), "non-finite value (nan)"),
    "inf": (lambda: np.full((3, 4), -np.inf), "non-finite value (-inf)"),
    "wrong-shape": (lambda: np.zeros((3, 7), np.float32), "must be shaped (N, 4)"),
    "flat": (lambda: np.zeros(4, np.float32), "must be shaped (N, 4)"),
    "too-many-dims": (lambda: np.zeros((3, 4, 1), np.float32), "must be shaped (N, 4)"),
    "scalar": (lambda: np.float32(1.0), "single number"),
    "huge-int": (lambda: np.full((3, 4), 2**60, np.int64), "beyond 2**53"),
}

for _key, (_arr, _expect) in BAD_NPY.items():

    def _make(folder: Path, arr=_arr) -> list[str]:
        good_model(folder)
        npy(folder, arr())
        return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy"]

    case(f"npy-{_key}", _expect)(_make)


@case("npy-garbage", "not a numpy .npy array")
def _(folder):
    good_model(folder)
    (folder / "x.npy").write_bytes(b"\x93NUMPY garbage")
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy"]


@case("npy-truncated", "not a numpy .npy array")
def _(folder):
    good_model(folder)
    good_x(folder, 100)
    data = (folder / "x.npy").read_bytes()
    (folder / "x.npy").write_bytes(data[: len(data) // 2])
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy"]


@case("npy-npz", ".npz archive")
def _(folder):
    good_model(folder)
    np.savez(folder / "x.npz", x=np.zeros((3, 4)))
    return ["fmlc", "run", "m.onnx", "--input", "x.npz", "--output", "y.npy"]


@case("npy-missing", "no such file")
def _(folder):
    good_model(folder)
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy"]


@case("npy-folder", "is a folder")
def _(folder):
    good_model(folder)
    (folder / "x.npy").mkdir()
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy"]


@case("npy-two-inputs-for-one", "takes 1 input")
def _(folder):
    good_model(folder)
    good_x(folder)
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--input", "x.npy", "--output", "y.npy"]


@case("npy-wrong-shape-folder", "must be shaped (N, 4)", needs="hls")
def _(folder):
    npy(folder, np.zeros((2, 5), np.float32))
    return ["fmlc", "run", "compiled", "--input", "x.npy", "--output", "y.npy"]


@case("npy-nan-folder", "non-finite", needs="verilog")
def _(folder):
    npy(folder, np.full((2, 4), np.nan))
    return ["fmlc", "run", "compiled", "--input", "x.npy", "--output", "y.npy", "--backend", "icarus"]


@case("npy-complex-ir", "complex")
def _(folder):
    good_ir(folder)
    npy(folder, np.ones((2, 4), np.complex128))
    return ["fmlc", "run", "m.mlir", "--input", "x.npy", "--output", "y.npy"]


# --------------------------------------------------------------------------------------------
# output paths
# --------------------------------------------------------------------------------------------


def _file(folder: Path, name: str = "taken") -> str:
    (folder / name).write_text("precious\n")
    return name


@case("path-compile-onto-file", "exists and is not a folder")
def _(folder):
    good_model(folder)
    return ["fmlc", "compile", "m.onnx", "-t", "hls", "-o", _file(folder)]


@case("path-compile-under-file", "is a file, not a folder")
def _(folder):
    good_model(folder)
    return ["fmlc", "compile", "m.onnx", "-t", "hls", "-o", f"{_file(folder)}/out"]


@case("path-compile-deep-under-file", "is a file, not a folder")
def _(folder):
    good_model(folder)
    return ["fmlc", "compile", "m.onnx", "-t", "hls", "-o", f"{_file(folder)}/a/b/out"]


@case("path-compile-onto-other-folder", "is not an fmlc output folder")
def _(folder):
    good_model(folder)
    (folder / "mine").mkdir()
    _file(folder / "mine", "notes.txt")
    return ["fmlc", "compile", "m.onnx", "-t", "hls", "-o", "mine"]


@case("path-compile-onto-cwd", "is not an fmlc output folder")
def _(folder):
    good_model(folder)
    return ["fmlc", "compile", "m.onnx", "-t", "hls", "-o", "."]


@case("path-compile-empty", "empty")
def _(folder):
    good_model(folder)
    return ["fmlc", "compile", "m.onnx", "-t", "hls", "-o", ""]


@case("path-import-onto-folder", "is a folder")
def _(folder):
    good_model(folder)
    (folder / "m.mlir").mkdir()
    return ["fmlc", "import", "m.onnx", "-o", "m.mlir"]


@case("path-import-under-file", "is a file, not a folder")
def _(folder):
    good_model(folder)
    return ["fmlc", "import", "m.onnx", "-o", f"{_file(folder)}/m.mlir"]


@case("path-run-output-folder", "is a folder")
def _(folder):
    good_model(folder)
    good_x(folder)
    (folder / "y.npy").mkdir()
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "y.npy"]


@case("path-run-output-under-file", "is a file, not a folder")
def _(folder):
    good_model(folder)
    good_x(folder)
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", f"{_file(folder)}/y.npy"]


@case("path-name-too-long", "file name too long")
def _(folder):
    good_model(folder)
    return ["fmlc", "import", "m.onnx", "-o", "m" * 300 + ".mlir"]


@case("path-run-missing-model", "no such file")
def _(folder):
    good_x(folder)
    return ["fmlc", "run", "nowhere", "--input", "x.npy", "--output", "y.npy"]


@case("path-run-output-device", "not a regular file")
def _(folder):
    good_model(folder)
    good_x(folder)
    return ["fmlc", "run", "m.onnx", "--input", "x.npy", "--output", "/dev/null"]


# --------------------------------------------------------------------------------------------
# broken compiled folders
# --------------------------------------------------------------------------------------------


def broken(name: str, target: str, expect: str, command: str = "run"):
    def register(corrupt: Callable[[Path], None]):
        def make(folder: Path) -> list[str]:
            corrupt(folder / "compiled")
            if command == "report":
                return ["fmlc", "report", "compiled"]
            good_x(folder)
            backend = {"hls": "csim", "verilog": "icarus", "cuda": "cuda"}[target]
            return ["fmlc", "run", "compiled", "--input", "x.npy", "--output", "y.npy", "--backend", backend]

        CASES.append(Case(f"folder-{target}-{name}", make, expect, needs=target))
        return corrupt

    return register


def _manifest(edit: Callable[[dict], object]):
    def corrupt(folder: Path) -> None:
        data = json.loads((folder / "fmlc.json").read_text())
        result = edit(data)
        (folder / "fmlc.json").write_text(json.dumps(data if result is None else result))

    return corrupt


for _t in ("hls", "verilog", "cuda"):
    broken("manifest-missing", _t, "not an fmlc output folder")(lambda f: (f / "fmlc.json").unlink())
    broken("manifest-garbage", _t, "not valid JSON")(lambda f: (f / "fmlc.json").write_text("{ not json"))
    broken("manifest-incomplete", _t, "incomplete")(_manifest(lambda d: d.pop("inputs") and None))
    broken("model-mlir-missing", _t, "model.mlir is missing")(lambda f: (f / "model.mlir").unlink())
broken("manifest-list", "hls", "expected a JSON object", "report")(_manifest(lambda d: [d]))
broken("manifest-binary", "hls", "not valid JSON", "report")(lambda f: (f / "fmlc.json").write_bytes(b"\xff\xfe\x00"))
broken("manifest-target-unknown", "hls", "unknown target 'fpga'", "report")(_manifest(lambda d: d.update(target="fpga")))
broken("manifest-format-bad", "hls", "outputs[0]", "report")(_manifest(lambda d: d["outputs"][0].update(format="fixed<0,0>")))
broken("manifest-no-name", "cuda", "options.name", "report")(_manifest(lambda d: d["options"].pop("name") and None))
broken("model-mlir-garbage", "hls", "model.mlir:1:", "report")(lambda f: (f / "model.mlir").write_text("garbage {"))
broken("verilog-json-missing", "verilog", "verilog.json is missing", "report")(lambda f: (f / "verilog.json").unlink())
broken("verilog-json-garbage", "verilog", "not valid JSON")(lambda f: (f / "verilog.json").write_text("[1, 2"))
broken("verilog-sv-missing", "verilog", "is missing; recompile")(lambda f: next(f.glob("*_tb.sv")).unlink())
broken("cuda-mlir-garbage", "cuda", "cuda.mlir:1:", "report")(lambda f: (f / "cuda.mlir").write_text("}{"))
broken("cuda-source-missing", "cuda", "is missing; recompile")(lambda f: next(f.glob("*_host.cpp")).unlink())


@case("folder-wrong-backend", "runs with --backend", needs="hls")
def _(folder):
    good_x(folder)
    return ["fmlc", "run", "compiled", "--input", "x.npy", "--output", "y.npy", "--backend", "verilator"]


@case("folder-synth-on-hls", "--synth runs Yosys on Verilog folders", needs="hls")
def _(folder):
    return ["fmlc", "report", "compiled", "--synth"]


@case("folder-report-not-a-folder", "is not an fmlc output folder")
def _(folder):
    (folder / "plain").mkdir()
    return ["fmlc", "report", "plain"]


@case("folder-report-file", "is a file")
def _(folder):
    return ["fmlc", "report", _file(folder)]


@case("folder-report-missing", "no such folder")
def _(folder):
    return ["fmlc", "report", "nowhere"]


@case("folder-precision-on-run", "apply when importing an ONNX model", needs="hls")
def _(folder):
    good_x(folder)
    return ["fmlc", "run", "compiled", "--input", "x.npy", "--output", "y.npy", "--precision", "fixed<8,3>"]


# --------------------------------------------------------------------------------------------
# fmlc-opt
# --------------------------------------------------------------------------------------------

OPT = {
    "unknown-pass": (["m.mlir", "-p", "fxp-frobnicate"], "Unrecognized passes"),
    "bad-pass-option": (["m.mlir", "-p", "fxp-canonicalize{bad=1}"], "not found in expected arguments"),
    "bad-option-type": (["m.mlir", "-p", "fxp-to-dataflow{reuse_factor=abc}"], "Incompatible types"),
    "malformed-pipeline": (["m.mlir", "-p", "fxp-canonicalize{"], "pipeline"),
    "pass-option-range": (["m.mlir", "-p", "fxp-to-dataflow{reuse_factor=-1}"], "reuse-factor must be >= 1"),
    "pass-fails": (["m.mlir", "-p", "dataflow-to-hls"], "run fxp-to-dataflow before dataflow-to-hls"),
    "missing-file": (["missing.mlir"], "missing.mlir: no such file"),
    "unknown-target": (["m.mlir", "-t", "fortran"], "--target"),
    "unknown-option": (["m.mlir", "--frobnicate"], "unrecognized arguments"),
    "unknown-extension": (["m.txt"], "Unrecognized file extension"),
}

for _key, (_args, _expect) in OPT.items():

    def _make(folder: Path, args=_args) -> list[str]:
        good_ir(folder)
        (folder / "m.txt").write_text(GOOD_IR)
        return ["fmlc-opt", *args, "-o", "o.mlir"]

    case(f"opt-{_key}", _expect)(_make)

for _key, (_text, _expect) in BAD_IR.items():
    if _key in ("no-function", "two-functions-no-main", "reuse-negative", "reuse-zero", "reuse-string", "io-sideways"):
        continue  # valid IR for fmlc-opt

    def _make(folder: Path, text=_text) -> list[str]:
        (folder / "m.mlir").write_text(text)
        return ["fmlc-opt", "m.mlir", "-o", "o.mlir"]

    case(f"opt-mlir-{_key}", _expect)(_make)


@case("opt-binary", "m.mlir: not UTF-8")
def _(folder):
    (folder / "m.mlir").write_bytes(bytes(range(256)) * 4)
    return ["fmlc-opt", "m.mlir"]


@case("opt-folder-input", "is a folder")
def _(folder):
    (folder / "m.mlir").mkdir()
    return ["fmlc-opt", "m.mlir"]


@case("opt-output-folder", "is a folder")
def _(folder):
    good_ir(folder)
    (folder / "o.mlir").mkdir()
    return ["fmlc-opt", "m.mlir", "-o", "o.mlir"]


@case("opt-output-under-file", "is a file, not a folder")
def _(folder):
    good_ir(folder)
    return ["fmlc-opt", "m.mlir", "-o", f"{_file(folder)}/o.mlir"]


@case("opt-verifier-after-pass", "m.mlir: fxp.dense: reuse factor must be >= 1")
def _(folder):
    (folder / "m.mlir").write_text(GOOD_IR.replace('name = "fc"', 'name = "fc", fmlc.reuse_factor = -1 : i64'))
    return ["fmlc-opt", "m.mlir", "-p", "fxp-to-dataflow", "-o", "o.mlir"]


def copy_compiled(source: Path, folder: Path) -> None:
    shutil.copytree(source, folder / "compiled")


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with its kind and, for files, a hash of its bytes."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for d in dirnames:
            found[os.path.relpath(os.path.join(dirpath, d), folder)] = "dir"
        for f in filenames:
            path = os.path.join(dirpath, f)
            found[os.path.relpath(path, folder)] = hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else "other"
    return found
