"""QONNX CNNs after qonnx's channels-last conversion (for the front end's issue 9).

Each model is first written channels-first, as a QONNX export of a quantized Keras/Brevitas CNN
(opset 13, ``Quant`` in ``qonnx.custom_op.general`` with power-of-two scales, float weights
quantized by ``Quant`` nodes, float biases), then converted exactly as users convert them:
``qonnx.util.cleanup.cleanup_model`` and ``ConvertToChannelsLastAndClean(make_input_channels_last
=True)``.  The result is what such users hand to a compiler: ``Conv`` and ``MaxPool`` in domain
``qonnx.custom_op.channels_last`` (weights folded to OHWI), an NHWC input, and Transposes left
wherever qonnx cannot move them (around ``Resize`` and ``Concat``, which it does not convert).

- ``unet_channels_last``: a small U-Net on a 32x32x3 image: input ``Quant`` (8 bits, 2**-5),
  two encoder stages (3x3 ``Conv`` -> ``LeakyRelu(0.1)`` -> ``Quant`` 8 bits 2**-4, then 2x2
  ``MaxPool``) of 8 and 16 channels, a 16-channel bottleneck, two decoder stages (``Resize``
  nearest with ``scales`` [1, 1, 2, 2] (integer factor 2) as an input, ``Concat`` along channels
  with the encoder's skip tensor, 3x3 ``Conv`` -> ``LeakyRelu`` -> ``Quant``), and a 1x1 ``Conv``
  head to 2 channels quantized to 8 bits.  4-bit weights (scale 2**-3).  The input is NHWC
  [1, 32, 32, 3]; the output stays [1, 2, 32, 32] behind a final Transpose (qonnx converts
  graph inputs, not outputs).
- ``branched_cnn_channels_last``: a 16x16x3 input ``Quant``, a 3x3 ``Conv`` stem, two branches
  (3x3 ``Conv`` and 1x1 ``Conv``, each ``Relu`` -> ``Quant``) concatenated along channels, 2x2
  ``MaxPool``, ``Flatten`` and a ``Gemm`` to 10 float logits.

Both run under ``qonnx.core.onnx_exec.execute_onnx``.
"""

from __future__ import annotations

import contextlib
import io
import random

import numpy as np

from .export import Graph, Producer, f32, finish, rng_for, value

QONNX_EXPORT = Producer("QONNX", "1.0.0", ir_version=8, opsets=(("", 13), ("qonnx.custom_op.general", 1)))
QONNX = "qonnx.custom_op.general"


