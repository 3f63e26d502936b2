"""The user's configuration: default precision, per-layer and per-op-type overrides.

A configuration is a YAML file (or the same structure as a dict), as fine-grained as
hls4ml's::

    model:
      precision: fixed<16,6,RND,SAT>  # (the default) float inputs, float weights/biases, layer results
      strip_softmax: false        # cut the model before a final Softmax
      reuse_factor: 1
      io: parallel                # or stream
    inputs:                       # per graph input name
      global_in: {precision: fixed<16,6,RND,SAT>}
    layers:                       # per ONNX node name (as exported)
      MatMul_0:
        precision: {result: fixed<16,6>, weight: fixed<8,1>, bias: fixed<8,1>, accum: fixed<24,10>}
        reuse_factor: 4
    op_types:                     # per ONNX op type
      Sigmoid: {table_input: fixed<10,4,RND,SAT>, table_output: ufixed<16,0,RND,SAT>}
      Softmax: {diff: ufixed<12,3,RND,SAT>, exp: ufixed<18,1,RND,SAT>, sum: ufixed<12,3,RND,SAT>,
                inv: ufixed<18,1,RND,SAT>, result: ufixed<18,1,RND,SAT>}

A layer's own setting wins over its op type's, which wins over the model's.  ``precision:
fixed<...>`` alone is shorthand for ``precision: {result: fixed<...>}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmlc.fixed import FixedFormat

DEFAULT_PRECISION = "fixed<16,6,RND,SAT>"
"""hls4ml's width (16 bits, 6 integer bits), rounding to nearest and saturating: ap_fixed's own
defaults (TRN, WRAP) bias every truncated weight and turn a rare overflow into a sign flip.
Give ``fixed<16,6,TRN,WRAP>`` for hls4ml's exact behaviour."""
PRECISION_KEYS = ("result", "weight", "bias", "accum")
TOP_KEYS = ("model", "inputs", "layers", "op_types", "hls", "verilog", "cuda")
MODEL_KEYS = ("precision", "strip_softmax", "reuse_factor", "io", "name")
LAYER_KEYS = ("precision", "reuse_factor", "io", "table_input", "table_output", "diff", "exp", "sum", "inv", "result")


class ConfigError(ValueError):
    """The configuration is malformed; the message says which key and why."""


def read_config(path: str | Path) -> dict:
    """Load and check a YAML configuration file."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    check(data, str(path))
    return data


def check(data: Any, where: str = "configuration") -> None:
    """Reject unknown keys and unreadable precisions early, naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"{where}: unknown section '{key}' (expected one of {', '.join(TOP_KEYS)})")
    model = data.get("model", {}) or {}
    for key in model:
        if key not in MODEL_KEYS:
            raise ConfigError(f"{where}: model.{key} is not a setting (expected one of {', '.join(MODEL_KEYS)})")
    if "precision" in model:
        _format(model["precision"], f"{where}: model.precision")
    for section in ("inputs", "layers", "op_types"):
        for name, entry in (data.get(section, {}) or {}).items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{where}: {section}.{name} must be a mapping")
            for key, value in entry.items():
                if key not in LAYER_KEYS:
                    raise ConfigError(f"{where}: {section}.{name}.{key} is not a setting (expected one of {', '.join(LAYER_KEYS)})")
                if key == "precision":
                    _precisions(value, f"{where}: {section}.{name}.precision")
                elif key not in ("reuse_factor", "io"):
                    _format(value, f"{where}: {section}.{name}.{key}")


def _format(text: Any, where: str) -> FixedFormat:
    try:
        return FixedFormat.parse(str(text))
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None


def _precisions(value: Any, where: str) -> dict[str, FixedFormat]:
    if isinstance(value, str):
        return {"result": _format(value, where)}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a precision or a mapping of {', '.join(PRECISION_KEYS)}")
    out = {}
    for key, text in value.items():
        if key not in PRECISION_KEYS:
            raise ConfigError(f"{where}.{key}: expected one of {', '.join(PRECISION_KEYS)}")
        out[key] = _format(text, f"{where}.{key}")
    return out


@dataclass
class Config:
    """Resolved view of a configuration for the importer."""

    data: dict

    def __post_init__(self) -> None:
        check(self.data)

    @property
    def model(self) -> dict:
        return self.data.get("model", {}) or {}

    @property
    def default_precision(self) -> FixedFormat:
        return _format(self.model.get("precision", DEFAULT_PRECISION), "model.precision")

    @property
    def strip_softmax(self) -> bool:
        return bool(self.model.get("strip_softmax", False))

    def input_precision(self, name: str) -> FixedFormat:
        entry = (self.data.get("inputs", {}) or {}).get(name, {})
        if "precision" in entry:
            return _precisions(entry["precision"], f"inputs.{name}.precision").get("result", self.default_precision)
        return self.default_precision

    def _entries(self, node_name: str, op_type: str) -> list[dict]:
        """Most specific first: the layer, then its op type."""
        layer = (self.data.get("layers", {}) or {}).get(node_name, {}) or {}
        kind = (self.data.get("op_types", {}) or {}).get(op_type, {}) or {}
        return [layer, kind]

    def precision(self, node_name: str, op_type: str, role: str) -> FixedFormat | None:
        """A user-set precision for ``role`` (result, weight, bias, accum), or None."""
        for entry in self._entries(node_name, op_type):
            if "precision" in entry:
                got = _precisions(entry["precision"], f"{node_name}.precision").get(role)
                if got is not None:
                    return got
        return None

    def setting(self, node_name: str, op_type: str, key: str, default: Any = None) -> Any:
        for entry in self._entries(node_name, op_type):
            if key in entry:
                return entry[key]
        return default

    def format_setting(self, node_name: str, op_type: str, key: str, default: str) -> FixedFormat:
        return _format(self.setting(node_name, op_type, key, default), f"{node_name}.{key}")
