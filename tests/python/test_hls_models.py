"""The HLS target on the reference models (../shared/models where present, else their zoo
replicas; see models.py): C simulation == emulator, bit for bit.

Every model, imported as exported by ``fmlc.frontend.onnx_import`` (Softmax included where the
model has one), compiled for both I/O styles and reuse factors 1 and 4 on its dense and conv
layers, run on 1000 inputs spread over what its input quantizer covers; the integer codes of
every output must equal the emulator's.  The four configurations of a model share one build
(see ``test_hls_csim.build_many``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from models import ALL_MODELS, model_path, random_inputs
from test_hls_csim import CONFIGS, build_many, mismatch, run_entry

from fmlc.driver import CompileOptions, compile_model, load_manifest, quantize_inputs, resolve
from fmlc.emulator import Emulator

SAMPLES = 1000
OPT = "-O1"
"""A thousand samples through four designs: -O0 would compile a little faster and run far slower."""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """name -> (module, [(folder, io, reuse)], (library, diagnostics)) for every model."""
    from fmlc.frontend.onnx_import import import_model

    work = tmp_path_factory.mktemp("hls_models")
    result = {}
    for name in ALL_MODELS:
        module = import_model(model_path(name), {})
        folders = []
        for io, reuse in CONFIGS:
            top = f"{name}_{io}{reuse}"
            folders.append((compile_model(module.clone(), work / top, CompileOptions(target="hls", name=top, io=io, reuse_factor=reuse)), io, reuse))
        result[name] = (module, folders)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        libs = dict(zip(result, pool.map(lambda n: build_many([f for f, _, _ in result[n][1]], f"model-{n}", OPT), result)))
    return {name: (*result[name], libs[name]) for name in result}


@pytest.mark.parametrize("name", ALL_MODELS)
def test_model_csim_matches_emulator(compiled, name):
    module, folders, (lib, diagnostics) = compiled[name]
    assert diagnostics == "", f"g++ -Wall -Wextra is not silent on {name}:\n{diagnostics[-4000:]}"
    x = random_inputs(name, SAMPLES)
    want = Emulator(resolve(module.clone())).run(x, raw=True)
    for folder, io, reuse in folders:
        got = run_entry(lib, folder, quantize_inputs(load_manifest(folder), [x]))
        assert len(got) == len(want)
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.shape == (SAMPLES, *w.shape[1:])
            assert np.array_equal(g, w), f"{name} io={io} reuse={reuse} output #{k}: {mismatch(g, w)}"


def test_models_keep_their_softmax(compiled):
    """The jet tagger is compiled with its Softmax: the C++ has the softmax layer and its tables."""
    _, folders, _ = compiled["qkeras_jettagging"]
    layers = sorted(p.name for p in (folders[0][0] / "firmware" / "layers").glob("*.cpp"))
    weights = sorted(p.name for p in (folders[0][0] / "firmware" / "weights").glob("*.h"))
    assert any("Softmax" in n or "softmax" in n for n in layers), layers
    assert any(n.endswith("_exp.h") for n in weights) and any(n.endswith("_inv.h") for n in weights), weights
