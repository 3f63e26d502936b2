"""Linear layers: MatMul, Gemm, Conv, and BatchNormalization on its own.

**Float models** (no QONNX quantizer): float weights and biases take the configured precisions
(default ``fixed<16,6,RND,SAT>``, as hls4ml); a BatchNormalization right after the layer folds
into the float weights first (the Keras exporter's Transposes around it included).

**Quantized models**: the accumulator is always exact integer arithmetic on the weights'
integer codes.  Power-of-two weights are exact fixed point and the bias joins the accumulator;
other scales (per tensor or per output channel) stay out of the integer arithmetic and travel
in the result's ``Real`` (``x * scale + bias``), to be met by the next quantizer's thresholds.
Where the reference's float32 sum can round (wide sums, non-power-of-two scales), the result
carries the classical bound ``gamma(K) * sum |x| |w|``; where it cannot, it is exact.
"""

from __future__ import annotations

import math

import numpy as np

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.frontend import ModelImportError, f32 as F32, is_power_of_two
from fmlc.frontend.core import attrs, log2_exact
from fmlc.frontend.values import IDENTITY, Act, FixedConst, Real, ScaledConst, exact_const, transpose_const


class LinearOps:
    """MatMul, Gemm, Conv, BatchNormalization."""

    def op_MatMul(self, node) -> None:
        if self.float_preprocess(node):
            return
        w = self.constant(node.input[1])
        if w is None:
            raise ModelImportError("the second operand must be constant weights (activation x activation is not supported)", node.name, node.op_type)
        if _array(w).ndim != 2:
            raise ModelImportError(f"weights must be 2-D, got shape {list(_array(w).shape)}", node.name, node.op_type)
        self.dense(node, node.input[0], w, None, node.output[0])

    def op_Gemm(self, node) -> None:
        a = attrs(node)
        if a.get("transA", 0):
            raise ModelImportError("transA=1 is not supported (the activation must be the left operand)", node.name, node.op_type)
        w = self.constant(node.input[1])
        if w is None:
            raise ModelImportError("B must be constant weights", node.name, node.op_type)
        if _array(w).ndim != 2:
            raise ModelImportError(f"weights must be 2-D, got shape {list(_array(w).shape)}", node.name, node.op_type)
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        w = transpose_const(w) if a.get("transB", 0) else w
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = self.constant(node.input[2])
            if bias is None:
                raise ModelImportError("C must be a constant bias", node.name, node.op_type)
        if self.quantized and (alpha != 1.0 or beta != 1.0):
            if not (is_power_of_two(abs(alpha)) and is_power_of_two(abs(beta))):
                raise ModelImportError("alpha and beta other than powers of two are not supported in quantized models", node.name, node.op_type)
        w = scale_const(w, alpha)
        bias = scale_const(bias, beta) if bias is not None else None
        self.dense(node, node.input[0], w, bias, node.output[0])

    def dense(self, node, x_name: str, w, bias, out_name: str) -> None:
        x = self.act(x_name, node)
        if x.batch != 0:
            raise ModelImportError("needs the batch as the first axis", node.name, node.op_type)
        x = self.canonical(x)
        k, m = _array(w).shape
        if x.shape[-1] != k:
            raise ModelImportError(f"input has {x.shape[-1]} features, weights expect {k}", node.name, node.op_type)
        acc = self.config.precision(node.name, node.op_type, "accum")
        if self.quantized:
            layer = QuantizedLinear(self, node, x, w, bias, out_name, m, out_axis=x.rank - 1, reduce_axes=(0,))
            wv, bv, out_name, real = layer.build()
            op = fxp.DenseOp(layer.x.value, wv, bv, acc, self.result_format(node, None))
            self.layer_attrs(op, node)
            y = self.emit(op, node).result
            layer.finish(y)
            self.set(out_name, Act(y, x.shape[:-1] + (m,), 0, x.order, layer.real))
            return
        wv, bv, exact, out_name = self.float_linear_params(node, w, bias, out_name, m, out_axis=1, channel_axis=x.rank - 1)
        op = fxp.DenseOp(x.value, wv, bv, acc, self.linear_result(node, exact))
        self.layer_attrs(op, node)
        y = self.emit(op, node).result
        self.report.add(node, "exact" if exact else "boundary", "" if exact else f"float model: weights {self.weight_format(node)}")
        self.set(out_name, Act(y, x.shape[:-1] + (m,), 0, x.order))

    def linear_result(self, node, weights_exact: bool) -> FixedFormat | None:
        default = None if weights_exact else self.config.default_precision
        return self.result_format(node, default)

    # ---------------------------------------------------------------- float models

    def float_linear_params(self, node, w, bias, out_name: str, channels: int, out_axis: int, channel_axis: int = 1):
        """Weight and bias constants of a dense/conv layer in a float model.

        A constant Add right after the layer is its bias; a BatchNormalization after it folds
        into the float weights before they are quantized.  Returns (weight value, bias value or
        None, whether both are exact, the ONNX name the layer's result stands for).
        """
        consumed = []
        if bias is None:
            add, bias = self.following_bias(out_name, channels, channel_axis)
            if add is not None:
                consumed.append(add)
                out_name = add.output[0]
        exact = isinstance(w, FixedConst) and (bias is None or isinstance(bias, FixedConst))
        if not isinstance(w, FixedConst):
            w, bias, out_name, absorbed = self.fold_batchnorm(_values(w), bias, out_name, channels, out_axis)
            consumed += absorbed
        wv = self.const_op(*self.fixed_const(w, self.weight_format(node)))
        bv = None
        if bias is not None:
            bc, bf = self.fixed_const(bias, self.bias_format(node))
            bv = self.const_op(np.asarray(bc).reshape(channels), bf)
        self.consumed.update(id(n) for n in consumed)
        for n in consumed:
            self.report.add(n, "folded", f"into {node.name}")
        return wv, bv, exact, out_name

    def fixed_const(self, value, role_fmt: FixedFormat) -> tuple[np.ndarray, FixedFormat]:
        """Codes and type of a constant: exact for fixed constants, else the floats cast to ``role_fmt``."""
        if isinstance(value, FixedConst):
            return np.asarray(value.codes, dtype=np.int64), value.format()
        codes = fixed.to_kind(fixed.from_float(_values(value), role_fmt), "int")
        return codes, role_fmt

    def following_bias(self, name: str, channels: int, channel_axis: int):
        """(the Add node, its constant as a per-channel bias) when ``name`` feeds only a constant
        Add that varies along the layer's channel axis (ONNX ``channel_axis``) alone."""
        nxt = self.single_consumer(name)
        if nxt is None or nxt.op_type != "Add":
            return None, None
        other = nxt.input[1] if nxt.input[0] == name else nxt.input[0]
        b = self.constant(other)
        if b is None:
            return None, None
        arr = _array(b)
        rank = len(self.onnx_shape(name))
        if arr.size not in (1, channels) or arr.ndim > rank:
            return None, None
        # right-aligned against the output: every axis but the channel axis must be 1
        shape = (1,) * (rank - arr.ndim) + tuple(arr.shape)
        if any(size != 1 for ax, size in enumerate(shape) if ax != channel_axis % rank):
            return None, None
        if isinstance(b, FixedConst):
            return nxt, FixedConst(np.broadcast_to(np.asarray(b.codes).ravel(), (channels,)).copy(), b.frac)
        if isinstance(b, ScaledConst):
            return nxt, ScaledConst(np.broadcast_to(b.codes.ravel(), (channels,)).copy(), np.broadcast_to(np.broadcast_to(b.scale, b.codes.shape).ravel(), (channels,)).copy())
        return nxt, np.broadcast_to(arr.astype(np.float64).ravel(), (channels,)).copy()

    def fold_batchnorm(self, w: np.ndarray, bias, out_name: str, channels: int, per_output_axis: int):
        """In float models: fold a following BatchNormalization (with the Keras exporter's
        Transposes around it) into float weights and bias."""
        absorbed = []
        nxt = self.single_consumer(out_name)
        pre = None
        if nxt is not None and nxt.op_type == "Transpose":  # Keras: Transpose, BN, Transpose
            pre = nxt
            nxt = self.single_consumer(nxt.output[0])
        if nxt is None or nxt.op_type != "BatchNormalization":
            return w, bias, out_name, absorbed
        params = [self.float_constant(i) for i in nxt.input[1:5]]
        if any(p is None for p in params) or any(np.asarray(p).size != channels for p in params):
            return w, bias, out_name, absorbed
        post = None
        after = nxt.output[0]
        if pre is not None:
            post = self.single_consumer(after)
            if post is None or post.op_type != "Transpose":
                return w, bias, out_name, absorbed
            after = post.output[0]
        gamma, beta, mean, var = (np.asarray(p, dtype=np.float64).ravel() for p in params)
        eps = float(attrs(nxt).get("epsilon", 1e-5))
        s = gamma / np.sqrt(var + eps)
        shape = [1] * w.ndim
        shape[per_output_axis] = channels
        w = w * s.reshape(shape)
        b = np.zeros(channels) if bias is None else _values(bias).ravel()
        bias = b * s + (beta - mean * s)
        absorbed = [n for n in (pre, nxt, post) if n is not None]
        return w, bias, after, absorbed

    # ---------------------------------------------------------------- convolution

    def op_Conv(self, node) -> None:
        a = attrs(node)
        w = self.constant(node.input[1])
        if w is None:
            raise ModelImportError("weights must be constant", node.name, node.op_type)
        channels_last = node.domain == "qonnx.custom_op.channels_last"
        if channels_last:  # QONNX keeps these weights channels-last too: [F, *k, C/g] -> [F, C/g, *k]
            nd = _array(w).ndim
            back = (0, nd - 1) + tuple(range(1, nd - 1))
            w = w.moved(lambda arr: np.transpose(arr, back)) if isinstance(w, (FixedConst, ScaledConst)) else np.transpose(np.asarray(w), back)
        x = self.act(node.input[0], node)
        nsp = x.rank - 2
        if nsp not in (1, 2):
            raise ModelImportError(f"{nsp}-D convolution is not supported (1-D and 2-D are)", node.name, node.op_type)
        x = self.channels_last(x, node, x.rank - 1 if channels_last else 1)
        spatial = tuple(x.shape[a_] for a_ in x.order[:-1])
        group = int(a.get("group", 1))
        kernel = _array(w).shape[2:]
        strides = tuple(a.get("strides", [1] * nsp))
        dilations = tuple(a.get("dilations", [1] * nsp))
        if len(kernel) != nsp or len(strides) != nsp or len(dilations) != nsp:
            raise ModelImportError("kernel, strides and dilations must have one entry per spatial axis", node.name, node.op_type)
        out_shape = self.onnx_shape(node.output[0])
        pads = conv_pads(a, spatial, kernel, strides, dilations, node)
        # ONNX [F, C/g, *k] -> fxp [*k, C/g, F]
        perm = tuple(range(2, 2 + nsp)) + (1, 0)
        wt = w.moved(lambda arr: np.transpose(arr, perm)) if isinstance(w, (FixedConst, ScaledConst)) else np.transpose(_values(w), perm)
        f = _array(w).shape[0]
        bias = self.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        acc = self.config.precision(node.name, node.op_type, "accum")
        out_axis = len(out_shape) - 1 if channels_last else 1
        out_order = tuple(range(1, 1 + nsp)) + (nsp + 1,) if channels_last else tuple(range(2, 2 + nsp)) + (1,)
        if self.quantized:
            layer = QuantizedLinear(self, node, x, wt, bias, node.output[0], f, out_axis=out_axis, reduce_axes=tuple(range(nsp + 1)), padded=any(pads))
            wv, bv, out_name, real = layer.build()
            op = fxp.ConvOp(layer.x.value, wv, bv, acc, self.result_format(node, None), strides, dilations, pads, group)
            self.layer_attrs(op, node)
            y = self.emit(op, node).result
            layer.finish(y)
            self.set(out_name, Act(y, out_shape, 0, out_order, layer.real))
            return
        wv, bv, exact, out_name = self.float_linear_params(node, wt, bias, node.output[0], f, out_axis=nsp + 1, channel_axis=out_axis)
        op = fxp.ConvOp(x.value, wv, bv, acc, self.linear_result(node, exact), strides, dilations, pads, group)
        self.layer_attrs(op, node)
        y = self.emit(op, node).result
        self.report.add(node, "exact" if exact else "boundary", "" if exact else f"float model: weights {self.weight_format(node)}")
        self.set(out_name, Act(y, out_shape, 0, out_order))

    # ---------------------------------------------------------------- normalization

    def op_BatchNormalization(self, node) -> None:
        if self.float_preprocess(node) or self.pend(node, node.input[0]):
            return
        params = [self.float_constant(i) for i in node.input[1:5]]
        if any(p is None for p in params):
            raise ModelImportError("scale, bias, mean and variance must be constants", node.name, node.op_type)
        gamma, beta, mean, var = (np.asarray(p, dtype=np.float64).ravel() for p in params)
        eps = float(attrs(node).get("epsilon", 1e-5))
        s = gamma / np.sqrt(var + eps)
        t = beta - mean * s
        x = self.act(node.input[0], node)
        # the channel axis is ONNX axis 1; the Keras exporter's [C, N] tensors put it at 0
        channel = 1 if x.batch == 0 else 0
        if node.domain == "qonnx.custom_op.channels_last":
            channel = x.rank - 1
        if x.shape[channel] != s.size:
            raise ModelImportError(f"{s.size} channels of parameters for a tensor of shape {list(x.shape)}", node.name, node.op_type)
        x = self.relayout(x, tuple(a for a in range(x.rank) if a not in (x.batch, channel)) + (channel,))
        sc, sf = self.fixed_const(s, self.weight_format(node))
        tc, tf = self.fixed_const(t, self.bias_format(node))
        sv, tv = self.const_op(sc, sf), self.const_op(tc, tf)
        y = self.emit(fxp.BatchNormOp(x.value, sv, tv, self.result_format(node, self.config.default_precision)), node).result
        self.report.add(node, "boundary", f"float model: scale {sf}, shift {tf}")
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))


