"""Float chains in quantized models: elementwise float ops deferred after an integer tensor
(``Act.pending``), made exact where they end.

At a quantizer (``QuantizedChainOps``), the chain — the tensor's scale, BatchNorm, ReLU, Mul by
constants... — becomes per-channel thresholds or a table on the integer codes, found with the
reference's own float32 semantics (``staircase``); where the input is itself bounded, the report
says how many levels a decision can move.

At something other than a quantizer (a graph output, a residual Add, a pooling...), ``ChainOps``:

A pending chain (``Act.pending``: elementwise float ops deferred after an integer tensor) that
ends in a quantizer becomes thresholds (``ops_quant``).  Here is what happens otherwise:

1. **Exact table.**  When the input is exact and has few codes, the chain is evaluated with the
   reference's float32 semantics on every code and every channel; the results are exact floats,
   kept as one lookup table (per-channel results share one table: the channel selects a block
   of it, ``index = code + channel * codes``).
2. **Bounded affine.**  When the chain is affine per channel (Add/Sub/Mul/Div by constants,
   BatchNorm) with ReLU-like steps between (Relu, Clip, Max/Min with constants), its factors
   join the tensor's ``Real`` (``x * A + B``: the next linear layer moves them past its
   accumulator, an output applies them exactly) and fmlc states how far the reference's float32
   evaluation can be: one rounding per op (``U * |result|``, scaled by the ops after it), and a
   generous 16 roundings for a BatchNorm (onnxruntime folds its four parameters in float32).
3. Otherwise the model is refused, naming the chain.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.frontend import ModelImportError, f32 as F32
from fmlc.frontend.core import attrs
from fmlc.fixed import FixedFormat
from fmlc.frontend.quantizers import QuantParams
from fmlc.frontend.reference import ReferenceChain, ReferenceError
from fmlc.frontend.staircase import ELEMENTWISE_OPS, POSITION_DEPENDENT, Levels, StaircaseError, find, max_moves, quantizer_levels
from fmlc.frontend.values import IDENTITY, Act, FloatInput, Real, dyadic_codes
from fmlc.ranges import Interval

TABLE_CODES = 1 << 16
"""Largest codes x channels tabulated exactly."""
TABLE_BITS = 32
"""Widest exact table entry inside a model: wider float32 results (values spread over many
binades) are kept as a scale in ``Real`` instead, with the reference's rounding as the bound."""
AFFINE = ("Add", "Sub", "Mul", "Div", "Neg", "BatchNormalization", "Identity", "Dropout")
CLAMPS = ("Relu", "Clip", "Max", "Min")
BN_ROUNDINGS = 16


