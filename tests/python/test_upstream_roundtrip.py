"""Upstream MLIR reads every level of fmlc's IR, and what it prints back reads into fmlc unchanged.

Each IR goes: fmlc's generic print -> an upstream build's parser (unregistered dialects
allowed) and generic printer, in a subprocess (``fmlc.upstream``) -> fmlc's parser and
verifier -> structurally equal to what was sent, result types included.  The IR comes from

- every lit input under tests/lit (each ``// -----`` chunk of a split file), and what each
  ``fmlc-opt %s -p PIPELINE`` RUN line makes of it; chunks that a diagnostics test feeds in
  on purpose to be rejected are left out, each with the reason;
- every level of the example model and of the shared reference models (../shared/models, or
  FMLC_MODELS): fxp after import, after precision inference, dataflow and vhls (parallel I/O,
  and stream I/O for the example), cuda; and the Verilog path's rtl (adder graphs) and hw, for the
  example through CIRCT (every model through every build with ``FMLC_SLOW_TESTS=1``).

Three upstream builds: CIRCT (pycde 0.12.1), MLIR 22 (xtc wheels) and IREE's MLIR; all are
in the ``test`` extra.  A build that is not installed fails the test unless
``FMLC_UPSTREAM_OPTIONAL=1`` says it may be missing (then that build is skipped, saying so).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from fmlc import upstream

ROOT = Path(__file__).resolve().parents[2]
LIT = ROOT / "tests" / "lit"
EXAMPLE = ROOT / "examples" / "jet_mlp_qonnx.onnx"
SLOW = os.environ.get("FMLC_SLOW_TESTS") == "1"
BUILDS = tuple(upstream.BUILDS)
VERILOG_PATH = ("rtl.", "hw.", "comb.", "seq.", "sv.")
"""Op prefixes of the Verilog path's levels (their round trips are tested apart, below)."""


ROUNDTRIP = upstream.RoundTrip()
"""One for the whole run: each module is printed once and each build's output parsed back once."""


def _roundtrip(modules, build: str) -> list[str | None]:
    try:
        return ROUNDTRIP.check(modules, build)
    except upstream.BuildUnavailable as err:
        if os.environ.get("FMLC_UPSTREAM_OPTIONAL") == "1":
            pytest.skip(str(err))
        pytest.fail(f"{err}; pip install -e '.[test]' installs every build (FMLC_UPSTREAM_OPTIONAL=1 skips missing ones)")


def _report(items: list[tuple[str, str | None]]) -> str:
    return "\n".join(f"- {label}: {problem}" for label, problem in items if problem)


# --------------------------------------------------------------------------------------------
# lit inputs
# --------------------------------------------------------------------------------------------


@dataclass
class LitCase:
    label: str
    module: object  # ModuleOp


@functools.cache
def lit_cases() -> tuple[tuple[LitCase, ...], tuple[str, ...]]:
    """Every lit chunk fmlc reads, and every RUN pipeline's output of it; and what was left out, why."""
    cases: list[LitCase] = []
    left_out: list[str] = []
    for path in sorted(p for p in LIT.rglob("*.mlir") if "Output" not in p.parts):
        text = path.read_text()
        runs = [line.split("RUN:", 1)[1] for line in text.splitlines() if "RUN:" in line]
        diagnostics = any("--verify-diagnostics" in r or "--parsing-diagnostics" in r for r in runs)
        split = any("--split-input-file" in r for r in runs)
        chunks = re.split(r"^// -----\s*$", text, flags=re.MULTILINE) if split else [text]
        pipelines = sorted({p for r in runs if not r.strip().startswith("not ") for p in _pipelines(r)})
        rel = path.relative_to(LIT)
        for k, chunk in enumerate(chunks):
            label = f"{rel}#{k}" if split else str(rel)
            if not chunk.strip() or all(not line.strip() or line.lstrip().startswith("//") for line in chunk.splitlines()):
                continue
            if "expected-error" in chunk or "expected-warning" in chunk:
                left_out.append(f"{label}: expected-error (invalid on purpose)")
                continue
            try:
                module = upstream.parse_text(chunk, label)
            except Exception as err:
                message = str(err)
                checks = [c.split(":", 1)[1].strip() for c in re.findall(r"//\s*CHECK[-A-Z]*:.*", chunk)]
                if diagnostics and any(c and c in message for c in checks):
                    left_out.append(f"{label}: rejected on purpose (a CHECK line expects: {message.strip().splitlines()[-1].strip()[:100]})")
                    continue
                raise AssertionError(f"{label}: fmlc does not read this lit input, and no CHECK expects it:\n{message}") from None
            cases.append(LitCase(label, module))
            for spec in pipelines:
                out = module.clone()
                try:
                    upstream.pipeline(spec).apply(upstream.fmlc_context(), out)
                    out.verify()
                except Exception as err:  # a RUN line without `not` expects the pipeline to succeed
                    raise AssertionError(f"{label}: -p '{spec}' fails: {err}") from None
                cases.append(LitCase(f"{label} -p '{spec}'", out))
    return tuple(cases), tuple(left_out)


