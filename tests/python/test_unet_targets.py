"""A U-Net-shaped network, built directly as fxp IR, on every target: bit-exact integer codes.

The network is what a small segmentation U-Net is made of: an encoder (3x3 convolution with
zero padding, leaky ReLU, 2x2 max pooling), a bottleneck convolution with per-channel leaky
ReLU (PRelu), and a decoder that upsamples by 2 (``fxp.upsample``, nearest neighbour),
concatenates the skip connection along the channels (two branches of different types, which
precision inference brings to one exact type) and convolves again, ending in a 1x1
convolution to per-pixel class scores.

- emulator vs HLS C simulation (parallel arrays and streams), the CUDA target's host path
  (the kernels' per-sample code built with g++; raw codes and the float API with the device
  quantizer) and RTL simulation (Icarus; Verilator on the upsample/concat network, and on the
  U-Net with ``FMLC_SLOW_TESTS=1``: its build takes a minute), the U-Net at a smaller size
  there since every layer becomes logic: every output code equal;
- the semantics of upsampling and channel concatenation against a numpy reference written
  from their definitions (index arithmetic and exact values, not the emulator), on every
  target too;
- the ONNX ``Resize`` modes (nearest, integer factors) that are exactly this upsampling,
  checked against onnxruntime, the reference QONNX's executor runs.
"""

from __future__ import annotations

import itertools
import os
import shutil

import numpy as np
import pytest
from xdsl.dialects.builtin import TensorType, f32
from xdsl.rewriter import Rewriter

from fmlc.dialects import fxp
from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs, resolve
from fmlc.emulator import Emulator
from fmlc.fixed import FixedFormat
from fmlc.ir import FunctionBuilder, main_function

SAMPLES = 64
INPUT = FixedFormat(8, 3, True, "RND", "SAT")
WEIGHT = FixedFormat(6, 0, True)
BIAS = FixedFormat(8, 2, True)
ALPHA = FixedFormat(4, 0, False)  # 0.125 = code 2, per-channel alphas 1/16 .. 4/16


def unet(shape=(16, 16, 3), f1=4, f2=8, classes=2, seed=0):
    """The U-Net-shaped network, types resolved (a fresh module each call)."""
    rng = np.random.default_rng(seed)
    b = FunctionBuilder("main", [TensorType(f32, list(shape))], ["image"])

    def const(codes, fmt):
        return b.add(fxp.ConstantOp(np.asarray(codes, dtype=np.int64), fmt)).result

    def conv(x, kernel, filters, out, name, padding):
        c = fxp.shape_of(x)[-1]
        w = const(rng.integers(WEIGHT.min_code, WEIGHT.max_code + 1, (*kernel, c, filters)), WEIGHT)
        bias = const(rng.integers(-40, 41, filters), BIAS)
        return b.add(fxp.ConvOp(x, w, bias, None, out, padding=padding), name=name).result

    def leaky(x, alpha_codes, out, name):
        return b.add(fxp.LeakyReluOp(x, const(alpha_codes, ALPHA), out), name=name).result

    x = b.add(fxp.QuantizeOp(b.args[0], INPUT), name="quant_in").result
    # encoder
    e1 = conv(x, (3, 3), f1, FixedFormat(10, 4, True, "RND", "SAT"), "enc_conv", (1, 1, 1, 1))
    skip = leaky(e1, [2], FixedFormat(9, 4, True, "RND_CONV", "SAT"), "enc_lrelu")
    p1 = b.add(fxp.MaxPoolOp(skip, None, (2, 2)), name="enc_pool").result
    # bottleneck, per-channel alpha (PRelu)
    e2 = conv(p1, (3, 3), f2, FixedFormat(12, 5, True, "RND", "SAT"), "mid_conv", (1, 1, 1, 1))
    mid = leaky(e2, rng.integers(1, 5, f2), FixedFormat(8, 4, True, "RND", "SAT"), "mid_prelu")
    # decoder: upsample x2, concatenate the skip connection (another type), convolve
    up = b.add(fxp.UpsampleOp(mid, (2, 2)), name="dec_up").result
    cat = concat_auto(b, [up, skip], "dec_concat")
    d = conv(cat, (3, 3), f1, FixedFormat(10, 4, True, "RND", "SAT"), "dec_conv", (1, 1, 1, 1))
    d = leaky(d, [2], FixedFormat(9, 4, True, "TRN", "SAT"), "dec_lrelu")
    y = conv(d, (1, 1), classes, FixedFormat(16, 8, True, "RND", "SAT"), "head", None)
    return resolve(b.finish([y]))


