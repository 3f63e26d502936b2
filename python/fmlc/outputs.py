"""Outputs that appear whole or not at all: files and folders written through a staging folder.

``staged_output(dest, kind)`` checks the destination before any work, yields a path inside a
staging folder beside it, and moves the result into place with one rename when the body
finishes.  Whatever ends the body early (an error, Ctrl-C, SIGTERM/SIGHUP through
``fmlc.errors.Terminated``) removes the staging folder; the destination is as it was.

- The staging folder ``.NAME.XXXXXXXX`` sits in the destination's nearest existing folder,
  beside a lock file ``.NAME.XXXXXXXX.fmlc-lock`` (JSON: pid and destination) that the run
  holds locked (``flock``) until it is done.  A run killed with SIGKILL cannot clean up; the
  next run to the same place removes every staging folder whose lock file is fmlc's and no
  longer locked, i.e. whose run is dead.
- Missing parent folders are created inside the staging folder and appear with the final
  rename: a failed run creates no folders.
- A folder replacing an earlier output is swapped in atomically (``renameat2`` with
  ``RENAME_EXCHANGE`` on Linux), so the destination is at every moment the old or the new one.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_SUFFIX = ".fmlc-lock"
MARKER_KEY = "fmlc-staging"


class OutputError(ValueError):
    """An output path fmlc cannot write: names the path and why."""


# --------------------------------------------------------------------------------------------
# checking the destination
# --------------------------------------------------------------------------------------------


def destination(dest: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(absolute destination, its nearest existing folder, the first missing path under it).

    The last is the destination itself when its parent exists."""
    text = os.fspath(dest)
    if not text:
        raise OutputError("the output path is empty")
    path = Path(text).expanduser().resolve()
    top = path
    anchor = path
    while not os.path.lexists(anchor):
        top = anchor
        anchor = anchor.parent
    if anchor == path:  # the destination exists
        return path, path.parent, path
    if not anchor.is_dir():
        raise OutputError(f"{text}: {anchor} is a file, not a folder")
    return path, anchor, top


def check_destination(dest: str | os.PathLike, kind: str, replaceable: Callable[[Path], bool] | None = None) -> Path:
    """Refuse, before any work, an output path that cannot take a ``kind`` ('file' or 'dir')."""
    path, anchor, _ = destination(dest)
    if os.path.lexists(path):
        mode = os.stat(path).st_mode
        if kind == "file":
            if stat.S_ISDIR(mode):
                raise OutputError(f"{dest}: is a folder; give a file name")
            if not stat.S_ISREG(mode):
                raise OutputError(f"{dest}: exists and is not a regular file: refusing to replace it")
        else:
            if not stat.S_ISDIR(mode):
                raise OutputError(f"{dest}: exists and is not a folder: refusing to replace it")
            if replaceable is not None and not replaceable(path):
                raise OutputError(f"{dest}: exists and is not an fmlc output folder: refusing to replace it")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise OutputError(f"{shown(dest)}: cannot write into {anchor} (permission denied or read-only)")
    _check_name_lengths(path, anchor, dest)
    return path


STAGING_EXTRA = len(".") + len(".xxxxxxxx") + len(LOCK_SUFFIX)
"""Bytes the staging and lock names add to the name they stage."""


