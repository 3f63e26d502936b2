"""The reference emulator: runs an fxp module on numpy arrays, exactly.

It is the golden model of fmlc: every backend is tested bit for bit against it.  Each operation
is prepared once (constants decoded, bounds of every exact intermediate worked out from the
actual weights) into a small kernel; running a batch calls the kernels in order, vectorized
over the batch and in chunks that stay in cache.

Exactness: codes below 2**52 travel as float64 and go through BLAS, which is exact while every
partial sum stays below 2**53 (below 2**24 it uses float32); wider values use int64 or Python
integers.  The bounds come from the formats and the constant values, so the choice is made
once per operation, never guessed.

A dense op and the ReLU or cast that alone reads it run as one step (``fuse_linear_casts``):
the weights are pre-scaled by the cast's power of two so the matmul yields the cast's input
directly, under the same exactness bounds.  ``Emulator(module, fuse=False)`` keeps one step per
op (``fmlc.profile`` observes every op's result).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from xdsl.dialects.builtin import AnyFloat, Float32Type, ModuleOp, TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation, SSAValue

from fmlc import fixed
from fmlc.boundary import apply_steps
from fmlc.dialects import dataflow, fxp
from fmlc.dialects.fxp import element_format, shape_of
from fmlc.fixed import FixedFormat
from fmlc.ir import main_function, op_label


class EmulationError(RuntimeError):
    """The module cannot be emulated as written (e.g. unresolved types); names the operation."""


Kernel = Callable[[list[np.ndarray]], np.ndarray]

DEFAULT_CHUNK = 4096

FLOAT32_EXACT = 1 << (fixed.FLOAT32_BITS + 1)
"""float32 represents every integer up to 2**24 exactly (sums in float32 BLAS stay exact below it)."""


# --------------------------------------------------------------------------------------------
# exact helpers
# --------------------------------------------------------------------------------------------


def code_bound(fmt: FixedFormat) -> int:
    """Largest |code| of a format."""
    return max(-fmt.min_code, fmt.max_code)


def kind_for(bound: int) -> str:
    """Storage kind for exact integer results with |v| <= bound (float32 holds them to 2**24)."""
    bits = int(bound).bit_length()
    if bits <= fixed.FLOAT32_BITS + 1:
        return "float32"
    if bits <= fixed.FLOAT_BITS + 1:
        return "float"
    return fixed.storage_kind(bits)


def scale_up(a: np.ndarray, shift: int) -> np.ndarray:
    """Exact ``a * 2**shift`` for shift >= 0 in a's kind (the caller checked the bound)."""
    if shift == 0:
        return a
    if a.dtype == np.float64 or a.dtype == np.float32:
        return a * float(2**shift)
    return a << shift


def matmul_plan(w: np.ndarray, bound: int) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> x @ w`` exactly, for integer codes whose partial sums stay within ``bound``.

    float32 BLAS is exact below 2**24, float64 below 2**53 (every product and partial sum is an
    integer the format holds); beyond, int64 or Python integers.  (A code too wide for float32
    only meets zero weights when the bound is small, and zero times a rounded code is still
    zero.)  The weights are converted once, not per chunk.
    """
    bits = int(bound).bit_length()
    if bits <= fixed.FLOAT32_BITS + 1:
        kind = "float32"
    elif bits <= fixed.FLOAT_BITS + 1:
        kind = "float"
    elif bits <= fixed.INT_BITS:
        kind = "int"
    else:
        wo = fixed.to_kind(w, "object")
        return lambda x: np.dot(fixed.to_kind(x, "object"), wo)
    wk = np.ascontiguousarray(fixed.to_kind(w, kind))
    return lambda x: np.matmul(fixed.to_kind(x, kind), wk)


def linear_bounds(w: np.ndarray, fmt_x: FixedFormat) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-output [lo, hi] of ``sum_k x_k * w[k, m]`` over all codes x of ``fmt_x``."""
    wo = w.astype(object)
    a, b = wo * fmt_x.min_code, wo * fmt_x.max_code
    lo = np.minimum(a, b).sum(axis=0)
    hi = np.maximum(a, b).sum(axis=0)
    return lo, hi


# --------------------------------------------------------------------------------------------
# the emulator
# --------------------------------------------------------------------------------------------


@dataclass
class _Step:
    op: Operation
    kernel: Kernel
    operands: list[SSAValue]
    result: SSAValue

    def __post_init__(self) -> None:
        # the run loop keys values by id(): xDSL hashes SSA values in Python, ids hash in C
        self.operand_ids = [id(v) for v in self.operands]
        self.result_id = id(self.result)


