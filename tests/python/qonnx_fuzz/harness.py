"""Run a fuzz case through fmlc and through QONNX's ``execute_onnx``, and classify the result.

- ``exact``: every output element equal (float64 ``==``);
- ``bounded-ok``: differences only within the bound the importer states for that output
  (``import_model_with_report``'s ``report.outputs[name].max_abs``);
- ``violation``: a difference beyond the stated bound, or any difference with no stated bound;
- ``refused``: ``ModelImportError`` (the message is kept);
- ``crash``: any other exception (type and message kept);
- ``invalid``: the reference itself cannot run the graph (a fuzzer bug, never fmlc's).

The importer's report is optional: without ``fmlc.frontend.onnx_import.import_model_with_report``
every difference is a violation.

The reference is execute_onnx on the model as exporters write it, batch 1.  For speed it runs
all samples in one batch first; onnxruntime's MatMul/Gemm round float32 sums differently on one
row than on many (a fused multiply-add chain on a batch, another kernel on one row), so every
sample where fmlc disagrees with the batched result is run again alone and fmlc is held to that.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import re
import tempfile
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
import onnx

from qonnx_fuzz.generate import FuzzCase

STATUSES = ("exact", "bounded-ok", "violation", "refused", "crash", "invalid")


@dataclass
class CaseResult:
    seed: int
    description: str
    status: str
    detail: str = ""
    n_elements: int = 0
    n_diff: int = 0
    batch_sensitive: int = 0
    """Samples where execute_onnx on one sample differs from execute_onnx on the batch."""
    n_code_diff: int | None = None
    """For Quant outputs: elements whose integer codes differ (the rest differ only in the
    float value of the same code)."""
    max_abs_diff: float = 0.0
    hows: collections.Counter = field(default_factory=collections.Counter)
    bounds: dict = field(default_factory=dict)
    tags: set = field(default_factory=set)
    seconds_fmlc: float = 0.0
    seconds_ref: float = 0.0

    def line(self) -> str:
        extra = f" {self.n_diff}/{self.n_elements} differ, max |d|={self.max_abs_diff:.4g}" if self.n_diff else ""
        if self.n_diff and self.n_code_diff is not None:
            extra += f" ({self.n_code_diff} in the integer code)"
        if self.batch_sensitive:
            extra += f" [reference rerun one sample at a time: {self.batch_sensitive} samples changed]"
        return f"seed {self.seed}: {self.status}{extra} {self.detail} :: {self.description}"


# Python's own error texts: a refusal carrying one is an internal error behind a ModelImportError
INTERNAL_ERROR_WORDS = re.compile(
    r"object has no attribute|too large to convert|division by zero|negative dimensions|window shape|"
    r"cannot be broadcast|could not be broadcast|index \d+ is out of bounds|unsupported operand|NoneType|"
    r"list index out of range|not subscriptable|unhashable|takes \d+ positional",
)


def looks_internal(message: str) -> bool:
    """Whether a refusal's message is a leaked Python error rather than a reason."""
    return bool(INTERNAL_ERROR_WORDS.search(message))


# ------------------------------------------------------------------------------ reference


def reference_outputs(case: FuzzCase, x: np.ndarray | None = None, chunk: int | None = None) -> list[np.ndarray]:
    """QONNX's execute_onnx on the model, ``chunk`` samples per call (all at once by default)."""
    import onnxruntime
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    onnxruntime.set_default_logger_severity(3)  # QONNX's channels-last ops warn about opsets on every run
    x = case.x if x is None else x
    chunk = chunk or len(x)
    wrappers: dict[int, object] = {}
    parts: list[list[np.ndarray]] = [[] for _ in case.outputs]
    with contextlib.redirect_stdout(io.StringIO()):
        for start in range(0, len(x), chunk):
            xb = x[start : start + chunk]
            if len(xb) not in wrappers:
                wrappers[len(xb)] = ModelWrapper(case.model(batch=len(xb))).transform(InferShapes())
            out = execute_onnx(wrappers[len(xb)], {case.input_name: xb})
            for k, name in enumerate(case.outputs):
                parts[k].append(np.asarray(out[name]))
    return [np.concatenate(p) for p in parts]


# ------------------------------------------------------------------------------ fmlc


def import_with_report(path: str):
    """``(module, report)``; the report is None while the importer does not give one."""
    from fmlc.frontend import onnx_import

    with_report = getattr(onnx_import, "import_model_with_report", None)
    if with_report is not None:
        return with_report(path)
    return onnx_import.import_model(path), None


