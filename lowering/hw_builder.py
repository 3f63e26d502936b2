"""Building hw/comb/seq modules two ways: as xDSL ops, or straight as MLIR text.

The hardware lowering (``fxp_to_hw``, ``dataflow_to_hw``) writes its modules through a
``Design``: ``OpDesign`` builds xDSL operations (the ``dataflow-to-hw`` pass: inspectable,
lit-testable IR), ``TextDesign`` writes the same operations as MLIR text for CIRCT (the
Verilog target: a network has tens of thousands of operations, and text costs a few
microseconds each where an xDSL operation costs tens).  Both emit the same operations in the
same order, so CIRCT exports the same Verilog from either (a test checks it).

A module is built with ``design.module(name, ports)``: ``ports`` are (name, width) pairs,
width ``CLOCK`` for a clock; the returned ``ModuleBuilder`` gives the port values and the
operations, and ``finish(outputs)`` closes it, dropping input ports nothing used when asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from xdsl.dialects import comb, hw, seq
from xdsl.dialects.builtin import ArrayAttr, DenseArrayBase, FlatSymbolRefAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, i32
from xdsl.ir import Block, Operation, Region, SSAValue

CLOCK = 0
"""The width that marks a clock port."""

ICMP = {"eq": 0, "ne": 1, "slt": 2, "sle": 3, "sgt": 4, "sge": 5, "ult": 6, "ule": 7, "ugt": 8, "uge": 9}
VARIADIC = {"add": comb.AddOp, "mul": comb.MulOp, "and": comb.AndOp, "or": comb.OrOp, "xor": comb.XorOp}


@lru_cache(maxsize=None)
def int_type(width: int) -> IntegerType:
    return IntegerType(width)


@lru_cache(maxsize=None)
def _attr(value: int, width: int) -> IntegerAttr:
    return IntegerAttr(value, width)


def _port_type(width: int):
    return seq.clock if width == CLOCK else int_type(width)


class ModuleBuilder:
    """The operations of one module body (see the subclasses)."""

    def width(self, v) -> int:
        raise NotImplementedError

    def constant(self, code: int, width: int):
        raise NotImplementedError

    def binary(self, kind: str, a, b, width: int):
        """add, sub, mul, and, or, xor of equal-width operands."""
        raise NotImplementedError

    def extract(self, v, low: int, width: int):
        raise NotImplementedError

    def concat(self, parts: Sequence):
        """Most significant part first."""
        raise NotImplementedError

    def replicate(self, v, times: int):
        raise NotImplementedError

    def icmp(self, pred: str, a, b):
        raise NotImplementedError

    def mux(self, cond, a, b):
        raise NotImplementedError

    def reg(self, v, clk, reset=None, init=None, name: str | None = None):
        """A register (named ``name`` in the Verilog); with ``reset`` it loads ``init`` while
        reset is high (synchronous).  Names must be unique within the module."""
        raise NotImplementedError

    def forward(self, width: int):
        """A value defined later with ``define`` (register feedback)."""
        raise NotImplementedError

    def define(self, placeholder, v) -> None:
        raise NotImplementedError

    def instance(self, name: str, module: str, inputs: Sequence[tuple[str, object]], outputs: Sequence[tuple[str, int]]) -> list:
        raise NotImplementedError

    def table(self, entries: Sequence[int], index, width: int):
        """``entries[index]`` (all 2**W entries of a W-bit index, as codes of ``width`` bits)."""
        raise NotImplementedError

    def finish(self, outputs: Sequence[tuple[str, object]], drop_unused: Sequence[str] = (), attributes: dict[str, int] | None = None) -> list[str]:
        """Close the module (integer ``attributes`` attached); returns the names of its input
        ports, the unused ones among ``drop_unused`` removed."""
        raise NotImplementedError


# ============================================================================================
# xDSL operations
# ============================================================================================


def _create(cls, operands: Sequence[SSAValue], width: int, properties: dict | None = None) -> Operation:
    """An op built without xDSL's per-op argument checking (the module is verified as a whole)."""
    return cls.create(operands=list(operands), result_types=[int_type(width)], properties=properties or {})