class Emulator:
    """Runs one function of an fxp module: ``Emulator(module).run(x)``."""

    def __init__(self, module: ModuleOp, function: str | None = None, fuse: bool = True):
        """``fuse``: run a dense layer and the ReLU or cast that alone reads it as one kernel
        (``fuse_linear_casts``); off, every op is its own step (what ``fmlc.profile`` observes)."""
        self.func: FuncOp = main_function(module) if function is None else _find_func(module, function)
        self.constants: dict[SSAValue, np.ndarray] = {}
        self.steps: list[_Step] = []
        self.alias: dict[SSAValue, SSAValue] = {}  # node block args and results -> the values they stand for
        block = self.func.body.block
        self.inputs = list(block.args)
        self.outputs: list[SSAValue] = []
        self._prepare(block.ops)
        if fuse:
            fuse_linear_casts(self)

    def resolve(self, v: SSAValue) -> SSAValue:
        while v in self.alias:
            v = self.alias[v]
        return v

    def _prepare(self, ops) -> None:
        for op in ops:
            if isinstance(op, ReturnOp):
                self.outputs = [self.resolve(v) for v in op.operands]
                continue
            if isinstance(op, fxp.ConstantOp):
                self.constants[op.result] = fixed.to_kind(op.codes(), op.format.storage)
                continue
            if isinstance(op, dataflow.NodeOp):  # a node computes what its body computes
                self.alias.update(zip(op.block.args, op.inputs))
                self._prepare(op.block.ops)
                continue
            if isinstance(op, dataflow.YieldOp):
                self.alias.update(zip(op.parent_op().results, op.values))
                continue
            builder = KERNELS.get(type(op))
            if builder is None:
                raise EmulationError(f"the emulator does not know {op_label(op)}")
            for v in list(op.results):
                if isinstance(v.type, TensorType) and isinstance(v.type.get_element_type(), fxp.AutoType):
                    raise EmulationError(f"{op_label(op)} has an unresolved !fxp.auto type: run precision inference first")
            try:
                kernel = builder(op, self)
            except fxp.VerifyException as err:
                raise EmulationError(f"{op_label(op)}: {err}") from None
            self.steps.append(_Step(op, kernel, [self.resolve(v) for v in op.operands], op.results[0]))

    def is_constant(self, value: SSAValue) -> bool:
        return self.resolve(value) in self.constants

    def constant(self, value: SSAValue, what: str, op: Operation) -> np.ndarray:
        """Codes of a constant operand, or an error naming the operation."""
        value = self.resolve(value)
        if value not in self.constants:
            raise EmulationError(f"{op_label(op)}: {what} must be an fxp.constant")
        return self.constants[value]

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        return [shape_of(a) for a in self.inputs]

    @property
    def output_formats(self) -> list[FixedFormat]:
        return [element_format(v) for v in self.outputs]

    def run(self, *inputs: np.ndarray, raw: bool = False, chunk: int = DEFAULT_CHUNK) -> list[np.ndarray]:
        """Run on float inputs shaped ``(N, *input_shape)``; returns float64 values, or codes if ``raw``."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} input(s), got {len(inputs)}")
        arrays = []
        for k, (x, arg) in enumerate(zip(inputs, self.inputs)):
            x = np.asarray(x)
            if tuple(x.shape[1:]) != shape_of(arg):
                raise ValueError(f"input #{k} must be shaped (N, {', '.join(map(str, shape_of(arg)))}), got {x.shape}")
            arrays.append(x)
        n = arrays[0].shape[0] if arrays else 0
        parts: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for start in range(0, max(n, 1), chunk):
            outs = self._run_chunk([a[start : start + chunk] for a in arrays])
            for k, o in enumerate(outs):
                parts[k].append(o)
        results = []
        for k, fmt in enumerate(self.output_formats):
            codes = np.concatenate(parts[k]) if parts[k] else np.zeros((0,) + shape_of(self.outputs[k]))
            results.append(codes_as_int(codes) if raw else fixed.to_float(codes, fmt.frac))
        return results

    def run_codes(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run on integer codes of the function's fixed-point inputs (for IR without fxp.quantize)."""
        return self._run_chunk(list(inputs), codes_in=True)

    def _run_chunk(self, inputs: list[np.ndarray], codes_in: bool = False) -> list[np.ndarray]:
        env: dict[int, np.ndarray] = {id(v): c for v, c in self.constants.items()}
        for arg, x in zip(self.inputs, inputs):
            env[id(arg)] = fixed.to_kind(np.asarray(x, dtype=object), element_format(arg).storage) if codes_in else x
        for step in self.steps:
            env[step.result_id] = step.kernel([env[i] for i in step.operand_ids])
        return [env[id(v)] for v in self.outputs]


def codes_as_int(codes: np.ndarray) -> np.ndarray:
    """Codes as int64 when they fit, else as Python integers."""
    if codes.dtype == object:
        if codes.size == 0 or fixed.bits_needed(codes) <= 63 - 1:
            return codes.astype(np.int64)
        return codes
    return codes.astype(np.int64)


def _find_func(module: ModuleOp, name: str) -> FuncOp:
    for op in module.ops:
        if isinstance(op, FuncOp) and op.sym_name.data == name:
            return op
    raise ValueError(f"no function @{name} in the module")


def emulate(module: ModuleOp, *inputs: np.ndarray, raw: bool = False) -> list[np.ndarray]:
    """One-shot convenience: ``Emulator(module).run(*inputs)``."""
    return Emulator(module).run(*inputs, raw=raw)


# --------------------------------------------------------------------------------------------
# kernels: one builder per op; each returns a closure over the op's static facts
# --------------------------------------------------------------------------------------------

KERNELS: dict[type, Callable[[Operation, Emulator], Kernel]] = {}


def kernel(op_type: type):
    def register(fn):
        KERNELS[op_type] = fn
        return fn

    return register


def fmt_of(v: SSAValue) -> FixedFormat:
    return element_format(v)


