"""Elementwise ops: activations, tables, Softmax, arithmetic with constants and between tensors.

In quantized models an elementwise op is built directly only where fixed-point arithmetic gives
the reference's float32 result exactly (ReLU, clamps and comparisons with representable
constants, multiplications by powers of two, additions whose result float32 holds exactly);
otherwise it joins the pending float chain (``QuantOps.pend``) that the next quantizer turns into
thresholds, or ``ChainOps.materialize`` builds exactly or with a stated bound.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import FloatAttr, f64

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.frontend import ModelImportError, f32 as F32, is_power_of_two, tables
from fmlc.frontend.core import attrs
from fmlc.frontend.values import Act, FixedConst, Real, ScaledConst, exact_const, exact_or


class ElementwiseOps:
    """Relu and friends, tables, Softmax, Add/Sub/Mul/Div, Max/Min/Sum, Clip."""

    # ---------------------------------------------------------------- helpers

    def exact_input(self, name: str) -> Act | None:
        """The runtime tensor when it is exact fixed point with nothing pending (quantized models)."""
        v = self.value(name)
        if isinstance(v, Act) and not v.pending and v.real.identity and v.real.exact and v.real.err == 0.0:
            return v
        return None

    def defer(self, node, x_name: str) -> bool:
        """Float preprocessing on a graph input, or a pending float op in a quantized model (where
        a float op that cannot join a chain has no exact form: it is refused)."""
        if self.float_preprocess(node) or self.pend(node, x_name):
            return True
        if self.quantized:
            raise ModelImportError(f"{node.op_type} here cannot be replaced exactly (its constants vary along the batch, or it has no float chain to join)", node.name, node.op_type)
        return False

    # ---------------------------------------------------------------- activations

    def op_Relu(self, node) -> None:
        if self.float_preprocess(node):
            return
        v = self.value(node.input[0])
        if self.quantized and isinstance(v, Act) and not v.pending and v.real.exact and np.all(v.real.scale > 0) and np.all(v.real.shift == 0):
            # relu(fl32(x * s)) == fl32(relu(x) * s) for s > 0: exact on the codes
            y = self.emit(fxp.ReluOp(v.value, self.result_format(node, None)), node).result
            self.report.add(node, "exact")
            self.set(node.output[0], v.with_value(y))
            return
        if self.pend(node, node.input[0]):
            return
        x = self.act(node.input[0], node)
        y = self.emit(fxp.ReluOp(x.value, self.result_format(node, None)), node).result
        self.report.add(node, "exact")
        self.set(node.output[0], x.with_value(y))

    def op_LeakyRelu(self, node) -> None:
        self.leaky(node, np.array([float(attrs(node).get("alpha", 0.01))]))

    def op_PRelu(self, node) -> None:
        slope = self.float_constant(node.input[1])
        if slope is None:
            raise ModelImportError("the slope must be constant", node.name, node.op_type)
        self.leaky(node, np.asarray(slope, dtype=np.float64))

    def leaky(self, node, alpha: np.ndarray) -> None:
        if self.float_preprocess(node):
            return
        if self.quantized:
            exact = self.exact_input(node.input[0])
            if exact is None or not all(is_power_of_two(abs(a)) or a == 0 for a in alpha.ravel()):
                if self.pend(node, node.input[0]):
                    return
        x = self.act(node.input[0], node)
        per_sample = self.const_like(alpha, x, node) if alpha.size > 1 else alpha.reshape(1)
        ac, af = exact_or(per_sample, self.weight_format(node), exact=True)
        a = self.const_op(ac, af)
        y = self.emit(fxp.LeakyReluOp(x.value, a, self.result_format(node, None)), node).result
        real = Real()
        if self.quantized and not self._representable(y):  # alpha * x below float32's subnormals
            real = Real(exact=False, err=self.magnitude(y) * 2.0**-23 + 2.0**F32.MIN_EXP)
        self.report.add(node, "exact" if real.exact else "bounded")
        self.set(node.output[0], x.with_value(y, real=real))

    def op_ThresholdedRelu(self, node) -> None:
        if self.float_preprocess(node):
            return
        if self.quantized and self.exact_input(node.input[0]) is None or self.quantized and not _exact_values(np.array([float(attrs(node).get("alpha", 1.0))])):
            self.defer(node, node.input[0])  # compares values, not codes: exact only on exact values
            return
        alpha = float(attrs(node).get("alpha", 1.0))
        x = self.act(node.input[0], node)
        y = self.emit(fxp.ThresholdedReluOp(x.value, self.result_format(node, None), {"alpha": FloatAttr(alpha, f64)}), node).result
        self.report.add(node, "exact")
        self.set(node.output[0], x.with_value(y))

    def table_function(self, node) -> None:
        if self.defer(node, node.input[0]):
            return
        x = self.act(node.input[0], node)
        index = self.config.format_setting(node.name, node.op_type, "table_input", tables.DEFAULT_TABLE_INPUT)
        entry = self.config.precision(node.name, node.op_type, "result")
        if entry is None:
            entry = FixedFormat.parse(str(self.config.setting(node.name, node.op_type, "table_output", self.config.default_precision)))
        codes = tables.function_table(tables.function(node.op_type, attrs(node)), index, entry)
        xi = self.emit(fxp.CastOp(x.value, index)).result
        y = self.emit(fxp.TableOp(xi, codes, entry, node.op_type.lower()), node).result
        self.report.add(node, "boundary", f"float model: table indexed by {index}, entries {entry}")
        self.set(node.output[0], x.with_value(y))

    op_Sigmoid = op_Tanh = op_Softplus = op_Softsign = op_Elu = op_Selu = op_HardSigmoid = op_Exp = table_function

    def op_Softmax(self, node) -> None:
        if self.config.strip_softmax and node.output[0] in self.graph_outputs:
            self.set(node.output[0], self.act(node.input[0], node))
            self.report.add(node, "moved", "stripped (strip_softmax)")
            return
        x = self.act(node.input[0], node)
        if self.quantized and not x.real.identity:
            x = self.realize(x)
        axis = int(attrs(node).get("axis", 1 if self.opset < 13 else -1)) % x.rank
        if self.opset < 13 and axis != x.rank - 1:
            raise ModelImportError(f"Softmax before opset 13 flattens from axis {axis}; only the last axis is supported", node.name, node.op_type)
        if axis == x.batch:
            raise ModelImportError("Softmax over the batch axis", node.name, node.op_type)
        rest = tuple(a for a in x.order if a != axis)
        x = self.relayout(x, rest + (axis,))
        n = x.shape[axis]
        types = softmax_types(self.config, node, n)
        exp_table, inv_table = tables.softmax_tables(types)
        y = self.emit(fxp.SoftmaxOp(x.value, types.result, types.diff, types.exp, types.sum, types.inv, exp_table, inv_table), node).result
        real = Real()
        if self.quantized:
            bound = tables.softmax_bound(types, n, self.format_of(x.value).frac, x.real.err)
            real = Real(exact=False, err=bound)
            self.report.add(node, "bounded", f"fmlc's one Softmax definition (tables, docs/semantics.md); |fmlc - float softmax| <= {bound:.3g}")
        else:
            self.report.add(node, "boundary", "float model: Softmax tables")
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order, real))

    # ---------------------------------------------------------------- arithmetic

    def binary(self, node, op_cls) -> None:
        a_name, b_name = node.input[0], node.input[1]
        ca, cb = self.constant(a_name), self.constant(b_name)
        if ca is not None and cb is not None:
            raise ModelImportError("both operands are constant (should have been folded)", node.name, node.op_type)
        if self.float_preprocess(node):
            return
        x_name = b_name if ca is not None else a_name
        if self.quantized:
            if ca is None and cb is None:
                self.binary_runtime(node, op_cls)
                return
            c = ca if ca is not None else cb
            if not self.exact_binary_const(node, op_cls, x_name, c, ca is not None):
                if self.pend(node, x_name):
                    return
                self.bounded_binary_const(node, op_cls, x_name, c, ca is not None)
            return
        x = self.act(x_name, node)
        if ca is None and cb is None:
            y_act = self.act(b_name, node)
            if y_act.batch != x.batch or y_act.rank != x.rank:
                raise ModelImportError("operands with different layouts", node.name, node.op_type)
            y_act = self.relayout(y_act, x.order)
            lhs, rhs = x.value, y_act.value
        else:
            c = ca if ca is not None else cb
            per_sample = self.const_like(_arr(c), x, node)
            if isinstance(c, FixedConst):
                cv = self.const_op(per_sample, FixedConst(per_sample, c.frac).format())
            else:
                role = self.bias_format(node) if op_cls in (fxp.AddOp, fxp.SubOp) else self.weight_format(node)
                cc, cf = exact_or(per_sample, role, exact=False)
                cv = self.const_op(cc, cf)
            lhs, rhs = (cv, x.value) if ca is not None else (x.value, cv)
        default = None if op_cls is not fxp.MulOp else self.config.default_precision
        y = self.emit(op_cls(lhs, rhs, self.result_format(node, default)), node).result
        self.report.add(node, "boundary" if default else "exact", "float model" if default else "")
        self.set_elementwise(node, x, y)

    def set_elementwise(self, node, x: Act, y, real: Real | None = None) -> None:
        shape = self.onnx_shape(node.output[0])
        if len(shape) == x.rank:
            self.set(node.output[0], Act(y, shape, x.batch, x.order, real or Real()))
        else:
            self.set(node.output[0], self.reshape_to(y, shape, node))

    def exact_binary_const(self, node, op_cls, x_name: str, c, const_first: bool) -> bool:
        """x (exact fixed point) op constant, when float32 computes it exactly."""
        x = self.exact_input(x_name)
        if x is None or isinstance(c, ScaledConst):
            return False
        values = _values(c)
        if op_cls is fxp.MulOp and not all(v == 0 or is_power_of_two(abs(v)) for v in values.ravel()):
            return False
        try:
            fc = c if isinstance(c, FixedConst) else exact_const(values)
        except ValueError:
            return False
        if op_cls in (fxp.AddOp, fxp.SubOp) and not _sum_fits_f32(self.ranges[x.value], fc, op_cls is fxp.SubOp, const_first):
            return False  # float32 would round the sum: leave it to the float chain
        per_sample = self.const_like(np.asarray(fc.codes), x, node)
        cv = self.const_op(per_sample, FixedConst(per_sample, fc.frac).format())
        lhs, rhs = (cv, x.value) if const_first else (x.value, cv)
        y = self.emit(op_cls(lhs, rhs, None), node).result
        if not self._representable(y):  # below float32's subnormals or past its range
            real = Real(exact=False, err=self.magnitude(y) * 2.0**-23 + 2.0**F32.MIN_EXP)
            self.report.add(node, "bounded", f"the reference's float32 result leaves float32's exact range (error <= {real.err:.3g})")
            self.set_elementwise(node, x, y, real)
            return True
        self.report.add(node, "exact")
        self.set_elementwise(node, x, y)
        return True

    def bounded_binary_const(self, node, op_cls, x_name: str, c, const_first: bool) -> None:
        """x op constant that cannot be deferred: exact arithmetic, the reference's rounding bounded."""
        x = self.realize(self.act(x_name, node))
        values = _values(c)
        per_sample = self.const_like(values, x, node)
        cv = self.exact_const_op(per_sample)
        lhs, rhs = (cv, x.value) if const_first else (x.value, cv)
        y = self.emit(op_cls(lhs, rhs, None), node).result
        cmax = float(np.max(np.abs(values))) if values.size else 0.0
        err = x.real.err * (cmax if op_cls is fxp.MulOp else 1.0) + F32.ulp_bound(self.magnitude(y))
        self.report.add(node, "bounded", f"exact arithmetic; the reference's float32 result is within {err:.3g}")
        self.set_elementwise(node, x, y, Real(exact=False, err=err))

    def binary_runtime(self, node, op_cls) -> None:
        """Two runtime tensors (a residual Add, a product): exact when float32 is, else bounded."""
        a = self.act(node.input[0], node)
        b = self.act(node.input[1], node)
        if a.batch != b.batch or a.rank != b.rank:
            raise ModelImportError("operands with different layouts", node.name, node.op_type)
        if a.real.per_tensor and b.real.per_tensor and op_cls in (fxp.AddOp, fxp.SubOp) and np.array_equal(a.real.scale, b.real.scale) and not np.any(a.real.shift) and not np.any(b.real.shift) and not a.real.identity:
            # same scale on both sides: add the integer codes; the scale stays outside
            same = True
        else:
            same = False
            a, b = self.realize(a), self.realize(b)
        b = self.relayout(b, a.order)
        y = self.emit(op_cls(a.value, b.value, self.result_format(node, None)), node).result
        ea, eb = a.real.err, b.real.err
        if op_cls is fxp.MulOp:
            err = self.magnitude(a.value) * eb + self.magnitude(b.value) * ea + ea * eb
        else:
            err = ea + eb
        scale = float(a.real.scale[0]) if same else 1.0
        exact_inputs = a.real.exact and b.real.exact and ea == 0.0 and eb == 0.0
        if exact_inputs and not same and self._representable(y):
            self.report.add(node, "exact")
            self.set_elementwise(node, a, y)
            return
        err += F32.ulp_bound(self.magnitude(y) * scale)
        real = Real(np.array([scale]), np.zeros(1), None, False, err)
        self.report.add(node, "bounded", f"exact arithmetic on both tensors; the reference's float32 result is within {err:.3g}")
        self.set_elementwise(node, a, y, real)

    def op_Add(self, node) -> None:
        self.binary(node, fxp.AddOp)

    def op_Sub(self, node) -> None:
        self.binary(node, fxp.SubOp)

    def op_Mul(self, node) -> None:
        self.binary(node, fxp.MulOp)

    def op_Div(self, node) -> None:
        c = self.float_constant(node.input[1])
        if c is None:
            raise ModelImportError("only division by a constant is supported", node.name, node.op_type)
        if np.any(np.asarray(c) == 0):
            raise ModelImportError("division by zero", node.name, node.op_type)
        if self.float_preprocess(node):
            return
        recip = 1.0 / np.asarray(c, dtype=np.float64)
        exact = all(is_power_of_two(abs(v)) for v in np.asarray(recip).ravel())
        if self.quantized:
            if exact and self.exact_input(node.input[0]) is not None:
                self.exact_binary_const(node, fxp.MulOp, node.input[0], recip, False)
                return
            if self.pend(node, node.input[0]):
                return
            self.bounded_binary_const(node, fxp.MulOp, node.input[0], recip, False)
            return
        x = self.act(node.input[0], node)
        per_sample = self.const_like(recip, x, node)
        cc, cf = exact_or(per_sample, self.weight_format(node), exact=exact)
        cv = self.const_op(cc, cf)
        y = self.emit(fxp.MulOp(x.value, cv, self.result_format(node, None if exact else self.config.default_precision)), node).result
        self.report.add(node, "exact" if exact else "boundary")
        self.set(node.output[0], x.with_value(y))

    def variadic(self, node, op_cls) -> None:
        names = [n for n in node.input if n]
        if len(names) == 1:
            self.set(node.output[0], self.act(names[0], node))
            self.report.add(node, "moved")
            return
        runtime = [n for n in names if self.constant(n) is None]
        if self.quantized and len(runtime) == 1 and len(names) == 2 and op_cls in (fxp.MaximumOp, fxp.MinimumOp):
            other = names[1] if names[0] == runtime[0] else names[0]
            if self.exact_input(runtime[0]) is None or not _exact_values(self.constant(other)):
                if self.pend(node, runtime[0]):
                    return
        acc = self.act(runtime[0], node) if runtime else None
        if acc is None:
            raise ModelImportError("all operands are constant", node.name, node.op_type)
        if self.quantized and not acc.real.identity:
            acc = self.realize(acc)
        errs = [acc.real.err]
        values = [acc.value]
        first = names.index(runtime[0])
        for name in names[:first] + names[first + 1 :]:
            other = self.constant(name)
            if other is not None:
                per = self.const_like(_values(other), acc, node)
                if self.quantized:
                    rhs = self.exact_const_op(per)
                else:
                    cc, cf = (self.const_like(np.asarray(other.codes), acc, node), other.format()) if isinstance(other, FixedConst) else exact_or(per, self.bias_format(node), exact=True)
                    rhs = self.const_op(cc, cf)
            else:
                b = self.act(name, node)
                if self.quantized and not b.real.identity:
                    b = self.realize(b)
                errs.append(b.real.err)
                rhs = self.relayout(b, acc.order).value
            values.append(rhs)
            v = self.emit(op_cls(acc.value, rhs, None), None).result
            acc = Act(v, acc.shape, acc.batch, acc.order, acc.real)
        out = self.result_format(node, None)
        v = self.emit(fxp.CastOp(acc.value, out), node).result if out is not None else acc.value
        real = Real()
        if self.quantized:
            if op_cls is fxp.AddOp:
                # every partial sum, in any order, is on the finest grid and at most the sum of
                # the magnitudes: exact in float32 when that fits 24 bits
                err = sum(errs)
                frac = max(self.ranges[x].frac for x in values)
                units = sum(max(abs(self.ranges[x].lo), abs(self.ranges[x].hi)) << (frac - self.ranges[x].frac) for x in values)
                if units > 1 << F32.MANTISSA:
                    err += F32.gamma(len(values)) * sum(self.magnitude(x) for x in values)
            else:
                err = max(errs)
            if err:
                real = Real(exact=False, err=err)
        self.report.add(node, "exact" if real.err == 0.0 else "bounded")
        self.set(node.output[0], Act(v, acc.shape, acc.batch, acc.order, real))

    def op_Max(self, node) -> None:
        self.variadic(node, fxp.MaximumOp)

    def op_Min(self, node) -> None:
        self.variadic(node, fxp.MinimumOp)

    def op_Sum(self, node) -> None:
        self.variadic(node, fxp.AddOp)

    def op_Clip(self, node) -> None:
        if self.float_preprocess(node):
            return
        lo, hi = self.clip_bounds(node)
        exact_bounds = all(b is None or _exact_values(np.array([b])) for b in (lo, hi))
        if self.quantized and (self.exact_input(node.input[0]) is None or not exact_bounds):
            if self.pend(node, node.input[0]):
                return
        x = self.act(node.input[0], node)
        v = x.value
        for bound, cls in ((lo, fxp.MaximumOp), (hi, fxp.MinimumOp)):
            if bound is None:
                continue
            v = self.emit(cls(v, self.exact_const_op(np.array([bound], dtype=np.float64)), None)).result
        out = self.result_format(node, None)
        if out is not None:
            v = self.emit(fxp.CastOp(v, out), node).result
        self.report.add(node, "exact")
        self.set(node.output[0], x.with_value(v))

    def rounding(self, node, mode: str) -> None:
        """Round (half to even), Floor, Ceil: casts to the integer grid in fixed point."""
        if self.defer(node, node.input[0]):
            return
        x = self.act(node.input[0], node)
        fmt = self.format_of(x.value)
        if fmt.frac <= 0:
            self.report.add(node, "exact", "already integers")
            self.set(node.output[0], x)
            return
        bits = max(fmt.int_bits + 1, 2)
        target = FixedFormat(bits, bits, True, "TRN" if mode == "CEIL" else mode, "WRAP")  # holds every result
        if mode == "CEIL":  # ceil(x) = -floor(-x)
            m1 = self.const_op(np.array([-1]), FixedFormat(2, 2, True))
            neg = self.emit(fxp.MulOp(x.value, m1, None)).result
            fl = self.emit(fxp.CastOp(neg, target)).result
            y = self.emit(fxp.MulOp(fl, m1, None), node).result
        else:
            y = self.emit(fxp.CastOp(x.value, target), node).result
        self.report.add(node, "exact")
        self.set(node.output[0], x.with_value(y))

    def op_Round(self, node) -> None:
        self.rounding(node, "RND_CONV")

    def op_Floor(self, node) -> None:
        self.rounding(node, "TRN")

    def op_Ceil(self, node) -> None:
        self.rounding(node, "CEIL")

    def op_Abs(self, node) -> None:
        if self.defer(node, node.input[0]):
            return
        x = self.act(node.input[0], node)
        if self.quantized and not x.real.identity:
            x = self.realize(x)
        m1 = self.const_op(np.array([-1]), FixedFormat(2, 2, True))
        neg = self.emit(fxp.MulOp(x.value, m1, None)).result
        y = self.emit(fxp.MaximumOp(x.value, neg, self.result_format(node, None)), node).result
        self.report.add(node, "exact", "max(x, -x)")
        self.set(node.output[0], x.with_value(y))

    def op_Neg(self, node) -> None:
        if self.defer(node, node.input[0]):
            return
        x = self.act(node.input[0], node)
        m1 = self.const_op(np.array([-1]), FixedFormat(2, 2, True))
        y = self.emit(fxp.MulOp(x.value, m1, None), node).result
        self.report.add(node, "exact")
        # -ref = -fl32(x s + b) = fl32((-x) s - b): the scale stays, the shift turns
        self.set(node.output[0], x.with_value(y, real=Real(x.real.scale, -x.real.shift, x.real.axis, x.real.exact, x.real.err) if self.quantized else Real()))