class ChainOps:
    """Building a pending float chain without a quantizer at its end."""

    def materialize(self, act: Act, name: str) -> Act:
        """``act`` with its pending float ops built: exactly (a table) or bounded (affine)."""
        nodes = list(act.pending)
        base = Act(act.value, act.shape, act.batch, act.order, act.real)
        axis, channels, chain, estimate = self.chain_setup(base, nodes)
        domain = self.ranges[act.value]
        count = domain.hi - domain.lo + 1
        text = " -> ".join(f"{n.op_type} '{n.name}'" for n in nodes)
        table_why = ""
        if act.real.exact and count * channels <= TABLE_CODES:
            try:
                if any(n.op_type in POSITION_DEPENDENT for n in nodes):
                    bad = next(n for n in nodes if n.op_type in POSITION_DEPENDENT)
                    raise ValueError(f"onnxruntime computes {bad.op_type} with different float32 formulas for a tensor's body and tail")
                y = self._chain_table(base, nodes, axis, channels, chain, estimate, domain)
            except (ReferenceError, ValueError) as err:
                y, table_why = None, str(err)
            if y is not None:
                self.report.add_many(nodes, "table", f"{text} with the reference's float32 semantics on all {count} codes x {channels} channel(s)")
                self.note(y.value, f"exact: {text} evaluated on all {count} input codes")
                return y
        if all(n.op_type in AFFINE + CLAMPS for n in nodes):
            y = self._chain_affine(base, nodes, axis, channels)
            self.report.add_many(nodes, "bounded", f"{text} computed exactly; the reference's float32 evaluation is within {y.real.err:.3g}")
            self.note(y.value, f"bounded: {text}; |reference - this| <= {y.real.err:.3g}")
            return y
        why = "its input is not exact" if not act.real.exact else table_why or f"its input has {count} codes x {channels} channels (more than {TABLE_CODES} to tabulate)"
        raise ModelImportError(
            f"the float chain {text} ends without a quantizer and cannot be made exact: {why}, and it is not affine; "
            "quantize its result (a QONNX Quant after it) or its input"
        )

    # ---------------------------------------------------------------- exact tables

    def _chain_table(self, base: Act, nodes, axis, channels, chain, estimate, domain: Interval) -> Act:
        count = domain.hi - domain.lo + 1
        codes = np.broadcast_to(np.arange(domain.lo, domain.hi + 1, dtype=np.int64)[:, None], (count, channels))
        out = chain(estimate(np.ascontiguousarray(codes))).astype(np.float64)  # [D, C] exact float32 values
        if not np.all(np.isfinite(out)):
            raise ValueError("the chain produces non-finite values")
        return self.exact_table(base, axis, domain, out, bits=TABLE_BITS, what="chain")

    # ---------------------------------------------------------------- bounded affine

    def _chain_affine(self, base: Act, nodes, axis, channels) -> Act:
        """The chain as ``x * A + B`` per channel in the tensor's ``Real`` (so the scale can move
        past the next accumulator, as weight scales do), realized only before a clamp that does
        not commute with it; ``err`` bounds the reference's float32 evaluation."""
        work = base
        real = base.real
        if real.axis is not None and axis is not None and real.axis != axis:
            work = self.realize(base)
            real = work.real
        scale = np.broadcast_to(np.asarray(real.scale, dtype=np.float64), (channels,))
        shift = np.broadcast_to(np.asarray(real.shift, dtype=np.float64), (channels,))
        a = [Fraction(float(v)) for v in scale]
        b = [Fraction(float(v)) for v in shift]
        err = real.err
        mag = self.magnitude(work.value)
        for n in nodes:
            if n.op_type in AFFINE:
                a, b, factor, extra = self._affine_step(n, a, b, channels, mag, err)
                err = err * factor + extra  # earlier errors scale with this op, plus its own rounding
                continue
            if n.op_type == "Relu" and all(v > 0 for v in a) and all(v == 0 for v in b):
                # relu commutes with a positive scale: on the codes, exactly
                work = Act(self.emit(fxp.ReluOp(work.value, None)).result, work.shape, work.batch, work.order)
                continue
            # a clamp: build what we have, clamp exactly, start again
            work = self._with_real(work, a, b, axis, channels, err)
            work = self.realize(work)
            err = work.real.err
            work = self._clamp(n, work)
            a, b = [Fraction(1)] * channels, [Fraction(0)] * channels
            mag = self.magnitude(work.value)
        return self._with_real(work, a, b, axis, channels, err)

    def _with_real(self, work: Act, a, b, axis, channels: int, err: float) -> Act:
        """``work`` with ``Real(a, b)``: the factors rounded to float64 (their error joins ``err``)."""
        av = np.array([float(v) for v in a])
        bv = np.array([float(v) for v in b])
        mag = self.magnitude(work.value)
        approx = max(abs(Fraction(float(av[k])) - a[k]) for k in range(channels)) * Fraction(mag) + max(abs(Fraction(float(bv[k])) - b[k]) for k in range(channels))
        err = err + float(approx) * (1 + 2.0**-40)
        if channels > 1 and not (np.all(av == av[0]) and np.all(bv == bv[0])):
            return Act(work.value, work.shape, work.batch, work.order, Real(av, bv, axis, False, err))
        return Act(work.value, work.shape, work.batch, work.order, Real(av[:1].copy(), bv[:1].copy(), None, False, err))

    def _affine_step(self, n, a, b, channels, mag, err):
        """Compose one affine op: (a, b, the factor it scales earlier errors by, the bound on the
        reference's own rounding of it)."""
        op = n.op_type
        top = max((abs(float(a[c])) * mag + abs(float(b[c])) for c in range(channels)), default=0.0) + err
        if op in ("Identity", "Dropout"):
            return a, b, 1.0, 0.0
        if op == "Neg":
            return [-v for v in a], [-v for v in b], 1.0, 0.0
        if op == "BatchNormalization":
            gamma, beta, mean, var = (np.broadcast_to(np.asarray(self.float_constant(i), dtype=np.float64).ravel(), (channels,)) for i in n.input[1:5])
            eps = float(attrs(n).get("epsilon", 1e-5))
            s = gamma / np.sqrt(var + eps)
            s_err = np.abs(s) * 4 * 2.0**-52  # float64 evaluation of the exact real factor
            a2 = [a[c] * Fraction(float(s[c])) for c in range(channels)]
            b2 = [b[c] * Fraction(float(s[c])) + Fraction(float(beta[c])) - Fraction(float(mean[c])) * Fraction(float(s[c])) for c in range(channels)]
            out = max(abs(float(s[c])) * (top + abs(float(mean[c]))) + abs(float(beta[c])) for c in range(channels))
            extra = BN_ROUNDINGS * F32.U * out + float(np.max(s_err)) * (top + float(np.max(np.abs(mean))))
            return a2, b2, float(np.max(np.abs(s))), extra
        c = np.asarray(self.float_constant(n.input[1] if self.constant(n.input[1]) is not None else n.input[0]), dtype=np.float64).ravel()
        cc = np.broadcast_to(c, (channels,)) if c.size in (1, channels) else None
        if cc is None:
            raise ModelImportError(f"the constant of {op} '{n.name}' does not match the channels")
        runtime_first = self.constant(n.input[0]) is None
        cmax = float(np.max(np.abs(cc)))
        if op == "Add":
            return a, [b[k] + Fraction(float(cc[k])) for k in range(channels)], 1.0, F32.U * (top + cmax)
        if op == "Sub":
            if runtime_first:
                return a, [b[k] - Fraction(float(cc[k])) for k in range(channels)], 1.0, F32.U * (top + cmax)
            return [-v for v in a], [Fraction(float(cc[k])) - b[k] for k in range(channels)], 1.0, F32.U * (top + cmax)
        if op == "Mul":
            return [a[k] * Fraction(float(cc[k])) for k in range(channels)], [b[k] * Fraction(float(cc[k])) for k in range(channels)], cmax, F32.U * top * cmax
        if op == "Div":
            if not runtime_first or np.any(cc == 0):
                raise ModelImportError(f"{op} '{n.name}' divides by the tensor, or by zero")
            cmin = float(np.min(np.abs(cc)))
            return [a[k] / Fraction(float(cc[k])) for k in range(channels)], [b[k] / Fraction(float(cc[k])) for k in range(channels)], 1.0 / cmin, F32.U * top / cmin
        raise AssertionError(op)

    def _clamp(self, n, work: Act) -> Act:
        """Relu / Clip / Max / Min with constants: exact, and they move no value further away."""
        v = work.value
        if n.op_type == "Relu":
            return Act(self.emit(fxp.ReluOp(v, None)).result, work.shape, work.batch, work.order)
        bounds = []
        if n.op_type == "Clip":
            lo, hi = self.clip_bounds(n)
            bounds = [(lo, fxp.MaximumOp), (hi, fxp.MinimumOp)]
        else:
            c = [self.float_constant(i) for i in n.input if i and self.constant(i) is not None]
            if len(c) != 1 or np.asarray(c[0]).size != 1:
                raise ModelImportError(f"{n.op_type} '{n.name}' with more than one scalar constant")
            bounds = [(float(np.asarray(c[0]).ravel()[0]), fxp.MaximumOp if n.op_type == "Max" else fxp.MinimumOp)]
        for bound, cls in bounds:
            if bound is None:
                continue
            codes, frac, err = dyadic_codes(np.array([bound]), bits=62)
            v = self.emit(cls(v, self.const_op(np.asarray(codes).reshape(1), Interval.of_codes(np.asarray(codes), frac).narrowest()), None)).result
        return Act(v, work.shape, work.batch, work.order)


