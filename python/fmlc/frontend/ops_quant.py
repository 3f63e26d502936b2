"""QONNX quantizers on runtime tensors: Quant, BipolarQuant, Trunc, MultiThreshold.

- On a graph input they are the model boundary (``ops_boundary``).
- **Power-of-two scales** make exact fixed-point types: ``Quant(bits=b, scale=2**-F)`` is
  ``fixed<b, b-F>`` with QONNX's rounding (ROUND is RND_CONV) and saturation.
- **Other scales** keep the integer codes; the scale travels in the tensor's ``Real`` and meets
  the next quantizer, where the whole float chain (scale, BatchNorm, ReLU, ...) becomes
  thresholds found with the reference's own float32 semantics (``chains``, ``staircase``).
"""

from __future__ import annotations

import numpy as np

from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.frontend import ModelImportError, f32 as F32, is_power_of_two
from fmlc.frontend.core import attrs, log2_exact
from fmlc.frontend.quantizers import ROUNDING_TO_FIXED, QuantParams, quantize_constant
from fmlc.frontend.values import IDENTITY, Act, FixedConst, FloatInput, Real, ScaledConst





class QuantOps:
    """Quantizers and the float chains they end."""

    # ---------------------------------------------------------------- the model boundary










    # ---------------------------------------------------------------- quantizers

    def op_Quant(self, node) -> None:
        p = QuantParams(self, node)
        x_name = node.input[0]
        if self.constant(x_name) is not None:
            self.set(node.output[0], quantize_constant(node, self.float_constant(x_name), p))
            self.report.add(node, "folded", "quantized weights: integer codes" + ("" if p.pow2 else " with their float32 scale"))
            return
        v = self.value(x_name)
        if isinstance(v, FloatInput):
            self.input_quant(node, v, p)
            return
        act = v
        if not isinstance(act, Act):
            raise ModelImportError(f"input '{x_name}' is not a runtime tensor", node.name, node.op_type)
        if p.float64_scale:
            p.require_float32("a quantizer")
        if p.bits > 24:
            # QONNX's clamp bound 2**(b-1) - 1 is itself rounded to float32 past 24 bits
            raise ModelImportError(f"a {p.bits}-bit Quant on a runtime tensor: QONNX's float32 clamp bounds are not the integers they stand for past 24 bits", node.name, node.op_type)
        if p.pow2 and not p.bipolar and not act.pending and act.real.identity and self.cast_is_exact(act, p):
            self.cast_quant(node, act, p)
            return
        self.quantize_chain(node, act)

    def cast_is_exact(self, act: Act, p: QuantParams) -> bool:
        """Whether QONNX's float32 rounding of ``x / s`` equals ap_fixed rounding of the exact value:
        always for ROUND/FLOOR/DOWN (float32 rounds x / s itself exactly), and for HALF_UP/HALF_DOWN
        while ``|x / s| +- 0.5`` is exact in float32 (QONNX adds 0.5 in float32 first)."""
        if p.rounding not in ROUNDING_TO_FIXED:
            return False
        iv = self.ranges[act.value]
        frac = iv.frac + log2_exact(p.s)  # fractional bits of x / s
        top_code = max(abs(iv.lo), abs(iv.hi))
        if frac > -F32.MIN_EXP or top_code.bit_length() - frac >= 127:
            return False  # x / s underflows below float32's subnormals, or overflows
        if p.rounding not in ("HALF_UP", "HALF_DOWN"):
            return True
        top = min(top_code * 2.0**-iv.frac / p.s, float(max(abs(p.qmin), p.qmax))) + 1.0
        return np.log2(top) + max(frac, 1) <= F32.MANTISSA

    def cast_quant(self, node, act: Act, p: QuantParams) -> None:
        """A power-of-two Quant on an exact fixed-point value: a cast (QONNX's rounding and clamp)."""
        mode = ROUNDING_TO_FIXED.get(p.rounding)
        if mode is None:
            self.quantize_chain(node, act)
            return
        frac = -log2_exact(p.s)
        fmt = FixedFormat(p.bits, p.bits - frac, p.signed, mode, "SAT_SYM" if (p.signed and p.narrow) else "SAT")
        y = self.emit(fxp.CastOp(act.value, fmt), node).result
        if p.narrow and not p.signed:  # the top code 2**b - 1 is excluded
            y = self.emit(fxp.MinimumOp(y, self.const_op(np.array([fmt.max_code - 1]), fmt), fmt)).result
        err = act.real.err
        out_err = 0.0 if err == 0.0 else p.s * (np.floor(err / p.s) + 1.0)
        real = Real(exact=False, err=out_err) if err else IDENTITY  # codes may differ: not exact
        self.report.add(node, "exact" if not err else "bounded", f"cast to {fmt}" + (f"; input within {err:.3g} of the reference: at most {out_err / p.s:.0f} step(s) off" if err else ""))
        self.set(node.output[0], Act(y, act.shape, act.batch, act.order, real))

    def op_BipolarQuant(self, node) -> None:
        scale = self.float_constant(node.input[1])
        if scale is None or np.asarray(scale).size != 1:
            raise ModelImportError("BipolarQuant needs one constant scale", node.name, node.op_type)
        s = float(np.asarray(scale).ravel()[0])
        if not np.isfinite(s) or s <= 0:
            raise ModelImportError(f"the scale must be positive and finite, got {s}", node.name, node.op_type)
        x_name = node.input[0]
        if self.constant(x_name) is not None:
            w = self.float_constant(x_name)
            q = np.where(np.asarray(w, dtype=np.float32) >= 0, 1, -1).astype(np.int64)
            self.set(node.output[0], FixedConst(q, -log2_exact(s)) if is_power_of_two(s) else ScaledConst(q, np.full(q.shape, np.float32(s))))
            self.report.add(node, "folded", "binary weights")
            return
        v = self.value(x_name)
        if isinstance(v, FloatInput):
            steps = [("bipolar",)]
            if is_power_of_two(s):
                steps.append(("mul", s))
                fmt, real = FixedFormat(2, 2 + log2_exact(s), True, "RND_CONV", "SAT"), IDENTITY
            else:
                fmt, real = FixedFormat(2, 2, True, "RND_CONV", "SAT"), self.dequant_real(np.array([s]), None, -1, 1)
            act = self.quantize_input(v, fmt, node, tuple(steps), real)
            self.report.add(node, "boundary", f"the model's bipolar input quantizer: sign(x) * {s:.9g}")
            self.set(node.output[0], act)
            return
        self.quantize_chain(node, v)

    def op_MultiThreshold(self, node) -> None:
        if isinstance(self.value(node.input[0]), FloatInput):
            raise ModelImportError("MultiThreshold on the model's float input is not supported (compare float32 inputs after a Quant)", node.name, node.op_type)
        thr = self.float_constant(node.input[1])
        if thr is None:
            raise ModelImportError("thresholds must be constant", node.name, node.op_type)
        if np.asarray(thr).ndim != 2:
            raise ModelImportError(f"thresholds must be [channels or 1, steps], got shape {list(np.asarray(thr).shape)}", node.name, node.op_type)
        v = self.value(node.input[0])
        if isinstance(v, FloatInput):
            v = self.act(node.input[0], node)
        self.quantize_chain(node, v)

    def op_Trunc(self, node) -> None:
        """QONNX Trunc on an exact fixed-point value.  Both versions first round onto the input
        grid (half to even).  v1 (5 inputs) then divides the integer by 2**(in_bits - out_bits),
        rounds it and keeps the input scale, without clamping; v2 (6 inputs) keeps the value: it
        rounds onto the output scale's grid and clamps to the output bit width."""
        a = attrs(node)
        rounding = str(a.get("rounding_mode", "FLOOR")).upper()
        params = [self.float_constant(i) for i in node.input[1:]]
        if any(v is None for v in params):
            raise ModelImportError("Trunc parameters must be constants", node.name, node.op_type)
        scale, zero, in_bits = params[:3]
        s = float(np.asarray(scale).ravel()[0])
        if np.asarray(scale).size != 1 or np.any(np.asarray(zero) != 0) or not is_power_of_two(s):
            raise ModelImportError("Trunc needs one power-of-two scale and a zero point of 0", node.name, node.op_type)
        version = getattr(self.wrapper, "fmlc_trunc_versions", {}).get(node.name, 2 if len(node.input) == 6 else 1)
        if len(node.input) != (6 if version == 2 else 5):
            raise ModelImportError(
                f"the model's QONNX opset makes this Trunc version {version} ({6 if version == 2 else 5} inputs), but it has {len(node.input)}; "
                f"QONNX would run it as version {version}", node.name, node.op_type)
        x = self.act(node.input[0], node)
        x = self.snap_to_grid(x, s)
        if not x.real.identity or not x.real.exact or x.real.err:
            raise ModelImportError("Trunc on a value with a non-power-of-two scale or a float32 rounding is not supported", node.name, node.op_type)
        mode = ROUNDING_TO_FIXED.get(rounding)
        if mode is None:
            raise ModelImportError(f"Trunc rounding_mode '{rounding}' has no fixed-point equivalent", node.name, node.op_type)
        ib = int(np.asarray(in_bits).ravel()[0])
        fx = self.format_of(x.value)
        frac = -log2_exact(s)
        grid = FixedFormat(fx.int_bits + frac + 1, fx.int_bits + 1, True, "RND_CONV", "WRAP")  # holds every rounded input
        g = self.emit(fxp.CastOp(x.value, grid)).result
        if len(node.input) == 6:
            out_scale, out_bits = float(np.asarray(params[3]).ravel()[0]), int(np.asarray(params[4]).ravel()[0])
            if not is_power_of_two(out_scale):
                raise ModelImportError("Trunc's output scale must be a power of two", node.name, node.op_type)
            signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
            ofrac = -log2_exact(out_scale)
            fmt = FixedFormat(out_bits, out_bits - ofrac, signed, mode, "SAT_SYM" if (signed and narrow) else "SAT")
            y = self.emit(fxp.CastOp(g, fmt), node).result
        else:
            shift = ib - int(np.asarray(params[3]).ravel()[0])
            k = self.const_op(np.array([1]), FixedFormat(2, 2 - shift, True))  # 2**-shift
            d = self.emit(fxp.MulOp(g, k, None)).result
            y = self.emit(fxp.CastOp(d, FixedFormat(grid.width, grid.int_bits, True, mode, "WRAP")), node).result
        self.report.add(node, "exact", "truncation on the integer grid")
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    def snap_to_grid(self, x: Act, s: float) -> Act:
        """Trunc first rounds its input onto the grid ``s`` (half to even): a value within less
        than ``s / 2`` of an exact value on that grid is that value, whatever the reference's
        float32 rounding before (Brevitas' TruncAvgPool: an average times the window size)."""
        if x.pending:
            x = self.materialize(x, "")
        real = x.real
        if real.identity and real.exact:
            return x
        if not real.per_tensor or float(real.shift[0]) != 0.0:
            return x
        iv = self.ranges[x.value]
        if iv.frac > -log2_exact(s):
            return x  # the exact value is not on the grid
        mag = max(abs(iv.lo), abs(iv.hi)) * 2.0**-iv.frac
        off = abs(float(real.scale[0]) - 1.0) * mag + real.err + F32.ulp_bound(mag)
        if off < s / 2:
            return Act(x.value, x.shape, x.batch, x.order)
        return x

    # ---------------------------------------------------------------- float chains






    # ---------------------------------------------------------------- level representation

