def _check_name_lengths(path: Path, anchor: Path, dest) -> None:
    try:
        limit = os.pathconf(anchor, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    parts = path.relative_to(anchor).parts if path != anchor else ()
    for k, part in enumerate(parts):
        if len(os.fsencode(part)) + (STAGING_EXTRA if k == 0 else 0) > limit:
            raise OutputError(f"{shown(dest)}: file name too long ('{shown(part, 40)}' has {len(os.fsencode(part))} bytes; the limit here is {limit - (STAGING_EXTRA if k == 0 else 0)})")


def shown(path, limit: int = 100) -> str:
    """A path for a message: long ones cut in the middle."""
    text = os.fspath(path)
    return text if len(text) <= limit else f"{text[: limit // 2 - 2]}...{text[-(limit // 2 - 2):]}"


# --------------------------------------------------------------------------------------------
# staging
# --------------------------------------------------------------------------------------------


@contextmanager
def staged_output(dest: str | os.PathLike, kind: str = "file", replaceable: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield where to write the output (a file path, or an empty folder); move it into place
    when the body returns, remove it when the body fails (see the module docstring)."""
    path = check_destination(dest, kind, replaceable)
    path, anchor, top = destination(path)
    remove_stale(anchor, top.name)
    lock_fd, lock, staging = _create_staging(anchor, top.name, path, dest)
    try:
        if top == path:
            target = staging if kind == "dir" else staging / path.name
        else:
            target = staging / path.relative_to(top)
            target.parent.mkdir(parents=True, exist_ok=True)
            if kind == "dir":
                target.mkdir()
        yield target
        _commit(staging, target, path, top, kind, replaceable, dest)
    finally:
        _remove(staging)
        _remove(Path(f"{staging}.old"))
        _unlock(lock_fd, lock)


def write_file(dest: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``dest`` whole or not at all."""
    with staged_output(dest, "file") as target:
        with open(target, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return Path(dest)


def _create_staging(anchor: Path, name: str, path: Path, dest) -> tuple[int, Path, Path]:
    for _ in range(100):
        base = anchor / f".{name}.{secrets.token_hex(4)}"
        lock = Path(f"{base}{LOCK_SUFFIX}")
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        except OSError as err:
            raise OutputError(_why(dest, anchor, err)) from None
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, json.dumps({MARKER_KEY: 1, "pid": os.getpid(), "destination": str(path)}).encode())
            os.mkdir(base)
            os.chmod(base, 0o777 & ~_umask())
            return fd, lock, base
        except FileExistsError:
            _unlock(fd, lock)
            continue
        except OSError as err:
            _unlock(fd, lock)
            raise OutputError(_why(dest, anchor, err)) from None
        except BaseException:
            _unlock(fd, lock)
            raise
    raise OutputError(f"{dest}: cannot create a staging folder in {anchor}")


def _why(dest, anchor: Path, err: OSError) -> str:
    from fmlc.errors import os_message

    return f"{shown(dest)}: cannot write into {anchor} ({os_message(err, '').lstrip(': ')})"


def _commit(staging: Path, target: Path, path: Path, top: Path, kind: str, replaceable, dest) -> None:
    if kind == "file" and not target.is_file():
        raise OutputError(f"{dest}: nothing was written")
    try:
        if top != path:
            os.rename(staging, top)  # the missing parents and the output appear together
        elif kind == "file":
            os.replace(target, path)
        elif os.path.lexists(path):
            if replaceable is not None and not replaceable(path):
                raise OutputError(f"{dest}: exists and is not an fmlc output folder: refusing to replace it")
            _swap(staging, path)
        else:
            os.rename(staging, path)
    except OSError as err:
        if err.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise OutputError(f"{dest}: {top} was created by someone else meanwhile; nothing was written") from None
        from fmlc.errors import os_message

        raise OutputError(f"{dest}: cannot move the output into place ({os_message(err, '').lstrip(': ')})") from None


def _swap(new: Path, dest: Path) -> None:
    """Exchange two folders atomically; the old one ends at ``new`` (removed by the caller)."""
    if _rename_exchange(new, dest):
        return
    old = Path(f"{new}.old")
    os.rename(dest, old)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    os.rename(old, new)


def _rename_exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):
        return False  # the file system cannot exchange: fall back to two renames
    raise OSError(code, os.strerror(code), str(b))


# --------------------------------------------------------------------------------------------
# locks and stale staging folders
# --------------------------------------------------------------------------------------------


def remove_stale(folder: Path, name: str) -> list[Path]:
    """Remove the staging folders for ``name`` in ``folder`` left by runs that died."""
    import fcntl

    removed = []
    prefix = f".{name}."
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix) and e.name.endswith(LOCK_SUFFIX)]
    except OSError:
        return removed
    for entry in entries:
        lock = Path(entry.path)
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its run is alive
            if not _is_marker(fd):
                continue
            base = Path(str(lock)[: -len(LOCK_SUFFIX)])
            for leftover in (base, Path(f"{base}.old")):
                if _remove(leftover):
                    removed.append(leftover)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return removed


def _is_marker(fd: int) -> bool:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get(MARKER_KEY) == 1


def _unlock(fd: int, lock: Path) -> None:
    try:
        lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _remove(path: Path) -> bool:
    if os.path.islink(path) or os.path.isfile(path):
        path.unlink(missing_ok=True)
        return True
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
        return True
    return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
