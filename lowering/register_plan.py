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

The model is exact on the networks it was made for (every layer's stage and depth, on the
jet tagger at every budget from 2 to 10, on the mlp57 of bench/ from 4 to 8), not on all: ``Logic`` decides some
levels from the bits it finds constant.  So the lowering checks, layer by layer as it builds,
that each layer's outputs arrive where the model said; at the first that does not, it drops
the plan and builds the design with every register where ``sync`` puts it.  (On 400 random
chains at 7 budgets, 55 plans: 21 held, each at the latency of the design without it with
fewer register bits; 34 were dropped.)  Only chains of layers whose work is
constant-weight adder graphs and casts that round by truncation or through the graph's
constants are planned; for any other network ``plan`` returns None.  The plan decides where
registers go, never what is computed: any plan gives the same bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

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
        return sum(v.bits for v in self.values[: self.inputs])


@dataclass(frozen=True)
class Plan:
    """The nodes whose modules register their inputs first, and where the model says each
    layer's outputs then arrive, as (stage, depth), keyed by the layer's first node."""

    fresh: frozenset
    arrivals: dict


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
    arrivals = schedule(profiles, budget, set(fresh))
    return Plan(frozenset(groups[k][0] for k in fresh), {nodes[0]: a[:2] for nodes, a in zip(groups, arrivals)})


def schedule(profiles: list[Layer], budget: int, fresh: set[int] = frozenset()) -> list[tuple[int, int, int]]:
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
        for (stage, depth), (bits, fresh) in states.items():
            options = [(stage, depth, 0, fresh)]
            if 0 < depth < budget:  # at 0 nothing to gain, at a full stage sync registers them anyway
                options.append((stage + 1, 0, layer.input_bits, fresh + (k,)))
            for s0, d0, extra, path in options:
                ds, d1, inner = layer.run(d0, budget)
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
    """The model's dataflow nodes grouped as the lowering builds modules (a layer and its
    fused activation), if they form a chain: each group reads the previous one's result."""
    from fmlc.lowering.dataflow_to_hw import _activation_of

    groups, fused, previous = [], set(), None
    for op in func.body.block.ops:
        if isinstance(op, fxp.QuantizeOp | fxp.ConstantOp) or op in fused:
            continue
        if not isinstance(op, dataflow.NodeOp):
            continue  # the return
        nodes = [op]
        activation = _activation_of(op)
        if activation is not None:
            nodes.append(activation)
            fused.add(activation)
        if len(op.inputs) != 1 or (previous is not None and op.inputs[0] is not previous):
            return None
        if len(nodes[-1].outputs) != 1:
            return None
        previous = nodes[-1].outputs[0]
        groups.append(nodes)
    return groups or None


def profile(nodes: list[dataflow.NodeOp]) -> Layer | None:
    """The profile of a layer's module, or None where it holds anything but one adder graph
    over the node's input and elementwise casts or ReLUs after it."""
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
    # per element: the codes it can take (lo, hi, frac), as Logic knows them
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
    """The graph's outputs as value indices, and whether each is clean: its adders at their
    levels, then per output the adder that adds the output's constants, which
    ``fxp_to_hw._adder_graph`` leaves out where there are none (a clean output: unsigned
    inputs, additions only, each of operands that are inputs or read more than once, so that
    ``_combine`` adds them as they are; no constant)."""
    from fmlc.lowering.fxp_to_hw import _alone

    env: dict[SSAValue, int | None] = dict(zip(graph.block.args, args))  # None: a constant
    clean: dict[SSAValue, bool] = dict.fromkeys(graph.block.args, not signed)
    for op in graph.block.ops:
        if isinstance(op, rtl.YieldOp):
            break
        result = op.results[0]
        if isinstance(op, rtl.ConstantOp):
            env[result], clean[result] = None, False
        elif isinstance(op, rtl.ShiftOp | rtl.NegOp):
            env[result] = env[op.operands[0]]
            clean[result] = clean[op.operands[0]] and isinstance(op, rtl.ShiftOp)
        elif isinstance(op, rtl.AddOp | rtl.SubOp):
            a, b = (env[v] for v in op.operands)
            if a is None or b is None:  # a constant joins the offsets: no adder
                env[result], clean[result] = (b if a is None else a), False
                continue
            env[result] = _new(values, [a, b], 1, result.type.format.width * rows)
            clean[result] = isinstance(op, rtl.AddOp) and all(clean[v] and not _alone(v) for v in op.operands)
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
    """The cast whose rounding the graph's constants carry, as ``fxp_to_hw._adder_graph``
    decides it: the graph's one reader through lossless casts, where its rounding constant
    lies on the graph's grid."""
    from fmlc.lowering.fxp_to_hw import rounding_fold

    forward = {(a.block.last_op, k): arg for a, b in zip(nodes, nodes[1:]) for k, arg in enumerate(b.block.args)}
    fold = rounding_fold(graph.result, forward)
    if fold is None:
        return None
    frac = max(t.format.frac for t in {v.type for v in graph.block.args} | {o.results[0].type for o in graph.block.ops if o.results})
    return fold[0] if (fold[1] * Fraction(2) ** frac).denominator == 1 else None


def _range(fmt) -> tuple[int, int, int]:
    return fmt.min_code, fmt.max_code, fmt.frac


def _cast_range(span: tuple[int, int, int], dst, relu: bool) -> tuple[int, int, int]:
    """The codes a cast's result takes: the rounded source range clamped as dst's overflow
    does (a wrapping cast that overflows: dst's whole range)."""
    lo, hi = (round_code(c, span[2] - dst.frac, dst.rounding) for c in span[:2])
    if relu:
        lo, hi = max(lo, 0), max(hi, 0)
    if dst.min_code <= lo and hi <= dst.max_code:
        return lo, hi, dst.frac
    if dst.overflow == "WRAP":
        return dst.min_code, dst.max_code, dst.frac
    return max(min(lo, dst.max_code), dst.min_code), min(max(hi, dst.min_code), dst.max_code), dst.frac


def _cast_steps(span: tuple[int, int, int], dst, folded: bool, relu: bool) -> list[tuple[int, bool]] | None:
    """The levels of ``Logic.cast`` as (cost, soft) steps: none for a cast that only moves or
    wraps bits (or rounds by truncation, or with the rounding carried by the graph's
    constants), a soft one for a saturating select; None for a rounding incrementer, which
    the model does not follow (where it sits depends on the bits Logic finds constant)."""
    lo, hi, frac = span
    drop = frac - dst.frac
    if drop > 0 and dst.rounding != "TRN" and not folded:
        return None
    rlo, rhi = (round_code(c, drop, dst.rounding) for c in (lo, hi))
    if relu:
        rlo, rhi = max(rlo, 0), max(rhi, 0)
    if (dst.min_code <= rlo and rhi <= dst.max_code) or dst.overflow == "WRAP":
        return []
    return [(1, True)]
