"""Which layers of a pipelined network start a fresh stage with their inputs registered.

``Logic.sync`` places registers as soon as possible: an operation that would exceed the
budget of adder levels starts a new stage.  Inside a layer that is the rule; at a layer
boundary it can be the wrong one.  A layer whose inputs arrive with a few levels of their
stage used starts its adder tree there, and the stage's end then cuts the tree a level or two
in, where its partial sums are many and wide; registering the layer's inputs instead (the
previous activation's narrow codes) and starting the tree in a fresh stage may end the
network in as many stages with far fewer register bits.  Or it may cost a stage.

``plan`` works this out before anything is built.  Per layer (a node with its adder graph and
the casts and ReLU fused into its module) it reads a profile from the IR: every value's
operands, its cost in adder levels and its bits; then a small dynamic programme over the
layers in order, each either continuing where the previous one ended or starting a fresh
stage, keeps per arrival the fewest register bits and returns the layers to start fresh on a
path of least latency, then fewest bits.  The costs follow ``Logic``: an adder 1 (and the
adder that adds an output's constants, where it has any), shifts and constants 0, a
saturating select 1 where its stage has a level left (``Logic._charge_select``).

The model's stages and depths are exact on the networks it was made for (the jet tagger at
every budget from 2 to 10, the mlp57 of bench/ from 4 to 8), not on all: ``Logic`` decides
some levels from the bits it finds constant, and its register bits are estimates.  So the
lowering checks, layer by layer as it builds, that each layer's outputs arrive where the
model said; at the first that does not, it drops the plan and builds the design with every
register where ``sync`` puts it.  The check guarantees the model's latency for the plan; that
this is the unplanned design's latency too rests on the model (in every case measured it
was: see docs/verilog.md, "Pipelining").  Only chains of layers whose work is
constant-weight adder graphs and casts that round by truncation or through the graph's
constants, and wrap or saturate, are planned; for any other network ``plan`` returns None.
The plan decides where registers go, never what is computed: any plan gives the same bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xdsl.ir import SSAValue

from fmlc.dialects import dataflow, fxp, rtl
from fmlc.dialects.fxp import element_format, shape_of
from fmlc.fixed import round_code

END = -1
"""A reader index meaning: read where the layer ends (its outputs leave in one stage)."""


@dataclass
class _Value:
    """A value of a layer's profile: what it is computed from (values before it; none: a
    layer input), at what cost in adder levels, its bits (all rows), its readers."""

    operands: list[int]
    cost: int
    bits: int
    soft: bool = False  # a saturating select: no level where its stage has none left
    readers: list[int] = field(default_factory=list)


@dataclass
class Layer:
    """The profile of one layer's module: its values (inputs first) and its outputs."""

    values: list[_Value]
    inputs: int  # values[:inputs] are the layer's inputs (level 0)
    outputs: list[int]

    def run(self, depth: int, budget: int) -> tuple[int, int, int]:
        """Entering with ``depth`` levels of the current stage used: (stages the layer's
        end lies after the entry stage, depth there, register bits inside the layer)."""
        pos = []
        for v in self.values:  # operands come first
            p = max((pos[o] for o in v.operands), default=depth)
            if v.cost and not (v.soft and p > 0 and p % budget == 0):  # a select at a full stage stays, uncharged
                p += v.cost
            pos.append(p)
        stage = [(p - 1) // budget if p > 0 else 0 for p in pos]
        end = max(pos[k] for k in self.outputs)
        end_stage = (end - 1) // budget if end > 0 else 0
        bits = 0
        for k, v in enumerate(self.values):
            last = max((end_stage if r == END else stage[r] for r in v.readers), default=stage[k])
            bits += v.bits * (last - stage[k])
        return end_stage, end - end_stage * budget, bits

    @property
    def input_bits(self) -> int:
        """The bits of the inputs the layer reads (registered when it starts a stage)."""
        return sum(v.bits for v in self.values[: self.inputs] if v.readers)


@dataclass(frozen=True)
class Plan:
    """The nodes whose modules register their inputs first, and where the model says each
    layer's outputs then arrive, as (stage, depth), keyed by the layer's first node."""

    fresh: frozenset[dataflow.NodeOp]
    arrivals: dict[dataflow.NodeOp, tuple[int, int]]


def plan(func, budget: int | None) -> Plan | None:
    """The plan for ``func``'s network; None where the model finds nothing to gain, or the
    network is not a chain of plannable layers, or the design is not pipelined."""
    layers = _layers(func, budget)
    if layers is None:
        return None
    groups, profiles = layers
    fresh = _best(profiles, budget)
    if not fresh:
        return None
    arrivals = schedule(profiles, budget, frozenset(fresh))
    return Plan(frozenset(groups[k][0] for k in fresh), {nodes[0]: a[:2] for nodes, a in zip(groups, arrivals)})


def schedule(profiles: list[Layer], budget: int, fresh: frozenset[int] = frozenset()) -> list[tuple[int, int, int]]:
    """Per layer, the model's (stage, depth, register bits) at its end, the layers in
    ``fresh`` starting a stage of their own (their input registers counted in their bits)."""
    out, stage, depth = [], 0, 0
    for k, layer in enumerate(profiles):
        extra = 0
        if k in fresh and 0 < depth < budget:
            stage, depth, extra = stage + 1, 0, layer.input_bits
        ds, depth, bits = layer.run(depth, budget)
        stage += ds
        out.append((stage, depth, bits + extra))
    return out


def _layers(func, budget: int | None) -> tuple[list[list[dataflow.NodeOp]], list[Layer]] | None:
    if not budget:
        return None
    groups = _chain(func)
    if groups is None:
        return None
    profiles = [profile(nodes) for nodes in groups]
    return None if any(p is None for p in profiles) else (groups, profiles)


def _best(layers: list[Layer], budget: int) -> list[int]:
    """The layers (indices) that start fresh on a path of least (final stage, bits)."""
    # states: arrival (stage, depth) -> (bits, the fresh starts that reach it)
    states: dict[tuple[int, int], tuple[int, tuple[int, ...]]] = {(0, 0): (0, ())}
    for k, layer in enumerate(layers):
        nxt: dict[tuple[int, int], tuple[int, tuple[int, ...]]] = {}
        runs: dict[int, tuple[int, int, int]] = {}  # by entry depth: states share them
        for (stage, depth), (bits, fresh) in states.items():
            options = [(stage, depth, 0, fresh)]
            if 0 < depth < budget:  # at 0 nothing to gain, at a full stage sync registers them anyway
                options.append((stage + 1, 0, layer.input_bits, fresh + (k,)))
            for s0, d0, extra, path in options:
                if d0 not in runs:
                    runs[d0] = layer.run(d0, budget)
                ds, d1, inner = runs[d0]
                key, total = (s0 + ds, d1), bits + extra + inner
                if key not in nxt or (total, len(path)) < (nxt[key][0], len(nxt[key][1])):
                    nxt[key] = (total, path)
        states = nxt
    (_, _), (_, fresh) = min(states.items(), key=lambda item: (item[0][0], item[1][0], len(item[1][1])))
    return list(fresh)


# ============================================================================================
# Profiles from the IR
# ============================================================================================


def _chain(func) -> list[list[dataflow.NodeOp]] | None:
    """The model's layers as the lowering groups them into modules (``node_groups``), if they
    form a chain: each group reads the previous one's result, and nothing else is computed."""
    from xdsl.dialects.func import ReturnOp

    from fmlc.lowering.dataflow_to_hw import node_groups

    groups, previous = [], None
    for op, nodes in node_groups(func):
        if nodes is None:
            if isinstance(op, ReturnOp):
                continue
            return None
        if len(op.inputs) != 1 or (previous is not None and op.inputs[0] is not previous):
            return None
        if len(nodes[-1].outputs) != 1:
            return None
        previous = nodes[-1].outputs[0]
        groups.append(nodes)
    return groups or None


def profile(nodes: list[dataflow.NodeOp]) -> Layer | None:
    """The profile of a layer's module, or None where it holds anything but one adder graph
    over the node's input and elementwise casts or ReLUs after it, or a cast the model does
    not follow (``_cast_steps``)."""
    values: list[_Value] = []
    tensors: dict[SSAValue, list[int]] = {}  # a tensor's elements, as value indices (one row)
    first = nodes[0]
    graph = [o for o in first.block.ops if isinstance(o, rtl.AdderGraphOp)]
    if len(graph) != 1 or graph[0].input is not first.block.args[0]:
        return None
    graph = graph[0]
    shape = shape_of(graph.input)
    rows = math.prod(shape[:-1])
    width = element_format(graph.input).width
    tensors[graph.input] = [_new(values, [], 0, width * rows) for _ in range(shape[-1])]
    inputs = len(values)
    signed = element_format(graph.input).min_code < 0
    results = _graph_values(graph, tensors[graph.input], signed, values, rows)
    if results is None:
        return None
    tensors[graph.result], clean = results
    fold = _folded(graph, nodes)
    # per element: the codes it can take (lo, hi, frac), from the declared formats (Logic's
    # exact ranges may be narrower: a cast the model sees overflow may not)
    ranges = {graph.result: [_range(v.type.format) for v in graph.block.last_op.values]}
    for k, node in enumerate(nodes):
        if k:
            (arg,) = node.block.args
            prev = nodes[k - 1].block.last_op.values[0]
            tensors[arg], ranges[arg] = tensors[prev], ranges[prev]
        for op in node.block.ops:
            if op is graph or isinstance(op, fxp.ConstantOp):
                continue
            if isinstance(op, dataflow.YieldOp):
                break
            if not isinstance(op, fxp.CastOp | fxp.ReluOp) or op.input not in tensors:
                return None
            dst, relu = element_format(op.result), isinstance(op, fxp.ReluOp)
            out, spans = [], []
            for e, c, span in zip(tensors[op.input], clean, ranges[op.input]):  # element k: the graph's output k
                steps = _cast_steps(span, dst, op is fold and not c, relu)
                if steps is None:
                    return None
                for cost, soft in steps:
                    e = _read(values, e, cost, soft, dst.width * rows)
                out.append(e)
                spans.append(_cast_range(span, dst, relu))
            tensors[op.result], ranges[op.result] = out, spans
    out = nodes[-1].block.last_op.values
    if len(out) != 1 or out[0] not in tensors:
        return None
    outputs = tensors[out[0]]
    for k in outputs:
        values[k].readers.append(END)
    return Layer(values, inputs, outputs)


def _new(values: list[_Value], operands: list[int], cost: int, bits: int, soft: bool = False) -> int:
    values.append(_Value(operands, cost, bits, soft))
    for o in operands:
        values[o].readers.append(len(values) - 1)
    return len(values) - 1


def _read(values: list[_Value], operand: int, cost: int, soft: bool, bits: int) -> int:
    """A value computed from ``operand`` at ``cost`` levels (0: the operand itself)."""
    return _new(values, [operand], cost, bits, soft) if cost else operand


def _graph_values(graph: rtl.AdderGraphOp, args: list[int], signed: bool, values: list[_Value], rows: int) -> tuple[list[int], list[bool]] | None:
    """The graph's adders as values, then per output the adder that adds the output's
    constants: (the outputs' value indices, whether each output is clean).  A clean output has
    no constants, so ``fxp_to_hw._adder_graph`` builds no such adder for it: its inputs are
    unsigned, it is built by additions only, and every addition's operands are inputs or
    values read more than once (``_combine`` then adds them as they are)."""
    from fmlc.lowering.fxp_to_hw import read_by_one_adder

    env: dict[SSAValue, int | None] = dict(zip(graph.block.args, args))  # None: a constant
    clean: dict[SSAValue, bool] = dict.fromkeys(graph.block.args, not signed)
    for op in graph.block.ops:  # thousands of adders a layer: each op's operands read once
        if isinstance(op, rtl.YieldOp):
            break
        result, operands = op.results[0], tuple(op.operands)
        if isinstance(op, rtl.AddOp | rtl.SubOp):
            x, y = operands
            a, b = env[x], env[y]
            if a is None or b is None:  # a constant joins the offsets: no adder
                env[result], clean[result] = (b if a is None else a), False
                continue
            env[result] = _new(values, [a, b], 1, result.type.format.width * rows)
            clean[result] = isinstance(op, rtl.AddOp) and clean[x] and clean[y] and not read_by_one_adder(x) and not read_by_one_adder(y)
        elif isinstance(op, rtl.ShiftOp | rtl.NegOp):
            env[result] = env[operands[0]]
            clean[result] = clean[operands[0]] and isinstance(op, rtl.ShiftOp)
        elif isinstance(op, rtl.ConstantOp):
            env[result], clean[result] = None, False
        else:
            return None
    out, flags = [], []
    for v in graph.block.last_op.values:
        k = env[v]
        if k is None:  # a constant output: wiring, no register
            out.append(_new(values, [], 0, 0))
        else:
            out.append(k if clean[v] else _read(values, k, 1, False, v.type.format.width * rows))
        flags.append(k is not None and clean[v])
    return out, flags


def _folded(graph: rtl.AdderGraphOp, nodes: list[dataflow.NodeOp]):
    """The cast whose rounding the graph's constants carry, as the lowering decides it."""
    from fmlc.lowering.fxp_to_hw import graph_fold

    forward = {(a.block.last_op, k): arg for a, b in zip(nodes, nodes[1:]) for k, arg in enumerate(b.block.args)}
    fold = graph_fold(graph, forward)
    return None if fold is None else fold[0]


def _range(fmt) -> tuple[int, int, int]:
    return fmt.min_code, fmt.max_code, fmt.frac


def _clamps(dst, relu: bool) -> bool:
    """Whether a ReLU into dst is its own mux at zero (``fxp_to_hw._relu``): an unsigned
    saturating result sends negative values to 0 through its overflow select instead."""
    return relu and (dst.signed or dst.overflow == "WRAP")


def _floor(dst) -> int:
    """The lowest code a saturating cast into dst keeps (SAT_SYM: minus the highest)."""
    return -dst.max_code if dst.overflow == "SAT_SYM" and dst.signed and dst.width > 1 else dst.min_code


def _cast_range(span: tuple[int, int, int], dst, relu: bool) -> tuple[int, int, int]:
    """The codes a cast's result takes, from the declared formats (Logic's exact ranges may
    be narrower): the rounded source range clamped as dst's overflow does (a wrapping cast
    that overflows: dst's whole range)."""
    lo, hi = (round_code(c, span[2] - dst.frac, dst.rounding) for c in span[:2])
    if _clamps(dst, relu):
        lo, hi = max(lo, 0), max(hi, 0)
    if dst.min_code <= lo and hi <= dst.max_code:
        return lo, hi, dst.frac
    if dst.overflow == "WRAP":
        return dst.min_code, dst.max_code, dst.frac
    bottom = _floor(dst)
    return max(min(lo, dst.max_code), bottom), min(max(hi, bottom), dst.max_code), dst.frac


def _cast_steps(span: tuple[int, int, int], dst, folded: bool, relu: bool) -> list[tuple[int, bool]] | None:
    """The levels of ``Logic.cast`` as (cost, soft) steps: none for a cast that only moves or
    wraps bits (or rounds by truncation, or with the rounding carried by the graph's
    constants); a saturating select, soft, after a comparator (1) where the lower limit is no
    power of two (SAT_SYM); None for a rounding incrementer or SAT_ZERO, which the model does
    not follow."""
    lo, hi, frac = span
    drop = frac - dst.frac
    if drop > 0 and dst.rounding != "TRN" and not folded:
        return None
    if dst.overflow not in ("WRAP", "SAT", "SAT_SYM"):
        return None
    rlo, rhi = (round_code(c, drop, dst.rounding) for c in (lo, hi))
    if _clamps(dst, relu):
        rlo, rhi = max(rlo, 0), max(rhi, 0)
    if (dst.min_code <= rlo and rhi <= dst.max_code) or dst.overflow == "WRAP":
        return []
    bottom = _floor(dst)
    compare = rlo < bottom <= rhi and not _bit_test(bottom)  # Logic.lt_const falls back to a comparator
    return [(1, False), (1, True)] if compare else [(1, True)]


def _bit_test(c: int) -> bool:
    """Whether ``a < c`` is bit tests (``Logic.lt_const``): c zero or plus or minus a power of two."""
    return c == 0 or (c > 0 and c & (c - 1) == 0) or (c < 0 and (-c) & (-c - 1) == 0)
