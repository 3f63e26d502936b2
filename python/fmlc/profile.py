"""Numerical profile of a model on data: every tensor's values next to its fixed-point type.

``profile_module(module, inputs)`` runs the emulator over the data and records, for every
tensor an operation computes (the quantized input, accumulators, layer results) and for the
constant operands of layers (weights, biases, scales):

- the distribution: min, max, percentiles, zeros, a histogram of ``floor(log2|x|)``;
- the type: its range and LSB;
- what the cast into the type did: values saturated, wrapped and rounded to zero.

The counts are exact.  Each operation is run a second time as its *exact twin*: the same
operation whose result type is the narrowest type that holds every exact result
(``fmlc.ranges.exact_interval``, as precision inference would choose), so the twin's codes
are the values before the final cast.  A value overflows when rounding it to the result's
LSB leaves the result's range; it is counted as saturated or wrapped by the type's overflow
mode.  It is rounded to zero when it is not zero and its rounded code is.  A dense or
convolution layer gives two rows: its accumulator (the exact sum against the accumulator
type) and its result (the accumulator's value against the result type).  The model input
compares the float input with the quantized type the same way (its twin quantizes into a
type with the same LSB and 24 more integer bits, saturating, so even huge inputs are counted).  Softmax
adds a row for ``max - x`` against its ``diff`` type (saturation there means a probability
below ``exp(-range)`` reads as that bound).

Distributions are of the exact values (what the type has to hold).  Percentiles come from
at most ``SAMPLE_VALUES`` values per tensor: every k-th sample when there are more; min, max,
histograms and counts use every value.

``write_plot`` draws the profile with matplotlib (the ``fmlc[plot]`` extra, Agg backend):
one row per tensor, grouped by layer, the input at the top; a box over ``log2|x|`` with the
type's representable band (LSB to largest value) drawn behind it, saturations and wraps
marked on the right in red, values rounded to zero on the left.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue

from fmlc import fixed
from fmlc.dialects import fxp
from fmlc.emulator import DEFAULT_CHUNK, KERNELS, Emulator
from fmlc.fixed import FixedFormat
from fmlc.ranges import Interval, accumulator_interval, exact_interval

PERCENTILES = (0.1, 1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.9)
"""Percentiles recorded of the signed values (and of log2|x| over the non-zero ones)."""
SAMPLE_VALUES = 250_000
"""Most values per tensor kept for percentiles."""
WIDE_INPUT_BITS = 24
"""The input's twin quantizes into a type with this many more integer bits (same LSB)."""

MOVE_OPS = (fxp.ReshapeOp, fxp.FlattenOp, fxp.TransposeOp, fxp.PadOp, fxp.ConcatOp, fxp.UpsampleOp)
"""Data movement: the values are those of the operands, no row of their own."""
PARAMETERS = {
    fxp.DenseOp: ("weight", "bias"),
    fxp.ConvOp: ("weight", "bias"),
    fxp.BatchNormOp: ("scale", "shift"),
    fxp.LeakyReluOp: ("alpha",),
    fxp.MultiThresholdOp: ("thresholds",),
}
"""Constant operands recorded as rows (by operand name)."""

SATURATING = ("SAT", "SAT_ZERO", "SAT_SYM")


# --------------------------------------------------------------------------------------------
# the record
# --------------------------------------------------------------------------------------------


@dataclass
class TensorProfile:
    """One row of the profile: a tensor's values against its type."""

    name: str
    """How the row is shown: ``LAYER``, ``LAYER accumulator``, ``LAYER weight``, ``input NAME``."""
    layer: str
    """The layer (ONNX node name, else ``op#index``) or ``input NAME``."""
    role: str
    """input, result, accumulator, weight, bias, scale, shift, alpha, thresholds, diff."""
    op: str
    format: str
    type_min: float
    type_max: float
    lsb: float
    count: int = 0
    zeros: int = 0
    min: float | None = None
    max: float | None = None
    percentiles: dict[str, float] = field(default_factory=dict)
    """Signed values, keys like ``p99.9``."""
    log2_abs_percentiles: dict[str, float] = field(default_factory=dict)
    """log2|x| over the non-zero values."""
    log2_hist: dict[str, int] = field(default_factory=dict)
    """Count of non-zero values per ``floor(log2|x|)`` (keys are the exponents as text)."""
    saturated: int | None = None
    wrapped: int | None = None
    rounded_to_zero: int | None = None
    """None where the cast is not known exactly (constants are stored already quantized; tables)."""

    @property
    def overflows(self) -> int:
        return (self.saturated or 0) + (self.wrapped or 0)