def _arr(c) -> np.ndarray:
    return np.asarray(c.codes) if isinstance(c, (FixedConst, ScaledConst)) else np.asarray(c, dtype=np.float64)


def _values(c) -> np.ndarray:
    if isinstance(c, (FixedConst, ScaledConst)):
        return np.asarray(c.values(), dtype=np.float64)
    return np.asarray(c, dtype=np.float64)


def _exact_values(c) -> bool:
    """Whether a constant is exactly representable in at most 24 bits (float32 and fixed agree)."""
    if c is None:
        return False
    try:
        fc = c if isinstance(c, FixedConst) else exact_const(_values(c))
    except ValueError:
        return False
    return fixed.bits_needed(np.asarray(fc.codes, dtype=object)) <= 24


def _sum_fits_f32(x, c: FixedConst, sub: bool = False, const_first: bool = False) -> bool:
    """Whether x + c, x - c or c - x (x's exact range, c exact) is always exactly a float32."""
    frac = max(x.frac, c.frac)
    codes = np.asarray(c.codes, dtype=object)
    xl, xh = x.lo << (frac - x.frac), x.hi << (frac - x.frac)
    cl, ch = int(codes.min()) << (frac - c.frac), int(codes.max()) << (frac - c.frac)
    if not sub:
        lo, hi = xl + cl, xh + ch
    elif const_first:
        lo, hi = cl - xh, ch - xl
    else:
        lo, hi = xl - ch, xh - cl
    return max(abs(lo), abs(hi)) <= 1 << F32.MANTISSA and frac <= -F32.MIN_EXP


def softmax_types(config, node, n: int) -> tables.SoftmaxTypes:
    d = tables.SoftmaxTypes.defaults(n)

    def get(key: str, default: FixedFormat) -> FixedFormat:
        return config.format_setting(node.name, node.op_type, key, str(default))

    result = config.precision(node.name, node.op_type, "result") or get("result", d.result)
    return tables.SoftmaxTypes(get("diff", d.diff), get("exp", d.exp), get("sum", d.sum), get("inv", d.inv), result)
