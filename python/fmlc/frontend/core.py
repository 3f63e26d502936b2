"""The importer's core: walking the graph, tracking tensors, emitting fxp ops, and the rules
that keep quantized models exact.

``ImporterCore`` holds what every op family needs (``fmlc.frontend.ops_*`` add one method per
ONNX op on top of it):

- the environment: each ONNX tensor's ``Act`` (runtime), constant, or ``FloatInput``;
- emission of fxp ops with exact value ranges (``fmlc.ranges``);
- layouts: the batch axis is tracked through Transposes and data is moved only where an op
  needs a layout (``relayout``, ``channels_last``, ``canonical``);
- the policy for types: in float models (no QONNX quantizer) float values take the configured
  precision; in quantized models they never do — every value is exact, an exact replacement of
  a float chain (``materialize_chain``), bounded with a stated bound, or refused;
- the report of what was done to each node (``fmlc import --explain``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import replace

import numpy as np
import onnx
from onnx import helper, numpy_helper
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType, f16, f32, f64
from xdsl.ir import Operation, SSAValue

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.fixed import FixedFormat
from fmlc.frontend import ModelImportError, f32 as F32
from fmlc.frontend.config import Config
from fmlc.frontend.normalize import QUANTIZERS
from fmlc.frontend.report import ImportReport, OutputBound
from fmlc.frontend.values import Act, FixedConst, FloatInput, Real, ScaledConst, dyadic_codes, is_constant, reference_values
from fmlc.ir import FunctionBuilder
from fmlc.ranges import Interval, cast_interval, exact_interval

OUTPUT_BITS = 53
"""Bounded outputs are at most this wide: float64 holds them exactly (Y.npy)."""
OUTPUT_TABLE_CODES = 1 << 16
"""Outputs with at most this many codes x channels get the reference's exact float32 values."""
REUSE_ATTR = "fmlc.reuse_factor"
IO_ATTR = "fmlc.io"
NOTE_ATTR = "fmlc.note"

FLOAT_TYPES = {onnx.TensorProto.FLOAT: f32, onnx.TensorProto.DOUBLE: f64, onnx.TensorProto.FLOAT16: f16}
NUMPY_FLOAT = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64, onnx.TensorProto.FLOAT16: np.float16}


AXIS_OPS = ("Flatten", "Softmax", "Concat", "LogSoftmax", "Gather")
"""Ops whose ``axis`` attribute must lie within their input's rank."""


def attrs(node) -> dict:
    """A node's attributes as Python values (strings decoded)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def f32_exact_interval(iv: Interval) -> bool:
    """Whether every value of a range (codes at ``frac``) is a float32: at most 24 significant
    bits, no bit below float32's least subnormal, nothing near overflow."""
    top = max(abs(iv.lo), abs(iv.hi))
    return top <= (1 << F32.MANTISSA) and iv.frac <= -F32.MIN_EXP and top.bit_length() - iv.frac < 127


def integer_annotations(graph) -> set[str]:
    """Tensors whose QONNX quantization annotation names an integer datatype."""
    from qonnx.core.datatype import DataType

    out = set()
    for ann in graph.quantization_annotation:
        for kv in ann.quant_parameter_tensor_names:
            if kv.key == "finn_datatype":
                try:
                    if DataType[kv.value].is_integer():
                        out.add(ann.tensor_name)
                except KeyError:
                    pass
    return out


def log2_exact(v: float) -> int:
    return int(np.frexp(v)[1]) - 1


