"""``fmlc sweep``: the command line of design-space sweeps.

    fmlc sweep MODEL [MODEL ...] -g GRID.yaml -o DIR [-c CONFIG.yaml] [--input X.npy]
               [--labels Y.npy] [--scheduler ADDRESS | --workers N] [--format parquet|csv]
               [--retry-failed] [--connect-timeout S] [--no-progress]
"""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    """Add the ``sweep`` command to ``fmlc``'s argparse subparsers."""
    p = subparsers.add_parser(
        "sweep",
        help="compile models over a grid of options on Dask; results, Pareto plot and summary in a folder",
        description="Evaluate every point of a grid of compile options for each model (compile, emulate on the data, "
        "measure the target's cost), on an embedded Dask LocalCluster or an existing cluster. Points already in DIR "
        "are skipped, so an interrupted sweep resumes.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="ONNX/QONNX model files")
    p.add_argument("-g", "--grid", required=True, help="YAML grid: options with lists of values (see docs/sweep.md)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="results folder (results.parquet or .csv, pareto.png, summary.md)")
    p.add_argument("-c", "--config", help="YAML configuration every point starts from (the grid overrides it)")
    p.add_argument("--input", action="append", default=[], help="float inputs .npy shaped (N, *input_shape); repeat per model input (default: 1000 standard-normal samples)")
    p.add_argument("--labels", help="class labels .npy, (N,) indices or (N, C) one-hot: adds accuracy")
    p.add_argument("--scheduler", metavar="ADDRESS", help="submit to the Dask scheduler at ADDRESS (tcp://HOST:PORT) instead of a local cluster")
    p.add_argument("--workers", type=int, help="worker processes of the local cluster (default: one per core; 0: run in this process, no Dask)")
    p.add_argument("--format", choices=("parquet", "csv"), help="results file format (default parquet when pyarrow is installed, else csv)")
    p.add_argument("--retry-failed", action="store_true", help="evaluate failed points again (e.g. after installing a missing tool)")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S", help="seconds to wait for --scheduler (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> None:
    from fmlc.cli import UserError
    from fmlc.frontend.config import ConfigError, read_config
    from fmlc.sweep.grid import SweepError
    from fmlc.sweep.runner import connect, local_cluster, plan_sweep, prepare_folder, run_sweep

    if args.workers is not None and args.workers < 0:
        raise UserError(f"--workers must be >= 0, got {args.workers}")
    if not args.connect_timeout > 0:
        raise UserError(f"--connect-timeout must be a positive number of seconds, got {args.connect_timeout}")
    if args.scheduler and args.workers is not None:
        raise UserError("--workers sizes the local cluster; with --scheduler the cluster has its own workers")
    try:
        config = read_config(args.config) if args.config else {}
    except ConfigError as err:
        raise UserError(str(err)) from None
    client = None
    try:
        plan = plan_sweep(args.models, args.grid, config, args.input, args.labels)
        prepare_folder(args.output, args.format)
        if args.scheduler:
            client = connect(args.scheduler, args.connect_timeout)
        elif args.workers != 0:
            client = local_cluster(args.workers)
        where = "this process" if client is None else (args.scheduler or f"a local cluster of {len(client.scheduler_info()['workers'])} workers")
        print(f"fmlc: sweep: {len(plan.tasks)} points ({len(plan.models)} model(s) x {len(plan.grid.points)}) on {where}", file=sys.stderr)
        outcome = run_sweep(plan, args.output, client, args.format, args.retry_failed, progress=not args.no_progress)
    except SweepError as err:
        raise UserError(str(err)) from None
    finally:
        if client is not None:
            _close(client, own_cluster=not args.scheduler)
    print(
        f"fmlc: sweep: {outcome.evaluated} evaluated ({outcome.failed} failed), {outcome.skipped} already done; "
        f"results in {args.output}",
        file=sys.stderr,
    )


def _close(client, own_cluster: bool) -> None:
    cluster = client.cluster if own_cluster else None
    client.close()
    if cluster is not None:
        cluster.close()
