"""Writing ONNX graphs the way exporters write them.

The zoo's builders describe a model as its exporter laid it out (node names, tensor names,
initializers listed as graph inputs or not, value_info, producer, IR version, opsets) and this
module turns that description into a ``ModelProto``.  Nothing here runs a model: weights are
given as numpy arrays by the builders, drawn from a generator seeded by the model's name so the
same name always gives the same bytes.
"""

from __future__ import annotations

import os
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64


def rng_for(name: str) -> np.random.Generator:
    """The weight generator of one model: seeded by its name, so builds are reproducible."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def i64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def tensor(name: str, array: np.ndarray, raw: bool = True) -> TensorProto:
    """An initializer: raw bytes (PyTorch, tf2onnx) or typed fields (OnnxMLTools' float_data)."""
    array = np.asarray(array)
    if raw:
        return numpy_helper.from_array(array, name)
    elem = helper.np_dtype_to_tensor_dtype(array.dtype)
    return helper.make_tensor(name, elem, array.shape, array.ravel().tolist())


def value(name: str, shape: list[int] | None, elem: int = FLOAT) -> onnx.ValueInfoProto:
    """A typed tensor; ``shape=None`` gives a type without a shape, as qonnx's converter writes."""
    if shape is None:
        return helper.make_value_info(name, helper.make_tensor_type_proto(elem, shape=None))
    return helper.make_tensor_value_info(name, elem, shape)


def node(op: str, inputs: list[str], outputs: list[str], name: str = "", domain: str = "", **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs)


@dataclass
class Graph:
    """A graph as an exporter writes it, built up node by node."""

    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    value_info: list = field(default_factory=list)

    def add(self, op: str, inputs: list[str], outputs: list[str], name: str = "", domain: str = "", **attrs) -> str:
        self.nodes.append(node(op, inputs, outputs, name, domain, **attrs))
        return outputs[0]

    def init(self, name: str, array, raw: bool = True) -> str:
        self.inits.append(tensor(name, array, raw))
        return name

    def info(self, name: str, shape: list[int] | None, elem: int = FLOAT) -> None:
        self.value_info.append(value(name, shape, elem))


@dataclass(frozen=True)
class Producer:
    """What an exporter stamps on its files."""

    name: str
    version: str
    ir_version: int
    opsets: tuple[tuple[str, int], ...]
    domain: str = ""
    inits_as_inputs: bool = False
    """Old exporters (OnnxMLTools, PyTorch 1.x) list every initializer as a graph input too."""


def finish(
    graph: Graph,
    producer: Producer,
    inputs: list,
    outputs: list,
    graph_name: str,
    doc: str = "",
    extra_inputs: tuple[str, ...] = (),
    input_order: list[str] | None = None,
) -> onnx.ModelProto:
    """The ModelProto.  ``extra_inputs`` names initializers that are graph inputs as well even
    when the producer does not list them all (PyTorch 2's ``linear.bias``); ``input_order``
    orders the initializers listed as inputs where the exporter's order is not theirs."""
    listed = list(inputs)
    inits = {t.name: t for t in graph.inits}
    names = input_order if input_order is not None else [t.name for t in graph.inits]
    for name in names:
        if producer.inits_as_inputs or name in extra_inputs:
            t = inits[name]
            listed.append(value(t.name, list(t.dims), t.data_type))
    g = helper.make_graph(graph.nodes, graph_name, listed, outputs, initializer=graph.inits, value_info=graph.value_info, doc_string=doc)
    model = helper.make_model(g, producer_name=producer.name, producer_version=producer.version, opset_imports=[helper.make_opsetid(d, v) for d, v in producer.opsets])
    model.ir_version = producer.ir_version
    model.domain = producer.domain
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    """Write atomically (a temporary file renamed into place), so concurrent builds of the same
    model never leave a partial file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
