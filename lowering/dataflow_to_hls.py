"""dataflow -> hls: one C++ function a layer, a top function wiring them, constant arrays.

Input: the model function after ``fxp-to-dataflow`` (``fxp.quantize`` at the boundary, one
``dataflow.node`` a layer, ``func.return``).  Output: the module holds only ``vhls`` ops:

- ``vhls.typedef``: a readable name for each fixed-point type a declaration uses
  (``dense_1_t`` for a layer's result, ``dense_1_accum_t``, ``dense_1_weight_t``...);
- ``vhls.global``: weights, biases, lookup tables, reciprocals, as integer codes;
- one ``vhls.func`` per node, from the node's ``io`` and ``reuse_factor``:

  - ``parallel``: arrays in and out, completely partitioned; the function is pipelined at
    II=1, or, with reuse factor R > 1 on dense/conv, an inner loop of R cycles shares
    ceil(products / R) multipliers (hls4ml's Resource strategy);
  - ``stream``: ``hls::stream`` in and out, one beat per position (all channels of it).
    Position-wise layers (elementwise, dense, softmax...) compute beat by beat; windowed
    and data-movement layers buffer the frame, compute, and stream the result out.

- adapters where the wiring needs them (a stream read by several layers is cloned; a
  parallel layer next to a streaming one converts arrays <-> streams);
- the top function (``top`` option): its ports are the quantized inputs and the outputs, as
  integer-exact ``ap_fixed`` values; the host quantizes (``fxp.quantize`` stays outside).
  Arrays when any layer is parallel (PIPELINE at the slowest layer's II), streams when all
  stream (DATAFLOW).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter
from xdsl.utils.exceptions import PassFailedException, VerifyException

from fmlc.dialects import dataflow, fxp, hls
from fmlc.dialects.fxp import FixedType, element_format, shape_of
from fmlc.fixed import FixedFormat
from fmlc.ir import main_function, op_label
from fmlc.lowering import hls_kernels as kernels
from fmlc.lowering.hls_builder import ArrayTensor, BeatTensor, Builder, GlobalTensor, Tensor

CPP_RESERVED = frozenset(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t class compl
    concept const consteval constexpr constinit const_cast continue decltype default delete do double dynamic_cast
    else enum explicit export extern false float for friend goto if inline int long mutable namespace new noexcept
    not not_eq nullptr operator or or_eq private protected public register reinterpret_cast requires return short
    signed sizeof static static_assert static_cast struct switch template this thread_local throw true try typedef
    typeid typename union unsigned using virtual void volatile wchar_t while xor xor_eq
    main std hls fmlc ap_fixed ap_ufixed ap_int ap_uint int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t
    uint64_t size_t run_one""".split()
)


