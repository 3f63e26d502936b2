"""The robustness corpus (``robustness_cases.py``): every bad input ends with exit status 2, an
``fmlc: error:`` line that says what is wrong, no traceback anywhere, and nothing new on disk.

Cases run in-process through ``fmlc.cli.main`` / ``fmlc.opt.main`` (the same boundary the
console scripts use); a sample also runs as real subprocesses.  The error boundary's other
exits (internal error 70, --debug) are checked here too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from robustness_cases import CASES, copy_compiled, qmlp, save, snapshot

from fmlc import cli, opt

BY_NAME = {c.name: c for c in CASES}
SUBPROCESS_SAMPLE = (  # one per class
    "option-reuse-0",
    "config-strip-softmax-maybe",
    "onnx-quant-scale-inf",
    "mlir-verifier-dense",
    "npy-complex",
    "path-compile-under-file",
    "folder-hls-manifest-garbage",
    "opt-mlir-verifier-dense",
)


def test_corpus_size_and_classes():
    assert len(CASES) >= 150, len(CASES)
    assert len(BY_NAME) == len(CASES), "case names must be unique"
    classes = {c.name.split("-")[0] for c in CASES}
    assert {"option", "config", "onnx", "mlir", "npy", "path", "folder", "opt"} <= classes


@pytest.fixture(scope="session")
def compiled_folders(tmp_path_factory):
    """One compiled folder per target of the corpus's small model, made on first use."""
    from fmlc.driver import CompileOptions, compile_model
    from fmlc.frontend.onnx_import import import_model

    root = tmp_path_factory.mktemp("compiled")
    made: dict[str, Path] = {}

    def get(target: str) -> Path:
        if target not in made:
            model = root / save(root, qmlp())
            made[target] = compile_model(import_model(model), root / target, CompileOptions(target=target, name="corpus"))
        return made[target]

    return get


def prepare(case, folder: Path, compiled_folders) -> list[str]:
    if case.needs:
        copy_compiled(compiled_folders(case.needs), folder)
    return case.make(folder)


def check_outcome(case, code: int, stdout: str, stderr: str, before: dict, after: dict) -> None:
    assert code == 2, f"{case.name}: exit status {code}\n{stderr[-3000:]}"
    assert "Traceback" not in stdout + stderr, f"{case.name}: traceback\n{stderr[-3000:]}"
    errors = [line for line in stderr.splitlines() if line.startswith("fmlc: error:")]
    assert errors, f"{case.name}: no 'fmlc: error:' line\n{stderr[-3000:]}"
    assert case.expect in stderr, f"{case.name}: expected {case.expect!r} in\n{stderr[-3000:]}"
    assert len(stderr.splitlines()) <= 20, f"{case.name}: {len(stderr.splitlines())} lines of errors"
    assert after == before, f"{case.name}: left behind {sorted(set(after) - set(before))}, changed {sorted(k for k in before if after.get(k) != before[k])}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_a_clean_error(case, tmp_path, compiled_folders, capsys, monkeypatch):
    folder = tmp_path / "case"
    folder.mkdir()
    argv = prepare(case, folder, compiled_folders)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = snapshot(folder)
    capsys.readouterr()
    main = cli.main if argv[0] == "fmlc" else opt.main
    code = main(argv[1:])
    out, err = capsys.readouterr()
    check_outcome(case, code, out, err, before, snapshot(folder))


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_bad_input_through_the_console_scripts(name, tmp_path, compiled_folders):
    case = BY_NAME[name]
    folder = tmp_path / "case"
    folder.mkdir()
    argv = prepare(case, folder, compiled_folders)
    before = snapshot(folder)
    module = "fmlc.cli" if argv[0] == "fmlc" else "fmlc.opt"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("FMLC_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", module, *argv[1:]], cwd=folder, capture_output=True, text=True, env=env)
    check_outcome(case, proc.returncode, proc.stdout, proc.stderr, before, snapshot(folder))