def cast_to(result: SSAValue, src_frac: int, bound: int) -> Callable[[np.ndarray], np.ndarray]:
    """The final cast of an op: exact codes at ``src_frac`` (|v| <= bound) to the result type."""
    dst = fmt_of(result)
    bits = int(bound).bit_length()
    if src_frac == dst.frac and -bound >= dst.min_code and bound <= dst.max_code:
        kind = dst.storage
        if bound <= FLOAT32_EXACT:
            # float32 already holds every such code exactly: kernels convert by dtype, so a
            # 24-bit result computed in float32 stays there instead of doubling its memory
            return lambda a: a if a.dtype == np.float32 else fixed.to_kind(a, kind)
        return lambda a: fixed.to_kind(a, kind)  # nothing to round, nothing can overflow
    return lambda a: fixed.cast(a, src_frac, dst, bits=bits)


def align_rank(a: np.ndarray, batched: bool, rank: int) -> np.ndarray:
    """Give a per-sample array of rank <= ``rank`` the full rank (+ batch axis) for broadcasting."""
    have = a.ndim - (1 if batched else 0)
    if have == rank and batched:
        return a
    if batched:
        return a.reshape((a.shape[0],) + (1,) * (rank - have) + a.shape[1:])
    return a.reshape((1,) + (1,) * (rank - have) + a.shape)


@kernel(fxp.QuantizeOp)
def _quantize(op: fxp.QuantizeOp, emu: Emulator) -> Kernel:
    dst = fmt_of(op.result)
    elem = op.input.type.get_element_type()
    assert isinstance(elem, AnyFloat)
    ftype = np.float32 if isinstance(elem, Float32Type) else np.float64
    steps = op.step_list()

    def run(args):
        # the float steps happen in the input's float type, one rounding per step
        return fixed.from_float(apply_steps(args[0], steps, ftype).astype(np.float64), dst)

    return run


@kernel(fxp.CastOp)
def _cast(op: fxp.CastOp, emu: Emulator) -> Kernel:
    src = fmt_of(op.input)
    final = cast_to(op.result, src.frac, code_bound(src))
    return lambda args: final(args[0])


def _prepare_linear(op, emu: Emulator, w2d: np.ndarray):
    """Shared by dense and conv: bounds, accumulator handling and result cast.

    Returns ``finish(sum_codes, kind) -> result codes`` and the matmul bound.
    """
    fx, fw = fmt_of(op.input), fmt_of(op.weight)
    if not isinstance(op.acc, fxp.FixedType):
        raise EmulationError(f"{op_label(op)} has an unresolved !fxp.auto accumulator: run precision inference first")
    fa = op.acc.format
    fp = fx.frac + fw.frac
    lo, hi = linear_bounds(w2d, fx)
    bound = max(max(-int(lo.min()), int(hi.max())) if lo.size else 0, 0)
    bias = None
    if op.bias is not None:
        fb = fmt_of(op.bias)
        bias_codes = emu.constant(op.bias, "bias", op)
        bias = fixed.cast(fixed.to_kind(bias_codes, "object"), fb.frac, fa)  # acc(b), once
        bias = fixed.to_kind(bias, "object")
    return fx, fa, fp, bound, bias


def _finish_linear(op, fa: FixedFormat, fp: int, bound: int, bias, per_product: bool, terms: int):
    """From exact sums at frac ``fp`` (or sums of acc codes, if per_product) to the result."""
    shift = 0 if per_product else fa.frac - fp
    acc_bound = (bound << shift) if not per_product else terms * code_bound(fa)
    bias_max = int(max(abs(int(v)) for v in bias.ravel())) if bias is not None and bias.size else 0
    total_bound = acc_bound + bias_max
    # the accumulator wraps: only needed when the exact sum can leave its range
    wraps = -total_bound < fa.min_code or total_bound > fa.max_code
    kind = kind_for(max(total_bound, 1) << 1)
    bias_k = fixed.to_kind(bias, kind) if bias is not None else None
    final = cast_to(op.result, fa.frac, total_bound if not wraps else code_bound(fa))

    def finish(s: np.ndarray) -> np.ndarray:
        s = scale_up(fixed.to_kind(s, kind), shift)
        if bias_k is not None:
            s = np.add(s, bias_k, out=s) if s.dtype != object else s + bias_k
        if wraps:
            s = fixed.cast(s, fa.frac, fa, bits=int(total_bound).bit_length())
        return final(s)

    return finish


def _product_sums(xmat: np.ndarray, wmat: np.ndarray, fx_frac: int, fw_frac: int, fa: FixedFormat) -> np.ndarray:
    """sum_k acc(x_k * w_km): each product rounded to the accumulator first (acc has fewer fraction bits)."""
    xo = fixed.to_kind(xmat, "object") if xmat.dtype == object else fixed.to_kind(xmat, "int")
    out = []
    for row in range(0, xo.shape[0], 256):
        block = xo[row : row + 256]
        prods = block[:, :, None].astype(object) * wmat[None, :, :].astype(object)
        p = fixed.cast(prods, fx_frac + fw_frac, fa.with_modes(overflow="WRAP"))
        out.append(fixed.to_kind(p, "object").sum(axis=1))
    return np.concatenate(out) if out else np.zeros((0, wmat.shape[1]), dtype=object)