class _Builder:
    """A channels-first QONNX graph written layer by layer."""

    def __init__(self, name: str):
        self.rng = rng_for(name)
        self.g = Graph()
        self.n = 0

    def fresh(self, what: str) -> str:
        self.n += 1
        return f"{what}_{self.n}"

    def quant(self, x: str, scale: float, bits: int, signed: bool = True) -> str:
        names = [self.fresh("scale"), self.fresh("zeropt"), self.fresh("bitwidth")]
        for n, v in zip(names, (scale, 0.0, float(bits))):
            self.g.init(n, f32(v))
        return self.g.add("Quant", [x, *names], [self.fresh("Quant_out")], self.fresh("Quant"), QONNX, narrow=0, rounding_mode="ROUND", signed=int(signed))

    def conv(self, x: str, cin: int, cout: int, k: int) -> str:
        w = self.g.init(self.fresh("conv_w"), f32(self.rng.normal(0, 1.2 / np.sqrt(cin * k * k), (cout, cin, k, k))))
        b = self.g.init(self.fresh("conv_b"), f32(self.rng.normal(0, 0.05, cout)))
        wq = self.quant(w, 2.0**-3, 4)
        pad = k // 2
        return self.g.add("Conv", [x, wq, b], [self.fresh("Conv_out")], self.fresh("Conv"), kernel_shape=[k, k], pads=[pad] * 4, strides=[1, 1], dilations=[1, 1], group=1)

    def act(self, x: str, op: str = "LeakyRelu") -> str:
        attrs = {"alpha": 0.1} if op == "LeakyRelu" else {}
        y = self.g.add(op, [x], [self.fresh(f"{op}_out")], self.fresh(op), **attrs)
        return self.quant(y, 2.0**-4, 8)

    def pool(self, x: str) -> str:
        return self.g.add("MaxPool", [x], [self.fresh("MaxPool_out")], self.fresh("MaxPool"), kernel_shape=[2, 2], pads=[0, 0, 0, 0], strides=[2, 2])

    def upsample(self, x: str) -> str:
        scales = self.g.init(self.fresh("scales"), f32([1, 1, 2, 2]))
        return self.g.add("Resize", [x, "", scales], [self.fresh("Resize_out")], self.fresh("Resize"), mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def concat(self, *xs: str) -> str:
        return self.g.add("Concat", list(xs), [self.fresh("Concat_out")], self.fresh("Concat"), axis=1)


def _channels_last(model):
    """qonnx's clean-up, channels-last conversion and clean-up again, as its command-line tools
    run them.  The conversion names new tensors with Python's ``random``: it runs on a seeded
    state (the caller's is restored) and the last clean-up renames every tensor after its node,
    so the result is the same bytes every time."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.util.cleanup import cleanup_model

    state = random.getstate()
    random.seed(0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            wrapper = cleanup_model(ModelWrapper(model))
            wrapper = wrapper.transform(ConvertToChannelsLastAndClean(make_input_channels_last=True))
            wrapper = cleanup_model(wrapper)
    finally:
        random.setstate(state)
    return wrapper.model


def unet_channels_first():
    """The U-Net before the conversion (the tests compare both under execute_onnx)."""
    b = _Builder("unet_channels_last")
    x = b.quant("global_in", 2.0**-5, 8)
    e1 = b.act(b.conv(x, 3, 8, 3))
    e2 = b.act(b.conv(b.pool(e1), 8, 16, 3))
    mid = b.act(b.conv(b.pool(e2), 16, 16, 3))
    d2 = b.act(b.conv(b.concat(b.upsample(mid), e2), 32, 16, 3))
    d1 = b.act(b.conv(b.concat(b.upsample(d2), e1), 24, 8, 3))
    b.quant(b.conv(d1, 8, 2, 1), 2.0**-4, 8)
    b.g.nodes[-1].output[0] = "global_out"
    return finish(b.g, QONNX_EXPORT, [value("global_in", [1, 3, 32, 32])], [value("global_out", [1, 2, 32, 32])], "unet")


def unet_channels_last():
    return _channels_last(unet_channels_first())


def branched_cnn_channels_first():
    """The branched CNN before the conversion."""
    b = _Builder("branched_cnn_channels_last")
    x = b.quant("global_in", 2.0**-5, 8)
    stem = b.act(b.conv(x, 3, 8, 3), "Relu")
    left = b.act(b.conv(stem, 8, 8, 3), "Relu")
    right = b.act(b.conv(stem, 8, 4, 1), "Relu")
    y = b.pool(b.concat(left, right))
    y = b.g.add("Flatten", [y], [b.fresh("Flatten_out")], b.fresh("Flatten"), axis=1)
    w = b.g.init(b.fresh("dense_w"), f32(b.rng.normal(0, 1 / np.sqrt(12 * 8 * 8), (10, 12 * 8 * 8))))
    bias = b.g.init(b.fresh("dense_b"), f32(b.rng.normal(0, 0.05, 10)))
    b.g.add("Gemm", [y, b.quant(w, 2.0**-4, 4), bias], ["global_out"], b.fresh("Gemm"), transB=1)
    return finish(b.g, QONNX_EXPORT, [value("global_in", [1, 3, 16, 16])], [value("global_out", [1, 10])], "branched_cnn")


def branched_cnn_channels_last():
    return _channels_last(branched_cnn_channels_first())


MODELS = {"unet_channels_last": unet_channels_last, "branched_cnn_channels_last": branched_cnn_channels_last}