@dataclass
class Profile:
    """All rows, in program order (inputs first)."""

    samples: int
    tensors: list[TensorProfile]

    def to_json(self) -> str:
        data = {"fmlc_profile": 1, "samples": self.samples, "percentiles": list(PERCENTILES), "tensors": [asdict(t) for t in self.tensors]}
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    def find(self, layer: str, role: str) -> TensorProfile | None:
        for t in self.tensors:
            if t.layer == layer and t.role == role:
                return t
        return None

    def table(self) -> str:
        """A short text table: one line per tensor."""
        head = f"{'tensor':<40} {'type':<26} {'min':>10} {'max':>10} {'sat':>8} {'wrap':>8} {'->0':>8}"
        lines = [head, "-" * len(head)]
        for t in self.tensors:
            lines.append(
                f"{_short(t.name, 40):<40} {_short(t.format, 26):<26} {_num(t.min):>10} {_num(t.max):>10}"
                f" {_count(t.saturated):>8} {_count(t.wrapped):>8} {_count(t.rounded_to_zero):>8}"
            )
        lines.append(f"({self.samples} samples; sat/wrap: values outside the type after rounding; ->0: non-zero values rounded to 0; -: not known)")
        return "\n".join(lines) + "\n"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "~"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _count(v: int | None) -> str:
    return "-" if v is None else str(v)


# --------------------------------------------------------------------------------------------
# streaming statistics of one tensor
# --------------------------------------------------------------------------------------------


class _Stats:
    """Accumulates one row over the chunks of a run."""

    def __init__(self, row: TensorProfile, stride: int, counted: bool):
        self.row = row
        self.stride = stride
        self.kept: list[np.ndarray] = []
        self.hist: dict[int, int] = {}
        if counted:
            row.saturated = row.wrapped = row.rounded_to_zero = 0

    def add(self, values: np.ndarray, first_sample: int) -> None:
        """``values``: float64, shaped (samples, ...) or per-sample (constants)."""
        row = self.row
        flat = values.reshape(-1)
        if flat.size == 0:
            return
        row.count += int(flat.size)
        nz = flat[flat != 0]
        row.zeros += int(flat.size - nz.size)
        lo, hi = float(flat.min()), float(flat.max())
        row.min = lo if row.min is None else min(row.min, lo)
        row.max = hi if row.max is None else max(row.max, hi)
        if nz.size:
            exps = np.frexp(nz)[1].astype(np.int64) - 1  # floor(log2|x|)
            base = int(exps.min())
            for k, c in enumerate(np.bincount(exps - base)):
                if c:
                    self.hist[base + k] = self.hist.get(base + k, 0) + int(c)
        if values.ndim and self.stride > 1:
            start = (-first_sample) % self.stride
            values = values[start :: self.stride]
        self.kept.append(values.reshape(-1))

    def count(self, saturated: int, wrapped: int, to_zero: int) -> None:
        self.row.saturated += saturated
        self.row.wrapped += wrapped
        self.row.rounded_to_zero += to_zero

    def finish(self) -> TensorProfile:
        row = self.row
        row.log2_hist = {str(k): self.hist[k] for k in sorted(self.hist)}
        if self.kept:
            v = np.concatenate(self.kept)
            if v.size:
                row.percentiles = {f"p{p:g}": float(x) for p, x in zip(PERCENTILES, np.percentile(v, PERCENTILES))}
                nz = np.abs(v[v != 0])
                if nz.size:
                    row.log2_abs_percentiles = {f"p{p:g}": float(x) for p, x in zip(PERCENTILES, np.percentile(np.log2(nz), PERCENTILES))}
        return row


