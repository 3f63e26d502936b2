"""QONNX quantizers (Quant, BipolarQuant, Trunc, MultiThreshold), the model boundary, and the
exact replacement of float chains that end in a quantizer.

- **At the boundary**, a float graph input goes through the model's own float preprocessing
  (Add/Sub/Mul/Div by constants, Clip/Relu) and its first quantizer exactly as QONNX computes
  them, in float32 (``fxp.quantize`` steps, see ``fmlc.boundary``).  Where the model has no input
  quantizer, the input is quantized to the configured input precision (a boundary choice the
  report states).
- **Power-of-two scales** make exact fixed-point types: ``Quant(bits=b, scale=2**-F)`` is
  ``fixed<b, b-F>`` with QONNX's rounding (ROUND is RND_CONV) and saturation.
- **Other scales** keep the integer codes; the scale travels in the tensor's ``Real`` and meets
  the next quantizer, where the whole float chain (scale, BatchNorm, ReLU, ...) becomes
  thresholds found with the reference's own float32 semantics (``fmlc.frontend.staircase``).
"""

from __future__ import annotations

import numpy as np

from fmlc import boundary, fixed
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.frontend import ModelImportError, f32 as F32, is_power_of_two
from fmlc.frontend.core import attrs, log2_exact
from fmlc.frontend.reference import ReferenceChain, ReferenceError
from fmlc.frontend.staircase import ELEMENTWISE_OPS, Levels, StaircaseError, find, max_moves, quantizer_levels
from fmlc.frontend.values import IDENTITY, Act, FixedConst, FloatInput, Real, ScaledConst
from fmlc.ranges import Interval