def c_identifier(text: str) -> str:
    """A C++ identifier from free text (ONNX node names): letters, digits, underscores."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_") or "v"
    if name[0].isdigit():
        name = "l_" + name
    if name in CPP_RESERVED or name.startswith("_"):
        name = name + "_"
    return name


class Namer:
    """Unique C++ identifiers for one translation scope (functions, arrays, types)."""

    def __init__(self) -> None:
        self.taken: set[str] = set(CPP_RESERVED)

    def __call__(self, text: str) -> str:
        base = c_identifier(text)
        name, n = base, 1
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name


def _error(where: Operation | str, msg: str) -> PassFailedException:
    label = where if isinstance(where, str) else op_label(where)
    return PassFailedException(f"dataflow-to-hls: {label}: {msg}")


# ============================================================================================
# The pass
# ============================================================================================


@dataclass(frozen=True)
class DataflowToHls(ModulePass):
    """Lower dataflow nodes to ``vhls`` functions (one a layer), constant arrays and a top function."""

    name = "dataflow-to-hls"

    top: str = "model"
    """Name of the top function (the HLS project's top)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.top.isidentifier():
            raise PassFailedException(f"dataflow-to-hls: top '{self.top}' must be a C++ identifier")
        func = main_function(op)
        new_ops = _ModuleLowering(self.top).run(func)
        for old in list(op.ops):
            Rewriter.erase_op(old, safe_erase=False)
        op.body.block.add_ops(new_ops)


# ============================================================================================
# Module lowering
# ============================================================================================


@dataclass
class _Sink:
    """Where a value goes: a node's input (``key`` = the node) or an output port."""

    key: object
    io: str
    port: SSAValue | None = None


class _ModuleLowering:
    def __init__(self, top: str):
        self.names = Namer()
        self.top = self.names(top)
        if self.top != top:
            raise PassFailedException(f"dataflow-to-hls: top '{top}' is a reserved C++ name; choose another")
        self.typedefs: dict[FixedType, hls.TypedefOp] = {}
        self.globals: list[hls.GlobalOp] = []
        self.funcs: list[hls.FuncOp] = []

    # ---- names and constants ---------------------------------------------------------------

    def name_type(self, fmt: FixedFormat, hint: str) -> None:
        """The first role to use a type names it (``typedef ... hint_t``)."""
        t = FixedType.get(fmt)
        if t not in self.typedefs:
            self.typedefs[t] = hls.TypedefOp(self.names(f"{hint}_t"), fmt)

    def declare(self, hint: str, codes: np.ndarray, fmt: FixedFormat) -> GlobalTensor:
        name = self.names(hint)
        self.globals.append(hls.GlobalOp(name, codes, fmt))
        self.name_type(fmt, hint)
        return GlobalTensor(name, tuple(np.shape(codes)), fmt)

    # ---- whole module ---------------------------------------------------------------------------

    def run(self, func: FuncOp) -> list[Operation]:
        ports, port_names = self._boundary(func)
        nodes = [op for op in func.body.block.ops if isinstance(op, dataflow.NodeOp)]
        if not nodes:
            raise _error(f"@{func.sym_name.data}", "nothing to compute: the model holds no dataflow.node (run fxp-to-dataflow first)")
        node_funcs = {node: self._lower_node(node) for node in nodes}
        self._lower_top(func, ports, port_names, nodes, node_funcs)
        return [*self.typedefs.values(), *self.globals, *self.funcs]

    def _boundary(self, func: FuncOp) -> tuple[list[SSAValue], list[str]]:
        """The values the top takes: each argument, quantized (the host quantizes)."""
        ports, names = [], []
        for k, arg in enumerate(func.body.block.args):
            users = [u.operation for u in arg.uses]
            quant = [u for u in users if isinstance(u, fxp.QuantizeOp)]
            if quant:
                if len(users) != 1:
                    raise _error(f"input #{k}", "a float input must feed exactly one fxp.quantize (the host quantizes it once)")
                value = quant[0].result
            elif isinstance(arg.type, TensorType) and isinstance(arg.type.get_element_type(), FixedType):
                value = arg
            else:
                raise _error(f"input #{k}", f"type {arg.type} is neither fixed-point nor quantized by fxp.quantize")
            _data_shape(value, f"input #{k}")
            hint = arg.name_hint if arg.name_hint and not arg.name_hint.isdigit() else f"input_{k}"
            names.append(self.names(hint))
            ports.append(value)
            self.name_type(element_format(value), names[-1])
        for op in func.body.block.ops:
            if not isinstance(op, fxp.QuantizeOp | dataflow.NodeOp | ReturnOp | fxp.ConstantOp):
                raise _error(op, "is outside a dataflow.node: run fxp-to-dataflow before dataflow-to-hls")
        return ports, names

    # ---- layers ----------------------------------------------------------------------------------

    def _lower_node(self, node: dataflow.NodeOp) -> hls.FuncOp:
        layer = node.layer.data
        ops = node.compute_ops()
        if len(ops) != 1 or len(node.outputs) != 1:
            raise _error(f"dataflow.node '{layer}'", f"holds {len(ops)} computing ops and {len(node.outputs)} results; the HLS target lowers one op a node")
        op = ops[0]
        if type(op) not in kernels.POSITIONWISE and type(op) not in kernels.WHOLE:
            raise _error(f"{op.name} in dataflow.node '{layer}'", "has no HLS lowering")
        try:
            for v in [*node.inputs, node.outputs[0]]:
                _data_shape(v, f"a value of node '{layer}'")
                element_format(v)
            return _NodeLowering(self, node, op).run()
        except (VerifyException, kernels.KernelError) as err:
            raise _error(f"{op.name} in dataflow.node '{layer}'", str(err)) from None

    # ---- top function -----------------------------------------------------------------------------

    def _lower_top(self, func: FuncOp, ports: list[SSAValue], port_names: list[str], nodes, node_funcs) -> None:
        style = "stream" if all(n.io.data == "stream" for n in nodes) else "parallel"
        outputs = list(func.body.block.last_op.operands)
        out_names = [self.names(f"output_{k}") for k in range(len(outputs))]
        for k, v in enumerate(outputs):
            _data_shape(v, f"output #{k}")
            if v in ports:
                raise _error(f"output #{k}", "is an input of the model: there is nothing to compute for it")
        top = hls.FuncOp(
            self.top,
            [port_type(v, style) for v in ports],
            [port_type(v, style) for v in outputs],
            top=True,
            port_names=[*port_names, *out_names],
            comment=f"{self.top}: {len(nodes)} layers, I/O as {'streams' if style == 'stream' else 'arrays'}; "
            "ports carry the quantized inputs and the outputs",
        )
        b = _func_builder(top)
        for port in top.block.args:
            b.add(hls.InterfaceOp("axis" if style == "stream" else "ap_vld", port))
            if style == "parallel":
                b.add((hls.ArrayReshapeOp if port in top.inputs else hls.ArrayPartitionOp)(port, "complete", dim=0))
        if any(n.io.data == "stream" for n in nodes):
            b.add(hls.DataflowOp())
        else:
            b.add(hls.PipelineOp(max(_node_ii(n) for n in nodes)))
        wiring = _Wiring(self, b)
        sinks = _sinks(nodes, outputs, top.outputs, style)
        for v, port in zip(ports, top.inputs):
            _, finish = wiring.connect(v, style, sinks.get(v, []), given=port)
            finish()  # the port holds the value already: only its readers are wired
        for node in nodes:
            args = [wiring.source(v, node) for v in node.inputs]
            out = node.outputs[0]
            dest, finish = wiring.connect(out, node.io.data, sinks.get(out, []))
            b.add(hls.CallOp(node_funcs[node].sym_name.data, [*args, dest]))
            finish()
        self.funcs.append(top)


def _sinks(nodes, outputs: Sequence[SSAValue], out_ports: Sequence[SSAValue], style: str) -> dict[SSAValue, list[_Sink]]:
    """Every use of every value: node inputs (read in the node's io) and output ports."""
    result: dict[SSAValue, list[_Sink]] = {}
    for node in nodes:
        for v in node.inputs:
            result.setdefault(v, []).append(_Sink(node, node.io.data))
    for k, (v, port) in enumerate(zip(outputs, out_ports)):
        result.setdefault(v, []).append(_Sink(("output", k), style, port))
    return result


def _node_ii(node: dataflow.NodeOp) -> int:
    return node.ii.value.data if node.ii is not None else node.reuse_factor.value.data


def _data_shape(v: SSAValue, what: str) -> tuple[int, ...]:
    if not isinstance(v.type, TensorType) or not shape_of(v):
        raise _error(what, f"must be a tensor of rank >= 1, got {v.type}")
    return shape_of(v)


def port_type(v: SSAValue, io: str) -> Attribute:
    """A tensor as a function argument: a flat array, or a stream of one beat per position."""
    shape = shape_of(v)
    elem = v.type.get_element_type()
    if io == "stream":
        return hls.StreamType(elem, fxp.IntAttr(shape[-1]))
    return hls.array_type(elem, int(np.prod(shape)))


def positions(shape: Sequence[int]) -> int:
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def _func_builder(func: hls.FuncOp) -> Builder:
    func.block.add_op(hls.ReturnOp())
    return Builder(func.block)


# ============================================================================================
# Wiring the top function
# ============================================================================================


class _Wiring:
    """Connects each producer to its consumers in the top function, with adapters where needed.

    An array may be read by any number of layers; a stream is read once, so a stream with
    several readers is cloned, and a value crossing between a parallel and a streaming
    layer is converted.  Output ports are written directly when nothing else reads them.
    """

    def __init__(self, lowering: _ModuleLowering, b: Builder):
        self.lowering = lowering
        self.b = b
        self.sources: dict[tuple[SSAValue, object], SSAValue] = {}

    def source(self, v: SSAValue, node: dataflow.NodeOp) -> SSAValue:
        return self.sources[(v, node)]

    def connect(self, v: SSAValue, native: str, sinks: list[_Sink], given: SSAValue | None = None) -> tuple[SSAValue, Callable[[], None]]:
        """Where the producer of ``v`` writes, and what to add once it has run."""
        base = _base_name(v, given, self.b)
        if not sinks:
            what = "is read by no layer: remove it from the model" if given is not None else "is computed but never used: remove the layer or return its result"
            raise _error(base, what)
        if native == "parallel":
            return self._from_array(v, sinks, given, base)
        return self._from_stream(v, sinks, given, base)

    def _from_array(self, v, sinks, given, base):
        ports = [s for s in sinks if s.port is not None and s.io == "parallel"]
        if given is not None:
            arr = given
        elif len(sinks) == 1 and ports:
            arr = ports[0].port
        else:
            arr = self._array(v, base)

        def finish() -> None:
            for s in sinks:
                if s.io == "parallel":
                    if s.port is None:
                        self.sources[(v, s.key)] = arr
                    elif s.port is not arr:
                        self._adapter("copy", v, base, [arr], [s.port])
                else:
                    ch = s.port if s.port is not None else self._channel(v, f"{base}_to_{_sink_name(s)}")
                    self._adapter("to_stream", v, base, [arr], [ch])
                    if s.port is None:
                        self.sources[(v, s.key)] = ch

        return arr, finish

    def _from_stream(self, v, sinks, given, base):
        streams = [s for s in sinks if s.io == "stream"]
        arrays = [s for s in sinks if s.io == "parallel"]
        readers = len(streams) + (1 if arrays else 0)
        if given is not None:
            src = given
        elif readers == 1 and streams and streams[0].port is not None:
            src = streams[0].port
        else:
            src = self._channel(v, f"{base}_out")

        def finish() -> None:
            if readers == 1 and not (streams and streams[0].port not in (None, src)):
                outs = [src]
            else:
                outs = [s.port if s.port is not None else self._channel(v, f"{base}_to_{_sink_name(s)}") for s in streams]
                if arrays:
                    outs.append(self._channel(v, f"{base}_to_arrays"))
                self._adapter("clone", v, base, [src], outs)
            for s, ch in zip(streams, outs):
                if s.port is None:
                    self.sources[(v, s.key)] = ch
            if arrays:
                only_port = len(arrays) == 1 and arrays[0].port is not None
                target = arrays[0].port if only_port else self._array(v, base)
                self._adapter("to_array", v, base, [outs[-1]], [target])
                for s in arrays:
                    if s.port is None:
                        self.sources[(v, s.key)] = target
                    elif s.port is not target:
                        self._adapter("copy", v, base, [target], [s.port])

        return src, finish

    def _array(self, v: SSAValue, base: str) -> SSAValue:
        arr = self.b.value(hls.AllocaOp(port_type(v, "parallel"), f"{base}_out"))
        self.b.partition(arr)
        return arr

    def _channel(self, v: SSAValue, name: str) -> SSAValue:
        return self.b.value(hls.ChannelOp(port_type(v, "stream"), _depth(v), name))

    def _adapter(self, kind: str, v: SSAValue, base: str, ins: list[SSAValue], outs: list[SSAValue]) -> None:
        func = hls.FuncOp(
            self.lowering.names(f"{base}_{kind}"),
            [x.type for x in ins],
            [y.type for y in outs],
            port_names=["x"] + [f"y{k}" if len(outs) > 1 else "y" for k in range(len(outs))],
            comment=ADAPTERS[kind][0],
        )
        b = _func_builder(func)
        b.add(hls.InlineOffOp())
        ADAPTERS[kind][1](b, func.inputs[0], func.outputs, shape_of(v))
        self.lowering.funcs.append(func)
        self.b.add(hls.CallOp(func.sym_name.data, [*ins, *outs]))


def _sink_name(s: _Sink) -> str:
    return c_identifier(s.key.layer.data) if isinstance(s.key, dataflow.NodeOp) else f"output_{s.key[1]}"


def _base_name(v: SSAValue, given: SSAValue | None, b: Builder) -> str:
    owner = v.owner
    if isinstance(owner, dataflow.NodeOp):
        return c_identifier(owner.layer.data)
    func = b.block.parent_op()
    names = func.port_names.data
    return names[list(func.block.args).index(given)].data if given is not None else "value"


def _depth(v: SSAValue) -> int:
    owner = v.owner
    if isinstance(owner, dataflow.NodeOp) and owner.stream_depth is not None:
        return max(1, owner.stream_depth.value.data)
    return positions(shape_of(v))


def _copy(b: Builder, x: SSAValue, ys: Sequence[SSAValue], shape) -> None:
    b.add(hls.PipelineOp(1))
    n = int(np.prod(shape))
    with b.loop(n, "copy", "i", unroll=True) as (lb, i):
        for y in ys:
            ArrayTensor(y, (n,)).store_flat(lb, i, ArrayTensor(x, (n,)).load_flat(lb, i))


def _beats(b: Builder, shape, body: Callable[[Builder, SSAValue, SSAValue], None]) -> None:
    """A loop over positions, one beat a cycle, with the lane loop inside."""
    with b.loop(positions(shape), "positions", "p", pipeline=1) as (pb, p):
        body(pb, p, shape[-1])


def _to_stream(b: Builder, x: SSAValue, ys: Sequence[SSAValue], shape) -> None:
    def body(pb: Builder, p, lanes) -> None:
        beat = pb.value(hls.AllocaOp(ys[0].type.beat(), "beat"))
        with pb.loop(lanes, "lanes", "c", unroll=True) as (cb, c):
            BeatTensor(beat, shape).store(cb, [c], ArrayTensor(x, shape).load_flat(cb, p * lanes + c))
        pb.add(hls.WriteOp(ys[0], beat))

    _beats(b, shape, body)


def _to_array(b: Builder, x: SSAValue, ys: Sequence[SSAValue], shape) -> None:
    def body(pb: Builder, p, lanes) -> None:
        beat = pb.value(hls.AllocaOp(x.type.beat(), "beat"))
        pb.add(hls.ReadOp(x, beat))
        with pb.loop(lanes, "lanes", "c", unroll=True) as (cb, c):
            ArrayTensor(ys[0], shape).store_flat(cb, p * lanes + c, BeatTensor(beat, shape).load(cb, [c]))

    _beats(b, shape, body)


def _clone(b: Builder, x: SSAValue, ys: Sequence[SSAValue], shape) -> None:
    def body(pb: Builder, p, lanes) -> None:
        beat = pb.value(hls.AllocaOp(x.type.beat(), "beat"))
        pb.add(hls.ReadOp(x, beat))
        for y in ys:
            pb.add(hls.WriteOp(y, beat))

    _beats(b, shape, body)


ADAPTERS: dict[str, tuple[str, Callable]] = {
    "copy": ("copy an array", _copy),
    "to_stream": ("array -> stream, one position a beat", _to_stream),
    "to_array": ("stream -> array, one position a beat", _to_array),
    "clone": ("one stream read, several written: a stream has a single reader", _clone),
}


# ============================================================================================
# One layer
# ============================================================================================


def _operand_roles(op: Operation):
    """(role, value) for each operand, the role named after the op's operand definition."""
    for name, _ in type(op).get_irdl_definition().operands:
        v = getattr(op, name)
        if isinstance(v, SSAValue):
            yield name, v
        elif v is not None:
            for k, x in enumerate(v):
                yield f"{name}{k}", x


class _NodeLowering:
    def __init__(self, module: _ModuleLowering, node: dataflow.NodeOp, op: Operation):
        self.module = module
        self.node = node
        self.op = op
        self.name = module.names(node.layer.data)
        self.io = node.io.data
        self.reuse = node.reuse_factor.value.data
        self.inner_pipelined = self.reuse > 1 and isinstance(op, fxp.DenseOp | fxp.ConvOp)

    def run(self) -> hls.FuncOp:
        node, op = self.node, self.op
        data = list(node.block.args)
        out = node.outputs[0]
        self.module.name_type(element_format(out), self.name)
        in_names = ["x"] if len(data) == 1 else [f"x{k}" for k in range(len(data))]
        func = hls.FuncOp(
            self.name,
            [port_type(a, self.io) for a in data],
            [port_type(out, self.io)],
            port_names=[*in_names, "y"],
            comment=self._comment(),
        )
        self.module.funcs.append(func)
        b = _func_builder(func)
        b.add(hls.InlineOffOp())
        tensors = self._constants()
        tables = {key: self.module.declare(f"{self.name}_{key}", codes, fmt) for key, (codes, fmt) in kernels.tables(op).items()}
        ctx = kernels.KernelContext(op, node.layer.data, self.reuse, tensors, ArrayTensor(func.outputs[0], shape_of(out)), self.io == "stream", self._name_type, tables)
        if self.io == "parallel":
            self._parallel(b, func, data, ctx)
        elif kernels.positionwise_streamable(op, data):
            self._beat_by_beat(b, func, data, ctx)
        else:
            self._buffered(b, func, data, ctx)
        return func

    def _name_type(self, fmt: FixedFormat, role: str) -> None:
        self.module.name_type(fmt, f"{self.name}_{role}")

    def _constants(self) -> dict[SSAValue, Tensor]:
        tensors: dict[SSAValue, Tensor] = {}
        for role, v in _operand_roles(self.op):
            if isinstance(v.owner, fxp.ConstantOp) and v not in tensors:
                const = v.owner
                tensors[v] = self.module.declare(f"{self.name}_{role}", const.codes(), const.format)
        return tensors

    def _constant_banks(self, b: Builder, tensors: dict[SSAValue, Tensor]) -> None:
        """Weights read all at once sit in registers; with reuse R, in banks of R (hls4ml's layout).

        Multiplier j reads weight r + R*j in cycle r: a block partition in ceil(N/R) banks of R
        gives every multiplier a bank of its own.  Lookup tables stay ROMs.
        """
        for t in tensors.values():
            if not isinstance(t, GlobalTensor) or t.type.get_shape()[0] < 2:
                continue
            array = t.array(b)
            if self.inner_pipelined and t.type.get_shape()[0] > self.reuse:
                b.add(hls.ArrayReshapeOp(array, "block", factor=-(-t.type.get_shape()[0] // self.reuse)))
            elif not self.inner_pipelined:
                b.add(hls.ArrayPartitionOp(array))

    def _comment(self) -> str:
        node, op = self.node, self.op
        shapes = ", ".join("x".join(map(str, shape_of(v))) for v in node.inputs)
        text = f"{node.layer.data}: {op.name} ({shapes}) -> {'x'.join(map(str, shape_of(node.outputs[0])))}, reuse factor {self.reuse}, io {self.io}"
        if isinstance(op, fxp.DenseOp | fxp.ConvOp) and isinstance(op.weight.owner, fxp.ConstantOp):
            w = op.weight.owner.codes()
            text += f"; {int(np.count_nonzero(w))} of {w.size} weights non-zero"
        if node.ii is not None and node.latency is not None:
            text += f"; estimate II {node.ii.value.data}, latency {node.latency.value.data} cycles"
        return text

    def _run_kernel(self, ctx: kernels.KernelContext, b: Builder) -> None:
        kind = type(self.op)
        if kind in kernels.WHOLE:
            kernels.WHOLE[kind](ctx, b)
            return
        with ctx.positions(b, ctx.out.shape[:-1], "positions", self.inner_pipelined) as (pb, pos):
            kernels.POSITIONWISE[kind](ctx, pb, pos)

    def _parallel(self, b: Builder, func: hls.FuncOp, data, ctx) -> None:
        if not self.inner_pipelined:
            b.add(hls.PipelineOp(1))
        for arg in func.block.args:
            b.partition(arg)
        self._constant_banks(b, ctx.tensors)
        for a, port in zip(data, func.inputs):
            ctx.tensors[a] = ArrayTensor(port, shape_of(a))
        self._run_kernel(ctx, b)

    def _beat_by_beat(self, b: Builder, func: hls.FuncOp, data, ctx) -> None:
        """Read one beat of each input, compute that position, write one beat."""
        out_shape = ctx.out.shape
        pipe = None if self.inner_pipelined else 1
        if len(out_shape) == 1 and pipe:
            b.add(hls.PipelineOp(1))
        self._constant_banks(b, ctx.tensors)
        names = kernels.loop_names("p", len(out_shape) - 1)
        with b.loops(out_shape[:-1], "positions", names, unroll=False, pipeline_inner=pipe) as (pb, pos):
            for a, port, pname in zip(data, func.inputs, func.port_names.data):
                beat = pb.value(hls.AllocaOp(port.type.beat(), f"{pname.data}_beat"))
                pb.add(hls.ReadOp(port, beat))
                pb.partition(beat)
                ctx.tensors[a] = BeatTensor(beat, shape_of(a))
            out_port = func.outputs[0]
            out_beat = pb.value(hls.AllocaOp(out_port.type.beat(), "y_beat"))
            pb.partition(out_beat)
            ctx.out = BeatTensor(out_beat, out_shape)
            kernels.POSITIONWISE[type(self.op)](ctx, pb, pos)
            pb.add(hls.WriteOp(out_port, out_beat))

    def _buffered(self, b: Builder, func: hls.FuncOp, data, ctx) -> None:
        """Windows and data movement read other positions: buffer the frame, compute, stream out."""
        self._constant_banks(b, ctx.tensors)
        b.comment("this layer reads other positions than the one it writes: it buffers the whole input")
        for a, port, pname in zip(data, func.inputs, func.port_names.data):
            buf = b.alloca(element_format(a), int(np.prod(shape_of(a))), f"{pname.data}_buf")
            _to_array(b, port, [buf], shape_of(a))
            ctx.tensors[a] = ArrayTensor(buf, shape_of(a))
        out_port = func.outputs[0]
        out_buf = b.alloca(element_format(self.node.outputs[0]), int(np.prod(ctx.out.shape)), "y_buf")
        shape = ctx.out.shape
        ctx.out = ArrayTensor(out_buf, shape)
        self._run_kernel(ctx, b)
        _to_stream(b, out_buf, [out_port], shape)
