#!/usr/bin/env python3
"""``fmlc sweep`` serially and on a local Dask cluster: the same sweep, the same records, wall time.

The sweep is the README's: 16 Verilog designs of ``examples/jet_mlp_qonnx.onnx`` (input
precision x adders per stage, ``examples/sweep_grid.yaml``), each compiled, emulated on 1000
samples and synthesized with Yosys (``synth_xilinx -flatten -nodsp``).  It runs twice through
the command line, into fresh folders: ``--workers 0`` (every point in one process, one after
another) and ``--workers N`` (an embedded LocalCluster of N worker processes; its start-up is
counted).  The records must agree except for durations; the table gives both wall times and
their ratio (target on 2 cores: at most 0.6).

    nice python bench/sweep_dask.py [--workers 2] [--model M.onnx] [--grid G.yaml]
                                    [--plot docs/sweep_pareto.png] [--keep DIR]

A point is about 70 CPU-seconds of Yosys (0.23): the whole run takes about 30 minutes on 2
quiet cores, far longer on a loaded machine (the script prints the load average; compare the
two runs only when it stays low).  ``--grid`` with an HLS grid checks the machinery in
seconds (no Yosys).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep(model: Path, grid: Path, out: Path, workers: int) -> float:
    cmd = [sys.executable, "-m", "fmlc.cli", "sweep", str(model), "-g", str(grid), "-o", str(out), "--workers", str(workers), "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", type=Path, default=ROOT / "examples" / "jet_mlp_qonnx.onnx")
    parser.add_argument("--grid", type=Path, default=ROOT / "examples" / "sweep_grid.yaml")
    parser.add_argument("--plot", type=Path, help="copy the Dask run's pareto.png here (the README's figure)")
    parser.add_argument("--keep", type=Path, help="keep both result folders under this folder")
    args = parser.parse_args()

    from fmlc.sweep.point import TIMING_FIELDS
    from fmlc.sweep.store import read_records

    work = Path(tempfile.mkdtemp(prefix="fmlc-bench-sweep-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    print(f"model {args.model.name}, grid {args.grid.name}, {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    walls, records = {}, {}
    for mode, workers in (("serial (--workers 0)", 0), (f"Dask LocalCluster, {args.workers} workers", args.workers)):
        out = work / f"workers{workers}"
        shutil.rmtree(out, ignore_errors=True)
        walls[mode] = sweep(args.model, args.grid, out, workers)
        fmt = "parquet" if (out / "results.parquet").exists() else "csv"
        records[mode] = read_records(out / f"results.{fmt}")
        print(f"  {mode}: {walls[mode]:.1f} s (load average {os.getloadavg()[0]:.2f})", flush=True)
    (serial, s_recs), (parallel, p_recs) = records.items()

    def stable(rs):
        return {r["key"]: {k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rs}

    same = stable(s_recs) == stable(p_recs)
    failed = sum(r["status"] != "ok" for r in p_recs)
    point_s = [r["wall_s"] for r in s_recs if r["wall_s"] is not None]
    print()
    print(f"{'run':<34}{'points':>8}{'failed':>8}{'wall s':>10}{'ratio':>8}")
    for mode, rs in records.items():
        print(f"{mode:<34}{len(rs):>8}{sum(r['status'] != 'ok' for r in rs):>8}{walls[mode]:>10.1f}{walls[mode] / walls[serial]:>8.2f}")
    print()
    print(f"mean point (serial): {sum(point_s) / max(1, len(point_s)):.1f} s; records identical but for durations: {same}")
    ratio = walls[parallel] / walls[serial]
    print(f"{args.workers} workers / serial = {ratio:.2f} (target <= 0.60): {'met' if ratio <= 0.6 else 'NOT met'}")
    if args.plot:
        shutil.copy(work / f"workers{args.workers}" / "pareto.png", args.plot)
        print(f"wrote {args.plot}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    if not same or failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