class ImporterCore:
    """State and shared machinery of the importer (ops live in the ``ops_*`` mixins)."""

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
        self.report = ImportReport(quantized=self.quantized)
        self.integer_annotated = integer_annotations(self.graph)
        self.input_dtypes: dict[str, type] = {}

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
            if self.quantized and elem == onnx.TensorProto.FLOAT16:
                # numpy promotes float16 / float32 to float32, onnxruntime computes in float16: no one semantics to follow
                raise ModelImportError(f"graph input '{inp.name}' is FLOAT16 in a quantized model; export it as FLOAT (float32)")
            shape = tuple(d.dim_value for d in inp.type.tensor_type.shape.dim)
            types.append(TensorType(FLOAT_TYPES[elem], list(shape[1:])))
            names.append(inp.name)
            self.input_dtypes[inp.name] = NUMPY_FLOAT[elem]
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
                    f"operator {node.op_type} is not supported by fmlc (docs/frontend.md lists the {len(self.supported_ops())} it reads); "
                    "replace it, or cut the model before it and run that part elsewhere",
                    node.name,
                    node.op_type,
                )
            try:
                self.check_node(node)
                handler(node)
                self.sanitize_outputs(node)
            except ModelImportError as err:
                if err.node is None:
                    raise ModelImportError(str(err), node.name, node.op_type) from None
                raise
            except (ValueError, ArithmeticError, fxp.VerifyException) as err:
                if os.environ.get("FMLC_DEBUG"):
                    raise
                raise ModelImportError(str(err), node.name, node.op_type) from None
        try:
            outputs = [self.output_value(o.name) for o in self.graph.output]
        except (ValueError, ArithmeticError, fxp.VerifyException) as err:
            if isinstance(err, ModelImportError) or os.environ.get("FMLC_DEBUG"):
                raise
            raise ModelImportError(f"building the graph outputs: {err}") from None
        try:
            return self.b.finish(outputs)
        except fxp.VerifyException as err:
            raise ModelImportError(f"the imported IR does not verify: {err}") from None

    def sanitize_outputs(self, node) -> None:
        """QONNX's executor rounds (half to even) every tensor annotated with an integer
        datatype right after its producer: where fmlc's value is not already an integer, that
        rounding joins the tensor's float chain, as an ONNX Round (the same rounding)."""
        for name in node.output:
            if name not in self.integer_annotated:
                continue
            v = self.env.get(name)
            if not isinstance(v, Act):
                continue
            if not v.pending and v.real.identity and self.ranges[v.value].frac <= 0:
                if not (v.real.exact and v.real.err == 0.0):
                    self.set(name, replace(v, real=_rounded_bound(v.real)))
                continue  # integers already: the rounding leaves fmlc's value as it is
            round_node = helper.make_node("Round", [name], [f"{name}__sanitized"], name=f"{node.name}__qonnx_sanitize")
            self.set(name, Act(v.value, v.shape, v.batch, v.order, v.real, v.pending + (round_node,), v.origin or name))

    def check_node(self, node) -> None:
        """What ONNX's checker leaves to run time: finite constants, axes within the rank."""
        for name in node.input:
            c = self.constant(name) if name else None
            if c is None:
                continue
            arr = np.asarray(reference_values(c))
            if arr.dtype.kind == "f" and arr.size and not np.all(np.isfinite(arr)):
                bad = arr[~np.isfinite(arr)].ravel()[0]
                if np.isnan(bad) or node.op_type not in ("Clip", "Max", "Min"):
                    raise ModelImportError(f"constant '{name}' holds {bad}: fmlc computes with finite values only")
        a = attrs(node)
        if node.op_type == "BatchNormalization" and int(a.get("spatial", 1)) == 0:
            raise ModelImportError("BatchNormalization with spatial=0 (per element statistics) is not supported")
        if "axis" in a and node.op_type in AXIS_OPS and node.input and node.input[0]:
            shape = self.wrapper.get_tensor_shape(node.input[0])
            if shape is not None:
                rank = len(shape)
                top = rank if node.op_type == "Flatten" else rank - 1
                if not -rank <= int(a["axis"]) <= top:
                    raise ModelImportError(f"axis {a['axis']} is out of range for a rank-{rank} input")

    @classmethod
    def supported_ops(cls) -> tuple[str, ...]:
        return tuple(sorted(name[3:] for name in dir(cls) if name.startswith("op_")))

    def producer(self, name: str):
        for node in self.graph.node:
            if name in node.output:
                return node
        return None

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

    def note(self, op: Operation | SSAValue, text: str) -> None:
        op = op.owner if isinstance(op, SSAValue) else op
        op.attributes[NOTE_ATTR] = StringAttr(text)

    def range_of(self, v: SSAValue) -> Interval:
        return self.ranges[v]

    def format_of(self, v: SSAValue) -> FixedFormat:
        """The type of a value, or the narrowest exact type of its range when still auto."""
        return fxp.element_format(v) if fxp.is_resolved(v) else self.ranges[v].narrowest()

    def const_op(self, codes: np.ndarray, fmt: FixedFormat) -> SSAValue:
        codes = np.asarray(codes)
        codes = codes if codes.dtype == object else codes.astype(np.int64)
        return self.emit(fxp.ConstantOp(codes, fmt)).result

    def exact_const_op(self, values: np.ndarray) -> SSAValue:
        """A constant holding exactly ``values`` (exact floats), its codes stripped of the trailing
        zero bits they share (2**100 is code 1 with 100 integer bits to spare, not 101 bits)."""
        codes, frac, err = dyadic_codes(np.asarray(values, dtype=np.float64), bits=4000)
        assert err == 0.0
        flat = [int(c) for c in np.asarray(codes, dtype=object).ravel()]
        common = 0
        for c in flat:
            common |= c
        shift = (common & -common).bit_length() - 1 if common else 0
        if shift > 0:
            codes = np.array([c >> shift for c in flat], dtype=object).reshape(np.shape(codes))
            frac -= shift
        if fixed.bits_needed(np.asarray(codes, dtype=object)) > 62:
            raise ModelImportError("a constant needs more than 62 significant bits")
        codes = np.asarray(codes, dtype=object).astype(np.int64)
        return self.const_op(codes, Interval.of_codes(codes, frac).narrowest())

    def magnitude(self, v: SSAValue) -> float:
        """The largest |value| of a fixed-point tensor (from its exact range)."""
        iv = self.ranges[v]
        return float(max(abs(iv.lo), abs(iv.hi))) * 2.0**-iv.frac

    # ---------------------------------------------------------------- tensors

    def value(self, name: str):
        if name in self.env:
            return self.env[name]
        if name in self.inits:
            return self.inits[name]
        raise ModelImportError(f"tensor '{name}' is not known")

    def constant(self, name: str):
        """A constant tensor (float array, FixedConst or ScaledConst), or None for runtime values."""
        if not name:
            return None
        v = self.value(name)
        return v if is_constant(v) else None

    def float_constant(self, name: str) -> np.ndarray | None:
        """A constant's values as the reference computes with them."""
        c = self.constant(name)
        return None if c is None else reference_values(c)

    def reference_constant(self, name: str) -> np.ndarray | None:
        """A constant as the reference holds it (its own dtype), for evaluating float chains."""
        c = self.constant(name)
        if c is None:
            return None
        if isinstance(c, (FixedConst, ScaledConst)):
            return np.asarray(c.values(), dtype=np.float32)
        return np.asarray(c)

    def act(self, name: str, node) -> Act:
        """The runtime tensor ``name``, its pending float ops built (exactly, or bounded)."""
        v = self.value(name)
        if isinstance(v, FloatInput):
            v = self.quantize_input(v, None)
            self.set(name, v)
        if not isinstance(v, Act):
            raise ModelImportError(f"input '{name}' must be a runtime tensor here, not a constant", node.name, node.op_type)
        if v.pending:
            v = self.materialize(v, name)
            self.set(name, v)
        return v

    def set(self, name: str, value) -> None:
        self.env[name] = value

    def onnx_shape(self, name: str) -> tuple[int, ...]:
        shape = self.wrapper.get_tensor_shape(name)
        if shape is None:
            raise ModelImportError(f"tensor '{name}' has no known shape")
        return tuple(int(d) for d in shape)

    def single_consumer(self, name: str):
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.graph_outputs:
            return None
        return users[0]

    # ---------------------------------------------------------------- layouts

    def per_sample_shape(self, act: Act) -> tuple[int, ...]:
        return tuple(act.shape[a] for a in act.order)

    def relayout(self, act: Act, order: tuple[int, ...]) -> Act:
        """Move data so that the fxp axes follow ``order`` (ONNX axes)."""
        if tuple(order) == act.order:
            return act
        perm = [act.order.index(a) for a in order]
        v = self.emit(fxp.TransposeOp(act.value, perm)).result
        return Act(v, act.shape, act.batch, tuple(order), act.real, act.pending, act.origin)

    def canonical(self, act: Act) -> Act:
        """ONNX order (row-major over the non-batch axes)."""
        return self.relayout(act, tuple(sorted(act.order)))

    def channels_last(self, act: Act, node, channel: int = 1) -> Act:
        """Other axes in order, then the channel axis (ONNX axis ``channel``); batch must be axis 0."""
        if act.batch != 0:
            raise ModelImportError("needs the batch as the first axis (NC...) here", node.name, node.op_type)
        channel %= act.rank
        return self.relayout(act, tuple(a for a in range(1, act.rank) if a != channel) + (channel,))

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

    def weight_format(self, node) -> FixedFormat:
        return self.config.precision(node.name, node.op_type, "weight") or self.config.default_precision

    def bias_format(self, node) -> FixedFormat:
        return self.config.precision(node.name, node.op_type, "bias") or self.config.default_precision

    # ---------------------------------------------------------------- graph outputs

    def output_value(self, name: str) -> SSAValue:
        v = self.env.get(name)
        if isinstance(v, FloatInput):
            v = self.quantize_input(v, None)
            self.set(name, v)
        if not isinstance(v, Act):
            raise ModelImportError(f"graph output '{name}' is a constant; fmlc compiles computations")
        if v.pending:
            v = self.materialize(v, name)
        v = self.exact_output(v, name)
        bound = OutputBound()
        if not self.quantized:
            bound = OutputBound(max_abs=float("inf"), detail="a float model: accuracy follows the configured precision (no bit-level claim)")
        elif not (v.real.exact and v.real.err == 0.0):
            bound = OutputBound(max_abs=float(v.real.err), detail="the reference rounds in float32 where fmlc computes exactly")
        self.report.outputs[name] = bound
        return self.canonical(v).value

    def exact_output(self, act: Act, name: str) -> Act:
        """An output the reference computes as ``fl32(x * scale + shift)`` (a quantizer's float
        result, or a float32 sum fmlc holds exactly): the float32 values of every code, as a table
        (per channel when the scale is), when the codes are few; else ``x * scale + shift``.  The
        bound grows by the float32 rounding where the reference's value is not known exactly."""
        real = act.real
        if real.identity and real.exact and real.err == 0.0:
            return act
        domain = self.ranges[act.value]
        channels = real.channels()
        count = domain.hi - domain.lo + 1
        if count * channels <= OUTPUT_TABLE_CODES:
            codes = np.arange(domain.lo, domain.hi + 1, dtype=np.int64)[:, None]
            vals = F32.affine_f32(np.broadcast_to(codes, (count, channels)), domain.frac, real.scale[None, :], real.shift[None, :]).astype(np.float64)
            try:
                y = self.exact_table(act, real.axis, domain, vals, bits=53)
            except ValueError:
                y = None
            if y is not None:
                top = float(np.max(np.abs(vals))) if vals.size else 0.0
                err = 0.0 if real.exact else real.err + F32.ulp_bound(top)
                self.note(y.value, f"the reference's float32 values fl32(x * scale + shift) of all {count} codes" + ("" if real.exact else f"; within {err:.3g} of the reference"))
                return Act(y.value, y.shape, y.batch, y.order, Real(exact=real.exact, err=err))
        return self.output_width(self.realize(act))

    def output_width(self, act: Act) -> Act:
        """A bounded output wider than float64's 53 bits (the exact value of wide factors) is
        rounded to 53 bits: outputs are float64 values, and the rounding joins the bound."""
        iv = self.ranges[act.value]
        fmt = iv.narrowest()
        if fmt.width <= OUTPUT_BITS or act.real.exact:
            return act
        narrow = FixedFormat(OUTPUT_BITS, fmt.int_bits, fmt.signed, "RND_CONV", "SAT")
        y = self.emit(fxp.CastOp(act.value, narrow)).result
        return Act(y, act.shape, act.batch, act.order, Real(exact=False, err=act.real.err + 2.0 ** -(narrow.frac + 1)))

    def exact_table(self, act: Act, axis: int | None, domain: Interval, values: np.ndarray, bits: int = 62, what: str = "exact") -> Act:
        """A lookup from ``act``'s codes (``domain``) to exact float ``values`` [codes, channels]:
        one table when every channel agrees, else one table with a block per channel
        (``index = code - lo + channel * block``, the channel along ONNX axis ``axis``)."""
        count, channels = values.shape
        if channels == 1 or all(np.array_equal(values[:, c], values[:, 0]) for c in range(channels)):
            return self.value_table(act, domain, values[:, 0], what, bits=bits)
        work = self.channels_last(act, _Where("table"), axis) if act.rank > 2 or act.axis(axis) != len(act.order) - 1 else act
        width = int(count - 1).bit_length()
        block = 1 << width
        if block * channels > 1 << fxp.TableOp.MAX_INDEX_BITS:
            raise ValueError("per-channel table too large")
        idx_fmt = fixed.narrowest_format(0, block * channels - 1, 0)
        shifted = self.emit(fxp.AddOp(work.value, self.const_op(np.array([-domain.lo]), fixed.narrowest_format(min(-domain.lo, 0), max(-domain.lo, 0), domain.frac)), None)).result
        as_grid = self.emit(fxp.CastOp(shifted, fixed.narrowest_format(0, block - 1, domain.frac))).result
        offsets = self.const_op(np.arange(channels, dtype=np.int64) * block, fixed.narrowest_format(0, block * (channels - 1), domain.frac))
        index = self.emit(fxp.AddOp(as_grid, offsets, None)).result
        if domain.frac:  # the codes as integers: times 2**frac
            index = self.emit(fxp.MulOp(index, self.const_op(np.array([1]), FixedFormat(2, 2 + domain.frac, True)), None)).result
        index = self.emit(fxp.CastOp(index, idx_fmt)).result
        codes, frac, err = dyadic_codes(values.T.ravel(), bits=bits)
        if err:
            raise ValueError(f"the exact values need more than {bits} bits")
        per = np.asarray(codes).reshape(channels, count)
        table = np.empty((channels, block), dtype=np.int64)
        table[:, :count] = per
        table[:, count:] = per[:, -1:]  # never read
        full = np.zeros(1 << idx_fmt.width, dtype=np.int64)
        full[: block * channels] = table.ravel()
        out_fmt = Interval.of_codes(np.asarray(codes), frac).narrowest()
        y = self.emit(fxp.TableOp(index, full, out_fmt, what)).result
        return Act(y, work.shape, work.batch, work.order)

    def _representable(self, v: SSAValue) -> bool:
        """Whether every value of a fixed-point tensor is exactly a float32."""
        return f32_exact_interval(self.ranges[v])

    def value_table(self, act: Act, domain: Interval, values: np.ndarray, what: str, bits: int = 62) -> Act:
        """A table from ``act``'s codes to exact float ``values`` (one per code of ``domain``)."""
        codes, frac, err = dyadic_codes(values, bits=bits)
        if err:
            raise ValueError(f"the exact {what} values need more than {bits} bits")
        out = Interval.of_codes(codes, frac).narrowest()
        idx = fixed.narrowest_format(domain.lo, domain.hi, domain.frac)
        xi = self.emit(fxp.CastOp(act.value, idx)).result
        full = np.arange(idx.min_code, idx.max_code + 1)
        pos = np.clip(full, domain.lo, domain.hi) - domain.lo  # codes outside the range never occur
        y = self.emit(fxp.TableOp(xi, np.asarray(codes, dtype=np.int64)[pos], out, "exact")).result
        return Act(y, act.shape, act.batch, act.order)

    # ---------------------------------------------------------------- exactness of reals

    def realize(self, act: Act) -> Act:
        """``x * scale + shift`` computed exactly in fixed point: the same tensor with an identity
        ``Real`` (the reference's relation and bound carried over)."""
        real = act.real
        if real.identity:
            return act
        if real.axis is not None:
            work = self.channels_last(act, _Where("realize"), real.axis) if act.rank > 2 or act.axis(real.axis) != len(act.order) - 1 else act
            shape = (-1,)
        else:
            work, shape = act, (1,)
        v = work.value
        err = real.err
        mag = self.magnitude(v)
        scale, shift = real.scale, real.shift
        if not real.exact:
            # the reference is only known within err: factors to REALIZE_BITS significant bits
            # keep the widths sane, and their error joins the bound
            scale, d_scale = _rounded(scale, REALIZE_BITS)
            shift, d_shift = _rounded(shift, REALIZE_BITS)
            err += d_scale * mag + d_shift
        if not np.all(scale == 1.0):
            v = self.emit(fxp.MulOp(v, self.exact_const_op(scale.reshape(shape)), None)).result
        if np.any(shift != 0.0):
            v = self.emit(fxp.AddOp(v, self.exact_const_op(shift.reshape(shape)), None)).result
        return Act(v, work.shape, work.batch, work.order, Real(exact=real.exact, err=err))


REALIZE_BITS = 32
"""Significant bits of the factors applied to a value the reference is not known exactly for."""


def _rounded(values: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """``values`` to ``bits`` significant bits of the largest; and the largest change, rounded up."""
    values = np.asarray(values, dtype=np.float64)
    top = float(np.max(np.abs(values))) if values.size else 0.0
    if top == 0.0:
        return values, 0.0
    lsb = 2.0 ** (np.floor(np.log2(top)) - bits + 1)
    out = np.round(values / lsb) * lsb  # exact: a float64 times a power of two, rounded to an integer
    return out, float(np.max(np.abs(out - values))) * (1 + 2.0**-40)


class _Where:
    """A stand-in node for errors raised by internal relayouts."""

    def __init__(self, name: str):
        self.name = name
        self.op_type = "internal"


def _rounded_bound(real: Real) -> Real:
    """The bound after the reference rounds a value fmlc holds as an integer: if
    ``|ref - x| <= err`` with ``x`` an integer, ``round(ref)`` is an integer within
    ``err + 1/2`` of ``x``, so within ``floor(err + 1/2)``; a bound under 1/2 becomes exact."""
    err = float(np.floor(real.err + 0.5))
    return replace(real, exact=err == 0.0, err=err)
