"""Building ``hw``/``comb``/``seq`` modules through CIRCT's Python bindings (``pycde.circt``).

The hardware lowering (``fxp_to_hw``, ``dataflow_to_hw``) writes every module through one
``CirctDesign``: the operations are CIRCT's own, created in a CIRCT module, so CIRCT's passes
and ExportVerilog run on them directly (``hw_to_verilog``), and ``fmlc-opt``'s
``dataflow-to-hw`` prints them in generic form and parses that into xDSL.

Operations are created with ``ir.Operation.create`` (the generic builder, a few microseconds
an operation; the generated op classes cost ten times that), so the builder states every
operation's result type and inherent attributes as CIRCT defines them.  Values are handed out
as ``Wire``s, which carry their width (asking CIRCT for a value's type costs as much as
creating an operation).

A module is built with ``design.module(name, ports)``: ``ports`` are (name, width) pairs,
width ``CLOCK`` for a clock; the returned ``ModuleBuilder`` gives the port values and the
operations, and ``finish(outputs)`` closes it, dropping input ports nothing used when asked.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence

CLOCK = 0
"""The width that marks a clock port."""

ICMP = {"eq": 0, "ne": 1, "slt": 2, "sle": 3, "sgt": 4, "sge": 5, "ult": 6, "ule": 7, "ugt": 8, "uge": 9}
"""``comb.icmp`` predicates, as CIRCT numbers them."""

BINARY = {"add": "comb.add", "sub": "comb.sub", "mul": "comb.mul", "and": "comb.and", "or": "comb.or", "xor": "comb.xor"}


class BuilderError(RuntimeError):
    """CIRCT's bindings are missing or cannot be loaded in this process."""


def circt():
    """``pycde.circt`` (CIRCT's Python bindings), loaded once per process."""
    if "circt" in sys.modules:  # the separate `circt` wheel: its LLVM and pycde's crash together
        raise BuilderError("the `circt` Python package is loaded in this process; pycde's CIRCT cannot share a process with it")
    try:
        import pycde.circt as bindings
        import pycde.circt.dialects.hw  # noqa: F401  (hw's types: ArrayType, ModuleType)
        import pycde.circt.dialects.seq  # noqa: F401  (seq's ClockType)
    except ImportError:
        raise BuilderError("the Verilog target needs CIRCT from the pycde wheel: `pip install pycde==0.12.1`") from None
    # MLIR's bindings look up a Python module per dialect whenever they hand out a value of its
    # types; pycde ships none for `builtin`, and the failed import (~80 us) would repeat for
    # every operation created.  An empty module ends the search once.
    stub = "pycde.circt.dialects.builtin"
    if stub not in sys.modules:
        sys.modules[stub] = types.ModuleType(stub)
    return bindings


class Wire:
    """A value in a module being built, with its width (``CLOCK`` for a clock)."""

    __slots__ = ("value", "width")

    def __init__(self, value, width: int):
        self.value = value
        self.width = width


class _Forward(Wire):
    """A value defined later (register feedback): the operations reading it are patched then."""

    __slots__ = ("users",)

    def __init__(self, width: int):
        super().__init__(None, width)
        self.users: list = []


