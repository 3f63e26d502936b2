"""Facts about the reference's kernels that the importer's exact replacements rely on.

fmlc evaluates a float chain once per input code (``ReferenceChain``: every code in one long
tensor), and replaces the chain by thresholds or a table.  That is exact only if onnxruntime's
float32 result for an element depends on the element's value alone, not on where it sits in the
tensor: MLAS computes some functions with one formula on vector blocks and another on the last
``len % 4`` elements.  These tests pin which ops are position-independent on this machine (the
ones fmlc accepts inside chains) and which are not (``staircase.POSITION_DEPENDENT``, refused).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from fmlc.frontend.staircase import MONOTONE_OPS, POSITION_DEPENDENT

VALUES = np.concatenate([np.linspace(-12, 12, 1501), np.linspace(-0.5, 0.5, 499)]).astype(np.float32)


def session(op: str, **attrs):
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def body_and_alone(op: str, **attrs) -> tuple[np.ndarray, np.ndarray]:
    """Each value in one long tensor (vector body), and alone (the scalar tail)."""
    s = session(op, **attrs)
    body = s.run(None, {"x": VALUES})[0]
    alone = np.array([s.run(None, {"x": VALUES[i : i + 1]})[0][0] for i in range(len(VALUES))], dtype=np.float32)
    return body, alone


CHAIN_FUNCTIONS = sorted(op for op in MONOTONE_OPS if op in ("Sigmoid", "Tanh", "Exp", "Softsign", "HardSigmoid", "Relu", "LeakyRelu"))


@pytest.mark.parametrize("op", CHAIN_FUNCTIONS)
def test_chain_functions_do_not_depend_on_position(op):
    body, alone = body_and_alone(op)
    assert np.array_equal(body, alone), f"{op}: {np.count_nonzero(body != alone)} values change with their position"


@pytest.mark.parametrize("op", sorted(POSITION_DEPENDENT))
def test_position_dependent_functions_are_refused_because_they_are(op):
    """If onnxruntime ever computes these the same everywhere, they can leave POSITION_DEPENDENT."""
    body, alone = body_and_alone(op)
    assert not np.array_equal(body, alone)