class QuantizedLinear:
    """One dense or conv layer of a quantized model: integer weights, the scales moved past the
    accumulator, and the bound on how far the reference's float32 sum can be."""

    def __init__(self, importer, node, x: Act, w, bias, out_name: str, channels: int, out_axis: int, reduce_axes: tuple[int, ...], padded: bool = False):
        self.imp, self.node, self.x, self.w, self.bias = importer, node, x, w, bias
        self.padded = padded
        self.out_name, self.channels, self.out_axis, self.reduce_axes = out_name, channels, out_axis, reduce_axes
        self.real = IDENTITY
        self.detail = ""

    def build(self):
        imp, node = self.imp, self.node
        x = self.x
        if not x.real.identity and (x.real.axis is not None or (np.any(x.real.shift != 0) and self.padded)):
            x = imp.realize(x)  # per-channel factors along the reduction, or a shift the padding would break
        self.x = x
        s_x = float(x.real.scale[0])
        b_x = float(x.real.shift[0])
        codes, frac, s_w, w_err = self.weight_codes()
        consumed = []
        bias = self.bias
        if bias is None:
            add, bias = imp.following_bias(self.out_name, self.channels, self.out_axis)
            if add is not None:
                consumed.append(add)
                self.out_name = add.output[0]
        b_vals = np.zeros(self.channels) if bias is None else np.broadcast_to(_values(bias).ravel(), (self.channels,)).astype(np.float64)
        shift_err = 0.0
        if b_x != 0.0:
            # sum_i (x_i s + b) w_ij = s sum_i x_i w_ij + b sum_i w_ij: the input's shift joins the bias
            colsum = np.moveaxis(np.asarray(codes, dtype=np.float64), -1, 0).reshape(self.channels, -1).sum(axis=1) * 2.0**-frac * s_w
            extra = b_x * colsum
            shift_err = float(np.max(np.abs(extra))) * 2.0**-50
            b_vals = b_vals + extra
            bias = b_vals
        pow2 = s_x == 1.0 and np.all(s_w == 1.0)
        bv = None
        shift = b_vals
        if pow2 and bias is not None:
            try:
                bc = exact_const(b_vals)
                if bc.frac <= frac + imp.format_of(x.value).frac + 24:
                    bv = imp.const_op(np.asarray(bc.codes).reshape(self.channels), bc.format())
                    shift = np.zeros(self.channels)
            except ValueError:
                pass
        wv = imp.const_op(codes, _codes_format(codes, frac))
        scale = s_x * s_w  # exact: two float32 values (or powers of two) multiply exactly in float64
        bound = self.bound(x, codes, frac, s_x, s_w, scale, b_vals, bias_in_acc=bv is not None, w_err=w_err)
        if shift_err:
            bound = Real(exact=False, err=bound.err + shift_err)
        if np.all(scale == scale[0]) and np.all(shift == shift[0]):
            self.real = Real(scale[:1].copy(), shift[:1].copy(), None, bound.exact, bound.err)
        else:
            self.real = Real(scale, shift, self.out_axis, bound.exact, bound.err)
        imp.consumed.update(id(n) for n in consumed)
        for n in consumed:
            imp.report.add(n, "folded", f"the bias of {node.name}")
        return wv, bv, self.out_name, self.real

    def finish(self, y) -> None:
        real = self.real
        if real.exact and real.err == 0.0:
            self.imp.report.add(self.node, "exact", "integer accumulation; the reference's float32 sum is exact here")
        else:
            where = "non-power-of-two scales moved past the accumulator" if not np.all(real.scale == 1.0) else "the float32 sum can round"
            self.imp.report.add(self.node, "bounded", f"exact integer accumulation ({where}); the reference's float32 sum is within {real.err:.3g} of it")

    def weight_codes(self):
        """(integer codes, frac, per-output-channel float scale, max |error| of the weights)."""
        w = self.w
        m = self.channels
        if isinstance(w, FixedConst):
            return np.asarray(w.codes), w.frac, np.ones(m), 0.0
        if isinstance(w, ScaledConst):
            scale = np.broadcast_to(w.scale, w.codes.shape)
            per_out = np.moveaxis(scale, -1, 0).reshape(m, -1)
            if np.all(per_out == per_out[:, :1]):
                return w.codes, 0, per_out[:, 0].astype(np.float64), 0.0
            w = w.values()  # scales vary along the reduction: use the exact float32 values
        values = _values(w)
        try:
            fc = exact_const(values)
            if fixed.bits_needed(np.asarray(fc.codes, dtype=object)) <= 32:
                return np.asarray(fc.codes), fc.frac, np.ones(m), 0.0
        except ValueError:
            pass
        # float weights: 24 significant bits per output channel, on a power-of-two grid
        per_out = np.moveaxis(values, -1, 0).reshape(m, -1)
        top = np.max(np.abs(per_out), axis=1)
        exps = np.array([math.frexp(float(t))[1] - F32.MANTISSA if t > 0 else 0 for t in top])
        codes = np.rint(values / np.ldexp(1.0, exps)).astype(np.int64)  # exps broadcast on the last axis
        err = float(np.max(np.abs(codes * np.ldexp(1.0, exps) - values))) if values.size else 0.0
        return codes, 0, np.ldexp(1.0, exps), err

    def bound(self, x: Act, codes, frac, s_x, s_w, scale, b_vals, bias_in_acc: bool, w_err: float) -> Real:
        """Exact (the reference's float32 sum is exact) or the bound on its rounding."""
        imp = self.imp
        iv = imp.ranges[x.value]
        x_code = max(abs(iv.lo), abs(iv.hi))
        x_mag = x_code * 2.0**-iv.frac * abs(s_x) + abs(float(x.real.shift[0])) + x.real.err
        wabs = np.abs(np.moveaxis(np.asarray(codes, dtype=np.float64), -1, 0).reshape(self.channels, -1))
        wsum = wabs.sum(axis=1) * 2.0**-frac * np.abs(s_w)  # sum_i |w_ij| per output channel
        terms = wabs.shape[1]
        pow2 = s_x == 1.0 and np.all(s_w == 1.0) and float(x.real.shift[0]) == 0.0
        if pow2 and x.real.exact and x.real.err == 0.0 and w_err == 0.0:
            # every partial sum (the bias included, in any order) is an integer multiple of the
            # finest grid involved, and at most the sum of magnitudes: exact below 2**24 of it
            lsb_frac = iv.frac + frac
            per_channel = wabs.sum(axis=1) * x_code  # in units of 2**-lsb_frac
            total = [int(t) for t in per_channel]
            if bias_in_acc and np.any(b_vals):
                bc = exact_const(b_vals)
                grid = max(lsb_frac, bc.frac)
                bcodes = [abs(int(c)) << (grid - bc.frac) for c in np.asarray(bc.codes, dtype=object).ravel()]
                total = [(t << (grid - lsb_frac)) + b for t, b in zip(total, np.broadcast_to(np.array(bcodes, dtype=object), (len(total),)))]
            grid = max(lsb_frac, exact_const(b_vals).frac) if bias_in_acc and np.any(b_vals) else lsb_frac
            in_range = grid <= -F32.MIN_EXP and int(max(total, default=0)).bit_length() - grid < 127  # no subnormal rounding, no overflow
            if (bias_in_acc or not np.any(b_vals)) and max(total, default=0) <= (1 << F32.MANTISSA) and in_range:
                return Real()
        err = wsum * x.real.err + F32.gamma(terms + 3) * (wsum * x_mag + np.abs(b_vals)) + w_err * terms * x_mag
        return Real(exact=False, err=float(np.max(err)) if err.size else 0.0)


