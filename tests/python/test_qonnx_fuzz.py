"""Differential fuzzing of the QONNX front end against QONNX's execute_onnx (issue 9).

Each seed is a random QONNX graph shaped like a Brevitas or QKeras export (see
tests/python/qonnx_fuzz/generate.py) with inputs on the input quantizer's ties and saturation
points.  fmlc (import, resolve, emulator) must give execute_onnx's exact bits, or differences
within the bound its importer states for that output; a ModelImportError (refusal) is allowed
and counted, unless its message is a leaked Python error; anything else fails the seed.

- the suite runs ``FMLC_FUZZ_SEEDS`` small graphs (default 200: about 50 s of CPU; a failing
  seed costs more, as its samples are rerun one at a time);
- ``FMLC_SLOW_TESTS=1`` runs 3000 full-size graphs and 50 graphs per target (one tiny graph
  per target otherwise);
- bench/fuzz_qonnx.py prints the tables (thousands of seeds, refusals grouped, timings).
"""

from __future__ import annotations

import collections
import os
import warnings

import numpy as np
import pytest
from qonnx_fuzz import check_case, make_case, reference_outputs
from qonnx_fuzz.harness import CaseResult, batching_agrees, compare, looks_internal

SLOW = os.environ.get("FMLC_SLOW_TESTS") == "1"
N_SEEDS = int(os.environ.get("FMLC_FUZZ_SEEDS", "3000" if SLOW else "200"))
SMALL = not SLOW
SAMPLES = 64
MAX_REFUSED_SHARE = 0.1

pytestmark = pytest.mark.filterwarnings("ignore:Some old-style domain attributes:UserWarning")

REFUSED: dict[int, str] = {}
STATUS: collections.Counter = collections.Counter()
CASES: collections.Counter = collections.Counter()  # graphs hitting issue 9's cases 2 and 3


@pytest.mark.parametrize("seed", range(N_SEEDS))
def test_fuzz_seed(seed):
    case = make_case(seed, SAMPLES, small=SMALL)
    res = check_case(case)
    STATUS[res.status] += 1
    CASES[2] += bool({"table", "thresholds"} & set(res.hows))
    CASES[3] += "bounded" in res.hows
    if res.status == "refused":
        REFUSED[seed] = res.detail
        # a refusal names the node and a reason; a leaked Python error is a crash in disguise
        assert not looks_internal(res.detail), f"internal error behind a refusal: {res.line()}"
        return
    assert res.status in ("exact", "bounded-ok"), res.line()


def test_fuzz_summary():
    """Counts of the seeds run above; refusals grouped by reason (as a warning, so -ra shows it)."""
    if not STATUS:
        pytest.skip("no fuzz seed ran in this session")
    reasons = collections.Counter(_reason(msg) for msg in REFUSED.values())
    internal = sorted(seed for seed, msg in REFUSED.items() if looks_internal(msg))
    lines = [f"{STATUS.total()} fuzz graphs: " + ", ".join(f"{k} {v}" for k, v in sorted(STATUS.items()))]
    lines.append(
        f"  issue 9 cases: 2 (tables/thresholds) in {CASES[2]} graphs, 3 (bounded) in {CASES[3]}, 4 (refused) {STATUS['refused']}"
    )
    if internal:
        lines.append(f"  {len(internal)} refusals carry a Python error, not a reason (seeds {internal[:12]})")
    lines += [f"  refused {n}: {why}" for why, n in reasons.most_common()]
    warnings.warn("\n".join(lines), stacklevel=1)
    # refusals are allowed one by one, but a front end that refuses a whole export style passes
    # every seed: keep them rare (none of 1000 full-size seeds was refused on 2 December)
    assert STATUS["refused"] <= MAX_REFUSED_SHARE * STATUS.total(), "\n".join(lines)


def _reason(msg: str) -> str:
    """A refusal message without its node name and numbers, to group refusals."""
    import re

    msg = re.sub(r"node '[^']*' ", "", msg)
    return re.sub(r"\d+(\.\d+)?(e-?\d+)?", "N", msg)[:140]


# ---------------------------------------------------------------------------------------------
# the fuzzer itself


def test_generator_is_deterministic():
    a, b = make_case(1234), make_case(1234)
    assert a.model().SerializeToString() == b.model().SerializeToString()
    assert a.description == b.description and np.array_equal(a.x, b.x)
    assert make_case(1235).model().SerializeToString() != a.model().SerializeToString()