PREPROCESSING_OPS = ("Add", "Sub", "Mul", "Div", "Relu", "Clip", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout")
"""Float ops on a graph input that fold into its quantizer's ``fxp.quantize`` steps."""
ROUNDING_TO_FIXED = {"ROUND": "RND_CONV", "HALF_EVEN": "RND_CONV", "FLOOR": "TRN", "DOWN": "TRN_ZERO", "HALF_UP": "RND_INF", "HALF_DOWN": "RND_ZERO"}
"""QONNX rounding modes that equal an ap_fixed rounding on exact values."""


class QuantParams:
    """A Quant node's constant parameters, checked."""

    def __init__(self, importer, node):
        scale = importer.float_constant(node.input[1])
        zero = importer.float_constant(node.input[2])
        bits = importer.float_constant(node.input[3])
        if scale is None or zero is None or bits is None:
            raise ModelImportError("scale, zero point and bit width must be constants", node.name, node.op_type)
        for name in node.input[1:3]:
            stored = np.asarray(importer.reference_constant(name))
            promotes = np.result_type(np.float32, stored.dtype) != np.float32
            # an integer zero point of 0 (QKeras writes int64) changes nothing: x / s is a float32
            # value, clamped and rounded exactly in float64 too, and fl32(q * s) comes out
            if promotes and not (stored.dtype.kind in "iu" and not np.any(stored)):
                # QONNX then computes the quantizer in that type (numpy promotion), not float32
                raise ModelImportError(f"the quantizer's parameter '{name}' is stored as {np.asarray(stored).dtype}; fmlc reads float32 quantizers (as exporters write them)", node.name, node.op_type)
        a = attrs(node)
        self.signed, self.narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
        self.rounding = str(a.get("rounding_mode", "ROUND")).upper()
        bits_v = np.asarray(bits).ravel()
        if bits_v.size != 1 or not np.isfinite(bits_v[0]) or bits_v[0] != int(bits_v[0]) or bits_v[0] < 1:
            raise ModelImportError(f"bit width must be one positive integer, got {bits_v.tolist()}", node.name, node.op_type)
        self.bits = int(bits_v[0])
        self.scale = np.asarray(scale, dtype=np.float64)
        self.zero = np.asarray(zero, dtype=np.float64)
        for what, arr in (("scale", self.scale), ("zero point", self.zero)):
            if not np.all(np.isfinite(arr)):
                raise ModelImportError(f"the {what} holds a non-finite value", node.name, node.op_type)
        if np.any(self.scale <= 0):
            raise ModelImportError(f"the scale must be positive, got {self.scale.ravel()[:4].tolist()}", node.name, node.op_type)
        if np.any(self.zero != np.round(self.zero)):
            raise ModelImportError("a zero point that is not an integer is not supported", node.name, node.op_type)
        if self.rounding not in boundary.ROUNDINGS:
            raise ModelImportError(f"rounding_mode '{self.rounding}' is unknown (QONNX knows {', '.join(boundary.ROUNDINGS)})", node.name, node.op_type)
        self.bipolar = self.signed and self.bits == 1
        if self.bipolar:
            self.qmin, self.qmax = -1, 1
        else:
            self.qmin = -(1 << (self.bits - 1)) + int(self.narrow) if self.signed else 0
            self.qmax = (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1 - int(self.narrow)

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1 and self.zero.size == 1

    @property
    def s(self) -> float:
        return float(self.scale.ravel()[0])

    @property
    def z(self) -> int:
        return int(self.zero.ravel()[0])

    @property
    def pow2(self) -> bool:
        return self.per_tensor and is_power_of_two(self.s) and self.z == 0


class QuantOps:
    """Quantizers and the float chains they end."""

    # ---------------------------------------------------------------- the model boundary

    def quantize_input(self, fin: FloatInput, fmt: FixedFormat | None, node=None, steps: tuple = (), real: Real = IDENTITY) -> Act:
        """Quantize a graph input (float preprocessing + the quantizer's steps), replay its moves."""
        all_steps = self.sanitized_input_steps(fin.name) + tuple(fin.steps) + tuple(steps)
        boundary_cast = fmt is None
        if boundary_cast:
            fmt = self.config.input_precision(fin.name)
            detail = f"not quantized by the model: cast to the input precision {fmt}"
            if fin.steps:
                detail = f"float preprocessing ({boundary.describe(fin.steps)}), then {detail}"
            self.report.nodes.append(_boundary_entry(fin.name, detail))
            if not fin.steps:
                self.report.inputs[fin.name] = str(fmt)  # guarantees hold for inputs fmt holds exactly
        q = self.emit(fxp.QuantizeOp(fin.arg, fmt, steps=all_steps or None), node).result
        act = Act(q, fin.shape, 0, tuple(range(1, len(fin.shape))), real)
        if boundary_cast and not fin.steps and not fin.moves:
            # the graph input itself now stands for its cast; a model quantizer's result does
            # not: another consumer of the raw input must still see the float values
            self.set(fin.name, act)
        for move in fin.moves:
            # the recorded Reshape/Transpose/... run again, now on the quantized tensor
            self.set(move.input[0], act)
            getattr(self, f"op_{move.op_type}")(move)
            act = self.env[move.output[0]]
        return act

    def sanitized_input_steps(self, name: str) -> tuple:
        """QONNX's executor rounds a tensor annotated with an integer datatype (FINN exports
        annotate inputs so) before using it: the same rounding, first."""
        for ann in self.graph.quantization_annotation:
            if ann.tensor_name != name:
                continue
            for kv in ann.quant_parameter_tensor_names:
                if kv.key == "finn_datatype":
                    from qonnx.core.datatype import DataType

                    try:
                        if DataType[kv.value].is_integer():
                            return (("round", "ROUND"),)
                    except KeyError:
                        raise ModelImportError(f"graph input '{name}' is annotated with the unknown datatype '{kv.value}'") from None
        return ()

    def float_preprocess(self, node) -> bool:
        """Record float ops on a graph input before its quantizer as ``fxp.quantize`` steps."""
        names = [n for n in node.input if n]
        runtime = [n for n in names if isinstance(self.env.get(n), FloatInput)]
        if not runtime:
            return False
        if len(runtime) != 1 or any(self.constant(n) is None for n in names if n != runtime[0]):
            return False
        if len(self.consumers.get(runtime[0], [])) != 1 or runtime[0] in self.graph_outputs:
            return False  # the float value is used elsewhere too: quantize it once, here
        if not self._reaches_quantizer(node):
            return False  # no model quantizer ahead: the input is cast at the boundary instead
        fin = self.env[runtime[0]]
        op = node.op_type
        if op in ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout"):
            self.set(node.output[0], FloatInput(fin.arg, fin.name, fin.shape, fin.steps, fin.moves + [node]))
            return True
        step = self._preprocess_step(node, runtime[0])
        if step is None:  # scalar steps commute with the recorded moves
            return False
        self.set(node.output[0], FloatInput(fin.arg, fin.name, fin.shape, fin.steps + (step,), list(fin.moves)))
        self.report.add(node, "boundary", f"float preprocessing on the input: {boundary.describe([step])} (float32, as the reference)")
        return True

    def _reaches_quantizer(self, node) -> bool:
        """Whether float preprocessing starting at ``node`` leads (one consumer at a time) to a
        QONNX quantizer that will quantize the input."""
        seen = 0
        while node is not None and seen < 64:
            if node.op_type in ("Quant", "BipolarQuant"):
                return True
            if node.op_type not in PREPROCESSING_OPS:
                return False
            node = self.single_consumer(node.output[0])
            seen += 1
        return False

    def _preprocess_step(self, node, x_name: str):
        op = node.op_type
        if op == "Relu":
            return ("clip", 0.0, F32.MAX_F32)
        if op == "Clip":
            lo, hi = self.clip_bounds(node)
            if lo is not None and hi is not None and lo > hi:
                return None  # onnxruntime gives hi there; the Clip op says so exactly
            return ("clip", -F32.MAX_F32 if lo is None else lo, F32.MAX_F32 if hi is None else hi)
        if op not in ("Add", "Sub", "Mul", "Div"):
            return None
        other = node.input[1] if node.input[0] == x_name else node.input[0]
        c = self.reference_constant(other)
        if c is None or np.result_type(np.float32, np.asarray(c).dtype) != np.float32:
            return None
        fin = self.env[x_name]
        c = np.asarray(c, dtype=np.float32)
        if c.size != 1:
            # per-channel constants (mean/deviation normalization): one per element of a sample,
            # carried back through the recorded moves to the graph input's layout
            arr = self._to_input_layout(c, x_name, fin)
            if arr is None:
                return None
            if op == "Sub":
                return ("sub", arr) if node.input[0] == x_name else ("rsub", arr)
            if op == "Div":
                return ("div", arr) if node.input[0] == x_name and not np.any(arr == 0) else None
            return ({"Add": "add", "Mul": "mul"}[op], arr)
        c = float(c.ravel()[0])
        if not np.isfinite(c):
            return None
        if op == "Sub":
            return ("sub", c) if node.input[0] == x_name else ("rsub", c)
        if op == "Div":
            return ("div", c) if node.input[0] == x_name and c != 0 else None
        return ({"Add": "add", "Mul": "mul"}[op], c)

    def _to_input_layout(self, c: np.ndarray, name: str, fin: FloatInput) -> np.ndarray | None:
        """A constant operand of tensor ``name`` (the graph input after ``fin.moves``) as a
        per-sample array in the graph input's own layout, or None if it cannot be."""
        shape = self.onnx_shape(name)
        if c.ndim > len(shape):
            return None
        c = c.reshape((1,) * (len(shape) - c.ndim) + c.shape)
        try:
            full = np.broadcast_to(c, (1,) + tuple(shape[1:])) if c.shape[0] == 1 else None
        except ValueError:
            return None
        if full is None:
            return None
        for move in reversed(fin.moves):  # undo each move: elementwise steps commute with them
            before = (1,) + tuple(self.onnx_shape(move.input[0])[1:])
            if move.op_type == "Transpose":
                perm = attrs(move).get("perm", list(range(full.ndim))[::-1])
                if perm[0] != 0:
                    return None
                full = np.transpose(full, np.argsort(perm))
            elif move.op_type in ("Identity", "Dropout"):
                continue
            else:
                full = full.reshape(before)
        if full.shape[1:] != tuple(fin.shape[1:]):
            return None
        return np.ascontiguousarray(full[0])

    def clip_bounds(self, node) -> tuple[float | None, float | None]:
        a = attrs(node)
        if self.opset < 11:
            return a.get("min"), a.get("max")
        lo = self.float_constant(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        hi = self.float_constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return (None if lo is None else float(np.asarray(lo).ravel()[0]), None if hi is None else float(np.asarray(hi).ravel()[0]))

    def input_quant(self, node, fin: FloatInput, p: QuantParams) -> None:
        """A QONNX quantizer on a float graph input: its own float32 semantics, on the host."""
        if not p.per_tensor:
            raise ModelImportError("a per-channel quantizer on a float graph input is not supported (per-tensor is)", node.name, node.op_type)
        if p.bits > 24:
            raise ModelImportError(f"a {p.bits}-bit input quantizer: QONNX's float32 clamp bounds are not the integers they stand for past 24 bits", node.name, node.op_type)
        s, z = p.s, p.z
        if not F32.is_f32(s):
            raise ModelImportError("the input quantizer's scale is not a float32 value", node.name, node.op_type)
        if p.bipolar:
            steps = [("div", s), ("add", float(z)), ("bipolar",)]
            lo, hi = -1, 1
        else:
            steps = [("div", s), ("add", float(z)), ("clip", float(p.qmin), float(p.qmax)), ("round", p.rounding)]
            lo, hi = p.qmin, p.qmax
        if z:
            steps.append(("sub", float(z)))
            lo, hi = lo - z, hi - z
        if p.pow2:
            frac = -log2_exact(s)
            steps.append(("mul", s))  # exact: the code times a power of two
            fmt = fixed.narrowest_format(lo, hi, frac, "RND_CONV", "SAT")
            real = IDENTITY
        else:
            fmt = fixed.narrowest_format(lo, hi, 0, "RND_CONV", "SAT")
            real = self.dequant_real(np.array([s]), None, lo, hi)
        act = self.quantize_input(fin, fmt, node, tuple(steps), real)
        self.report.add(node, "boundary", f"the model's input quantizer, as QONNX computes it: {boundary.describe(list(fin.steps) + steps)}")
        self.set(node.output[0], act)

    def dequant_real(self, scale: np.ndarray, axis: int | None, lo: int, hi: int) -> Real:
        """The reference's ``fl32(code * scale)`` for integer codes lo..hi: exact, with the
        float32 rounding as the bound on |reference - code * scale|."""
        scale = np.asarray(scale, dtype=np.float64).ravel()
        codes = np.arange(lo, hi + 1, dtype=np.int64) if hi - lo <= 1 << 16 else np.array([lo, hi], dtype=np.int64)
        err = 0.0
        for s in np.unique(scale):
            vals = codes.astype(np.float64) * s
            diff = np.abs(vals.astype(np.float32).astype(np.float64) - vals) if hi - lo <= 1 << 16 else np.array([F32.ulp_bound(float(np.max(np.abs(vals))))])
            err = max(err, float(np.max(diff)) * (1 + 2.0**-40))
        return Real(scale, np.zeros_like(scale), axis if scale.size > 1 else None, True, err)

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

    # ---------------------------------------------------------------- level representation

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


def _boundary_entry(name: str, detail: str):
    from fmlc.frontend.report import NodeReport

    return NodeReport(name, "input", "boundary", detail)


def quantize_constant(node, x, p: QuantParams):
    """QONNX Quant on a constant, computed exactly as QONNX does (its own int_quant, float32)."""
    from qonnx.custom_op.general.intquant import int_quant

    x32 = np.asarray(x, dtype=np.float32)
    s32 = np.asarray(p.scale, dtype=np.float32)
    z32 = np.asarray(p.zero, dtype=np.float32)
    y = np.asarray(int_quant(x32, s32, z32, np.float32(p.bits), p.signed, p.narrow, p.rounding), dtype=np.float32)
    # the integer codes: (y / s) is exact for a value QONNX formed as (q - z) * s ... recover q - z
    s_full = np.broadcast_to(s32, y.shape)
    codes = np.rint(y.astype(np.float64) / s_full.astype(np.float64)).astype(np.int64)
    if not np.array_equal((codes.astype(np.float32) * s_full).astype(np.float32), y):
        raise ModelImportError("quantized constant is off its grid", node.name, node.op_type)
    scales = np.asarray(p.scale, dtype=np.float64).ravel()
    if np.all(z32 == 0) and all(is_power_of_two(float(v)) for v in scales):
        frac = max(-log2_exact(float(v)) for v in scales)
        fc = np.asarray(np.rint(np.ldexp(y.astype(np.float64), frac)), dtype=np.int64)
        return FixedConst(fc, frac)
    return ScaledConst(codes, np.ascontiguousarray(s_full, dtype=np.float32))
