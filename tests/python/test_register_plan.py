"""The register plan of pipelined designs (lowering/register_plan.py): where it applies, the
design keeps its latency, holds fewer register bits and still computes the emulator's codes
(Icarus); where its model misjudges, the design is the one without it, byte for byte; it plans
nothing for networks outside its reach.  The lit test ``rtl/pipeline-fresh-stage.mlir`` shows
the registers it moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fmlc.driver import CompileOptions, compile_model, load_manifest, prepare, quantize_inputs
from fmlc.emulator import Emulator
from fmlc.ir import main_function
from fmlc.lowering import register_plan
from fmlc.lowering.dataflow_to_hw import build_hw
from fmlc.lowering.register_plan import Layer, _Value
from fmlc.netgen import random_chain, random_network
from fmlc.passes.adder_graph import AdderGraph
from fmlc.targets.verilog import VerilogTarget

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus (`apt-get install -y iverilog`)")


def _build(module, out: Path, budget: int, planned: bool, monkeypatch) -> tuple[dict, str]:
    """(verilog.json, the Verilog) of ``module`` pipelined at ``budget``, with or without the plan."""
    with monkeypatch.context() as m:
        if not planned:
            m.setattr(register_plan, "plan", lambda func, budget: None)
        compile_model(module.clone(), out, CompileOptions(target="verilog", name="net", adders_per_stage=budget))
    return json.loads((out / "verilog.json").read_text()), (out / "net.sv").read_text()


def _prepared(module):
    module = prepare(module.clone(), CompileOptions(target="verilog"))
    AdderGraph().apply(None, module)
    return module


def _plan_of(module, budget: int) -> register_plan.Plan | None:
    return register_plan.plan(main_function(_prepared(module)), budget)


# seeds and budgets of random_chain where the plan holds (found by search, bench-style)
APPLIED = [(37, 6), (46, 5), (73, 4)]


@needs_icarus
@pytest.mark.parametrize("seed,budget", APPLIED)
def test_plan_keeps_the_latency_with_fewer_registers_and_the_same_codes(seed, budget, tmp_path, monkeypatch):
    module = random_chain(seed)
    assert _plan_of(module, budget) is not None, "the plan no longer applies here: pick another seed"
    base, _ = _build(module, tmp_path / "asap", budget, False, monkeypatch)
    meta, _ = _build(module, tmp_path / "plan", budget, True, monkeypatch)
    assert meta["latency"] == base["latency"]
    assert meta["pipeline_register_bits"] < base["pipeline_register_bits"]
    x = np.random.default_rng(seed).uniform(-12, 12, (300, *Emulator(module).input_shapes[0])).astype(np.float32)
    expect = Emulator(module).run(x, raw=True)
    out = tmp_path / "plan"
    (got,) = VerilogTarget().run(out, quantize_inputs(load_manifest(out), [x]), "icarus")
    assert np.array_equal(got, expect[0])


def test_a_plan_whose_arrivals_differ_is_dropped(tmp_path, monkeypatch):
    """A plan whose model puts a layer's outputs elsewhere than the lowering does is dropped
    at that layer: the design is the one without a plan, byte for byte."""
    module = random_chain(37)
    real = register_plan.plan

    def off_by_a_stage(func, budget):
        p = real(func, budget)
        return register_plan.Plan(p.fresh, {op: (stage + 1, depth) for op, (stage, depth) in p.arrivals.items()})

    base = _build(module, tmp_path / "asap", 6, False, monkeypatch)
    monkeypatch.setattr(register_plan, "plan", off_by_a_stage)
    assert _build(module, tmp_path / "plan", 6, True, monkeypatch) == base


# seeds and budgets where the model's stages and depths are the lowering's (without a plan):
# unsigned ReLUs saturating through their select, SAT_SYM comparators, folded roundings
EXACT = [(37, 3), (37, 5), (43, 3), (46, 3), (46, 5)]


@pytest.mark.parametrize("seed,budget", EXACT)
def test_the_model_gives_the_lowering_stages_and_depths(seed, budget):
    module = _prepared(random_chain(seed))
    _, profiles = register_plan._layers(main_function(module), budget)
    with pytest.MonkeyPatch.context() as m:  # the model's schedule is the one without a plan
        m.setattr(register_plan, "plan", lambda func, budget: None)
        info, _ = build_hw(module, "net", budget)
    assert [tuple(layer["stages"][0]) for layer in info.layers] == [a[:2] for a in register_plan.schedule(profiles, budget)]


@pytest.mark.parametrize("kind", ["conv2d", "misc"])
def test_nothing_is_planned_outside_dense_chains(kind):
    assert register_plan._layers(main_function(_prepared(random_network(kind, 0))), 3) is None


def test_nothing_is_planned_without_a_pipeline():
    assert register_plan._layers(main_function(_prepared(random_chain(37))), 0) is None


def _tree(levels: int, inputs: int = 4, bits: int = 8) -> Layer:
    """A layer: ``inputs`` values, then a chain of ``levels`` one-level adders over them."""
    values = [_Value([], 0, 3, False, []) for _ in range(inputs)]
    prev = list(range(inputs))
    for _ in range(levels):
        values.append(_Value(prev, 1, bits, False, []))
        for p in prev:
            values[p].readers.append(len(values) - 1)
        prev = [len(values) - 1]
    values[-1].readers.append(register_plan.END)
    return Layer(values, inputs, [len(values) - 1])


def test_layer_run_counts_stages_depth_and_register_bits():
    layer = _tree(3)
    assert layer.run(0, 4) == (0, 3, 0)  # fits the stage
    # entering at depth 2 of 4: levels 3 and 4 there, level 5 in the next stage; the cut after
    # the layer's second adder holds its 8-bit sum
    assert layer.run(2, 4) == (1, 1, 8)


def test_a_saturating_select_takes_a_level_only_where_its_stage_has_one():
    layer = _tree(2)
    select = len(layer.values)
    layer.values[-1].readers = [select]
    layer.values.append(_Value([select - 1], 1, 3, True, [register_plan.END]))
    layer.outputs = [select]
    assert layer.run(0, 4) == (0, 3, 0)  # two adders and the select
    assert layer.run(2, 4) == (0, 4, 0)  # the adders fill the stage: the select stays, free
    assert layer.run(3, 4) == (1, 2, 8)  # the second adder opens a stage, the select follows it


def test_the_plan_registers_narrow_inputs_rather_than_cut_a_wide_tree():
    # the first layer ends at depth 1 of 3; the second, three levels over wide sums, fits a
    # stage of its own: registering its 4 x 3 input bits beats the cut after its second level
    first, second = _tree(1), _tree(3, bits=20)
    assert register_plan._best([first, second], 3) == [1]
    assert register_plan.schedule([first, second], 3) == [(0, 1, 0), (1, 1, 20)]
    assert register_plan.schedule([first, second], 3, {1}) == [(0, 1, 0), (1, 3, 12)]
