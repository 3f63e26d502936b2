"""Cost estimates per target, read from resolved fxp IR in milliseconds (no lowering, no tools).

They rank candidate types (``fmlc tune``); they are not synthesis results.  What each counts:

- ``verilog``: LUTs of the fully unrolled design.  Constant-weight dense and conv layers are
  adder graphs (``rtl-adder-graph``): every non-zero canonical-signed digit of a weight is a
  term ``x << p``, a column of T terms takes T - 1 adders (one more with a bias), each about as
  wide as the input plus half the spread of the column's digit positions plus the tree's
  growth; convolutions repeat the graph at every output position.  Casts that round or
  saturate cost about their width (twice when rounding to nearest); ReLU and maximum half a LUT
  a bit and a comparator; a table of 2**W entries and V-bit values ``V * 2**(W - 6)`` LUT6s per
  lookup; a product of two variables ``0.6 * Wa * Wb``.  Shared subexpressions are not
  modelled (they lower every design by a similar factor).
- ``hls``: LUT-equivalents of an HLS design at the layers' reuse factors: each dense/conv layer
  has ``ceil(non-zero weights / reuse)`` multipliers of ``Wx x Ww`` bits (0.6 LUT a bit
  product, what HLS tools spend on small multipliers) feeding accumulators of the accumulator's
  width; non-linear layers as for Verilog.  ``figures`` add the multiplier and adder bits.
- ``cuda``: per sample, integer operations (a multiply-accumulate counts 1 in int32, 2 in
  int64, 1/4 when both operands fit 8 bits: ``__dp4a``) plus the bytes of every tensor written
  and read (int8/16/32/64 storage by width); weights count 1/256 of their bytes (a block of
  samples shares them).

``estimate(module, target)`` returns a ``CostReport``: one ``LayerCost`` per operation that
costs anything, with named figures and one number (``cost``) that the tuner minimises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import ReturnOp
from xdsl.ir import BlockArgument, Operation, OpResult, SSAValue

from fmlc.dialects import dataflow, fxp
from fmlc.fixed import FixedFormat
from fmlc.ir import main_function

TARGETS = ("verilog", "hls", "cuda")
LUT_MULT = 0.6
"""LUTs per bit product of a multiplier built from LUTs."""
WEIGHT_SHARING = 256
"""CUDA: samples that share one read of the weights."""


@dataclass
class LayerCost:
    """What one operation costs on a target."""

    layer: str
    op: str
    cost: float
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class CostReport:
    target: str
    layers: list[LayerCost]

    @property
    def total(self) -> float:
        return float(sum(lay.cost for lay in self.layers))

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for lay in self.layers:
            for k, v in lay.figures.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def by_layer(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for lay in self.layers:
            out[lay.layer] = out.get(lay.layer, 0.0) + lay.cost
        return out

    def unit(self) -> str:
        return {"verilog": "LUTs (estimate)", "hls": "LUT-equivalents (estimate)", "cuda": "ops + bytes per sample (estimate)"}[self.target]


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------


def csd_digits(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per code: the number of non-zero canonical-signed digits, the lowest and highest digit
    position (positions are -1 for a zero code)."""
    n = np.abs(np.asarray(codes, dtype=object).astype(np.int64)) if np.asarray(codes).dtype == object else np.abs(np.asarray(codes, dtype=np.int64))
    count = np.zeros(n.shape, dtype=np.int64)
    low = np.full(n.shape, -1, dtype=np.int64)
    high = np.full(n.shape, -1, dtype=np.int64)
    pos = 0
    n = n.copy()
    while np.any(n):
        odd = (n & 1) == 1
        digit = np.where(odd, 2 - (n & 3), 0)  # +1 or -1: no two adjacent non-zero digits
        hit = digit != 0
        count += hit
        low = np.where(hit & (low < 0), pos, low)
        high = np.where(hit, pos, high)
        n = (n - digit) >> 1
        pos += 1
    return count, low, high


# --------------------------------------------------------------------------------------------
# the walk
# --------------------------------------------------------------------------------------------


def _ops(module: ModuleOp) -> list[Operation]:
    """Computing operations in program order (inside dataflow nodes too)."""
    out: list[Operation] = []

    def visit(block):
        for op in block.ops:
            if isinstance(op, dataflow.NodeOp):
                visit(op.block)
            elif not isinstance(op, ReturnOp | dataflow.YieldOp | fxp.ConstantOp):
                out.append(op)

    visit(main_function(module).body.block)
    return out


def _constant(v: SSAValue | None) -> np.ndarray | None:
    """Codes of a constant operand (through dataflow node arguments)."""
    while isinstance(v, BlockArgument):
        parent = v.block.parent_op()
        if not isinstance(parent, dataflow.NodeOp):
            return None
        v = parent.inputs[v.index]
    if isinstance(v, OpResult) and isinstance(v.owner, fxp.ConstantOp):
        return v.owner.codes()
    return None


def _fmt(v: SSAValue) -> FixedFormat:
    return fxp.element_format(v)


