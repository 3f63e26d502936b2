"""The smallest types that keep a model's answers: ``fmlc tune``.

``tune(model, x, budget=...)`` searches the precisions a configuration can set (``fmlc.frontend
.config``) for the cheapest design on a target (``fmlc.cost``) whose loss against a reference
stays within the budget, and returns a configuration that ``fmlc compile -c`` takes.

What is searched (the *knobs*) comes from the model and from what the importer reads:

- float models: the input precision, and per layer the weight, bias and result precisions of
  dense, convolution and BatchNorm layers (the accumulator's integer bits too for the HLS and
  CUDA targets: it keeps the products' fractional bits; the Verilog target's adder graphs
  compute exact sums), table types of activation functions, Softmax's types, average
  pooling's result;
- quantized models: only what the model leaves free: the input precision where it has no
  input quantizer, and table and Softmax types.

Every candidate knob is probed: the model is imported with that one setting changed, and a
knob whose change leaves the imported IR as it was is dropped (the importer does not read it
for this model).

The loss: with labels, the reference's accuracy minus the candidate's; else ``1 - agreement``,
the fraction of samples whose decision differs from the reference's.  A decision is the argmax
of the last axis (outputs with one value: above or below 0.5 when the reference's outputs lie
in [0, 1], else the sign).  The reference is the float model run by onnxruntime, or for
quantized models the emulator with every free setting 8 fractional bits wider.

The data is split once (a seeded permutation; the held-out part is the first ``round(n *
holdout)`` indices of ``default_rng(0).permutation(n)``): the held-out part confirms the result
and takes no part in the search.  The search accepts a candidate when its loss on the tuning
split plus 1.5 standard errors stays within the budget, the error being that of the difference
between two independent samples of the tuning and the held-out split's sizes (a candidate that
disagrees with the reference on a fraction d of the samples: variance ``d (1 - d)``; with labels,
``p + m - (p - m)**2`` for the fractions p it gets wrong and m it gets right against the
reference), so the held-out figure tends to confirm it.

The search, deterministic:

1. ranges: integer bits of inputs and results from the largest exact value seen on the tuning
   split (``fmlc.profile``, with every result 16 integer bits wide), of weights and biases
   from the largest weight; table and Softmax types keep theirs;
2. start: every knob 4 fractional bits finer than imported (up to 24 bits wide, table indices
   16; two more at a time, up to 8, if that misses the budget); then for each knob alone, the
   fewest fractional bits within the budget (bisection);
3. together: every knob at its own minimum, all raised by one bit at a time until the budget
   holds;
4. descent: passes over the knobs, most costly layer first, taking one fractional (then one
   integer) bit away wherever the budget still holds and the cost does not grow, until a pass
   changes nothing.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fmlc.fixed import FixedFormat

PRECISION_KEYS = ("weight", "bias", "result", "accum")
TABLE_KEYS = ("table_input", "table_output", "diff", "exp", "sum", "inv")
DEFAULT_HOLDOUT = 0.25
SPLIT_SEED = 0
MARGIN_Z = 1.5
START_FINER = 4
"""The search starts this many fractional bits finer than the imported types (they may already
spend part of the budget, e.g. Softmax's diff type turning near-ties into ties)."""
START_RAISE = 8
MAX_START_WIDTH = 24
"""Starting widths stay within this (so the emulator's sums stay exact in float64)..."""
MAX_INDEX_WIDTH = 16
"""...and table indices within this (tables of at most 65,536 entries)."""
INDEX_KEYS = ("table_input", "diff", "sum")
WIDER_REFERENCE = 8
RANGE_INT_BITS = 16
RANGE_SAMPLES = 20_000
MIN_FRAC = -8
MIN_INT = -8
MAX_PASSES = 4


class TuneError(ValueError):
    """The model, data or budget cannot be tuned as asked; the message says why."""


# --------------------------------------------------------------------------------------------
# knobs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Knob:
    """One precision a configuration sets: ``section.name.key``."""

    section: str
    """``inputs`` or ``layers``."""
    name: str
    """The graph input or ONNX node name."""
    key: str
    """A precision key (weight, bias, result, accum) or a table key (table_input, diff, ...)."""
    base: FixedFormat
    """What the importer chose with the base configuration."""
    int_searched: bool
    """Integer bits follow the data (else they stay as in ``base``)."""

    @property
    def label(self) -> str:
        return "input" if self.section == "inputs" else self.key

    @property
    def path(self) -> str:
        middle = "precision." if self.section == "layers" and self.key in PRECISION_KEYS else ""
        return f"{self.section}.{self.name}.{middle}{self.key}" if self.section == "layers" else f"inputs.{self.name}.precision"


def with_knobs(base: dict, knobs: Sequence[Knob], formats: Sequence[FixedFormat]) -> dict:
    """The base configuration with each knob set to its format."""
    cfg = copy.deepcopy(base) if base else {}
    for knob, fmt in zip(knobs, formats):
        section = cfg.setdefault(knob.section, {}) or {}
        cfg[knob.section] = section
        entry = dict(section.get(knob.name) or {})
        if knob.section == "inputs":
            entry["precision"] = str(fmt)
        elif knob.key in PRECISION_KEYS:
            prec = entry.get("precision")
            prec = {"result": prec} if isinstance(prec, str) else dict(prec or {})
            prec[knob.key] = str(fmt)
            entry["precision"] = prec
        else:
            entry[knob.key] = str(fmt)
        section[knob.name] = entry
    return cfg


def _layer_knobs(op, fxp) -> list[tuple[str, FixedFormat | None]]:
    """(key, the format as imported) for each setting an op's import reads."""
    fmt = fxp.element_format
    if isinstance(op, fxp.DenseOp | fxp.ConvOp):
        out = [("weight", fmt(op.weight))]
        if op.bias is not None:
            out.append(("bias", fmt(op.bias)))
        out.append(("result", fmt(op.result) if fxp.is_resolved(op.result) else None))
        out.append(("accum", op.acc.format if isinstance(op.acc, fxp.FixedType) else None))
        return out
    if isinstance(op, fxp.BatchNormOp):
        return [("weight", fmt(op.scale)), ("bias", fmt(op.shift)), ("result", fmt(op.result) if fxp.is_resolved(op.result) else None)]
    if isinstance(op, fxp.TableOp):
        return [("table_input", fmt(op.input) if fxp.is_resolved(op.input) else None), ("table_output", fmt(op.result))]
    if isinstance(op, fxp.SoftmaxOp):
        return [("diff", op.diff_type.format), ("exp", op.exp_type.format), ("sum", op.sum_type.format), ("inv", op.inv_type.format), ("result", fmt(op.result))]
    if isinstance(op, fxp.AvgPoolOp | fxp.GlobalAvgPoolOp):
        return [("result", fmt(op.result) if fxp.is_resolved(op.result) else None), ("table_output", op.scale_type.format)]
    return []


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------


class Model:
    """An ONNX model, imported on demand with configurations (``fmlc.frontend``)."""

    def __init__(self, path: str | Path, base: dict | None = None):
        import onnx

        from fmlc.frontend.normalize import QUANTIZERS

        self.path = Path(path)
        self.base = copy.deepcopy(base or {})
        graph = onnx.load(str(self.path), load_external_data=False).graph
        inits = {i.name for i in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in inits]
        self.quantized = any(n.op_type in QUANTIZERS for n in graph.node)

    def raw(self, config: dict):
        from fmlc.frontend.onnx_import import import_model

        return import_model(self.path, config)

    def resolved(self, config: dict):
        from fmlc.driver import resolve

        return resolve(self.raw(config))


def discover_knobs(model: Model, target: str) -> list[Knob]:
    """The settings the importer reads for this model, in program order (see the module docstring)."""
    from fmlc.dialects import fxp
    from fmlc.ir import body_ops, main_function, print_module

    raw = model.raw(model.base)
    resolved = model.resolved(model.base)
    exact = {op.attributes["name"].data: op for op in body_ops(main_function(resolved)) if "name" in op.attributes}
    func = main_function(raw)
    args = list(func.body.block.args)
    candidates: list[Knob] = []
    for op in body_ops(func):
        if isinstance(op, fxp.QuantizeOp) and op.input in args:
            name = model.input_names[args.index(op.input)]
            candidates.append(Knob("inputs", name, "result", fxp.element_format(op.result), True))
            continue
        if "name" not in op.attributes:
            continue
        node = op.attributes["name"].data
        for key, fmt in _layer_knobs(op, fxp):
            if model.quantized and key not in TABLE_KEYS:
                continue  # the float default never applies inside a quantized model
            if key == "accum" and target == "verilog":
                continue  # adder graphs compute exact sums; a narrower accumulator only adds a cast
            if fmt is None:  # auto in the raw import: take the resolved type
                twin = exact.get(node)
                got = dict(_layer_knobs(twin, fxp)).get(key) if twin is not None else None
                if got is None:
                    continue
                fmt = got
            searched = key in PRECISION_KEYS
            candidates.append(Knob("layers", node, key, fmt, searched))
    baseline = print_module(raw)
    kept = []
    for knob in candidates:
        probe = replace(knob.base, width=knob.base.width + 1)  # one more fractional bit
        try:
            changed = print_module(model.raw(with_knobs(model.base, [knob], [probe]))) != baseline
        except ValueError:
            changed = False
        if changed:
            kept.append(knob)
    return kept


# --------------------------------------------------------------------------------------------
# references and losses
# --------------------------------------------------------------------------------------------


def float_reference(path: Path, x: np.ndarray) -> np.ndarray:
    """onnxruntime on the float model (one thread), batched when the graph allows it."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # the batched try may fail: quietly
    model = onnx.load(str(path))
    graph_input = next(i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})
    name = graph_input.name
    x = np.asarray(x, dtype=onnx.helper.tensor_dtype_to_np_dtype(graph_input.type.tensor_type.elem_type))
    batched = copy.deepcopy(model)
    del batched.graph.value_info[:]
    for v in list(batched.graph.input) + list(batched.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims):
            dims[0].dim_param = "N"
    try:
        session = ort.InferenceSession(batched.SerializeToString(), options, providers=["CPUExecutionProvider"])
        out = np.concatenate([session.run(None, {name: x[k : k + 8192]})[0] for k in range(0, len(x), 8192)])
    except Exception:  # noqa: BLE001 - exports that fix the batch inside the graph: one at a time
        out = None
    if out is not None and out.shape[0] == len(x):
        return out.astype(np.float64)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {name: x[k : k + 1]})[0] for k in range(len(x))]).astype(np.float64)


def decisions(y: np.ndarray, threshold: float) -> np.ndarray:
    """Per sample, the decision of an output: argmax over the last axis (one value: above the threshold)."""
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(len(y), -1, y.shape[-1]) if y.ndim > 1 else y.reshape(len(y), 1, 1)
    if y.shape[-1] == 1:
        return (y[..., 0] > threshold).astype(np.int64)
    return np.argmax(y, axis=-1)


def label_decisions(labels: np.ndarray, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape[0] != n:
        raise TuneError(f"the labels hold {labels.shape[0]} samples, the inputs {n}")
    if labels.ndim == 1:
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            raise TuneError("labels must be class indices (integers) or one-hot rows")
        return labels.astype(np.int64).reshape(n, 1)
    if labels.ndim == 2 and labels.shape[1] == 1:
        return labels.astype(np.int64).reshape(n, 1)
    return np.argmax(labels.reshape(n, -1, labels.shape[-1]), axis=-1)


@dataclass
class Metric:
    """The loss of a candidate's outputs against the reference on one split."""

    reference: np.ndarray
    """The reference's decisions (N, positions)."""
    labels: np.ndarray | None
    threshold: float

    def score(self, y: np.ndarray) -> tuple[float, float]:
        """(the loss, the variance per sample of its estimate)."""
        got = decisions(y, self.threshold)
        if not len(got):
            return 0.0, 0.0
        if self.labels is None:
            d = float(np.mean(np.any(got != self.reference, axis=1)))
            return d, d * (1 - d)
        ref_right = np.all(self.reference == self.labels, axis=1)
        right = np.all(got == self.labels, axis=1)
        p, m = float(np.mean(ref_right & ~right)), float(np.mean(~ref_right & right))
        return p - m, p + m - (p - m) ** 2


# --------------------------------------------------------------------------------------------
# candidates
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    loss: float
    cost: float
    upper: float = math.inf
    """The loss plus the search's margin: what the budget is compared with."""
    report: object | None = None


class Evaluator:
    """Imports, emulates and costs candidates (cached by their formats)."""

    def __init__(self, model: Model, knobs: list[Knob], x: np.ndarray, metric: Metric, target: str, spread: float = 0.0, on_eval: Callable[[], None] | None = None):
        self.model, self.knobs, self.x, self.metric, self.target = model, knobs, x, metric, target
        self.spread = spread
        """Standard errors per unit of sqrt(variance): ``MARGIN_Z * sqrt(1/n_tune + 1/n_holdout)``."""
        self.cache: dict[tuple, Outcome] = {}
        self.on_eval = on_eval
        self.count = 0

    def module(self, formats: Sequence[FixedFormat]):
        return self.model.resolved(with_knobs(self.model.base, self.knobs, self.complete(formats)))

    def complete(self, formats: Sequence[FixedFormat]) -> list[FixedFormat]:
        """Accumulator knobs set integer bits only: an accumulator keeps the exact sum's
        fractional bits (the products' for the candidate's input and weight types; fewer would
        round every product), read from the candidate imported with exact accumulators."""
        accs = [k for k, knob in enumerate(self.knobs) if knob.key == "accum"]
        if not accs:
            return list(formats)
        from fmlc.dialects import fxp
        from fmlc.ir import body_ops, main_function

        others = [(knob, f) for knob, f in zip(self.knobs, formats) if knob.key != "accum"]
        module = self.model.resolved(with_knobs(self.model.base, [k for k, _ in others], [f for _, f in others]))
        fracs = {
            op.attributes["name"].data: op.acc.format.frac
            for op in body_ops(main_function(module))
            if isinstance(op, fxp.DenseOp | fxp.ConvOp) and "name" in op.attributes and isinstance(op.acc, fxp.FixedType)
        }
        out = list(formats)
        for k in accs:
            knob, fmt = self.knobs[k], formats[k]
            frac = fracs.get(knob.name, fmt.frac)
            ints = max(fmt.int_bits, 2 - frac)
            out[k] = FixedFormat(ints + frac, ints, True, knob.base.rounding, knob.base.overflow)
        return out

    def __call__(self, formats: Sequence[FixedFormat]) -> Outcome:
        key = tuple(formats)
        if key in self.cache:
            return self.cache[key]
        from xdsl.utils.exceptions import PassFailedException

        from fmlc.cost import estimate
        from fmlc.emulator import EmulationError, Emulator

        self.count += 1
        try:
            module = self.module(formats)
            y = Emulator(module).run(self.x)[0]
        except (ValueError, EmulationError, PassFailedException):  # refused (e.g. a table too large)
            outcome = Outcome(math.inf, math.inf)
        else:
            report = estimate(module, self.target)
            loss, var = self.metric.score(y)
            outcome = Outcome(loss, report.total, loss + self.spread * math.sqrt(var), report)
        self.cache[key] = outcome
        if self.on_eval:
            self.on_eval()
        return outcome


# --------------------------------------------------------------------------------------------
# the search
# --------------------------------------------------------------------------------------------


def int_bits_for(m: float, signed: bool) -> int:
    """Integer bits that hold magnitudes up to ``m`` (at least one)."""
    if m <= 0:
        return 1
    e = math.floor(math.log2(m))
    return max(MIN_INT, e + (2 if signed else 1))


def fmt_of(knob: Knob, int_bits: int, frac: int) -> FixedFormat:
    return FixedFormat(int_bits + frac, int_bits, knob.base.signed, knob.base.rounding, knob.base.overflow)


def frac_floor(knob: Knob, int_bits: int) -> int:
    return max(MIN_FRAC, (2 if knob.base.signed else 1) - int_bits)


@dataclass
class TuneResult:
    """What ``tune`` found, and how it was checked."""

    model: str
    target: str
    knobs: list[Knob]
    before: list[FixedFormat]
    after: list[FixedFormat]
    config: dict
    budget: float
    metric: str
    n_tune: int
    n_holdout: int
    loss_before: tuple[float, float]
    loss_after: tuple[float, float]
    cost_before: object
    cost_after: object
    evaluations: int
    notes: list[str] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return self.loss_after[1] <= self.budget + 1e-12

    def table(self) -> str:
        before_cost, after_cost = self.cost_before.by_layer(), self.cost_after.by_layer()
        rows = [("layer", "setting", "before", "after", "cost before", "cost after")]
        shown = set()
        for knob, b, a in zip(self.knobs, self.before, self.after):
            name = knob.name if knob.section == "layers" else f"input {knob.name}"
            first = name not in shown
            shown.add(name)
            costed = first and knob.section == "layers"
            cb = f"{before_cost.get(knob.name, 0):,.0f}" if costed else ""
            ca = f"{after_cost.get(knob.name, 0):,.0f}" if costed else ""
            rows.append((name if first else "", knob.label, str(b), str(a), cb, ca))
        widths = [max(len(r[k]) for r in rows) for k in range(6)]
        lines = []
        for k, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
            if k == 0:
                lines.append("-" * len(lines[0]))
        tb, ta = self.cost_before.total, self.cost_after.total
        change = f"{(ta - tb) / tb:+.0%}" if tb else ""
        lines.append("")
        lines.append(f"cost ({self.target}, {self.cost_before.unit()}): {tb:,.0f} -> {ta:,.0f} ({change})")
        lines.append(f"loss ({self.metric}): budget {_pct(self.budget)} (the search keeps the loss plus {MARGIN_Z:g} standard errors within it)")
        lines.append(f"  before: {_pct(self.loss_before[0])} on the tuning split ({self.n_tune} samples), {_pct(self.loss_before[1])} held out ({self.n_holdout})")
        verdict = "within the budget" if self.confirmed else "OVER THE BUDGET"
        lines.append(f"  after:  {_pct(self.loss_after[0])} on the tuning split, {_pct(self.loss_after[1])} held out: {verdict}")
        lines.append(f"({self.evaluations} candidates evaluated)")
        lines += self.notes
        return "\n".join(lines) + "\n"

    def yaml(self) -> str:
        import yaml

        head = [
            f"# fmlc tune: {self.model}, target {self.target}, budget {_pct(self.budget)} ({self.metric})",
            f"# loss: tuning split {_pct(self.loss_after[0])} ({self.n_tune} samples), held out {_pct(self.loss_after[1])} ({self.n_holdout} samples)",
            f"# cost ({self.cost_before.unit()}): {self.cost_before.total:,.0f} -> {self.cost_after.total:,.0f}",
        ]
        return "\n".join(head) + "\n" + yaml.safe_dump(self.config, sort_keys=True, default_flow_style=False)


def _pct(v: float) -> str:
    return "inf" if math.isinf(v) else f"{100 * v:.3g}%"


def parse_budget(text: str | float) -> float:
    """``0.5%`` or ``0.005``: a loss in [0, 1)."""
    s = str(text).strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise TuneError(f"budget '{text}' is not a number or a percentage (e.g. 0.5% or 0.005)") from None
    if not math.isfinite(value) or not 0 <= value < 1:
        raise TuneError(f"budget '{text}' must lie in [0, 1) (a fraction of samples), e.g. 0.5%")
    return value


def split(n: int, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """(tuning indices, held-out indices): a seeded permutation, sorted within each part."""
    if not 0 < holdout < 1:
        raise TuneError(f"the held-out fraction must lie in (0, 1), got {holdout}")
    n_hold = round(n * holdout)
    if n_hold < 1 or n - n_hold < 1:
        raise TuneError(f"{n} samples cannot be split into a tuning and a held-out part; give more data")
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    return np.sort(perm[n_hold:]), np.sort(perm[:n_hold])


class _Progress:
    """A tqdm bar on stderr (shown on terminals) whose total grows as the search learns its size."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=1, desc="fmlc tune", unit="cand", file=sys.stderr, disable=None, leave=False, dynamic_ncols=True)

    def expect(self, more: int) -> None:
        if self.bar is not None:
            self.bar.total = self.bar.n + more
            self.bar.refresh()

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def tune(
    model_path: str | Path,
    x: np.ndarray,
    budget: float | str = 0.005,
    labels: np.ndarray | None = None,
    target: str = "verilog",
    config: dict | None = None,
    holdout: float = DEFAULT_HOLDOUT,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> TuneResult:
    """Search the cheapest types within ``budget``; see the module docstring."""
    from fmlc.cost import TARGETS
    from fmlc.emulator import Emulator

    if target not in TARGETS:
        raise TuneError(f"unknown target '{target}': choose one of {', '.join(TARGETS)}")
    budget = parse_budget(budget) if isinstance(budget, str) else float(budget)
    if not 0 <= budget < 1:
        raise TuneError(f"the budget must lie in [0, 1), got {budget}")
    say = log or (lambda _msg: None)
    model = Model(model_path, config)
    if len(model.input_names) != 1:
        raise TuneError(f"{model.path.name}: fmlc tune handles models with one input; this one has {len(model.input_names)}")
    x = np.asarray(x)
    n = len(x)
    tune_idx, hold_idx = split(n, holdout)
    shape = Emulator(model.resolved(model.base)).input_shapes[0]
    if tuple(x.shape[1:]) != tuple(shape):
        raise TuneError(f"the inputs must be shaped (N, {', '.join(map(str, shape))}), got {x.shape}")
    knobs = discover_knobs(model, target)
    if not knobs:
        raise TuneError(f"{model.path.name}: the model leaves no precision free to tune (its quantizers fix every type)")
    say(f"{len(knobs)} settings to tune: {', '.join(k.path for k in knobs)}")

    # the reference and the metric on each split
    if model.quantized:
        wide = [replace(k.base, width=max(k.base.width, min(k.base.width + WIDER_REFERENCE, MAX_INDEX_WIDTH if k.key in INDEX_KEYS else 64))) for k in knobs]
        ref_out = _emulate(model, with_knobs(model.base, knobs, wide), x)
        what = "the emulator with the free types 8 bits finer (table indices up to 16 bits)"
    else:
        ref_out = float_reference(model.path, x)
        what = "the float model (onnxruntime)"
    threshold = 0.5 if ref_out.shape[-1] == 1 and np.all((ref_out >= 0) & (ref_out <= 1)) else 0.0
    ref_dec = decisions(ref_out, threshold)
    lab_dec = label_decisions(labels, n) if labels is not None else None
    if lab_dec is not None and lab_dec.shape != ref_dec.shape:
        raise TuneError(f"the labels give {lab_dec.shape[1]} decision(s) per sample, the model {ref_dec.shape[1]}")
    metric_name = f"accuracy drop against labels, from {what}" if labels is not None else f"1 - agreement of the argmax with {what}"
    metrics = [Metric(ref_dec[idx], lab_dec[idx] if lab_dec is not None else None, threshold) for idx in (tune_idx, hold_idx)]
    spread = MARGIN_Z * math.sqrt(1.0 / len(tune_idx) + 1.0 / len(hold_idx))

    bar = _Progress(progress)
    evaluate = Evaluator(model, knobs, x[tune_idx], metrics[0], target, spread, bar.step)
    try:
        before = [k.base for k in knobs]
        base = evaluate(before)
        if math.isinf(base.loss):
            raise TuneError(f"{model.path.name}: the base configuration does not import or run")
        ints = _ranges(model, knobs, x[tune_idx][:RANGE_SAMPLES])
        after = _search(knobs, ints, evaluate, budget, bar, say)
    finally:
        bar.close()
    hold = Evaluator(model, knobs, x[hold_idx], metrics[1], target)
    loss_before = (base.loss, hold(before).loss)
    final = evaluate(after)
    loss_after = (final.loss, hold(after).loss)
    after = evaluate.complete(after)
    cfg = with_knobs(model.base, knobs, after)
    result = TuneResult(
        model=model.path.name, target=target, knobs=knobs, before=before, after=after, config=cfg,
        budget=budget, metric=metric_name, n_tune=len(tune_idx), n_holdout=len(hold_idx),
        loss_before=loss_before, loss_after=loss_after, cost_before=base.report, cost_after=final.report,
        evaluations=evaluate.count + hold.count,
    )
    if not result.confirmed:
        result.notes.append("the held-out split does not confirm the budget: give more data, or a smaller --budget")
    return result


def _emulate(model: Model, config: dict, x: np.ndarray) -> np.ndarray:
    from fmlc.emulator import Emulator

    return Emulator(model.resolved(config)).run(x)[0]


def _ranges(model: Model, knobs: list[Knob], x: np.ndarray) -> list[int]:
    """Integer bits per knob: from the data (inputs, results), the weights, or as imported."""
    from fmlc.dialects import fxp
    from fmlc.ir import body_ops, main_function
    from fmlc.profile import profile_module

    def roomy(k: Knob) -> FixedFormat:
        return FixedFormat(RANGE_INT_BITS + max(k.base.frac, 0), RANGE_INT_BITS, k.base.signed, k.base.rounding, "SAT")

    params = [k.int_searched and k.key in ("weight", "bias") for k in knobs]
    values = [k.int_searched and k.key == "result" for k in knobs]
    # weights and biases: read from an import with room for any weight (not run)
    wide = model.resolved(with_knobs(model.base, knobs, [roomy(k) if p else k.base for k, p in zip(knobs, params)])) if any(params) else None
    weights = {}
    if wide is not None:
        for op in body_ops(main_function(wide)):
            if "name" not in op.attributes:
                continue
            operands = {"weight": getattr(op, "weight", None) or getattr(op, "scale", None), "bias": getattr(op, "bias", None) or getattr(op, "shift", None)}
            for key, v in operands.items():
                if v is not None and isinstance(v.owner, fxp.ConstantOp):
                    codes = v.owner.codes()
                    weights[(op.attributes["name"].data, key)] = float(np.max(np.abs(codes))) * 2.0 ** -fxp.element_format(v).frac if codes.size else 0.0
    # results and accumulators: the exact values on the data, with room for every result
    prof = None
    if any(values) or any(k.key == "accum" for k in knobs):
        module = model.resolved(with_knobs(model.base, knobs, [roomy(k) if v else k.base for k, v in zip(knobs, values)]))
        prof = profile_module(module, [x])
    out = []
    for k in knobs:
        if not k.int_searched:
            out.append(k.base.int_bits)
            continue
        if k.section == "inputs":
            m = float(np.max(np.abs(x))) if x.size else 0.0
        elif k.key in ("weight", "bias"):
            m = weights.get((k.name, k.key), 2.0 ** (k.base.int_bits - 1))
        else:
            row = prof.find(k.name, "accumulator" if k.key == "accum" else "result")
            m = max(abs(row.min or 0.0), abs(row.max or 0.0)) if row is not None else 2.0 ** (k.base.int_bits - 1)
        out.append(int_bits_for(m, k.base.signed))
    return out


def _search(knobs: list[Knob], ints: list[int], evaluate: Evaluator, budget: float, bar: _Progress, say) -> list[FixedFormat]:
    n = len(knobs)
    ints = list(ints)
    floors = [frac_floor(k, i) if k.key != "accum" else k.base.frac for k, i in zip(knobs, ints)]

    def finer(k: int, extra: int) -> int:
        knob = knobs[k]
        if knob.key == "accum":
            return knob.base.frac  # a placeholder: the evaluator gives accumulators the products' bits
        cap = (MAX_INDEX_WIDTH if knob.key in INDEX_KEYS else MAX_START_WIDTH) - ints[k]
        return max(floors[k], min(knob.base.frac + extra, max(cap, knob.base.frac)))

    start = [finer(k, START_FINER) for k in range(n)]

    def formats(ib, fr):
        return [fmt_of(k, i, f) for k, i, f in zip(knobs, ib, fr)]

    def ok(ib, fr) -> bool:
        return evaluate(formats(ib, fr)).upper <= budget

    # 2. a start within the budget, then each knob alone
    bar.expect(1 + START_RAISE // 2 + sum(max(1, math.ceil(math.log2(s - f + 1))) for s, f in zip(start, floors)))
    extra = START_FINER
    while not ok(ints, start):
        extra += 2
        wider = [finer(k, extra) for k in range(n)]
        if extra > START_FINER + START_RAISE or wider == start:
            got = evaluate(formats(ints, start)).loss
            raise TuneError(f"even types {extra - 2} fractional bits finer than the imported ones miss the budget (loss {_pct(got)}); is the budget too small for this data?")
        start = wider
    say(f"start: {', '.join(str(f) for f in formats(ints, start))} (loss {_pct(evaluate(formats(ints, start)).loss)})")
    alone = []
    for k in range(n):
        lo, hi = floors[k], start[k]
        while lo < hi:
            mid = (lo + hi) // 2
            trial = list(start)
            trial[k] = mid
            if ok(ints, trial):
                hi = mid
            else:
                lo = mid + 1
        alone.append(lo)

    say(f"alone: {', '.join(str(f) for f in formats(ints, alone))}")

    # 3. together
    spread = max((s - a for s, a in zip(start, alone)), default=0)
    bar.expect(spread + 1)
    current = list(start)
    for delta in range(spread + 1):
        trial = [min(a + delta, s) for a, s in zip(alone, start)]
        if ok(ints, trial):
            current = trial
            break
    say(f"together: {', '.join(str(f) for f in formats(ints, current))} (loss {_pct(evaluate(formats(ints, current)).loss)})")

    # 4. descent
    for _ in range(MAX_PASSES):
        here = evaluate(formats(ints, current))
        by_layer = here.report.by_layer() if here.report is not None else {}
        order = sorted(range(n), key=lambda k: (-by_layer.get(knobs[k].name, 0.0), k))
        bar.expect(2 * n)
        changed = False
        for k in order:
            for move in ("frac", "int"):
                if move == "int" and not knobs[k].int_searched or move == "frac" and knobs[k].key == "accum":
                    bar.step()
                    continue
                ib, fr = list(ints), list(current)
                if move == "frac":
                    fr[k] -= 1
                else:
                    ib[k] -= 1
                if ib[k] < MIN_INT or fr[k] < frac_floor(knobs[k], ib[k]):
                    bar.step()
                    continue
                got = evaluate(formats(ib, fr))
                if got.upper <= budget and got.cost <= evaluate(formats(ints, current)).cost:
                    ints, current, changed = ib, fr, True
        if not changed:
            break
    return formats(ints, current)
