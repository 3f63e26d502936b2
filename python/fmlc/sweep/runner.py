"""Planning and running a sweep: in this process, on an embedded Dask ``LocalCluster``, or on
any Dask cluster a ``distributed.Client`` reaches.

``plan_sweep`` checks everything before anything runs or is written (grid, models, data), so
bad input fails fast and leaves nothing behind.  ``run_sweep`` skips the points whose records
already stand in the folder, submits the rest, and streams each record into the store as it
arrives.

On Dask, each model (its bytes, the inputs, the labels and the exported model's outputs on
them) is one small task result every point of that model depends on: it is a task, not
scattered data, so when the worker holding it dies the scheduler recomputes it, and a point
that was running on that worker is simply run again (points are idempotent).
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fmlc.sweep.grid import Grid, SweepError, read_grid
from fmlc.sweep.point import blank_record, evaluate_point, point_key, worker_info
from fmlc.sweep.quality import check_labels, load_npy, reference_outputs
from fmlc.sweep.store import FORMATS, LOCK_FILE, ResultStore, existing_format, folder_lock, have_parquet, remove_stale_temporaries

RANDOM_SAMPLES = 1000
"""Samples drawn (standard normal, seed 0) per model when no --input is given."""

CONNECT_TIMEOUT = 10.0


@dataclass
class ModelSpec:
    name: str
    """Identifier from the file name: the compiled top's name, the records' model column."""
    path: Path
    data: bytes
    sha256: str
    input_shapes: list[tuple[int, ...]]


@dataclass
class SweepPlan:
    models: list[ModelSpec]
    grid: Grid
    inputs: list[np.ndarray] | None
    labels: np.ndarray | None
    tasks: list[dict] = field(default_factory=list)


@dataclass
class SweepOutcome:
    total: int
    skipped: int
    """Points whose records were already in the folder (not evaluated again)."""
    evaluated: int
    failed: int
    records: list[dict]


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------


def plan_sweep(
    models: Sequence[str | Path],
    grid: str | Path,
    config: dict | None = None,
    inputs: Sequence[str | Path | np.ndarray] = (),
    labels: str | Path | np.ndarray | None = None,
) -> SweepPlan:
    """Read and check a sweep's models, grid and data; raises SweepError naming what is wrong."""
    the_grid = read_grid(grid, config)
    xs = [check_inputs(load_npy(x) if isinstance(x, str | Path) else np.asarray(x), x) for x in inputs] or None
    if xs is not None and len({len(x) for x in xs}) != 1:
        raise SweepError(f"the inputs hold different numbers of samples: {[len(x) for x in xs]}")
    ys = None
    if labels is not None:
        if xs is None:
            raise SweepError("--labels needs --input (the samples the labels belong to)")
        ys = check_labels(load_npy(labels) if isinstance(labels, str | Path) else np.asarray(labels), labels, len(xs[0]))
    specs = [load_model(m, config or {}) for m in models]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SweepError(f"two models have the same name {sorted(n for n in names if names.count(n) > 1)[0]!r}: rename one file")
    for spec in specs:
        if xs is not None:
            if len(xs) != len(spec.input_shapes):
                raise SweepError(f"{spec.path}: the model takes {len(spec.input_shapes)} input(s), --input gives {len(xs)}")
            for k, (x, shape) in enumerate(zip(xs, spec.input_shapes)):
                if tuple(x.shape[1:]) != shape:
                    raise SweepError(f"{spec.path}: input #{k} must be shaped (N, {', '.join(map(str, shape))}), got {x.shape}")
    plan = SweepPlan(specs, the_grid, xs, ys)
    for spec in specs:
        data_sha = _digest(model_inputs(spec, xs), ys)
        for point in the_grid.points:
            options = dict(point.options)
            plan.tasks.append(
                {
                    "key": point_key(spec.sha256, options | {"name": spec.name}, point.config, data_sha),
                    "model": spec.name,
                    "model_sha256": spec.sha256,
                    "options": options,
                    "config": point.config,
                    "settings": point.settings,
                }
            )
    return plan