def fmlc_module(case: FuzzCase):
    """The resolved fxp module of the case (batch-1 model, as exporters write them) and the report."""
    from fmlc.driver import resolve

    fd, path = tempfile.mkstemp(suffix=".onnx", prefix=f"fuzz{case.seed}_")
    os.close(fd)
    try:
        onnx.save(case.model(batch=1), path)
        module, report = import_with_report(path)
    finally:
        os.unlink(path)
    return resolve(module), report


def fmlc_outputs(module, x: np.ndarray) -> list[np.ndarray]:
    from fmlc.emulator import Emulator

    return Emulator(module).run(x)


# ------------------------------------------------------------------------------ classification


def _hows(report) -> collections.Counter:
    c = collections.Counter()
    for entry in getattr(report, "nodes", None) or []:
        c[getattr(entry, "how", "?")] += 1
    return c


def _bound(report, name: str) -> float | None:
    outs = getattr(report, "outputs", None) or {}
    entry = outs.get(name)
    return None if entry is None else float(entry.max_abs)


def compare(case: FuzzCase, got: list[np.ndarray], ref: list[np.ndarray], report) -> CaseResult:
    """Classify fmlc's outputs against the reference's (see the module docstring)."""
    res = CaseResult(case.seed, case.description, "exact", tags=set(case.tags))
    res.hows = _hows(report)
    notes, worst = [], "exact"
    for name, g, r in zip(case.outputs, got, ref):
        g = np.asarray(g, np.float64)
        r = np.asarray(r, np.float64)
        if g.size != r.size:
            res.status = "crash"
            res.detail = f"output '{name}': fmlc gives {g.shape[1:]} per sample, the reference {r.shape[1:]}"
            return res
        if g.shape != r.shape:
            notes.append(f"output '{name}' shaped {g.shape[1:]} by fmlc, {r.shape[1:]} by the reference")
            g = g.reshape(r.shape)
        diff = g != r
        res.n_elements += r.size
        if not diff.any():
            continue
        d = np.abs(g - r)
        res.n_diff += int(diff.sum())
        res.max_abs_diff = max(res.max_abs_diff, float(np.nanmax(np.where(diff, d, 0))))
        step = case.output_step(name)
        if step is not None:
            s, z = (np.asarray(a, np.float64) for a in step)
            codes_differ = np.round(g / s + z) != np.round(r / s + z)
            res.n_code_diff = (res.n_code_diff or 0) + int(codes_differ.sum())
        bound = _bound(report, name)
        res.bounds[name] = bound
        first = tuple(int(i) for i in np.argwhere(diff)[0])
        sample = case.x[first[0]].ravel()
        where = f"{name}{list(first)}: fmlc {g[first]!r} ref {r[first]!r}"
        if bound is None or bound == 0.0 or not (np.nanmax(np.where(diff, d, 0)) <= bound):
            worst = "violation"
            stated = "no stated bound" if bound is None else f"stated bound {bound:g}"
            notes.append(f"{where} ({stated}); sample input starts {np.array2string(sample[:4], precision=9)}")
        elif worst == "exact":
            worst = "bounded-ok"
    res.status = worst
    res.detail = "; ".join(notes)
    return res


def check_case(case: FuzzCase) -> CaseResult:
    """fmlc and the reference on the case's inputs, classified."""
    from fmlc.frontend import ModelImportError

    t0 = time.perf_counter()
    try:
        module, report = fmlc_module(case)
        got = fmlc_outputs(module, case.x)
    except ModelImportError as err:
        res = CaseResult(case.seed, case.description, "refused", detail=str(err), tags=set(case.tags))
        res.seconds_fmlc = time.perf_counter() - t0
        return res
    except Exception as err:  # noqa: BLE001 - every other failure is a crash, recorded with where it happened
        tb = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{os.path.basename(tb.filename)}:{tb.lineno}"
        res = CaseResult(case.seed, case.description, "crash", detail=f"{type(err).__name__}: {err} [{where}]", tags=set(case.tags))
        res.seconds_fmlc = time.perf_counter() - t0
        return res
    grid = (getattr(report, "inputs", None) or {}).get(case.input_name)
    if grid is not None:
        # the model does not quantize its input: fmlc's guarantees hold on the input type's grid,
        # so both sides get inputs on it (fmlc's own cast of the float inputs)
        from fmlc import fixed

        fmt = fixed.FixedFormat.parse(grid)
        case.x = fixed.to_float(fixed.from_float(case.x.astype(np.float64), fmt), fmt.frac).astype(np.float32)
        got = fmlc_outputs(module, case.x)
    t1 = time.perf_counter()
    try:
        ref = reference_outputs(case)
    except Exception as err:  # noqa: BLE001 - the generator made a graph QONNX cannot run: a fuzzer bug
        return CaseResult(case.seed, case.description, "invalid", detail=f"execute_onnx: {type(err).__name__}: {err}"[:500], tags=set(case.tags))
    res = compare(case, got, ref, report)
    if res.status == "violation":
        ref, sensitive = _one_sample_at_a_time(case, got, ref, report)
        if sensitive:
            res = compare(case, got, ref, report)
            res.batch_sensitive = sensitive
    res.seconds_fmlc, res.seconds_ref = t1 - t0, time.perf_counter() - t1
    return res