def concat_auto(b: FunctionBuilder, values, name: str):
    """Channel concatenation whose result type precision inference chooses (the inputs differ)."""
    op = fxp.ConcatOp(values, len(fxp.shape_of(values[0])) - 1)
    Rewriter.replace_value_with_new_type(op.result, fxp.fixed_tensor(None, fxp.shape_of(op.result)))
    return b.add(op, name=name).result


# --------------------------------------------------------------------------------------------
# the numpy reference of upsampling and concatenation, from the definitions
# --------------------------------------------------------------------------------------------

MOVE_IN = (4, 3, 3)
MOVE_A = FixedFormat(8, 3, True)  # the quantized input, on the grid 1/32
MOVE_B = FixedFormat(6, 2, False, "RND", "SAT")  # relu of it, grid 1/16


def move_net():
    """``concat(upsample(q, 2x3), upsample(relu(q), 2x3))`` along the channels: two types meet."""
    b = FunctionBuilder("main", [TensorType(f32, list(MOVE_IN))], ["x"])
    q = b.add(fxp.QuantizeOp(b.args[0], MOVE_A)).result
    r = b.add(fxp.ReluOp(q, MOVE_B), name="relu").result
    ua = b.add(fxp.UpsampleOp(q, (2, 3)), name="up_a").result
    ub = b.add(fxp.UpsampleOp(r, (2, 3)), name="up_b").result
    y = concat_auto(b, [ua, ub], "cat")
    return resolve(b.finish([y]))