@kernel(fxp.DenseOp)
def _dense(op: fxp.DenseOp, emu: Emulator) -> Kernel:
    w = emu.constant(op.weight, "weight", op)
    fx, fa, fp, bound, bias = _prepare_linear(op, emu, fixed.to_kind(w, "int"))
    fw = fmt_of(op.weight)
    per_product = fa.frac < fp
    k, m = w.shape
    finish = _finish_linear(op, fa, fp, bound, bias, per_product, k)
    matmul = None if per_product else matmul_plan(w, bound)

    def run(args):
        x = args[0]
        lead = x.shape[:-1]
        xm = x.reshape(-1, k)
        if per_product:
            s = _product_sums(xm, w, fx.frac, fw.frac, fa)
        else:
            s = matmul(xm)
        return finish(s).reshape(lead + (m,))

    return run


def conv_patches(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], padding: Sequence[int]) -> np.ndarray:
    """im2col for channels-last ``x`` (N, *spatial, C): returns (N, *out_spatial, *kernel, C)."""
    n = len(kernel)
    pads = [(0, 0)] + [(padding[d], padding[n + d]) for d in range(n)] + [(0, 0)]
    if any(padding):
        x = np.pad(x, pads)
    spans = [dilations[d] * (kernel[d] - 1) + 1 for d in range(n)]
    win = np.lib.stride_tricks.sliding_window_view(x, spans, axis=tuple(range(1, n + 1)))
    # win: (N, *positions, C, *spans) -> keep every stride-th position, every dilation-th tap
    index = (slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),) + tuple(slice(None, None, d) for d in dilations)
    win = win[index]
    # -> (N, *out, *kernel, C)
    order = (0,) + tuple(range(1, n + 1)) + tuple(range(n + 2, 2 * n + 2)) + (n + 1,)
    return np.transpose(win, order)


@kernel(fxp.ConvOp)
def _conv(op: fxp.ConvOp, emu: Emulator) -> Kernel:
    w = emu.constant(op.weight, "weight", op)
    kernel_shape, strides, dilations, padding, groups = op.window()
    cg, f = w.shape[-2], w.shape[-1]
    fg = f // groups
    # per group, the weight as a (taps * C/g, F/g) matrix
    wmats = [w[..., g * fg : (g + 1) * fg].reshape(-1, fg) for g in range(groups)]
    wall = np.concatenate([fixed.to_kind(m, "int") for m in wmats], axis=1)
    fx, fa, fp, bound, bias = _prepare_linear(op, emu, wall)
    fw = fmt_of(op.weight)
    per_product = fa.frac < fp
    finish = _finish_linear(op, fa, fp, bound, bias, per_product, wall.shape[0])
    out_shape = shape_of(op.result)
    matmuls = [None if per_product else matmul_plan(wm, bound) for wm in wmats]

    def run(args):
        x = args[0]
        pat = conv_patches(x, kernel_shape, strides, dilations, padding)
        nsamp = x.shape[0]
        rows = pat.reshape(-1, *pat.shape[1 + len(kernel_shape) :])  # (N*out, *kernel, C)
        sums = []
        for g in range(groups):
            xg = rows[..., g * cg : (g + 1) * cg].reshape(rows.shape[0], -1)
            if per_product:
                sums.append(_product_sums(xg, wmats[g], fx.frac, fw.frac, fa))
            else:
                sums.append(matmuls[g](xg))
        s = sums[0] if groups == 1 else np.concatenate([fixed.to_kind(t, fixed.kind_of(sums[0])) for t in sums], axis=1)
        return finish(s).reshape((nsamp,) + out_shape)

    return run


def _aligned_pair(op, emu, a_val: SSAValue, b_val: SSAValue):
    """Bring two operands to a common fraction; returns a function (a, b) -> (a', b'), the frac and bounds."""
    fa, fb = fmt_of(a_val), fmt_of(b_val)
    frac = max(fa.frac, fb.frac)
    sa, sb = frac - fa.frac, frac - fb.frac
    ba, bb = code_bound(fa) << sa, code_bound(fb) << sb
    kind = kind_for((max(ba, bb) << 1) + 1)
    rank = len(shape_of(op.result))
    a_batched = not emu.is_constant(a_val)
    b_batched = not emu.is_constant(b_val)

    def align(a, b):
        a = scale_up(fixed.to_kind(a, kind), sa)
        b = scale_up(fixed.to_kind(b, kind), sb)
        return align_rank(a, a_batched, rank), align_rank(b, b_batched, rank)

    return align, frac, ba, bb


def _binary(fn, bound_fn):
    def builder(op, emu):
        align, frac, ba, bb = _aligned_pair(op, emu, op.lhs, op.rhs)
        final = cast_to(op.result, frac, bound_fn(ba, bb))
        return lambda args: final(fn(*align(args[0], args[1])))

    return builder


kernel(fxp.AddOp)(_binary(lambda a, b: a + b, lambda ba, bb: ba + bb))
kernel(fxp.SubOp)(_binary(lambda a, b: a - b, lambda ba, bb: ba + bb))
kernel(fxp.MaximumOp)(_binary(np.maximum, max))
kernel(fxp.MinimumOp)(_binary(np.minimum, max))


