"""``fmlc profile``: the counts against cases worked out by hand, streaming, the plot, the command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.ir import FunctionBuilder, print_module
from fmlc.profile import cast_counts, profile_module, write_plot
from xdsl.dialects.builtin import TensorType, f32

F = FixedFormat.parse

# Two samples of four features, each value chosen for what the input type fixed<6,3,RND,SAT>
# (LSB 1/8, codes -32..31, values -4..3.875) does to it:
#   5.0 -> code 40: saturates to 31      0.05 -> 0.4: rounds to 0      -4.5 -> -36: saturates to -32
#   1.0 -> 8                              0.07 -> 0.56: rounds to 1     -0.06 -> -0.48: rounds to 0
#   3.9 -> 31.2: rounds to 31 (3.875)    -3.0 -> -24
X = np.array([[5.0, 0.05, -4.5, 1.0], [0.07, -0.06, 3.9, -3.0]], dtype=np.float32)
Q = np.array([[3.875, 0, -4, 1], [0.125, 0, 3.875, -3]])  # the quantized values


def tiny_module():
    """quantize -> cast (wraps) ; quantize -> cast (truncates to integers) ; quantize -> dense (acc wraps, result saturates)."""
    b = FunctionBuilder("main", [TensorType(f32, [4])])
    q = b.add(fxp.QuantizeOp(b.args[0], F("fixed<6,3,RND,SAT>"))).result
    wrap = b.add(fxp.CastOp(q, F("fixed<5,2,TRN,WRAP>")), name="to_wrap").result
    ints = b.add(fxp.CastOp(q, F("fixed<4,4,TRN,SAT>")), name="to_int").result
    # column 0: x0 + x3; column 1: 2 * x2 (integer weights, exact products at the input's LSB)
    w = b.add(fxp.ConstantOp(np.array([[1, 0], [0, 0], [0, 2], [1, 0]]), F("fixed<3,3>"))).result
    dense = b.add(fxp.DenseOp(q, w, None, F("fixed<6,3,TRN,WRAP>"), F("fixed<4,2,TRN,SAT>")), name="dense").result
    return b.finish([wrap, ints, dense])


def test_counts_match_the_hand_worked_cases():
    prof = profile_module(tiny_module(), [X])
    rows = {(t.layer, t.role): t for t in prof.tensors}

    inp = rows[("input main", "input")] if ("input main", "input") in rows else next(t for t in prof.tensors if t.role == "input")
    # 5.0 and -4.5 saturate; 0.05 and -0.06 round to zero; 0.07 rounds up to one LSB
    assert (inp.saturated, inp.wrapped, inp.rounded_to_zero) == (2, 0, 2)
    assert (inp.min, inp.max, inp.count, inp.zeros) == (-4.5, 5.0, 8, 0)
    assert inp.type_min == -4.0 and inp.type_max == 3.875 and inp.lsb == 0.125

    # fixed<5,2,TRN,WRAP> holds -2..1.875 at the same LSB: 3.875, -4, 3.875 and -3 leave it
    to_wrap = rows[("to_wrap", "result")]
    assert (to_wrap.saturated, to_wrap.wrapped, to_wrap.rounded_to_zero) == (0, 4, 0)

    # fixed<4,4,TRN,SAT>: integers -8..7, floor; only 0.125 becomes 0 (3.875 -> 3, -3 stays)
    to_int = rows[("to_int", "result")]
    assert (to_int.saturated, to_int.wrapped, to_int.rounded_to_zero) == (0, 0, 1)
    # its exact values are the quantized ones: |x| = 3.875, 4, 1, 0.125, 3.875, 3 and two zeros
    assert to_int.log2_hist == {"-3": 1, "0": 1, "1": 3, "2": 1}
    assert to_int.zeros == 2

    # exact sums: sample 0: 3.875 + 1 = 4.875 and 2 * -4 = -8; sample 1: 0.125 - 3 = -2.875 and
    # 2 * 3.875 = 7.75.  The accumulator fixed<6,3,TRN,WRAP> holds -4..3.875: three sums wrap,
    # to -3.125, 0 and -0.25.  The result fixed<4,2,TRN,SAT> holds -2..1.75 at LSB 1/4: -3.125
    # and -2.875 saturate, 0 stays exactly 0, -0.25 fits.
    acc = rows[("dense", "accumulator")]
    assert (acc.saturated, acc.wrapped, acc.rounded_to_zero) == (0, 3, 0)
    assert (acc.min, acc.max) == (-8.0, 7.75)
    out = rows[("dense", "result")]
    assert (out.saturated, out.wrapped, out.rounded_to_zero) == (2, 0, 0)

    weight = rows[("dense", "weight")]
    assert (weight.count, weight.zeros, weight.min, weight.max) == (8, 5, 0.0, 2.0)
    assert weight.saturated is None  # constants are stored already quantized: nothing to count

    # signed percentiles of the input are numpy's, of the float values themselves
    assert inp.percentiles["p50"] == pytest.approx(float(np.percentile(X.astype(np.float64), 50)), abs=0)


def test_rows_are_in_program_order_with_parameters_before_their_layer():
    prof = profile_module(tiny_module(), [X])
    assert [(t.layer.split(" ")[0], t.role) for t in prof.tensors] == [
        ("input", "input"), ("to_wrap", "result"), ("to_int", "result"),
        ("dense", "weight"), ("dense", "accumulator"), ("dense", "result"),
    ]


def test_every_op_of_a_dense_relu_network_has_its_row():
    # the emulator runs dense + relu as one step; the profile still sees both results
    b = FunctionBuilder("main", [TensorType(f32, [4])])
    q = b.add(fxp.QuantizeOp(b.args[0], F("fixed<6,3,RND,SAT>"))).result
    w = b.add(fxp.ConstantOp(np.array([[1, -1], [0, 2], [1, 1], [-2, 0]]), F("fixed<3,3>"))).result
    y = b.add(fxp.DenseOp(q, w, None, None, F("fixed<6,3,RND,SAT>")), name="dense").result
    z = b.add(fxp.ReluOp(y, None), name="relu").result
    module = b.finish([z])
    from fmlc.passes.infer_precision import InferPrecision

    InferPrecision().apply(None, module)
    rows = {(t.layer, t.role): t for t in profile_module(module, [X]).tensors}
    # exact sums of the quantized inputs Q: sample 0: -2.125, -7.875; sample 1: 10, 3.75.  The
    # result fixed<6,3,RND,SAT> (-4..3.875) saturates -7.875 and 10; ReLU then sees -2.125, -4,
    # 3.875, 3.75 and gives 0, 0, 3.875, 3.75
    dense, relu = rows[("dense", "result")], rows[("relu", "result")]
    assert (dense.min, dense.max, dense.saturated) == (-7.875, 10.0, 2)
    assert (relu.min, relu.max, relu.zeros, relu.saturated) == (0.0, 3.875, 2, 0)


def test_chunks_do_not_change_the_profile():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((37, 4)) * 3).astype(np.float32)
    whole = profile_module(tiny_module(), [x], chunk=4096)
    pieces = profile_module(tiny_module(), [x], chunk=5)
    assert whole.to_json() == pieces.to_json()
    total = {t.name: t.overflows for t in whole.tensors}
    assert sum(total.values()) > 0  # the data does exercise the counts


@pytest.mark.parametrize(
    "codes, frac, dst, expect",
    [
        # SAT_SYM: fixed<3,3> keeps -3..3, so -4 counts as saturated; 0.5 rounds (RND) to 1
        ([-4, -3, 3, 1, 0], 0, "fixed<3,3,RND,SAT_SYM>", (1, 0, 0)),
        # SAT_ZERO counts as saturating; codes at frac 2 = 0.25, -0.25 round (TRN) to 0 and -1
        ([1, -1, 40, 0], 2, "fixed<4,4,TRN,SAT_ZERO>", (1, 0, 1)),
        # unsigned WRAP: negatives and 16+ leave ufixed<4,4>
        ([-1, 15, 16, 3], 0, "ufixed<4,4>", (0, 2, 0)),
        # rounding up past the top is an overflow too: 7.5 -> 8 with RND in fixed<4,4>
        ([15, 13], 1, "fixed<4,4,RND,SAT>", (1, 0, 0)),
    ],
)
def test_cast_counts(codes, frac, dst, expect):
    a = np.array(codes, dtype=np.int64)
    assert cast_counts(a, frac, 8, F(dst)) == expect


def test_plot_is_a_deterministic_png(tmp_path):
    pytest.importorskip("matplotlib")
    prof = profile_module(tiny_module(), [X])
    write_plot(prof, tmp_path / "a.png")
    write_plot(prof, tmp_path / "b.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data == (tmp_path / "b.png").read_bytes()


def fmlc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fmlc.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_command_writes_json_and_png_from_ir(tmp_path):
    pytest.importorskip("matplotlib")
    ir = tmp_path / "tiny.mlir"
    ir.write_text(print_module(tiny_module()))
    np.save(tmp_path / "x.npy", X)
    proc = fmlc("profile", ir, "--input", tmp_path / "x.npy", "-o", tmp_path / "prof")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "prof" / "profile.json").read_text())
    dense = next(t for t in data["tensors"] if t["layer"] == "dense" and t["role"] == "result")
    assert (dense["saturated"], dense["wrapped"]) == (2, 0)
    assert (tmp_path / "prof" / "profile.png").read_bytes()[:4] == b"\x89PNG"
    assert "to_wrap" in proc.stdout and "sat" in proc.stdout


def test_command_refuses_bad_input_and_leaves_nothing(tmp_path):
    ir = tmp_path / "tiny.mlir"
    ir.write_text(print_module(tiny_module()))
    np.save(tmp_path / "x.npy", np.zeros((3, 5), dtype=np.float32))
    proc = fmlc("profile", ir, "--input", tmp_path / "x.npy", "-o", tmp_path / "prof")
    assert proc.returncode == 2
    assert proc.stderr.startswith("fmlc: error:") and "x.npy" in proc.stderr and "(N, 4)" in proc.stderr
    assert not (tmp_path / "prof").exists()
