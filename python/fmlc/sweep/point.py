"""One point of a sweep, evaluated where it runs (a Dask worker or this process).

``evaluate_point(task, model)`` imports the model from its bytes with the point's
configuration, runs the emulator on the sweep's inputs (accuracy, fidelity), compiles it for
the point's target in a private temporary folder, measures the cost, and returns a plain
record (a dict of strings, numbers, booleans and None).  It never raises for a point that
fails: the record says ``status: failed`` and why, and the sweep goes on.  A point reads
nothing but its arguments and writes only its own temporary folder, so running it again
(when Dask reschedules it after a worker died) gives the same record.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
import traceback
from pathlib import Path

RECORD_VERSION = 2
"""Bumped when what a record holds changes: part of every point's key."""

QUALITY_FIELDS = ("samples", "accuracy", "fidelity", "max_abs_error")
COST_FIELDS = (
    "lut", "ff", "carry", "dsp", "depth", "depth_ns", "latency_cycles",  # verilog (latency: also hls)
    "ii", "mults", "dsp_estimate",  # hls
    "registers", "smem_bytes", "spill_bytes", "stack_bytes",  # cuda
)  # fmt: skip
TIMING_FIELDS = ("import_s", "emulate_s", "compile_s", "cost_s", "wall_s", "worker")
"""Fields that differ from run to run (durations, where it ran): not part of a point's result."""


def point_key(model_sha256: str, options: dict, config: dict, data_sha256: str) -> str:
    """The key of a point: hash of the model's bytes, what the point computes, the data, fmlc's version."""
    from fmlc import __version__

    text = json.dumps(
        {"model": model_sha256, "options": options, "config": config, "data": data_sha256, "fmlc": __version__, "record": RECORD_VERSION},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def blank_record(task: dict) -> dict:
    """The record of a task before it runs: identity and option columns, every result empty."""
    from fmlc import __version__

    record = {
        "key": task["key"],
        "model": task["model"],
        "model_sha256": task["model_sha256"],
        "fmlc_version": __version__,
        "target": task["options"]["target"],
        "settings": json.dumps(task["settings"], sort_keys=True, default=str),
        "status": "pending",
        "error": None,
    }
    for name, value in sorted(task["settings"].items()):
        if name not in record:
            record[name] = value if isinstance(value, str | int | float | bool) or value is None else json.dumps(value)
    for name in QUALITY_FIELDS + COST_FIELDS + TIMING_FIELDS:
        record[name] = None
    return record


def evaluate_point(task: dict, model: dict) -> dict:
    """Evaluate one point (see the module's docstring); ``model`` holds the model's bytes, the
    inputs, the labels and the exported model's outputs on them."""
    from fmlc.driver import CompileOptions, compile_model, resolve
    from fmlc.emulator import Emulator
    from fmlc.frontend.onnx_import import import_model
    from fmlc.sweep.cost import measure_cost
    from fmlc.sweep.quality import measure

    record = blank_record(task)
    record["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="fmlc-sweep-") as tmp:
            path = Path(tmp) / f"{task['model']}.onnx"
            path.write_bytes(model["bytes"])
            t0 = time.perf_counter()
            module = resolve(import_model(path, task["config"]))
            record["import_s"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            outputs = Emulator(module).run(*model["inputs"])
            record["samples"] = len(model["inputs"][0])
            record.update(measure(outputs[0], model.get("labels"), model.get("reference")))
            record["emulate_s"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            options = CompileOptions(**task["options"], name=task["model"])
            out = compile_model(module, Path(tmp) / "out", options)
            record["compile_s"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            record.update(measure_cost(out, task["options"]))
            record["cost_s"] = time.perf_counter() - t0
        record["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - a failing point is a result, the sweep goes on
        record["status"] = "failed"
        record["error"] = describe_error(err)
    record["wall_s"] = time.perf_counter() - start
    return record


def describe_error(err: BaseException) -> str:
    """One line for the results (the type and message), plus where for an internal error."""
    from fmlc.driver import CompileError
    from fmlc.frontend import ModelImportError
    from fmlc.toolchain import ToolchainError

    text = f"{type(err).__name__}: {err}".strip()
    if not isinstance(err, CompileError | ModelImportError | ToolchainError | ValueError):
        frame = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
        text += "".join(f" (at {Path(f.filename).name}:{f.lineno})" for f in frame)
    return text[:4000]


def worker_info() -> dict:
    """What a worker runs (checked before a sweep is submitted to a cluster)."""
    from fmlc import __version__

    return {"fmlc": __version__, "host": socket.gethostname(), "pid": os.getpid()}