def _row(name: str, layer: str, role: str, op: Operation, fmt: FixedFormat) -> TensorProfile:
    return TensorProfile(
        name=name, layer=layer, role=role, op=op.name, format=str(fmt),
        type_min=float(fmt.min_value), type_max=float(fmt.max_value), lsb=float(fmt.lsb),
    )


# --------------------------------------------------------------------------------------------
# counting what a cast does
# --------------------------------------------------------------------------------------------


def cast_counts(codes: np.ndarray, frac: int, exact_bits: int, dst: FixedFormat, nonzero: np.ndarray | None = None) -> tuple[int, int, int]:
    """(saturated, wrapped, rounded to zero) when exact ``codes`` at ``frac`` are cast to ``dst``.

    Rounds into a format with ``dst``'s LSB and rounding but room for every rounded value
    (``exact_bits`` bounds the codes), then compares with ``dst``'s range.  ``nonzero`` says
    which values were not zero before they became ``codes`` (default: ``codes != 0``)."""
    int_bits = max(exact_bits - frac + 2, dst.int_bits + 1)
    width = max(int_bits + dst.frac, 2)
    roomy = FixedFormat(width, width - dst.frac, True, dst.rounding, "SAT")
    rounded = fixed.to_kind(fixed.cast(codes, frac, roomy, bits=exact_bits), "object" if width > fixed.INT_BITS else "int")
    lo, hi = dst.min_code, dst.max_code
    if dst.overflow == "SAT_SYM" and dst.signed and dst.width > 1:
        lo = -hi
    outside = int(np.count_nonzero((rounded < lo) | (rounded > hi)))
    to_zero = int(np.count_nonzero((rounded == 0) & ((codes != 0) if nonzero is None else nonzero)))
    if dst.overflow in SATURATING:
        return outside, 0, to_zero
    return 0, outside, to_zero


# --------------------------------------------------------------------------------------------
# exact twins
# --------------------------------------------------------------------------------------------


@dataclass
class _Twin:
    kernel: object
    """None when the op's own result is already exact (its type holds every exact value)."""
    fmt: FixedFormat
    """The twin's exact result format."""

    def run(self, args: list[np.ndarray], out: np.ndarray) -> np.ndarray:
        return out if self.kernel is None else self.kernel(args)


def _format_range(v: SSAValue) -> Interval:
    return Interval.of_format(fxp.element_format(v))


def _twin(op: Operation, emu: Emulator, fmt: FixedFormat, acc: FixedFormat | None = None) -> _Twin:
    """The op with result type ``fmt`` (and accumulator ``acc``), prepared by the emulator."""
    result = op.results[0]
    same_acc = acc is None or not isinstance(op, fxp.DenseOp | fxp.ConvOp) or op.acc.format == acc
    if same_acc and fxp.element_format(result).contains(fmt) and fxp.element_format(result).frac == fmt.frac:
        return _Twin(None, fxp.element_format(result))  # the op's own result is exact already
    props = dict(op.properties)
    if acc is not None:
        props["acc"] = fxp.FixedType.get(acc)
    clone = type(op).create(
        operands=list(op.operands),
        result_types=[TensorType(fxp.FixedType.get(fmt), result.type.get_shape())],
        properties=props,
        attributes=dict(op.attributes),
    )
    try:
        kernel = KERNELS[type(op)](clone, emu)
    finally:
        clone.drop_all_references()  # the twin must not stay a user of the model's values
    return _Twin(kernel, fmt)


def _const_codes(emu: Emulator):
    def const_of(v: SSAValue) -> np.ndarray | None:
        v = emu.resolve(v)
        return fixed.to_kind(emu.constants[v], "object") if v in emu.constants else None

    return const_of


