"""Where a violation starts, and a signature that groups violations into failure classes.

``localize(case)`` cuts the graph at each quantizer output in turn (that tensor becomes the graph
output) and returns the first one where fmlc and ``execute_onnx`` differ; failing that, the
first differing runtime tensor.  ``signature(case, node)`` names what feeds that quantizer, back
to the previous quantizers: ``in>Add>Div>Quant[npo2]`` or
``Q>MatMul(W:pt-npo2)>Add(float)>BatchNormalization>Relu>Quant[po2]``.  Slow (one fmlc import
and one reference run per cut): for bench/fuzz_qonnx.py's ``--localize`` and for the findings.
"""

from __future__ import annotations

import numpy as np

from qonnx_fuzz.generate import FuzzCase, is_po2
from qonnx_fuzz.harness import CaseResult, first_difference

QUANTIZERS = ("Quant", "BipolarQuant")


def _producers(case: FuzzCase) -> dict:
    return {o: n for n in case.builder.nodes for o in n.output}


def _scale_word(case: FuzzCase, node) -> str:
    if node.op_type == "BipolarQuant":
        s = case.builder.val[node.input[1]]
        return "bipolar" + ("" if is_po2(s) else "-npo2")
    s = case.builder.val[node.input[1]]
    z = np.asarray(case.builder.val[node.input[2]])
    kind = ("pc-" if np.size(s) > 1 else "") + ("po2" if is_po2(s) else "npo2")
    return kind + ("" if not z.any() else ",z")


def _weight_word(case: FuzzCase, name: str, prod: dict) -> str:
    """How a constant operand was made: W:pt-npo2 (through a quantizer), T(...) for a Transpose."""
    node = prod.get(name)
    if node is None:
        return "float"
    if node.op_type == "Transpose":
        return "T(" + _weight_word(case, node.input[0], prod) + ")"
    if node.op_type in QUANTIZERS:
        return "Q:" + _scale_word(case, node)
    return node.op_type


def signature(case: FuzzCase, node) -> str:
    """The ops feeding ``node`` back to the previous quantizers or the graph input."""
    prod = _producers(case)
    runtime = {case.input_name}
    for n in case.builder.nodes:
        if runtime.intersection(n.input):
            runtime.update(n.output)

    def walk(name: str, depth: int) -> str:
        n = prod.get(name)
        if n is None:
            return "in"
        if n.op_type in QUANTIZERS or depth > 12:
            return "Q"
        runtime_inputs = [i for i in n.input if i in runtime]
        consts = [i for i in n.input if i and i not in runtime]
        if n.op_type in ("Reshape", "Flatten", "Transpose") or not runtime_inputs:
            return walk(runtime_inputs[0], depth + 1) if runtime_inputs else "const"
        if len(runtime_inputs) > 1:
            inner = "+".join(walk(i, depth + 1) for i in runtime_inputs)
            return f"[{inner}]>{n.op_type}"
        word = n.op_type
        if n.op_type in ("MatMul", "Gemm", "Conv"):
            w = _weight_word(case, consts[0], prod) if consts else "?"
            b = (":" + _weight_word(case, consts[1], prod)) if len(consts) > 1 else ""
            word += f"(W{w}{b})"
        elif n.op_type in ("Add", "Sub", "Mul", "Div") and consts:
            word += "(" + _weight_word(case, consts[0], prod) + ")"
        return walk(runtime_inputs[0], depth + 1) + ">" + word

    tail = f"[{_scale_word(case, node)}]" if node.op_type in QUANTIZERS else "(float out)"
    return walk(node.input[0], 0) + f">{node.op_type}{tail}"


def localize(case: FuzzCase) -> tuple[str, str, CaseResult] | None:
    """(signature, cut name, result at the cut) of the first quantizer output that differs."""
    found = first_difference(case, quantizers_only=True)
    if found is None:  # the quantizers agree: the difference is in a float output
        from qonnx_fuzz.harness import check_case

        res = check_case(case)
        if res.status in ("exact", "bounded-ok"):
            return None
        out = case.outputs[0]
        node = next(n for n in case.builder.nodes if out in n.output)
        return signature(case, node), f"{node.op_type} {node.name} -> {out}", res
    where, res = found
    node = next(n for n in case.builder.nodes if n.name == where.split()[1])
    return signature(case, node), where, res


PRE_OPS = ("Add", "Sub", "Mul", "Div")


def failure_class(sig: str) -> str:
    """A coarse class of a signature (for the findings and the bench table)."""
    words = sig.split(">")
    ops = [w.split("(")[0].split("[")[0] for w in words]
    last = ops[-1]
    if "(float out)" in sig:
        return "F float graph output"
    if words[0] == "in" and set(ops[1:-1]) <= set(PRE_OPS):
        pre = "after float pre-processing" if len(ops) > 2 else "no pre-processing"
        scale = "npo2" if "npo2" in words[-1] else "po2"
        return f"A input {last} ({scale}, {pre})"
    if words[0] == "in":
        return "B float input straight into a layer (no input quantizer)"
    if "AveragePool" in ops or "GlobalAveragePool" in ops:
        return "E average pooling then a quantizer"
    layer = next((w for w in words if w.startswith(("MatMul", "Gemm", "Conv"))), "")
    if "npo2" in layer:
        return "C quantizer after a layer with non-power-of-two weights or bias"
    if "Add" in ops and sig.startswith("[") or "]>Add" in sig:
        return "G quantizer after a residual Add of two branches"
    return "D quantizer after a power-of-two layer and float ops (BN, float bias or constant, LeakyRelu, Clip)"
