#!/usr/bin/env python3
"""QONNX differential fuzzing: random Brevitas/QKeras-shaped graphs through fmlc and execute_onnx.

For seeds START..START+N-1 (default 0..4999): how many graphs fmlc computes exactly, within its
stated bound, beyond it (violations), refuses (reasons grouped) or crashes on; how many hit the
importer's cases 2 (tables, thresholds), 3 (bounded) and 4 (refused); the time taken.  With
``--localize`` every violation is cut down to the first quantizer where fmlc and the reference
part, and the violations are grouped by what feeds that quantizer.  With ``--targets K``, K small
imported graphs go through every target (HLS C-sim, Verilator, Icarus, CUDA host path) against
the emulator; with ``--compile K``, K imported graphs (up to 2,000 parameters) are only compiled
for every target, and each compile is sorted into written, refused (a clean ``CompileError``
naming the node) and internal errors (anything else: a lowering's bug, a verifier, an
assertion).  Deterministic for a given seed range.

    python bench/fuzz_qonnx.py [--start 0] [--count 5000] [--samples 64] [--jobs 1]
                               [--small] [--localize] [--targets 50] [--compile 300]
                               [--list 20] [--json out.jsonl]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from qonnx_fuzz import check_case, make_case  # noqa: E402
from qonnx_fuzz.harness import STATUSES, looks_internal  # noqa: E402

CASE_OF_HOW = {"table": 2, "thresholds": 2, "bounded": 3}


def run_seed(job: tuple[int, int, bool, bool]) -> dict:
    seed, samples, small, localize = job
    warnings.filterwarnings("ignore")
    case = make_case(seed, samples, small=small)
    res = check_case(case)
    rec = {
        "seed": seed,
        "status": res.status,
        "description": case.description,
        "detail": res.detail,
        "n_elements": res.n_elements,
        "n_diff": res.n_diff,
        "n_code_diff": res.n_code_diff,
        "max_abs_diff": res.max_abs_diff,
        "batch_sensitive": res.batch_sensitive,
        "hows": dict(res.hows),
        "seconds_fmlc": res.seconds_fmlc,
        "seconds_ref": res.seconds_ref,
    }
    if localize and res.status == "violation":
        from qonnx_fuzz.findings import failure_class
        from qonnx_fuzz.findings import localize as cut

        found = cut(case)
        if found is not None:
            rec["signature"], rec["cut"], sub = found
            rec["class"] = failure_class(found[0])
            rec["cut_line"] = sub.line()
    return rec


def reason(msg: str) -> str:
    """A refusal or crash message without node names and numbers (to group them)."""
    msg = re.sub(r"node '[^']*' ", "", msg)
    msg = re.sub(r"'[^'\s]*'", "'…'", msg)
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", msg)[:150]


def print_fuzz_tables(recs: list[dict], seconds: float, args) -> None:
    n = len(recs)
    status = collections.Counter(r["status"] for r in recs)
    print(f"QONNX fuzz: seeds {args.start}..{args.start + n - 1} ({n} graphs, {args.samples} samples each, "
          f"{'small' if args.small else 'full-size'} graphs), {args.jobs} job(s), {seconds:.1f} s "
          f"({seconds * args.jobs / max(n, 1):.3f} s a graph)")
    print()
    print(f"{'status':<12}{'graphs':>8}{'share':>8}")
    for s in STATUSES:
        print(f"{s:<12}{status[s]:>8}{100 * status[s] / max(n, 1):>7.1f}%")
    print()
    graphs_with = collections.Counter()
    for r in recs:
        graphs_with.update(set(r["hows"]))
    cases = collections.Counter()
    for r in recs:
        cases.update({CASE_OF_HOW[h] for h in r["hows"] if h in CASE_OF_HOW})
    cases[4] = status["refused"]
    print("importer's notes (graphs with at least one node of each kind): "
          + (", ".join(f"{h} {c}" for h, c in sorted(graphs_with.items())) or "none (no import_model_with_report yet)"))
    print(f"issue 9 cases: 2 (tables/thresholds) {cases[2]} graphs, 3 (bounded) {cases[3]}, 4 (refused) {cases[4]}")
    bs = sum(1 for r in recs if r["batch_sensitive"])
    print(f"graphs where execute_onnx on one sample differs from execute_onnx on the batch (samples rerun alone): {bs}")
    t_fmlc = sum(r["seconds_fmlc"] for r in recs)
    t_ref = sum(r["seconds_ref"] for r in recs)
    print(f"time: fmlc (import, resolve, emulate) {t_fmlc:.1f} s, execute_onnx {t_ref:.1f} s")
    internal = [r for r in recs if r["status"] == "refused" and looks_internal(r["detail"])]
    print(f"refusals whose message is a Python error, not a reason (internal errors): {len(internal)}")
    for kind in ("refused", "crash", "invalid"):
        groups = collections.Counter(reason(r["detail"]) for r in recs if r["status"] == kind)
        if groups:
            print(f"\n{kind} by reason:")
            for why, c in groups.most_common():
                print(f"  {c:>6}  {why}")
    vio = [r for r in recs if r["status"] == "violation"]
    if vio:
        codes = sum(1 for r in vio if r["n_code_diff"])
        print(f"\nviolations: {len(vio)} graphs; {codes} with wrong integer codes on a quantized output, "
              f"{sum(1 for r in vio if r['n_code_diff'] == 0)} with right codes but other float values")
        if any("class" in r for r in vio):
            classes = collections.defaultdict(list)
            for r in vio:
                classes[r.get("class", "not localized")].append(r["seed"])
            print("violations by class (first quantizer where fmlc and the reference part):")
            for cls, seeds in sorted(classes.items(), key=lambda kv: -len(kv[1])):
                print(f"  {len(seeds):>6}  {cls}  (seeds {', '.join(map(str, seeds[:8]))}{', ...' if len(seeds) > 8 else ''})")
        if args.list:
            print(f"\nfirst {min(args.list, len(vio))} violations:")
            for r in vio[: args.list]:
                print(f"  seed {r['seed']}: {r['n_diff']}/{r['n_elements']} differ, max |d| {r['max_abs_diff']:.4g}; {r['description']}")
                print(f"      {r['detail'][:300]}")
                if "cut_line" in r:
                    print(f"      first at {r['signature']}: {r['cut_line'][:300]}")


def print_target_table(count: int, small_start: int) -> None:
    from qonnx_fuzz.targets import BACKENDS, check_compiled, check_cuda_host, check_hls_bundled, small_cases

    t0 = time.perf_counter()
    items = small_cases(count, start=small_start, max_size=250)
    print(f"\ntargets against the emulator: {len(items)} small imported fuzz graphs (seeds from {small_start}), "
          f"found in {time.perf_counter() - t0:.1f} s")
    rows = collections.defaultdict(collections.Counter)
    seconds = collections.Counter()
    bad = []
    with tempfile.TemporaryDirectory(prefix="fmlc-fuzz-targets-") as tmp:
        root = Path(tmp)
        # HLS: a few graphs through run_compiled (the folder's own build), the rest ten to a library
        results = [r for case, module in items[:2] for r in check_compiled(case, module, root, "hls")]
        results += check_hls_bundled(items[2:], root)
        results += [r for case, module in items for r in check_compiled(case, module, root, "verilog")]
        for r in results:
            rows[(r.target, r.backend)][r.status] += 1
            seconds[(r.target, r.backend)] += r.seconds
            if r.status != "exact":
                bad.append(r)
        t1 = time.perf_counter()
        for r in check_cuda_host(items, root):
            rows[("cuda", "host")][r.status] += 1
            if r.status != "exact":
                bad.append(r)
        seconds[("cuda", "host")] = time.perf_counter() - t1
    print(f"{'target':<10}{'backend':<11}{'graphs':>7}{'exact':>7}{'differs':>9}{'error':>7}{'seconds':>9}")
    for target, backends in BACKENDS.items():
        for backend in backends:
            c = rows[(target, backend)]
            print(f"{target:<10}{backend:<11}{c.total():>7}{c['exact']:>7}{c['differs']:>9}{c['error']:>7}{seconds[(target, backend)]:>9.1f}")
    for r in bad[:20]:
        print("  " + r.line()[:300])


def compile_outcome(module, folder: Path, target: str) -> tuple[str, str]:
    """("written" | "refused" | "internal", message) for one compile."""
    from fmlc.driver import CompileError, CompileOptions, compile_model

    try:
        compile_model(module, folder, CompileOptions(target=target, name="fz"))
        return "written", ""
    except CompileError as err:  # a limit of the target, named (a lowering's bug is not a CompileError)
        return "refused", str(err)
    except Exception as err:  # noqa: BLE001 - what the table is for
        return "internal", f"{type(err).__name__}: {err}"


def print_compile_table(count: int, start: int, listed: int) -> None:
    from qonnx_fuzz.targets import small_cases

    items = small_cases(count, start=start, max_size=2000, n_samples=4)
    rows = collections.defaultdict(collections.Counter)
    internal = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fmlc-fuzz-compile-") as tmp:
        for case, module in items:
            for target in ("hls", "verilog", "cuda"):
                status, why = compile_outcome(module, Path(tmp) / f"{target}_{case.seed}", target)
                rows[target][status] += 1
                if status == "internal":
                    internal.append(f"seed {case.seed} {target}: {why[:300]}")
    print(f"\ncompile only: {len(items)} imported fuzz graphs (seeds from {start}), {time.perf_counter() - t0:.0f} s")
    print(f"{'target':<10}{'written':>9}{'refused':>9}{'internal':>10}")
    for target, c in rows.items():
        print(f"{target:<10}{c['written']:>9}{c['refused']:>9}{c['internal']:>10}")
    for line in internal[:listed]:
        print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--small", action="store_true", help="the suite's small graphs")
    parser.add_argument("--localize", action="store_true", help="cut every violation down to its first differing quantizer (slow)")
    parser.add_argument("--targets", type=int, default=0, help="small graphs per target through HLS/Verilog/CUDA host (0: none)")
    parser.add_argument("--compile", type=int, default=0, help="imported graphs compiled (not run) for every target (0: none)")
    parser.add_argument("--list", type=int, default=10, help="violations to list")
    parser.add_argument("--json", type=Path, help="write one JSON line a graph")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    jobs = [(s, args.samples, args.small, args.localize) for s in range(args.start, args.start + args.count)]
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            recs = list(pool.map(run_seed, jobs, chunksize=4))
    else:
        recs = []
        try:
            from tqdm import tqdm

            it = tqdm(jobs, desc="fuzz", unit="graph", file=sys.stderr, disable=not sys.stderr.isatty())
        except ImportError:
            it = jobs
        for job in it:
            recs.append(run_seed(job))
    seconds = time.perf_counter() - t0
    if args.json:
        with open(args.json, "w") as f:
            for r in recs:
                f.write(json.dumps(r, sort_keys=True) + "\n")
    if args.count:
        print_fuzz_tables(recs, seconds, args)
    if args.targets:
        print_target_table(args.targets, args.start)
    if args.compile:
        print_compile_table(args.compile, args.start, args.list)


if __name__ == "__main__":
    main()
