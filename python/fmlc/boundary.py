"""The model boundary: float inputs become fixed-point codes (``fxp.quantize``), defined once.

``fxp.quantize`` applies a list of *steps* to each float input, in the input's float type
(float32 for float32 inputs: one IEEE rounding per arithmetic step, as numpy and onnxruntime
compute), then casts the result to its fixed-point type (rounding and overflow as the type
says).  The steps reproduce a model's own float preprocessing and QONNX quantizer bit for bit:

- ``mul c``, ``add c``, ``sub c``, ``div c``: ``x * c``, ``x + c``, ``x - c``, ``x / c``;
  ``rsub c``: ``c - x``;
- ``clip lo hi``: QONNX's clamp (``x > hi -> hi``, then ``x < lo -> lo``);
- ``round MODE``: QONNX's rounding function (ROUND/HALF_EVEN, FLOOR, CEIL, UP, DOWN, HALF_UP,
  HALF_DOWN), evaluated in the float type exactly as qonnx writes it;
- ``bipolar``: ``x >= 0 ? 1 : -1`` (QONNX's BipolarQuant and 1-bit signed Quant);
- ``widen``: the following steps compute in float64 (numpy promotes a float32 value plus an
  int64 zero point, as QKeras writes them, to float64).

The legacy ``scale``/``offset`` properties mean ``mul scale, add offset``.  The emulator, the
host-side quantizer of compiled targets and the CUDA device quantizer all run these steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ARITHMETIC = ("mul", "add", "sub", "div", "rsub")
ROUNDINGS = ("ROUND", "HALF_EVEN", "FLOOR", "CEIL", "UP", "DOWN", "HALF_UP", "HALF_DOWN")
STEP_ARITY = {"mul": 1, "add": 1, "sub": 1, "div": 1, "rsub": 1, "clip": 2, "round": 1, "bipolar": 0, "widen": 0}

Step = tuple  # ("div", 0.1) / ("clip", -128.0, 127.0) / ("round", "ROUND") / ("bipolar",)


def check_step(step: Sequence, shape: tuple[int, ...] | None = None) -> str | None:
    """Why a step is malformed, or None.  Arithmetic steps may take a float32 array (one constant
    per element, broadcast to the per-sample ``shape``: per-channel mean and deviation)."""
    if not step or step[0] not in STEP_ARITY:
        return f"unknown quantize step {list(step)[:1]} (expected one of {', '.join(STEP_ARITY)})"
    kind, args = step[0], list(step[1:])
    if len(args) != STEP_ARITY[kind]:
        return f"quantize step '{kind}' takes {STEP_ARITY[kind]} operand(s), got {len(args)}"
    if kind == "round":
        if args[0] not in ROUNDINGS:
            return f"unknown rounding '{args[0]}' (expected one of {', '.join(ROUNDINGS)})"
        return None
    for a in args:
        if isinstance(a, np.ndarray):
            if kind not in ARITHMETIC:
                return f"quantize step '{kind}' takes numbers, not a tensor"
            if not np.all(np.isfinite(a)):
                return f"quantize step '{kind}' needs finite numbers"
            if shape is not None:
                try:
                    if np.broadcast_shapes(a.shape, shape) != tuple(shape):
                        raise ValueError
                except ValueError:
                    return f"quantize step '{kind}' constant of shape {list(a.shape)} does not broadcast to the input {list(shape)}"
            if kind == "div" and np.any(a == 0):
                return "quantize step 'div' by zero"
            continue
        if not isinstance(a, float | int) or not np.isfinite(a):
            return f"quantize step '{kind}' needs finite numbers, got {a!r}"
    if kind == "div" and not isinstance(args[0], np.ndarray) and args[0] == 0:
        return "quantize step 'div' by zero"
    if kind == "clip" and args[0] > args[1]:
        return f"quantize step 'clip' has lo {args[0]} > hi {args[1]}"
    return None


def apply_steps(x: np.ndarray, steps: Sequence[Step], ftype=np.float32) -> np.ndarray:
    """The steps on float inputs, in ``ftype`` (one rounding per arithmetic step)."""
    x = np.asarray(x, dtype=ftype)
    for step in steps:
        kind = step[0]
        if kind in ARITHMETIC:
            c = np.asarray(step[1], dtype=ftype) if isinstance(step[1], (np.ndarray, list)) else ftype(step[1])
            if kind == "mul":
                x = x * c
            elif kind == "add":
                x = x + c
            elif kind == "sub":
                x = x - c
            elif kind == "div":
                x = x / c
            else:
                x = c - x
        elif kind == "clip":
            lo, hi = ftype(step[1]), ftype(step[2])
            x = np.where(x > hi, hi, x)
            x = np.where(x < lo, lo, x)
        elif kind == "round":
            x = _round(x, step[1], ftype)
        elif kind == "bipolar":
            x = np.where(x >= 0, ftype(1), ftype(-1))
        elif kind == "widen":
            ftype = np.float64
        else:
            raise ValueError(f"unknown quantize step {kind}")
        x = np.asarray(x, dtype=ftype)
    return x


def _round(x: np.ndarray, mode: str, ftype) -> np.ndarray:
    """QONNX's ``resolve_rounding_mode`` functions, written the same way (same float ops)."""
    mode = mode.upper()
    if mode in ("ROUND", "HALF_EVEN"):
        return np.round(x)
    if mode == "CEIL":
        return np.ceil(x)
    if mode == "FLOOR":
        return np.floor(x)
    if mode == "UP":
        return np.sign(x) * np.ceil(np.abs(x))
    if mode == "DOWN":
        return np.fix(x)
    if mode == "HALF_UP":
        return np.sign(x) * np.floor(np.abs(x) + ftype(0.5))
    if mode == "HALF_DOWN":
        return np.sign(x) * np.ceil(np.abs(x) - ftype(0.5))
    raise ValueError(f"unknown rounding '{mode}'")


def describe(steps: Sequence[Step]) -> str:
    """Steps as text, e.g. ``x / 0.1 + 0, clip [-128, 127], round ROUND``."""
    parts = []
    for s in steps:
        if s[0] in ARITHMETIC:
            sym = {"mul": "*", "add": "+", "sub": "-", "div": "/"}.get(s[0])
            c = f"[{s[1].size} constants]" if isinstance(s[1], np.ndarray) else f"{s[1]:.9g}"
            parts.append(f"{sym} {c}" if sym else f"{c} - x")
        elif s[0] == "clip":
            parts.append(f"clip [{s[1]:.9g}, {s[2]:.9g}]")
        elif s[0] == "round":
            parts.append(f"round {s[1]}")
        else:
            parts.append(s[0])
    return ", ".join(parts) if parts else "none"
