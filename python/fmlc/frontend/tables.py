"""Lookup tables for non-linear functions and for Softmax's one bit-exact definition.

A table has one entry per code of its index type (``fxp.table`` semantics): entry ``i`` is
``f(x_i)`` for ``x_i = (min_code + i) * 2**-F``, cast to the entry type with its own rounding
and overflow (``fixed.from_float``).  The defaults follow hls4ml's habits (1024 entries over
[-8, 8)) but index by rounding to the nearest grid point.

Softmax (see ``fxp.SoftmaxOp``) uses two tables: ``exp(-d)`` over the unsigned difference to
the row maximum, and ``1/s`` over the unsigned sum.  ``softmax_error`` measures the
definition against float softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fmlc import fixed
from fmlc.fixed import FixedFormat

DEFAULT_TABLE_INPUT = "fixed<10,4,RND,SAT>"


def _elu(alpha):
    return lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _selu(alpha, gamma):
    return lambda x: gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _hard_sigmoid(alpha, beta):
    return lambda x: np.clip(alpha * x + beta, 0.0, 1.0)


def function(op_type: str, attrs: dict):
    """The float64 function of an elementwise ONNX op, with its attributes applied."""
    if op_type == "Sigmoid":
        return lambda x: 1.0 / (1.0 + np.exp(-x))
    if op_type == "Tanh":
        return np.tanh
    if op_type == "Softplus":
        return lambda x: np.logaddexp(0.0, x)
    if op_type == "Softsign":
        return lambda x: x / (1.0 + np.abs(x))
    if op_type == "Elu":
        return _elu(attrs.get("alpha", 1.0))
    if op_type == "Selu":
        return _selu(attrs.get("alpha", 1.67326319217681884765625), attrs.get("gamma", 1.05070102214813232421875))
    if op_type == "HardSigmoid":
        return _hard_sigmoid(attrs.get("alpha", 0.2), attrs.get("beta", 0.5))
    if op_type == "Exp":
        return np.exp
    raise KeyError(op_type)


TABLE_FUNCTIONS = ("Sigmoid", "Tanh", "Softplus", "Softsign", "Elu", "Selu", "HardSigmoid", "Exp")


def grid(fmt: FixedFormat) -> np.ndarray:
    """Every value of ``fmt`` in code order (float64, exact for widths up to 52)."""
    return np.arange(fmt.min_code, fmt.max_code + 1, dtype=np.float64) * 2.0**-fmt.frac


def function_table(fn, index: FixedFormat, entry: FixedFormat) -> np.ndarray:
    """Codes of ``fn`` at every code of ``index``, cast to ``entry``."""
    with np.errstate(over="ignore", invalid="ignore"):
        y = fn(grid(index))
    y = np.nan_to_num(y, nan=0.0, posinf=float(entry.max_value), neginf=float(entry.min_value))
    return fixed.to_kind(fixed.from_float(y, entry), "int")


@dataclass(frozen=True)
class SoftmaxTypes:
    """The four intermediate types of fxp.softmax and its result type."""

    diff: FixedFormat
    exp: FixedFormat
    sum: FixedFormat
    inv: FixedFormat
    result: FixedFormat

    @staticmethod
    def defaults(n: int) -> SoftmaxTypes:
        """Defaults for a softmax over ``n`` values: a 4096-entry exp table over [0, 8) (beyond,
        exp(-8) < 0.00034 stands for every smaller value), a sum index with 9 fractional bits over
        [0, 2**ceil(log2(n+1))), 17-bit fractions elsewhere.  Measured error: about 0.001."""
        sum_int = max(1, int(np.ceil(np.log2(n + 1))))
        return SoftmaxTypes(
            diff=FixedFormat(12, 3, False, "RND", "SAT"),
            exp=FixedFormat(18, 1, False, "RND", "SAT"),
            sum=FixedFormat(sum_int + 9, sum_int, False, "RND", "SAT"),
            inv=FixedFormat(18, 1, False, "RND", "SAT"),
            result=FixedFormat(18, 1, False, "RND", "SAT"),
        )


def softmax_tables(types: SoftmaxTypes) -> tuple[np.ndarray, np.ndarray]:
    """(exp table indexed by diff codes, reciprocal table indexed by sum codes)."""
    d = grid(types.diff)
    exp_table = fixed.to_kind(fixed.from_float(np.exp(-d), types.exp), "int")
    s = grid(types.sum)
    with np.errstate(divide="ignore"):
        inv = np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), float(types.inv.max_value))
    inv_table = fixed.to_kind(fixed.from_float(inv, types.inv), "int")
    return exp_table, inv_table


def softmax_error(types: SoftmaxTypes, n: int, samples: int = 20000, spread: float = 8.0, seed: int = 0) -> float:
    """Largest |fxp softmax - float softmax| over random logits in [-spread, spread]."""
    from fmlc.dialects import fxp
    from fmlc.emulator import Emulator
    from fmlc.ir import FunctionBuilder

    logits_fmt = FixedFormat(16, 6, True)
    b = FunctionBuilder("main", [fxp.fixed_tensor(logits_fmt, (n,))])
    exp_table, inv_table = softmax_tables(types)
    y = b.add(fxp.SoftmaxOp(b.args[0], types.result, types.diff, types.exp, types.sum, types.inv, exp_table, inv_table)).result
    module = b.finish([y])
    rng = np.random.default_rng(seed)
    codes = rng.integers(int(-spread * 1024), int(spread * 1024), (samples, n))
    got = fixed.to_float(Emulator(module).run_codes(codes)[0], types.result.frac)
    x = codes * 2.0**-10
    ref = np.exp(x - x.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)
    return float(np.max(np.abs(got - ref)))


def softmax_bound(types: SoftmaxTypes, n: int, x_frac: int, x_err: float) -> float:
    """A bound on |fxp softmax - the reference's float32 softmax| over ``n`` values.

    With ``E_i = exp(-(max - x_i))`` and ``S = sum E_i >= 1`` (the largest term is 1):

    - the difference ``d`` rounds by at most ``rho`` (none when x's grid lies on diff's), and
      saturates at ``D``: each exp entry is off by at most ``(e^rho - 1) E_i + eps_e + sigma``
      with ``eps_e`` the exp table's largest entry error and ``sigma = exp(-D)``;
    - the sum is then within ``(e^rho - 1) S + A`` of S, ``A = n (eps_e + sigma) + eps_s``;
    - ``1/s`` is within ``kappa = ((e^rho - 1) + A) / ((2 - e^rho) - A)`` of ``1/S`` (worst at
      S = 1), and the reciprocal table adds its largest entry error ``eps_inv``;
    - so ``|e_i r - E_i / S| <= ((e^rho - 1) + eps_e + sigma) r_max + eps_inv + kappa``, and the
      result cast adds ``eps_y``.

    The reference computes from logits within ``x_err`` of fmlc's (softmax moves by at most
    ``e^(2 x_err) - 1``) and rounds in float32 (at most ``(2n + 20) u``).
    """
    d, e, s, inv, y = types.diff, types.exp, types.sum, types.inv, types.result
    exp_table, inv_table = softmax_tables(types)
    dg = grid(d)
    eps_e = float(np.max(np.abs(fixed.to_float(np.asarray(exp_table), e.frac) - np.exp(-dg)))) * (1 + 1e-9) + 1e-15
    rho = 0.0 if x_frac <= d.frac else _cast_error(d)
    sigma = float(np.exp(-float(d.max_value)))
    eps_s, eps_y = _cast_error(s), _cast_error(y)
    g = np.expm1(rho)
    a = n * (eps_e + sigma) + eps_s
    s_min = (2.0 - np.exp(rho)) - a
    if s_min <= 0:
        return float("inf")
    kappa = (g + a) / s_min
    sg = grid(s)
    reach = sg >= s_min - 2.0**-s.frac  # the sum never falls below s_min (less its rounding)
    eps_inv = float(np.max(np.abs(fixed.to_float(np.asarray(inv_table), inv.frac)[reach] - 1.0 / sg[reach]))) * (1 + 1e-9) + 1e-15
    r_max = 1.0 / s_min + eps_inv
    e_max = float(np.max(fixed.to_float(np.asarray(exp_table), e.frac)))
    if n * e_max > float(s.max_value) or r_max > float(inv.max_value) or r_max * e_max > float(y.max_value):
        return float("inf")  # a saturation the analysis does not cover
    ours = (g + eps_e + sigma) * r_max + eps_inv + kappa + eps_y
    reference = float(np.expm1(2.0 * x_err)) + (2 * n + 20) * 2.0**-24
    return float(ours + reference)


def _cast_error(fmt: FixedFormat) -> float:
    """The most a cast to ``fmt`` moves an in-range value."""
    lsb = 2.0**-fmt.frac
    return lsb / 2 if fmt.rounding.startswith("RND") else lsb
