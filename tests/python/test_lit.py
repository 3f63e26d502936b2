"""Runs the lit/FileCheck suite (tests/lit) so that one pytest command runs everything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

LIT_DIR = Path(__file__).resolve().parents[1] / "lit"


def test_lit_suite():
    lit = shutil.which("lit")
    if lit is None or shutil.which("filecheck") is None or shutil.which("fmlc-opt") is None:
        pytest.fail("lit, filecheck and fmlc-opt must be on the PATH: pip install -e '.[test]'")
    # counted first: every .mlir file must be discovered (none silently skipped by lit's config)
    sources = [p for p in LIT_DIR.rglob("*.mlir") if "Output" not in p.parts]
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, FMLC_LIT_OUT=out)
        result = subprocess.run([sys.executable, lit, "-v", "-j", str(os.cpu_count() or 2), str(LIT_DIR)], capture_output=True, text=True, env=env)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-8000:]
    found = re.search(r"Total Discovered Tests: (\d+)", report)
    passed = re.search(r"Passed\s*: (\d+)", report)
    assert found and passed and found.group(1) == passed.group(1), report[-3000:]
    assert int(passed.group(1)) >= len(sources)
