"""A zoo of small ONNX models written with ``onnx.helper`` the way real exporters write them.

Two kinds:

- **replicas** of the reference models in ``../shared/models`` (same names): the same nodes,
  node and tensor names, domains, opsets, IR versions, attributes, initializer shapes and
  dtypes, quantizer parameters, batch and export quirks; only the weights differ (seeded random
  values with the trained ones' grids and spread).  With them the test suite runs whole from a
  clone; the shared files, where present, add coverage.
- **extras**: shapes of real exports that are not in ``../shared/models`` (Brevitas KWS and
  UNSW-NB15 MLPs, an opset-6 PyTorch export, QONNX channels-last CNNs); see the modules.

Models are built on demand, never committed: ``zoo_model(name)`` writes ``<name>.onnx`` once
into the cache folder (``set_cache_dir``; by default a temporary folder removed at exit) and
returns its path.  ``build_all(dest)`` writes every model; ``python -m zoo DEST`` (from
tests/python) or ``python scripts/build_zoo.py DEST`` does it from the shell.  Every build is
deterministic: the same name gives the same bytes.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from . import (
    brevitas,
    brevitas_extra,
    keras_onnxmltools,
    pytorch_opset6,
    qkeras,
    qonnx_channels_last,
)
from .export import save

REPLICAS = {**qkeras.MODELS, **brevitas.MODELS, **keras_onnxmltools.MODELS}
"""Replicas of ../shared/models, by the shared file's stem."""

EXTRAS = {**brevitas_extra.MODELS, **pytorch_opset6.MODELS, **qonnx_channels_last.MODELS}
"""Models shaped like real exports that ../shared/models does not have."""

BUILDERS = {**REPLICAS, **EXTRAS}

_cache: Path | None = None


def set_cache_dir(path: Path) -> None:
    """Where ``zoo_model`` writes (the test session points it at a pytest temporary folder)."""
    global _cache
    _cache = Path(path)


def cache_dir() -> Path:
    global _cache
    if _cache is None:
        _cache = Path(tempfile.mkdtemp(prefix="fmlc-zoo-"))
        atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    return _cache


def build(name: str):
    """The ModelProto of one zoo model."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise KeyError(f"no zoo model '{name}' (known: {', '.join(sorted(BUILDERS))})") from None
    return builder()


def zoo_model(name: str) -> Path:
    """The path of the zoo model ``name``, built into the cache folder on first use."""
    path = cache_dir() / f"{name}.onnx"
    if not path.exists():
        save(build(name), path)
    return path


def build_all(dest: Path, names=None) -> list[Path]:
    """Write the named zoo models (all by default) into ``dest``; returns their paths."""
    dest = Path(dest)
    return [save(build(name), dest / f"{name}.onnx") for name in (names or BUILDERS)]
