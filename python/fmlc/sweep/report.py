"""Pareto fronts of a sweep: ``pareto.png`` (cost against quality per model and target) and
``summary.md`` (each front as a table, then the failed points).

Quality is ``accuracy`` when the sweep had labels, else ``fidelity`` (see fmlc.sweep.quality);
cost is the target's headline metric (``fmlc.sweep.cost.COST_METRIC``).  A point is on the
front when no other point of its model and target is at most as costly and at least as good,
and strictly better in one of the two.  Both files depend only on the records (not on timings
or on the order points finished), so the same results give the same bytes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from fmlc.sweep.cost import COST_METRIC
from fmlc.sweep.store import write_atomic


def quality_metric(records: list[dict]) -> str:
    return "accuracy" if any(r.get("accuracy") is not None for r in records) else "fidelity"


def groups(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Successful points with both metrics, per (model, target), sorted by key."""
    quality = quality_metric(records)
    out: dict[tuple[str, str], list[dict]] = {}
    for r in sorted(records, key=lambda r: r["key"]):
        cost = COST_METRIC.get(r.get("target"), (None,))[0]
        if r.get("status") == "ok" and cost and r.get(cost) is not None and r.get(quality) is not None:
            out.setdefault((r["model"], r["target"]), []).append(r)
    return dict(sorted(out.items()))


def pareto_front(points: list[dict], cost: str, quality: str) -> list[dict]:
    """Non-dominated points, by increasing cost (ties keep the first by key)."""
    ordered = sorted(points, key=lambda r: (r[cost], -r[quality], r["key"]))
    front, best = [], None
    for r in ordered:
        if best is None or r[quality] > best:
            front.append(r)
            best = r[quality]
    return front


def write_reports(folder: Path, records: list[dict]) -> None:
    """``pareto.png`` and ``summary.md`` in ``folder``, each written atomically."""
    write_atomic(Path(folder) / "summary.md", summary(records).encode())
    write_atomic(Path(folder) / "pareto.png", plot(records))


def plot(records: list[dict]) -> bytes:
    """The PNG: one panel per target, one colour per model, the front as a step line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    quality = quality_metric(records)
    by_group = groups(records)
    targets = sorted({t for _, t in by_group}) or ["(no results)"]
    models = sorted({m for m, _ in by_group})
    fig = Figure(figsize=(4.2 * len(targets), 3.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(targets), squeeze=False)[0]
    colours = {m: f"C{k % 10}" for k, m in enumerate(models)}
    for ax, target in zip(axes, targets):
        cost, label = COST_METRIC.get(target, ("", ""))
        for (model, t), points in by_group.items():
            if t != target:
                continue
            front = pareto_front(points, cost, quality)
            ax.scatter([r[cost] for r in points], [r[quality] for r in points], s=14, alpha=0.45, color=colours[model])
            ax.step([r[cost] for r in front], [r[quality] for r in front], where="post", marker="o", ms=4, color=colours[model], label=model)
        ax.set_title(target)
        ax.set_xlabel(label)
        ax.set_ylabel(quality)
        ax.grid(True, alpha=0.3)
        if models:
            ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def summary(records: list[dict]) -> str:
    quality = quality_metric(records)
    ok = sum(r.get("status") == "ok" for r in records)
    failed = [r for r in records if r.get("status") != "ok"]
    samples = sorted({r["samples"] for r in records if r.get("samples") is not None})
    lines = [
        "# fmlc sweep",
        "",
        f"{len(records)} points: {ok} ok, {len(failed)} failed.",
        f"Quality: {quality} ({'share of labels predicted' if quality == 'accuracy' else 'share of samples whose class agrees with the model as exported'}"
        + (f", {', '.join(map(str, samples))} samples" if samples else "")
        + ").",
        "",
    ]
    for (model, target), points in groups(records).items():
        cost, label = COST_METRIC[target]
        front = pareto_front(points, cost, quality)
        settings = _swept([json.loads(r["settings"]) for r in points])
        metrics = [m for m in _target_columns(target) if any(r.get(m) is not None for r in front)]
        lines += [f"## {model} on {target}: Pareto front of {label} against {quality}", ""]
        header = settings + metrics + [quality]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for r in front:
            s = json.loads(r["settings"])
            cells = [_fmt(s.get(n)) for n in settings] + [_fmt(r.get(m)) for m in metrics] + [_fmt(r.get(quality))]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"{len(front)} of {len(points)} points on the front.", ""]
    if failed:
        lines += ["## Failed points", "", "| model | target | settings | error |", "|---|---|---|---|"]
        for r in sorted(failed, key=lambda r: (r["model"], r["target"], r["key"])):
            err = (r.get("error") or r.get("status") or "").splitlines()[0].replace("|", "\\|")[:300]
            lines.append(f"| {r['model']} | {r['target']} | `{r['settings']}` | {err} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _swept(settings: list[dict]) -> list[str]:
    names = sorted({n for s in settings for n in s})
    return [n for n in names if len({json.dumps(s.get(n), default=str) for s in settings}) > 1]


def _target_columns(target: str) -> list[str]:
    return {
        "verilog": ["lut", "ff", "carry", "dsp", "depth", "depth_ns", "latency_cycles"],
        "hls": ["dsp_estimate", "mults", "latency_cycles", "ii"],
        "cuda": ["registers", "smem_bytes", "spill_bytes"],
    }.get(target, [])


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)
