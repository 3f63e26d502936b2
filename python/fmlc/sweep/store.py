"""The results of a sweep: one record a point, in ``DIR/results.parquet`` (or ``.csv``).

Records arrive as points finish; the store rewrites the whole file through a temporary file
in the same folder renamed over the old one (at most every ``interval`` seconds, and on
``close``), so the file on disk is always complete: a killed sweep leaves the records written
so far, never a torn file.  Rows are sorted by model, target and key, so the file does not
depend on the order in which points finished.

Parquet needs ``pyarrow`` (``pip install fmlc[sweep]``); CSV needs nothing and reads back
with numbers as numbers and empty cells as None.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMATS = ("parquet", "csv")
LOCK_FILE = ".sweep.lock"


def have_parquet() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def results_path(folder: Path, fmt: str) -> Path:
    return Path(folder) / f"results.{fmt}"


def existing_format(folder: Path) -> str | None:
    """The format of the results already in ``folder`` (None when there are none)."""
    found = [fmt for fmt in FORMATS if results_path(folder, fmt).exists()]
    return found[0] if found else None


class ResultStore:
    """The records of one sweep folder, kept in memory and written atomically."""

    def __init__(self, folder: Path, fmt: str, interval: float = 0.5):
        self.folder = Path(folder)
        self.fmt = fmt
        self.path = results_path(self.folder, fmt)
        self.interval = interval
        self.records: dict[str, dict] = {}
        self._dirty = False
        self._last_write = 0.0
        if self.path.exists():
            from fmlc.sweep.grid import SweepError

            try:
                rows = read_records(self.path)
            except Exception as err:  # noqa: BLE001 - whatever the reader says, the file is not ours
                raise SweepError(f"{self.path}: cannot read the earlier results ({type(err).__name__}: {err}); move it away to start afresh") from None
            for rec in rows:
                if "key" not in rec:
                    raise SweepError(f"{self.path}: not a sweep results file (no 'key' column)")
                self.records[rec["key"]] = rec

    def done(self, retry_failed: bool = False) -> set[str]:
        """Keys whose records stand: ``ok`` and ``failed`` (unless retried); ``lost`` ones rerun."""
        keep = ("ok",) if retry_failed else ("ok", "failed")
        return {k for k, r in self.records.items() if r.get("status") in keep}

    def add(self, record: dict) -> None:
        self.records[record["key"]] = record
        self._dirty = True
        if time.monotonic() - self._last_write >= self.interval:
            self.flush()

    def flush(self) -> None:
        if not self._dirty:
            return
        rows = sorted(self.records.values(), key=lambda r: (str(r.get("model")), str(r.get("target")), r["key"]))
        write_atomic(self.path, encode(rows, self.fmt))
        self._dirty = False
        self._last_write = time.monotonic()

    def close(self) -> None:
        self.flush()


def columns(rows: list[dict]) -> list[str]:
    """Every field of the rows, in first-seen order."""
    names: dict[str, None] = {}
    for r in rows:
        for k in r:
            names.setdefault(k, None)
    return list(names)


def encode(rows: list[dict], fmt: str) -> bytes:
    names = columns(rows)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({n: _column([r.get(n) for r in rows]) for n in names})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({n: "" if r.get(n) is None else r.get(n) for n in names})
    return text.getvalue().encode()


def _column(values: list):
    """A pyarrow array; a column mixing kinds (an option swept over numbers and null) as text."""
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if kinds == {int, float}:
        return pa.array([None if v is None else float(v) for v in values])
    if len(kinds) <= 1:
        return pa.array(values)
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def read_records(path: Path) -> list[dict]:
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    with path.open(newline="") as f:
        return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _cell(text: str):
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flushed to disk, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files a killed sweep left (``.results.parquet.XXXX`` and the like)."""
    for name in ("results.parquet", "results.csv", "summary.md", "pareto.png"):
        for stale in Path(folder).glob(f".{name}.*"):
            stale.unlink(missing_ok=True)


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.sweep.lock`` for the run: two sweeps never write one folder at once."""
    import fcntl

    from fmlc.sweep.grid import SweepError

    fd = os.open(Path(folder) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(f"{folder}: another sweep is writing this folder") from None
        yield
    finally:
        os.close(fd)
