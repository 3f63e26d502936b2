"""Sweep grids: a YAML file of compile options with lists of values, checked and expanded.

A grid names options; a list of values is swept, a single value holds for every point, and
the points are the product of the lists::

    target: verilog
    precision: ["fixed<8,4>", "fixed<12,6>", "fixed<16,6>"]
    adders_per_stage: [1, 2, 4]

``points:`` adds an explicit list: each entry is one point (single values only), combined
with every product of the options written beside it::

    target: hls
    points:
      - {reuse_factor: 1, io: parallel}
      - {reuse_factor: 4, io: stream}

Options are those of ``fmlc compile`` (``target``, ``reuse_factor``, ``io``, ``part``,
``clock_period``, ``adders_per_stage``, ``programmable_weights``, ``cuda_arch``), of the
front end (``precision``, ``strip_softmax``, ``config``: a configuration file, relative to the
grid's folder), and dotted paths into the configuration (``layers.Dense_0.precision.weight``,
``op_types.Sigmoid.table_input``, ``model.io``, ``cuda.block_size``...), which override the
configuration file's values.  Every value is checked before anything runs.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmlc.fixed import FixedFormat


class SweepError(ValueError):
    """Bad input to a sweep (grid, models, data, scheduler): the message says what and where."""


def _positive_int(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else "must be a positive integer"


def _stage_budget(v: Any) -> str | None:
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
        return None
    return "must be an integer >= 0 (0: combinational) or null (the target's default)"


def _positive_number(v: Any) -> str | None:
    return None if isinstance(v, int | float) and not isinstance(v, bool) and v > 0 else "must be a positive number"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _one_of(*choices: str):
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(choices)}"

    return check


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "must be a non-empty string"


def _arch(v: Any) -> str | None:
    return None if str(v).isdigit() and not isinstance(v, bool) else "must be a compute capability such as 90"


def _precision(v: Any) -> str | None:
    try:
        FixedFormat.parse(str(v))
    except ValueError as err:
        return f"is not a precision ({err}); quote it in YAML lists: \"fixed<8,4>\""
    return None


def _target(v: Any) -> str | None:
    from fmlc.driver import TARGETS

    return None if v in TARGETS else f"must be one of {', '.join(TARGETS)}"


COMPILE_OPTIONS = {
    "target": _target,
    "reuse_factor": _positive_int,
    "io": _one_of("parallel", "stream"),
    "part": _text,
    "clock_period": _positive_number,
    "adders_per_stage": _stage_budget,
    "programmable_weights": _bool,
    "cuda_arch": _arch,
}
"""Fields of ``fmlc.driver.CompileOptions`` a grid may set, with their checks."""

FRONTEND_OPTIONS = {"precision": _precision, "strip_softmax": _bool, "config": _text}
"""Settings of the import: ``precision`` and ``strip_softmax`` go to the configuration's
``model`` section; ``config`` names a configuration file."""

CONFIG_SECTIONS = ("model", "inputs", "layers", "op_types", "hls", "verilog", "cuda")
"""First parts of dotted options: paths into the configuration (see fmlc.frontend.config)."""


@dataclass(frozen=True)
class Point:
    """One point of a sweep: the options as the grid wrote them, and what they resolve to."""

    settings: dict
    """Option name -> value, as in the grid (``config`` is the file name)."""
    options: dict
    """Every ``CompileOptions`` field except ``name`` (set per model)."""
    config: dict
    """The import configuration: the file's contents with the grid's overrides applied."""

    def identity(self) -> str:
        """Canonical text of what the point computes (not how the grid spelled it)."""
        return json.dumps({"options": self.options, "config": self.config}, sort_keys=True, default=str)


@dataclass(frozen=True)
class Grid:
    path: Path
    points: list[Point]
    swept: list[str]
    """Options that take more than one value across the points (table columns)."""


def read_grid(path: str | Path, base_config: dict | None = None) -> Grid:
    """Read, check and expand a grid file; ``base_config`` is the ``-c`` configuration."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise SweepError(f"{path}: no such grid file") from None
    except IsADirectoryError:
        raise SweepError(f"{path}: is a folder, not a grid file") from None
    except yaml.YAMLError as err:
        raise SweepError(f"{path}: not valid YAML ({err})") from None
    return expand_grid(data, str(path), p.parent, base_config or {})


