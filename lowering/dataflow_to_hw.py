"""dataflow -> hw: the network as CIRCT ``hw``/``comb``/``seq`` modules, fully unrolled and pipelined.

Each ``dataflow.node`` becomes one ``hw.module`` (named ``TOP_LAYER``), except that a
dense/conv node and the elementwise activation node that alone reads it share one (so the
activation's rounding can join the layer's biases, see ``fxp_to_hw``); a top module ``TOP``
instantiates them in order and has the ports

    clk, rst, in_valid, x (or x0, x1, ...)      ->  out_valid, y (or y0, y1, ...)
    cfg_addr, cfg_data, cfg_we                   (programmable weights only)

A tensor port packs its elements row-major, element i in bits ``[i*W, (i+1)*W)`` with W the
width of the element's fixed-point type (the codes; the host quantizes inputs).  The top's
inputs are the codes the boundary ``fxp.quantize`` ops would produce.

The modules are built in CIRCT through its Python bindings (``hw_builder.CirctDesign``):
``build_hw`` leaves them there for the Verilog target (CIRCT's passes and ExportVerilog run on
them); the ``dataflow-to-hw`` pass (``lower_to_hw``) prints them in CIRCT's generic form and
parses that into xDSL, with ``hw.instance`` and ``seq.compreg`` shaped as CIRCT defines them.

Pipelining (``adders-per-stage``): registers go where an operation would otherwise exceed the
budget of adder levels since the last register (``hw_logic.Logic.sync``); arrivals flow
across layers, so stages do not restart at layer boundaries, and each layer delays its
outputs to one common stage.  A layer may instead start a stage of its own with its inputs
registered, where ``register_plan`` finds that this keeps the latency with fewer register
bits (``build_hw`` checks the plan's model layer by layer and drops a plan it misjudged).
``out_valid`` is ``in_valid`` delayed by the latency; data registers have no reset.  Budget
0 builds combinational logic (latency 0).

Programmable weights: the weights and biases of every dense/conv layer live in registers,
reset to the compiled codes, written through the configuration port: when ``cfg_we`` is high
at a rising clock edge, the register at address ``cfg_addr`` takes the low bits of
``cfg_data``.  Addresses run layer by layer, weights (row-major) then biases; the map is in
``address_map`` (and the generated README).  Those layers use multipliers and the general
accumulation rule, so any weights of the compiled formats give the emulator's bits; each
layer's outputs are instances of one dot-product module (``fxp_to_hw._shared_dots``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter
from xdsl.utils.exceptions import PassFailedException

from fmlc.dialects import dataflow, fxp, rtl
from fmlc.dialects.fxp import element_format, shape_of
from fmlc.fixed import FixedFormat
from fmlc.ir import UniqueNames, identifier, main_function, op_label
from fmlc.lowering import register_plan
from fmlc.lowering.fxp_to_hw import Env, lower_op
from fmlc.lowering.hw_logic import Logic, LoweringBug, LoweringError, Sig
from fmlc.lowering.hw_builder import CLOCK, BuilderError, CirctDesign

LATENCY_ATTR = "fmlc.latency"


@dataclass
class ConfigEntry:
    """One programmable tensor: its layer, role (weight or bias), first address, shape and format."""

    layer: str
    role: str
    base: int
    shape: tuple[int, ...]
    format: FixedFormat
    value: SSAValue = field(repr=False)

    @property
    def count(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def bank(self) -> int:
        """Codes per register bank (see ``bank_words``); the tensor starts on a multiple of it."""
        return bank_words(self.format.width, self.count)

    def to_json(self) -> dict:
        return {"layer": self.layer, "role": self.role, "base": self.base, "count": self.count, "shape": list(self.shape), "format": str(self.format)}


@dataclass
class Port:
    """A tensor at a module boundary: packed codes of one fixed-point format."""

    name: str
    shape: tuple[int, ...]
    format: FixedFormat

    @property
    def count(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def width(self) -> int:
        return self.count * self.format.width

    def to_json(self) -> dict:
        return {"port": self.name, "shape": list(self.shape), "format": str(self.format), "width": self.width}


@dataclass
class HwDesign:
    """What the lowering built, for the target's files: ports, latency, address map, sizes."""

    top: str
    inputs: list[Port]
    outputs: list[Port]
    latency: int
    budget: int | None
    config: list[ConfigEntry]
    registers: int = 0
    layers: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "top": self.top,
            "latency": self.latency,
            "adders_per_stage": self.budget or 0,
            "inputs": [p.to_json() for p in self.inputs],
            "outputs": [p.to_json() for p in self.outputs],
            "pipeline_register_bits": self.registers,
            "layers": self.layers,
            "config": {
                "addr_width": config_addr_width(self.config),
                "data_width": config_data_width(self.config),
                "entries": [e.to_json() for e in self.config],
            }
            if self.config
            else None,
        }


