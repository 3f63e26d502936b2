"""The build cache: simulators and host programs built once, outside the compiled folders.

``fmlc run`` on a compiled folder needs a build (the C simulation's library, a Verilator or
Icarus testbench, the CUDA host program).  Builds go to ``$XDG_CACHE_HOME/fmlc``
(``~/.cache/fmlc`` by default), one folder per build, named by the hash of everything that
goes into it: the sources' bytes, the commands, and the tools' versions.  So a compiled folder
stays byte for byte as ``fmlc compile`` wrote it, may be read-only, and two folders with the
same sources share one build.

Each build runs in a temporary folder in the cache and is renamed into place when complete:
a slot exists only when its build is whole, and concurrent runs never see a partial one (the
loser of a race discards its copy).  Temporary folders of killed builds are removed by later
builds once they are a day old.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

STALE_SECONDS = 24 * 3600


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/fmlc`` (default ``~/.cache/fmlc``); a per-user temp folder if that
    cannot be written."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base).resolve() / "fmlc"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK | os.X_OK):
            return path
    except OSError:
        pass
    path = Path(tempfile.gettempdir()) / f"fmlc-cache-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@functools.lru_cache(maxsize=None)
def tool_version(tool: str) -> str:
    """The first line of ``tool --version`` (part of every cache key that uses the tool)."""
    try:
        proc = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return f"{tool}: unknown version"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else f"{tool}: unknown version"


def digest(parts: Iterable[str | bytes]) -> str:
    """A hash of ``parts``, each length-prefixed (no two part lists collide)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:32]


def file_parts(files: Iterable[Path], root: Path | None = None) -> list[bytes]:
    """Names (relative to ``root``) and bytes of ``files``, in a stable order, for ``digest``."""
    parts = []
    for f in sorted(files, key=lambda p: str(p.relative_to(root) if root else p.name)):
        parts.append(str(f.relative_to(root) if root else f.name).encode())
        parts.append(f.read_bytes())
    return parts


def cached_build(kind: str, key: str, build: Callable[[Path], None], product: str) -> Path:
    """The cache folder ``kind/key`` holding ``product``, built by ``build(folder)`` if missing."""
    home = cache_root() / kind
    home.mkdir(parents=True, exist_ok=True)
    slot = home / key
    if (slot / product).exists():
        return slot
    _remove_stale(home)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=home))
    try:
        build(work)
        if not (work / product).exists():
            from fmlc.driver import CompileError

            raise CompileError(f"the {kind} build produced no {product}")
        try:
            os.rename(work, slot)
        except OSError:  # another run finished the same build first: use theirs
            if not (slot / product).exists():
                raise
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return slot


def _remove_stale(home: Path) -> None:
    now = time.time()
    try:
        entries = list(os.scandir(home))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".build-"):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                    shutil.rmtree(entry.path, ignore_errors=True)
            except OSError:
                pass
