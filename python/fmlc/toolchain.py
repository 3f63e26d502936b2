"""Where fmlc finds the outside tools it drives: ap_fixed headers, g++, nvcc, simulators."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path


class ToolchainError(RuntimeError):
    """A tool or header fmlc needs is missing; the message says how to get it."""


def ap_types_include() -> Path:
    """The ``ap_fixed`` headers shipped by the installed ``hls4ml`` wheel (never vendored here)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError(
            "the ap_fixed headers come from the hls4ml wheel, which is not installed: "
            "run `pip install hls4ml==1.3.0`"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "templates" / "vivado" / "ap_types"
        if (path / "ap_fixed.h").is_file():
            return path
    raise ToolchainError("the installed hls4ml has no templates/vivado/ap_types/ap_fixed.h")


def require(tool: str, hint: str) -> str:
    """Absolute path of ``tool`` on the PATH, or an error saying how to install it."""
    found = shutil.which(tool)
    if found is None:
        raise ToolchainError(f"`{tool}` is not on the PATH: {hint}")
    return found


def cxx() -> str:
    return require("g++", "install a C++ compiler (`apt-get install -y g++`)")