def _array(c) -> np.ndarray:
    return np.asarray(c.codes) if isinstance(c, (FixedConst, ScaledConst)) else np.asarray(c)


def _values(c) -> np.ndarray:
    if isinstance(c, (FixedConst, ScaledConst)):
        return np.asarray(c.values(), dtype=np.float64)
    return np.asarray(c, dtype=np.float64)


def _codes_format(codes, frac: int) -> FixedFormat:
    from fmlc.ranges import Interval

    codes = np.asarray(codes)
    if codes.size == 0:
        return FixedFormat(1, 1 - frac, False)
    return Interval.of_codes(codes, frac).narrowest()


def scale_const(c, factor: float):
    if factor == 1.0:
        return c
    if isinstance(c, FixedConst) and is_power_of_two(abs(factor)):
        shift = log2_exact(abs(factor))
        sign = -1 if factor < 0 else 1
        if shift >= 0:
            return FixedConst(np.asarray(c.codes) * sign * (1 << shift), c.frac)
        return FixedConst(np.asarray(c.codes) * sign, c.frac - shift)
    if isinstance(c, ScaledConst) and is_power_of_two(abs(factor)):
        return ScaledConst(c.codes * (-1 if factor < 0 else 1), (np.broadcast_to(c.scale, c.codes.shape) * np.float32(abs(factor))).astype(np.float32))
    return _values(c) * factor


def conv_pads(a: dict, spatial, kernel, strides, dilations, node) -> tuple[int, ...]:
    """Explicit pads (all befores, then all afters) from ``pads`` or ``auto_pad``."""
    nsp = len(kernel)
    auto = str(a.get("auto_pad", "NOTSET"))
    if auto in ("NOTSET", ""):
        pads = tuple(int(p) for p in a.get("pads", [0] * 2 * nsp))
        if len(pads) != 2 * nsp or any(p < 0 for p in pads):
            raise ModelImportError(f"pads must be {2 * nsp} non-negative integers, got {list(pads)}", node.name, node.op_type)
        return pads
    if auto == "VALID":
        return (0,) * 2 * nsp
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        before, after = [], []
        for d in range(nsp):
            out = math.ceil(spatial[d] / strides[d])
            total = max(0, (out - 1) * strides[d] + dilations[d] * (kernel[d] - 1) + 1 - spatial[d])
            small, big = total // 2, total - total // 2
            before.append(small if auto == "SAME_UPPER" else big)
            after.append(big if auto == "SAME_UPPER" else small)
        return tuple(before + after)
    raise ModelImportError(f"auto_pad '{auto}' is not supported", node.name, node.op_type)