def _exact_twins(op: Operation, emu: Emulator) -> tuple[_Twin | None, _Twin | None]:
    """(the accumulator's exact twin for dense/conv, the exact twin of the op's final cast)."""
    if isinstance(op, fxp.QuantizeOp):
        fmt = fxp.element_format(op.result)
        extra = max(1, min(WIDE_INPUT_BITS, fixed.FLOAT_BITS - fmt.width))  # float64 codes stay fast
        wide = FixedFormat(fmt.width + extra, fmt.int_bits + extra, True, fmt.rounding, "SAT")
        return None, _twin(op, emu, wide)
    if isinstance(op, fxp.TableOp):
        return None, None  # the result is the table entry: nothing is cast
    const_of = _const_codes(emu)
    if isinstance(op, fxp.DenseOp | fxp.ConvOp):
        whole = accumulator_interval(op, _format_range, const_of).narrowest()
        acc_twin = _twin(op, emu, whole, acc=whole)
        fa = op.acc.format
        if fa.contains(whole):
            return acc_twin, acc_twin  # the accumulator holds every sum: the result cast sees them
        iv = exact_interval(op, _format_range, const_of)
        return acc_twin, (_twin(op, emu, iv.narrowest()) if iv is not None else None)
    iv = exact_interval(op, _format_range, const_of)
    if iv is None:
        return None, None
    return None, _twin(op, emu, iv.narrowest())


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------


def layer_name(op: Operation, index: int) -> str:
    name = op.attributes.get("name")
    return name.data if name is not None else f"{op.name.split('.')[-1]}#{index}"


@dataclass
class _Plan:
    step: object
    layer: str
    acc: _Stats | None = None
    acc_twin: _Twin | None = None
    result: _Stats | None = None
    twin: _Twin | None = None
    diff: _Stats | None = None


def profile_module(module: ModuleOp, inputs: Sequence[np.ndarray], chunk: int = DEFAULT_CHUNK) -> Profile:
    """Run a resolved fxp module on float inputs shaped ``(N, *input_shape)`` and profile it."""
    emu = Emulator(module, fuse=False)  # every op its own step: each result is observed
    if len(inputs) != len(emu.inputs):
        raise ValueError(f"the model takes {len(emu.inputs)} input(s), got {len(inputs)}")
    arrays = [np.asarray(x) for x in inputs]
    for k, (x, shape) in enumerate(zip(arrays, emu.input_shapes)):
        if tuple(x.shape[1:]) != tuple(shape):
            raise ValueError(f"input #{k} must be shaped (N, {', '.join(map(str, shape))}), got {x.shape}")
    n = arrays[0].shape[0] if arrays else 0
    plans, constant_rows = _plan(emu, n)
    for start in range(0, n, chunk):
        env: dict[SSAValue, np.ndarray] = {arg: a[start : start + chunk] for arg, a in zip(emu.inputs, arrays)}
        for plan in plans:
            step = plan.step
            args = [env[v] if v in env else emu.constants[v] for v in step.operands]
            out = step.kernel(args)
            env[step.result] = out
            _observe(plan, step, args, out, start)
    return Profile(n, [s.finish() for s in _all_rows(plans, constant_rows)])


def _all_rows(plans: list[_Plan], constant_rows: list[_Stats]) -> list[_Stats]:
    """Rows in display order: each layer's parameters before its accumulator and result."""
    by_layer: dict[str, list[_Stats]] = {}
    for s in constant_rows:
        by_layer.setdefault(s.row.layer, []).append(s)
    out: list[_Stats] = []
    for p in plans:
        out += by_layer.pop(p.layer, [])
        out += [s for s in (p.diff, p.acc, p.result) if s is not None]
    for rest in by_layer.values():
        out += rest
    return out


