"""The Verilog target on the reference models (../shared/models where present, else their zoo
replicas; see models.py): RTL simulation == emulator.

The QONNX models (the jet tagger's logits, TFC_2W2A, the binary one-layer network) and two
float models at ``fixed<8,3>``, imported by ``fmlc.frontend.onnx_import``, compiled with
constant weights (adder graphs) and with programmable weights, simulated on 1000 inputs; every
output code must equal the emulator's.  The small programmable models are also reloaded with
other weights through the configuration port.

Simulator runs of the largest designs take minutes; those combinations run when
``FMLC_SLOW_TESTS=1`` and are skipped otherwise, saying so: TFC_2W2A with programmable
weights (59,000 multipliers: Icarus simulates 1,000 samples for minutes), with the compiled
weights and after reloading part of them.  The small programmable models run every time.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from models import model_path, random_inputs
from test_verilog import TARGET, reweighted

from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs
from fmlc.emulator import Emulator
from fmlc.ir import parse_module
from fmlc.targets.verilog import weights_of

SAMPLES = 1000
SLOW = os.environ.get("FMLC_SLOW_TESTS") == "1"

CONFIGS = {
    "qkeras_jettagging": {"model": {"strip_softmax": True}},
    "TFC_2W2A": {},
    "bnn_model_fc_1layer": {},
    "two_layer_keras": {"model": {"precision": "fixed<8,3>"}},
    "conv1d_small_keras": {"model": {"precision": "fixed<8,3>"}},
}

# (model, programmable, backend) that build or simulate for minutes on 2 cores: TFC_2W2A with
# programmable weights has 59,000 multipliers, which Icarus simulates at a few samples a
# second and Verilator builds for minutes (FMLC_SLOW_TESTS=1 runs them); the small
# programmable models stay in every run
SLOW_CASES = {
    ("TFC_2W2A", True, "icarus"),
    ("TFC_2W2A", True, "verilator"),
    ("qkeras_jettagging", True, "verilator"),  # 4,256 multipliers: a two-minute build (Icarus runs it)
}

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("iverilog", "vvp", "verilator")), reason="needs Icarus and Verilator (`apt-get install -y iverilog verilator`)"
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(model, programmable) -> compiled folder, built on first use."""
    work = tmp_path_factory.mktemp("verilog_models")
    cache: dict = {}

    def get(name: str, programmable: bool):
        key = (name, programmable)
        if key not in cache:
            from fmlc.frontend.onnx_import import import_model

            module = import_model(model_path(name), CONFIGS[name])
            top = f"{name.split('_')[0].lower()}_{'prog' if programmable else 'fixed'}"
            cache[key] = compile_model(module, work / top, CompileOptions(target="verilog", name=top, programmable_weights=programmable))
        return cache[key]

    return get


def _check(out, name: str, backend: str, weights=None, reference=None) -> None:
    module = reference if reference is not None else parse_module((out / "model.mlir").read_text())
    x = random_inputs(name, SAMPLES)
    want = Emulator(module).run(x, raw=True)
    got = TARGET.run(out, quantize_inputs(load_manifest(out), [x]), backend, weights=weights)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape
        bad = np.argwhere(g != w)
        assert bad.size == 0, f"{name} {backend} output #{k}: {len(bad)} codes differ, first at {tuple(bad[0])}: {g[tuple(bad[0])]} != {w[tuple(bad[0])]}"


@pytest.mark.parametrize("backend", ["icarus", "verilator"])
@pytest.mark.parametrize("programmable", [False, True], ids=["fixed", "programmable"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_model_matches_emulator(folders, name, programmable, backend):
    if (name, programmable, backend) in SLOW_CASES and not SLOW:
        pytest.skip("builds or simulates for minutes on 2 cores: run with FMLC_SLOW_TESTS=1")
    _check(folders(name, programmable), name, backend)


@pytest.mark.parametrize("backend", ["icarus", "verilator"])
@pytest.mark.parametrize("name", ["TFC_2W2A", "bnn_model_fc_1layer", "two_layer_keras"])
def test_model_reloaded_weights(folders, name, backend):
    if (name, True, backend) in SLOW_CASES and not SLOW:
        pytest.skip("builds or simulates for minutes on 2 cores: run with FMLC_SLOW_TESTS=1")
    out = folders(name, True)
    # TFC_2W2A: a new code at 2% of the places in every tensor (about 900 writes; a full load
    # of its 59,000 words takes 59,000 simulated clocks); the small models: all new codes
    other = reweighted(parse_module((out / "model.mlir").read_text()), 3, fraction=0.02 if name == "TFC_2W2A" else 1.0)
    _check(out, name, backend, weights=weights_of(other), reference=other)