def _pipelines(run: str) -> list[str]:
    """The ``-p`` pipelines of the fmlc-opt commands on ``%s`` in a RUN line."""
    found = []
    for command in run.split("|"):
        words = command.split()
        if words[:1] == ["fmlc-opt"] and "%s" in words:
            m = re.search(r"-p\s+(?:'([^']*)'|(\S+))", command)
            if m:
                found.append(m.group(1) or m.group(2))
    return found


def _is_verilog_path(module) -> bool:
    return any(op.name.startswith(VERILOG_PATH) for op in module.walk())


def test_lit_cases_found():
    cases, left_out = lit_cases()
    # every lit folder contributes, and the diagnostics tests' valid chunks are kept
    folders = {c.label.split("/")[0] for c in cases}
    assert folders >= {"fxp", "dataflow", "hls", "cuda", "rtl", "passes"}, folders
    assert len(cases) > 100 and len(left_out) > 10, (len(cases), left_out)
    print(f"{len(cases)} lit modules; left out:\n" + "\n".join(left_out))


@pytest.mark.parametrize("build", BUILDS)
def test_lit_roundtrip(build):
    cases = [c for c in lit_cases()[0] if not _is_verilog_path(c.module)]
    problems = _roundtrip([c.module for c in cases], build)
    assert not any(problems), _report(list(zip((c.label for c in cases), problems)))


@pytest.mark.parametrize("build", BUILDS)
def test_lit_roundtrip_verilog_path(build):
    cases = [c for c in lit_cases()[0] if _is_verilog_path(c.module)]
    assert cases
    problems = _roundtrip([c.module for c in cases], build)
    assert not any(problems), _report(list(zip((c.label for c in cases), problems)))


# --------------------------------------------------------------------------------------------
# every level of the models
# --------------------------------------------------------------------------------------------

SHARED = Path(os.environ.get("FMLC_MODELS", ROOT.parent / "shared" / "models"))
MODELS = {"example": EXAMPLE, **{p.stem: p for p in sorted(SHARED.glob("*.onnx"))}}
"""The example and the shared reference models present (absent ones are simply not listed)."""
VERILOG_CASES = [(m, b) for m in sorted(MODELS) for b in BUILDS] if SLOW else [("example", "circt")]
"""The Verilog path's levels take seconds a model and a build (adder graphs, the hw lowering,
xDSL reading hw back): in the suite the example through CIRCT, the build that knows hw, comb
and seq (the others see them as opaque ops; the lit cases go through all three); every model
through every build with FMLC_SLOW_TESTS=1."""


@functools.cache
def levels(model: str) -> dict[str, object]:
    """The model at every level up to the targets' dialects, as the driver and the targets build them."""
    from fmlc.driver import CompileOptions, resolve, run_passes
    from fmlc.frontend.onnx_import import import_model
    from fmlc.lowering.fxp_to_dataflow import FxpToDataflow
    from fmlc.targets.cuda import CudaTarget
    from fmlc.targets.hls import HlsTarget

    out: dict[str, object] = {}
    module = import_model(MODELS[model], {})
    out["fxp"] = module.clone()
    resolve(module)
    out["fxp resolved"] = module.clone()
    # stream I/O for the example (the shared models' streams add time, not kinds of ops)
    for io in ("parallel", "stream") if model == "example" else ("parallel",):
        flow = run_passes(module.clone(), [FxpToDataflow(1, io)])
        out[f"dataflow {io}"] = flow
        out[f"vhls {io}"] = HlsTarget().lower(flow, "model")
    out["cuda"] = CudaTarget().lower(out["dataflow parallel"], CompileOptions(target="cuda"))
    return out


@functools.cache
def verilog_levels(model: str) -> dict[str, object]:
    """The Verilog path's levels: adder graphs (rtl) and hw/comb/seq, as ``fmlc compile`` pipelines them."""
    from fmlc.targets.verilog import default_adders_per_stage

    rtl = levels(model)["dataflow parallel"].clone()
    upstream.pipeline("rtl-adder-graph").apply(upstream.fmlc_context(), rtl)
    hw = rtl.clone()
    upstream.pipeline(f"dataflow-to-hw{{adders_per_stage={default_adders_per_stage(5.0)}}}").apply(upstream.fmlc_context(), hw)
    return {"rtl": rtl, "hw": hw}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("build", BUILDS)
