"""Every emulator kernel against a literal reading of its op's definition.

The reference works element by element on exact rationals (``fractions.Fraction``) and casts
with ``fixed.from_fraction`` (itself checked against ap_fixed in test_cast_apfixed); the
emulator works on vectorized integer codes.  Random shapes, formats and values.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import numpy as np
import pytest

from xdsl.dialects.builtin import FloatAttr, TensorType, f32, f64

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.emulator import Emulator, window_counts
from fmlc.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from fmlc.ir import FunctionBuilder

N = 12  # samples per case
CASES = 12  # random cases per op


def rfmt(rng, wmin=2, wmax=14, signed=None, modes=False):
    w = rng.randint(wmin, wmax)
    return FixedFormat(
        w,
        rng.randint(-2, w + 2),
        rng.random() < 0.6 if signed is None else signed,
        rng.choice(ROUNDING_MODES) if modes else "TRN",
        rng.choice(OVERFLOW_MODES) if modes else "WRAP",
    )


def codes(rng, fmt, shape):
    return np.array([rng.randint(fmt.min_code, fmt.max_code) for _ in range(int(np.prod(shape)))], dtype=np.int64).reshape(shape)


def values(c, fmt):
    """Codes -> exact Fractions (object array)."""
    out = np.empty(c.shape, dtype=object)
    for idx, v in np.ndenumerate(c):
        out[idx] = Fraction(int(v)) * fmt.lsb
    return out


def cast_all(vals, fmt):
    out = np.empty(vals.shape, dtype=object)
    for idx, v in np.ndenumerate(vals):
        out[idx] = fixed.from_fraction(v, fmt)
    return out


def run(builder_fn, in_fmts, in_shapes, rng):
    """Build a one-op module, run it on random codes; returns (inputs codes, output codes)."""
    b = FunctionBuilder("main", [fxp.fixed_tensor(f, s) for f, s in zip(in_fmts, in_shapes)])
    out = builder_fn(b)
    module = b.finish([out])
    xs = [codes(rng, f, (N,) + tuple(s)) for f, s in zip(in_fmts, in_shapes)]
    got = Emulator(module).run_codes(*xs)[0]
    return xs, np.array([int(v) for v in got.ravel()], dtype=object).reshape(got.shape)


def per_sample(v, rank):
    """Batched array (N, *shape) with leading per-sample axes added up to ``rank`` (numpy rules)."""
    return v.reshape((v.shape[0],) + (1,) * (rank - v.ndim + 1) + v.shape[1:])


def check(got, expect, what):
    assert got.shape == expect.shape, (what, got.shape, expect.shape)
    bad = np.argwhere(got != expect)
    assert bad.size == 0, f"{what}: at {tuple(bad[0])} emulator {got[tuple(bad[0])]}, definition {expect[tuple(bad[0])]}"


@pytest.mark.parametrize("seed", range(CASES))
@pytest.mark.parametrize("kind", ["add", "sub", "mul", "maximum", "minimum"])
def test_binary(kind, seed):
    rng = random.Random(hash((kind, seed)))
    fa, fb, fr = rfmt(rng), rfmt(rng), rfmt(rng, modes=True)
    sa, sb = rng.choice([((3, 4), (4,)), ((4,), (4,)), ((2, 1), (1, 3)), ((5,), (1,))])
    op_cls = {"add": fxp.AddOp, "sub": fxp.SubOp, "mul": fxp.MulOp, "maximum": fxp.MaximumOp, "minimum": fxp.MinimumOp}[kind]
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "maximum": max, "minimum": min}[kind]
    xs, got = run(lambda b: b.add(op_cls(b.args[0], b.args[1], fr)).result, [fa, fb], [sa, sb], rng)
    rank = max(len(sa), len(sb))
    va, vb = np.broadcast_arrays(per_sample(values(xs[0], fa), rank), per_sample(values(xs[1], fb), rank))
    expect = cast_all(np.vectorize(fn, otypes=[object])(va, vb), fr)
    check(got, expect, f"{kind} {fa} {fb} -> {fr}")


@pytest.mark.parametrize("seed", range(CASES))
def test_binary_with_constant(seed):
    rng = random.Random(seed)
    fa, fc, fr = rfmt(rng), rfmt(rng), rfmt(rng, modes=True)
    c = codes(rng, fc, (4,))

    def build(b):
        k = b.add(fxp.ConstantOp(c, fc)).result
        return b.add(fxp.MulOp(k, b.args[0], fr)).result

    xs, got = run(build, [fa], [(3, 4)], rng)
    expect = cast_all(values(c, fc)[None, None, :] * values(xs[0], fa), fr)
    check(got, expect, f"const mul {fa} {fc} -> {fr}")


@pytest.mark.parametrize("seed", range(CASES))
def test_unary(seed):
    rng = random.Random(100 + seed)
    fx, fr = rfmt(rng), rfmt(rng, modes=True)
    fal = rfmt(rng, 2, 6, signed=False)
    alpha_codes = codes(rng, fal, (3,))
    thr = float(Fraction(rng.randint(-40, 40), 8))

    def build(b):
        a = b.add(fxp.ConstantOp(alpha_codes, fal)).result
        r = b.add(fxp.ReluOp(b.args[0], fr)).result
        lk = b.add(fxp.LeakyReluOp(b.args[0], a, fr)).result
        th = b.add(fxp.ThresholdedReluOp(b.args[0], fr, {"alpha": FloatAttr(thr, f64)})).result
        c = b.add(fxp.CastOp(b.args[0], fr)).result
        return b.add(fxp.ConcatOp([r, lk, th, c], 0)).result

    xs, got = run(build, [fx], [(5, 3)], rng)
    v = values(xs[0], fx)
    alpha = values(alpha_codes, fal)
    relu = cast_all(np.vectorize(lambda t: max(t, 0), otypes=[object])(v), fr)
    leaky = cast_all(np.vectorize(lambda t, a: t if t >= 0 else a * t, otypes=[object])(v, alpha[None, None, :]), fr)
    thresh = cast_all(np.vectorize(lambda t: t if t > Fraction(thr) else Fraction(0), otypes=[object])(v), fr)
    plain = cast_all(v, fr)
    check(got, np.concatenate([relu, leaky, thresh, plain], axis=1), f"unary {fx} -> {fr}")


@pytest.mark.parametrize("seed", range(CASES))
def test_table_and_quantize(seed):
    rng = random.Random(200 + seed)
    fi = rfmt(rng, 1, 6, modes=True)
    fo = rfmt(rng, 2, 10)
    table = codes(rng, fo, (1 << fi.width,))
    scale, offset = rng.choice([(None, None), (2.0, -1.0), (0.1, 0.3), (None, 0.25)])
    b = FunctionBuilder("main", [TensorType(f32 if seed % 2 else f64, [6])])
    q = b.add(fxp.QuantizeOp(b.args[0], fi, scale, offset)).result
    t = b.add(fxp.TableOp(q, table, fo, "f")).result
    module = b.finish([q, t])
    dtype = np.float32 if seed % 2 else np.float64
    x = (np.array([rng.uniform(-3, 3) for _ in range(N * 6)]) * 2.0 ** rng.randint(-3, 3)).astype(dtype).reshape(N, 6)
    qcodes, tcodes = Emulator(module).run(x, raw=True)
    # the affine part is computed in the input's float type, one rounding per operation
    y = x
    if scale is not None:
        y = (y * dtype(scale)).astype(dtype)
    if offset is not None:
        y = (y + dtype(offset)).astype(dtype)
    expect_q = cast_all(np.vectorize(lambda f: Fraction(float(f)), otypes=[object])(y), fi)
    check(np.array(qcodes, dtype=object), expect_q, f"quantize -> {fi}")
    check(np.array(tcodes, dtype=object), np.vectorize(lambda c: int(table[c - fi.min_code]), otypes=[object])(expect_q), "table")


def softmax_definition(v, op_formats, exp_table, inv_table, fr):
    diff_t, exp_t, sum_t, inv_t = op_formats
    out = np.empty(v.shape, dtype=object)
    for n in range(v.shape[0]):
        row = v[n]
        m = max(row)
        e = [int(exp_table[fixed.from_fraction(m - x, diff_t) - diff_t.min_code]) for x in row]
        s = sum(Fraction(c) * exp_t.lsb for c in e)
        r = int(inv_table[fixed.from_fraction(s, sum_t) - sum_t.min_code])
        for j, c in enumerate(e):
            out[n, j] = fixed.from_fraction(Fraction(c) * exp_t.lsb * Fraction(r) * inv_t.lsb, fr)
    return out


@pytest.mark.parametrize("seed", range(CASES))
def test_softmax(seed):
    rng = random.Random(300 + seed)
    fx = rfmt(rng, 4, 12, signed=True)
    diff_t = FixedFormat(rng.randint(2, 8), rng.randint(1, 4), False, "TRN", "SAT")
    exp_t = FixedFormat(rng.randint(4, 10), 1, False)
    sum_t = FixedFormat(rng.randint(2, 8), rng.randint(2, 5), False, rng.choice(ROUNDING_MODES), "SAT")
    inv_t = FixedFormat(rng.randint(4, 10), 1, False)
    fr = rfmt(rng, 6, 12, modes=True)
    exp_table = codes(rng, exp_t, (1 << diff_t.width,))
    inv_table = codes(rng, inv_t, (1 << sum_t.width,))
    xs, got = run(lambda b: b.add(fxp.SoftmaxOp(b.args[0], fr, diff_t, exp_t, sum_t, inv_t, exp_table, inv_table)).result, [fx], [(5,)], rng)
    check(got, softmax_definition(values(xs[0], fx), (diff_t, exp_t, sum_t, inv_t), exp_table, inv_table, fr), "softmax")


def window_positions(in_shape, kernel, strides, padding):
    n = len(kernel)
    outs = fxp.conv_output_shape(in_shape, kernel, strides, (1,) * n, padding)
    for pos in itertools.product(*(range(o) for o in outs)):
        taps = []
        for off in itertools.product(*(range(k) for k in kernel)):
            idx = tuple(pos[d] * strides[d] + off[d] - padding[d] for d in range(n))
            inside = all(0 <= idx[d] < in_shape[d] for d in range(n))
            taps.append(idx if inside else None)
        yield pos, taps


@pytest.mark.parametrize("seed", range(CASES))
def test_pooling(seed):
    rng = random.Random(400 + seed)
    nsp = rng.choice((1, 2))
    fx, fr = rfmt(rng), rfmt(rng, 4, 16, modes=True)
    scale_t = FixedFormat(rng.randint(3, 10), 1, False, rng.choice(ROUNDING_MODES), "SAT")
    kernel = tuple(rng.randint(1, 3) for _ in range(nsp))
    strides = tuple(rng.randint(1, 2) for _ in range(nsp))
    padding = tuple(rng.randint(0, k - 1) for k in kernel) * 2
    spatial = tuple(rng.randint(k, 5) for k in kernel)
    include = rng.random() < 0.5
    c = 2
    shape = spatial + (c,)

    def build(b):
        mx = b.add(fxp.MaxPoolOp(b.args[0], fr, kernel, strides, padding)).result
        av = b.add(fxp.AvgPoolOp(b.args[0], fr, scale_t, kernel, strides, padding, include)).result
        gm = b.add(fxp.GlobalMaxPoolOp(b.args[0], fr)).result
        ga = b.add(fxp.GlobalAvgPoolOp(b.args[0], fr, scale_t)).result
        flat = [b.add(fxp.FlattenOp(v)).result for v in (mx, av, gm, ga)]
        return b.add(fxp.ConcatOp(flat, 0)).result

    xs, got = run(build, [fx], [shape], rng)
    v = values(xs[0], fx)
    counts = window_counts(shape, kernel, strides, padding, include)
    mx, av = [], []
    for pos, taps in window_positions(spatial, kernel, strides, padding):
        valid = [t for t in taps if t is not None]
        recip = Fraction(fixed.from_fraction(Fraction(1, int(counts[pos])), scale_t)) * scale_t.lsb
        m = np.empty((N, c), dtype=object)
        a = np.empty((N, c), dtype=object)
        for s in range(N):
            for ch in range(c):
                vals = [v[(s,) + t + (ch,)] for t in valid]
                m[s, ch] = fixed.from_fraction(max(vals), fr)
                a[s, ch] = fixed.from_fraction(sum(vals) * recip, fr)
        mx.append(m)
        av.append(a)
    mx = np.stack(mx, axis=1).reshape(N, -1)
    av = np.stack(av, axis=1).reshape(N, -1)
    count = int(np.prod(spatial))
    grecip = Fraction(fixed.from_fraction(Fraction(1, count), scale_t)) * scale_t.lsb
    flat = v.reshape(N, count, c)
    gm = np.array([[fixed.from_fraction(max(flat[s, :, ch]), fr) for ch in range(c)] for s in range(N)], dtype=object)
    ga = np.array([[fixed.from_fraction(sum(flat[s, :, ch]) * grecip, fr) for ch in range(c)] for s in range(N)], dtype=object)
    check(got, np.concatenate([mx, av, gm, ga], axis=1), f"pooling k={kernel} s={strides} p={padding} include={include}")


@pytest.mark.parametrize("seed", range(CASES))
def test_batchnorm_and_multithreshold(seed):
    rng = random.Random(500 + seed)
    fx, fs, ft, fr = rfmt(rng), rfmt(rng, 2, 8), rfmt(rng, 2, 8), rfmt(rng, modes=True)
    c = 3
    s_codes, t_codes = codes(rng, fs, (c,)), codes(rng, ft, (c,))
    fth = rfmt(rng, 2, 12)
    steps = rng.randint(1, 4)
    th_codes = codes(rng, fth, (rng.choice((1, c)), steps))
    out_scale = rng.choice([1.0, 2.0, -1.0, 0.5])
    out_bias = rng.choice([0.0, -1.0, -0.5, 3.0])
    fm = FixedFormat(8, 4, True, "TRN", "SAT")

    def build(b):
        s = b.add(fxp.ConstantOp(s_codes, fs)).result
        t = b.add(fxp.ConstantOp(t_codes, ft)).result
        th = b.add(fxp.ConstantOp(th_codes, fth)).result
        bn = b.add(fxp.BatchNormOp(b.args[0], s, t, fr)).result
        mt = b.add(fxp.MultiThresholdOp(b.args[0], th, fm, out_scale, out_bias)).result
        return b.add(fxp.ConcatOp([b.add(fxp.CastOp(bn, fm)).result, mt], 1)).result

    xs, got = run(build, [fx], [(2, c)], rng)
    v = values(xs[0], fx)
    bn = cast_all(values(cast_all(v * values(s_codes, fs) + values(t_codes, ft), fr), fr), fm)
    thr = values(np.broadcast_to(th_codes, (c, steps)), fth)
    mt = np.empty(v.shape, dtype=object)
    for idx, x in np.ndenumerate(v):
        count = sum(1 for t in thr[idx[-1]] if x >= t)
        mt[idx] = fixed.from_fraction(Fraction(out_bias) + Fraction(out_scale) * count, fm)
    check(got, np.concatenate([bn, mt], axis=2), "batchnorm / multithreshold")


@pytest.mark.parametrize("seed", range(4))
def test_data_movement(seed):
    rng = random.Random(600 + seed)
    fx = rfmt(rng)
    shape = (2, 3, 4)
    perm = rng.sample(range(3), 3)
    pads = [rng.randint(0, 2) for _ in range(6)]

    def build(b):
        r = b.add(fxp.ReshapeOp(b.args[0], (6, 4))).result
        t = b.add(fxp.TransposeOp(b.args[0], perm)).result
        p = b.add(fxp.PadOp(b.args[0], pads)).result
        return b.add(fxp.ConcatOp([b.add(fxp.FlattenOp(v)).result for v in (r, t, p)], 0)).result

    xs, got = run(build, [fx], [shape], rng)
    x = xs[0]
    width = [(0, 0)] + [(pads[d], pads[3 + d]) for d in range(3)]
    expect = np.concatenate([x.reshape(N, -1), np.transpose(x, [0] + [p + 1 for p in perm]).reshape(N, -1), np.pad(x, width).reshape(N, -1)], axis=1)
    check(got, expect.astype(object), "moves")