def bank_words(width: int, count: int) -> int:
    """Codes per programmable-weight bank of a tensor of ``count`` codes of ``width`` bits: a
    power of two, about 128 bits a bank, no more than the tensor needs."""
    return min(1 << max(0, (128 // max(width, 1)).bit_length() - 1), 1 << max(0, count - 1).bit_length())


def config_addr_width(config: list[ConfigEntry]) -> int:
    """Bits of ``cfg_addr``: enough for the last word of the address map."""
    end = max((e.base + e.count for e in config), default=1)
    return max(1, (end - 1).bit_length())


def config_data_width(config: list[ConfigEntry]) -> int:
    """Bits of ``cfg_data``: the widest programmable format."""
    return max((e.format.width for e in config), default=1)


def _tensor_ports(prefix: str, n: int) -> list[str]:
    return [prefix] if n == 1 else [f"{prefix}{k}" for k in range(n)]


class _Builder:
    """Builds the modules of one design through a hw_builder.CirctDesign."""

    def __init__(self, design, top: str, budget: int | None, programmable: bool):
        self.design = design
        self.top = identifier(top)
        self.budget = budget
        self.programmable = programmable
        self.tables: dict[tuple, str] = {}
        self.unique = UniqueNames((self.top,))
        self.config: list[ConfigEntry] = []
        self.registers = 0
        self.layers: list[dict] = []

    def new_module(self, base: str, ports):
        return self.design.module(self.unique(base), ports)

    # -- tables ----------------------------------------------------------------------------

    def table_module(self, entries: tuple[int, ...], in_width: int, out_width: int) -> str:
        """A module ``value = table[index]`` (CIRCT exports it as a case statement), one per distinct table."""
        key = (entries, in_width, out_width)
        if key not in self.tables:
            name = self.unique(f"{self.top}_table{len(self.tables)}")
            mb = self.design.module(name, [("index", in_width)])
            mb.finish([("value", mb.table(entries, mb.args[0], out_width))])
            self.tables[key] = name
        return self.tables[key]

    # -- configuration registers -----------------------------------------------------------

    def collect_config(self, func: FuncOp) -> None:
        base = 0
        for node in func.body.block.ops:
            if not isinstance(node, dataflow.NodeOp):
                continue
            for op in node.block.ops:
                if not isinstance(op, fxp.DenseOp | fxp.ConvOp):
                    continue
                for role, v in (("weight", op.weight), ("bias", op.bias)):
                    if v is None:
                        continue
                    if not isinstance(v.owner, fxp.ConstantOp):
                        raise LoweringError(f"node '{node.layer.data}': {op_label(op)} {role} must be a constant to be programmable")
                    entry = ConfigEntry(node.layer.data, role, 0, shape_of(v), element_format(v), v)
                    entry.base = -(-base // entry.bank) * entry.bank  # banks start on multiples of their size
                    self.config.append(entry)
                    base = entry.base + entry.count

    @property
    def addr_width(self) -> int:
        return config_addr_width(self.config)

    @property
    def data_width(self) -> int:
        return config_data_width(self.config)

    @property
    def config_ports(self) -> list[tuple[str, int]]:
        return [("cfg_addr", self.addr_width), ("cfg_data", self.data_width), ("cfg_we", 1)]

    def weight_store(self, layer_module: str, layer: str, entries: list[ConfigEntry]) -> tuple[str, list[list[tuple[str, int]]]]:
        """The module holding a layer's programmable codes: (its name, for each tensor its
        output ports, one per bank, code j of a bank in bits [j W, (j + 1) W)).

        The codes sit in banks: registers of ``bank_words`` codes each, reset to the compiled
        codes; a write replaces one code of the bank its address falls in.  Banks rather than
        one register per code keep the decoder small (one compare of the high address bits per
        bank, one of the low bits per word position, shared by all banks) and the Verilog
        short: a bank takes ``(bank & ~mask) | (data & mask)``, the mask of the addressed word
        and cfg_data repeated being shared by all banks of a tensor.  The store is a module of its own so that the layer's arithmetic and the
        configuration logic live in separate scopes: Icarus looks signals up by a linear scan
        of their scope while it compiles procedural code, which made a 59,000-weight layer in
        one scope take hours to compile.  For the same reason each bank is a port of its own:
        Icarus links every part-select of a net into one list, quadratic in their number."""
        name = self.unique(f"{layer_module}_weights")
        mb = self.design.module(name, [("clk", CLOCK), ("rst", 1)] + self.config_ports)
        clk, rst, addr, data, we = mb.args
        logic = Logic(mb, lambda: clk, None, self.table_module, identifier(layer))
        aw = self.addr_width
        hits: dict[tuple[int, int], object] = {}  # (low bits, j) -> "cfg_addr's low bits == j"

        def position(low: int, j: int):
            if (low, j) not in hits:
                hits[low, j] = mb.icmp("eq", logic.extract(addr, 0, low), logic.constant(j, low))
            return hits[low, j]

        masks: dict[tuple[int, int, int], tuple] = {}  # (low bits, words, width) -> (mask, ~mask, the word in every place)

        def write_mask(low: int, n: int, w: int) -> tuple:
            """Bits of the word cfg_addr's low bits select (all ones at it), their complement,
            and cfg_data's word repeated: shared by every bank of n words of w bits."""
            if (low, n, w) not in masks:
                ones = [position(low, j) if w == 1 else mb.replicate(position(low, j), w) for j in range(n)]
                mask = logic.concat(list(reversed(ones)))
                word = logic.extract(data, 0, w)
                masks[low, n, w] = (mask, mb.binary("xor", mask, logic.constant(-1, n * w), n * w), word if n == 1 else mb.replicate(word, n))
            return masks[low, n, w]

        unique = len({e.role for e in entries}) == len(entries)
        outputs: list[list[tuple[str, object]]] = []
        for i, e in enumerate(entries):
            tensor = e.role if unique else f"{e.role}{i}"
            w, size = e.format.width, e.bank
            low = size.bit_length() - 1
            codes = [int(c) & ((1 << w) - 1) for c in e.value.owner.codes().reshape(-1).tolist()]
            banks = []
            for first in range(0, len(codes), size):
                chunk = codes[first : first + size]
                init = sum(c << (j * w) for j, c in enumerate(chunk))
                port = f"{tensor}_bank{first // size}"
                bits = w * len(chunk)
                nxt = mb.forward(bits)
                reg = mb.reg(nxt, clk, rst, logic.constant(init, bits), name=port)
                bank_addr = (e.base + first) >> low
                selected = mb.binary("and", we, mb.icmp("eq", logic.extract(addr, low, aw - low), logic.constant(bank_addr, aw - low)), 1) if aw > low else we
                if low:  # the selected word takes cfg_data, the others keep their bits
                    mask, keep, spread = write_mask(low, len(chunk), w)
                    written = mb.binary("or", mb.binary("and", reg, keep, bits), mb.binary("and", spread, mask, bits), bits)
                else:
                    written = logic.extract(data, 0, w)
                mb.define(nxt, mb.mux(selected, written, reg))
                banks.append((port, reg))
            outputs.append(banks)
        mb.finish([port for banks in outputs for port in banks])
        return name, [[(n, mb.width(v)) for n, v in banks] for banks in outputs]

    def weight_registers(self, logic: Logic, env: Env, layer_module: str, layer: str, entries: list[ConfigEntry], ctl: dict) -> None:
        """Instantiate the layer's weight store; its codes become static signals of the layer."""
        store, ports = self.weight_store(layer_module, layer, entries)
        inputs = [(n, ctl[n]) for n in ("clk", "rst", "cfg_addr", "cfg_data", "cfg_we")]
        values = iter(logic.mb.instance("weights", store, inputs, [p for banks in ports for p in banks]))
        for e, banks in zip(entries, ports):
            fmt, w, size = e.format, e.format.width, e.bank
            regs = [next(values) for _ in banks]
            sigs = np.empty(e.count, dtype=object)
            for k in range(len(sigs)):  # stage -1: static, read by every stage without delay registers
                code = logic.extract(regs[k // size], (k % size) * w, w)
                sigs[k] = Sig(code, w, fmt.signed, fmt.frac, fmt.min_code, fmt.max_code, -1, 0)
            env.registers[e.value] = sigs.reshape(e.shape)
            env.tensors[e.value] = env.registers[e.value]

    # -- layers ----------------------------------------------------------------------------

    def layer(self, nodes: list[dataflow.NodeOp], arrivals: list[tuple[int, int]], fresh: bool = False) -> tuple[str, list[Port], list[tuple[int, int]], list[str]]:
        """The module of a node (or of a linear layer and the activation that alone reads it):
        (name, output ports, output arrivals, control ports kept).  ``fresh``: its logic starts
        a stage of its own, its inputs registered (``register_plan``)."""
        node = nodes[0]
        layer = node.layer.data
        name = self.unique(f"{self.top}_{identifier(layer)}")
        entries = [e for e in self.config if e.layer in {n.layer.data for n in nodes}]
        in_ports = [Port(n, shape_of(v), element_format(v)) for n, v in zip(_tensor_ports("x", len(node.inputs)), node.block.args)]
        control = [("clk", CLOCK)]
        if entries:
            control += [("rst", 1)] + self.config_ports
        mb = self.design.module(name, control + [(p.name, p.width) for p in in_ports])
        ctl = dict(zip([n for n, _ in control], mb.args))
        logic = Logic(mb, lambda: ctl["clk"], self.budget, self.table_module, identifier(layer), self.new_module)
        env = Env(logic, layer)
        for arg, port, port_arg, (stage, depth) in zip(node.block.args, in_ports, mb.args[len(control) :], arrivals):
            if fresh and 0 < depth:  # as at a full stage: each input is registered where first read
                depth = self.budget
            env.tensors[arg] = self._unpack(logic, port_arg, port, stage, depth)
        if entries:
            self.weight_registers(logic, env, name, layer, entries, ctl)
        for prev, nxt in zip(nodes, nodes[1:]):  # a fused node reads the previous one's results
            for k, arg in enumerate(nxt.block.args):
                env.forward[(prev.block.last_op, k)] = arg
        for k, current in enumerate(nodes):
            if k:
                for arg, v in zip(current.block.args, nodes[k - 1].block.last_op.values):
                    env.tensors[arg] = env[v]
                    if v in env.biased:
                        env.biased[arg] = env.biased[v]
            env.layer = current.layer.data
            for op in current.block.ops:
                if isinstance(op, dataflow.YieldOp):
                    break
                try:
                    lower_op(op, env)
                except LoweringError:
                    raise
                except Exception as err:  # a bug or an unforeseen case: name where it happened
                    raise LoweringBug(f"node '{env.layer}': lowering {op_label(op)} failed: {type(err).__name__}: {err}") from err
        term = nodes[-1].block.last_op
        out_ports = [Port(n, shape_of(v), element_format(v)) for n, v in zip(_tensor_ports("y", len(term.values)), term.values)]
        outs, out_arrivals = [], []
        for v, port in zip(term.values, out_ports):
            packed, arrival = self._pack(logic, env[v], port)
            outs.append((port.name, packed))
            out_arrivals.append(arrival)
        kept = mb.finish(outs, drop_unused=("clk",))
        self.registers += logic.registers
        self.layers.append({"layers": [n.layer.data for n in nodes], "module": name, "stages": [list(a) for a in out_arrivals], "register_bits": logic.registers})
        return name, out_ports, out_arrivals, [n for n, _ in control if n in kept]

    @staticmethod
    def _unpack(logic: Logic, packed, port: Port, stage: int, depth: int) -> np.ndarray:
        fmt = port.format
        out = np.empty(port.count, dtype=object)
        for k in range(port.count):
            v = logic.extract(packed, k * fmt.width, fmt.width)
            out[k] = Sig(v, fmt.width, fmt.signed, fmt.frac, fmt.min_code, fmt.max_code, stage, depth)
        return out.reshape(port.shape)

    @staticmethod
    def _pack(logic: Logic, sigs: np.ndarray, port: Port):
        """Codes of the port's format, all delayed to the latest element's stage, packed."""
        fmt = port.format
        flat = [logic.shift_up(s, fmt.frac - s.frac) for s in sigs.reshape(-1)]
        flat, stage, depth = logic.sync(flat, 0)
        parts = [logic.resize(s, fmt.width) for s in reversed(flat)]
        return logic.concat(parts), (max(stage, 0), depth)


# ============================================================================================
# The conversion
# ============================================================================================


def build_hw(module: ModuleOp, top: str = "model", adders_per_stage: int | None = 0, programmable_weights: bool = False) -> tuple[HwDesign, CirctDesign]:
    """The hw modules of ``module``'s model function, built in CIRCT (``module`` is unchanged).

    A pipelined chain of dense layers is built to ``register_plan``'s plan where it has one;
    should a layer's outputs arrive elsewhere than the plan's model says, the design is built
    again without it."""
    budget = adders_per_stage if adders_per_stage and adders_per_stage > 0 else None
    plan = register_plan.plan(main_function(module), budget)
    if plan is not None:
        try:
            design = CirctDesign()
            return _lower(design, module, top, budget, programmable_weights, plan), design
        except _PlanMissed:
            pass  # every register where sync puts it, as without a plan
    design = CirctDesign()
    return _lower(design, module, top, budget, programmable_weights, None), design


class _PlanMissed(Exception):
    """A layer's outputs arrived elsewhere than the register plan's model said."""


def lower_to_hw(module: ModuleOp, top: str = "model", adders_per_stage: int | None = 0, programmable_weights: bool = False) -> HwDesign:
    """Replace the model function of ``module`` by the hw modules, as xDSL operations.

    The modules are built in CIRCT (``build_hw``), printed in generic form and parsed here:
    one builder for both paths, and the IR fmlc-opt shows is the IR CIRCT exports."""
    info, design = build_hw(module, top, adders_per_stage, programmable_weights)
    modules = _into_xdsl(design.print(generic=True))
    Rewriter.erase_op(main_function(module))
    for op in modules:
        module.body.block.add_op(op)
    return info


def hw_context() -> Context:
    """A context that reads CIRCT's generic form of hw/comb/seq (CIRCT-shaped hw and seq)."""
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.comb import Comb

    from fmlc.dialects.hw import HW
    from fmlc.dialects.seq import SEQ

    ctx = Context()
    for dialect in (Builtin, HW, Comb, SEQ):
        ctx.load_dialect(dialect)
    return ctx


def _into_xdsl(text: str) -> list[Operation]:
    """The hw.module operations of CIRCT's generic text, as xDSL operations (detached), with
    port and register names as SSA names."""
    from xdsl.dialects import hw
    from xdsl.parser import Parser

    from fmlc.dialects.seq import CompRegOp

    parsed = Parser(hw_context(), text, "<circt>").parse_module()
    ops = list(parsed.body.block.ops)
    for op in ops:
        op.detach()
        if isinstance(op, hw.HWModuleOp):
            inputs = [p.port_name.data for p in op.module_type.ports.data if p.dir.data.is_input_like()]
            for arg, name in zip(op.body.block.args, inputs):
                arg.name_hint = name
            for inner in op.body.block.ops:
                if isinstance(inner, CompRegOp) and inner.name_attr is not None:
                    inner.data.name_hint = inner.name_attr.data
    return ops


def _lower(design, module: ModuleOp, top: str, budget: int | None, programmable_weights: bool, plan: register_plan.Plan | None) -> HwDesign:
    func = main_function(module)
    b = _Builder(design, top, budget, programmable_weights)
    if programmable_weights:
        b.collect_config(func)
    return _build_top(b, func, plan)


def _boundary_inputs(func: FuncOp) -> list[tuple[SSAValue, SSAValue, FixedFormat]]:
    """Per function argument: (argument, the value whose codes enter the top, its format)."""
    out = []
    for k, arg in enumerate(func.body.block.args):
        quants = [u.operation for u in arg.uses if isinstance(u.operation, fxp.QuantizeOp)]
        others = [u.operation for u in arg.uses if not isinstance(u.operation, fxp.QuantizeOp)]
        if len(quants) > 1 or (quants and others):
            raise LoweringError(f"input #{k} is quantized more than once (or also used as a float): the top takes one code per element")
        if quants:
            out.append((arg, quants[0].result, element_format(quants[0].result)))
        elif isinstance(arg.type, TensorType) and isinstance(arg.type.get_element_type(), fxp.FixedType):
            out.append((arg, arg, element_format(arg)))
        else:
            raise LoweringError(f"input #{k} of type {arg.type} is neither fixed-point nor quantized")
    return out


def _build_top(b: _Builder, func: FuncOp, plan: register_plan.Plan | None) -> HwDesign:
    inputs = _boundary_inputs(func)
    in_ports = [Port(n, shape_of(v), fmt) for n, (_, v, fmt) in zip(_tensor_ports("x", len(inputs)), inputs)]
    control = [("clk", CLOCK), ("rst", 1), ("in_valid", 1)]
    if b.config:
        control += b.config_ports
    mb = b.design.module(b.top, control + [(p.name, p.width) for p in in_ports])
    ctl = dict(zip([n for n, _ in control], mb.args))
    tensors: dict[SSAValue, tuple[object, Port, tuple[int, int]]] = {}
    for (_, v, _), port, arg in zip(inputs, in_ports, mb.args[len(control) :]):
        tensors[v] = (arg, port, (0, 0))

    def top_table(*_):
        raise LoweringError("a table outside any dataflow node: run fxp-to-dataflow first")

    logic = Logic(mb, lambda: ctl["clk"], b.budget, top_table, b.top)
    returned: list[SSAValue] = []
    for op, nodes in node_groups(func):
        if isinstance(op, ReturnOp):
            returned = list(op.operands)
            continue
        if nodes is None:
            raise LoweringError(f"{op_label(op)} is outside any dataflow.node: run fxp-to-dataflow first")
        arrivals = [tensors[v][2] if v in tensors else _missing(op, v) for v in op.inputs]
        name, out_ports, out_arrivals, ctl_used = b.layer(nodes, arrivals, plan is not None and op in plan.fresh)
        if plan is not None and any(tuple(a) != plan.arrivals.get(op) for a in out_arrivals):
            raise _PlanMissed(op)
        args = [(n, ctl[n]) for n in ctl_used] + [(n, tensors[v][0]) for n, v in zip(_tensor_ports("x", len(op.inputs)), op.inputs)]
        results = mb.instance(identifier(op.layer.data), name, args, [(p.name, p.width) for p in out_ports])
        for res, value, port, arrival in zip(nodes[-1].outputs, results, out_ports, out_arrivals):
            tensors[res] = (value, port, arrival)
    out_ports: list[Port] = []
    outs = []
    for res, name in zip(returned, _tensor_ports("y", len(returned))):
        if res not in tensors:
            _missing(func, res)
        value, port, arrival = tensors[res]
        outs.append((value, arrival))
        out_ports.append(Port(name, port.shape, port.format))
    latency = max([a[0] for _, a in outs], default=0)
    values = []
    for (value, (stage, depth)), port in zip(outs, out_ports):  # every output leaves at the latest stage
        s = Sig(value, port.width, False, 0, 0, 0, stage, depth)
        values.append(logic.delay(s, latency).value)
    valid = ctl["in_valid"]
    for k in range(latency):
        valid = mb.reg(valid, ctl["clk"], ctl["rst"], logic.constant(0, 1), name=f"valid_s{k + 1}")
    mb.finish([("out_valid", valid)] + [(p.name, v) for p, v in zip(out_ports, values)], attributes={LATENCY_ATTR: latency})
    b.registers += logic.registers
    return HwDesign(b.top, in_ports, out_ports, latency, b.budget, b.config, b.registers, b.layers)


def node_groups(func: FuncOp) -> Iterator[tuple[Operation, list[dataflow.NodeOp] | None]]:
    """The model function's ops as the lowering builds them, in order: each dataflow node with
    the activation node fused into its module (``fused_activation``), as (node, nodes); any
    other op as (op, None).  Quantizers, constants and the fused activations are skipped."""
    fused: set[Operation] = set()
    for op in func.body.block.ops:
        if isinstance(op, fxp.QuantizeOp | fxp.ConstantOp) or op in fused:
            continue
        if not isinstance(op, dataflow.NodeOp):
            yield op, None
            continue
        nodes = [op]
        activation = fused_activation(op)
        if activation is not None:
            nodes.append(activation)
            fused.add(activation)
        yield op, nodes


FUSED_ACTIVATIONS = (fxp.ReluOp, fxp.CastOp, fxp.LeakyReluOp, fxp.ThresholdedReluOp, fxp.TableOp)


def fused_activation(node: dataflow.NodeOp) -> dataflow.NodeOp | None:
    """The node a linear layer's module also builds: an elementwise activation that is the
    only reader of the layer's only result and reads nothing else (its rounding can then
    join the layer's biases)."""
    if len(node.outputs) != 1 or not any(isinstance(o, fxp.DenseOp | fxp.ConvOp | rtl.AdderGraphOp) for o in node.block.ops):
        return None
    uses = list(node.outputs[0].uses)
    if len(uses) != 1 or not isinstance(uses[0].operation, dataflow.NodeOp):
        return None
    nxt = uses[0].operation
    ops = nxt.compute_ops()
    if len(nxt.inputs) != 1 or len(ops) != 1 or not isinstance(ops[0], FUSED_ACTIVATIONS):
        return None
    return nxt


def _missing(op: Operation, v: SSAValue):
    raise LoweringError(f"{op_label(op)} reads a value the Verilog target cannot build (defined by {v.owner.name if isinstance(v.owner, Operation) else 'an argument'})")


@dataclass(frozen=True)
class DataflowToHw(ModulePass):
    """Lower a dataflow-partitioned fxp module to hw/comb/seq: one module per node, a pipelined top."""

    name = "dataflow-to-hw"

    top: str = "model"
    """Name of the top module."""

    adders_per_stage: int = 0
    """Adder levels between pipeline registers (0: combinational)."""

    programmable_weights: bool = False
    """Keep dense/conv weights and biases in registers written through a configuration port."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            lower_to_hw(op, self.top, self.adders_per_stage, self.programmable_weights)
        except (LoweringError, BuilderError) as err:
            raise PassFailedException(str(err)) from None
