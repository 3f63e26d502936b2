"""The model boundary: a float graph input, its float preprocessing, and its first quantizer.

A float input goes through the model's own preprocessing (Add/Sub/Mul/Div by constants —
scalars, or one per channel as image models normalize —, Clip, Relu) and its first QONNX
quantizer exactly as QONNX computes them, in float32: the ``fxp.quantize`` *steps* of
``fmlc.boundary``, run on the host for HLS and Verilog and on the device for CUDA.  Data
movement on the way (Reshape, Transpose...) is replayed after quantization; per-channel
constants are carried back through it.  Where the model has no input quantizer, the input is
cast to the configured input precision, and the report says so.
"""

from __future__ import annotations

import numpy as np

from fmlc import boundary, fixed
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.frontend import ModelImportError, f32 as F32
from fmlc.frontend.core import attrs, log2_exact
from fmlc.frontend.quantizers import QuantParams
from fmlc.frontend.values import IDENTITY, Act, FloatInput, Real

PREPROCESSING_OPS = ("Add", "Sub", "Mul", "Div", "Relu", "Clip", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout")
"""Float ops on a graph input that fold into its quantizer's ``fxp.quantize`` steps."""


class BoundaryOps:
    """Graph inputs into fixed point."""

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
        if p.float64_scale:
            p.require_float32("the model's input quantizer")
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
            widen = [("widen",)] if p.float64_add else []  # an int64 zero point: numpy adds in float64
            steps = [("div", s)] + widen + [("add", float(z)), ("clip", float(p.qmin), float(p.qmax)), ("round", p.rounding)]
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


def _boundary_entry(name: str, detail: str):
    from fmlc.frontend.report import NodeReport

    return NodeReport(name, "input", "boundary", detail)