def check_inputs(x: np.ndarray, where) -> np.ndarray:
    shown = where if isinstance(where, str | Path) else "an input array"
    if x.ndim < 2 or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise SweepError(f"{shown}: inputs are real numbers shaped (N, *input_shape), got {x.dtype} {x.shape}")
    if not np.isfinite(x).all():
        raise SweepError(f"{shown}: the inputs hold NaN or infinite values")
    return x


def load_model(path: str | Path, config: dict) -> ModelSpec:
    """Read a model file and import it once here, so one that does not import stops the sweep now."""
    from fmlc.dialects.fxp import shape_of
    from fmlc.frontend import ModelImportError
    from fmlc.frontend.config import ConfigError
    from fmlc.frontend.onnx_import import import_model
    from fmlc.ir import main_function

    p = Path(path)
    if not p.is_file():
        raise SweepError(f"{path}: no such model file")
    try:
        module = import_model(p, config)
    except (ModelImportError, ConfigError) as err:
        raise SweepError(f"{path}: the model does not import: {err}") from None
    data = p.read_bytes()
    shapes = [tuple(shape_of(a)) for a in main_function(module).body.block.args]
    return ModelSpec(_identifier(p.stem), p, data, hashlib.sha256(data).hexdigest(), shapes)


def model_inputs(spec: ModelSpec, inputs: list[np.ndarray] | None) -> list[np.ndarray]:
    """The sweep's inputs, or seeded standard-normal samples shaped for the model."""
    if inputs is not None:
        return inputs
    rng = np.random.default_rng(0)
    return [rng.standard_normal((RANDOM_SAMPLES, *shape)).astype(np.float32) for shape in spec.input_shapes]


def model_payload(spec: ModelSpec, inputs: list[np.ndarray] | None, labels: np.ndarray | None) -> dict:
    """What every point of a model needs: bytes, inputs, labels, the exported model's outputs."""
    xs = model_inputs(spec, inputs)
    payload = {"bytes": spec.data, "inputs": xs, "labels": labels, "reference": None}
    try:
        payload["reference"] = reference_outputs(spec.data, xs)
    except Exception as err:  # noqa: BLE001 - fidelity is then unknown, the sweep goes on
        print(f"fmlc: sweep: {spec.name}: the exported model does not run in QONNX's executor ({str(err).splitlines()[0][:200]}): fidelity is not measured", file=sys.stderr)
    return payload