class OpModule(ModuleBuilder):
    def __init__(self, design: OpDesign, name: str, ports: Sequence[tuple[str, int]]):
        self.design = design
        self.name = name
        self.ports = list(ports)
        self.block = Block(arg_types=[_port_type(w) for _, w in ports])
        self.args = list(self.block.args)

    def _add(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0]

    def width(self, v: SSAValue) -> int:
        return v.type.width.data

    def constant(self, code: int, width: int) -> SSAValue:
        attr = IntegerAttr(code & ((1 << width) - 1), int_type(width), truncate_bits=True)
        return self._add(hw.ConstantOp.create(result_types=[int_type(width)], properties={"value": attr}))

    def binary(self, kind, a, b, width):
        if kind == "sub":
            return self._add(_create(comb.SubOp, [a, b], width))
        return self._add(_create(VARIADIC[kind], [a, b], width))

    def extract(self, v, low, width):
        return self._add(_create(comb.ExtractOp, [v], width, {"lowBit": _attr(low, 32)}))

    def concat(self, parts):
        return self._add(_create(comb.ConcatOp, parts, sum(self.width(p) for p in parts)))

    def replicate(self, v, times):
        return self._add(_create(comb.ReplicateOp, [v], self.width(v) * times))

    def icmp(self, pred, a, b):
        return self._add(comb.ICmpOp.create(operands=[a, b], result_types=[int_type(1)], properties={"predicate": _attr(ICMP[pred], 64)}))

    def mux(self, cond, a, b):
        return self._add(_create(comb.MuxOp, [cond, a, b], self.width(a)))

    def reg(self, v, clk, reset=None, init=None, name=None):
        if isinstance(v, _Forward):  # the real input is patched in by define()
            out = self.reg(init, clk, reset, init, name)
            v.users.append((out.owner, 0))
            return out
        sizes = DenseArrayBase.from_list(i32, [1, 1, int(reset is not None), int(reset is not None), 0])
        operands = [v, clk] + ([reset, init] if reset is not None else [])
        out = self._add(seq.CompRegOp.create(operands=operands, result_types=[v.type], attributes={"operandSegmentSizes": sizes}))
        if name:
            out.name_hint = name  # CIRCT names the register after its SSA name
        return out

    def forward(self, width):
        return _Forward(width)

    def define(self, placeholder, v):
        placeholder.value = v
        for op, index in placeholder.users:
            op.operands[index] = v

    def instance(self, name, module, inputs, outputs):
        op = hw.InstanceOp(name, FlatSymbolRefAttr(module), list(inputs), [(n, _port_type(w)) for n, w in outputs])
        self.block.add_op(op)
        return list(op.results)

    def table(self, entries, index, width):
        values = []
        consts: dict[int, SSAValue] = {}
        for e in reversed(entries):  # hw.array_create lists the highest index first
            if e not in consts:
                consts[e] = self.constant(e, width)
            values.append(consts[e])
        arr = self._add(hw.ArrayCreateOp(*values))
        return self._add(hw.ArrayGetOp(arr, index))

    def finish(self, outputs, drop_unused=(), attributes=None):
        self.block.add_op(hw.OutputOp([v for _, v in outputs]))
        ports = list(self.ports)
        for name in drop_unused:
            k = [n for n, _ in ports].index(name)
            arg = self.block.args[k]
            if not arg.uses:
                self.block.erase_arg(arg)
                del ports[k]
        mports = [hw.ModulePort(StringAttr(n), _port_type(w), hw.DirectionAttr(hw.Direction.INPUT)) for n, w in ports]
        mports += [hw.ModulePort(StringAttr(n), v.type, hw.DirectionAttr(hw.Direction.OUTPUT)) for n, v in outputs]
        op = hw.HWModuleOp(StringAttr(self.name), hw.ModuleType(ArrayAttr(mports)), Region(self.block))
        for key, value in (attributes or {}).items():
            op.attributes[key] = _attr(value, 64)
        self.design.ops.append(op)
        self.op = op
        return [n for n, _ in ports]


class _Forward:
    """A placeholder operand: ops built with it are patched when it is defined."""

    def __init__(self, width: int):
        self.w = width
        self.value = None
        self.users: list[tuple[Operation, int]] = []


class OpDesign:
    """Modules as xDSL ``hw.module`` operations."""

    def __init__(self):
        self.ops: list[hw.HWModuleOp] = []

    def module(self, name: str, ports: Sequence[tuple[str, int]]) -> OpModule:
        return OpModule(self, name, ports)

    def install(self, module: ModuleOp) -> None:
        for op in self.ops:
            module.body.block.add_op(op)


# ============================================================================================
# MLIR text
# ============================================================================================


class _T:
    """A value in text: its SSA name and width (0 for a clock)."""

    __slots__ = ("name", "w")

    def __init__(self, name: str, width: int):
        self.name = name
        self.w = width


def _ty(width: int) -> str:
    return "!seq.clock" if width == CLOCK else f"i{width}"


