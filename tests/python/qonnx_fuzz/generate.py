"""Seeded random QONNX graphs shaped like real Brevitas and QKeras (via qonnx) exports.

What the exports look like (from the shared models and qonnx's own test models):

- Brevitas: quantizers in domain ``onnx.brevitas``; weights as float initializers through a
  ``Quant`` (narrow, signed, float scales such as 0.0123, per tensor or per output channel
  shaped ``[O, 1]`` / ``[O, 1, 1, 1]``), then ``Transpose`` into ``MatMul``, or ``Gemm`` with
  ``transB=1``; float ``BatchNormalization``, ``Relu`` then an unsigned ``Quant``; float input
  pre-processing such as ``x * 2 - 1`` before the first ``Quant``; ``x.view(x.size(0), -1)`` as
  a Shape/Gather/Unsqueeze/Concat/Reshape subgraph; ``BipolarQuant`` for binary layers; a final
  float layer (MatMul, maybe a BatchNorm written out as Sub/Div/Mul/Add).
- QKeras via qonnx: quantizers in ``finn.custom_op.general`` or ``qonnx.custom_op.general``
  with int64 zero point and bit width, power-of-two scales, weights stored ``[in, out]`` into
  ``MatMul``, bias through a ``Quant`` into ``Add``, ``Relu`` then ``Quant``; sometimes a float
  input straight into the first ``MatMul``; convolutions channels-last (NHWC input, a
  ``Transpose`` before and after each ``Conv``).
- QONNX's channels-last form: ``Conv``/``MaxPool``/``BatchNormalization`` in domain
  ``qonnx.custom_op.channels_last`` on NHWC tensors, weights ``[O, kh, kw, I]``.

``make_case(seed)`` draws one graph, its inputs and a one-line description.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from qonnx_fuzz.graph import GraphBuilder
from qonnx_fuzz.inputs import InputStage, PreOp, make_inputs, qrange, with_extremes

CALIBRATION = 64
ROUNDING = ["ROUND"] * 16 + ["FLOOR", "FLOOR", "CEIL", "HALF_UP", "HALF_DOWN", "DOWN", "UP", "HALF_EVEN"]


@dataclass
class FuzzCase:
    """One fuzz graph: build ``model(batch)`` for any batch size; ``x`` are its test inputs."""

    seed: int
    description: str
    builder: GraphBuilder
    outputs: list[str]
    input_name: str
    x: np.ndarray
    tags: set[str] = field(default_factory=set)
    stage: InputStage | None = None
    """The graph input's pre-processing and quantizer."""

    def model(self, batch: int = 1) -> onnx.ModelProto:
        return self.builder.model(self.outputs, batch)

    def output_step(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(scale, zero point) when ``name`` is a Quant's output (its values are codes times a
        scale), else None."""
        node = next((n for n in self.builder.nodes if name in n.output), None)
        if node is None or node.op_type != "Quant":
            return None
        return self.builder.val[node.input[1]], self.builder.val[node.input[2]]


def _fmt_scale(s) -> str:
    a = np.asarray(s, np.float64).ravel()
    po2 = all(np.frexp(v)[0] == 0.5 for v in a)
    if a.size == 1:
        return f"{a[0]:.4g}"
    return f"pc{a.size}[{a.min():.3g}..{a.max():.3g}{',po2' if po2 else ''}]"


def is_po2(s) -> bool:
    a = np.asarray(s, np.float64).ravel()
    return bool(np.all(a > 0) and np.all(np.frexp(a)[0] == 0.5))


def _fmt_quant(bits, signed, narrow, scale, zero, rounding) -> str:
    z = f",z={zero:g}" if zero else ""
    r = "" if rounding == "ROUND" else f",{rounding}"
    return f"Q({'s' if signed else 'u'}{bits}{'n' if narrow else ''},s={_fmt_scale(scale)}{z}{r})"


class Generator:
    """Draws one graph; ``self.desc`` collects the description, ``self.tags`` the features."""

    def __init__(self, seed: int, n_samples: int, small: bool = False):
        self.seed = seed
        self.small = small
        self.cap = 8 if small else 13  # widths and feature counts stay below this
        # rarer, harder forms draw from a stream of their own: a seed where none fires builds
        # the same graph as before they existed
        self.xrng = np.random.default_rng([seed, 3])
        self.rng = np.random.default_rng(seed)
        self.n = n_samples
        self.desc: list[str] = []
        self.tags: set[str] = set()

    # ------------------------------------------------------------ small draws

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def rare(self, p: float) -> bool:
        return bool(self.xrng.random() < p)

    def pick(self, options, p=None):
        return options[int(self.rng.choice(len(options), p=p))]

    def rounding(self) -> str:
        return self.pick(ROUNDING)

    def act_scale(self, values: np.ndarray, max_code: int, po2: bool):
        """A scale that maps the bulk of ``values`` onto the codes, as calibration would."""
        v = np.abs(values[np.isfinite(values)])
        p = float(np.percentile(v, 95)) if v.size else 1.0
        p = max(p, 1e-3) * float(self.rng.uniform(0.6, 1.4))
        s = p / max(max_code, 1)
        if po2:
            return np.float32(2.0 ** np.round(np.log2(s)))
        return np.float32(s)

    # ------------------------------------------------------------ the graph

    def run(self) -> FuzzCase:
        self.style = self.pick(["brevitas", "qkeras"], p=[0.6, 0.4])
        self.kind = self.pick(["mlp", "conv1d", "conv2d"], p=[0.5, 0.2, 0.3])
        if self.style == "brevitas":
            self.opset = self.pick([9, 11, 13, 17])
            domain = self.pick(["onnx.brevitas", "qonnx.custom_op.general"], p=[0.7, 0.3])  # newer Brevitas: the latter
        else:
            self.opset = self.pick([9, 11, 13])
            domain = self.pick(["finn.custom_op.general", "qonnx.custom_op.general"])
        self.int_params = self.style == "qkeras"
        self.po2_bias = self.style == "qkeras"
        self.g = GraphBuilder(self.opset, domain)
        self.tags |= {self.style, self.kind}
        self.desc.append(f"{self.style}/op{self.opset}" + ("/small" if self.small else ""))
        self.layout = "first"
        if self.kind != "mlp":
            if self.style == "brevitas":
                self.layout = self.pick(["first", "cl_domain"], p=[0.7, 0.3])
            else:
                self.layout = self.pick(["tf_transpose", "cl_domain", "first"], p=[0.5, 0.25, 0.25])
            self.tags.add(f"layout:{self.layout}")
        t = self.input_stage()
        if self.kind == "mlp":
            outs = self.mlp(t)
        else:
            outs = self.convnet(t)
        return FuzzCase(self.seed, " | ".join(self.desc), self.g, outs, "inp", self.x, self.tags, self.stage)

    # ------------------------------------------------------------ input

    def input_stage(self) -> str:
        rng, g = self.rng, self.g
        if self.kind == "mlp":
            if self.chance(0.3):
                shape = (1, int(rng.integers(2, 5)), int(rng.integers(2, 5)))  # image-like, flattened in the graph
            else:
                shape = (int(rng.integers(3, self.cap)),)
        elif self.kind == "conv1d":
            c, w = int(rng.integers(1, 4)), int(rng.integers(5, 11))
            shape = (c, w)
        else:
            c, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 8)), int(rng.integers(3, 8))
            shape = (c, h, w)
        nhwc_input = self.layout == "tf_transpose" or (self.layout == "cl_domain" and self.chance(0.6))
        if nhwc_input:
            shape = shape[1:] + shape[:1]
        stage = self.stage = self.draw_input_stage()
        # calibration samples steer the choices; the test inputs come from their own stream, so
        # the graph of a seed does not depend on how many samples are asked for
        calibration = make_inputs(stage, shape, CALIBRATION, np.random.default_rng([self.seed, 1]))
        self.x = make_inputs(stage, shape, self.n, np.random.default_rng([self.seed, 2]))
        if stage.quant is not None and stage.data == "range" and self.rare(0.3):
            self.x = with_extremes(self.x, self.xrng)
            self.tags.add("inputs:extreme")
        x = g.graph_input("inp", calibration)
        self.desc.append(f"in{list(shape)}{'nhwc' if nhwc_input else ''}")
        flatten_first = len(shape) > 1 and self.kind == "mlp" and self.chance(0.5)
        if flatten_first:  # Brevitas TFC: reshape the float input, then pre-process it
            x = self.flatten(x)
        for p in stage.pre:
            x = g.binary(p.op, x, p.const, p.const_first)
        if stage.pre:
            self.desc.append("pre[" + ";".join(p.text() for p in stage.pre) + "]")
            self.tags.add("preprocess")
        q = stage.quant
        if q is None:
            self.desc.append("no input quant")
            self.tags.add("input:float")
        elif q["kind"] == "bipolar":
            x = g.bipolar(x, q["scale"])
            self.desc.append(f"inBipolar(s={q['scale']:.4g})")
            self.tags.add("input:bipolar")
        else:
            x = g.quant(x, q["scale"], q["zero"], q["bits"], q["signed"], q["narrow"], q["rounding"], self.int_params)
            self.desc.append("in" + _fmt_quant(q["bits"], q["signed"], q["narrow"], q["scale"], q["zero"], q["rounding"]))
            self.tags.add("input:quant" + ("-po2" if is_po2(q["scale"]) else "-npo2"))
        if stage.data == "bipolar":
            self.tags.add("data:bipolar")
            self.desc.append("data=+-1")
        if self.kind == "mlp" and len(shape) > 1 and not flatten_first:
            x = self.flatten(x)
        if self.kind != "mlp" and self.layout == "cl_domain" and not nhwc_input:
            x = g.transpose(x, [0] + list(range(2, len(shape) + 1)) + [1])  # qonnx keeps a Transpose at the input
            self.desc.append("T->nhwc")
        return x

    def draw_input_stage(self) -> InputStage:
        rng = self.rng
        templates = [
            [],
            [PreOp("Mul", 2.0), PreOp("Sub", 1.0)],
            [PreOp("Add", 1.0), PreOp("Div", 2.0)],
            [PreOp("Div", 255.0)],
            [PreOp("Sub", float(np.float32(rng.uniform(-1, 1)))), PreOp("Div", float(np.float32(rng.uniform(0.2, 3))))],
            [PreOp("Mul", float(np.float32(rng.uniform(0.1, 4))))],
            [PreOp("Add", float(np.float32(rng.uniform(-2, 2)))), PreOp("Mul", float(np.float32(rng.uniform(0.2, 3))), True)],
            [PreOp("Sub", 1.0, True)],
        ]
        if self.style == "brevitas":
            pre = self.pick(templates, p=[0.35, 0.15, 0.1, 0.1, 0.1, 0.08, 0.07, 0.05])
            kind = self.pick(["quant", "bipolar", None], p=[0.75, 0.13, 0.12])
        else:
            pre = self.pick(templates, p=[0.8, 0.04, 0.04, 0.04, 0.04, 0.02, 0.01, 0.01])
            kind = self.pick(["quant", None], p=[0.55, 0.45])
        data = "range"
        if kind is None:
            return InputStage(pre, None, "float")
        if kind == "bipolar":
            return InputStage(pre, {"kind": "bipolar", "scale": np.float32(self.pick([1.0, 1.0, 0.5, float(rng.uniform(0.1, 2))]))}, data)
        bits = int(rng.integers(1, 9))
        signed = self.chance(0.6) if bits > 1 else self.chance(0.3)
        narrow = (self.chance(0.5) if self.style == "brevitas" else False) and not (signed and bits == 1)
        zero = 0.0
        if not signed and bits > 1 and self.chance(0.12):
            zero = float(rng.integers(1, 2 ** (bits - 1) + 1))
        if self.style == "qkeras" or self.chance(0.35):
            scale = np.float32(2.0 ** int(rng.integers(-6, 2)))
        else:
            scale = np.float32(rng.uniform(0.004, 0.6))
        q = {"kind": "quant", "scale": scale, "zero": zero, "bits": bits, "signed": signed, "narrow": narrow, "rounding": self.rounding()}
        if pre and self.chance(0.2):
            data = "bipolar"  # network-intrusion style: +-1 data, (x + 1) / 2, then a Quant
        return InputStage(pre, q, data)

    # ------------------------------------------------------------ weights

    def weight_quant(self, w: np.ndarray, out_axis: int, force_po2: bool = False) -> tuple[str, str]:
        """``w`` through a weight quantizer; returns (quantized tensor name, description)."""
        g, rng = self.g, self.rng
        if self.chance(0.08):
            s = np.float32(self.pick([1.0, float(np.abs(w).mean())]))
            self.tags.add("weights:bipolar")
            return g.bipolar(g.init("w", w), s), f"wBipolar(s={s:.3g})"
        bits = int(rng.integers(2, 9)) if not self.chance(0.04) else 1
        signed = True
        narrow = self.style == "brevitas" and bits > 1
        max_code = qrange({"bits": bits, "signed": signed, "narrow": narrow})[1] if bits > 1 else 1
        per_channel = self.chance(0.4)
        po2 = force_po2 or self.style == "qkeras" or self.chance(0.3)
        if per_channel:
            axes = tuple(a for a in range(w.ndim) if a != out_axis)
            m = np.abs(w).max(axis=axes, keepdims=True)
        else:
            m = np.abs(w).max()
        s = np.maximum(m, 1e-3) / max_code
        s = 2.0 ** np.ceil(np.log2(s)) if po2 else s
        s = np.asarray(s, np.float32)
        if self.style == "qkeras" and per_channel and w.ndim == 2 and out_axis == 1:
            s = s.reshape(-1)  # QKeras' per-channel alpha broadcasts on the last (output) axis of [in, out]
        if self.chance(0.3):  # some weights exactly on the quantizer's ties
            ties = (np.floor(w / s) + 0.5) * s
            w = np.where(rng.random(w.shape) < 0.25, ties, w).astype(np.float32)
        self.tags.add("weights:" + ("pc" if per_channel else "pt") + ("-po2" if po2 else "-npo2"))
        name = g.quant(g.init("w", w), s, 0.0, bits, signed, narrow, "ROUND", self.int_params)
        return name, "w" + _fmt_quant(bits, signed, narrow, s, 0, "ROUND")

    def bias(self, channels: int, acc_scale: float, x: str, wq: str, force: bool = False) -> tuple[str | None, str]:
        """A bias tensor: none, float, or through a Quant (QKeras; Brevitas' Int bias, whose
        scale is often the input scale times the weight scale: on the accumulator's grid);
        ``force``: Gemm before opset 11 needs one."""
        g, rng = self.g, self.rng
        kind = self.pick(["none", "float", "quant"], p=[0.35, 0.35, 0.3] if self.style == "brevitas" else [0.1, 0.1, 0.8])
        if kind == "none" and not (force and self.opset < 11):
            return None, ""
        b = (rng.standard_normal(channels) * acc_scale).astype(np.float32)
        if kind in ("float", "none"):
            return g.init("bias", b), "b=f"
        s_in, s_w = g.quant_scale(x), g.quant_scale(wq)
        if self.style == "brevitas" and s_in is not None and s_w is not None and np.size(s_in) == 1 and self.chance(0.5):
            s = (np.float32(s_in) * np.asarray(s_w, np.float32).reshape(-1)).astype(np.float32)
            s = s if s.size > 1 else np.float32(s[0])
            bits = self.pick([16, 24, 32])
            self.tags.add("bias:accumulator-grid")
            return g.quant(g.init("bias", b), s, 0.0, bits, True, False, "ROUND", self.int_params), "b" + _fmt_quant(bits, True, False, s, 0, "ROUND") + "=s_in*s_w"
        bits = int(rng.integers(4, 17)) if self.style == "brevitas" else int(rng.integers(4, 9))
        m = max(float(np.abs(b).max()), 1e-3)
        s = m / (2 ** (bits - 1) - 1)
        s = np.float32(2.0 ** np.ceil(np.log2(s)) if (self.po2_bias or self.chance(0.5)) else s)
        return g.quant(g.init("bias", b), s, 0.0, bits, True, False, "ROUND", self.int_params), "b" + _fmt_quant(bits, True, False, s, 0, "ROUND")

    # ------------------------------------------------------------ layers

    def dense(self, x: str, width: int, allow_gemm: bool = True) -> tuple[str, list[str]]:
        """A fully connected layer as the exporter writes it; returns the accumulator tensor."""
        g, rng = self.g, self.rng
        fan_in = g.val[x].shape[-1]
        w = (rng.standard_normal((width, fan_in)) / np.sqrt(fan_in)).astype(np.float32)
        acc_scale = float(np.std(g.val[x]) + 1e-3)
        if self.style == "brevitas":
            form = self.pick(["matmul_T", "gemm"], p=[0.6, 0.4]) if allow_gemm else "matmul_T"
        else:
            form = "matmul"
        words = [f"{fan_in}->{width}"]
        if form == "matmul_T":
            wq, wd = self.weight_quant(w, out_axis=0)
            y = g.matmul(x, g.transpose(wq, [1, 0]))
            b, bd = self.bias(width, acc_scale, x, wq)
            if b is not None:
                y = g.add("Add", [y, b], g.val[y] + g.val[b])
            words = ["MatMul(WqT)", *words, wd, bd]
        elif form == "gemm":
            wq, wd = self.weight_quant(w, out_axis=0)
            b, bd = self.bias(width, acc_scale, x, wq, force=True)
            y = g.gemm_transb(x, wq, b)
            words = ["Gemm(transB)", *words, wd, bd]
        else:
            wq, wd = self.weight_quant(np.ascontiguousarray(w.T), out_axis=1)
            y = g.matmul(x, wq)
            b, bd = self.bias(width, acc_scale, x, wq)
            if b is not None:
                y = g.add("Add", [y, b], g.val[y] + g.val[b])
            words = ["MatMul", *words, wd, bd]
        self.tags.add(f"dense:{form}")
        return y, [w for w in words if w]

    def conv(self, x: str, out_ch: int, kernel: int, stride: int = 1, same: bool = True) -> tuple[str, list[str]]:
        """A convolution in the graph's layout (NCHW, QKeras transposes, or QONNX channels-last)."""
        g, rng = self.g, self.rng
        v = g.val[x]
        nd = v.ndim - 2
        first = self.layout == "first"
        in_ch = v.shape[1] if first else v.shape[-1]
        spatial = v.shape[2:] if first else v.shape[1:-1]
        k = [min(kernel, s) for s in spatial]
        pads = [kk // 2 for kk in k] + [(kk - 1) // 2 for kk in k] if same else [0] * (2 * nd)
        strides = [stride if s >= 2 * stride else 1 for s in spatial]
        w = (rng.standard_normal((out_ch, in_ch, *k)) / np.sqrt(in_ch * np.prod(k))).astype(np.float32)
        acc_scale = float(np.std(v) + 1e-3)
        has_bias = self.chance(0.5)
        words = [f"Conv{nd}d[{self.layout}] {in_ch}->{out_ch} k{'x'.join(map(str, k))}s{max(strides)}p{max(pads)}"]
        if self.layout == "cl_domain":
            wq, wd = self.weight_quant(np.ascontiguousarray(np.moveaxis(w, 1, -1)), out_axis=0, force_po2=False)
            b, bd = self.bias(out_ch, acc_scale, x, wq) if has_bias else (None, "")
            y = g.conv(x, wq, b, k, strides, pads, channels_last=True)
        elif self.layout == "tf_transpose":
            wq, wd = self.weight_quant(w, out_axis=0)
            b, bd = self.bias(out_ch, acc_scale, x, wq) if has_bias else (None, "")
            t = g.transpose(x, [0, nd + 1] + list(range(1, nd + 1)))
            y = g.conv(t, wq, b, k, strides, pads)
            if self.chance(0.3):
                y = self.batchnorm(y, words, channels_last=False)
            y = g.transpose(y, [0] + list(range(2, nd + 2)) + [1])
        else:
            wq, wd = self.weight_quant(w, out_axis=0)
            b, bd = self.bias(out_ch, acc_scale, x, wq) if has_bias else (None, "")
            y = g.conv(x, wq, b, k, strides, pads)
        self.tags.add(f"conv{nd}d")
        return y, [w for w in [*words, wd, bd] if w]

    def batchnorm(self, y: str, words: list[str], channels_last: bool) -> str:
        rng, g = self.rng, self.g
        v = g.val[y]
        axis = v.ndim - 1 if channels_last else 1
        axes = tuple(a for a in range(v.ndim) if a != axis)
        c = v.shape[axis]
        mean = v.mean(axis=axes) + rng.standard_normal(c) * 0.3 * (v.std(axis=axes) + 1e-3)
        var = (v.var(axis=axes) + 1e-2) * rng.uniform(0.3, 3, c)
        gamma = rng.uniform(0.3, 2, c) * np.where(rng.random(c) < 0.15, -1, 1)
        beta = rng.uniform(-0.7, 0.7, c)
        words.append("BN" + ("(cl)" if channels_last and self.layout == "cl_domain" else ""))
        self.tags.add("batchnorm")
        return g.batchnorm(y, gamma, beta, mean, var, channels_last=channels_last and self.layout == "cl_domain")

    def channel_const(self, y: str, channels_last: bool, positive: bool = False) -> np.ndarray:
        """A per-tensor or per-channel float constant broadcasting onto ``y``."""
        v = self.g.val[y]
        lo, hi = (0.2, 3.0) if positive else (-1.0, 1.0)
        if self.chance(0.5):
            return np.float32(self.rng.uniform(lo, hi))
        axis = v.ndim - 1 if channels_last or v.ndim == 2 else 1
        c = v.shape[axis]
        shape = [1] * (v.ndim - axis)
        shape[0] = c
        return self.rng.uniform(lo, hi, c).astype(np.float32).reshape(shape)

    def post(self, y: str, words: list[str], last: bool = False, out_kind: str = "quant") -> str:
        """What follows an accumulator: BatchNorm, float constants, an activation, a quantizer."""
        g, rng = self.g, self.rng
        v = g.val[y]
        cl = self.layout in ("tf_transpose", "cl_domain") and v.ndim > 2
        bn_inside_transposes = v.ndim > 2 and self.layout == "tf_transpose"  # see conv()
        if not bn_inside_transposes and self.chance(0.5 if self.style == "brevitas" else 0.15):
            y = self.batchnorm(y, words, channels_last=cl)
        if self.chance(0.2):
            op = self.pick(["Mul", "Add", "Div"])
            c = self.channel_const(y, cl, positive=op != "Add")
            y = g.binary(op, y, c)
            words.append(f"{op}({'pc' if np.ndim(c) else f'{float(c):.3g}'})")
            self.tags.add("float-const-op")
        if out_kind == "float":
            return y
        if out_kind == "bipolar":
            words.append("BipolarQuant")
            self.tags.add("output:bipolar")
            return g.bipolar(y, np.float32(self.pick([1.0, float(rng.uniform(0.2, 2))])))
        act = self.pick(["relu", "none", "clip", "leaky"], p=[0.55, 0.2, 0.1, 0.15])
        v = g.val[y]
        if act == "relu":
            y = g.relu(y)
            words.append("Relu")
        elif act == "clip":
            a = float(np.percentile(np.abs(v), 80)) + 1e-3
            lo = 0.0 if self.chance(0.3) else -a
            y = g.clip(y, np.float32(lo), np.float32(a))
            words.append(f"Clip({lo:.3g},{a:.3g})")
        elif act == "leaky":
            alpha = float(self.pick([0.1, 0.2, 0.01, float(np.float32(rng.uniform(0.05, 0.5)))]))
            y = g.leaky(y, alpha)
            words.append(f"LeakyRelu({alpha:.3g})")
        self.tags.add(f"act:{act}")
        if self.chance(0.05):
            words.append("BipolarQuant")
            self.tags.add("act:bipolar")
            return g.bipolar(y, np.float32(1.0))
        return self.act_quant(y, words, nonneg=act == "relu" or (act == "clip" and g.val[y].min() >= 0))

    def act_quant(self, y: str, words: list[str], nonneg: bool) -> str:
        g, rng = self.g, self.rng
        bits = int(rng.integers(1, 9))
        if self.rare(0.04):  # Brevitas Int16 activations and the like: float32 holds them
            bits = int(self.xrng.choice([10, 12, 16]))
            self.tags.add("actq:wide")
        signed = not nonneg if not self.chance(0.1) else nonneg
        narrow = self.chance(0.2) and not (signed and bits == 1)
        zero = 0.0
        max_code = qrange({"bits": bits, "signed": signed, "narrow": narrow})[1]
        if signed and bits == 1:
            max_code = 1
        v = g.val[y]
        po2 = self.style == "qkeras" or self.chance(0.35)
        if not signed and bits > 1 and self.chance(0.1):
            zero = float(rng.integers(1, 2 ** (bits - 1) + 1))
            s = self.act_scale(v - v.min(), max_code, po2)
        else:
            s = self.act_scale(v, max_code, po2)
        rounding = self.rounding()
        if self.rare(0.05):  # per-channel activation scales (Brevitas scaling_per_output_channel)
            s = self.per_channel_scale(v - v.min() if zero else v, max_code, po2)
            self.tags.add("actq:pc")
        self.tags.add("actq:" + ("po2" if is_po2(s) else "npo2"))
        words.append(_fmt_quant(bits, signed, narrow, s, zero, rounding))
        return g.quant(y, s, zero, bits, signed, narrow, rounding, self.int_params)

    def per_channel_scale(self, v: np.ndarray, max_code: int, po2: bool) -> np.ndarray:
        """One calibrated scale per channel, shaped to broadcast onto ``v`` (axis 1 in NC...,
        the last axis channels-last)."""
        last = v.ndim == 2 or self.layout in ("tf_transpose", "cl_domain")
        axis = v.ndim - 1 if last else 1
        moved = np.moveaxis(np.abs(v), axis, 0).reshape(v.shape[axis], -1)
        p = np.maximum(np.percentile(moved, 95, axis=1), 1e-3) * self.xrng.uniform(0.6, 1.4, v.shape[axis])
        s = p / max(max_code, 1)
        s = 2.0 ** np.round(np.log2(s)) if po2 else s
        shape = [v.shape[axis]] + [1] * (v.ndim - 1 - axis)
        return s.astype(np.float32).reshape(shape)

    def block_dense(self, x: str, width: int, out_kind: str = "quant") -> str:
        y, words = self.dense(x, width)
        y = self.post(y, words, out_kind=out_kind)
        self.desc.append(" ".join(words))
        return y

    def block_conv(self, x: str, out_ch: int, kernel: int, stride: int = 1, out_kind: str = "quant") -> str:
        y, words = self.conv(x, out_ch, kernel, stride)
        y = self.post(y, words, out_kind=out_kind)
        self.desc.append(" ".join(words))
        return y

    # ------------------------------------------------------------ networks

    def flatten(self, x: str) -> str:
        how = self.pick(["flatten", "shape_subgraph", "reshape"], p=[0.4, 0.4, 0.2])
        self.desc.append(f"flatten:{how}")
        if how == "flatten":
            return self.g.flatten(x)
        if how == "shape_subgraph":
            self.tags.add("shape-subgraph")
            return self.g.reshape_by_shape_subgraph(x)
        return self.g.reshape_const(x, [-1, int(np.prod(self.g.val[x].shape[1:]))])

    def head(self, x: str) -> list[str]:
        """The last layer: quantized output, float output (maybe BatchNorm as ops), or bipolar."""
        g, rng = self.g, self.rng
        width = int(rng.integers(2, 7))
        kind = self.pick(["quant", "float", "bipolar"], p=[0.4, 0.45, 0.15])
        self.tags.add(f"output:{kind}")
        if kind != "float" or self.chance(0.5):
            return [self.block_dense(x, width, out_kind=kind)]
        y, words = self.dense(x, width)
        if self.chance(0.4):  # TFC's last BatchNorm, exported as Sub, Div (by sqrt(var)), Mul, Add
            v = g.val[y]
            y = g.binary("Sub", y, np.float32(v.mean()))
            y = g.binary("Div", y, np.float32(np.sqrt(v.var() + 1e-5) * rng.uniform(0.5, 2)))
            y = g.binary("Mul", y, np.float32(rng.uniform(0.3, 2)))
            y = g.binary("Add", y, np.float32(rng.uniform(-1, 1)))
            words.append("BN-as-Sub/Div/Mul/Add")
            self.tags.add("batchnorm-ops")
        words.append("float out")
        self.desc.append(" ".join(words))
        return [y]

    def mlp(self, x: str) -> list[str]:
        rng = self.rng
        depth = int(rng.integers(0, 2 if self.small else 3))
        if not self.small and self.rare(0.05):
            depth = int(self.xrng.integers(3, 6))
            self.tags.add("deep")
        structure = self.pick(["chain", "residual", "concat"], p=[0.7, 0.15, 0.15]) if depth else "chain"
        for k in range(depth):
            width = int(rng.integers(3, self.cap))
            if not self.small and self.rare(0.06):  # a wide layer: accumulators of many codes
                width = int(self.xrng.integers(48, 257))
                self.tags.add("wide")
            if k == depth - 1 and structure == "residual":
                x = self.residual_dense(x)
            elif k == depth - 1 and structure == "concat":
                a = self.block_dense(x, width)
                b = self.block_dense(x, int(rng.integers(2, 9)))
                x = self.g.concat([a, b], axis=1)
                self.desc.append("Concat")
                self.tags.add("concat")
            else:
                x = self.block_dense(x, width)
        return self.head(x)

    def residual_dense(self, x: str) -> str:
        width = self.g.val[x].shape[-1]
        a = self.block_dense(x, width)
        b = x if self.chance(0.5) else self.block_dense(x, width)
        return self.merge_add(a, b)

    def merge_add(self, a: str, b: str) -> str:
        y = self.g.add_tensors(a, b)
        words = ["residual Add"]
        self.tags.add("residual")
        nonneg = False
        if self.chance(0.5):
            y = self.g.relu(y)
            words.append("Relu")
            nonneg = True
        y = self.act_quant(y, words, nonneg=nonneg)
        self.desc.append(" ".join(words))
        return y

    def convnet(self, x: str) -> list[str]:
        rng, g = self.rng, self.g
        depth = 1 if self.small else int(rng.integers(1, 3))
        structure = self.pick(["chain", "residual", "concat"], p=[0.6, 0.2, 0.2])
        for k in range(depth):
            ch = int(rng.integers(2, 5))
            kernel = int(self.pick([1, 2, 3, 3]))
            stride = 2 if self.chance(0.15) else 1
            x = self.block_conv(x, ch, kernel, stride)
            if self.chance(0.35):
                x = self.pooling(x)
        if structure == "residual":
            v = g.val[x]
            ch = v.shape[1] if self.layout == "first" else v.shape[-1]
            a = self.block_conv(x, ch, self.pick([1, 3]))
            b = x if self.chance(0.5) else self.block_conv(x, ch, 1)
            x = self.merge_add(a, b)
        elif structure == "concat":
            a = self.block_conv(x, int(rng.integers(1, 4)), self.pick([1, 3]))
            b = self.block_conv(x, int(rng.integers(1, 4)), self.pick([1, 3]))
            axis = 1 if self.layout == "first" else g.val[x].ndim - 1
            x = g.concat([a, b], axis=axis)
            self.desc.append(f"Concat(axis={axis})")
            self.tags.add("concat")
        if self.chance(0.2):
            self.desc.append("spatial out")
            self.tags.add("output:spatial")
            return [x]
        ending = self.pick(["flatten", "global"], p=[0.7, 0.3])
        if ending == "global" and self.layout == "first":
            kind = self.pick(["max", "avg"])
            x = g.global_pool(x, kind)
            self.desc.append(f"Global{kind}Pool")
            self.tags.add(f"globalpool:{kind}")
            if kind == "avg":
                x = self.act_quant(x, words := ["after GlobalAvgPool"], nonneg=bool(g.val[x].min() >= 0))
                self.desc.append(" ".join(words))
        if self.layout != "first" and self.chance(0.5):
            x = g.transpose(x, [0, g.val[x].ndim - 1] + list(range(1, g.val[x].ndim - 1)))
            self.desc.append("T->nchw")
        x = self.flatten(x)
        return self.head(x)

    def pooling(self, x: str) -> str:
        g = self.g
        v = g.val[x]
        spatial = v.shape[2:] if self.layout == "first" else v.shape[1:-1]
        if min(spatial) < 2:
            return x
        kind = self.pick(["max", "avg"], p=[0.6, 0.4])
        if self.layout == "first":
            y = g.pool(x, 2, kind)
        elif self.layout == "cl_domain" and kind == "max":
            y = g.pool(x, 2, "max", channels_last=True)
        else:  # a channels-last tensor pooled by a standard op: between transposes
            nd = v.ndim - 2
            t = g.transpose(x, [0, nd + 1] + list(range(1, nd + 1)))
            y = g.transpose(g.pool(t, 2, kind), [0] + list(range(2, nd + 2)) + [1])
        self.desc.append(f"{kind.capitalize()}Pool2")
        self.tags.add(f"pool:{kind}")
        if kind == "avg":  # an average is float: Brevitas follows it by a quantizer
            words = []
            y = self.act_quant(y, words, nonneg=bool(g.val[y].min() >= 0))
            self.desc.append(" ".join(words))
        return y


def make_case(seed: int, n_samples: int = 64, small: bool = False) -> FuzzCase:
    """The fuzz graph of ``seed`` (deterministic), with ``n_samples`` test inputs; ``small``
    graphs (one hidden layer or one convolution, narrower) keep the suite fast."""
    return Generator(seed, n_samples, small).run()