def _elements(v: SSAValue) -> int:
    return int(np.prod(fxp.shape_of(v), dtype=np.int64))


def _positions(v: SSAValue) -> int:
    shape = fxp.shape_of(v)
    return int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1


def layer_names(module: ModuleOp) -> list[tuple[str, Operation]]:
    """(layer name, op) in program order: the ONNX node name, else ``kind#index``."""
    out = []
    for k, op in enumerate(_ops(module)):
        name = op.attributes.get("name")
        out.append((name.data if name is not None else f"{op.name.split('.')[-1]}#{k}", op))
    return out


def estimate(module: ModuleOp, target: str) -> CostReport:
    """The cost of every operation of a resolved module on ``target``."""
    if target not in TARGETS:
        raise ValueError(f"unknown target '{target}': choose one of {', '.join(TARGETS)}")
    layers = []
    for name, op in layer_names(module):
        figures = _COSTS[target](op)
        if figures is None:
            continue
        cost = figures.pop("cost")
        if cost or figures:
            layers.append(LayerCost(name, op.name, float(cost), {k: float(v) for k, v in figures.items()}))
    return CostReport(target, layers)


# --------------------------------------------------------------------------------------------
# Verilog
# --------------------------------------------------------------------------------------------


def _cast_luts(src: FixedFormat, dst: FixedFormat, count: int) -> float:
    """A cast that rounds or saturates: about its width per element (twice to round to nearest)."""
    if dst.contains(src):
        return 0.0
    rounds = src.frac > dst.frac and dst.rounding not in ("TRN",)
    return count * dst.width * (2.0 if rounds else 1.0)


def _table_luts(index_bits: int, value_bits: int) -> float:
    return value_bits * max(1.0, 2.0 ** (index_bits - 6))


def _linear_verilog(op) -> dict:
    w = _constant(op.weight)
    fx, out = _fmt(op.input), _fmt(op.result)
    acc = op.acc.format
    positions = _positions(op.result)
    if w is None:  # programmable weights: a multiplier per weight
        mults = _elements(op.weight)
        return {"cost": positions * mults * (LUT_MULT * fx.width * _fmt(op.weight).width + acc.width), "multipliers": positions * mults}
    k = w.shape[0] if isinstance(op, fxp.DenseOp) else int(np.prod(w.shape[:-1]))
    wmat = w.reshape(k, -1)
    digits, low, high = csd_digits(wmat)
    bias = _constant(op.bias) if op.bias is not None else None
    terms = digits.sum(axis=0) + (0 if bias is None else (bias.reshape(-1) != 0).astype(np.int64))
    adders = np.maximum(terms - 1, 0)
    lows = np.where(low >= 0, low, np.iinfo(np.int64).max).min(axis=0)
    spread = np.maximum(high.max(axis=0) - np.where(lows == np.iinfo(np.int64).max, 0, lows), 0)
    growth = np.ceil(np.log2(np.maximum(terms, 1)))
    adder_bits = float(np.sum(adders * (fx.width + spread / 2.0 + growth)))
    exact = FixedFormat(max(acc.width, 2), acc.int_bits, True)
    cast = _cast_luts(exact, out, wmat.shape[1])
    return {"cost": positions * (adder_bits + cast), "adders": positions * float(adders.sum()), "adder_bits": positions * adder_bits}


def _softmax_luts(op) -> dict:
    fx = _fmt(op.input)
    diff, expf, total, inv = (t.format for t in (op.diff_type, op.exp_type, op.sum_type, op.inv_type))
    n = fxp.shape_of(op.input)[-1]
    rows = _positions(op.input)
    per_row = (
        2 * (n - 1) * fx.width  # the maximum: comparators and muxes
        + n * (fx.width + diff.width)  # max - x, cast to the diff type
        + n * _table_luts(diff.width, expf.width)
        + (n - 1) * (expf.width + math.ceil(math.log2(max(n, 2))))
        + total.width
        + _table_luts(total.width, inv.width)
        + n * LUT_MULT * expf.width * inv.width
        + n * _fmt(op.result).width
    )
    return {"cost": rows * per_row, "table_bits": rows * (n * expf.width * 2**diff.width + inv.width * 2**total.width)}