def _without_root_privilege() -> list[str]:
    """As root, permissions are not enforced unless the capabilities overriding them are
    dropped (setpriv); as a user, nothing to do."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be withheld")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_permissions_are_clean_errors(tmp_path):
    """Unreadable model, IR, configuration and input; -o into a folder without write permission."""
    from robustness_cases import GOOD_IR, good_x

    folder = tmp_path / "case"
    folder.mkdir()
    save(folder, qmlp())
    (folder / "m.mlir").write_text(GOOD_IR)
    (folder / "c.yaml").write_text("model: {io: stream}\n")
    good_x(folder)
    for name in ("m.onnx", "c.yaml", "x.npy"):
        shutil.copy(folder / name, folder / f"locked_{name}")
        (folder / f"locked_{name}").chmod(0)
    (folder / "locked_m.mlir").write_text(GOOD_IR)
    (folder / "locked_m.mlir").chmod(0)
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    prefix = _without_root_privilege()
    commands = [
        (["fmlc.cli", "compile", "m.onnx", "-t", "hls", "-o", "locked/out"], "locked"),
        (["fmlc.cli", "import", "m.onnx", "-o", "locked/m.mlir"], "locked"),
        (["fmlc.cli", "run", "m.onnx", "--input", "x.npy", "--output", "locked/y.npy"], "locked"),
        (["fmlc.opt", "m.mlir", "-o", "locked/o.mlir"], "locked"),
        (["fmlc.cli", "import", "locked_m.onnx"], "locked_m.onnx: permission denied"),
        (["fmlc.cli", "compile", "locked_m.mlir", "-t", "hls", "-o", "out"], "locked_m.mlir: permission denied"),
        (["fmlc.cli", "import", "m.onnx", "-c", "locked_c.yaml"], "locked_c.yaml: permission denied"),
        (["fmlc.cli", "run", "m.onnx", "--input", "locked_x.npy", "--output", "y.npy"], "locked_x.npy: permission denied"),
        (["fmlc.opt", "locked_m.mlir"], "locked_m.mlir: permission denied"),
    ]
    # one process without the privilege runs every command through the boundary in turn
    script = (
        "import contextlib, io, json, sys\n"
        "from fmlc import cli, opt\n"
        "results = []\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        code = (cli.main if args[0] == 'fmlc.cli' else opt.main)(args[1:])\n"
        "    results.append([code, err.getvalue()])\n"
        "print(json.dumps(results))\n"
    )
    before = snapshot(folder)
    try:
        proc = subprocess.run([*prefix, sys.executable, "-c", script, json.dumps([a for a, _ in commands])], cwd=folder, capture_output=True, text=True)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for (args, expect), (code, err) in zip(commands, json.loads(proc.stdout.splitlines()[-1])):
        assert code == 2 and "fmlc: error:" in err and expect in err and "Traceback" not in err, (args, err)
    assert snapshot(folder) == before


# --------------------------------------------------------------------------------------------
# the boundary's other exits
# --------------------------------------------------------------------------------------------


def test_internal_error_is_one_line_exit_70(tmp_path, capsys, monkeypatch):
    def broken(args):
        raise KeyError("boom")

    monkeypatch.setattr(cli, "cmd_report", broken)
    monkeypatch.delenv("FMLC_DEBUG", raising=False)
    assert cli.main(["report", str(tmp_path)]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fmlc: internal error: KeyError: 'boom'") and "report" in err and "Traceback" not in err
    assert cli.main(["report", str(tmp_path), "--debug"]) == 70
    assert "Traceback" in capsys.readouterr().err
    assert cli.main(["--debug", "report", str(tmp_path)]) == 70
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("FMLC_DEBUG", "1")
    assert cli.main(["report", str(tmp_path)]) == 70
    assert "Traceback" in capsys.readouterr().err


def test_versions_and_help(capsys):
    assert opt.main(["--version"]) == 0
    assert "fmlc-opt (fmlc " in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert cli.main(["compile", "--help"]) == 0
    assert "--reuse-factor" in capsys.readouterr().out


def test_verifier_failure_of_a_large_module_is_short(tmp_path, capsys):
    """A verifier error in a module of thousands of ops names the op, not the module."""
    lines = ["func.func @main(%x: tensor<4x!fxp.fixed<8, 3, signed>>) -> tensor<4x!fxp.fixed<8, 3, signed>> {"]
    for k in range(1500):
        lines.append(f"  %r{k} = fxp.relu %x : tensor<4x!fxp.fixed<8, 3, signed>> -> tensor<4x!fxp.fixed<8, 3, signed>>")
    lines.append("  %bad = fxp.dense %x, %x {acc = !fxp.auto} : (tensor<4x!fxp.fixed<8, 3, signed>>, tensor<4x!fxp.fixed<8, 3, signed>>) -> tensor<3x!fxp.auto>")
    lines += ["  func.return %x : tensor<4x!fxp.fixed<8, 3, signed>>", "}"]
    (tmp_path / "big.mlir").write_text("\n".join(lines) + "\n")
    assert opt.main([str(tmp_path / "big.mlir")]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) <= 4 and ":1502:3: fxp.dense" in captured.err, captured.err
    assert captured.out == ""


BAD_COMPILE_OPTIONS = [
    ("reuse_factor", 0, "reuse_factor"),
    ("reuse_factor", 2.5, "reuse_factor"),
    ("reuse_factor", True, "reuse_factor"),
    ("reuse_factor", "4", "reuse_factor"),
    ("clock_period", float("nan"), "clock_period"),
    ("clock_period", float("inf"), "clock_period"),
    ("clock_period", -1.0, "clock_period"),
    ("clock_period", True, "clock_period"),
    ("io", "sideways", "io must be one of"),
    ("name", "1x", "must be an identifier"),
    ("adders_per_stage", -1, "adders_per_stage"),
    ("adders_per_stage", 1.5, "adders_per_stage"),
    ("programmable_weights", "yes", "programmable_weights"),
    ("cuda_arch", "sm_90", "cuda_arch"),
    ("part", "", "part"),
    ("target", "fpga", "unknown target"),
    ("extra", [1], "must be a mapping"),
]


@pytest.mark.parametrize("field,value,message", BAD_COMPILE_OPTIONS, ids=[f"{f}={v!r}" for f, v, _ in BAD_COMPILE_OPTIONS])
def test_compile_options_are_checked_before_any_work(field, value, message, tmp_path):
    """The Python API refuses what the command line refuses, before any work."""
    from robustness_cases import GOOD_IR

    from fmlc.driver import CompileError, CompileOptions, compile_model
    from fmlc.ir import parse_module

    options = CompileOptions(target="hls", name="m")
    setattr(options, field, value)
    with pytest.raises(CompileError, match=message):
        compile_model(parse_module(GOOD_IR), tmp_path / "a" / "out", options)
    assert list(tmp_path.iterdir()) == []
