"""The emulator's fused dense steps (``fuse_linear_casts``) give the unfused kernels' codes exactly.

Random dense layers followed by a ReLU or a cast, over the rounding and overflow modes, signed
and unsigned types, LSBs moving down, up and not at all, float32 and float64 sums, explicit
and inferred accumulators; each network runs fused and unfused on random codes of its input
type, and the codes are compared with ``==``.
"""

from __future__ import annotations

import numpy as np
import pytest
from fmlc.dialects import fxp
from fmlc.emulator import Emulator
from fmlc.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from fmlc.ir import FunctionBuilder
from fmlc.passes.infer_precision import InferPrecision
from xdsl.dialects.builtin import TensorType, f32

CASES = 160


def random_format(rng, width_range=(3, 14), signed=None) -> FixedFormat:
    width = int(rng.integers(*width_range))
    signed = bool(rng.integers(0, 2)) if signed is None else signed
    return FixedFormat(width, int(rng.integers(-3, width + 3)), signed, str(rng.choice(ROUNDING_MODES)), str(rng.choice(OVERFLOW_MODES)))


def random_network(rng):
    fx = random_format(rng, (4, 17), signed=bool(rng.integers(0, 2)))
    k, m = int(rng.integers(1, 24)), int(rng.integers(1, 12))
    fw = random_format(rng, (2, 12), signed=True)
    b = FunctionBuilder("main", [fxp.fixed_tensor(fx, [k])])
    w = b.add(fxp.ConstantOp(rng.integers(fw.min_code, fw.max_code + 1, (k, m)), fw)).result
    bias = None
    if rng.integers(0, 2):
        fb = random_format(rng, (2, 14), signed=True)
        bias = b.add(fxp.ConstantOp(rng.integers(fb.min_code, fb.max_code + 1, m), fb)).result
    acc = random_format(rng, (16, 30), signed=True).with_modes("TRN", "WRAP") if rng.integers(0, 6) == 0 else None
    out = random_format(rng, (3, 20)) if rng.integers(0, 4) == 0 else None  # None: exact (auto)
    y = b.add(fxp.DenseOp(b.args[0], w, bias, acc, out)).result
    if rng.integers(0, 2):
        z = b.add(fxp.ReluOp(y, random_format(rng, (2, 16)) if rng.integers(0, 2) else None)).result
    else:
        z = b.add(fxp.CastOp(y, random_format(rng, (2, 16)))).result
    module = b.finish([z])
    InferPrecision().apply(None, module)
    return module, fx, k


@pytest.mark.parametrize("seed", range(CASES))
def test_fused_and_unfused_give_the_same_codes(seed):
    rng = np.random.default_rng(seed)
    module, fx, k = random_network(rng)
    codes = rng.integers(fx.min_code, fx.max_code + 1, (64, k))
    codes[:4] = fx.max_code  # the extremes, where rounding and overflow bite
    codes[4:8] = fx.min_code
    fused, plain = Emulator(module), Emulator(module, fuse=False)
    got = fused.run_codes(codes)[0]
    want = plain.run_codes(codes)[0]
    assert np.array_equal(np.asarray(got, dtype=object), np.asarray(want, dtype=object)), seed


def test_most_random_networks_take_the_fused_path():
    fused = sum(len(Emulator(random_network(np.random.default_rng(seed))[0]).steps) == 1 for seed in range(CASES))
    assert fused >= CASES // 2, fused  # the comparison above tests the fused kernels, not only the fallback


def test_a_dense_relu_pair_becomes_one_step():
    rng = np.random.default_rng(0)
    b = FunctionBuilder("main", [fxp.fixed_tensor(FixedFormat(8, 3), [6])])
    w = b.add(fxp.ConstantOp(rng.integers(-8, 8, (6, 4)), FixedFormat(4, 1))).result
    y = b.add(fxp.DenseOp(b.args[0], w, None, None, None)).result
    z = b.add(fxp.ReluOp(y, FixedFormat(4, 2, False, "RND_CONV", "SAT"))).result
    module = b.finish([z])
    InferPrecision().apply(None, module)
    assert len(Emulator(module).steps) == 1 and len(Emulator(module, fuse=False).steps) == 2


def test_layers_in_reused_buffers_across_chunks():
    """quantize-dense-relu-dense-relu-dense: the first pairs' results live in reused buffers;
    many small chunks (and a short last one) must still give the unfused codes."""
    rng = np.random.default_rng(3)
    fx = FixedFormat(12, 4, True, "TRN", "SAT")
    b = FunctionBuilder("main", [TensorType(f32, [10])])
    v = b.add(fxp.QuantizeOp(b.args[0], fx)).result
    for k, (n_in, n_out) in enumerate(((10, 16), (16, 8), (8, 3))):
        fw = FixedFormat(6, 1)
        w = b.add(fxp.ConstantOp(rng.integers(-32, 32, (n_in, n_out)), fw)).result
        bias = b.add(fxp.ConstantOp(rng.integers(-32, 32, n_out), fw)).result
        v = b.add(fxp.DenseOp(v, w, bias, None, None)).result
        if k < 2:
            v = b.add(fxp.ReluOp(v, FixedFormat(6, 2, False, "RND_CONV", "SAT"))).result
    module = b.finish([v])
    InferPrecision().apply(None, module)
    x = (rng.integers(fx.min_code, fx.max_code + 1, (1000, 10)) * 2.0**-fx.frac).astype(np.float32)
    fused = Emulator(module)
    assert len(fused.steps) == 4  # quantize, two fused pairs, the last dense
    got = fused.run(x, raw=True, chunk=64)[0]
    want = Emulator(module, fuse=False).run(x, raw=True, chunk=1000)[0]
    assert np.array_equal(got, want)