def test_generator_covers_the_export_shapes():
    """Over the suite's seeds, every form issue 9 lists appears (a generator regression shows)."""
    tags = collections.Counter()
    for seed in range(min(N_SEEDS, 300)):
        tags.update(make_case(seed, 4, small=SMALL).tags)
    wanted = [
        "brevitas", "qkeras", "mlp", "conv1d", "conv2d",
        "dense:matmul_T", "dense:gemm", "dense:matmul",
        "input:quant-po2", "input:quant-npo2", "input:bipolar", "input:float", "data:bipolar", "preprocess",
        "weights:pt-po2", "weights:pt-npo2", "weights:pc-po2", "weights:pc-npo2", "weights:bipolar",
        "actq:po2", "actq:npo2", "batchnorm", "batchnorm-ops", "float-const-op",
        "act:relu", "act:clip", "act:leaky", "act:none", "act:bipolar",
        "residual", "concat", "pool:max", "pool:avg", "globalpool:max", "globalpool:avg", "shape-subgraph",
        "layout:first", "layout:tf_transpose", "layout:cl_domain",
        "output:quant", "output:float", "output:bipolar", "output:spatial",
    ]
    missing = [t for t in wanted if tags[t] == 0]
    assert not missing, f"the fuzz seeds never produce: {missing}"


def test_inputs_hit_the_input_quantizer_ties():
    """Input samples land exactly on x.5 of the input quantizer's grid (after the float32
    pre-processing) and past both saturation points."""
    ties = saturated = graphs = 0
    for seed in range(60):
        case = make_case(seed, 64)
        q = case.stage.quant
        if q is None or q["kind"] != "quant" or q["bits"] < 2:
            continue
        from qonnx_fuzz.inputs import qrange

        graphs += 1
        lo, hi = qrange(q)
        v = case.stage.to_code_domain(case.x).astype(np.float64)
        ties += int(np.sum(v - np.floor(v) == 0.5))
        saturated += int(np.sum(v > hi + 0.5)) and int(np.sum(v < lo - 0.5))
    assert graphs > 20 and ties > 10 * graphs and saturated > 0


def test_batching_and_the_reference():
    """execute_onnx on a batch gives the bits of one sample at a time where the float32 sums are
    exact (power-of-two scales), but not where they round: onnxruntime's MatMul takes another
    kernel for one row (seed 3: non-power-of-two weights into MatMul, then a float output).  The
    harness therefore reruns, one sample at a time, every sample fmlc gets "wrong" against the
    batch, and holds fmlc to that: an answer equal to the one-sample reference is exact."""
    from qonnx_fuzz.harness import _one_sample_at_a_time

    for seed in (9, 14):  # power-of-two scales only
        case = make_case(seed, 8)
        assert not any("npo2" in t for t in case.tags), case.description
        assert batching_agrees(case), seed
    case = make_case(3, 8)
    assert not batching_agrees(case)
    single = reference_outputs(case, chunk=1)
    batched = reference_outputs(case)
    assert compare(case, single, batched, None).status == "violation"
    fixed, changed = _one_sample_at_a_time(case, single, batched, None)
    assert changed > 0 and compare(case, single, fixed, None).status == "exact"


def test_classification_can_fail():
    """compare() calls equal outputs exact, a one-ulp change a violation, a stated bound ok."""
    case = make_case(7, 8, small=True)
    ref = reference_outputs(case)
    assert compare(case, ref, ref, None).status == "exact"
    bumped = [np.nextafter(r.astype(np.float64), np.inf) for r in ref]
    assert compare(case, bumped, ref, None).status == "violation"

    class Bound:
        max_abs = 1e-3
        step = None

    class Report:
        def __init__(self):
            self.outputs = {name: Bound() for name in case.outputs}
            self.nodes = []

    assert compare(case, bumped, ref, Report()).status == "bounded-ok"
    off = [r.astype(np.float64) + 1.0 for r in ref]
    assert compare(case, off, ref, Report()).status == "violation"
    assert isinstance(compare(case, off, ref, None), CaseResult)


# ---------------------------------------------------------------------------------------------
# the targets, on a few tiny fuzz graphs, against the emulator

TARGET_GRAPHS = 50 if SLOW else 1  # a Verilator or HLS build is 10-60 s a graph here


