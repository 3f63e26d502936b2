"""Data movement: Reshape/Flatten/Squeeze/Unsqueeze, Transpose, Concat, Pad, Resize, and the
no-ops (Identity, Dropout, Constant).

A Transpose moves no data: the tensor remembers the order of its ONNX axes, and data moves only
where an op needs a layout.  Movement is exact; in quantized models a tensor's ``Real`` (its
scale relative to the reference) follows its channel axis through Transposes, and is applied
(``realize``) before a reshape mixes channels.
"""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from fmlc.dialects import fxp
from fmlc.frontend import ModelImportError
from fmlc.frontend.core import attrs
from fmlc.frontend.values import Act, FixedConst, FloatInput, Real, ScaledConst, exact_or


class MovementOps:
    """Reshape-like ops, Transpose, Concat, Pad, Resize, Identity, Dropout, Constant."""

    def reshape_to(self, v, shape: tuple[int, ...], node) -> Act:
        r = self.emit(fxp.ReshapeOp(v, shape[1:]), node).result
        return Act(r, shape, 0, tuple(range(1, len(shape))))

    def move_const(self, node) -> bool:
        """Data movement on a constant (e.g. transposed quantized weights) stays constant."""
        c = self.constant(node.input[0])
        if c is None:
            return False
        out_shape = self.onnx_shape(node.output[0])
        if node.op_type == "Transpose":
            perm = attrs(node).get("perm")

            def f(arr):
                return np.transpose(arr, perm)

        else:

            def f(arr):
                return np.reshape(arr, out_shape)

        self.set(node.output[0], c.moved(f) if isinstance(c, (FixedConst, ScaledConst)) else f(np.asarray(c)))
        self.report.add(node, "folded", "on a constant")
        return True

    def op_Transpose(self, node) -> None:
        if self.float_preprocess(node) or self.move_const(node):
            return
        v = self.value(node.input[0])
        if not isinstance(v, Act):
            v = self.act(node.input[0], node)
        if v.pending:
            v = self.act(node.input[0], node)
        perm = attrs(node).get("perm", list(range(v.rank))[::-1])
        if sorted(perm) != list(range(v.rank)):
            raise ModelImportError(f"perm {list(perm)} is not a permutation of {v.rank} axes", node.name, node.op_type)
        # out axis i is in axis perm[i]: relabel, move nothing
        batch = list(perm).index(v.batch)
        order = tuple(list(perm).index(a) for a in v.order)
        shape = tuple(v.shape[p] for p in perm)
        real = v.real
        if real.axis is not None:
            real = real.moved_axis(list(perm).index(real.axis))
        self.report.add(node, "moved")
        self.set(node.output[0], Act(v.value, shape, batch, order, real))

    def reshape_like(self, node) -> None:
        if self.float_preprocess(node) or self.move_const(node):
            return
        x = self.act(node.input[0], node)
        out_shape = self.onnx_shape(node.output[0])
        if x.real.axis is not None:
            x = self.realize(x)
        if x.batch != 0 and x.shape[x.batch] != 1:
            raise ModelImportError("reshaping a tensor whose batch is not the first axis", node.name, node.op_type)
        if x.batch != 0:  # a size-1 batch moved by a Transpose: back to the front
            x = _batch_front(x)
        x = self.canonical(x)
        if out_shape[0] != x.shape[0] and x.shape[0] != 1:
            raise ModelImportError(f"the reshape to {list(out_shape)} changes the batch dimension {x.shape[0]}", node.name, node.op_type)
        if int(np.prod(out_shape[1:])) != int(np.prod(self.per_sample_shape(x))):
            raise ModelImportError(f"the reshape to {list(out_shape)} mixes the batch with other dimensions", node.name, node.op_type)
        self.report.add(node, "moved")
        if tuple(out_shape[1:]) == self.per_sample_shape(x):
            self.set(node.output[0], Act(x.value, out_shape, 0, tuple(range(1, len(out_shape))), x.real))
            return
        if len(out_shape) == 2:
            r = self.emit(fxp.FlattenOp(x.value), node).result
            self.set(node.output[0], Act(r, out_shape, 0, (1,), x.real))
            return
        y = self.reshape_to(x.value, out_shape, node)
        self.set(node.output[0], Act(y.value, y.shape, y.batch, y.order, x.real))

    op_Reshape = op_Flatten = op_Squeeze = op_Unsqueeze = reshape_like

    def op_Constant(self, node) -> None:
        a = attrs(node)
        if "value" in a:
            value = numpy_helper.to_array(a["value"])
        elif "value_float" in a or "value_int" in a:
            value = np.asarray(a.get("value_float", a.get("value_int")))
        elif "value_floats" in a or "value_ints" in a:
            value = np.asarray(a.get("value_floats", a.get("value_ints")))
        else:
            raise ModelImportError(f"Constant with attributes {sorted(a)} is not supported", node.name, node.op_type)
        self.set(node.output[0], np.asarray(value))
        self.report.add(node, "folded")

    def op_Identity(self, node) -> None:
        self.set(node.output[0], self.value(node.input[0]))
        self.report.add(node, "moved")

    op_Dropout = op_Identity

    def op_Concat(self, node) -> None:
        axis = int(attrs(node).get("axis"))
        names = [n for n in node.input if n]
        values = [self.value(n) for n in names]
        first = next((k for k, v in enumerate(values) if isinstance(v, Act | FloatInput)), None)
        if first is None:
            raise ModelImportError("all operands are constant", node.name, node.op_type)
        acts = {k: self.act(names[k], node) for k, v in enumerate(values) if isinstance(v, Act | FloatInput)}
        ref = acts[first]
        axis %= ref.rank
        if axis == ref.batch:
            raise ModelImportError("concatenation along the batch axis", node.name, node.op_type)
        reals = [a.real for a in acts.values()]
        same_real = all(r.per_tensor and np.array_equal(r.scale, reals[0].scale) and np.array_equal(r.shift, reals[0].shift) for r in reals)
        if self.quantized and (not same_real or len(acts) < len(values)):
            acts = {k: self.realize(a) for k, a in acts.items()}
            ref = acts[first]
        parts = []
        for k, (name, v) in enumerate(zip(names, values)):
            if k not in acts:
                per = self.const_like(v.codes if isinstance(v, FixedConst) else np.asarray(v.values() if isinstance(v, ScaledConst) else v, dtype=np.float64), ref, node)
                if isinstance(v, FixedConst):
                    parts.append(self.const_op(per, FixedConst(per, v.frac).format()))
                elif self.quantized:
                    parts.append(self.exact_const_op(per))
                else:
                    parts.append(self.const_op(*exact_or(per, self.config.default_precision)))
            else:
                parts.append(self.relayout(acts[k], ref.order).value)
        op = fxp.ConcatOp(parts, ref.axis(axis)) if _same_elements(parts) else self.concat_cast(parts, ref.axis(axis))
        y = self.emit(op, node).result
        real = ref.real
        if self.quantized:
            err = max(a.real.err for a in acts.values())
            real = Real(real.scale, real.shift, real.axis, all(a.real.exact for a in acts.values()), err)
        self.report.add(node, "moved")
        self.set(node.output[0], Act(y, self.onnx_shape(node.output[0]), ref.batch, ref.order, real))

    def concat_cast(self, values, axis):
        """Inputs of different types meet in one type (auto: precision inference unifies them)."""
        from xdsl.rewriter import Rewriter

        shapes = [fxp.shape_of(v) for v in values]
        shape = list(shapes[0])
        shape[axis] = sum(s[axis] for s in shapes)
        op = fxp.ConcatOp(values, axis)
        Rewriter.replace_value_with_new_type(op.result, fxp.fixed_tensor(None, shape))
        return op

    def op_Pad(self, node) -> None:
        a = attrs(node)
        mode = str(a.get("mode", "constant"))
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
        if np.any(x.real.shift != 0):
            x = self.realize(x)  # a zero pad must mean the reference's 0.0
        pads = [int(p) for p in np.asarray(pads).ravel()]
        r = x.rank
        if len(pads) != 2 * r:
            raise ModelImportError(f"pads must have {2 * r} entries, got {len(pads)}", node.name, node.op_type)
        if pads[x.batch] or pads[r + x.batch] or any(p < 0 for p in pads):
            raise ModelImportError("padding the batch axis, or negative padding, is not supported", node.name, node.op_type)
        per = [pads[o] for o in x.order] + [pads[r + o] for o in x.order]
        y = self.emit(fxp.PadOp(x.value, per), node).result
        self.report.add(node, "moved")
        self.set(node.output[0], Act(y, self.onnx_shape(node.output[0]), x.batch, x.order, x.real))


