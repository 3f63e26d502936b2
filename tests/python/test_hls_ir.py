"""The vhls dialect, the dataflow-to-hls pass and the C++ printer, short of running the C simulation.

- the result types the verifiers demand for ``vhls.add/sub/mul`` are those g++ gives the same
  ``ap_fixed`` expressions (checked against the headers on random type pairs);
- the lowered IR prints, parses and prints again to the same text;
- what the target cannot do stops with an error naming the node, the op and the reason, and
  leaves no output folder;
- names from ONNX are made C++ identifiers, unique, never a keyword;
- the report counts multiplications by non-zero weights and sums the latency.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from xdsl.dialects.arith import Arith
from xdsl.dialects.builtin import StringAttr, TensorType, f32
from xdsl.parser import Parser

from apfixed import PRELUDE, build_and_run
from fmlc.dialects import fxp, hls
from fmlc.driver import CompileError, CompileOptions, compile_model, prepare
from fmlc.fixed import FixedFormat
from fmlc.ir import FunctionBuilder, make_context, print_module
from fmlc.lowering.dataflow_to_hls import DataflowToHls, Namer, c_identifier
from fmlc.lowering.hls_to_cpp import ap_type, emit_cpp
from fmlc.netgen import KINDS, random_network
from fmlc.targets.hls import HlsTarget, hls_report


def hls_context():
    ctx = make_context()
    ctx.load_dialect(Arith)
    return ctx


# --------------------------------------------------------------------------------------------
# ap_fixed's arithmetic types, from the headers themselves
# --------------------------------------------------------------------------------------------


def test_result_types_match_ap_fixed():
    rng = random.Random(11)
    pairs = []
    for _ in range(24):  # every pair is three template instantiations for g++ to compile
        a = FixedFormat(rng.randint(1, 40), rng.randint(-6, 44), rng.random() < 0.6)
        b = FixedFormat(rng.randint(1, 40), rng.randint(-6, 44), rng.random() < 0.6)
        pairs.append((a, b))
    lines = [
        PRELUDE,
        "template <class T> struct sign;",
        "template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct sign<ap_fixed<W, I, Q, O, N>> { enum { value = 1 }; };",
        "template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct sign<ap_ufixed<W, I, Q, O, N>> { enum { value = 0 }; };",
        'template <class T> void show(const T&) { std::printf("%d %d %d\\n", T::width, T::iwidth, (int)sign<T>::value); }',
        "int main() {",
    ]
    for a, b in pairs:
        lines.append(f"{{ {ap_type(a)} x = 0; {ap_type(b)} y = 0; show(x * y); show(x + y); show(x - y); }}")
    lines.append("}")
    out = build_and_run(["\n".join(lines) + "\n"], "hls-rtypes")
    got = [tuple(int(v) for v in out[k : k + 3]) for k in range(0, len(out), 3)]
    want = []
    for a, b in pairs:
        for rule in (hls.mul_format, hls.add_format, hls.sub_format):
            f = rule(a, b)
            want.append((f.width, f.int_bits, int(f.signed)))
    assert got == want


# --------------------------------------------------------------------------------------------
# the pass
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("io", ["parallel", "stream"])
@pytest.mark.parametrize("kind", KINDS)
def test_lowered_ir_round_trips(kind, io):
    module = prepare(random_network(kind, 7), CompileOptions(io=io, reuse_factor=3))
    DataflowToHls(top="rt").apply(hls_context(), module)
    module.verify()
    text = print_module(module)
    again = Parser(hls_context(), text).parse_module()
    again.verify()
    assert print_module(again) == text
    assert emit_cpp(again) == emit_cpp(module)


def _dense_net(weight_is_constant: bool = True):
    inputs = [TensorType(f32, [4])] + ([] if weight_is_constant else [TensorType(f32, [4, 3])])
    b = FunctionBuilder("main", inputs)
    x = b.add(fxp.QuantizeOp(b.args[0], FixedFormat(8, 3))).result
    if weight_is_constant:
        w = b.add(fxp.ConstantOp(np.arange(12).reshape(4, 3) - 6, FixedFormat(5, 2))).result
    else:  # weights that arrive at run time
        w = b.add(fxp.QuantizeOp(b.args[1], FixedFormat(5, 2))).result
    acc = FixedFormat(20, 10)
    y = b.add(fxp.DenseOp(x, w, None, acc, FixedFormat(10, 5)), name="dense_1").result
    return b.finish([y])


def test_error_names_node_and_op_for_non_constant_weights(tmp_path):
    module = _dense_net(weight_is_constant=False)
    out = tmp_path / "out"
    with pytest.raises(CompileError, match=r"fxp\.dense in dataflow\.node 'dense_1'.*the weight must be an fxp\.constant"):
        compile_model(module, out, CompileOptions(target="hls"))
    assert not out.exists() and not list(tmp_path.iterdir()), "a failed compile leaves nothing behind"


def test_error_for_two_ops_in_one_node():
    module = prepare(_dense_net(), CompileOptions())
    node = next(op for op in module.walk() if op.name == "dataflow.node")
    dense = node.main_op()
    relu = fxp.ReluOp(dense.result, fxp.element_format(dense.result))
    node.block.insert_op_after(relu, dense)
    with pytest.raises(Exception, match=r"dataflow\.node 'dense_1'.*holds 2 computing ops.*one op a node"):
        DataflowToHls().apply(hls_context(), module)


def test_error_for_reserved_top_name(tmp_path):
    with pytest.raises(CompileError, match="reserved C\\+\\+ name"):
        compile_model(_dense_net(), tmp_path / "o", CompileOptions(target="hls", name="int"))


def test_error_for_unlowered_ops():
    module = _dense_net()  # no fxp-to-dataflow: the dense is outside any node
    with pytest.raises(Exception, match=r"fxp\.dense 'dense_1': is outside a dataflow\.node"):
        DataflowToHls().apply(hls_context(), module)


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------


def test_c_identifiers():
    assert c_identifier("dense/MatMul:0") == "dense_MatMul_0"
    assert c_identifier("1st layer") == "l_1st_layer"
    assert c_identifier("int") == "int_" and c_identifier("_x") == "x" and c_identifier("__") == "v"
    names = Namer()
    assert [names("a b"), names("a_b"), names("a-b"), names("for")] == ["a_b", "a_b_1", "a_b_2", "for_"]


def test_onnx_names_become_unique_cpp_names(tmp_path):
    b = FunctionBuilder("main", [TensorType(f32, [3])], ["input:0"])
    x = b.add(fxp.QuantizeOp(b.args[0], FixedFormat(8, 3))).result
    y = b.add(fxp.ReluOp(x, FixedFormat(8, 3)), name="Relu/1").result
    # a different result type keeps it: canonicalization drops a ReLU of values already >= 0
    z = b.add(fxp.ReluOp(y, FixedFormat(6, 2, True, "RND", "SAT")), name="Relu:1").result
    out = compile_model(b.finish([z]), tmp_path / "o", CompileOptions(target="hls", name="names"))
    layers = sorted(p.stem for p in (out / "firmware" / "layers").glob("*.cpp"))
    assert layers == ["Relu_1", "Relu_1_1"]
    assert "void names(const input_t input[3]" in (out / "firmware" / "names.cpp").read_text()


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def test_report_counts_nonzero_weights(tmp_path):
    module = _dense_net()  # weights -6..5: one zero among 12
    out = compile_model(module, tmp_path / "o", CompileOptions(target="hls", name="rep", reuse_factor=4, part="xcku115-flvb2104-2-e", clock_period=2.5))
    report = HlsTarget().report(out)
    row = next(line for line in report.splitlines() if line.startswith("dense_1"))
    assert row.split()[:8] == ["dense_1", "dense", "parallel", "4", "4", "7", "11", "11"]
    assert "part xcku115-flvb2104-2-e  clock 2.5 ns" in report
    assert "total: latency 7 cycles (17.5 ns), II 4 cycles, 11 multiplications per sample" in report


def test_report_is_the_target_report(tmp_path):
    from fmlc.driver import load_manifest
    from fmlc.ir import parse_module

    out = compile_model(random_network("conv2d", 1), tmp_path / "o", CompileOptions(target="hls", name="c2"))
    text = hls_report(parse_module((out / "model.mlir").read_text()), load_manifest(out))
    assert text == HlsTarget().report(out)
    assert sum(1 for line in text.splitlines() if line.split() and line.split()[1] in ("conv", "dense")) == 3


def test_stream_depths_come_from_the_dataflow_ir():
    module = prepare(random_network("conv1d", 2), CompileOptions(io="stream"))
    depths = {op.layer.data: op.stream_depth.value.data for op in module.walk() if op.name == "dataflow.node"}
    DataflowToHls(top="d").apply(hls_context(), module)
    channels = {op.result.name_hint: op.depth.value.data for op in module.walk() if isinstance(op, hls.ChannelOp)}
    assert channels and all(channels[f"{layer}_out"] == d for layer, d in depths.items() if f"{layer}_out" in channels)


def test_node_io_attribute_is_respected():
    module = random_network("mlp", 2)
    ops = [op for op in module.walk() if op.name in ("fxp.dense", "fxp.relu", "fxp.table", "fxp.cast", "fxp.leaky_relu")]
    ops[0].attributes["fmlc.io"] = StringAttr("stream")
    module = prepare(module, CompileOptions(io="parallel"))
    DataflowToHls(top="mixed").apply(hls_context(), module)
    names = [op.sym_name.data for op in module.walk() if isinstance(op, hls.FuncOp)]
    assert any(n.endswith("_to_stream") for n in names) and any(n.endswith("_to_array") for n in names), names
