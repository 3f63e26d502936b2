"""The reference's own float32 semantics, node by node, for the float chains fmlc replaces.

QONNX's ``execute_onnx`` runs a model one node at a time: standard ONNX nodes in onnxruntime,
each as a one-node model whose inputs (constants included) are fed at run time, and QONNX's
custom ops (Quant, BipolarQuant, Trunc, MultiThreshold, the channels-last ops) in numpy.
``ReferenceChain`` does exactly that for a chain of elementwise nodes — building each node's
onnxruntime session once, so that the chain can be evaluated on many candidate values cheaply
(for tables and threshold searches) and give the reference's bits, not an approximation.

The chain's input is a float32 tensor shaped ``[N, C]`` (N candidate values for each of the C
channels); it is laid out with the channel on the axis the chain's constants broadcast along,
and singleton spatial axes, so per-channel constants (BatchNorm parameters, ``[1, C, 1, 1]``
multipliers) apply as they do in the model.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import onnx
from onnx import TensorProto, helper

CHANNELS_LAST = "qonnx.custom_op.channels_last"
CUSTOM_DOMAINS = ("qonnx.custom_op.general", "qonnx.custom_op.channels_last", "onnx.brevitas", "finn.custom_op.general", "finn")


class ReferenceError(ValueError):
    """The chain cannot be evaluated as the reference would (the message says why)."""


class ReferenceChain:
    """Evaluate ``nodes`` (a chain: each consumes the previous output) as ``execute_onnx`` does."""

    def __init__(self, nodes: list, constants: dict[str, np.ndarray], opset: int, rank: int, channel_axis: int = 1):
        self.nodes = list(nodes)
        self.constants = {k: np.asarray(v) for k, v in constants.items()}
        self.opset = opset
        self.rank = max(rank, 2)
        self.channel_axis = channel_axis % self.rank
        self._sessions: dict[int, object] = {}

    # ------------------------------------------------------------------ evaluation

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Outputs for a float32 ``[N, C]`` input, as float32 ``[N, C]``."""
        x = np.asarray(x, dtype=np.float32)
        n, c = x.shape
        shape = [n] + [1] * (self.rank - 1)
        shape[self.channel_axis] = c
        if self.channel_axis == 0:
            raise ReferenceError("the channel axis cannot be the batch axis")
        value = np.moveaxis(x.reshape((n, c) + (1,) * (self.rank - 2)), 1, self.channel_axis)
        value = np.ascontiguousarray(value)
        for k, node in enumerate(self.nodes):
            value = self._run(k, node, value)
        out = np.moveaxis(np.asarray(value), self.channel_axis, 1)
        return np.ascontiguousarray(out.reshape(n, c), dtype=np.float32)

    def _run(self, k: int, node, value: np.ndarray) -> np.ndarray:
        # the runtime operand is whichever input is not a constant (Add(c, x) has it second)
        inputs = {name: (self.constants[name] if name in self.constants else value) for name in node.input if name}
        if node.domain == CHANNELS_LAST:
            return self._run_channels_last(k, node, inputs)
        if node.domain in CUSTOM_DOMAINS:
            return self._run_custom(node, inputs)
        session = self._sessions.get(k)
        if session is None:
            session = self._sessions[k] = self._session(node, inputs)
        return _run_session(session, node, inputs)

    def _run_channels_last(self, k: int, node, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """QONNX's channels-last wrapper: the standard op on channels-first data, transposed
        there and back (the chain's elementwise ops have no other operand to move)."""
        std = _copy(node)
        std.domain = ""
        name = node.input[0]
        x = inputs[name]
        nd = x.ndim
        first = (0, nd - 1) + tuple(range(1, nd - 1))
        inputs = dict(inputs)
        inputs[name] = np.ascontiguousarray(np.transpose(x, first))
        session = self._sessions.get(k)
        if session is None:
            session = self._sessions[k] = self._session(std, inputs)
        y = _run_session(session, node, inputs)
        return np.ascontiguousarray(np.transpose(y, (0,) + tuple(range(2, nd)) + (1,)))

    def _session(self, node, inputs: dict[str, np.ndarray]):
        """A one-node model with every input fed at run time, as qonnx builds it."""
        import onnxruntime as ort

        infos = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), None) for name, arr in inputs.items()]
        out = helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)
        graph = helper.make_graph([_copy(node, outputs=node.output[:1])], "fmlc_reference_node", infos, [out])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = min(model.ir_version, 10)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own error types
            raise ReferenceError(f"onnxruntime cannot run {node.op_type} '{node.name}': {err}") from None

    def _run_custom(self, node, inputs: dict[str, np.ndarray]) -> np.ndarray:
        from qonnx.custom_op.registry import getCustomOp

        work = _copy(node)
        if work.domain in ("onnx.brevitas", "finn.custom_op.general", "finn"):
            work.domain = "qonnx.custom_op.general"
        context = dict(inputs)
        context[work.output[0]] = None
        graph = helper.make_graph([work], "fmlc_reference_node", [], [])
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                getCustomOp(work).execute_node(context, graph)
        except Exception as err:  # noqa: BLE001 - qonnx raises many kinds
            raise ReferenceError(f"qonnx cannot run {node.op_type} '{node.name}': {err}") from None
        return np.asarray(context[work.output[0]], dtype=np.float32)


def _run_session(session, node, inputs: dict) -> np.ndarray:
    try:
        return session.run(None, inputs)[0]
    except Exception as err:  # noqa: BLE001 - onnxruntime's own error types
        raise ReferenceError(f"onnxruntime cannot run {node.op_type} '{node.name}' on this chain's values: {str(err).splitlines()[0]}") from None


def _copy(node, outputs=None) -> onnx.NodeProto:
    n = onnx.NodeProto()
    n.CopyFrom(node)
    if outputs is not None:
        del n.output[:]
        n.output.extend(outputs)
    return n


