"""Differential test: the emulator's dense and conv against C++ ap_fixed loops on random layers.

The C++ side is the textbook HLS loop (as hls4ml writes it): ``acc_t acc = bias; acc +=
(acc_t)(x * w); res_t y = acc;``.  Layers draw random formats for inputs, weights, biases,
accumulators (wide, narrow enough to wrap, or with fewer fractional bits than the products so
every product rounds) and results (every rounding and overflow mode), plus strides,
dilations, padding and groups for convolutions.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from apfixed import PRELUDE, build_and_run, c_type, from_raw
from fmlc.dialects import fxp
from fmlc.emulator import Emulator
from fmlc.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from fmlc.ir import FunctionBuilder, parse_module, print_module
from xdsl.dialects.builtin import ModuleOp

SAMPLES = 40


def rand_fmt(rng, wmin, wmax, rounding="TRN", overflow="WRAP", signed=None):
    w = rng.randint(wmin, wmax)
    return FixedFormat(w, rng.randint(-2, w + 2), rng.random() < 0.7 if signed is None else signed, rounding, overflow)


def acc_format(rng, fx, fw, terms):
    """Wide (exact), narrow (wraps) or coarse (rounds every product) accumulators."""
    fp = fx.frac + fw.frac
    r = rng.random()
    if r < 0.4:
        width = fx.width + fw.width + terms.bit_length() + 2
        return FixedFormat(width, width - fp, True)
    if r < 0.7:
        width = rng.randint(4, fx.width + fw.width)
        return FixedFormat(width, width - fp - rng.randint(0, 3), True)
    frac = fp - rng.randint(1, 4)
    width = rng.randint(6, 30)
    return FixedFormat(width, width - frac, True, rng.choice(ROUNDING_MODES), "WRAP")


def result_format(rng, fa):
    return FixedFormat(rng.randint(2, 20), fa.int_bits + rng.randint(-6, 2), rng.random() < 0.7, rng.choice(ROUNDING_MODES), rng.choice(OVERFLOW_MODES))


def rand_codes(rng, fmt, shape):
    return np.array([rng.randint(fmt.min_code, fmt.max_code) for _ in range(int(np.prod(shape)))], dtype=np.int64).reshape(shape)


def make_dense(rng):
    k, m = rng.randint(1, 24), rng.randint(1, 8)
    fx, fw, fb = rand_fmt(rng, 2, 18), rand_fmt(rng, 1, 10), rand_fmt(rng, 1, 12)
    fa = acc_format(rng, fx, fw, k)
    fr = result_format(rng, fa)
    w = rand_codes(rng, fw, (k, m))
    b = rand_codes(rng, fb, (m,)) if rng.random() < 0.8 else None
    x = rand_codes(rng, fx, (SAMPLES, k))
    return dict(kind="dense", fx=fx, fw=fw, fb=fb, fa=fa, fr=fr, w=w, b=b, x=x)


def make_conv(rng):
    nsp = rng.choice((1, 2))
    groups = rng.choice((1, 1, 2, 3))
    cg, fg = rng.randint(1, 3), rng.randint(1, 3)
    c, f = cg * groups, fg * groups
    kernel = tuple(rng.randint(1, 3) for _ in range(nsp))
    strides = tuple(rng.randint(1, 2) for _ in range(nsp))
    dil = tuple(rng.randint(1, 2) for _ in range(nsp))
    pad = tuple(rng.randint(0, 2) for _ in range(2 * nsp))
    spatial = tuple(rng.randint(d * (k - 1) + 1, 7) for k, d in zip(kernel, dil))
    fx, fw, fb = rand_fmt(rng, 2, 14), rand_fmt(rng, 1, 8), rand_fmt(rng, 1, 10)
    fa = acc_format(rng, fx, fw, int(np.prod(kernel)) * cg)
    fr = result_format(rng, fa)
    w = rand_codes(rng, fw, kernel + (cg, f))
    b = rand_codes(rng, fb, (f,)) if rng.random() < 0.8 else None
    x = rand_codes(rng, fx, (SAMPLES,) + spatial + (c,))
    return dict(kind="conv", fx=fx, fw=fw, fb=fb, fa=fa, fr=fr, w=w, b=b, x=x, kernel=kernel, strides=strides, dil=dil, pad=pad, groups=groups)


def build_module(layer) -> ModuleOp:
    b = FunctionBuilder("main", [fxp.fixed_tensor(layer["fx"], layer["x"].shape[1:])])
    w = b.add(fxp.ConstantOp(layer["w"], layer["fw"])).result
    bias = b.add(fxp.ConstantOp(layer["b"], layer["fb"])).result if layer["b"] is not None else None
    x = b.args[0]
    if layer["kind"] == "dense":
        y = b.add(fxp.DenseOp(x, w, bias, layer["fa"], layer["fr"])).result
    else:
        y = b.add(fxp.ConvOp(x, w, bias, layer["fa"], layer["fr"], layer["strides"], layer["dil"], layer["pad"], layer["groups"])).result
    return b.finish([y])


def cpp_layer(k: int, layer) -> str:
    fx, fw, fb, fa, fr = (layer[n] for n in ("fx", "fw", "fb", "fa", "fr"))
    lines = [
        f"namespace L{k} {{",
        f"typedef {c_type(fx)} x_t; typedef {c_type(fw)} w_t; typedef {c_type(fb)} b_t; typedef {c_type(fa)} acc_t; typedef {c_type(fr)} r_t;",
        f"static const long long X[] = {{{', '.join(map(str, layer['x'].ravel()))}}};",
        f"static const long long W[] = {{{', '.join(map(str, layer['w'].ravel()))}}};",
    ]
    has_bias = layer["b"] is not None
    if has_bias:
        lines.append(f"static const long long B[] = {{{', '.join(map(str, layer['b'].ravel()))}}};")
    lines.append("template <class T> T from_code(long long c) { T v; v.range(T::width - 1, 0) = ap_int<64>(c); return v; }")
    lines.append("template <class T> void out(T v) { std::printf(\"%lld\\n\", (long long)ap_int<64>(v.range(T::width - 1, 0)).to_int64()); }")
    init = "from_code<b_t>(B[m])" if has_bias else "0"
    if layer["kind"] == "dense":
        kk, m = layer["w"].shape
        lines.append(
            f"void run() {{ for (int n = 0; n < {SAMPLES}; ++n) for (int m = 0; m < {m}; ++m) {{ "
            f"acc_t acc = {init.replace('B[m]', 'B[m]')}; "
            f"for (int k = 0; k < {kk}; ++k) acc += (acc_t)(from_code<x_t>(X[n * {kk} + k]) * from_code<w_t>(W[k * {m} + m])); "
            f"r_t y = acc; out(y); }} }}"
        )
    else:
        lines.append(cpp_conv_body(layer, init))
    lines.append("}")
    return "\n".join(lines) + "\n"


def cpp_conv_body(layer, init: str) -> str:
    x, w = layer["x"], layer["w"]
    nsp = len(layer["kernel"])
    spatial, c = x.shape[1:-1], x.shape[-1]
    cg, f = w.shape[-2], w.shape[-1]
    groups = layer["groups"]
    fg = f // groups
    outs = fxp.conv_output_shape(spatial, layer["kernel"], layer["strides"], layer["dil"], layer["pad"])
    kh = layer["kernel"]
    s, d, p = layer["strides"], layer["dil"], layer["pad"]
    if nsp == 1:
        (L,), (O,), (K,) = spatial, outs, kh
        return (
            f"void run() {{ for (int n = 0; n < {SAMPLES}; ++n) for (int o = 0; o < {O}; ++o) for (int m = 0; m < {f}; ++m) {{ "
            f"int g = m / {fg}; acc_t acc = {init}; "
            f"for (int t = 0; t < {K}; ++t) {{ int i = o * {s[0]} + t * {d[0]} - {p[0]}; if (i < 0 || i >= {L}) continue; "
            f"for (int cc = 0; cc < {cg}; ++cc) acc += (acc_t)(from_code<x_t>(X[(n * {L} + i) * {c} + g * {cg} + cc]) * from_code<w_t>(W[(t * {cg} + cc) * {f} + m])); }} "
            f"r_t y = acc; out(y); }} }}"
        )
    (H, Wd), (OH, OW), (KH, KW) = spatial, outs, kh
    return (
        f"void run() {{ for (int n = 0; n < {SAMPLES}; ++n) for (int oh = 0; oh < {OH}; ++oh) for (int ow = 0; ow < {OW}; ++ow) for (int m = 0; m < {f}; ++m) {{ "
        f"int g = m / {fg}; acc_t acc = {init}; "
        f"for (int th = 0; th < {KH}; ++th) for (int tw = 0; tw < {KW}; ++tw) {{ "
        f"int i = oh * {s[0]} + th * {d[0]} - {p[0]}; int j = ow * {s[1]} + tw * {d[1]} - {p[1]}; "
        f"if (i < 0 || i >= {H} || j < 0 || j >= {Wd}) continue; "
        f"for (int cc = 0; cc < {cg}; ++cc) acc += (acc_t)(from_code<x_t>(X[((n * {H} + i) * {Wd} + j) * {c} + g * {cg} + cc]) * from_code<w_t>(W[((th * {KW} + tw) * {cg} + cc) * {f} + m])); }} "
        f"r_t y = acc; out(y); }} }}"
    )


@pytest.fixture(scope="module")
def layers_and_reference():
    rng = random.Random(7)
    layers = [make_dense(rng) for _ in range(40)] + [make_conv(rng) for _ in range(40)]
    units = [PRELUDE + "".join(cpp_layer(k, lay) for k, lay in enumerate(layers) if k % 4 == u) for u in range(4)]
    units.append(PRELUDE + "".join(f"namespace L{k} {{ void run(); }}" for k in range(len(layers))) + "int main() {" + "".join(f"L{k}::run();" for k in range(len(layers))) + "}\n")
    lines = build_and_run(units, "linear")
    return layers, lines


def test_dense_and_conv_match_ap_fixed_loops(layers_and_reference):
    layers, lines = layers_and_reference
    pos = 0
    failures = []
    kinds = {"dense": 0, "conv": 0}
    for k, layer in enumerate(layers):
        module = build_module(layer)
        got = Emulator(module).run_codes(layer["x"])[0]
        fr = layer["fr"]
        expect = [from_raw(int(v) & ((1 << fr.width) - 1), fr) for v in lines[pos : pos + got.size]]
        expect = np.array(expect, dtype=object).reshape(got.shape)
        pos += got.size
        got = np.array([int(v) for v in got.ravel()], dtype=object).reshape(got.shape)
        if not np.array_equal(got, expect):
            bad = np.argwhere(got != expect)[0]
            failures.append(f"layer {k} ({layer['kind']}, acc {layer['fa']}, out {layer['fr']}): at {tuple(bad)} emulator {got[tuple(bad)]}, ap_fixed {expect[tuple(bad)]}")
        kinds[layer["kind"]] += 1
    assert pos == len(lines)
    assert not failures, "\n".join(failures)
    assert kinds == {"dense": 40, "conv": 40}


def test_layers_round_trip_through_text(layers_and_reference):
    layers, _ = layers_and_reference
    for layer in layers[::8]:
        text = print_module(build_module(layer))
        assert print_module(parse_module(text)) == text