@kernel(fxp.MulOp)
def _mul(op: fxp.MulOp, emu: Emulator) -> Kernel:
    fa, fb = fmt_of(op.lhs), fmt_of(op.rhs)
    bound = code_bound(fa) * code_bound(fb)
    kind = kind_for(bound)
    rank = len(shape_of(op.result))
    batched = [not emu.is_constant(v) for v in (op.lhs, op.rhs)]
    final = cast_to(op.result, fa.frac + fb.frac, bound)

    def run(args):
        a = align_rank(fixed.to_kind(args[0], kind), batched[0], rank)
        b = align_rank(fixed.to_kind(args[1], kind), batched[1], rank)
        return final(a * b)

    return run


@kernel(fxp.ReluOp)
def _relu(op: fxp.ReluOp, emu: Emulator) -> Kernel:
    f, dst = fmt_of(op.input), fmt_of(op.result)
    final = cast_to(op.result, f.frac, code_bound(f))
    if not dst.signed and dst.overflow != "WRAP":
        # an unsigned saturating result already sends every negative value to 0
        return lambda args: final(args[0])
    # after max(x, 0) the codes lie in 0..max_code: often the result type holds them all
    positive = cast_to(op.result, f.frac, max(f.max_code, 0))
    return lambda args: positive(np.maximum(args[0], 0))


@kernel(fxp.LeakyReluOp)
def _leaky_relu(op: fxp.LeakyReluOp, emu: Emulator) -> Kernel:
    fx, fal = fmt_of(op.input), fmt_of(op.alpha)
    alpha = emu.constant(op.alpha, "alpha", op)
    # both branches meet at frac fx + max(fal, 0): x moves up by fal's fraction bits, x * alpha
    # (at fx + fal) moves up when alpha's LSB weighs more than 1
    up_x, up_prod = max(fal.frac, 0), max(-fal.frac, 0)
    bound = max(code_bound(fx) << up_x, (code_bound(fx) * code_bound(fal)) << up_prod)
    kind = kind_for(bound)
    rank = len(shape_of(op.result))
    alpha_k = align_rank(fixed.to_kind(fixed.to_kind(alpha, "object"), kind), False, rank)
    final = cast_to(op.result, fx.frac + up_x, bound)

    def run(args):
        x = fixed.to_kind(args[0], kind)
        return final(np.where(x >= 0, scale_up(x, up_x), scale_up(x * alpha_k, up_prod)))

    return run


@kernel(fxp.ThresholdedReluOp)
def _thresholded_relu(op: fxp.ThresholdedReluOp, emu: Emulator) -> Kernel:
    f = fmt_of(op.input)
    # x > alpha  <=>  code > floor(alpha * 2**F), codes being integers
    limit = int(np.floor(Fraction(op.alpha.value.data) * Fraction(2) ** f.frac))
    final = cast_to(op.result, f.frac, code_bound(f))
    return lambda args: final(np.where(args[0] > limit, args[0], 0))


@kernel(fxp.TableOp)
def _table(op: fxp.TableOp, emu: Emulator) -> Kernel:
    fin, fout = fmt_of(op.input), fmt_of(op.result)
    table = fixed.to_kind(op.codes(), fout.storage)
    offset = fin.min_code
    return lambda args: table[fixed.to_kind(args[0], "int") - offset]


@kernel(fxp.SoftmaxOp)
def _softmax(op: fxp.SoftmaxOp, emu: Emulator) -> Kernel:
    fx = fmt_of(op.input)
    diff, expf, total, inv = (t.format for t in (op.diff_type, op.exp_type, op.sum_type, op.inv_type))
    exp_table = fixed.to_kind(fxp.codes_of(op.exp_table), "int")
    inv_table = fixed.to_kind(fxp.codes_of(op.inv_table), "int")
    n = shape_of(op.input)[-1]
    sum_bound = code_bound(expf) * n
    prod_bound = code_bound(expf) * code_bound(inv)
    final = cast_to(op.result, expf.frac + inv.frac, prod_bound)
    dbits = (code_bound(fx) * 2).bit_length()

    def run(args):
        x = fixed.to_kind(args[0], kind_for(code_bound(fx) * 2))
        d = x.max(axis=-1, keepdims=True) - x
        d_idx = fixed.to_kind(fixed.cast(d, fx.frac, diff, bits=dbits), "int") - diff.min_code
        e = exp_table[d_idx]
        s = e.sum(axis=-1, keepdims=True)
        s_idx = fixed.to_kind(fixed.cast(s, expf.frac, total, bits=sum_bound.bit_length()), "int") - total.min_code
        r = inv_table[s_idx]
        kind = kind_for(prod_bound)
        return final(fixed.to_kind(e, kind) * fixed.to_kind(r, kind))

    return run