class QuantizedChainOps:
    """Float chains that end in a quantizer: thresholds (or a table) on the integer codes."""

    def pend(self, node, x_name: str) -> bool:
        """Defer an elementwise float op on a runtime tensor of a quantized model: it joins the
        chain that the next quantizer (or the output) replaces exactly."""
        if not self.quantized or node.op_type not in ELEMENTWISE_OPS:
            return False
        v = self.value(x_name)
        if isinstance(v, FloatInput):
            v = self.act(x_name, node)  # cast at the boundary; the float op follows exactly
        if not isinstance(v, Act):
            return False
        others = [n for n in node.input if n and n != x_name]
        if any(self.constant(n) is None for n in others) or x_name not in node.input:
            return False
        for n in others:
            c = np.asarray(self.reference_constant(n))
            if c.ndim > v.rank or (c.ndim == v.rank and c.shape[v.batch] != 1):
                return False
        if node.op_type in ("Quant", "BipolarQuant", "Trunc", "MultiThreshold"):
            return False
        origin = v.origin or x_name
        self.set(node.output[0], Act(v.value, v.shape, v.batch, v.order, v.real, v.pending + (node,), origin))
        return True

    def chain_axis(self, act: Act, nodes) -> int | None:
        """The one ONNX axis along which the chain's constants (and the tensor's Real) vary."""
        axes = set()
        if act.real.axis is not None:
            axes.add(act.real.axis % act.rank)
        for n in nodes:
            if n.op_type == "BatchNormalization":
                axes.add(act.rank - 1 if n.domain == "qonnx.custom_op.channels_last" else 1)
                continue
            if n.op_type == "MultiThreshold":
                thr = np.asarray(self.reference_constant(n.input[1]))
                if thr.shape[0] > 1:
                    layout = str(attrs(n).get("data_layout", {2: "NC", 3: "NWC", 4: "NCHW"}.get(act.rank, "NC")))  # QONNX's guess by rank
                    axes.add(layout.index("C") if "C" in layout else 1)
                continue
            for name in n.input:
                c = self.reference_constant(name) if name else None
                if c is None:
                    continue
                c = np.asarray(c)
                if n.op_type in ("Quant", "BipolarQuant") and name == n.input[3 if n.op_type == "Quant" else 1]:
                    continue
                shape = (1,) * (act.rank - c.ndim) + c.shape if c.ndim <= act.rank else c.shape
                for ax, size in enumerate(shape):
                    if size != 1:
                        axes.add(ax)
        if act.batch in axes:
            raise ModelImportError("a constant of the float chain varies along the batch axis")
        if len(axes) > 1:
            raise ModelImportError(f"the float chain's constants vary along several axes {sorted(axes)}; fmlc replaces chains with per-channel constants")
        return axes.pop() if axes else None

    def chain_setup(self, act: Act, nodes):
        """(channel axis, channel count, the chain as the reference runs it, input estimate)."""
        axis = self.chain_axis(act, nodes)
        channels = act.shape[axis] if axis is not None else 1
        constants = {}
        for n in nodes:
            for name in n.input:
                if not name:
                    continue
                c = self.reference_constant(name)
                if c is not None:
                    constants[name] = c
        chain = ReferenceChain(nodes, constants, self.opset, act.rank, axis if axis is not None else 1)
        domain = self.ranges[act.value]
        real = act.real
        scale = np.broadcast_to(real.scale, (channels,)) if real.scale.size in (1, channels) else None
        shift = np.broadcast_to(real.shift, (channels,)) if real.shift.size in (1, channels) else None
        if scale is None or shift is None:
            raise ModelImportError("the tensor's scale does not match the chain's channels")

        def estimate(codes: np.ndarray) -> np.ndarray:
            return F32.affine_f32(codes, domain.frac, scale[None, :], shift[None, :])

        return axis, channels, chain, estimate

    def quantize_chain(self, node, act: Act) -> None:
        """The float chain pending on ``act`` plus the quantizer ``node``, as exact thresholds
        (or a table) on ``act``'s integer codes."""
        nodes = list(act.pending) + [node]
        axis, channels, chain, estimate = self.chain_setup(act, nodes)
        domain = self.ranges[act.value]
        try:
            levels = quantizer_levels(node, self.reference_constant, channels)
            stair = find(domain.lo, domain.hi, channels, estimate, chain, levels, nodes)
        except (StaircaseError, ReferenceError) as err:
            raise ModelImportError(f"cannot replace the float chain {_chain_text(nodes)} exactly: {err}", node.name, node.op_type) from None
        rep = self.level_repr(node, levels, channels, axis)
        work = act
        if axis is not None and channels > 1:
            work = self.channels_last(act, node, axis) if act.rank > 2 or act.axis(axis) != len(act.order) - 1 else act
        if stair.table is not None:
            y = self.stair_table(work, domain, stair, rep, node)
        else:
            y = self.stair_thresholds(work, domain, stair, rep, node)
        how = "table" if stair.table is not None else "thresholds"
        search = "every input code" if stair.exhaustive else "bisection over the input's exact range"
        detail = f"{_chain_text(nodes)} with the reference's float32 semantics, {search} ({domain.hi - domain.lo + 1} codes x {channels} channel(s))"
        real_in = act.real
        if real_in.exact:
            out_real = rep.real
            self.report.add_many(nodes, how, detail)
        else:
            out_real = self.bounded_levels(real_in, domain, stair, rep, levels, channels, estimate, chain)
            self.report.add_many(nodes, "bounded", detail + f"; the reference's input is within {real_in.err:.3g} of the exact value, "
                                 f"so a decision may move by up to {out_real.err / rep.max_step if rep.max_step else 0:.0f} level(s) (error <= {out_real.err:.3g})")
        self.note(y.value, "exact: " + detail if real_in.exact else "bounded: " + detail)
        self.set(node.output[0], Act(y.value, y.shape, y.batch, y.order, out_real))

    def bounded_levels(self, real_in: Real, domain: Interval, stair, rep, levels: Levels, channels: int, estimate, chain) -> Real:
        """How far a quantizer fed by a bounded value can be from the reference: the levels a
        value off by the input's bound (plus its float32 rounding) can cross."""
        scale = np.abs(np.broadcast_to(real_in.scale, (channels,)))
        per_code = float(np.min(scale[scale > 0])) * 2.0**-domain.frac if np.any(scale > 0) else np.inf
        top = max(abs(domain.lo), abs(domain.hi)) * 2.0**-domain.frac * float(np.max(scale)) + float(np.max(np.abs(real_in.shift)))
        window = int(np.ceil((real_in.err + F32.ulp_bound(top)) / per_code)) + 1
        if stair.thresholds is not None:
            err = max_moves(stair, window, estimate, chain, levels) * rep.max_step
        else:
            err = rep.span
        return Real(rep.real.scale, rep.real.shift, rep.real.axis, False, err + rep.real.err)

    def level_repr(self, node, levels: Levels, channels: int, axis: int | None) -> _LevelRepr:
        """How fmlc holds the quantizer's level k: exact fixed point (the levels are an exact
        arithmetic progression), an integer code with the float32 scale in ``Real`` (a
        non-power-of-two quantizer: ``fl32(code * scale)``), or a table of exact values."""
        values = levels.values.astype(np.float64)  # [C or 1, K]
        steps = np.diff(values, axis=1)
        max_step = float(np.max(steps)) if steps.size else 0.0
        span = float(np.max(values[:, -1] - values[:, 0]))
        if values.shape[0] == 1:
            ap = _progression(values[0])
            if ap is not None:
                (v0, d), frac, codes = ap
                fmt = Interval(int(min(codes)), int(max(codes)), frac).narrowest()
                return _LevelRepr(fmt, d, v0, None, Real(), max_step, span)
        ints, scale = _level_ints(node, self, levels, channels)
        if ints is not None and ints.size and np.all(np.diff(ints) == (ints[1] - ints[0] if ints.size > 1 else 1)):
            s = np.asarray(scale, dtype=np.float64).ravel()
            expect = (ints[None, :].astype(np.float32) * s.astype(np.float32)[:, None]).astype(np.float64)
            if np.array_equal(np.broadcast_to(values, expect.shape), expect):
                d = int(ints[1] - ints[0]) if ints.size > 1 else 1
                lo, hi = int(min(ints[0], ints[-1])), int(max(ints[0], ints[-1]))
                fmt = fixed.narrowest_format(lo, hi, 0)
                return _LevelRepr(fmt, float(d), float(ints[0]), None, self.dequant_real(s, axis, lo, hi), max_step, span)
        if values.shape[0] != 1:
            raise ModelImportError("a per-channel quantizer whose levels are not a scaled integer grid", node.name, node.op_type)
        codes, frac = _exact_codes(values[0])
        fmt = Interval(int(min(codes)), int(max(codes)), frac).narrowest()
        return _LevelRepr(fmt, 1.0, 0.0, codes, Real(), max_step, span)

    def stair_thresholds(self, x: Act, domain: Interval, stair, rep: _LevelRepr, node) -> Act:
        thr, sign = stair.thresholds, stair.sign
        xv = x.value
        if np.any(sign < 0):
            s = self.const_op(sign if sign.size > 1 else sign.reshape(1), FixedFormat(2, 2, True))
            xv = self.emit(fxp.MulOp(xv, s, None)).result
        # thresholds always met (at or below the least code) or never met add no information:
        # drop the ones that are so in every channel
        big = thr.dtype == object or max(abs(domain.lo), abs(domain.hi)) + 2 > 2**62
        lo = np.array([domain.lo if s > 0 else -domain.hi for s in sign], dtype=object if big else np.int64)[:, None]
        hi = np.array([domain.hi if s > 0 else -domain.lo for s in sign], dtype=object if big else np.int64)[:, None]
        always = np.all(thr <= lo, axis=0)
        never = np.all(thr > hi, axis=0)
        keep = ~(always | never)
        base = int(np.count_nonzero(always))
        thr = thr[:, keep] if np.any(keep) else thr[:, :1]
        if not np.any(keep):  # a constant: one threshold nobody reaches
            thr = np.broadcast_to(hi + 1, (thr.shape[0], 1)).copy()
        if thr.shape[0] > 1 and np.all(thr == thr[0]):
            thr = thr[:1]
        low = min(int(np.min(thr)), int(np.min(lo)), 0)
        high = max(int(np.max(thr)), int(np.max(hi)) + 1)
        t = self.const_op(thr, fixed.narrowest_format(low, high, domain.frac))
        count_fmt = fixed.narrowest_format(0, base + thr.shape[1], 0)
        if rep.table is None:
            out_scale, out_bias = rep.out_scale, rep.out_bias + base * rep.out_scale
            y = self.emit(fxp.MultiThresholdOp(xv, t, rep.fmt, out_scale, out_bias), node).result
        else:
            n = self.emit(fxp.MultiThresholdOp(xv, t, count_fmt, 1.0, float(base))).result
            idx = count_fmt
            full = np.arange(idx.min_code, idx.max_code + 1)
            entries = np.asarray(rep.table)[np.clip(full, 0, len(rep.table) - 1)]
            y = self.emit(fxp.TableOp(n, np.asarray(entries, dtype=np.int64), rep.fmt, "levels"), node).result
        return x.with_value(y, real=IDENTITY)

    def stair_table(self, x: Act, domain: Interval, stair, rep: _LevelRepr, node) -> Act:
        idx = fixed.narrowest_format(domain.lo, domain.hi, domain.frac)
        xi = self.emit(fxp.CastOp(x.value, idx)).result
        full = np.arange(idx.min_code, idx.max_code + 1)
        pos = np.clip(full, domain.lo, domain.hi) - domain.lo  # codes outside the range never occur
        level = stair.table[pos]
        if rep.table is None:
            codes = np.rint((rep.out_bias + rep.out_scale * level) * 2.0**rep.fmt.frac).astype(np.int64)
        else:
            codes = np.asarray(rep.table)[level]
        y = self.emit(fxp.TableOp(xi, np.asarray(codes, dtype=np.int64), rep.fmt, node.op_type.lower()), node).result
        return x.with_value(y, real=IDENTITY)


