"""ONNX and QONNX models, as exported, into fxp IR.

``import_model(path, config)`` reads the file, cleans it (``normalize``), and walks the nodes in
order, building one fxp operation (or a few) per node:

- **Types.** QONNX quantizers (Quant, BipolarQuant, Trunc, MultiThreshold) with power-of-two
  scales become exact fixed-point types (QONNX's ROUND is RND_CONV, narrow signed ranges are
  SAT_SYM).  Float tensors take the configured precision (default ``fixed<16,6>``, as hls4ml):
  float inputs without a quantizer, float weights and biases, and the results of layers that
  compute with float parameters (dense/conv/batchnorm/tables/softmax).  Ops that are exact on
  fixed-point values (ReLU, add, max pooling, data movement...) keep ``!fxp.auto`` results for
  precision inference to make exact.
- **Layout.** Tensors are per sample: the batch axis (the first axis of each graph input,
  whatever size it was exported with) is tracked through Transposes and dropped.  A Transpose
  moves no data: each tensor remembers the order of its ONNX axes, and data is moved
  (``fxp.transpose``) only where an op needs a layout: channels-last for Conv, pooling and
  per-channel ops, ONNX order for Flatten/Reshape/MatMul.  Channels-first models with their
  Transposes import as exported.
- **Float preprocessing** before the first quantizer (``x * 2 - 1`` then Quant, in Brevitas'
  MNIST models) folds into ``fxp.quantize``'s scale/offset, computed in float32 as the
  reference does; Reshape/Transpose on the way are replayed after quantization.
- **Exact float subgraphs** (BatchNorm then Quant, float logits after BatchNorm) on tensors
  with few possible codes are evaluated exhaustively with QONNX's own executor
  (``fmlc.frontend.exhaustive``): bit-exact lookups instead of approximations.
- **Folding.** In float models a BatchNorm after Gemm/MatMul/Conv folds into the float weights
  before they are quantized (as hls4ml does), Transposes around it included.

Errors name the node, its op and the reason; nothing is written on error.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from xdsl.dialects.builtin import FloatAttr, ModuleOp, StringAttr, TensorType, f16, f32, f64
from xdsl.ir import Operation, SSAValue

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.frontend import ModelImportError, exhaustive, is_power_of_two, tables
from fmlc.frontend.config import Config
from fmlc.frontend.normalize import QUANTIZERS, load, normalize
from fmlc.ir import FunctionBuilder
from fmlc.ranges import Interval, cast_interval, exact_interval

REUSE_ATTR = "fmlc.reuse_factor"
IO_ATTR = "fmlc.io"
NOTE_ATTR = "fmlc.note"



def import_model(path: str | Path, config: dict | Config | None = None) -> ModuleOp:
    """Import an ONNX/QONNX file into an fxp module (function ``@main``)."""
    cfg = config if isinstance(config, Config) else Config(config or {})
    model = load(path)
    wrapper = normalize(model)
    return Importer(wrapper, cfg).run()


# --------------------------------------------------------------------------------------------
# values the importer tracks per ONNX tensor
# --------------------------------------------------------------------------------------------


@dataclass
class FixedConst:
    """A constant whose exact values are ``codes * 2**-frac`` (a quantized weight)."""

    codes: np.ndarray
    frac: int

    def values(self) -> np.ndarray:
        return np.ldexp(self.codes.astype(np.float64), -self.frac)

    def format(self) -> FixedFormat:
        return Interval.of_codes(self.codes, self.frac).narrowest() if self.codes.size else FixedFormat(1, 1 - self.frac, False)


@dataclass
class Act:
    """A runtime fixed-point tensor: an fxp value plus how its axes relate to the ONNX tensor."""

    value: SSAValue
    shape: tuple[int, ...]  # ONNX shape, batch axis included
    batch: int  # ONNX axis holding the batch
    order: tuple[int, ...]  # ONNX axes (batch excluded) in the order of the fxp value's axes

    @property
    def rank(self) -> int:
        return len(self.shape)

    def axis(self, onnx_axis: int) -> int:
        """The fxp axis of an ONNX axis."""
        return self.order.index(onnx_axis % self.rank)


@dataclass
class FloatInput:
    """A graph input not yet quantized, with the float preprocessing seen so far."""

    arg: SSAValue
    name: str
    shape: tuple[int, ...]
    scale: float | None = None
    offset: float | None = None
    moves: list = field(default_factory=list)


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _log2(v: float) -> int:
    return int(np.frexp(v)[1]) - 1


# --------------------------------------------------------------------------------------------
# the importer
# --------------------------------------------------------------------------------------------

def _supported_ops() -> tuple[str, ...]:
    return tuple(sorted(name[3:] for name in dir(Importer) if name.startswith("op_")))


FLOAT_TYPES = {onnx.TensorProto.FLOAT: f32, onnx.TensorProto.DOUBLE: f64, onnx.TensorProto.FLOAT16: f16}


class Importer:
    def __init__(self, wrapper, config: Config):
        self.wrapper = wrapper
        self.graph = wrapper.graph
        self.config = config
        versions = {o.domain: o.version for o in wrapper.model.opset_import}
        self.opset = versions.get("", versions.get("ai.onnx", 13))
        self.inits = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.env: dict[str, object] = {}
        self.consumers: dict[str, list] = defaultdict(list)
        for node in self.graph.node:
            for name in node.input:
                if name:
                    self.consumers[name].append(node)
        self.graph_outputs = {o.name for o in self.graph.output}
        self.consumed: set[int] = set()
        self.quantized = any(n.op_type in QUANTIZERS for n in self.graph.node)
        self.ranges: dict[SSAValue, Interval] = {}
        self.consts: dict[SSAValue, np.ndarray] = {}
        self.b: FunctionBuilder | None = None

    # ---------------------------------------------------------------- driver

    def run(self) -> ModuleOp:
        inputs = [i for i in self.graph.input if i.name not in self.inits]
        if not inputs:
            raise ModelImportError("the graph has no runtime inputs")
        types, names = [], []
        for inp in inputs:
            elem = inp.type.tensor_type.elem_type
            if elem not in FLOAT_TYPES:
                raise ModelImportError(f"graph input '{inp.name}' has element type {onnx.TensorProto.DataType.Name(elem)}; fmlc takes float inputs")
            shape = tuple(d.dim_value for d in inp.type.tensor_type.shape.dim)
            types.append(TensorType(FLOAT_TYPES[elem], list(shape[1:])))
            names.append(inp.name)
        self.b = FunctionBuilder("main", types, names)
        for arg, inp in zip(self.b.args, inputs):
            shape = tuple(d.dim_value for d in inp.type.tensor_type.shape.dim)
            self.env[inp.name] = FloatInput(arg, inp.name, shape)
        for node in self.graph.node:
            if id(node) in self.consumed:
                continue
            handler = getattr(self, f"op_{node.op_type}", None)
            if handler is None:
                raise ModelImportError(
                    f"operator {node.op_type} is not supported by fmlc (docs/frontend.md lists the {len(SUPPORTED_OPS)} it reads); "
                    "replace it, or cut the model before it and run that part elsewhere",
                    node.name,
                    node.op_type,
                )
            try:
                handler(node)
            except ModelImportError as err:
                if err.node is None:
                    raise ModelImportError(str(err), node.name, node.op_type) from None
                raise
            except (ValueError, fxp.VerifyException) as err:
                raise ModelImportError(str(err), node.name, node.op_type) from None
        outputs = [self.output_value(o.name) for o in self.graph.output]
        module = self.b.finish(outputs)
        return module

    def output_value(self, name: str) -> SSAValue:
        v = self.env.get(name)
        if isinstance(v, FloatInput):
            v = self.quantize_input(v, None)
        if not isinstance(v, Act):
            raise ModelImportError(f"graph output '{name}' is a constant; fmlc compiles computations")
        return self.canonical(v).value

    # ---------------------------------------------------------------- emitting ops

    def emit(self, op: Operation, node=None) -> Operation:
        self.b.add(op, name=node.name if node is not None else None)
        if not op.results:
            return op
        res = op.results[0]
        if isinstance(op, fxp.ConstantOp):
            self.consts[res] = op.codes()
            self.ranges[res] = Interval.of_codes(op.codes(), op.format.frac)
        elif isinstance(op, fxp.QuantizeOp):
            self.ranges[res] = Interval.of_format(fxp.element_format(res))
        else:
            exact = exact_interval(op, self.range_of, self.consts.get)
            if fxp.is_resolved(res):
                fmt = fxp.element_format(res)
                self.ranges[res] = cast_interval(exact, fmt) if exact is not None else Interval.of_format(fmt)
            elif exact is not None:
                self.ranges[res] = exact
            else:
                raise ModelImportError(f"cannot bound the result of {op.name}")
        return op

    def range_of(self, v: SSAValue) -> Interval:
        return self.ranges[v]

    def format_of(self, v: SSAValue) -> FixedFormat:
        """The type of a value, or the narrowest exact type of its range when still auto."""
        return fxp.element_format(v) if fxp.is_resolved(v) else self.ranges[v].narrowest()

    def const_op(self, codes: np.ndarray, fmt: FixedFormat) -> SSAValue:
        return self.emit(fxp.ConstantOp(np.asarray(codes).astype(np.int64), fmt)).result

    def fixed_const(self, value, role_fmt: FixedFormat) -> tuple[np.ndarray, FixedFormat]:
        """Codes and type of a constant operand: exact for quantized constants, otherwise the
        float values cast to ``role_fmt``."""
        if isinstance(value, FixedConst):
            fmt = value.format()
            return np.asarray(value.codes, dtype=np.int64), fmt
        codes = fixed.to_kind(fixed.from_float(np.asarray(value, dtype=np.float64), role_fmt), "int")
        return codes, role_fmt

    def exact_if_quantized(self, value):
        """In a quantized model, float weights that fit 24-bit codes exactly stay exact (they
        are integers or scaled integers that the exporter left unquantized)."""
        if self.quantized and value is not None and not isinstance(value, FixedConst):
            try:
                fc = exact_const(np.asarray(value, dtype=np.float64))
            except ValueError:
                return value
            if fc.format().width <= 24:
                return fc
        return value

    # ---------------------------------------------------------------- tensors

    def value(self, name: str):
        if name in self.env:
            return self.env[name]
        if name in self.inits:
            return self.inits[name]
        raise ModelImportError(f"tensor '{name}' is not known")

    def constant(self, name: str):
        """A constant tensor (float array or FixedConst), or None for runtime values."""
        if not name:
            return None
        v = self.value(name)
        return v if isinstance(v, (np.ndarray, FixedConst, np.generic)) else None

    def float_constant(self, name: str) -> np.ndarray | None:
        c = self.constant(name)
        if c is None:
            return None
        return c.values() if isinstance(c, FixedConst) else np.asarray(c)

    def act(self, name: str, node) -> Act:
        v = self.value(name)
        if isinstance(v, FloatInput):
            v = self.quantize_input(v, None)
        if not isinstance(v, Act):
            raise ModelImportError(f"input '{name}' must be a runtime tensor here, not a constant", node.name, node.op_type)
        return v

    def set(self, name: str, value) -> None:
        self.env[name] = value

    def onnx_shape(self, name: str) -> tuple[int, ...]:
        shape = self.wrapper.get_tensor_shape(name)
        if shape is None:
            raise ModelImportError(f"tensor '{name}' has no known shape")
        return tuple(int(d) for d in shape)

    # ---------------------------------------------------------------- layouts

    def per_sample_shape(self, act: Act) -> tuple[int, ...]:
        return tuple(act.shape[a] for a in act.order)

    def relayout(self, act: Act, order: tuple[int, ...]) -> Act:
        """Move data so that the fxp axes follow ``order`` (ONNX axes)."""
        if tuple(order) == act.order:
            return act
        perm = [act.order.index(a) for a in order]
        v = self.emit(fxp.TransposeOp(act.value, perm)).result
        return Act(v, act.shape, act.batch, tuple(order))

    def canonical(self, act: Act) -> Act:
        """ONNX order (row-major over the non-batch axes)."""
        return self.relayout(act, tuple(sorted(act.order)))

    def channels_last(self, act: Act, node) -> Act:
        """Spatial axes in order, then the channel axis (ONNX axis 1); batch must be axis 0."""
        if act.batch != 0:
            raise ModelImportError("needs the batch as the first axis (NC...) here", node.name, node.op_type)
        return self.relayout(act, tuple(range(2, act.rank)) + (1,))

    def const_like(self, arr: np.ndarray, act: Act, node) -> np.ndarray:
        """An ONNX-shaped constant operand as a per-sample array in ``act``'s fxp layout."""
        a = np.asarray(arr)
        if a.ndim > act.rank:
            raise ModelImportError(f"constant of rank {a.ndim} does not broadcast to a rank-{act.rank} tensor", node.name, node.op_type)
        a = a.reshape((1,) * (act.rank - a.ndim) + a.shape)
        if a.shape[act.batch] != 1:
            raise ModelImportError("a constant varies along the batch axis", node.name, node.op_type)
        a = np.take(a, 0, axis=act.batch)
        per_sample_axes = [ax for ax in range(act.rank) if ax != act.batch]
        perm = [per_sample_axes.index(o) for o in act.order]
        return np.transpose(a, perm)

    # ---------------------------------------------------------------- policy

    def result_format(self, node, default: FixedFormat | None) -> FixedFormat | None:
        got = self.config.precision(node.name, node.op_type, "result")
        return got if got is not None else default

    def layer_attrs(self, op: Operation, node) -> None:
        rf = self.config.setting(node.name, node.op_type, "reuse_factor")
        if rf is not None:
            op.attributes[REUSE_ATTR] = fxp.IntegerAttr(int(rf), fxp.i64)
        io = self.config.setting(node.name, node.op_type, "io")
        if io is not None:
            op.attributes[IO_ATTR] = StringAttr(str(io))

    # ---------------------------------------------------------------- the model boundary

    def quantize_input(self, fin: FloatInput, fmt: FixedFormat | None, node=None) -> Act:
        """Quantize a graph input (with its float preprocessing), then replay its moves."""
        if fmt is None:
            fmt = self.config.input_precision(fin.name)
        q = self.emit(fxp.QuantizeOp(fin.arg, fmt, fin.scale, fin.offset), node).result
        act = Act(q, fin.shape, 0, tuple(range(1, len(fin.shape))))
        self.set(fin.name, act)
        for move in fin.moves:
            # the recorded Reshape/Transpose/... run again, now on the quantized tensor
            self.set(move.input[0], act)
            getattr(self, f"op_{move.op_type}")(move)
            act = self.env[move.output[0]]
        return act

    def float_preprocess(self, node) -> bool:
        """Fold ``x * c`` / ``x + c`` / moves on a float graph input into its quantizer."""
        fin = self.env.get(node.input[0])
        if not isinstance(fin, FloatInput):
            if node.op_type in ("Mul", "Add") and len(node.input) > 1 and isinstance(self.env.get(node.input[1]), FloatInput):
                fin = self.env[node.input[1]]
                other = node.input[0]
            else:
                return False
        else:
            other = node.input[1] if len(node.input) > 1 else None
        op = node.op_type
        if op in ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout"):
            fin = FloatInput(fin.arg, fin.name, fin.shape, fin.scale, fin.offset, fin.moves + [node])
            self.set(node.output[0], fin)
            return True
        c = self.float_constant(other) if other else None
        if c is None or np.asarray(c).size != 1:
            return False
        c = float(np.asarray(c).ravel()[0])
        if op == "Mul" and fin.scale is None and fin.offset is None:
            new = FloatInput(fin.arg, fin.name, fin.shape, c, None, list(fin.moves))
        elif op == "Div" and fin.scale is None and fin.offset is None and is_power_of_two(abs(c)):
            new = FloatInput(fin.arg, fin.name, fin.shape, 1.0 / c, None, list(fin.moves))
        elif op in ("Add", "Sub") and fin.offset is None and (op == "Add" or node.input[0] == fin.name or isinstance(self.env.get(node.input[0]), FloatInput)):
            new = FloatInput(fin.arg, fin.name, fin.shape, fin.scale, c if op == "Add" else -c, list(fin.moves))
        else:
            return False
        self.set(node.output[0], new)
        return True

    # ---------------------------------------------------------------- quantizers

    def quant_format(self, node, scale: float, bits: int, signed: bool, narrow: bool, rounding: str) -> tuple[FixedFormat, str | None]:
        """The fixed type of a per-tensor power-of-two Quant, and a clamp note if any."""
        frac = -_log2(scale)
        mode = {"ROUND": "RND_CONV", "HALF_EVEN": "RND_CONV", "FLOOR": "TRN", "DOWN": "TRN_ZERO", "HALF_UP": "RND_INF", "HALF_DOWN": "RND_ZERO"}.get(rounding.upper())
        if mode is None:
            raise ModelImportError(f"Quant rounding_mode '{rounding}' has no fixed-point equivalent (use ROUND, FLOOR, DOWN, HALF_UP or HALF_DOWN)", node.name, node.op_type)
        if signed:
            if bits < 2 and narrow:
                raise ModelImportError("a 1-bit narrow signed Quant holds only 0", node.name, node.op_type)
            overflow = "SAT_SYM" if narrow else "SAT"
            return FixedFormat(bits, bits - frac, True, mode, overflow), None
        return FixedFormat(bits, bits - frac, False, mode, "SAT"), ("narrow" if narrow else None)

    def op_Quant(self, node) -> None:
        x_name = node.input[0]
        scale = self.float_constant(node.input[1])
        zero = self.float_constant(node.input[2])
        bits = self.float_constant(node.input[3])
        if scale is None or zero is None or bits is None:
            raise ModelImportError("scale, zero point and bit width must be constants", node.name, node.op_type)
        a = _attrs(node)
        signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
        rounding = a.get("rounding_mode", b"ROUND")
        rounding = rounding.decode() if isinstance(rounding, bytes) else str(rounding)
        bits_v = np.asarray(bits).ravel()
        if bits_v.size != 1 or bits_v[0] != int(bits_v[0]) or bits_v[0] < 1:
            raise ModelImportError(f"bit width must be one positive integer, got {bits_v}", node.name, node.op_type)
        nbits = int(bits_v[0])
        const = self.constant(x_name)
        if const is not None:
            self.set(node.output[0], quantize_constant(node, self.float_constant(x_name), scale, zero, nbits, signed, narrow, rounding))
            return
        scale_v = np.asarray(scale, dtype=np.float64).ravel()
        if np.any(np.asarray(zero) != 0) or scale_v.size != 1 or not is_power_of_two(scale_v[0]) or (signed and nbits == 1):
            if self.try_exhaustive(node, x_name):
                return
            if signed and nbits == 1 and scale_v.size == 1 and is_power_of_two(scale_v[0]) and np.all(np.asarray(zero) == 0):
                self.bipolar(node, x_name, float(scale_v[0]))
                return
            if np.any(np.asarray(zero) != 0) or (signed and nbits == 1):
                raise ModelImportError(
                    "a Quant on activations with a zero point other than 0 (or 1 signed bit) is exact only on inputs "
                    f"with at most {exhaustive.MAX_DOMAIN} codes; this input has more",
                    node.name,
                    node.op_type,
                )
            self.scaled_quant(node, x_name, scale_v, nbits, signed, narrow, rounding)
            return
        fmt, note = self.quant_format(node, float(scale_v[0]), nbits, signed, narrow, rounding)
        v = self.value(x_name)
        if isinstance(v, FloatInput):
            act = self.quantize_input(v, fmt, node)
            y = act
        else:
            x = self.act(x_name, node)
            c = self.emit(fxp.CastOp(x.value, fmt), node).result
            y = Act(c, x.shape, x.batch, x.order)
        if note == "narrow":  # unsigned narrow: the top code 2**b - 1 is excluded
            top = self.const_op(np.array([fmt.max_code - 1]), fmt)
            m = self.emit(fxp.MinimumOp(y.value, top, fmt)).result
            y = Act(m, y.shape, y.batch, y.order)
        self.set(node.output[0], y)

    def scaled_quant(self, node, x_name: str, scale: np.ndarray, bits: int, signed: bool, narrow: bool, rounding: str) -> None:
        """Quant with a scale that is not a power of two (per tensor or per channel):
        ``q = quant(x * (1/s))`` on the integer grid, then ``y = q * s``, both constants kept to
        24 significant bits.  The error bound is noted on the ops (``fmlc.note``)."""
        x = self.act(x_name, node)
        if scale.size > 1:
            if x.rank < 2 or x.shape[1] != scale.size:
                raise ModelImportError(f"{scale.size} scales do not match the channels of a tensor shaped {list(x.shape)}", node.name, node.op_type)
            x = self.channels_last(x, node) if x.rank > 2 else x
        inv, inv_fmt = significant(1.0 / scale, SIGNIFICANT_BITS)
        mul, mul_fmt = significant(scale, SIGNIFICANT_BITS)
        shape = (-1,) if scale.size > 1 else (1,)
        r = self.emit(fxp.MulOp(x.value, self.const_op(inv.reshape(shape), inv_fmt), None)).result
        fmt, note = self.quant_format(node, 1.0, bits, signed, narrow, rounding)
        q = self.emit(fxp.CastOp(r, fmt)).result
        if note == "narrow":
            q = self.emit(fxp.MinimumOp(q, self.const_op(np.array([fmt.max_code - 1]), fmt), fmt)).result
        y = self.emit(fxp.MulOp(q, self.const_op(mul.reshape(shape), mul_fmt), None), node)
        err_inv = float(np.max(np.abs(inv * 2.0**-inv_fmt.frac - 1.0 / scale)))
        err_s = float(np.max(np.abs(mul * 2.0**-mul_fmt.frac - scale)))
        for op, text in ((r.owner, f"1/scale kept to {SIGNIFICANT_BITS} significant bits: error <= {err_inv:.3g}"), (y, f"scale kept to {SIGNIFICANT_BITS} significant bits: error <= {err_s:.3g} per unit")):
            op.attributes[NOTE_ATTR] = StringAttr(f"non-power-of-two Quant scale, {text}")
        self.set(node.output[0], Act(y.result, x.shape, x.batch, x.order))

    def bipolar(self, node, x_name: str, scale: float) -> None:
        """sign(x) * scale: one threshold at 0."""
        v = self.value(x_name)
        if isinstance(v, FloatInput):
            # floor keeps the sign: x >= 0 <=> code >= 0
            x = self.quantize_input(v, FixedFormat(2, 1, True, "TRN", "SAT"), node)
        else:
            x = self.act(x_name, node)
        x = self.channels_last(x, node) if x.rank > 2 else x
        fx = self.format_of(x.value)
        thr = self.const_op(np.zeros((1, 1), dtype=np.int64), FixedFormat(fx.width, fx.int_bits, True))
        frac = -_log2(scale)
        out = FixedFormat(2, 2 - frac, True)
        y = self.emit(fxp.MultiThresholdOp(x.value, thr, out, 2.0 * scale, -scale), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    def op_BipolarQuant(self, node) -> None:
        scale = self.float_constant(node.input[1])
        if scale is None or np.asarray(scale).size != 1:
            raise ModelImportError("BipolarQuant needs one constant scale", node.name, node.op_type)
        s = float(np.asarray(scale).ravel()[0])
        if self.constant(node.input[0]) is not None:
            w = self.float_constant(node.input[0])
            q = np.where(w >= 0, 1, -1).astype(np.int64)
            if not is_power_of_two(s):
                self.set(node.output[0], np.asarray(q * np.float32(s), dtype=np.float32))
                return
            self.set(node.output[0], FixedConst(q, -_log2(s)))
            return
        if not is_power_of_two(s):
            if self.try_exhaustive(node, node.input[0]):
                return
            raise ModelImportError(f"BipolarQuant scale {s} is not a power of two", node.name, node.op_type)
        self.bipolar(node, node.input[0], s)

    def op_Trunc(self, node) -> None:
        """QONNX Trunc.  Both versions first round onto the input grid (half to even).  v1
        (5 inputs) then divides the integer by 2**(in_bits - out_bits), rounds it, and keeps the
        input scale, without clamping; v2 (6 inputs) keeps the value: it rounds onto the output
        scale's grid and clamps to the output bit width."""
        a = _attrs(node)
        rounding = a.get("rounding_mode", b"FLOOR")
        rounding = rounding.decode() if isinstance(rounding, bytes) else str(rounding)
        params = [self.float_constant(i) for i in node.input[1:]]
        if any(v is None for v in params):
            raise ModelImportError("Trunc parameters must be constants", node.name, node.op_type)
        scale, zero, in_bits = params[:3]
        s = float(np.asarray(scale).ravel()[0])
        if np.asarray(scale).size != 1 or np.any(np.asarray(zero) != 0) or not is_power_of_two(s):
            raise ModelImportError("Trunc needs one power-of-two scale and a zero point of 0", node.name, node.op_type)
        ib = int(np.asarray(in_bits).ravel()[0])
        x = self.act(node.input[0], node)
        fx = self.format_of(x.value)
        frac = -_log2(s)
        grid = FixedFormat(fx.int_bits + frac + 1, fx.int_bits + 1, True, "RND_CONV", "WRAP")  # holds every rounded input
        g = self.emit(fxp.CastOp(x.value, grid)).result
        if len(node.input) == 6:
            out_scale, out_bits = float(np.asarray(params[3]).ravel()[0]), int(np.asarray(params[4]).ravel()[0])
            fmt, _ = self.quant_format(node, out_scale, out_bits, bool(a.get("signed", 1)), bool(a.get("narrow", 0)), rounding)
            y = self.emit(fxp.CastOp(g, fmt), node).result
        else:
            shift = ib - int(np.asarray(params[3]).ravel()[0])
            mode, _ = self.quant_format(node, s, grid.width, True, False, rounding)
            k = self.const_op(np.array([1]), FixedFormat(2, 2 - shift, True))  # 2**-shift
            d = self.emit(fxp.MulOp(g, k, None)).result
            y = self.emit(fxp.CastOp(d, FixedFormat(grid.width, grid.int_bits, True, mode.rounding, "WRAP")), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    def op_MultiThreshold(self, node) -> None:
        a = _attrs(node)
        thr = self.float_constant(node.input[1])
        if thr is None:
            raise ModelImportError("thresholds must be constant", node.name, node.op_type)
        out_scale = float(a.get("out_scale", 1.0))
        out_bias = float(a.get("out_bias", 0.0))
        layout = a.get("data_layout", b"NCHW")
        layout = layout.decode() if isinstance(layout, bytes) else str(layout)
        x = self.act(node.input[0], node)
        if x.rank > 2:
            x = self.channels_last(x, node) if layout.upper().startswith("NC") else self.canonical(x)
        fx = self.format_of(x.value)
        thr = np.asarray(thr, dtype=np.float64)
        if thr.ndim != 2:
            raise ModelImportError(f"thresholds must be [channels or 1, steps], got shape {list(thr.shape)}", node.name, node.op_type)
        # x >= t  <=>  code(x) >= ceil(t * 2**F): thresholds move exactly onto x's grid
        codes = np.ceil(np.ldexp(thr, fx.frac))
        codes = np.clip(codes, fx.min_code - 1, fx.max_code + 1).astype(np.int64)
        tfmt = FixedFormat(fx.width + 2, fx.int_bits + 2, True)
        t = self.const_op(codes, tfmt)
        steps = thr.shape[1]
        sc, sf = fixed.code_of_float_exact(out_scale)
        bi, bf = fixed.code_of_float_exact(out_bias)
        f = max(sf, bf)
        ends = [bi << (f - bf), (bi << (f - bf)) + (sc << (f - sf)) * steps]
        out = self.result_format(node, Interval(min(ends), max(ends), f).narrowest())
        y = self.emit(fxp.MultiThresholdOp(x.value, t, out, out_scale, out_bias), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    # ---------------------------------------------------------------- exhaustive evaluation

    def try_exhaustive(self, node, x_name: str) -> bool:
        """Evaluate the float chain starting at ``node`` over every code of its input."""
        if not self.quantized:
            return False
        v = self.env.get(x_name)
        if not isinstance(v, Act):
            return False
        known_const = lambda n: n in self.inits or isinstance(self.env.get(n), (np.ndarray, FixedConst))  # noqa: E731
        chain = exhaustive.find_chain(node, x_name, self.consumers, self.graph_outputs, known_const)
        if chain is None:
            return False
        # per channel (ONNX axis 1) or per tensor: every constant must broadcast so
        channels = 1
        for n in chain.nodes:
            for name in n.input[1:]:
                c = self.float_constant(name)
                if c is None:
                    continue
                size = int(np.asarray(c).size)
                if size > 1 and n.op_type not in ("Quant", "Trunc", "MultiThreshold"):
                    channels = max(channels, size)
                elif n.op_type == "MultiThreshold" and np.asarray(c).shape[0] > 1:
                    channels = max(channels, np.asarray(c).shape[0])
        x = v
        if channels > 1 and (x.rank < 2 or x.shape[1] != channels):
            return False
        domain = self.ranges[x.value]
        if domain.hi - domain.lo + 1 > exhaustive.MAX_DOMAIN:
            return False
        try:
            out = exhaustive.evaluate(chain, self.graph, self.opset, domain, channels, x.rank)
            mapping = exhaustive.to_mapping(out, chain, self.float_constant)
        except ValueError:
            return False
        identical = channels == 1 or all(np.array_equal(mapping.codes[:, c], mapping.codes[:, 0]) for c in range(channels))
        if identical:
            y = self.table_from_mapping(x, domain, mapping.codes[:, 0], mapping.fmt, node)
        elif mapping.levels is not None:
            y = self.thresholds_from_mapping(x, domain, mapping, node)
        else:
            return False
        for n in chain.nodes:
            self.consumed.add(id(n))
        y.value.owner.attributes[NOTE_ATTR] = StringAttr(
            "exact: " + " -> ".join(f"{n.op_type} '{n.name}'" for n in chain.nodes) + f" evaluated on all {domain.hi - domain.lo + 1} input codes"
        )
        self.set(chain.output, y)
        return True

    def table_from_mapping(self, x: Act, domain: Interval, column: np.ndarray, out: FixedFormat, node) -> Act:
        idx = fixed.narrowest_format(domain.lo, domain.hi, domain.frac)
        xi = self.emit(fxp.CastOp(x.value, idx)).result
        codes = np.arange(idx.min_code, idx.max_code + 1)
        pos = np.clip(codes, domain.lo, domain.hi) - domain.lo  # codes outside the range never occur
        entries = np.asarray([int(v) for v in np.asarray(column, dtype=object)[pos]], dtype=object)
        y = self.emit(fxp.TableOp(xi, entries.astype(np.int64), out, node.op_type.lower()), node).result
        return Act(y, x.shape, x.batch, x.order)

    def thresholds_from_mapping(self, x: Act, domain: Interval, mapping, node) -> Act:
        x = self.channels_last(x, node) if x.rank > 2 else x
        thr, sign = exhaustive.thresholds(mapping, domain)
        xv = x.value
        if np.any(sign < 0):
            s = self.const_op(sign, FixedFormat(2, 2, True))
            xv = self.emit(fxp.MulOp(xv, s, None)).result
        lo = min(int(thr.min()), -domain.hi)
        hi = max(int(thr.max()), domain.hi + 1)
        t = self.const_op(thr, fixed.narrowest_format(min(lo, 0), hi, domain.frac))
        qmin, _ = mapping.levels
        step = float(mapping.scale)
        y = self.emit(fxp.MultiThresholdOp(xv, t, mapping.fmt, step, qmin * step), node).result
        return Act(y, x.shape, x.batch, x.order)

    # ---------------------------------------------------------------- linear layers

    def weight_format(self, node) -> FixedFormat:
        return self.config.precision(node.name, node.op_type, "weight") or self.config.default_precision

    def bias_format(self, node) -> FixedFormat:
        return self.config.precision(node.name, node.op_type, "bias") or self.config.default_precision

    def linear_result(self, node, weights_exact: bool) -> FixedFormat | None:
        default = None if weights_exact else self.config.default_precision
        return self.result_format(node, default)

    def op_MatMul(self, node) -> None:
        if self.float_preprocess(node):
            return
        w = self.constant(node.input[1])
        if w is None:
            raise ModelImportError("the second operand must be constant weights (activation x activation is not supported)", node.name, node.op_type)
        w_arr = w.codes if isinstance(w, FixedConst) else np.asarray(w)
        if w_arr.ndim != 2:
            raise ModelImportError(f"weights must be 2-D, got shape {list(w_arr.shape)}", node.name, node.op_type)
        self.dense(node, node.input[0], w, None, node.output[0])

    def op_Gemm(self, node) -> None:
        a = _attrs(node)
        if a.get("transA", 0):
            raise ModelImportError("transA=1 is not supported (the activation must be the left operand)", node.name, node.op_type)
        w = self.constant(node.input[1])
        if w is None:
            raise ModelImportError("B must be constant weights", node.name, node.op_type)
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        w = transpose_const(w) if a.get("transB", 0) else w
        w = scale_const(w, alpha, node)
        bias = None
        if len(node.input) > 2 and node.input[2]:
            b = self.constant(node.input[2])
            if b is None:
                raise ModelImportError("C must be a constant bias", node.name, node.op_type)
            bias = scale_const(b, beta, node)
        self.dense(node, node.input[0], w, bias, node.output[0])

    def dense(self, node, x_name: str, w, bias, out_name: str) -> None:
        x = self.act(x_name, node)
        if x.batch != 0:
            raise ModelImportError("needs the batch as the first axis", node.name, node.op_type)
        x = self.canonical(x)
        k, m = (w.codes if isinstance(w, FixedConst) else np.asarray(w)).shape
        if x.shape[-1] != k:
            raise ModelImportError(f"input has {x.shape[-1]} features, weights expect {k}", node.name, node.op_type)
        wv, bv, exact, out_name = self.linear_params(node, w, bias, out_name, m, out_axis=1)
        acc = self.config.precision(node.name, node.op_type, "accum")
        op = fxp.DenseOp(x.value, wv, bv, acc, self.linear_result(node, exact))
        self.layer_attrs(op, node)
        y = self.emit(op, node).result
        self.set(out_name, Act(y, x.shape[:-1] + (m,), 0, x.order))

    def linear_params(self, node, w, bias, out_name: str, channels: int, out_axis: int):
        """Weight and bias constants of a dense/conv layer.

        A constant Add right after the layer is its bias; in a float model, a BatchNormalization
        after it folds into the float weights before they are quantized.  Returns (weight value,
        bias value or None, whether both are exact, the ONNX name the layer's result stands for).
        """
        consumed = []
        if bias is None:
            add, bias = self.following_bias(out_name, channels)
            if add is not None:
                consumed.append(add)
                out_name = add.output[0]
        w, bias = self.exact_if_quantized(w), self.exact_if_quantized(bias)
        exact = isinstance(w, FixedConst) and (bias is None or isinstance(bias, FixedConst))
        if not isinstance(w, FixedConst):
            w, bias, out_name, absorbed = self.fold_batchnorm(np.asarray(w, dtype=np.float64), bias, out_name, channels, out_axis)
            consumed += absorbed
        wv = self.const_op(*self.fixed_const(w, self.weight_format(node)))
        bv = None
        if bias is not None:
            bc, bf = self.fixed_const(bias, self.bias_format(node))
            bv = self.const_op(np.asarray(bc).reshape(channels), bf)
        self.consumed.update(id(n) for n in consumed)
        return wv, bv, exact, out_name

    def following_bias(self, name: str, channels: int):
        """(the Add node, its constant as a per-channel bias) when ``name`` feeds only a constant Add."""
        nxt = self.single_consumer(name)
        if nxt is None or nxt.op_type != "Add":
            return None, None
        other = nxt.input[1] if nxt.input[0] == name else nxt.input[0]
        b = self.constant(other)
        if b is None:
            return None, None
        if isinstance(b, FixedConst):
            if b.codes.size not in (1, channels):
                return None, None
            return nxt, FixedConst(np.broadcast_to(b.codes.ravel(), (channels,)).copy(), b.frac)
        arr = np.asarray(b, dtype=np.float64)
        if arr.size not in (1, channels):
            return None, None
        return nxt, np.broadcast_to(arr.ravel(), (channels,)).copy()

    def single_consumer(self, name: str):
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.graph_outputs:
            return None
        return users[0]

    def fold_batchnorm(self, w: np.ndarray, bias, out_name: str, channels: int, per_output_axis: int):
        """In float models: fold a following BatchNormalization (with the Keras exporter's
        Transposes around it) into float weights and bias.  Returns the new (w, bias, output
        name, absorbed nodes)."""
        absorbed = []
        name = out_name
        nxt = self.single_consumer(name)
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
        eps = float(_attrs(nxt).get("epsilon", 1e-5))
        s = gamma / np.sqrt(var + eps)
        shape = [1] * w.ndim
        shape[per_output_axis] = channels
        w = w * s.reshape(shape)
        b = np.zeros(channels) if bias is None else np.asarray(bias.values() if isinstance(bias, FixedConst) else bias, dtype=np.float64).ravel()
        bias = b * s + (beta - mean * s)
        absorbed = [n for n in (pre, nxt, post) if n is not None]
        return w, bias, after, absorbed

    def op_Conv(self, node) -> None:
        a = _attrs(node)
        w = self.constant(node.input[1])
        if w is None:
            raise ModelImportError("weights must be constant", node.name, node.op_type)
        x = self.act(node.input[0], node)
        nsp = x.rank - 2
        if nsp not in (1, 2):
            raise ModelImportError(f"{nsp}-D convolution is not supported (1-D and 2-D are)", node.name, node.op_type)
        x = self.channels_last(x, node)
        group = int(a.get("group", 1))
        strides = tuple(a.get("strides", [1] * nsp))
        dilations = tuple(a.get("dilations", [1] * nsp))
        out_shape = self.onnx_shape(node.output[0])
        kernel = (w.codes if isinstance(w, FixedConst) else np.asarray(w)).shape[2:]
        pads = conv_pads(a, x.shape[2:], kernel, strides, dilations, node)
        # ONNX [F, C/g, *k] -> fxp [*k, C/g, F]
        perm = tuple(range(2, 2 + nsp)) + (1, 0)
        wt = FixedConst(np.transpose(w.codes, perm), w.frac) if isinstance(w, FixedConst) else np.transpose(np.asarray(w, dtype=np.float64), perm)
        f = out_shape[1]
        bias = self.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        wv, bv, exact, out_name = self.linear_params(node, wt, bias, node.output[0], f, out_axis=nsp + 1)
        acc = self.config.precision(node.name, node.op_type, "accum")
        out = self.linear_result(node, exact)
        op = fxp.ConvOp(x.value, wv, bv, acc, out, strides, dilations, pads, group)
        self.layer_attrs(op, node)
        y = self.emit(op, node).result
        self.set(out_name, Act(y, out_shape, 0, tuple(range(2, 2 + nsp)) + (1,)))

    # ---------------------------------------------------------------- normalization

    def op_BatchNormalization(self, node) -> None:
        if self.try_exhaustive(node, node.input[0]):
            return
        params = [self.float_constant(i) for i in node.input[1:5]]
        if any(p is None for p in params):
            raise ModelImportError("scale, bias, mean and variance must be constants", node.name, node.op_type)
        gamma, beta, mean, var = (np.asarray(p, dtype=np.float64).ravel() for p in params)
        eps = float(_attrs(node).get("epsilon", 1e-5))
        s = gamma / np.sqrt(var + eps)
        t = beta - mean * s
        x = self.act(node.input[0], node)
        # the channel axis is ONNX axis 1; the Keras exporter's [C, N] tensors put it at 0
        channel = 1 if x.batch == 0 else 0
        if x.shape[channel] != s.size:
            raise ModelImportError(f"{s.size} channels of parameters for a tensor of shape {list(x.shape)}", node.name, node.op_type)
        x = self.relayout(x, tuple(a for a in range(x.rank) if a not in (x.batch, channel)) + (channel,))
        sc, sf = self.fixed_const(s, self.weight_format(node))
        tc, tf = self.fixed_const(t, self.bias_format(node))
        sv, tv = self.const_op(sc, sf), self.const_op(tc, tf)
        y = self.emit(fxp.BatchNormOp(x.value, sv, tv, self.result_format(node, self.config.default_precision)), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    # ---------------------------------------------------------------- elementwise

    def op_Relu(self, node) -> None:
        x = self.act(node.input[0], node)
        y = self.emit(fxp.ReluOp(x.value, self.result_format(node, None)), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    def op_LeakyRelu(self, node) -> None:
        alpha = float(_attrs(node).get("alpha", 0.01))
        self.leaky(node, np.array([alpha]))

    def op_PRelu(self, node) -> None:
        slope = self.float_constant(node.input[1])
        if slope is None:
            raise ModelImportError("the slope must be constant", node.name, node.op_type)
        self.leaky(node, np.asarray(slope, dtype=np.float64))

    def leaky(self, node, alpha: np.ndarray) -> None:
        if self.try_exhaustive(node, node.input[0]):
            return
        x = self.act(node.input[0], node)
        per_sample = self.const_like(alpha, x, node) if alpha.size > 1 else alpha.reshape(1)
        ac, af = exact_or(per_sample, self.weight_format(node))
        a = self.const_op(ac, af)
        y = self.emit(fxp.LeakyReluOp(x.value, a, self.result_format(node, None)), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    def op_ThresholdedRelu(self, node) -> None:
        alpha = float(_attrs(node).get("alpha", 1.0))
        x = self.act(node.input[0], node)
        y = self.emit(fxp.ThresholdedReluOp(x.value, self.result_format(node, None), {"alpha": FloatAttr(alpha, f64)}), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    def table_function(self, node) -> None:
        if self.try_exhaustive(node, node.input[0]):
            return
        x = self.act(node.input[0], node)
        index = self.config.format_setting(node.name, node.op_type, "table_input", tables.DEFAULT_TABLE_INPUT)
        entry = self.config.precision(node.name, node.op_type, "result")
        if entry is None:
            entry = FixedFormat.parse(str(self.config.setting(node.name, node.op_type, "table_output", self.config.default_precision)))
        codes = tables.function_table(tables.function(node.op_type, _attrs(node)), index, entry)
        xi = self.emit(fxp.CastOp(x.value, index)).result
        y = self.emit(fxp.TableOp(xi, codes, entry, node.op_type.lower()), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    op_Sigmoid = op_Tanh = op_Softplus = op_Softsign = op_Elu = op_Selu = op_HardSigmoid = op_Exp = table_function

    def op_Softmax(self, node) -> None:
        if self.config.strip_softmax and node.output[0] in self.graph_outputs:
            self.set(node.output[0], self.act(node.input[0], node))
            return
        x = self.act(node.input[0], node)
        axis = int(_attrs(node).get("axis", 1 if self.opset < 13 else -1)) % x.rank
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
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    def binary(self, node, op_cls, commutative: bool) -> None:
        if self.float_preprocess(node):
            return
        a_name, b_name = node.input[0], node.input[1]
        ca, cb = self.constant(a_name), self.constant(b_name)
        if ca is not None and cb is not None:
            raise ModelImportError("both operands are constant (should have been folded)", node.name, node.op_type)
        if (ca is not None or cb is not None) and self.quantized:
            c = ca if ca is not None else cb
            if not isinstance(c, FixedConst) and self.try_exhaustive(node, b_name if ca is not None else a_name):
                return
        x_name = b_name if ca is not None else a_name
        x = self.act(x_name, node)
        if ca is None and cb is None:
            y_act = self.act(b_name, node)
            if y_act.batch != x.batch or y_act.rank != x.rank:
                raise ModelImportError("operands with different layouts", node.name, node.op_type)
            y_act = self.relayout(y_act, x.order)
            lhs, rhs = x.value, y_act.value
        else:
            c = ca if ca is not None else cb
            arr = c.codes if isinstance(c, FixedConst) else np.asarray(c, dtype=np.float64)
            per_sample = self.const_like(arr, x, node)
            if isinstance(c, FixedConst):
                cv = self.const_op(per_sample, FixedConst(per_sample, c.frac).format())
            else:
                cc, cf = exact_or(per_sample, self.bias_format(node) if op_cls in (fxp.AddOp, fxp.SubOp) else self.weight_format(node), exact=self.quantized)
                cv = self.const_op(cc, cf)
            lhs, rhs = (cv, x.value) if ca is not None else (x.value, cv)
        exact_default = None if (self.quantized or op_cls not in (fxp.MulOp,)) else self.config.default_precision
        y = self.emit(op_cls(lhs, rhs, self.result_format(node, exact_default)), node).result
        shape = self.onnx_shape(node.output[0])
        self.set(node.output[0], Act(y, shape, x.batch, x.order) if len(shape) == x.rank else self.reshape_to(y, shape, node))

    def op_Add(self, node) -> None:
        self.binary(node, fxp.AddOp, True)

    def op_Sub(self, node) -> None:
        self.binary(node, fxp.SubOp, False)

    def op_Mul(self, node) -> None:
        self.binary(node, fxp.MulOp, True)

    def op_Div(self, node) -> None:
        if self.float_preprocess(node):
            return
        c = self.float_constant(node.input[1])
        if c is None:
            raise ModelImportError("only division by a constant is supported", node.name, node.op_type)
        if self.quantized and self.try_exhaustive(node, node.input[0]):
            return
        recip = 1.0 / np.asarray(c, dtype=np.float64)
        x = self.act(node.input[0], node)
        per_sample = self.const_like(recip, x, node)
        exact = all(is_power_of_two(abs(v)) for v in np.asarray(recip).ravel() if v != 0)
        cc, cf = exact_or(per_sample, self.weight_format(node), exact=exact)
        cv = self.const_op(cc, cf)
        y = self.emit(fxp.MulOp(x.value, cv, self.result_format(node, None if exact else self.config.default_precision)), node).result
        self.set(node.output[0], Act(y, x.shape, x.batch, x.order))

    def variadic(self, node, op_cls) -> None:
        names = [n for n in node.input if n]
        if len(names) == 1:
            self.set(node.output[0], self.act(names[0], node))
            return
        acc = self.act(names[0], node)
        for k, name in enumerate(names[1:], start=1):
            other = self.constant(name)
            if other is not None:
                arr = other.codes if isinstance(other, FixedConst) else np.asarray(other, dtype=np.float64)
                per = self.const_like(arr, acc, node)
                cc, cf = (per, FixedConst(per, other.frac).format()) if isinstance(other, FixedConst) else exact_or(per, self.bias_format(node), exact=True)
                rhs = self.const_op(cc, cf)
            else:
                rhs = self.relayout(self.act(name, node), acc.order).value
            last = k == len(names) - 1
            v = self.emit(op_cls(acc.value, rhs, self.result_format(node, None) if last else None), node if last else None).result
            acc = Act(v, acc.shape, acc.batch, acc.order)
        self.set(node.output[0], acc)

    def op_Max(self, node) -> None:
        self.variadic(node, fxp.MaximumOp)

    def op_Min(self, node) -> None:
        self.variadic(node, fxp.MinimumOp)

    def op_Sum(self, node) -> None:
        self.variadic(node, fxp.AddOp)

    def op_Clip(self, node) -> None:
        a = _attrs(node)
        if self.opset < 11:
            lo, hi = a.get("min"), a.get("max")
        else:
            lo = self.float_constant(node.input[1]) if len(node.input) > 1 and node.input[1] else None
            hi = self.float_constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        x = self.act(node.input[0], node)
        v = x.value
        for bound, cls in ((lo, fxp.MaximumOp), (hi, fxp.MinimumOp)):
            if bound is None:
                continue
            fc = exact_const(np.asarray(bound, dtype=np.float64).reshape(1))
            c = self.const_op(fc.codes, fc.format())
            v = self.emit(cls(v, c, None)).result
        out = self.result_format(node, None)
        if out is not None:
            v = self.emit(fxp.CastOp(v, out), node).result
        self.set(node.output[0], Act(v, x.shape, x.batch, x.order))

    # ---------------------------------------------------------------- pooling

    def pool(self, node, kind: str) -> None:
        a = _attrs(node)
        x = self.channels_last(self.act(node.input[0], node), node)
        nsp = x.rank - 2
        if nsp not in (1, 2):
            raise ModelImportError(f"{nsp}-D pooling is not supported", node.name, node.op_type)
        if a.get("ceil_mode", 0):
            raise ModelImportError("ceil_mode=1 is not supported (export with floor rounding of the output size)", node.name, node.op_type)
        if any(d != 1 for d in a.get("dilations", [1] * nsp)):
            raise ModelImportError("dilated pooling is not supported", node.name, node.op_type)
        kernel = tuple(a["kernel_shape"])
        strides = tuple(a.get("strides", [1] * nsp))
        pads = conv_pads(a, x.shape[2:], kernel, strides, (1,) * nsp, node)
        out_shape = self.onnx_shape(node.output[0])
        if kind == "max":
            op = fxp.MaxPoolOp(x.value, self.result_format(node, None), kernel, strides, pads)
        else:
            scale = self.config.format_setting(node.name, node.op_type, "table_output", "ufixed<18,1,RND,SAT>")
            include = bool(a.get("count_include_pad", 0))
            op = fxp.AvgPoolOp(x.value, self.result_format(node, self.config.default_precision), scale, kernel, strides, pads, include)
        y = self.emit(op, node).result
        self.set(node.output[0], Act(y, out_shape, 0, tuple(range(2, 2 + nsp)) + (1,)))

    def op_MaxPool(self, node) -> None:
        if len(node.output) > 1 and node.output[1]:
            raise ModelImportError("MaxPool's Indices output is not supported", node.name, node.op_type)
        self.pool(node, "max")

    def op_AveragePool(self, node) -> None:
        self.pool(node, "avg")

    def global_pool(self, node, kind: str) -> None:
        x = self.channels_last(self.act(node.input[0], node), node)
        if kind == "max":
            op = fxp.GlobalMaxPoolOp(x.value, self.result_format(node, None))
        else:
            scale = self.config.format_setting(node.name, node.op_type, "table_output", "ufixed<18,1,RND,SAT>")
            op = fxp.GlobalAvgPoolOp(x.value, self.result_format(node, self.config.default_precision), scale)
        y = self.emit(op, node).result
        out_shape = self.onnx_shape(node.output[0])
        # [N, C, 1, 1]: the fxp value is [C]; give it the ONNX per-sample shape
        r = self.emit(fxp.ReshapeOp(y, out_shape[1:])).result
        self.set(node.output[0], Act(r, out_shape, 0, tuple(range(1, len(out_shape)))))

    def op_GlobalMaxPool(self, node) -> None:
        self.global_pool(node, "max")

    def op_GlobalAveragePool(self, node) -> None:
        self.global_pool(node, "avg")

    # ---------------------------------------------------------------- data movement

    def reshape_to(self, v: SSAValue, shape: tuple[int, ...], node) -> Act:
        r = self.emit(fxp.ReshapeOp(v, shape[1:]), node).result
        return Act(r, shape, 0, tuple(range(1, len(shape))))

    def move_const(self, node) -> bool:
        """Data movement on a constant (e.g. transposed quantized weights) stays constant."""
        c = self.constant(node.input[0])
        if c is None:
            return False
        out_shape = self.onnx_shape(node.output[0])
        if node.op_type == "Transpose":
            perm = _attrs(node).get("perm")
            f = (lambda arr: np.transpose(arr, perm))
        else:
            f = (lambda arr: np.reshape(arr, out_shape))
        if isinstance(c, FixedConst):
            self.set(node.output[0], FixedConst(f(c.codes), c.frac))
        else:
            self.set(node.output[0], f(np.asarray(c)))
        return True

    def op_Transpose(self, node) -> None:
        if self.float_preprocess(node) or self.move_const(node):
            return
        x = self.act(node.input[0], node)
        perm = _attrs(node).get("perm", list(range(x.rank))[::-1])
        # out axis i is in axis perm[i]: relabel, move nothing
        batch = list(perm).index(x.batch)
        order = tuple(list(perm).index(a) for a in x.order)
        shape = tuple(x.shape[p] for p in perm)
        self.set(node.output[0], Act(x.value, shape, batch, order))

    def reshape_like(self, node) -> None:
        if self.float_preprocess(node) or self.move_const(node):
            return
        x = self.act(node.input[0], node)
        out_shape = self.onnx_shape(node.output[0])
        if x.batch != 0 and x.shape[x.batch] != 1:
            raise ModelImportError("reshaping a tensor whose batch is not the first axis", node.name, node.op_type)
        if x.batch != 0:  # a size-1 batch moved by a Transpose: back to the front
            x = self._batch_front(x)
        x = self.canonical(x)
        if out_shape[0] != x.shape[0] and x.shape[0] != 1:
            raise ModelImportError(f"the reshape to {list(out_shape)} changes the batch dimension {x.shape[0]}", node.name, node.op_type)
        if int(np.prod(out_shape[1:])) != int(np.prod(self.per_sample_shape(x))):
            raise ModelImportError(f"the reshape to {list(out_shape)} mixes the batch with other dimensions", node.name, node.op_type)
        if tuple(out_shape[1:]) == self.per_sample_shape(x):
            self.set(node.output[0], Act(x.value, out_shape, 0, tuple(range(1, len(out_shape)))))
            return
        if len(out_shape) == 2:
            r = self.emit(fxp.FlattenOp(x.value), node).result
            self.set(node.output[0], Act(r, out_shape, 0, (1,)))
            return
        self.set(node.output[0], self.reshape_to(x.value, out_shape, node))

    def _batch_front(self, x: Act) -> Act:
        """A size-1 batch axis moved elsewhere by a Transpose: view it at the front again."""
        shape = (x.shape[x.batch],) + tuple(s for a, s in enumerate(x.shape) if a != x.batch)
        renumber = {a: i + 1 for i, a in enumerate(a for a in range(x.rank) if a != x.batch)}
        return Act(x.value, shape, 0, tuple(renumber[a] for a in x.order))

    op_Reshape = op_Flatten = op_Squeeze = op_Unsqueeze = reshape_like

    def op_Constant(self, node) -> None:
        a = _attrs(node)
        if "value" in a:
            value = numpy_helper.to_array(a["value"])
        elif "value_float" in a or "value_int" in a:
            value = np.asarray(a.get("value_float", a.get("value_int")))
        elif "value_floats" in a or "value_ints" in a:
            value = np.asarray(a.get("value_floats", a.get("value_ints")))
        else:
            raise ModelImportError(f"Constant with attributes {sorted(a)} is not supported", node.name, node.op_type)
        self.set(node.output[0], np.asarray(value))

    def op_Identity(self, node) -> None:
        self.set(node.output[0], self.value(node.input[0]))

    def op_Dropout(self, node) -> None:
        self.set(node.output[0], self.value(node.input[0]))

    def op_Concat(self, node) -> None:
        axis = int(_attrs(node).get("axis"))
        names = [n for n in node.input if n]
        acts = [self.value(n) for n in names]
        first = next((v for v in acts if isinstance(v, Act | FloatInput)), None)
        if first is None:
            raise ModelImportError("all operands are constant", node.name, node.op_type)
        ref = self.act(names[acts.index(first)], node)
        axis %= ref.rank
        if axis == ref.batch:
            raise ModelImportError("concatenation along the batch axis", node.name, node.op_type)
        values = []
        for name, v in zip(names, acts):
            if isinstance(v, (np.ndarray, FixedConst)):
                arr = v.codes if isinstance(v, FixedConst) else np.asarray(v, dtype=np.float64)
                per = self.const_like(arr, ref, node)
                cc, cf = (per, FixedConst(per, v.frac).format()) if isinstance(v, FixedConst) else exact_or(per, self.config.default_precision)
                values.append(self.const_op(cc, cf))
            else:
                a = self.act(name, node)
                values.append(self.relayout(a, ref.order).value)
        y = self.emit(fxp.ConcatOp(values, ref.axis(axis)) if _same_elements(values) else self.concat_cast(values, ref.axis(axis)), node).result
        self.set(node.output[0], Act(y, self.onnx_shape(node.output[0]), ref.batch, ref.order))

    def concat_cast(self, values, axis):
        """Inputs of different types meet in one type (auto: precision inference unifies them)."""
        shapes = [fxp.shape_of(v) for v in values]
        shape = list(shapes[0])
        shape[axis] = sum(s[axis] for s in shapes)
        op = fxp.ConcatOp(values, axis)
        from xdsl.rewriter import Rewriter

        Rewriter.replace_value_with_new_type(op.result, fxp.fixed_tensor(None, shape))
        return op

    def op_Pad(self, node) -> None:
        a = _attrs(node)
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        if mode != "constant":
            raise ModelImportError(f"Pad mode '{mode}' is not supported (constant zero padding is)", node.name, node.op_type)
        if self.opset < 11:
            pads, value = a.get("pads"), a.get("value", 0.0)
        else:
            pads = self.float_constant(node.input[1])
            value = self.float_constant(node.input[2]) if len(node.input) > 2 and node.input[2] else 0.0
        if pads is None:
            raise ModelImportError("pads must be constant", node.name, node.op_type)
        if np.any(np.asarray(value) != 0):
            raise ModelImportError("only zero padding is supported", node.name, node.op_type)
        x = self.act(node.input[0], node)
        pads = [int(p) for p in np.asarray(pads).ravel()]
        r = x.rank
        if pads[x.batch] or pads[r + x.batch] or any(p < 0 for p in pads):
            raise ModelImportError("padding the batch axis, or negative padding, is not supported", node.name, node.op_type)
        per = [pads[o] for o in x.order] + [pads[r + o] for o in x.order]
        y = self.emit(fxp.PadOp(x.value, per), node).result
        self.set(node.output[0], Act(y, self.onnx_shape(node.output[0]), x.batch, x.order))


# --------------------------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------------------------


def exact_const(arr: np.ndarray) -> FixedConst:
    """Floats as exact fixed-point codes (every finite float is a dyadic rational)."""
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("a constant holds a non-finite value")
    frac = max((fixed.code_of_float_exact(float(v))[1] for v in np.unique(arr)), default=0)
    if frac > 64:
        raise ValueError("a constant needs more than 64 fractional bits to be exact")
    codes = np.array([int(Fraction(float(v)) * (1 << frac)) for v in arr.ravel()], dtype=object).reshape(arr.shape)
    return FixedConst(codes, frac)


SIGNIFICANT_BITS = 24
"""Constants of quantized models keep float32's precision: 24 significant bits."""


def exact_or(arr: np.ndarray, fmt: FixedFormat, exact: bool = True) -> tuple[np.ndarray, FixedFormat]:
    """A constant's codes and type: exact when that takes at most 24-bit codes (and ``exact``),
    else 24 significant bits relative to its largest magnitude (``exact``: quantized models),
    else cast to ``fmt`` (float models, as hls4ml does)."""
    arr = np.asarray(arr, dtype=np.float64)
    if exact:
        try:
            fc = exact_const(arr)
            f = fc.format()
            if f.width <= SIGNIFICANT_BITS:
                return np.asarray(fc.codes, dtype=np.int64), f
        except ValueError:
            pass
        return significant(arr, SIGNIFICANT_BITS)
    return fixed.to_kind(fixed.from_float(arr, fmt), "int"), fmt


def significant(arr: np.ndarray, bits: int) -> tuple[np.ndarray, FixedFormat]:
    """``arr`` rounded to ``bits`` significant bits of its largest magnitude (error <= half an LSB)."""
    top = float(np.max(np.abs(arr))) if arr.size else 0.0
    if top == 0.0:
        return np.zeros(arr.shape, dtype=np.int64), FixedFormat(1, 1, True)
    frac = bits - 1 - int(np.floor(np.log2(top)))
    fmt = FixedFormat(bits + 1, bits + 1 - frac, True, "RND", "SAT")
    codes = fixed.to_kind(fixed.from_float(arr, fmt), "int")
    return codes, Interval.of_codes(codes, frac).narrowest()


def quantize_constant(node, x, scale, zero, bits: int, signed: bool, narrow: bool, rounding: str):
    """QONNX Quant on a constant, computed exactly as QONNX does (its own int_quant, float32)."""
    from qonnx.custom_op.general.intquant import int_quant

    x32 = np.asarray(x, dtype=np.float32)
    s32 = np.asarray(scale, dtype=np.float32)
    z32 = np.asarray(zero, dtype=np.float32)
    y = int_quant(x32, s32, z32, np.float32(bits), signed, narrow, rounding)
    scales = np.asarray(scale, dtype=np.float64).ravel()
    if np.all(z32 == 0) and all(is_power_of_two(float(v)) for v in scales):
        frac = max(-_log2(float(v)) for v in scales)
        codes = np.asarray(np.rint(np.ldexp(np.asarray(y, dtype=np.float64), frac)), dtype=np.int64)
        if not np.array_equal(np.ldexp(codes.astype(np.float64), -frac), np.asarray(y, dtype=np.float64)):
            raise ModelImportError("quantized constant is off its grid", node.name, node.op_type)
        return FixedConst(codes, frac)
    return np.asarray(y, dtype=np.float32)


def transpose_const(c):
    return FixedConst(c.codes.T.copy(), c.frac) if isinstance(c, FixedConst) else np.asarray(c).T


def scale_const(c, factor: float, node):
    if factor == 1.0:
        return c
    if isinstance(c, FixedConst) and is_power_of_two(abs(factor)):
        shift = _log2(abs(factor))
        sign = -1 if factor < 0 else 1
        if shift >= 0:
            return FixedConst(c.codes * sign * (1 << shift), c.frac)
        return FixedConst(c.codes * sign, c.frac - shift)
    arr = c.values() if isinstance(c, FixedConst) else np.asarray(c, dtype=np.float64)
    return arr * factor


def conv_pads(attrs: dict, spatial, kernel, strides, dilations, node) -> tuple[int, ...]:
    """Explicit pads (all befores, then all afters) from ``pads`` or ``auto_pad``."""
    nsp = len(kernel)
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("NOTSET", ""):
        pads = tuple(attrs.get("pads", [0] * 2 * nsp))
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


def softmax_types(config: Config, node, n: int) -> tables.SoftmaxTypes:
    d = tables.SoftmaxTypes.defaults(n)

    def get(key: str, default: FixedFormat) -> FixedFormat:
        return config.format_setting(node.name, node.op_type, key, str(default))

    result = config.precision(node.name, node.op_type, "result") or get("result", d.result)
    return tables.SoftmaxTypes(get("diff", d.diff), get("exp", d.exp), get("sum", d.sum), get("inv", d.inv), result)


def _same_elements(values) -> bool:
    elems = {str(v.type.get_element_type()) for v in values}
    return len(elems) == 1


SUPPORTED_OPS = _supported_ops()