class CirctDesign:
    """A CIRCT ``builtin.module`` of ``hw.module``s, built one module at a time."""

    def __init__(self):
        bindings = circt()
        self.ir = ir = bindings.ir
        self.hw = bindings.dialects.hw
        self.context = ir.Context()
        self.context.enable_multithreading(False)  # 2-core machines and many small modules: threads cost more than they give
        bindings.register_dialects(self.context)
        self.loc = ir.Location.unknown(self.context)
        self.root = ir.Module.create(self.loc)
        """The ``builtin.module`` holding the modules."""
        self._types: dict[int, object] = {}
        self._strings: dict[str, object] = {}
        self._values: dict[tuple[int, int], object] = {}
        self._low_bits: dict[int, object] = {}
        with self.context:
            self._i32 = ir.IntegerType.get_signless(32)
            self._i64 = ir.IntegerType.get_signless(64)
            self.clock_type = bindings.dialects.seq.ClockType.get()
            self._no_params = ir.ArrayAttr.get([])

    def type(self, width: int):
        """``iN`` (or ``!seq.clock`` for ``CLOCK``)."""
        t = self._types.get(width)
        if t is None:
            with self.context:
                t = self.clock_type if width == CLOCK else self.ir.IntegerType.get_signless(width)
            self._types[width] = t
        return t

    def value(self, code: int, width: int):
        """``code : iW`` (two's complement), shared."""
        key = (code, width)
        a = self._values.get(key)
        if a is None:
            c = code & ((1 << width) - 1)
            if c >> (width - 1):
                c -= 1 << width
            a = self._values[key] = self.ir.IntegerAttr.get(self.type(width), c)
        return a

    def low_bit(self, low: int):
        """``low : i32`` (an extract's lowBit), shared."""
        a = self._low_bits.get(low)
        if a is None:
            a = self._low_bits[low] = self.ir.IntegerAttr.get(self._i32, low)
        return a

    def string(self, text: str):
        s = self._strings.get(text)
        if s is None:
            s = self._strings[text] = self.ir.StringAttr.get(text, self.context)
        return s

    def module(self, name: str, ports: Sequence[tuple[str, int]]) -> ModuleBuilder:
        return ModuleBuilder(self, name, ports)

    def print(self, generic: bool = False) -> str:
        """The design as MLIR text (custom assembly, or the generic form)."""
        return self.root.operation.get_asm(print_generic_op_form=generic, assume_verified=True)