def _verilog(op: Operation) -> dict | None:
    if isinstance(op, fxp.DenseOp | fxp.ConvOp):
        return _linear_verilog(op)
    if isinstance(op, fxp.SoftmaxOp):
        return _softmax_luts(op)
    if isinstance(op, fxp.TableOp):
        fin, fout = _fmt(op.input), _fmt(op.result)
        return {"cost": _elements(op.result) * _table_luts(fin.width, fout.width), "table_bits": fout.width * 2**fin.width}
    if isinstance(op, fxp.QuantizeOp):
        return {"cost": 0.0, "input_bits": _elements(op.result) * _fmt(op.result).width}
    if isinstance(op, fxp.CastOp):
        return {"cost": _cast_luts(_fmt(op.input), _fmt(op.result), _elements(op.result))}
    if isinstance(op, fxp.ReluOp | fxp.ThresholdedReluOp | fxp.LeakyReluOp):
        fin = _fmt(op.input)
        return {"cost": _elements(op.result) * fin.width * 0.5 + _cast_luts(fin, _fmt(op.result), _elements(op.result))}
    if isinstance(op, fxp.AddOp | fxp.SubOp | fxp.MaximumOp | fxp.MinimumOp):
        w = max(_fmt(op.lhs).width, _fmt(op.rhs).width) + 1
        factor = 2.0 if isinstance(op, fxp.MaximumOp | fxp.MinimumOp) else 1.0
        return {"cost": _elements(op.result) * w * factor}
    if isinstance(op, fxp.MulOp):
        const = _constant(op.rhs) if _constant(op.rhs) is not None else _constant(op.lhs)
        var = op.lhs if _constant(op.rhs) is not None else op.rhs
        if const is not None:
            digits = float(np.mean(csd_digits(const)[0])) if np.size(const) else 0.0
            return {"cost": _elements(op.result) * max(digits - 1, 0.0) * _fmt(var).width}
        return {"cost": _elements(op.result) * LUT_MULT * _fmt(op.lhs).width * _fmt(op.rhs).width}
    if isinstance(op, fxp.MaxPoolOp | fxp.AvgPoolOp):
        kernel = op.window()[0]
        taps = int(np.prod(kernel))
        w = _fmt(op.input).width
        return {"cost": _elements(op.result) * (taps - 1) * w * (2.0 if isinstance(op, fxp.MaxPoolOp) else 1.5)}
    if isinstance(op, fxp.GlobalMaxPoolOp | fxp.GlobalAvgPoolOp):
        taps = _positions(op.input)
        return {"cost": _elements(op.result) * (taps - 1) * _fmt(op.input).width * 1.5}
    if isinstance(op, fxp.BatchNormOp):
        scale = _constant(op.scale)
        digits = float(np.mean(csd_digits(scale)[0])) if scale is not None and scale.size else 2.0
        return {"cost": _elements(op.result) * (digits * _fmt(op.input).width + _fmt(op.result).width)}
    if isinstance(op, fxp.MultiThresholdOp):
        steps = fxp.shape_of(op.thresholds)[1]
        return {"cost": _elements(op.result) * steps * _fmt(op.input).width}
    return None


# --------------------------------------------------------------------------------------------
# HLS
# --------------------------------------------------------------------------------------------


def _reuse(op: Operation) -> int:
    attr = op.attributes.get("fmlc.reuse_factor")
    if attr is None:
        parent = op.parent_op()
        if isinstance(parent, dataflow.NodeOp):
            return max(1, int(parent.reuse_factor.value.data))
        return 1
    return max(1, int(attr.value.data))


def _hls(op: Operation) -> dict | None:
    if isinstance(op, fxp.DenseOp | fxp.ConvOp):
        w = _constant(op.weight)
        nz = int(np.count_nonzero(w)) if w is not None else _elements(op.weight)
        mults = math.ceil(nz / _reuse(op))
        fx, fw = _fmt(op.input), _fmt(op.weight)
        mult_bits = mults * fx.width * fw.width
        adder_bits = mults * op.acc.format.width
        return {"cost": LUT_MULT * mult_bits + adder_bits, "multipliers": mults, "mult_bits": mult_bits, "adder_bits": adder_bits}
    return _verilog(op)


# --------------------------------------------------------------------------------------------
# CUDA
# --------------------------------------------------------------------------------------------


def storage_bytes(fmt: FixedFormat) -> int:
    for bits, size in ((8, 1), (16, 2), (32, 4)):
        if fmt.width <= bits:
            return size
    return 8


def _cuda(op: Operation) -> dict | None:
    if not op.results or not fxp.is_resolved(op.results[0]):
        return None
    out = op.results[0]
    written = _elements(out) * storage_bytes(_fmt(out))
    ops = 0.0
    weight_bytes = 0.0
    if isinstance(op, fxp.DenseOp | fxp.ConvOp):
        fx, fw = _fmt(op.input), _fmt(op.weight)
        k = int(np.prod(fxp.shape_of(op.weight)[:-1]))
        macs = _positions(op.result) * k * fxp.shape_of(op.weight)[-1]
        if isinstance(op, fxp.ConvOp):
            macs //= max(1, int(op.groups.value.data) if op.groups is not None else 1)
        per_mac = 0.25 if fx.width <= 8 and fw.width <= 8 else 1.0 if op.acc.format.width <= 32 else 2.0
        ops = macs * per_mac
        weight_bytes = _elements(op.weight) * storage_bytes(fw)
    elif isinstance(op, fxp.SoftmaxOp):
        ops = 6.0 * _elements(out)
    elif not isinstance(op, fxp.ReshapeOp | fxp.FlattenOp | fxp.TransposeOp):
        ops = float(_elements(out))
    return {"cost": ops + written + weight_bytes / WEIGHT_SHARING, "ops": ops, "bytes": written, "weight_bytes": weight_bytes}


_COSTS = {"verilog": _verilog, "hls": _hls, "cuda": _cuda}