def expand_grid(data: Any, where: str, folder: Path, base_config: dict) -> Grid:
    """The points of a parsed grid (see the module's docstring); raises SweepError."""
    if not isinstance(data, dict) or not data:
        raise SweepError(f"{where}: a grid is a mapping of options to values or lists of values")
    common = {k: v for k, v in data.items() if k != "points"}
    explicit = data.get("points", [{}])
    if not isinstance(explicit, list) or not explicit or not all(isinstance(e, dict) for e in explicit):
        raise SweepError(f"{where}: points must be a non-empty list of mappings of options to single values")
    axes = []
    for name, values in common.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise SweepError(f"{where}: {name} has an empty list of values")
        for v in values:
            check_setting(name, v, where)
        axes.append([(name, v) for v in values])
    for k, entry in enumerate(explicit):
        for name, v in entry.items():
            if isinstance(v, list):
                raise SweepError(f"{where}: points[{k}].{name}: a point takes a single value, got a list")
            check_setting(name, v, f"{where}: points[{k}]")
    configs: dict[str, dict] = {}
    points: list[Point] = []
    seen: set[str] = set()
    for combo in itertools.product(*axes):
        for entry in explicit:
            settings = dict(combo) | entry
            point = resolve_point(settings, base_config, folder, configs, where)
            if point.identity() not in seen:
                seen.add(point.identity())
                points.append(point)
    names = sorted({n for pt in points for n in pt.settings})
    swept = [n for n in names if len({json.dumps(pt.settings.get(n), default=str) for pt in points}) > 1]
    return Grid(Path(where), points, swept)


def check_setting(name: Any, value: Any, where: str) -> None:
    """Reject an unknown option or a bad value, naming both."""
    if not isinstance(name, str):
        raise SweepError(f"{where}: option names are strings, got {name!r}")
    known = {**COMPILE_OPTIONS, **FRONTEND_OPTIONS}
    if name in known:
        problem = known[name](value)
        if problem:
            raise SweepError(f"{where}: {name}: {value!r} {problem}")
        return
    head = name.split(".")[0]
    if head in CONFIG_SECTIONS and name.count(".") >= 1:
        if isinstance(value, dict | list):
            raise SweepError(f"{where}: {name}: a configuration override takes a single value")
        return
    candidates = list(known) + [f"{s}." for s in CONFIG_SECTIONS]
    close = [c for c in candidates if c.startswith(name) or name.startswith(c)] or difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise SweepError(
        f"{where}: unknown option '{name}'{hint}; options are {', '.join(known)}, "
        f"and dotted configuration paths under {', '.join(CONFIG_SECTIONS)}"
    )


def resolve_point(settings: dict, base_config: dict, folder: Path, configs: dict, where: str) -> Point:
    """The compile options and the import configuration of one point's settings."""
    from fmlc.driver import CompileOptions
    from fmlc.frontend.config import ConfigError, check, read_config

    config = copy.deepcopy(base_config)
    if "config" in settings:
        file = Path(settings["config"])
        file = file if file.is_absolute() else folder / file
        if str(file) not in configs:
            try:
                configs[str(file)] = read_config(file)
            except ConfigError as err:
                raise SweepError(f"{where}: config: {err}") from None
        config = copy.deepcopy(configs[str(file)])
    model = config.setdefault("model", {})
    for name in ("precision", "strip_softmax"):
        if name in settings:
            model[name] = settings[name]
    for name, value in settings.items():
        if "." in name:
            _set_path(config, name.split("."), value, where)
    try:
        check(config, f"{where}: point {_describe(settings)}")
    except ConfigError as err:
        raise SweepError(str(err)) from None
    opts = CompileOptions().to_json()
    del opts["name"]
    opts["reuse_factor"] = int(model.get("reuse_factor", opts["reuse_factor"]))
    opts["io"] = model.get("io", opts["io"])
    for name in COMPILE_OPTIONS:
        if name in settings:
            opts[name] = settings[name]
    opts["cuda_arch"] = str(opts["cuda_arch"])
    opts["extra"] = dict(config.get(opts["target"], {}) or {})
    return Point(dict(settings), opts, config)


def _set_path(config: dict, parts: list[str], value: Any, where: str) -> None:
    node = config
    for k, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            # e.g. layers.X.precision given as a plain format, then a key under it
            if k == len(parts) - 2 and part == "precision" and isinstance(child, str):
                child = node[part] = {"result": child}
            else:
                raise SweepError(f"{where}: {'.'.join(parts)}: {'.'.join(parts[: k + 1])} is not a mapping in the configuration")
        node = child
    node[parts[-1]] = value


def _describe(settings: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in settings.items()) + "}"