SINGLE_RERUNS = 8


def _beyond_bound(case: FuzzCase, got, ref, report) -> np.ndarray:
    """Per sample: does any output element differ by more than the stated bound (0 if none)?"""
    bad = np.zeros(len(case.x), bool)
    for name, g, r in zip(case.outputs, got, ref):
        r = np.asarray(r, np.float64)
        g = np.asarray(g, np.float64).reshape(r.shape)
        bound = _bound(report, name) or 0.0
        over = (np.abs(g - r) > bound) | ((g != r) & (bound == 0.0))
        bad |= over.reshape(len(r), -1).any(axis=1)
    return bad


def _one_sample_at_a_time(case: FuzzCase, got, ref, report):
    """execute_onnx on one sample (the exported batch of 1) can round float32 sums differently
    from a batch (onnxruntime's MatMul/Gemm take another kernel), so every sample where fmlc
    disagrees with the batched reference is run again alone, and fmlc is held to that result:
    first ``SINGLE_RERUNS`` of them, then all when those all change.  Returns the reference and
    how many samples changed."""
    bad = np.flatnonzero(_beyond_bound(case, got, ref, report))
    ref = [np.array(r, copy=True) for r in ref]
    changed, done = 0, 0
    for part in (bad[:SINGLE_RERUNS], bad[SINGLE_RERUNS:]):
        if not len(part) or (done and changed < done):
            break
        single = reference_outputs(case, case.x[part], chunk=1)
        moved = np.zeros(len(part), bool)
        for k, sv in enumerate(single):
            moved |= (ref[k][part] != sv).reshape(len(part), -1).any(axis=1)
            ref[k][part] = sv
        changed += int(moved.sum())
        done += len(part)
    return ref, changed


# ------------------------------------------------------------------------------ localizing a difference


def first_difference(case: FuzzCase, quantizers_only: bool = False) -> tuple[str, CaseResult] | None:
    """The first runtime tensor after a quantizer, in graph order, where fmlc and the reference
    differ: the graph is cut there (that tensor made its output) and both run again.  Returns (``op name: tensor``,
    its result), or None when every cut agrees.  For the findings, not for the suite (slow)."""
    import dataclasses

    runtime, quantized = {case.input_name}, set()
    for node in case.builder.nodes:
        if node.op_type in ("Quant", "BipolarQuant") or quantized.intersection(node.input):
            quantized.update(node.output)  # weights through a quantizer count: they make a layer
        if not runtime.intersection(node.input):
            continue
        runtime.update(node.output)
        if not quantized.intersection(node.output):
            continue  # float pre-processing: fmlc folds it into the input quantizer
        if node.op_type in ("Shape", "Gather", "Unsqueeze", "Concat") and case.builder.val[node.output[0]].dtype.kind in "iu":
            continue
        if quantizers_only and node.op_type not in ("Quant", "BipolarQuant"):
            continue
        sub = dataclasses.replace(case, outputs=[node.output[0]])
        res = check_case(sub)
        if res.status != "exact":
            return f"{node.op_type} {node.name} -> {node.output[0]}", res
    return None


def batching_agrees(case: FuzzCase, samples: int = 8) -> bool:
    """Whether execute_onnx gives the same bits on a batch as one sample at a time (the graph's
    exported batch is 1; the harness runs many samples per call for speed)."""
    x = case.x[:samples]
    batched = reference_outputs(case, x)
    single = reference_outputs(case, x, chunk=1)
    return all(np.array_equal(a, b) for a, b in zip(batched, single))
