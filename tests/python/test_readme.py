"""What README.md shows works as written: the "Writing a pass" section (the pass, its
registration and its lit test, run with fmlc-opt and lit), the Python snippet, the command
synopsis, and the CLI lines of examples/demo.sh (the whole demo with FMLC_SLOW_TESTS=1)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLE = ROOT / "examples" / "jet_mlp_qonnx.onnx"
SLOW = os.environ.get("FMLC_SLOW_TESTS") == "1"


def block(first_line: str, lang: str) -> str:
    """The README code block in ``lang`` whose first line is ``first_line``."""
    for m in re.finditer(rf"```{lang}\n(.*?)```", README, re.S):
        if m.group(1).startswith(first_line):
            return m.group(1)
    raise AssertionError(f"README.md has no ```{lang} block starting with {first_line!r}")


def blocks_in_section(title: str, lang: str) -> list[str]:
    section = README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


# --------------------------------------------------------------------------------------------
# Writing a pass
# --------------------------------------------------------------------------------------------


def install_readme_pass(tmp_path: Path) -> Path:
    """The README's pass file in a temporary package folder, and an ``fmlc-opt`` on a PATH
    folder that adds that folder to ``fmlc.passes`` and runs the README's registration code
    in ``passes/__init__.py``'s namespace (where the README says it goes) first."""
    pass_code = block("# passes/drop_zero_adds.py", "python")
    registration = block("# passes/__init__.py", "python")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "drop_zero_adds.py").write_text(pass_code)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "fmlc-opt"
    shim.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "import fmlc.passes\n"
        f"fmlc.passes.__path__.append({str(pkg)!r})\n"
        f"exec(compile({registration!r}, 'passes/__init__.py', 'exec'), vars(fmlc.passes))\n"
        "from fmlc.opt import main\n"
        "sys.exit(main())\n"
    )
    shim.chmod(0o755)
    return bin_dir


def test_readme_pass_and_its_lit_test_run_as_written(tmp_path):
    bin_dir = install_readme_pass(tmp_path)
    lit_test = block("// RUN: fmlc-opt %s -p fxp-drop-zero-adds", "mlir")
    suite = tmp_path / "lit"
    suite.mkdir()
    (suite / "drop-zero-adds.mlir").write_text(lit_test)
    (suite / "lit.cfg.py").write_text(
        "import os\nimport lit.formats\n"
        "config.name = 'readme'\nconfig.test_format = lit.formats.ShTest()\nconfig.suffixes = ['.mlir']\n"
        "config.test_source_root = os.path.dirname(__file__)\nconfig.test_exec_root = os.path.join(config.test_source_root, 'Output')\n"
        f"config.environment['PATH'] = {str(bin_dir)!r} + os.pathsep + os.environ['PATH']\n"
        "for var in ('HOME', 'PYTHONPATH', 'VIRTUAL_ENV', 'TMPDIR'):\n"
        "    if var in os.environ:\n        config.environment[var] = os.environ[var]\n"
    )
    lit = subprocess.run([sys.executable, shutil.which("lit"), "-v", str(suite)], capture_output=True, text=True)
    assert lit.returncode == 0 and re.search(r"Passed\s*: 1", lit.stdout), lit.stdout + lit.stderr
    # the pass really ran: without it the constant and the add stay
    out = subprocess.run([str(bin_dir / "fmlc-opt"), str(suite / "drop-zero-adds.mlir"), "-p", "fxp-drop-zero-adds"], capture_output=True, text=True)
    assert out.returncode == 0 and "fxp.add" not in out.stdout and "fxp.constant" not in out.stdout, out.stdout + out.stderr
    plain = subprocess.run([sys.executable, "-m", "fmlc.opt", str(suite / "drop-zero-adds.mlir")], capture_output=True, text=True)
    assert "fxp.add" in plain.stdout, plain.stderr


# --------------------------------------------------------------------------------------------
# the Python snippet and the command synopsis
# --------------------------------------------------------------------------------------------


def test_readme_python_snippet(tmp_path, monkeypatch):
    snippet = block("from fmlc.frontend.onnx_import import import_model", "python")
    assert '"model.onnx"' in snippet
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(0).uniform(-4, 4, (40, 16)).astype(np.float32)
    scope = {"x": x}
    exec(compile(snippet.replace('"model.onnx"', repr(str(EXAMPLE))), "README.md", "exec"), scope)
    assert np.array_equal(scope["y"][0], scope["y_csim"][0])
    assert (tmp_path / "build" / "hls" / "fmlc.json").is_file()