class TextModule(ModuleBuilder):
    def __init__(self, design: TextDesign, name: str, ports: Sequence[tuple[str, int]]):
        self.design = design
        self.name = name
        self.ports = list(ports)
        self.lines: list[str] = []
        self.n = 0
        self.args = [_T(f"%{n}", w) for n, w in ports]
        self.used: set[str] = set()

    def _new(self, width: int, text: str) -> _T:
        v = _T(f"%v{self.n}", width)
        self.n += 1
        self.lines.append(f"    {v.name} = {text}")
        return v

    def _use(self, *vs: _T) -> None:
        for v in vs:
            self.used.add(v.name)

    def width(self, v: _T) -> int:
        return v.w

    def constant(self, code, width):
        code &= (1 << width) - 1
        if code >> (width - 1):
            code -= 1 << width
        return self._new(width, f"hw.constant {code} : i{width}")

    def binary(self, kind, a, b, width):
        self._use(a, b)
        return self._new(width, f"comb.{kind} {a.name}, {b.name} : i{width}")

    def extract(self, v, low, width):
        self._use(v)
        return self._new(width, f"comb.extract {v.name} from {low} : (i{v.w}) -> i{width}")

    def concat(self, parts):
        self._use(*parts)
        return self._new(sum(p.w for p in parts), f"comb.concat {', '.join(p.name for p in parts)} : {', '.join(f'i{p.w}' for p in parts)}")

    def replicate(self, v, times):
        self._use(v)
        return self._new(v.w * times, f"comb.replicate {v.name} : (i{v.w}) -> i{v.w * times}")

    def icmp(self, pred, a, b):
        self._use(a, b)
        return self._new(1, f"comb.icmp {pred} {a.name}, {b.name} : i{a.w}")

    def mux(self, cond, a, b):
        self._use(cond, a, b)
        return self._new(a.w, f"comb.mux {cond.name}, {a.name}, {b.name} : i{a.w}")

    def reg(self, v, clk, reset=None, init=None, name=None):
        self._use(v, clk)
        text = f"seq.compreg {v.name}, {clk.name} : i{v.w}"
        if reset is not None:
            self._use(reset, init)
            text = f"seq.compreg {v.name}, {clk.name} reset {reset.name}, {init.name} : i{v.w}"
        if not name:
            return self._new(v.w, text)
        out = _T(f"%{name}", v.w)  # CIRCT names the register after its SSA name
        self.lines.append(f"    {out.name} = {text}")
        return out

    def forward(self, width):
        v = _T(f"%f{self.n}", width)
        self.n += 1
        return v

    def define(self, placeholder, v):
        self._use(v)
        self.lines.append(f"    {placeholder.name} = comb.or {v.name} : i{v.w}")

    def instance(self, name, module, inputs, outputs):
        self._use(*[v for _, v in inputs])
        outs = [_T(f"%v{self.n}_{k}", w) for k, (_, w) in enumerate(outputs)]
        self.n += 1
        ins = ", ".join(f"{n}: {v.name}: {_ty(v.w)}" for n, v in inputs)
        res = ", ".join(f"{n}: {_ty(w)}" for n, w in outputs)
        lhs = ", ".join(o.name for o in outs)
        self.lines.append(f'    {lhs} = hw.instance "{name}" @{module}({ins}) -> ({res})' if outs else f'    hw.instance "{name}" @{module}({ins}) -> ()')
        return outs

    def table(self, entries, index, width):
        consts: dict[int, _T] = {}
        values = []
        for e in reversed(entries):
            if e not in consts:
                consts[e] = self.constant(e, width)
            values.append(consts[e].name)
        arr = self._new(0, f"hw.array_create {', '.join(values)} : i{width}")
        self._use(index)
        return self._new(width, f"hw.array_get {arr.name}[{index.name}] : !hw.array<{len(entries)}xi{width}>, i{index.w}")

    def finish(self, outputs, drop_unused=(), attributes=None):
        self._use(*[v for _, v in outputs])
        ports = [(n, w, a) for (n, w), a in zip(self.ports, self.args) if not (n in drop_unused and a.name not in self.used)]
        header = ", ".join([f"in {a.name} {n}: {_ty(w)}" for n, w, a in ports] + [f"out {n}: {_ty(v.w)}" for n, v in outputs])
        attrs = ", ".join(f"{k} = {v} : i64" for k, v in (attributes or {}).items())
        text = [f"  hw.module @{self.name}({header})" + (f" attributes {{{attrs}}}" if attrs else "") + " {"] + self.lines
        text.append(f"    hw.output {', '.join(v.name for _, v in outputs)} : {', '.join(_ty(v.w) for _, v in outputs)}" if outputs else "    hw.output")
        text.append("  }")
        self.design.texts.append("\n".join(text))
        return [n for n, _, _ in ports]


class TextDesign:
    """Modules as MLIR text (hw, comb, seq)."""

    def __init__(self):
        self.texts: list[str] = []

    def module(self, name: str, ports: Sequence[tuple[str, int]]) -> TextModule:
        return TextModule(self, name, ports)

    def text(self, attributes: str = "") -> str:
        return "module" + (f" attributes {{{attributes}}}" if attributes else "") + " {\n" + "\n".join(self.texts) + "\n}\n"