class ResizeOps:
    """ONNX Resize (and the older Upsample) in nearest mode with integer factors: fxp.upsample."""

    def op_Resize(self, node) -> None:
        a = attrs(node)
        mode = str(a.get("mode", "nearest"))
        if mode != "nearest":
            raise ModelImportError(f"Resize mode '{mode}' is not supported (nearest with integer factors is)", node.name, node.op_type)
        x = self.act(node.input[0], node)
        out_shape = self.onnx_shape(node.output[0])
        if len(out_shape) != x.rank:
            raise ModelImportError("Resize changes the rank", node.name, node.op_type)
        factors = []
        for size_in, size_out in zip(x.shape, out_shape):
            if size_out % size_in or size_out < size_in:
                raise ModelImportError(f"Resize from {list(x.shape)} to {list(out_shape)}: only integer upsampling factors are supported", node.name, node.op_type)
            factors.append(size_out // size_in)
        if factors[x.batch] != 1:
            raise ModelImportError("Resize along the batch axis", node.name, node.op_type)
        self.check_replication(node, x.shape, out_shape)
        ones = [ax for ax in range(x.rank) if ax != x.batch and factors[ax] == 1]
        if not ones:
            raise ModelImportError("Resize of every axis: fmlc upsamples spatial axes and keeps one channel axis", node.name, node.op_type)
        channel = 1 if 1 in ones and node.domain != "qonnx.custom_op.channels_last" and x.batch == 0 else ones[-1]
        x = self.channels_last(x, node, channel)
        spatial = x.order[:-1]
        if len(spatial) not in (1, 2):
            raise ModelImportError(f"Resize of {len(spatial)} spatial axes (1 or 2 are supported)", node.name, node.op_type)
        y = self.emit(fxp.UpsampleOp(x.value, [factors[ax] for ax in spatial]), node).result
        self.report.add(node, "moved", f"nearest-neighbour upsampling by {[factors[ax] for ax in spatial]}")
        self.set(node.output[0], Act(y, out_shape, x.batch, x.order, x.real))

    op_Upsample = op_Resize

    def check_replication(self, node, in_shape, out_shape) -> None:
        """Run the node once in onnxruntime on distinct values: every output must repeat input
        ``o // f`` (some coordinate modes shift the pixels: those are refused)."""
        import onnxruntime as ort
        from onnx import TensorProto, helper

        probe = np.arange(int(np.prod(in_shape)), dtype=np.float32).reshape(in_shape)
        inputs = {node.input[0]: probe}
        infos = [helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT, list(in_shape))]
        inits = []
        for name in node.input[1:]:
            if not name:
                continue
            c = self.reference_constant(name)
            if c is None:
                raise ModelImportError(f"input '{name}' must be constant", node.name, node.op_type)
            inits.append(numpy_helper.from_array(np.asarray(c), name))
        graph = helper.make_graph([node], "fmlc_resize_probe", infos, [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = min(model.ir_version, 10)
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 3
            got = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, inputs)[0]
        except Exception as err:  # noqa: BLE001 - onnxruntime's own errors
            raise ModelImportError(f"onnxruntime cannot run this Resize: {err}", node.name, node.op_type) from None
        want = probe
        for ax, (a_, b_) in enumerate(zip(in_shape, out_shape)):
            want = np.repeat(want, b_ // a_, axis=ax)
        if got.shape != want.shape or not np.array_equal(got, want):
            a = attrs(node)
            raise ModelImportError(
                f"this Resize (coordinate_transformation_mode '{a.get('coordinate_transformation_mode', 'half_pixel')}', nearest_mode "
                f"'{a.get('nearest_mode', 'round_prefer_floor')}') does not repeat each input value: only plain nearest-neighbour upsampling is supported",
                node.name,
                node.op_type,
            )


def _batch_front(x: Act) -> Act:
    """A size-1 batch axis moved elsewhere by a Transpose: view it at the front again."""
    shape = (x.shape[x.batch],) + tuple(s for a, s in enumerate(x.shape) if a != x.batch)
    renumber = {a: i + 1 for i, a in enumerate(a for a in range(x.rank) if a != x.batch)}
    return Act(x.value, shape, 0, tuple(renumber[a] for a in x.order), x.real)


def _same_elements(values) -> bool:
    elems = {str(v.type.get_element_type()) for v in values}
    return len(elems) == 1