class ModuleBuilder:
    """The operations of one ``hw.module``, appended in order."""

    def __init__(self, design: CirctDesign, name: str, ports: Sequence[tuple[str, int]]):
        self.design = design
        self.name = name
        self.ports = list(ports)
        ir = design.ir
        self.op = ir.Operation.create("hw.module", regions=1, loc=design.loc, ip=ir.InsertionPoint(design.root.body))
        self.block = self.op.regions[0].blocks.append(*[design.type(w) for _, w in ports], arg_locs=[design.loc] * len(ports))
        self.args = [Wire(a, w) for a, (_, w) in zip(self.block.arguments, ports)]
        self._ip = ir.InsertionPoint(self.block)
        self._create = ir.Operation.create
        self._attr = ir.IntegerAttr.get
        self._types = design._types  # read directly in _new (tens of thousands of calls)
        self._loc = design.loc

    def _new(self, name: str, width: int, operands: Sequence[Wire], attributes: dict | None = None) -> Wire:
        t = self._types.get(width)
        if t is None:
            t = self.design.type(width)
        op = self._create(name, results=[t], operands=[o.value for o in operands], attributes=attributes, loc=self._loc, ip=self._ip)
        return Wire(op.result, width)

    def width(self, v: Wire) -> int:
        return v.width

    def constant(self, code: int, width: int) -> Wire:
        return self._new("hw.constant", width, (), {"value": self.design.value(code, width)})

    def binary(self, kind: str, a: Wire, b: Wire, width: int) -> Wire:
        """add, sub, mul, and, or, xor of equal-width operands."""
        return self._new(BINARY[kind], width, (a, b))

    def extract(self, v: Wire, low: int, width: int) -> Wire:
        return self._new("comb.extract", width, (v,), {"lowBit": self.design.low_bit(low)})

    def concat(self, parts: Sequence[Wire]) -> Wire:
        """Most significant part first."""
        return self._new("comb.concat", sum(p.width for p in parts), parts)

    def replicate(self, v: Wire, times: int) -> Wire:
        return self._new("comb.replicate", v.width * times, (v,))

    def icmp(self, pred: str, a: Wire, b: Wire) -> Wire:
        return self._new("comb.icmp", 1, (a, b), {"predicate": self._attr(self.design._i64, ICMP[pred])})

    def mux(self, cond: Wire, a: Wire, b: Wire) -> Wire:
        return self._new("comb.mux", a.width, (cond, a, b))

    def reg(self, v: Wire, clk: Wire, reset: Wire | None = None, init: Wire | None = None, name: str | None = None) -> Wire:
        """A register (named ``name`` in the Verilog); with ``reset`` it loads ``init`` while
        reset is high (synchronous).  Names must be unique within the module."""
        forward = v if isinstance(v, _Forward) else None
        if forward is not None:
            v = init  # a stand-in until define() gives the real input
        with_reset = reset is not None
        segments = self.design.ir.DenseI32ArrayAttr.get([1, 1, int(with_reset), int(with_reset), 0], self.design.context)
        attributes = {"operandSegmentSizes": segments}
        if name:
            attributes["name"] = self.design.string(name)
        out = self._new("seq.compreg", v.width, (v, clk, reset, init) if with_reset else (v, clk), attributes)
        if forward is not None:
            forward.users.append(out.value.owner)
        return out

    def forward(self, width: int) -> Wire:
        """A value defined later with ``define`` (only as a register's input)."""
        return _Forward(width)

    def define(self, placeholder: Wire, v: Wire) -> None:
        placeholder.value = v.value
        for op in placeholder.users:
            op.operands[0] = v.value

    def instance(self, name: str, module: str, inputs: Sequence[tuple[str, Wire]], outputs: Sequence[tuple[str, int]]) -> list[Wire]:
        d = self.design
        ir = d.ir
        attributes = {
            "instanceName": d.string(name),
            "moduleName": ir.FlatSymbolRefAttr.get(module, d.context),
            "argNames": ir.ArrayAttr.get([d.string(n) for n, _ in inputs], d.context),
            "resultNames": ir.ArrayAttr.get([d.string(n) for n, _ in outputs], d.context),
            "parameters": d._no_params,
        }
        op = self._create("hw.instance", results=[d.type(w) for _, w in outputs], operands=[v.value for _, v in inputs], attributes=attributes, loc=d.loc, ip=self._ip)
        return [Wire(r, w) for r, (_, w) in zip(op.results, outputs)]

    def table(self, entries: Sequence[int], index: Wire, width: int) -> Wire:
        """``entries[index]`` (all 2**W entries of a W-bit index, as codes of ``width`` bits)."""
        consts: dict[int, Wire] = {}
        values = []
        for e in reversed(entries):  # hw.array_create lists the highest index first
            if e not in consts:
                consts[e] = self.constant(e, width)
            values.append(consts[e])
        d = self.design
        array_type = d.hw.ArrayType.get(d.type(width), len(entries))
        array = self._create("hw.array_create", results=[array_type], operands=[v.value for v in values], loc=d.loc, ip=self._ip)
        return self._new("hw.array_get", width, (Wire(array.result, 0), index))

    def finish(self, outputs: Sequence[tuple[str, Wire]], drop_unused: Sequence[str] = (), attributes: dict[str, int] | None = None) -> list[str]:
        """Close the module (integer ``attributes`` attached); returns the names of its input
        ports, the unused ones among ``drop_unused`` removed."""
        d = self.design
        ir = d.ir
        self._create("hw.output", operands=[v.value for _, v in outputs], loc=d.loc, ip=self._ip)
        ports = list(self.ports)
        for name in drop_unused:
            k = [n for n, _ in ports].index(name)
            if not list(self.block.arguments[k].uses):
                self.block.erase_argument(k)
                del ports[k]
        port, direction = d.hw.ModulePort, d.hw.ModulePortDirection
        spec = [port(d.string(n), d.type(w), direction.INPUT) for n, w in ports]
        spec += [port(d.string(n), d.type(v.width), direction.OUTPUT) for n, v in outputs]
        module_type = ir.TypeAttr.get(d.hw.ModuleType.get(spec, context=d.context))
        op = self.op
        ir.InsertionPoint(d.root.body).insert(op.detach_from_parent())  # modules in the order they are finished: instances after their modules
        op.attributes["sym_name"] = d.string(self.name)
        op.attributes["module_type"] = module_type
        op.attributes["parameters"] = d._no_params
        for key, value in (attributes or {}).items():
            op.attributes[key] = self._attr(d._i64, value)
        return [n for n, _ in ports]