def _pool_windows(x: np.ndarray, kernel_shape, strides, padding, fill):
    n = len(kernel_shape)
    pads = [(0, 0)] + [(padding[d], padding[n + d]) for d in range(n)] + [(0, 0)]
    if any(padding):
        x = np.pad(x, pads, constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(x, tuple(kernel_shape), axis=tuple(range(1, n + 1)))
    index = (slice(None),) + tuple(slice(None, None, s) for s in strides)
    return win[index]  # (N, *out, C, *kernel)


@kernel(fxp.MaxPoolOp)
def _maxpool(op: fxp.MaxPoolOp, emu: Emulator) -> Kernel:
    f = fmt_of(op.input)
    kernel_shape, strides, padding = op.window()
    n = len(kernel_shape)
    final = cast_to(op.result, f.frac, code_bound(f))
    fill = f.min_code  # padding never wins: the smallest code of the input
    axes = tuple(range(-n, 0))
    return lambda args: final(_pool_windows(args[0], kernel_shape, strides, padding, fill).max(axis=axes))


def window_counts(in_shape, kernel_shape, strides, padding, include_pad: bool) -> np.ndarray:
    """How many elements each pooling window averages over (per output position)."""
    n = len(kernel_shape)
    ones = np.ones((1,) + tuple(in_shape[:n]) + (1,), dtype=np.int64)
    counts = _pool_windows(ones, kernel_shape, strides, padding, 0).sum(axis=tuple(range(-n, 0)))
    if include_pad:
        counts = np.full_like(counts, int(np.prod(kernel_shape)))
    return counts[0, ..., 0]


def reciprocal_codes(counts: np.ndarray, scale: FixedFormat) -> np.ndarray:
    """``q(1/n)`` for each count n, rounded and saturated as ``scale`` says."""
    table = {int(c): fixed.from_fraction(Fraction(1, int(c)), scale) for c in np.unique(counts)}
    return np.vectorize(lambda c: table[int(c)], otypes=[object])(counts)


@kernel(fxp.AvgPoolOp)
def _avgpool(op: fxp.AvgPoolOp, emu: Emulator) -> Kernel:
    f = fmt_of(op.input)
    scale = op.scale_type.format
    kernel_shape, strides, padding = op.window()
    n = len(kernel_shape)
    counts = window_counts(shape_of(op.input), kernel_shape, strides, padding, op.includes_pad)
    recips = reciprocal_codes(counts, scale)  # (*out)
    bound = code_bound(f) * int(np.prod(kernel_shape)) * max(abs(int(r)) for r in recips.ravel())
    kind = kind_for(bound)
    rec = fixed.to_kind(recips, kind)[None, ..., None]
    final = cast_to(op.result, f.frac + scale.frac, bound)
    axes = tuple(range(-n, 0))

    def run(args):
        s = _pool_windows(fixed.to_kind(args[0], kind), kernel_shape, strides, padding, 0).sum(axis=axes)
        return final(s * rec)

    return run


@kernel(fxp.GlobalMaxPoolOp)
def _global_maxpool(op, emu):
    f = fmt_of(op.input)
    final = cast_to(op.result, f.frac, code_bound(f))
    return lambda args: final(args[0].reshape(args[0].shape[0], -1, args[0].shape[-1]).max(axis=1))


@kernel(fxp.GlobalAvgPoolOp)
def _global_avgpool(op, emu):
    f = fmt_of(op.input)
    scale = op.scale_type.format
    count = int(np.prod(shape_of(op.input)[:-1]))
    recip = fixed.from_fraction(Fraction(1, count), scale)
    bound = code_bound(f) * count * abs(recip)
    kind = kind_for(bound)
    final = cast_to(op.result, f.frac + scale.frac, bound)

    def run(args):
        x = fixed.to_kind(args[0], kind)
        s = x.reshape(x.shape[0], -1, x.shape[-1]).sum(axis=1)
        return final(s * (float(recip) if kind in fixed.FLOAT_KINDS else recip))

    return run


@kernel(fxp.BatchNormOp)
def _batchnorm(op: fxp.BatchNormOp, emu: Emulator) -> Kernel:
    fx, fs, ft = fmt_of(op.input), fmt_of(op.scale), fmt_of(op.shift)
    scale = emu.constant(op.scale, "scale", op)
    shift = emu.constant(op.shift, "shift", op)
    frac = max(fx.frac + fs.frac, ft.frac)
    up_prod, up_shift = frac - fx.frac - fs.frac, frac - ft.frac
    bound = ((code_bound(fx) * code_bound(fs)) << up_prod) + (code_bound(ft) << up_shift)
    kind = kind_for(bound)
    sc = fixed.to_kind(fixed.to_kind(scale, "object"), kind)
    sh = scale_up(fixed.to_kind(fixed.to_kind(shift, "object"), kind), up_shift)
    final = cast_to(op.result, frac, bound)
    return lambda args: final(scale_up(fixed.to_kind(args[0], kind) * sc, up_prod) + sh)


@kernel(fxp.MultiThresholdOp)
def _multithreshold(op: fxp.MultiThresholdOp, emu: Emulator) -> Kernel:
    fx, ft = fmt_of(op.input), fmt_of(op.thresholds)
    thr = fixed.to_kind(emu.constant(op.thresholds, "thresholds", op), "object")
    frac = max(fx.frac, ft.frac)
    thr = np.sort(thr * (1 << (frac - ft.frac)), axis=1)
    channels = shape_of(op.input)[-1]
    if thr.shape[0] == 1:
        thr = np.repeat(thr, channels, axis=0)
    kind = kind_for(max(code_bound(fx) << (frac - fx.frac), code_bound(ft) << (frac - ft.frac)) * 2)
    thr_k = [fixed.to_kind(row, kind) for row in thr]
    sc, sc_frac = fixed.code_of_float_exact(op.out_scale.value.data)
    bi, bi_frac = fixed.code_of_float_exact(op.out_bias.value.data)
    out_frac = max(sc_frac, bi_frac)
    sc <<= out_frac - sc_frac
    bi <<= out_frac - bi_frac
    steps = thr.shape[1]
    bound = abs(bi) + abs(sc) * steps
    okind = kind_for(bound)
    final = cast_to(op.result, out_frac, bound)

    columns = [np.ascontiguousarray(np.stack(thr_k)[:, t]) for t in range(steps)]  # one threshold per channel

    def run(args):
        x = scale_up(fixed.to_kind(args[0], kind), frac - fx.frac)
        if steps <= 16:  # few thresholds: one vectorized comparison per threshold
            count = np.zeros(x.shape, dtype=np.int64)
            for column in columns:
                count += x >= column
        else:
            count = np.empty(x.shape, dtype=np.int64)
            for c in range(channels):
                count[..., c] = np.searchsorted(thr_k[c], x[..., c], side="right")
        return final(fixed.to_kind(count, okind) * sc + bi)

    return run


@kernel(fxp.ReshapeOp)
def _reshape(op, emu):
    shape = shape_of(op.result)
    return lambda args: args[0].reshape((args[0].shape[0],) + shape)


@kernel(fxp.FlattenOp)
def _flatten(op, emu):
    return lambda args: args[0].reshape(args[0].shape[0], -1)


@kernel(fxp.TransposeOp)
def _transpose(op, emu):
    perm = (0,) + tuple(p + 1 for p in fxp.ints(op.perm))
    return lambda args: np.transpose(args[0], perm)


@kernel(fxp.PadOp)
def _pad(op, emu):
    pads = fxp.ints(op.padding)
    n = len(pads) // 2
    width = [(0, 0)] + [(pads[d], pads[n + d]) for d in range(n)]
    return lambda args: np.pad(args[0], width)


@kernel(fxp.UpsampleOp)
def _upsample(op, emu):
    factors = fxp.ints(op.factors)

    def run(args):
        y = args[0]
        for d, f in enumerate(factors):
            if f > 1:
                y = np.repeat(y, f, axis=d + 1)  # axis 0 is the batch
        return y

    return run


@kernel(fxp.ConcatOp)
def _concat(op, emu):
    axis = op.axis.value.data + 1
    rank = len(shape_of(op.result))
    batched = [not emu.is_constant(v) for v in op.inputs]

    def run(args):
        n = max((a.shape[0] for a, b in zip(args, batched) if b), default=1)
        parts = [a if b else np.broadcast_to(a[None], (n,) + a.shape) for a, b in zip(args, batched)]
        return np.concatenate(parts, axis=axis)

    return run


# --------------------------------------------------------------------------------------------
# fused steps: a dense layer and the ReLU or cast that alone reads it
# --------------------------------------------------------------------------------------------


def fuse_linear_casts(emu: Emulator) -> None:
    """Replace each (dense, relu|cast) pair whose dense result has no other reader by one step.

    Most layers are a dense op whose exact sum is cast once (by the dense itself, or by the
    ReLU or cast after it).  The fused kernel scales the weights and bias by the power of two
    of that cast, so the matmul yields the cast's input directly; then it rounds and handles
    overflow in place, as ``fixed.cast`` does.  Exact under the same conditions as the unfused
    kernels (``fused_dense``); a pair that does not meet them stays as it is.
    """
    uses: dict[SSAValue, int] = {}
    readers: dict[SSAValue, list[Operation]] = {}
    for step in emu.steps:
        for v in step.operands:
            uses[v] = uses.get(v, 0) + 1
            readers.setdefault(v, []).append(step.op)
    for v in emu.outputs:
        uses[v] = uses.get(v, 0) + 1
        readers.setdefault(v, []).append(None)
    steps: list[_Step] = []
    k = 0
    while k < len(emu.steps):
        step = emu.steps[k]
        nxt = emu.steps[k + 1] if k + 1 < len(emu.steps) else None
        kernel = None
        if (
            nxt is not None
            and isinstance(step.op, fxp.DenseOp)
            and isinstance(nxt.op, fxp.ReluOp | fxp.CastOp)
            and nxt.operands == [step.result]
            and uses.get(step.result) == 1
        ):
            # its result may stay in a reused buffer when only dense ops read it (they copy it into new arrays)
            reuse = all(isinstance(r, fxp.DenseOp) for r in readers.get(nxt.result, [None]))
            kernel = fused_dense(step.op, nxt.op, emu, reuse)
        if kernel is None:
            steps.append(step)
            k += 1
            continue
        steps.append(_Step(step.op, kernel, step.operands, nxt.result))
        k += 2
    emu.steps = steps


def _cast_stage(frac: int, lo: int, hi: int, dst: FixedFormat) -> FixedFormat | None:
    """The format a cast of codes ``lo..hi`` at ``frac`` rounds or saturates into, or None when it changes nothing."""
    if frac == dst.frac and lo >= dst.min_code and hi <= dst.max_code:
        return None
    return dst


def fused_dense(op: fxp.DenseOp, user: Operation, emu: Emulator, reuse: bool = False) -> Kernel | None:
    """One kernel for ``user(dense(x))`` (``user`` a ReLU or a cast), or None where it does not apply.

    Applies when the dense op needs no per-product rounding and no accumulator wrap, computes in
    float32 or float64 BLAS, and the pair casts at most once (the dense's own cast or the
    user's; ReLU's ``max(x, 0)`` may come before or after).  With ``d`` the bits that cast drops
    and ``u`` the bits the sums move up into the accumulator, the weights become ``w * 2**(u - d)``
    and the bias ``acc(b) * 2**-d``: powers of two, so every product and partial sum is the same
    integer as before, scaled, and exact under the same bound (kept clear of float underflow).
    ``reuse``: the result may live in one buffer per chunk size (its readers copy it away).
    """
    w = emu.constant(op.weight, "weight", op)
    wi = fixed.to_kind(w, "int")
    fx, fa, fp, bound, bias = _prepare_linear(op, emu, wi)
    if fa.frac < fp:
        return None
    up = fa.frac - fp
    # the exact sum's range per output (bias included), at the accumulator's LSB
    col_lo, col_hi = linear_bounds(wi, fx)
    b = fixed.to_kind(bias, "object") if bias is not None else np.zeros(wi.shape[1], dtype=object)
    lo = int(min((col_lo * (1 << up) + b).tolist(), default=0))
    hi = int(max((col_hi * (1 << up) + b).tolist(), default=0))
    if lo < fa.min_code or hi > fa.max_code:
        return None  # the accumulator wraps
    bits = int(max(-lo, hi, bound << up, 1)).bit_length()
    if bits <= fixed.FLOAT32_BITS + 1:
        ftype, mantissa, tiny = np.float32, fixed.FLOAT32_BITS + 1, -120
    elif bits <= fixed.FLOAT_BITS + 1:
        ftype, mantissa, tiny = np.float64, fixed.FLOAT_BITS + 1, -1000
    else:
        return None
    # the stages after the exact sum: casts that change something, and max(x, 0)
    out1, dst = fmt_of(op.result), fmt_of(user.result)
    stages: list[tuple[str, FixedFormat | None]] = [("cast", _cast_stage(fa.frac, lo, hi, out1))]
    if stages[0][1] is not None:
        lo, hi = out1.min_code, out1.max_code
    if isinstance(user, fxp.ReluOp) and (dst.signed or dst.overflow == "WRAP"):
        stages.append(("max0", None))
        lo, hi = max(lo, 0), max(hi, 0)
    stages.append(("cast", _cast_stage(out1.frac, lo, hi, dst)))
    stages = [(kind, f) for kind, f in stages if kind == "max0" or f is not None]
    casts = [f for kind, f in stages if kind == "cast"]
    if len(casts) > 1:
        return None
    drop = (fa.frac - casts[0].frac) if casts else 0
    target = casts[0] if casts else dst
    if casts and not fixed._float_cast_is_exact(bits, drop, target, mantissa):
        return None
    if up - drop < tiny or -drop < tiny:
        return None
    scaled_w = np.ascontiguousarray((fixed.to_kind(w, "int").astype(np.float64) * 2.0 ** (up - drop)).astype(ftype))
    scaled_b = None
    if bias is not None:
        scaled_b = (fixed.to_kind(fixed.to_kind(bias, "object"), "int").astype(np.float64) * 2.0**-drop).astype(ftype)
    k, m = w.shape
    result_shape = shape_of(user.result)
    buffers: dict[int, np.ndarray] = {}

    def run(args):
        x = args[0]
        xm = fixed.to_kind(x.reshape(-1, k), "float32" if ftype is np.float32 else "float")
        out = None
        if reuse:  # the next chunk may overwrite this one's result: only dense ops read it, into new arrays
            out = buffers.get(xm.shape[0])
            if out is None:
                out = buffers[xm.shape[0]] = np.empty((xm.shape[0], m), dtype=ftype)
        t = np.matmul(xm, scaled_w, out=out)
        if scaled_b is not None:
            np.add(t, scaled_b, out=t)
        for kind, fmt in stages:
            if kind == "max0":
                np.maximum(t, 0, out=t)
            else:
                t = fixed._overflow_float(fixed._round_float(t, fmt.rounding) if drop > 0 else t, fmt)
        return t.reshape((x.shape[0],) + result_shape)

    return run


# --------------------------------------------------------------------------------------------
# one operation on constant operands (constant folding)
# --------------------------------------------------------------------------------------------


class _SingleOp(Emulator):
    """Runs one op on known operand codes: what a kernel asks for as a constant stays unbatched,
    the data operands travel as a batch of one."""

    def __init__(self, operands: dict[SSAValue, np.ndarray]):  # noqa: D107 - no module to read
        self.constants = operands
        self.alias = {}
        self.fetched: set[SSAValue] = set()

    def constant(self, value: SSAValue, what: str, op: Operation) -> np.ndarray:
        self.fetched.add(value)
        return super().constant(value, what, op)

    def is_constant(self, value: SSAValue) -> bool:
        return value in self.fetched


def evaluate_op(op: Operation, operand_codes: Sequence[np.ndarray]) -> np.ndarray:
    """The result codes of ``op`` applied to constant operand codes (unbatched)."""
    stored = {v: fixed.to_kind(np.asarray(c), element_format(v).storage) for v, c in zip(op.operands, operand_codes)}
    ctx = _SingleOp(stored)
    run = KERNELS[type(op)](op, ctx)
    args = [stored[v] if v in ctx.fetched else stored[v][None] for v in op.operands]
    return codes_as_int(run(args)[0])
