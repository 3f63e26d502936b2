"""Float chains that reach something other than a quantizer (a graph output, a residual Add, a
pooling...), in quantized models.

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
from fmlc.frontend.reference import ReferenceError
from fmlc.frontend.staircase import POSITION_DEPENDENT
from fmlc.frontend.values import Act, Real, dyadic_codes
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


class _Stand:
    def __init__(self, node):
        self.name, self.op_type = node.name, node.op_type