def synopsis() -> list[list[str]]:
    """The command lines of README's "Using it" block, continuation lines joined."""
    text = blocks_in_section("Using it", "sh")[0]
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.split("  #")[0].rstrip()
        if raw.startswith(" ") and lines:
            lines[-1] += " " + line.strip()
        elif line:
            lines.append(line)
    return [shlex.split(line.replace("|", " ")) for line in lines]


def test_readme_synopsis_lists_every_command_with_real_options():
    from fmlc.cli import build_parser

    parser = build_parser()
    commands = {}
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            commands = action.choices
    seen = set()
    for words in synopsis():
        if words[0] == "fmlc-opt":
            continue
        assert words[0] == "fmlc", words
        sub = commands[words[1]]
        seen.add(words[1])
        options = {s for a in sub._actions for s in a.option_strings}
        for word in words[2:]:
            flag = word.strip("[]").split("=")[0]
            if flag.startswith("-"):
                assert flag in options, f"README shows {flag} for fmlc {words[1]}, which it does not take"
    assert {"import", "compile", "run", "report"} <= seen


def test_readme_synopsis_commands_run(tmp_path):
    """One concrete line per synopsis command (in-process; the emulator and HLS only)."""
    from fmlc.cli import main
    from fmlc.opt import main as opt_main

    np.save(tmp_path / "x.npy", np.random.default_rng(1).uniform(-4, 4, (8, 16)).astype(np.float32))
    (tmp_path / "c.yaml").write_text("model: {reuse_factor: 2}\n")
    assert main(["import", str(EXAMPLE), "-c", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "m.mlir")]) == 0
    assert main(["compile", str(tmp_path / "m.mlir"), "--target", "hls", "-o", str(tmp_path / "hls"), "--reuse-factor", "4", "--io", "stream"]) == 0
    assert main(["compile", str(EXAMPLE), "--target", "hls", "-o", str(tmp_path / "hls2"), "-c", str(tmp_path / "c.yaml"), "--precision", "fixed<16,6>"]) == 0
    assert main(["run", str(EXAMPLE), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    assert main(["run", str(tmp_path / "hls"), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y2.npy"), "--backend", "emulator"]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), np.load(tmp_path / "y2.npy"))
    assert main(["report", str(tmp_path / "hls")]) == 0
    assert opt_main([str(tmp_path / "m.mlir"), "-p", "fxp-canonicalize", "-o", str(tmp_path / "c.mlir")]) == 0
    assert (tmp_path / "c.mlir").read_text().startswith("builtin.module")


# --------------------------------------------------------------------------------------------
# examples/demo.sh
# --------------------------------------------------------------------------------------------


def demo_command_lines() -> list[list[str]]:
    """The demo's ``fmlc`` lines, its loop over targets and backends unrolled."""
    text = (ROOT / "examples" / "demo.sh").read_text()
    specs = re.search(r"for spec in ([^;]+); do", text).group(1).split()
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("fmlc "):
            continue
        subst = {"$model": str(EXAMPLE), "$out": "out/demo", '"': ""}
        for key, value in subst.items():
            line = line.replace(key, value)
        if "$target" in line or "$backend" in line:
            for spec in specs:
                target, backends = spec.split(":")
                for backend in backends.split(","):
                    lines.append(shlex.split(line.replace("$target", target).replace("$backend", backend)))
        else:
            lines.append(shlex.split(line))
    return list({tuple(words): words for words in lines}.values())


def test_demo_command_lines_are_valid():
    from fmlc.cli import build_parser

    lines = demo_command_lines()
    assert len(lines) >= 10
    for words in lines:
        build_parser().parse_args(words[1:])  # exits (status 2) on an unknown option or value


@pytest.mark.skipif(not SLOW, reason="the whole demo takes minutes: FMLC_SLOW_TESTS=1")
def test_demo_runs_with_its_default_relative_folder(tmp_path):
    """The demo from a copy of the repository, with its default folder (out/demo)."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("out", ".git", "Output", "__pycache__", "*.egg-info"))
    run = subprocess.run(["bash", "examples/demo.sh"], cwd=copy, capture_output=True, text=True, env={**os.environ, "FMLC_SKIP_SETUP": "1"})
    assert run.returncode == 0 and "demo done" in run.stdout, run.stdout[-4000:] + run.stderr[-4000:]
    assert run.stdout.count("bit-exact with the emulator") == 4