@pytest.fixture(scope="module")
def tiny_cases():
    from qonnx_fuzz.targets import small_cases

    items = small_cases(TARGET_GRAPHS, max_size=250 if SLOW else 80, n_samples=32)
    if len(items) < TARGET_GRAPHS:
        pytest.fail(f"only {len(items)} small fuzz graphs import: the target checks need {TARGET_GRAPHS}")
    return items


def _target_missing(target: str) -> str | None:
    import importlib.util
    import shutil

    if target == "hls" and importlib.util.find_spec("hls4ml") is None:
        return "the HLS C simulation needs the ap_fixed headers of hls4ml (pip install fmlc[hls])"
    if target == "verilog":
        if importlib.util.find_spec("pycde") is None:
            return "the Verilog target needs pycde (pip install fmlc[verilog])"
        if shutil.which("verilator") is None or shutil.which("iverilog") is None:
            return "needs Verilator and Icarus (apt-get install -y verilator iverilog)"
    return None


@pytest.mark.parametrize("target", ["hls", "verilog"])
def test_fuzz_graphs_through_target(target, tiny_cases, tmp_path):
    from qonnx_fuzz.targets import check_compiled, check_hls_bundled

    missing = _target_missing(target)
    if missing:
        pytest.skip(missing)

    if target == "hls":  # one through run_compiled, the rest (slow mode) ten to a shared library
        results = [r for case, module in tiny_cases[:1] for r in check_compiled(case, module, tmp_path, target)]
        results += check_hls_bundled(tiny_cases[1:], tmp_path)
    else:
        results = [r for case, module in tiny_cases for r in check_compiled(case, module, tmp_path, target)]
    bad = [r.line() for r in results if r.status != "exact"]
    assert not bad, "\n".join(bad)


def test_fuzz_graphs_through_cuda_host_path(tiny_cases, tmp_path):
    from qonnx_fuzz.targets import check_cuda_host

    results = check_cuda_host(tiny_cases, tmp_path)
    bad = [r.line() for r in results if r.status != "exact"]
    assert len(results) == len(tiny_cases) and not bad, "\n".join(bad)


VERILOG_GRID_SEEDS = {
    19: "a dense layer's adder graph ends some lanes one bit coarser than the accumulator's type "
    "(trailing zero bits dropped); the table after it read the coarse code: half the value",
    3053: "a biased relu input sat on a grid coarser than its rounding constant (internal error)",
    3081: "an adder graph on a grid of negative fractional bits (2**frac a float: internal error)",
    5014: "a convolution's zero padding (frac 0) in an adder graph whose grid is coarser than 1 (internal error)",
}
"""Fuzz graphs the Verilog target once got wrong: a Sig may sit on a coarser grid than its
type, and every reader of codes (tables, thresholds, rounding constants) must allow for it."""


@pytest.mark.parametrize("seed", sorted(VERILOG_GRID_SEEDS))
def test_verilog_reads_codes_on_the_types_grid(seed, tmp_path):
    from qonnx_fuzz.targets import _emulated, _same, fmlc_module

    from fmlc.driver import CompileOptions, compile_model, run_compiled

    missing = _target_missing("verilog")
    if missing:
        pytest.skip(missing)
    case = make_case(seed, 32)
    module, _ = fmlc_module(case)
    folder = compile_model(module, tmp_path / f"fz{seed}", CompileOptions(target="verilog", name=f"fz{seed}"))
    ok, why = _same(run_compiled(folder, [case.x], backend="icarus", raw=True), _emulated(module, case.x))
    assert ok, f"{VERILOG_GRID_SEEDS[seed]}: {why}"


@pytest.mark.parametrize("seed", [3035, 3059])
def test_cuda_dp4a_weight_words_stay_si32(seed, tmp_path):
    """Fuzz seeds 3035 and 3059: a dp4a layer's packed weight words were all small, so the
    constant array was narrowed by value to ui16 and cuda.dp4a (si32 operands) failed to verify."""
    from qonnx_fuzz.targets import check_cuda_host, fmlc_module

    case = make_case(seed, 32)
    module, _ = fmlc_module(case)
    results = check_cuda_host([(case, module)], tmp_path)
    assert [r.status for r in results] == ["exact"], "\n".join(r.line() for r in results)
    model = (tmp_path / f"cuda_{seed}" / f"fz{seed}_model.cuh").read_text()
    assert "fmlc_dp4a_" in model, f"seed {seed} no longer lowers a layer to dp4a, which this test is about"
