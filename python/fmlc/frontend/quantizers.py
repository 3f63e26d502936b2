"""QONNX quantizers as QONNX defines them: a Quant node's parameters, checked, and Quant on a
constant computed with QONNX's own ``int_quant``.  Shared by the model boundary
(``ops_boundary``), the quantizer ops (``ops_quant``) and the float chains (``chains``)."""

from __future__ import annotations

import numpy as np

from fmlc import boundary
from fmlc.frontend import ModelImportError, is_power_of_two
from fmlc.frontend.core import attrs, log2_exact
from fmlc.frontend.values import FixedConst, ScaledConst, exact_const

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
        # QONNX computes in numpy's promoted type: a float64 scale makes x / s a float64 division;
        # an int64 zero point makes x / s + z a float64 addition (exact where float32 would round)
        self.stored_scale = np.asarray(importer.reference_constant(node.input[1]))
        self.stored_zero = np.asarray(importer.reference_constant(node.input[2]))
        self.float64_scale = np.result_type(np.float32, self.stored_scale.dtype) != np.float32
        self.float64_add = np.result_type(np.float32, self.stored_zero.dtype) != np.float32 and bool(np.any(self.stored_zero))
        self.node = node
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

    def require_float32(self, where: str) -> None:
        """Refuse a quantizer whose parameters make QONNX compute it in float64 (where fmlc would
        follow it in float32)."""
        if self.float64_scale or self.float64_add:
            what = f"scale stored as {self.stored_scale.dtype}" if self.float64_scale else f"nonzero zero point stored as {self.stored_zero.dtype}"
            raise ModelImportError(f"{where}: its {what} makes QONNX compute it in float64; fmlc reads float32 quantizers (as exporters write them)", self.node.name, self.node.op_type)

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


def quantize_constant(node, x, p: QuantParams):
    """QONNX Quant on a constant, computed exactly as QONNX does (its own int_quant, float32)."""
    from qonnx.custom_op.general.intquant import int_quant

    x32 = np.asarray(x, dtype=np.float32)
    s32 = np.asarray(p.scale, dtype=np.float32)
    z32 = np.asarray(p.zero, dtype=np.float32)
    # the parameters as stored: QONNX's own arithmetic, whatever numpy promotes them to
    y = np.asarray(int_quant(x32, p.stored_scale, p.stored_zero, np.float32(p.bits), p.signed, p.narrow, p.rounding), dtype=np.float32)
    if p.float64_scale:  # not a float32 scale times an integer: keep the values themselves, exactly
        return FixedConst(np.asarray(exact_const(y.astype(np.float64)).codes), exact_const(y.astype(np.float64)).frac)
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