class _LevelRepr:
    """Level k as fmlc holds it: ``out_bias + out_scale * k`` in ``fmt`` (or ``table[k]``)."""

    def __init__(self, fmt, out_scale, out_bias, table, real, max_step, span):
        self.fmt, self.out_scale, self.out_bias, self.table = fmt, out_scale, out_bias, table
        self.real, self.max_step, self.span = real, max_step, span


def _progression(values: np.ndarray):
    """``((v0, d), frac, codes)`` when exact ``values`` are ``v0 + k * d`` and, as fixed point
    with ``frac`` fractional bits, take at most 24 bits; else None."""
    from fractions import Fraction

    vals = [Fraction(float(v)) for v in values]
    d = vals[1] - vals[0] if len(vals) > 1 else Fraction(1)
    if any(vals[k] != vals[0] + k * d for k in range(len(vals))):
        return None
    frac = max(fixed.code_of_float_exact(float(v))[1] for v in (vals[0], d))
    codes = [int(v * (1 << frac)) for v in vals]
    if max(abs(c) for c in codes).bit_length() > 24:
        return None
    return (float(vals[0]), float(d)), frac, codes


def _level_ints(node, importer, levels: Levels, channels: int):
    """The integer code of each level (the quantizer's integer minus its zero point) and its
    float32 scale, when the quantizer is a scaled integer grid; (None, None) otherwise."""
    if node.op_type == "Quant":
        p = QuantParams(importer, node)
        if p.bipolar:
            ints = np.array([-1, 1], dtype=np.int64)
        else:
            ints = np.arange(p.qmin, p.qmax + 1, dtype=np.int64)
        z = np.unique(p.zero)
        if z.size != 1:
            return None, None
        ints = ints - int(z[0])
        s = p.scale.ravel()
        if s.size > 1 and s.size != channels:
            return None, None
        if s.size > 1 and levels.values.shape[0] == 1:
            return None, None
        return (ints if levels.values[0, 0] <= levels.values[0, -1] else ints[::-1]), s
    if node.op_type == "BipolarQuant":
        s = np.asarray(importer.float_constant(node.input[1]), dtype=np.float64).ravel()
        return np.array([-1, 1], dtype=np.int64), s
    return None, None


def _exact_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    frac = max((fixed.code_of_float_exact(float(v))[1] for v in values), default=0)
    codes = np.array([int(fixed.code_of_float_exact(float(v))[0]) << (frac - fixed.code_of_float_exact(float(v))[1]) for v in values], dtype=object)
    if fixed.bits_needed(codes) > 62:
        raise ModelImportError("the quantizer's exact float32 levels need more than 62 bits")
    return codes.astype(np.int64), frac


def _chain_text(nodes) -> str:
    return " -> ".join(f"{n.op_type} '{n.name}'" for n in nodes)



class _Stand:
    def __init__(self, node):
        self.name, self.op_type = node.name, node.op_type
