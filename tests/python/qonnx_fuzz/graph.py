"""An ONNX graph under construction that also evaluates itself, in numpy, on a calibration batch.

The generator needs the values flowing through the graph it builds (to pick quantizer scales
and BatchNorm statistics the way training would, so the quantizers are neither always saturated
nor always zero), so every op added here computes its result on the calibration batch too.
These values only steer the generator's choices; the reference is always QONNX's
``execute_onnx`` on the finished model.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.custom_op.general.intquant import int_quant

CHANNELS_LAST = "qonnx.custom_op.channels_last"


def conv_nchw(x: np.ndarray, w: np.ndarray, strides, pads) -> np.ndarray:
    """Plain convolution, ``x`` (N, C, *spatial), ``w`` (O, C, *kernel), pads begins then ends."""
    nd = x.ndim - 2
    widths = [(0, 0), (0, 0)] + [(pads[d], pads[d + nd]) for d in range(nd)]
    xp = np.pad(x.astype(np.float64), widths)
    kernel = w.shape[2:]
    out_sp = [(xp.shape[2 + d] - kernel[d]) // strides[d] + 1 for d in range(nd)]
    out = np.zeros((x.shape[0], w.shape[0], *out_sp))
    for k in np.ndindex(*kernel):
        window = tuple(slice(k[d], k[d] + strides[d] * (out_sp[d] - 1) + 1, strides[d]) for d in range(nd))
        patch = xp[(slice(None), slice(None)) + window]
        out += np.einsum("nc...,oc->no...", patch, w[(slice(None), slice(None)) + k])
    return out.astype(np.float32)


def pool_nchw(x: np.ndarray, k: int, kind: str) -> np.ndarray:
    """Non-overlapping pooling (kernel = stride = k) over every spatial axis."""
    nd = x.ndim - 2
    sp = [s // k for s in x.shape[2:]]
    x = x[(slice(None), slice(None)) + tuple(slice(0, s * k) for s in sp)]
    shape = list(x.shape[:2])
    for s in sp:
        shape += [s, k]
    y = x.reshape(shape)
    axes = tuple(3 + 2 * d for d in range(nd))
    return (y.max(axis=axes) if kind == "max" else y.mean(axis=axes)).astype(np.float32)


def to_last(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1)


def to_first(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, -1, 1)


class GraphBuilder:
    """Nodes, initializers and the calibration value of every tensor."""

    def __init__(self, opset: int, quant_domain: str):
        self.opset = opset
        self.quant_domain = quant_domain
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.val: dict[str, np.ndarray] = {}
        self.count: dict[str, int] = {}
        self.inputs: list[onnx.ValueInfoProto] = []
        self.domains: set[str] = set()
        self.producer: dict[str, onnx.NodeProto] = {}

    def quant_scale(self, name: str) -> np.ndarray | None:
        """The scale of the Quant that produced ``name`` (through Transposes), if one did."""
        node = self.producer.get(name)
        while node is not None and node.op_type == "Transpose":
            node = self.producer.get(node.input[0])
        if node is None or node.op_type != "Quant":
            return None
        return self.val[node.input[1]]

    # ------------------------------------------------------------ plumbing

    def fresh(self, hint: str) -> str:
        n = self.count.get(hint, 0)
        self.count[hint] = n + 1
        return f"{hint}_{n}"

    def init(self, hint: str, arr, dtype=np.float32) -> str:
        name = self.fresh(hint)
        a = np.asarray(arr, dtype=dtype)
        self.inits.append(numpy_helper.from_array(a, name))
        self.val[name] = a
        return name

    def add(self, op: str, inputs: list[str], value: np.ndarray, domain: str = "", **attrs) -> str:
        out = self.fresh(op)
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.fresh(f"n{op}"), domain=domain, **attrs))
        self.producer[out] = self.nodes[-1]
        if domain:
            self.domains.add(domain)
        value = np.asarray(value)
        self.val[out] = value if value.dtype.kind in "iu" else value.astype(np.float32)
        return out

    def graph_input(self, name: str, calib: np.ndarray) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, *calib.shape[1:]]))
        self.val[name] = calib.astype(np.float32)
        return name

    def model(self, outputs: list[str], batch: int = 1) -> onnx.ModelProto:
        """The model with every graph input's first (batch) dimension set to ``batch``."""
        inputs = []
        for vi in self.inputs:
            dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
            inputs.append(helper.make_tensor_value_info(vi.name, TensorProto.FLOAT, [batch, *dims[1:]]))
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
        nodes = self.needed_nodes(outputs)
        used = {i for n in nodes for i in n.input}
        inits = [t for t in self.inits if t.name in used]
        graph = helper.make_graph(nodes, "fuzz", inputs, outs, initializer=inits, value_info=self.value_info(nodes, outputs, batch))
        # QONNX runs a channels-last op as the standard op of the version its domain imports:
        # its transformations import that domain at the standard opset
        opsets = [helper.make_opsetid("", self.opset)]
        opsets += [helper.make_opsetid(d, self.opset if d == CHANNELS_LAST else 1) for d in sorted(self.domains)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="fmlc-qonnx-fuzz")
        model.ir_version = 8
        return model

    def value_info(self, nodes, outputs: list[str], batch: int) -> list[onnx.ValueInfoProto]:
        """Shapes of the intermediate tensors, as exporters write them (QONNX's channels-last
        ops need their input shapes known for shape inference)."""
        infos = []
        runtime = {vi.name for vi in self.inputs}
        for node in nodes:
            batched = bool(runtime.intersection(node.input))
            for name in node.output:
                if batched:
                    runtime.add(name)
                if name in outputs:
                    continue
                v = self.val[name]
                if v.dtype.kind in "iu" or not batched:
                    elem = TensorProto.INT64 if v.dtype.kind in "iu" else TensorProto.FLOAT
                    infos.append(helper.make_tensor_value_info(name, elem, list(v.shape)))
                else:
                    infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, *v.shape[1:]]))
        return infos

    def needed_nodes(self, outputs: list[str]) -> list[onnx.NodeProto]:
        """The nodes the outputs depend on, in order (a prefix of the graph ends at any tensor)."""
        want = set(outputs)
        keep = []
        for node in reversed(self.nodes):
            if want.intersection(node.output):
                keep.append(node)
                want.update(node.input)
        return keep[::-1]

    # ------------------------------------------------------------ quantizers

    def quant(self, x: str, scale, zero, bits: int, signed: bool, narrow: bool, rounding: str, int_params: bool = False) -> str:
        """A QONNX Quant; QKeras' exports (``int_params``) give zero point and bit width as int64."""
        s = self.init("scale", scale)
        z = self.init("zeropt", zero, np.int64 if int_params else np.float32)
        b = self.init("bitwidth", bits, np.int64 if int_params else np.float32)
        y = int_quant(self.val[x], self.val[s], self.val[z], self.val[b], int(signed), int(narrow), rounding)
        return self.add("Quant", [x, s, z, b], y, domain=self.quant_domain, signed=int(signed), narrow=int(narrow), rounding_mode=rounding)

    def bipolar(self, x: str, scale) -> str:
        s = self.init("scale", scale)
        y = np.where(self.val[x] >= 0, 1.0, -1.0) * self.val[s]
        return self.add("BipolarQuant", [x, s], y, domain=self.quant_domain)

    # ------------------------------------------------------------ element-wise

    def binary(self, op: str, x: str, c, const_first: bool = False) -> str:
        cn = self.init("c", c)
        a, b = (self.val[cn], self.val[x]) if const_first else (self.val[x], self.val[cn])
        y = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b)
        return self.add(op, [cn, x] if const_first else [x, cn], y)

    def add_tensors(self, a: str, b: str) -> str:
        return self.add("Add", [a, b], self.val[a] + self.val[b])

    def relu(self, x: str) -> str:
        return self.add("Relu", [x], np.maximum(self.val[x], 0))

    def leaky(self, x: str, alpha: float) -> str:
        v = self.val[x]
        return self.add("LeakyRelu", [x], np.where(v >= 0, v, np.float32(alpha) * v), alpha=float(alpha))

    def clip(self, x: str, lo: float, hi: float) -> str:
        y = np.clip(self.val[x], lo, hi)
        if self.opset < 11:
            return self.add("Clip", [x], y, min=float(lo), max=float(hi))
        return self.add("Clip", [x, self.init("min", lo), self.init("max", hi)], y)

    def batchnorm(self, x: str, gamma, beta, mean, var, eps: float = 1e-5, channels_last: bool = False) -> str:
        names = [self.init(h, a) for h, a in (("bn_gamma", gamma), ("bn_beta", beta), ("bn_mean", mean), ("bn_var", var))]
        v = self.val[x]
        if channels_last:
            shape = (1,) * (v.ndim - 1) + (-1,)
        else:
            shape = (1, -1) + (1,) * (v.ndim - 2)
        g, b, m, s = (np.asarray(a, np.float32).reshape(shape) for a in (gamma, beta, mean, var))
        y = (v - m) / np.sqrt(s + np.float32(eps)) * g + b
        domain = CHANNELS_LAST if channels_last else ""
        return self.add("BatchNormalization", [x, *names], y, domain=domain, epsilon=float(eps))

    # ------------------------------------------------------------ linear layers

    def matmul(self, x: str, w: str) -> str:
        return self.add("MatMul", [x, w], self.val[x].astype(np.float64) @ self.val[w].astype(np.float64))

    def gemm_transb(self, x: str, w: str, bias: str | None) -> str:
        y = self.val[x].astype(np.float64) @ self.val[w].astype(np.float64).T
        if bias is not None:
            y = y + self.val[bias]
        return self.add("Gemm", [x, w] + ([bias] if bias else []), y, transB=1, alpha=1.0, beta=1.0)

    def conv(self, x: str, w: str, bias: str | None, kernel, strides, pads, channels_last: bool = False) -> str:
        v, wv = self.val[x], self.val[w]
        if channels_last:
            y = to_last(conv_nchw(to_first(v), to_first(wv), strides, pads))
        else:
            y = conv_nchw(v, wv, strides, pads)
        if bias is not None:
            b = self.val[bias]
            y = y + (b if channels_last else b.reshape((1, -1) + (1,) * (y.ndim - 2)))
        nd = len(kernel)
        attrs = {"kernel_shape": list(kernel), "strides": list(strides), "pads": list(pads), "dilations": [1] * nd, "group": 1}
        return self.add("Conv", [x, w] + ([bias] if bias else []), y, domain=CHANNELS_LAST if channels_last else "", **attrs)

    # ------------------------------------------------------------ pooling and data movement

    def pool(self, x: str, k: int, kind: str, channels_last: bool = False) -> str:
        v = self.val[x]
        nd = v.ndim - 2
        y = to_last(pool_nchw(to_first(v), k, kind)) if channels_last else pool_nchw(v, k, kind)
        op = "MaxPool" if kind == "max" else "AveragePool"
        return self.add(op, [x], y, domain=CHANNELS_LAST if channels_last else "", kernel_shape=[k] * nd, strides=[k] * nd, pads=[0] * (2 * nd))

    def global_pool(self, x: str, kind: str) -> str:
        v = self.val[x]
        axes = tuple(range(2, v.ndim))
        y = v.max(axis=axes, keepdims=True) if kind == "max" else v.mean(axis=axes, keepdims=True)
        return self.add("GlobalMaxPool" if kind == "max" else "GlobalAveragePool", [x], y)

    def transpose(self, x: str, perm) -> str:
        return self.add("Transpose", [x], np.transpose(self.val[x], perm), perm=list(perm))

    def flatten(self, x: str) -> str:
        v = self.val[x]
        return self.add("Flatten", [x], v.reshape(v.shape[0], -1), axis=1)

    def reshape_const(self, x: str, shape) -> str:
        v = self.val[x]
        s = self.init("shape", shape, np.int64)
        return self.add("Reshape", [x, s], v.reshape([v.shape[0] if d == 0 else d for d in shape]))

    def reshape_by_shape_subgraph(self, x: str) -> str:
        """Brevitas' ``x.view(x.size(0), -1)``: Shape, Gather, Unsqueeze, Concat, Reshape."""
        v = self.val[x]
        shp = self.add("Shape", [x], np.asarray(v.shape, np.int64))
        idx = self.init("idx", 0, np.int64)
        g = self.add("Gather", [shp, idx], np.asarray(v.shape[0], np.int64), axis=0)
        if self.opset < 13:
            u = self.add("Unsqueeze", [g], np.asarray([v.shape[0]], np.int64), axes=[0])
        else:
            u = self.add("Unsqueeze", [g, self.init("axes", [0], np.int64)], np.asarray([v.shape[0]], np.int64))
        minus = self.init("minus1", [-1], np.int64)
        cat = self.add("Concat", [u, minus], np.asarray([v.shape[0], -1], np.int64), axis=0)
        return self.add("Reshape", [x, cat], v.reshape(v.shape[0], -1))

    def concat(self, xs: list[str], axis: int) -> str:
        return self.add("Concat", xs, np.concatenate([self.val[x] for x in xs], axis=axis), axis=axis)
