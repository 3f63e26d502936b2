"""Pooling: MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool (channels-first, and QONNX's
channels-last MaxPool).

Max pooling is exact, and commutes with a positive per-channel scale, so a quantized tensor's
``Real`` passes through it.  Average pooling in a float model divides by the window count with a
rounded reciprocal (the ``table_output`` type); in a quantized model the reciprocal is held to 40
bits and the result carries the bound of the reference's float32 average.
"""

from __future__ import annotations

import numpy as np

from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.frontend import ModelImportError, f32 as F32
from fmlc.frontend.core import attrs
from fmlc.frontend.ops_linear import conv_pads
from fmlc.frontend.values import Act, Real

QUANTIZED_RECIPROCAL = FixedFormat(41, 1, False, "RND", "SAT")
"""1/count in quantized models: 40 fractional bits, far below float32's own rounding."""


class PoolOps:
    """Max and average pooling, local and global."""

    def pool(self, node, kind: str) -> None:
        a = attrs(node)
        channels_last = node.domain == "qonnx.custom_op.channels_last"
        x = self.act(node.input[0], node)
        nsp = x.rank - 2
        if nsp not in (1, 2):
            raise ModelImportError(f"{nsp}-D pooling is not supported", node.name, node.op_type)
        x = self.pool_input(x, node, kind, x.rank - 1 if channels_last else 1)
        if int(a.get("ceil_mode", 0)):
            raise ModelImportError("ceil_mode=1 is not supported (export with floor rounding of the output size)", node.name, node.op_type)
        if any(d != 1 for d in a.get("dilations", [1] * nsp)):
            raise ModelImportError("dilated pooling is not supported", node.name, node.op_type)
        if "kernel_shape" not in a:
            raise ModelImportError("kernel_shape is required", node.name, node.op_type)
        kernel = tuple(a["kernel_shape"])
        strides = tuple(a.get("strides", [1] * nsp))
        if len(kernel) != nsp or len(strides) != nsp:
            raise ModelImportError("kernel_shape and strides need one entry per spatial axis", node.name, node.op_type)
        spatial = tuple(x.shape[ax] for ax in x.order[:-1])
        pads = conv_pads(a, spatial, kernel, strides, (1,) * nsp, node)
        out_shape = self.onnx_shape(node.output[0])
        out_order = tuple(range(1, 1 + nsp)) + (nsp + 1,) if channels_last else tuple(range(2, 2 + nsp)) + (1,)
        if kind == "max":
            op = fxp.MaxPoolOp(x.value, self.result_format(node, None), kernel, strides, pads)
            real = x.real
            self.report.add(node, "exact")
        else:
            include = bool(a.get("count_include_pad", 0))
            op, real = self.average(node, x, kernel, strides, pads, include, int(np.prod(kernel)))
        y = self.emit(op, node).result
        self.set(node.output[0], Act(y, out_shape, 0, out_order, real))

    def pool_input(self, x: Act, node, kind: str, channel: int) -> Act:
        """Channels-last input; a Real kept through max pooling only where its scale is positive."""
        if not x.real.identity and (kind != "max" or np.any(x.real.scale <= 0) or (x.real.axis is not None and x.real.axis != channel)):
            x = self.realize(x)
        return self.channels_last(x, node, channel)

    def average(self, node, x: Act, kernel, strides, pads, include: bool, count: int):
        if not self.quantized:
            scale = self.config.format_setting(node.name, node.op_type, "table_output", "ufixed<18,1,RND,SAT>")
            op = fxp.AvgPoolOp(x.value, self.result_format(node, self.config.default_precision), scale, kernel, strides, pads, include)
            self.report.add(node, "boundary", f"float model: 1/count as {scale}")
            return op, Real()
        if include or not any(pads):
            # every window counts `count`: the exact window sum, 1/count moved into Real
            return self.window_sum(x, kernel, strides, pads), self.average_real(node, x, count, summed=True)
        op = fxp.AvgPoolOp(x.value, None, QUANTIZED_RECIPROCAL, kernel, strides, pads, include)
        return op, self.average_real(node, x, count, summed=False)

    def window_sum(self, x: Act, kernel, strides, pads) -> fxp.ConvOp:
        """Exact sums over each window: a depthwise convolution with weights 1."""
        channels = x.shape[x.order[-1]]
        ones = self.const_op(np.ones(tuple(kernel) + (1, channels), dtype=np.int64), FixedFormat(1, 1, False))
        return fxp.ConvOp(x.value, ones, None, None, None, tuple(strides), (1,) * len(kernel), tuple(pads), channels)

    def average_real(self, node, x: Act, count: int, summed: bool) -> Real:
        mag = self.magnitude(x.value)
        # the reference sums up to `count` float32 values and divides: within gamma(count + 1)
        # of the exact average of its inputs, which are within err of fmlc's
        err = x.real.err + F32.gamma(count + 1) * (mag + x.real.err) + mag * count * 2.0**-41
        self.report.add(node, "bounded", f"exact window sums{'' if summed else ' times 1/count to 40 bits'}; the reference's float32 average is within {err:.3g}")
        if summed:
            return Real(np.array([1.0 / count]), np.zeros(1), None, False, err)
        return Real(exact=False, err=err)

    def op_MaxPool(self, node) -> None:
        if len(node.output) > 1 and node.output[1]:
            raise ModelImportError("MaxPool's Indices output is not supported", node.name, node.op_type)
        self.pool(node, "max")

    def op_AveragePool(self, node) -> None:
        self.pool(node, "avg")

    def global_pool(self, node, kind: str) -> None:
        x = self.act(node.input[0], node)
        if x.rank < 3:
            raise ModelImportError(f"global pooling needs a tensor with spatial axes, got shape {list(x.shape)}", node.name, node.op_type)
        x = self.pool_input(x, node, kind, 1)
        count = int(np.prod([x.shape[a] for a in x.order[:-1]]))
        if kind == "max":
            op, real = fxp.GlobalMaxPoolOp(x.value, self.result_format(node, None)), x.real
            self.report.add(node, "exact")
        elif self.quantized:
            spatial = tuple(x.shape[a] for a in x.order[:-1])
            op = self.window_sum(x, spatial, (1,) * len(spatial), (0,) * 2 * len(spatial))
            real = self.average_real(node, x, count, summed=True)
        else:
            scale = self.config.format_setting(node.name, node.op_type, "table_output", "ufixed<18,1,RND,SAT>")
            op, real = fxp.GlobalAvgPoolOp(x.value, self.result_format(node, self.config.default_precision), scale), Real()
            self.report.add(node, "boundary", f"float model: 1/count as {scale}")
        y = self.emit(op, node).result
        out_shape = self.onnx_shape(node.output[0])
        # [N, C, 1, 1]: the fxp value is [C]; give it the ONNX per-sample shape
        r = self.emit(fxp.ReshapeOp(y, out_shape[1:])).result
        if real.axis is not None:
            real = real.moved_axis(1)
        self.set(node.output[0], Act(r, out_shape, 0, tuple(range(1, len(out_shape))), real))

    def op_GlobalMaxPool(self, node) -> None:
        self.global_pool(node, "max")

    def op_GlobalAveragePool(self, node) -> None:
        self.global_pool(node, "avg")