def _plan(emu: Emulator, n: int) -> tuple[list[_Plan], list[_Stats]]:
    plans: list[_Plan] = []
    constants: list[_Stats] = []
    seen_constants: set[SSAValue] = set()
    for index, step in enumerate(emu.steps):
        op = step.op
        if isinstance(op, MOVE_OPS):
            plans.append(_Plan(step, layer_name(op, index)))
            continue
        layer = layer_name(op, index)
        elements = int(np.prod(fxp.shape_of(op.results[0]), dtype=np.int64))
        stride = max(1, math.ceil(n * elements / SAMPLE_VALUES))
        plan = _Plan(step, layer)
        acc_twin, twin = _exact_twins(op, emu)
        if isinstance(op, fxp.QuantizeOp):
            plan.layer = f"input {_arg_name(step.operands[0], emu)}"
            plan.result = _Stats(_row(plan.layer, plan.layer, "input", op, fxp.element_format(op.result)), stride, True)
        else:
            if acc_twin is not None:
                plan.acc = _Stats(_row(f"{layer} accumulator", layer, "accumulator", op, op.acc.format), stride, True)
            plan.result = _Stats(_row(layer, layer, "result", op, fxp.element_format(op.result)), stride, twin is not None)
        if isinstance(op, fxp.SoftmaxOp):
            plan.diff = _Stats(_row(f"{layer} max-x", layer, "diff", op, op.diff_type.format), stride, True)
        plan.acc_twin, plan.twin = acc_twin, twin
        plans.append(plan)
        for role in PARAMETERS.get(type(op), ()):
            value = getattr(op, role, None)
            if value is None or not emu.is_constant(value) or emu.resolve(value) in seen_constants:
                continue
            seen_constants.add(emu.resolve(value))
            fmt = fxp.element_format(value)
            stats = _Stats(_row(f"{layer} {role}", layer, role, op, fmt), 1, False)
            stats.add(fixed.to_float(emu.constants[emu.resolve(value)], fmt.frac), 0)
            constants.append(stats)
    return plans, constants


def _arg_name(value: SSAValue, emu: Emulator) -> str:
    index = emu.inputs.index(value) if value in emu.inputs else 0
    return value.name_hint or f"#{index}"


def _observe(plan: _Plan, step, args: list[np.ndarray], out: np.ndarray, start: int) -> None:
    op = step.op
    if plan.result is None:
        return
    dst = fxp.element_format(op.results[0])
    if isinstance(op, fxp.QuantizeOp):
        wide = plan.twin.fmt
        codes = plan.twin.run(args, out)
        # the float input itself, unless float steps come first (then their result, rounded)
        plain = all(getattr(op, a, None) is None for a in ("scale", "offset", "steps"))
        x = np.asarray(args[0], dtype=np.float64)
        plan.result.add(x if plain else fixed.to_float(codes, wide.frac), start)
        plan.result.count(*cast_counts(codes, wide.frac, wide.width, dst, (x != 0) if plain else None))
        return
    exact_acc = None
    if plan.acc is not None:
        fa = op.acc.format
        exact_acc = plan.acc_twin.run(args, out)
        plan.acc.add(fixed.to_float(exact_acc, plan.acc_twin.fmt.frac), start)
        plan.acc.count(*cast_counts(exact_acc, plan.acc_twin.fmt.frac, plan.acc_twin.fmt.width, fa))
    if plan.diff is not None:
        _observe_softmax_diff(plan.diff, op, args[0], start)
    if plan.twin is None:
        plan.result.add(fixed.to_float(out, dst.frac), start)
        return
    exact = exact_acc if plan.twin is plan.acc_twin else plan.twin.run(args, out)
    plan.result.add(fixed.to_float(exact, plan.twin.fmt.frac), start)
    plan.result.count(*cast_counts(exact, plan.twin.fmt.frac, plan.twin.fmt.width, dst))


def _observe_softmax_diff(stats: _Stats, op: fxp.SoftmaxOp, x: np.ndarray, start: int) -> None:
    """``max - x`` (exact) against the softmax's diff type."""
    fx = fxp.element_format(op.input)
    xi = fixed.to_kind(x, "object" if fx.width + 1 > fixed.INT_BITS else "int")
    d = xi.max(axis=-1, keepdims=True) - xi
    stats.add(fixed.to_float(d, fx.frac), start)
    stats.count(*cast_counts(d, fx.frac, fx.width + 1, op.diff_type.format))


# --------------------------------------------------------------------------------------------
# the plot
# --------------------------------------------------------------------------------------------