def test_model_levels_roundtrip(model, build):
    chosen = levels(model)
    problems = _roundtrip(list(chosen.values()), build)
    assert not any(problems), _report(list(zip(chosen, problems)))


@pytest.mark.parametrize(("model", "build"), VERILOG_CASES)
def test_model_verilog_levels_roundtrip(model, build):
    chosen = verilog_levels(model)
    problems = _roundtrip(list(chosen.values()), build)
    assert not any(problems), _report(list(zip(chosen, problems)))


# --------------------------------------------------------------------------------------------
# the harness itself
# --------------------------------------------------------------------------------------------


def test_difference_is_found():
    """A changed result type, property or attribute is a difference (xDSL's structural check alone misses result types)."""
    from xdsl.dialects.builtin import StringAttr, TensorType, i8

    text = """
    func.func @f(%x: tensor<2x!fxp.fixed<8, 3, signed>>) {
      %y = fxp.relu %x : tensor<2x!fxp.fixed<8, 3, signed>> -> tensor<2x!fxp.fixed<8, 3, signed>>
      func.return
    }
    """
    a = upstream.parse_text(text)
    assert upstream.first_difference(a, upstream.parse_text(text)) is None

    def relu(module):
        return next(op for op in module.walk() if op.name == "fxp.relu")

    b = a.clone()
    relu(b).results[0]._type = TensorType(i8, [2])  # no public setter: a result's type is fixed once built
    assert a.is_structurally_equivalent(b)  # why first_difference compares result types itself
    assert "result types differ" in upstream.first_difference(a, b)
    c = a.clone()
    relu(c).attributes["name"] = StringAttr("relu_1")
    assert "attributes differ" in upstream.first_difference(a, c)


@pytest.mark.parametrize("build", BUILDS)
def test_upstream_rejects_what_it_should(build):
    """The builds really check: a memref of an unregistered type and xDSL's own ``#builtin.int`` are refused."""
    texts = [
        '"builtin.module"() ({\n  "x.y"() : () -> memref<2x!fxp.fixed<8, 3, signed>>\n}) : () -> ()\n',
        '"builtin.module"() ({\n  "x.y"() {a = #builtin.int<3>} : () -> ()\n}) : () -> ()\n',
        '"builtin.module"() ({\n  "x.y"() {a = 3 : i64} : () -> memref<2xi6>\n}) : () -> ()\n',
    ]
    try:
        outcomes = upstream.roundtrip(texts, build)
    except upstream.BuildUnavailable as err:
        if os.environ.get("FMLC_UPSTREAM_OPTIONAL") == "1":
            pytest.skip(str(err))
        pytest.fail(str(err))
    assert [o.ok for o in outcomes] == [False, False, True], outcomes
    assert "invalid memref element type" in outcomes[0].error


# --------------------------------------------------------------------------------------------
# what docs/upstream.md shows
# --------------------------------------------------------------------------------------------

DOC = ROOT / "docs" / "upstream.md"


def _doc_blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_docs_commands(tmp_path):
    import shutil
    import subprocess

    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "examples" / EXAMPLE.name)
    (commands,) = _doc_blocks("")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    # the last command printed MLIR 22's generic print of the vhls module
    assert result.stdout.startswith('"builtin.module"() ({') and '"vhls.func"' in result.stdout
    assert "!vhls.array<" in (tmp_path / "back.mlir").read_text()


def test_docs_python(monkeypatch):
    monkeypatch.chdir(ROOT)
    (snippet,) = _doc_blocks("python")
    exec(compile(snippet, str(DOC), "exec"), {})


def test_cli_errors(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.mlir"
    bad.write_text('"x.y"() : () -> memref<2x!fxp.fixed<8, 3, signed>>\n')
    for args, expect in (
        ([str(bad)], "circt does not parse"),
        ([str(tmp_path / "absent.mlir")], "cannot read"),
        (["--build", "llvm", str(bad)], "invalid choice"),
    ):
        result = subprocess.run([sys.executable, "-m", "fmlc.upstream", *args], check=False, capture_output=True, text=True)
        assert result.returncode == 2 and result.stderr.startswith("fmlc: error: ") and expect in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not result.stdout


def test_missing_build_is_named(tmp_path, monkeypatch):
    """A build whose package does not import is reported as not installed, with what to install."""
    fake = tmp_path / "iree"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('no IREE here')\n")  # shadows the real package
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(upstream.BuildUnavailable, match=r"'iree' is not installed: pip install iree-base-compiler"):
        upstream.roundtrip(["module {}"], "iree")
