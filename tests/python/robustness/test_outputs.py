"""Nothing left behind: outputs appear whole or not at all, whatever ends the run.

``fmlc.outputs.staged_output`` directly (missing parents, replacement, stale staging folders
of dead runs, live ones kept), then real compiles killed with SIGTERM, SIGHUP and SIGKILL at
several moments: the destination stays as it was, and the next compile leaves no stray
folder."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from robustness_cases import snapshot

from fmlc.driver import CompileOptions, compile_model, is_output_folder
from fmlc.frontend.onnx_import import import_model
from fmlc.outputs import LOCK_SUFFIX, OutputError, remove_stale, staged_output, write_file

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "jet_mlp_qonnx.onnx"


class Boom(Exception):
    pass


def test_file_output_whole_or_nothing(tmp_path):
    dest = tmp_path / "a" / "b" / "m.mlir"
    with pytest.raises(Boom):
        with staged_output(dest, "file") as target:
            target.write_text("half")
            raise Boom
    assert os.listdir(tmp_path) == []  # no parents, no staging, no lock
    write_file(dest, "whole\n")
    assert dest.read_text() == "whole\n" and os.listdir(tmp_path) == ["a"] and os.listdir(dest.parent) == ["m.mlir"]
    with pytest.raises(Boom):
        with staged_output(dest, "file") as target:
            target.write_text("other")
            raise Boom
    assert dest.read_text() == "whole\n" and os.listdir(dest.parent) == ["m.mlir"]
    with pytest.raises(OutputError, match="nothing was written"):
        with staged_output(tmp_path / "never.txt", "file"):
            pass
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_folder_output_replaces_only_fmlc_folders(tmp_path):
    dest = tmp_path / "out"
    with staged_output(dest, "dir", is_output_folder) as target:
        (target / "fmlc.json").write_text("{}")
        (target / "old.txt").write_text("old")
    assert sorted(os.listdir(dest)) == ["fmlc.json", "old.txt"]
    with pytest.raises(Boom):
        with staged_output(dest, "dir", is_output_folder) as target:
            (target / "fmlc.json").write_text("{}")
            raise Boom
    assert sorted(os.listdir(dest)) == ["fmlc.json", "old.txt"]
    with staged_output(dest, "dir", is_output_folder) as target:
        (target / "fmlc.json").write_text("{}")
        (target / "new.txt").write_text("new")
    assert sorted(os.listdir(dest)) == ["fmlc.json", "new.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes").write_text("keep")
    with pytest.raises(OutputError, match="not an fmlc output folder"):
        with staged_output(tmp_path / "mine", "dir", is_output_folder):
            pass
    assert (tmp_path / "mine" / "notes").read_text() == "keep"


def test_stale_staging_of_dead_runs_goes_live_ones_stay(tmp_path):
    def fake_run(name: str) -> tuple[Path, Path]:
        base = tmp_path / name
        base.mkdir()
        (base / "partial.txt").write_text("x")
        lock = Path(f"{base}{LOCK_SUFFIX}")
        lock.write_text('{"fmlc-staging": 1, "pid": 1, "destination": "x"}')
        return base, lock

    dead, dead_lock = fake_run(".out.dead0001")
    live, live_lock = fake_run(".out.live0002")
    foreign = tmp_path / ".out.notours"
    foreign.mkdir()
    Path(f"{foreign}{LOCK_SUFFIX}").write_text("not a marker")
    other = tmp_path / ".other.dead0003"
    other.mkdir()
    fd = os.open(live_lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a run that is still going
    try:
        removed = remove_stale(tmp_path, "out")
        assert removed == [dead]
        assert not dead.exists() and not dead_lock.exists()
        assert live.exists() and live_lock.exists() and foreign.exists() and other.exists()
    finally:
        os.close(fd)
    with staged_output(tmp_path / "out", "dir") as target:  # the next run cleans the rest
        (target / "f").write_text("y")
    assert sorted(os.listdir(tmp_path)) == sorted(["out", ".other.dead0003", ".out.notours", f".out.notours{LOCK_SUFFIX}"])


# --------------------------------------------------------------------------------------------
# killed compiles
# --------------------------------------------------------------------------------------------


def _staging(parent: Path, name: str) -> list[str]:
    try:
        return [e for e in os.listdir(parent) if e.startswith(f".{name}.") and not e.endswith(LOCK_SUFFIX)]
    except FileNotFoundError:
        return []


def _default_signals() -> None:
    """In the child: SIGTERM and SIGHUP as a shell gives them.  Under ``nohup`` (or any parent
    that ignores them) the child would inherit the ignore, and fmlc rightly keeps it: the compile
    would finish instead of being stopped, and the test would fail for how it was launched."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _kill_compile(cwd: Path, dest: str, watch: Path, name: str, sig: int, delay: float | None) -> int:
    """Start ``fmlc compile`` (Verilog: a few seconds of emission), send ``sig`` ``delay`` seconds
    after its staging folder appears (``None``: 0.3 s after the start, during the import)."""
    earlier = set(_staging(watch, name))  # left by runs killed before
    proc = subprocess.Popen(
        [sys.executable, "-m", "fmlc.cli", "compile", str(EXAMPLE), "-t", "verilog", "-o", dest],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_default_signals,
    )
    try:
        if delay is None:
            time.sleep(0.3)
        else:
            deadline = time.monotonic() + 120
            while not set(_staging(watch, name)) - earlier:
                assert proc.poll() is None, f"the compile ended before staging: {proc.stderr.read().decode()[-2000:]}"
                assert time.monotonic() < deadline
                time.sleep(0.02)
            time.sleep(delay)
        assert proc.poll() is None, "the compile finished before it could be killed"
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode


MOMENTS = [(signal.SIGTERM, None), (signal.SIGKILL, 0.0), (signal.SIGTERM, 0.0), (signal.SIGHUP, 0.25), (signal.SIGKILL, 0.5)]
"""(signal, seconds after the staging folder appears; None: during the import, before it)."""


def test_killed_compiles_leave_the_destination_and_nothing_else(tmp_path):
    module = import_model(EXAMPLE)
    compile_model(module, tmp_path / "out", CompileOptions(target="hls", name="earlier"))
    destination = snapshot(tmp_path / "out")
    for sig, delay in MOMENTS:
        before = snapshot(tmp_path)
        code = _kill_compile(tmp_path, "out", tmp_path, "out", sig, delay)
        assert code in (-sig, 128 + sig), (sig, delay, code)
        if delay is not None and sig != signal.SIGKILL:
            assert code == 128 + sig  # fmlc's handler ran: the cleanups with it
        after = snapshot(tmp_path)
        assert snapshot(tmp_path / "out") == destination, (sig, delay)
        new = sorted(set(after) - set(before))
        if sig == signal.SIGKILL:
            assert all(k.startswith(".out.") for k in new), new  # only its staging, for the next run
        else:
            assert not new, f"{signal.Signals(sig).name} left {new}"
    compile_model(module, tmp_path / "out", CompileOptions(target="hls", name="next"))
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_killed_compile_into_missing_folders_creates_none(tmp_path):
    module = import_model(EXAMPLE)
    code = _kill_compile(tmp_path, "new/deeper/out", tmp_path, "new", signal.SIGKILL, 0.2)
    assert code == -signal.SIGKILL
    assert not (tmp_path / "new").exists() and _staging(tmp_path, "new")  # only the dead run's staging
    stale = set(os.listdir(tmp_path))
    code = _kill_compile(tmp_path, "new/deeper/out", tmp_path, "new", signal.SIGTERM, 0.2)
    assert code == 128 + signal.SIGTERM and not (tmp_path / "new").exists()
    assert set(os.listdir(tmp_path)) <= stale  # its own staging removed, the dead run's too
    compile_model(module, tmp_path / "new" / "deeper" / "out", CompileOptions(target="hls", name="m"))
    assert os.listdir(tmp_path) == ["new"] and os.listdir(tmp_path / "new" / "deeper") == ["out"]
