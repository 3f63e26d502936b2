"""Design-space sweeps: many models times a grid of compile options, on Dask.

``fmlc sweep MODEL... -g GRID.yaml -o DIR`` (``fmlc.sweep.cli``) or, from Python::

    from fmlc.sweep import plan_sweep, run_sweep

    plan = plan_sweep(["model.onnx"], "grid.yaml", inputs=["x.npy"], labels="y.npy")
    outcome = run_sweep(plan, "sweep_out", client)   # any distributed.Client; None: in this process

- ``grid``: the grid file, checked and expanded into points;
- ``point``: one point on a worker (import, emulate, compile, measure) into a plain record;
- ``quality`` and ``cost``: what a point is worth and what it costs;
- ``store``: the results file, written atomically as records arrive;
- ``runner``: planning, the Dask submission, resuming;
- ``report``: the Pareto fronts (``pareto.png``, ``summary.md``).

Dask, pyarrow, matplotlib and tqdm come with ``pip install fmlc[sweep]``; nothing here imports
them until a sweep runs.  See docs/sweep.md.
"""

from fmlc.sweep.grid import SweepError
from fmlc.sweep.runner import plan_sweep, run_sweep

__all__ = ["SweepError", "plan_sweep", "run_sweep"]
