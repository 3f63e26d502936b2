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


IO_STYLES = ("parallel", "stream")
TARGET_SETTINGS: dict[str, dict[str, type]] = {"hls": {}, "verilog": {}, "cuda": {"block_size": int, "dp4a": bool, "unroll_limit": int}}
"""The settings each target section takes, with their types (the rest are options)."""


def read_config(path: str | Path) -> dict:
    """Load and check a YAML configuration file."""
    import yaml

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{path}: is a folder; give a YAML configuration file")
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as err:
        from fmlc.errors import os_message

        raise ConfigError(os_message(err, path)) from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start}); a configuration is YAML") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML (nested too deeply)") from None
    check({} if data is None else data, str(path))
    return {} if data is None else data


def check(data: Any, where: str = "configuration") -> None:
    """Reject unknown keys, values of the wrong type or range, and unreadable precisions,
    naming the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections ({', '.join(TOP_KEYS)}), got {_kind(data)}")
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"{where}: unknown section '{key}' (expected one of {', '.join(TOP_KEYS)})")
    model = _mapping(data, "model", where)
    for key in model:
        if key not in MODEL_KEYS:
            raise ConfigError(f"{where}: model.{key} is not a setting (expected one of {', '.join(MODEL_KEYS)})")
    if "precision" in model:
        _format(_text(model["precision"], f"{where}: model.precision"), f"{where}: model.precision")
    if "strip_softmax" in model and not isinstance(model["strip_softmax"], bool):
        raise ConfigError(f"{where}: model.strip_softmax must be true or false, got {model['strip_softmax']!r}")
    if "name" in model:
        name = model["name"]
        if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
            raise ConfigError(f"{where}: model.name must be an identifier (letters, digits, underscores), got {name!r}")
    _schedule_settings(model, f"{where}: model")
    for section in ("inputs", "layers", "op_types"):
        for name, entry in _mapping(data, section, where).items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{where}: {section}.{name} must be a mapping of settings, got {_kind(entry)}")
            for key, value in entry.items():
                if key not in LAYER_KEYS:
                    raise ConfigError(f"{where}: {section}.{name}.{key} is not a setting (expected one of {', '.join(LAYER_KEYS)})")
                if key == "precision":
                    _precisions(value, f"{where}: {section}.{name}.precision")
                elif key not in ("reuse_factor", "io"):
                    _format(_text(value, f"{where}: {section}.{name}.{key}"), f"{where}: {section}.{name}.{key}")
            _schedule_settings(entry, f"{where}: {section}.{name}")
    for target, settings in TARGET_SETTINGS.items():
        for key, value in _mapping(data, target, where).items():
            if key not in settings:
                known = f"expected one of {', '.join(settings)}" if settings else f"the {target} target takes none here; its settings are command options"
                raise ConfigError(f"{where}: {target}.{key} is not a setting ({known})")
            if settings[key] is int and not _is_int(value, 1):
                raise ConfigError(f"{where}: {target}.{key} must be a whole number >= 1, got {value!r}")
            if settings[key] is bool and not isinstance(value, bool):
                raise ConfigError(f"{where}: {target}.{key} must be true or false, got {value!r}")


def check_names(data: dict, node_names, input_names, where: str = "configuration") -> None:
    """Every layer and input the configuration names must be in the model: a misspelt name
    would silently leave its settings unused.  ``node_names``: the model's ONNX node names
    (as exported, unnamed nodes as ``OpType_index``); ``input_names``: its graph inputs."""
    for section, known, what in (("layers", node_names, "layer"), ("inputs", input_names, "input")):
        known = list(dict.fromkeys(known))
        for name in _mapping(data, section, where):
            if name not in known:
                raise ConfigError(f"{where}: {section}.{name}: the model has no {what} of that name; {_listing(str(name), known, what)}")


def _listing(name: str, known: list[str], what: str, limit: int = 40) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    shown = ", ".join(known[:limit]) + (f", ... ({len(known) - limit} more)" if len(known) > limit else "")
    return f"{hint}its {what}s are: {shown or '(none)'}"


def _mapping(data: dict, key: str, where: str) -> dict:
    """A section that must be a mapping (or empty)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key} must be a mapping (name: settings), got {_kind(value)}")
    return value


def _schedule_settings(entry: dict, where: str) -> None:
    if "reuse_factor" in entry and not _is_int(entry["reuse_factor"], 1):
        raise ConfigError(f"{where}.reuse_factor must be a whole number >= 1, got {entry['reuse_factor']!r}")
    if "io" in entry and entry["io"] not in IO_STYLES:
        raise ConfigError(f"{where}.io must be one of {', '.join(IO_STYLES)}, got {entry['io']!r}")


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a precision such as fixed<16,6>, got {_kind(value)} {value!r}")
    return value


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _format(text: Any, where: str) -> FixedFormat:
    try:
        return FixedFormat.parse(str(text))
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None


def _precisions(value: Any, where: str) -> dict[str, FixedFormat]:
    if isinstance(value, str):
        return {"result": _format(value, where)}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a precision or a mapping of {', '.join(PRECISION_KEYS)}, got {_kind(value)}")
    out = {}
    for key, text in value.items():
        if key not in PRECISION_KEYS:
            raise ConfigError(f"{where}.{key}: expected one of {', '.join(PRECISION_KEYS)}")
        out[key] = _format(_text(text, f"{where}.{key}"), f"{where}.{key}")
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