def _digest(xs: list[np.ndarray], labels: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in xs + ([labels] if labels is not None else []):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _identifier(stem: str) -> str:
    name = re.sub(r"\W", "_", stem)
    return name if name and not name[0].isdigit() else f"m_{name}"


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------


def prepare_folder(out: Path, fmt: str | None) -> str:
    """The results format for ``out``: that of the results already there, else ``fmt``
    (default parquet when pyarrow is installed, else csv).  Checks, creates nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SweepError(f"{out} exists and is not a folder")
    found = existing_format(out) if out.is_dir() else None
    if out.is_dir() and found is None and any(p for p in out.iterdir() if p.name not in ("pareto.png", "summary.md", LOCK_FILE)):
        raise SweepError(f"{out} exists and holds no sweep results: choose an empty or new folder")
    if found and fmt and fmt != found:
        raise SweepError(f"{out} holds results.{found}: resume it with --format {found} (or use another folder)")
    fmt = found or fmt or ("parquet" if have_parquet() else "csv")
    if fmt not in FORMATS:
        raise SweepError(f"unknown results format '{fmt}': choose one of {', '.join(FORMATS)}")
    if fmt == "parquet" and not have_parquet():
        raise SweepError("parquet results need pyarrow: `pip install fmlc[sweep]`, or --format csv")
    return fmt


def connect(address: str, timeout: float = CONNECT_TIMEOUT):
    """A client of the Dask scheduler at ``address``, or a SweepError within ``timeout`` seconds."""
    try:
        from distributed import Client
    except ImportError:
        raise SweepError("sweeps on Dask need `pip install fmlc[sweep]` (dask, distributed)") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        raise SweepError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({err})") from None


def local_cluster(workers: int | None):
    """An embedded LocalCluster: ``workers`` processes (default one per core), one thread each."""
    import logging
    import os

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("sweeps on Dask need `pip install fmlc[sweep]` (dask, distributed); --workers 0 runs in this process") from None
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster)


def check_workers(client) -> None:
    """Every connected worker imports the same fmlc as this process."""
    from fmlc import __version__

    try:
        infos = client.run(worker_info)
    except Exception as err:  # noqa: BLE001 - e.g. fmlc missing on the workers
        raise SweepError(f"the Dask workers cannot run fmlc ({type(err).__name__}: {err}): `pip install fmlc=={__version__}` on them") from None
    wrong = {addr: i["fmlc"] for addr, i in infos.items() if i["fmlc"] != __version__}
    if wrong:
        raise SweepError(f"Dask workers run another fmlc version than this one ({__version__}): {wrong}")


def run_sweep(
    plan: SweepPlan,
    out: str | Path,
    client=None,
    fmt: str | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    on_record: Callable[[dict], None] | None = None,
) -> SweepOutcome:
    """Evaluate the plan's pending points into ``out``; ``client`` is a ``distributed.Client``
    (None: in this process, one point after another).  Writes results, ``pareto.png`` and
    ``summary.md``, also when interrupted (then re-raises)."""
    from fmlc.sweep.report import write_reports

    out = Path(out)
    fmt = prepare_folder(out, fmt)
    if client is not None:
        check_workers(client)
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):
        remove_stale_temporaries(out)
        store = ResultStore(out, fmt)
        done = store.done(retry_failed)
        pending = [t for t in plan.tasks if t["key"] not in done]
        recorder = _Recorder(store, _progress(len(plan.tasks), len(plan.tasks) - len(pending), progress), on_record)
        try:
            if client is None:
                _run_here(plan, pending, recorder)
            else:
                _run_on_dask(plan, pending, client, recorder)
        finally:
            recorder.close()
            if store.records:
                write_reports(out, list(store.records.values()))
    keys = {t["key"] for t in plan.tasks}
    records = [r for r in store.records.values() if r["key"] in keys]
    return SweepOutcome(len(plan.tasks), len(plan.tasks) - len(pending), recorder.evaluated, recorder.failed, records)


class _Recorder:
    """Takes each finished record: into the store, the progress bar, the caller's hook."""

    def __init__(self, store: ResultStore, bar, on_record: Callable[[dict], None] | None):
        self.store, self.bar, self.on_record = store, bar, on_record
        self.evaluated = self.failed = 0

    def __call__(self, record: dict) -> None:
        self.store.add(record)
        self.evaluated += 1
        self.failed += record["status"] != "ok"
        if self.bar is not None:
            self.bar.set_postfix_str(f"failed {self.failed}", refresh=False)
            self.bar.update(1)
        if self.on_record is not None:
            self.on_record(record)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.store.close()


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="pt", desc="sweep", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _run_here(plan: SweepPlan, pending: list[dict], finish: Callable[[dict], None]) -> None:
    payloads: dict[str, dict] = {}
    by_name = {m.name: m for m in plan.models}
    for task in pending:
        if task["model"] not in payloads:
            payloads[task["model"]] = model_payload(by_name[task["model"]], plan.inputs, plan.labels)
        finish(evaluate_point(task, payloads[task["model"]]))


def _run_on_dask(plan: SweepPlan, pending: list[dict], client, finish: Callable[[dict], None]) -> None:
    from distributed import as_completed

    by_name = {m.name: m for m in plan.models}
    models = {}
    futures = {}
    try:
        for task in pending:
            name = task["model"]
            if name not in models:
                # computed on a worker, so it is recomputed there if that worker dies
                models[name] = client.submit(model_payload, by_name[name], plan.inputs, plan.labels, key=f"fmlc-model-{by_name[name].sha256[:16]}-{time.time_ns()}", pure=False)
            fut = client.submit(evaluate_point, task, models[name], key=f"fmlc-point-{task['key']}-{time.time_ns()}", pure=False)
            futures[fut] = task
        for fut in as_completed(list(futures)):
            task = futures.pop(fut)
            try:
                record = fut.result()
            except Exception as err:  # noqa: BLE001 - the cluster lost it (KilledWorker...): rerun next time
                record = blank_record(task)
                record["status"] = "lost"
                record["error"] = f"{type(err).__name__}: {err}"[:4000]
            fut.release()
            finish(record)
    finally:
        if futures:
            client.cancel(list(futures))
        client.cancel(list(models.values()))
