"""QONNX quantizers as QONNX defines them: a Quant node's parameters, checked, and Quant on a
constant computed with QONNX's own ``int_quant``.  Shared by the model boundary
(``ops_boundary``), the quantizer ops (``ops_quant``) and the float chains (``chains``)."""

from __future__ import annotations

import numpy as np

from fmlc import boundary
from fmlc.frontend import ModelImportError, is_power_of_two
from fmlc.frontend.core import attrs, log2_exact
from fmlc.frontend.values import FixedConst, ScaledConst

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
