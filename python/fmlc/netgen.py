"""Random fxp networks for differential testing: every backend must match the emulator on them.

``random_network(kind, seed)`` builds a small, fully typed network (after precision inference)
whose first op quantizes a float input.  Kinds:

- ``mlp``: dense layers with ReLU, leaky ReLU, sigmoid tables and casts, softmax at the end;
- ``conv1d``: 1-D convolutions (padding, stride, dilation, groups), pooling, flatten, dense;
- ``conv2d``: 2-D convolutions, depthwise, max pooling, global average pooling, dense;
- ``misc``: residual add, constant multiply, batchnorm, multithreshold, min/max, thresholded
  ReLU, transpose/reshape/pad/concat.

Result types draw every rounding and overflow mode; widths stay at most 32 bits for
activations so every target can hold them in native integers.
"""

from __future__ import annotations

import random

import numpy as np
from xdsl.dialects.builtin import FloatAttr, ModuleOp, TensorType, f32, f64
from xdsl.ir import SSAValue

from fmlc.dialects import fxp
from fmlc.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from fmlc.ir import FunctionBuilder

KINDS = ("mlp", "conv1d", "conv2d", "misc")


class _Net:
    def __init__(self, seed: int, in_shape: tuple[int, ...]):
        self.rng = random.Random(seed)
        self.b = FunctionBuilder("main", [TensorType(f32, list(in_shape))])
        self.n = 0
        in_fmt = FixedFormat(self.rng.randint(8, 16), self.rng.randint(2, 5), True, self.rng.choice(ROUNDING_MODES), self.rng.choice(("SAT", "WRAP")))
        self.x = self.b.add(fxp.QuantizeOp(self.b.args[0], in_fmt), name="input_quant").result

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def fmt(self, wmin=6, wmax=16, signed=None, modes=True, int_range=(1, 6)) -> FixedFormat:
        r = self.rng
        w = r.randint(wmin, wmax)
        i = min(w, r.randint(*int_range))
        return FixedFormat(
            w,
            i,
            r.random() < 0.7 if signed is None else signed,
            r.choice(ROUNDING_MODES) if modes else "TRN",
            r.choice(OVERFLOW_MODES) if modes else "WRAP",
        )

    def const(self, shape, fmt: FixedFormat, sparsity: float = 0.2) -> SSAValue:
        r = self.rng
        flat = [0 if r.random() < sparsity else r.randint(fmt.min_code, fmt.max_code) for _ in range(int(np.prod(shape)))]
        return self.b.add(fxp.ConstantOp(np.array(flat, dtype=np.int64).reshape(shape), fmt)).result

    def weights_fmt(self) -> FixedFormat:
        w = self.rng.randint(2, 8)
        return FixedFormat(w, self.rng.randint(0, 2), True)

    def dense(self, x: SSAValue, m: int, bias=True) -> SSAValue:
        k = fxp.shape_of(x)[-1]
        w = self.const((k, m), self.weights_fmt())
        b = self.const((m,), self.fmt(4, 10, True, False)) if bias else None
        return self.b.add(fxp.DenseOp(x, w, b, None, self.fmt()), name=self.name("dense")).result

    def conv(self, x: SSAValue, f: int, kernel, groups=1, strides=None, dilations=None, padding=None) -> SSAValue:
        c = fxp.shape_of(x)[-1]
        w = self.const(tuple(kernel) + (c // groups, f), self.weights_fmt())
        b = self.const((f,), self.fmt(4, 10, True, False)) if self.rng.random() < 0.7 else None
        op = fxp.ConvOp(x, w, b, None, self.fmt(), strides, dilations, padding, groups)
        return self.b.add(op, name=self.name("conv")).result

    def activation(self, x: SSAValue) -> SSAValue:
        r = self.rng
        choice = r.choice(("relu", "relu", "leaky", "table", "cast"))
        if choice == "relu":
            return self.b.add(fxp.ReluOp(x, self.fmt(4, 12, False)), name=self.name("relu")).result
        if choice == "leaky":
            alpha = self.const((1,), FixedFormat(4, 0, False), 0.0)
            return self.b.add(fxp.LeakyReluOp(x, alpha, self.fmt()), name=self.name("leaky_relu")).result
        if choice == "table":
            idx = FixedFormat(r.randint(4, 8), r.randint(2, 4), True, r.choice(ROUNDING_MODES), "SAT")
            xi = self.b.add(fxp.CastOp(x, idx)).result
            out = FixedFormat(r.randint(4, 10), 0, False)
            grid = (np.arange(idx.min_code, idx.max_code + 1) * 2.0 ** -idx.frac)
            table = np.clip(np.round(1 / (1 + np.exp(-grid)) * 2**out.frac), 0, out.max_code).astype(np.int64)
            return self.b.add(fxp.TableOp(xi, table, out, "sigmoid"), name=self.name("sigmoid")).result
        return self.b.add(fxp.CastOp(x, self.fmt()), name=self.name("cast")).result

    def softmax(self, x: SSAValue) -> SSAValue:
        r = self.rng
        diff = FixedFormat(r.randint(4, 8), r.randint(2, 4), False, "TRN", "SAT")
        expf = FixedFormat(r.randint(6, 10), 1, False)
        total = FixedFormat(r.randint(4, 8), r.randint(2, 4), False, r.choice(ROUNDING_MODES), "SAT")
        inv = FixedFormat(r.randint(6, 10), 1, False)
        d = np.arange(1 << diff.width) * 2.0 ** -diff.frac
        exp_table = np.clip(np.round(np.exp(-d) * 2**expf.frac), 0, expf.max_code).astype(np.int64)
        s = np.maximum(np.arange(1 << total.width) * 2.0 ** -total.frac, 2.0 ** -total.frac)
        inv_table = np.clip(np.round(2**inv.frac / s), 0, inv.max_code).astype(np.int64)
        out = FixedFormat(r.randint(8, 16), 1, False, r.choice(ROUNDING_MODES), "SAT")
        return self.b.add(fxp.SoftmaxOp(x, out, diff, expf, total, inv, exp_table, inv_table), name=self.name("softmax")).result

    def finish(self, outputs) -> ModuleOp:
        from fmlc.passes.infer_precision import InferPrecision

        module = self.b.finish(outputs)
        InferPrecision().apply(None, module)
        module.verify()
        return module


def random_network(kind: str, seed: int) -> ModuleOp:
    """A random, fully typed network of one of ``KINDS``."""
    if kind == "mlp":
        return _mlp(seed)
    if kind == "conv1d":
        return _conv1d(seed)
    if kind == "conv2d":
        return _conv2d(seed)
    if kind == "misc":
        return _misc(seed)
    raise ValueError(f"unknown network kind '{kind}': choose one of {KINDS}")


def random_chain(seed: int) -> ModuleOp:
    """A random chain of dense layers, each but the last followed by a ReLU or a cast, in the
    rounding modes whose rounding an adder graph's constants can carry and the overflow modes
    that wrap or saturate: the networks whose pipeline registers ``lowering/register_plan.py``
    places (quantized exports are of this kind)."""
    rng = random.Random(seed)
    net = _Net(seed, (rng.randint(3, 12),))

    def fmt(wmin, wmax, signed=None, truncate=False) -> FixedFormat:
        f = net.fmt(wmin, wmax, signed, False)
        rounding = rng.choice(("TRN", "RND", "RND_CONV", "RND_MIN_INF"))
        return FixedFormat(f.width, f.int_bits, f.signed, "TRN" if truncate else rounding, rng.choice(("WRAP", "SAT", "SAT_SYM")))

    x = net.x
    for _ in range(rng.randint(2, 4)):
        k, m = fxp.shape_of(x)[-1], rng.randint(3, 12)
        w, b = net.const((k, m), net.weights_fmt()), net.const((m,), net.fmt(4, 10, True, False))
        acc = fmt(6, 16, truncate=True)  # the activation's rounding is then the one the biases carry
        x = net.b.add(fxp.DenseOp(x, w, b, None, acc), name=net.name("dense")).result
        if rng.random() < 0.6:
            x = net.b.add(fxp.ReluOp(x, fmt(3, 8, False)), name=net.name("relu")).result
        else:
            x = net.b.add(fxp.CastOp(x, fmt(4, 10)), name=net.name("cast")).result
    x = net.dense(x, rng.randint(2, 6))
    return net.finish([x])


def _mlp(seed: int) -> ModuleOp:
    rng = random.Random(seed)
    net = _Net(seed, (rng.randint(3, 16),))
    x = net.x
    for _ in range(rng.randint(1, 3)):
        x = net.activation(net.dense(x, rng.randint(2, 16)))
    x = net.dense(x, rng.randint(2, 6))
    if rng.random() < 0.6:
        x = net.softmax(x)
    return net.finish([x])


def _conv1d(seed: int) -> ModuleOp:
    rng = random.Random(seed)
    net = _Net(seed, (rng.randint(8, 14), rng.choice((1, 2, 4))))
    x = net.x
    groups = rng.choice((1, fxp.shape_of(x)[-1]))
    x = net.conv(x, groups * rng.randint(1, 2), (rng.randint(1, 3),), groups, (rng.randint(1, 2),), (rng.randint(1, 2),), (rng.randint(0, 1), rng.randint(0, 2)))
    x = net.activation(x)
    if rng.random() < 0.5 and fxp.shape_of(x)[0] >= 2:
        x = net.b.add(fxp.MaxPoolOp(x, None, (2,), (rng.randint(1, 2),)), name=net.name("maxpool")).result
    else:
        x = net.b.add(fxp.AvgPoolOp(x, net.fmt(), FixedFormat(8, 1, False, "RND", "SAT"), (3,), (1,), (1, 1)), name=net.name("avgpool")).result
    x = net.conv(x, rng.randint(1, 3), (rng.randint(1, min(3, fxp.shape_of(x)[0])),))
    x = net.activation(x)
    x = net.b.add(fxp.FlattenOp(x), name=net.name("flatten")).result
    x = net.dense(x, rng.randint(2, 5))
    return net.finish([x])


def _conv2d(seed: int) -> ModuleOp:
    rng = random.Random(seed)
    net = _Net(seed, (rng.randint(5, 8), rng.randint(5, 8), rng.choice((1, 2))))
    x = net.x
    x = net.conv(x, rng.randint(2, 4), (3, 3), 1, None, None, (1, 1, 1, 1))
    x = net.activation(x)
    x = net.b.add(fxp.MaxPoolOp(x, None, (2, 2)), name=net.name("maxpool")).result
    c = fxp.shape_of(x)[-1]
    x = net.conv(x, c, (rng.randint(1, 2), rng.randint(1, 2)), c)  # depthwise
    x = net.activation(x)
    if rng.random() < 0.5:
        x = net.b.add(fxp.GlobalAvgPoolOp(x, net.fmt(), FixedFormat(10, 1, False, "RND", "SAT")), name=net.name("gap")).result
    else:
        x = net.b.add(fxp.FlattenOp(x), name=net.name("flatten")).result
    x = net.dense(x, rng.randint(2, 5))
    return net.finish([x])


def _misc(seed: int) -> ModuleOp:
    rng = random.Random(seed)
    net = _Net(seed, (rng.randint(2, 4), rng.randint(2, 5)))
    b = net.b
    x = net.x
    shape = fxp.shape_of(x)
    h = net.dense(x, shape[-1])
    res = b.add(fxp.AddOp(x, h, net.fmt()), name=net.name("add")).result
    k = net.const((shape[-1],), FixedFormat(5, 2, True), 0.0)
    prod = b.add(fxp.MulOp(res, k, net.fmt()), name=net.name("mul")).result
    s = net.const((shape[-1],), FixedFormat(6, 2, True), 0.0)
    t = net.const((shape[-1],), FixedFormat(6, 3, True), 0.0)
    bn = b.add(fxp.BatchNormOp(prod, s, t, net.fmt()), name=net.name("batchnorm")).result
    thr_fmt = fxp.element_format(bn)
    steps = rng.randint(1, 3)
    thr = np.sort(np.array([[rng.randint(thr_fmt.min_code, thr_fmt.max_code) for _ in range(steps)] for _ in range(shape[-1])]), axis=1)
    th = b.add(fxp.ConstantOp(thr, thr_fmt)).result
    mt = b.add(fxp.MultiThresholdOp(bn, th, FixedFormat(4, 3, True), rng.choice((1.0, 2.0)), rng.choice((0.0, -1.0))), name=net.name("multithreshold")).result
    mx = b.add(fxp.MaximumOp(bn, x, net.fmt()), name=net.name("maximum")).result
    mn = b.add(fxp.MinimumOp(mx, res, net.fmt()), name=net.name("minimum")).result
    tr = b.add(fxp.ThresholdedReluOp(mn, net.fmt(), {"alpha": FloatAttr(rng.choice((0.0, 0.5, -0.25)), f64)}), name=net.name("thresholded_relu")).result
    tp = b.add(fxp.TransposeOp(tr, (1, 0)), name=net.name("transpose")).result
    rs = b.add(fxp.ReshapeOp(tp, (int(np.prod(shape)),)), name=net.name("reshape")).result
    pd = b.add(fxp.PadOp(rs, (1, 2)), name=net.name("pad")).result
    mt_flat = b.add(fxp.FlattenOp(mt), name=net.name("flatten")).result
    mt_cast = b.add(fxp.CastOp(mt_flat, fxp.element_format(pd)), name=net.name("cast")).result
    cat = b.add(fxp.ConcatOp([pd, mt_cast], 0), name=net.name("concat")).result
    return net.finish([cat])