def upsample_reference(x: np.ndarray, factors) -> np.ndarray:
    """``y[n, o_0, o_1, c] = x[n, floor(o_0 / f_0), floor(o_1 / f_1), c]``: a gather by index."""
    index = np.ix_(*[np.arange(x.shape[0])] + [np.arange(n * f) // f for n, f in zip(x.shape[1:-1], factors)] + [np.arange(x.shape[-1])])
    return x[index]


def move_inputs(n: int, seed: int) -> np.ndarray:
    """Values on the 1/16 grid in [-4, 4): the quantizer and the relu cast are exact on them."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-64, 64, (n, *MOVE_IN)) / 16).astype(np.float32)


def move_reference(x: np.ndarray) -> np.ndarray:
    """The values of move_net's output: channels [0, C) the upsampled input, [C, 2C) its relu."""
    factors = (2, 3)
    a = upsample_reference(x.astype(np.float64), factors)
    relu = np.maximum(x.astype(np.float64), 0.0)
    c = x.shape[-1]
    out = np.empty(a.shape[:-1] + (2 * c,))
    out[..., :c] = a
    out[..., c:] = upsample_reference(relu, factors)
    return out


def test_move_net_matches_numpy_reference():
    module = move_net()
    x = move_inputs(SAMPLES, 1)
    (values,) = Emulator(module).run(x)
    assert values.shape == (SAMPLES, 8, 9, 6)
    assert np.array_equal(values, move_reference(x))
    # and the reference is not vacuous: both halves vary, and the relu half differs from the first
    assert np.unique(values[..., :3]).size > 50 and np.any(values[..., :3] != values[..., 3:])


def test_upsample_reference_is_onnx_resize():
    """The reference gather equals onnxruntime's Resize (nearest) for these modes, any integer
    factor; others equal it for factor 2 only, or not at all (the importer must refuse them)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    always = {
        ("half_pixel", "round_prefer_floor"), ("half_pixel", "round_prefer_ceil"),
        ("pytorch_half_pixel", "round_prefer_floor"), ("pytorch_half_pixel", "round_prefer_ceil"),
        ("half_pixel_symmetric", "round_prefer_floor"), ("half_pixel_symmetric", "round_prefer_ceil"),
        ("asymmetric", "floor"),
    }  # fmt: skip
    factor_two_only = {("asymmetric", "round_prefer_floor"), ("align_corners", "round_prefer_floor"), ("align_corners", "round_prefer_ceil")}
    modes = ("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric", "asymmetric", "align_corners")
    rounding = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 3)).astype(np.float32)
    for ctm, nm in itertools.product(modes, rounding):
        for f in (2, 3):
            node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", coordinate_transformation_mode=ctm, nearest_mode=nm)
            graph = helper.make_graph(
                [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, f, f])],
            )  # fmt: skip
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
            got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            nhwc = upsample_reference(x.transpose(0, 2, 3, 1), (f, f)).transpose(0, 3, 1, 2)
            same = got.shape == nhwc.shape and np.array_equal(got, nhwc)
            expected = (ctm, nm) in always or (f == 2 and (ctm, nm) in factor_two_only)
            assert same == expected, f"Resize {ctm}/{nm} factor {f}: equal to the gather {same}, expected {expected}"


# --------------------------------------------------------------------------------------------
# the U-Net on the emulator: shapes, types, and outputs that are not trivial
# --------------------------------------------------------------------------------------------


def unet_inputs(emu: Emulator, n: int, seed: int) -> np.ndarray:
    """Floats over the input range, a tenth of them ties of the input grid."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, (n, *emu.input_shapes[0]))
    ties = rng.random(x.shape) < 0.1
    x[ties] = np.round(x[ties] * 32) / 32 + 1 / 64
    return x.astype(np.float32)


def test_unet_resolves_and_runs():
    module = unet()
    ops = {op.name for op in module.walk()}
    assert {"fxp.conv", "fxp.leaky_relu", "fxp.maxpool", "fxp.upsample", "fxp.concat", "fxp.cast"} <= ops
    cat = next(op for op in module.walk() if isinstance(op, fxp.ConcatOp))
    # the branches had different types: precision inference made them meet in one exact type
    assert any(isinstance(v.owner, fxp.CastOp) for v in cat.inputs)
    emu = Emulator(module)
    (y,) = emu.run(unet_inputs(emu, SAMPLES, 0), raw=True)
    assert y.shape == (SAMPLES, 16, 16, 2)
    assert np.unique(y).size > 100  # the codes vary: a comparison of them means something


# --------------------------------------------------------------------------------------------
# the targets
# --------------------------------------------------------------------------------------------


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{what}: {len(bad)} of {want.size} codes differ, first at {tuple(bad[0])}: got {got[tuple(bad[0])]}, expected {want[tuple(bad[0])]}"


def move_codes(module, x: np.ndarray) -> np.ndarray:
    """The reference values of move_net as codes of its (inferred) output type."""
    fmt = fxp.element_format(main_function(module).body.block.last_op.operands[0])
    codes = move_reference(x) * 2.0**fmt.frac
    assert np.array_equal(codes, np.round(codes))
    return codes.astype(np.int64)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("unet")


def test_hls_csim(workdir):
    from test_hls_csim import build_many, run_entry

    folders = {}
    for io in ("parallel", "stream"):
        folders[("unet", io)] = compile_model(unet(), workdir / f"unet_{io}", CompileOptions(target="hls", name=f"unet_{io}", io=io))
        folders[("move", io)] = compile_model(move_net(), workdir / f"move_{io}", CompileOptions(target="hls", name=f"move_{io}", io=io))
    lib, diagnostics = build_many(list(folders.values()), "unet")
    assert diagnostics == "", diagnostics[-4000:]
    emu = Emulator(unet())
    x = unet_inputs(emu, SAMPLES, 2)
    (want,) = emu.run(x, raw=True)
    xm = move_inputs(SAMPLES, 3)
    want_move = move_codes(move_net(), xm)
    for io in ("parallel", "stream"):
        folder = folders[("unet", io)]
        (got,) = run_entry(lib, folder, quantize_inputs(load_manifest(folder), [x]))
        assert_same(got, want, f"HLS C-sim, io {io}")
        folder = folders[("move", io)]
        (got,) = run_entry(lib, folder, quantize_inputs(load_manifest(folder), [xm]))
        assert_same(got, want_move, f"HLS C-sim upsample/concat vs numpy, io {io}")


def test_cuda_host_path(workdir):
    from fmlc.targets.cuda import build_host_bundle, run_program

    nets = {"unet": unet, "move": move_net}
    folders = {k: compile_model(make(), workdir / f"cuda_{k}", CompileOptions(target="cuda", name=f"{k}_net")) for k, make in nets.items()}
    program = build_host_bundle(list(folders.values()))
    for k, make in nets.items():
        emu = Emulator(make())
        x = unet_inputs(emu, SAMPLES, 4) if k == "unet" else move_inputs(SAMPLES, 5)
        (want,) = emu.run(x, raw=True)
        if k == "move":
            assert_same(want, move_codes(make(), x), "emulator upsample/concat vs numpy")
        n, flat = len(x), x.reshape(len(x), -1)
        codes = quantize_inputs(load_manifest(folders[k]), [x])[0].reshape(n, -1)
        raw = run_program(program, "raw", codes, np.int64, n, want[0].size, model=f"{k}_net")
        assert_same(raw.reshape(want.shape), want, f"CUDA host path, raw codes, {k}")
        dev = run_program(program, "codes", flat, np.int64, n, want[0].size, model=f"{k}_net")
        assert_same(dev.reshape(want.shape), want, f"CUDA host path, float in (device quantizer), {k}")


VERILOG_SHAPE = dict(shape=(4, 4, 2), f1=2, f2=2)
SLOW = os.environ.get("FMLC_SLOW_TESTS") == "1"


@pytest.fixture(scope="module")
def rtl(workdir):
    """The Verilog target's folders: the U-Net at a smaller size (every layer becomes logic) and the move net."""
    cases = {"unet": lambda: unet(**VERILOG_SHAPE), "move": move_net}
    return {k: (make, compile_model(make(), workdir / f"rtl_{k}", CompileOptions(target="verilog", name=f"{k}_rtl", adders_per_stage=3))) for k, make in cases.items()}


@pytest.mark.parametrize(
    "net, backend",
    [
        ("unet", "icarus"),
        ("move", "icarus"),
        ("move", "verilator"),
        pytest.param("unet", "verilator", marks=pytest.mark.skipif(not SLOW, reason="Verilator builds the U-Net for a minute: FMLC_SLOW_TESTS=1")),
    ],
)
def test_rtl_simulation(rtl, net, backend):
    from fmlc.targets.verilog import VerilogTarget

    tool = "iverilog" if backend == "icarus" else "verilator"
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool} (`apt-get install -y {tool}`)")
    make, out = rtl[net]
    emu = Emulator(make())
    x = unet_inputs(emu, SAMPLES, 6) if net == "unet" else move_inputs(SAMPLES, 7)
    (want,) = emu.run(x, raw=True)
    if net == "move":
        assert_same(want, move_codes(make(), x), "emulator upsample/concat vs numpy")
    (got,) = VerilogTarget().run(out, quantize_inputs(load_manifest(out), [x]), backend)
    assert_same(got, want, f"{backend}, {net}")
