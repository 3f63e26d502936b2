"""The target-independent pipeline (canonicalize, precision inference, canonicalize,
fxp-to-dataflow) must not change a single output bit, and must be deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from fmlc.driver import CompileOptions, prepare
from fmlc.emulator import Emulator
from fmlc.ir import parse_module, print_module
from fmlc.netgen import KINDS, random_network


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(10))
def test_prepare_preserves_bits(kind, seed):
    module = random_network(kind, seed)
    emu = Emulator(module)
    x = np.random.default_rng(seed).uniform(-10, 10, (64,) + emu.input_shapes[0]).astype(np.float32)
    expect = emu.run(x, raw=True)[0]
    for io, reuse in (("parallel", 1), ("stream", 4)):
        prepared = prepare(module.clone(), CompileOptions(reuse_factor=reuse, io=io))
        got = Emulator(prepared).run(x, raw=True)[0]
        assert np.array_equal(got, expect), f"{kind} seed {seed} io={io}"


@pytest.mark.parametrize("kind", KINDS)
def test_prepare_is_deterministic_and_round_trips(kind):
    a = print_module(prepare(random_network(kind, 1), CompileOptions()))
    b = print_module(prepare(random_network(kind, 1), CompileOptions()))
    assert a == b
    assert print_module(parse_module(a)) == a