ROLE_COLORS = {"input": "#4c72b0", "result": "#4c72b0", "accumulator": "#8172b2", "diff": "#8172b2"}
PARAMETER_COLOR = "#55a868"


def write_plot(profile: Profile, path, title: str = "") -> None:
    """Draw the profile into a PNG at ``path`` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt
    from matplotlib.patches import Rectangle

    rows = profile.tensors
    height = max(3.0, 0.42 * len(rows) + 1.6)
    fig, ax = plt.subplots(figsize=(11, height), dpi=110)
    lows = [math.log2(t.lsb) for t in rows] + [v for t in rows for v in t.log2_abs_percentiles.values()]
    highs = [math.log2(t.type_max) if t.type_max > 0 else 0 for t in rows] + [v for t in rows for v in t.log2_abs_percentiles.values()]
    for t in rows:
        if t.log2_hist:
            keys = [int(k) for k in t.log2_hist]
            lows.append(min(keys))
            highs.append(max(keys) + 1)
    x_lo = math.floor(min(lows, default=-16)) - 1
    x_hi = math.ceil(max(highs, default=8)) + 1
    layers = []
    for k, t in enumerate(rows):
        y = len(rows) - 1 - k
        if not layers or layers[-1][0] != t.layer:
            layers.append((t.layer, [y]))
        else:
            layers[-1][1].append(y)
        # the representable band: from the LSB to the largest magnitude
        top = max(abs(t.type_min), abs(t.type_max))
        band_lo, band_hi = math.log2(t.lsb), (math.log2(top) if top > 0 else math.log2(t.lsb))
        ax.add_patch(Rectangle((band_lo, y - 0.38), band_hi - band_lo, 0.76, facecolor="#dddddd", edgecolor="#aaaaaa", lw=0.6, zorder=1))
        p = t.log2_abs_percentiles
        color = ROLE_COLORS.get(t.role, PARAMETER_COLOR)
        if p:
            ax.plot([p["p1"], p["p99"]], [y, y], color=color, lw=1.2, zorder=2)
            ax.add_patch(Rectangle((p["p25"], y - 0.25), max(p["p75"] - p["p25"], 0.02), 0.5, facecolor=color, edgecolor="black", lw=0.5, alpha=0.85, zorder=3))
            ax.plot([p["p50"], p["p50"]], [y - 0.25, y + 0.25], color="black", lw=1.2, zorder=4)
            ext = [int(k) for k in t.log2_hist]
            if ext:
                ax.plot([min(ext), max(ext) + 1], [y, y], linestyle="none", marker="|", color=color, markersize=7, zorder=2)
        if t.count and t.zeros == t.count:
            ax.text((band_lo + band_hi) / 2, y, "all zero", ha="center", va="center", fontsize=7, color="#555555", zorder=5)
        # counts in a column right of the plot: overflows in red (and a mark at the band's top), values rounded to 0 in orange
        notes = []
        if t.overflows:
            notes.append((f"\u25b2 {t.overflows} {'sat' if t.saturated else 'wrap'}", "#c44e52"))
            ax.plot([band_hi], [y], marker=">", color="#c44e52", markersize=6, zorder=6)
        if t.rounded_to_zero:
            notes.append((f"{t.rounded_to_zero} \u21920", "#dd8452"))
        for j, (text, color) in enumerate(notes):
            ax.annotate(text, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(6 + 64 * j, 0), textcoords="offset points",
                        color=color, va="center", fontsize=8, fontweight="bold", annotation_clip=False)
    for k, (_, ys) in enumerate(layers):
        if k % 2:
            ax.axhspan(min(ys) - 0.5, max(ys) + 0.5, color="#f4f4f8", zorder=0)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{t.name}  [{t.format.replace('fixed', 'f')}]" for t in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(x_lo, x_hi)
    ax.set_xlabel("log2 |x|   (box: 25-75 %, line: 1-99 %, ticks: min/max; grey band: the type's LSB to its largest value)")
    ax.grid(axis="x", color="#cccccc", lw=0.5, zorder=0)
    ax.set_title(title or f"fmlc profile: {profile.samples} samples", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
