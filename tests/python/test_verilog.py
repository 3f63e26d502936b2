"""The Verilog target: random networks simulated with Icarus and Verilator equal the emulator's
integer codes exactly, with constant weights (adder graphs) and programmable ones (also after
loading different weights through the configuration port); the output is lint-clean under
``verilator -Wall`` (with the two waivers the generated file states), byte-identical across
compiles, and Yosys reports it.

Simulator builds are the cost: every design is built once and all its samples stream through
one simulation.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from xdsl.printer import Printer
from xdsl.rewriter import Rewriter

from fmlc.dialects import dataflow, fxp
from fmlc.driver import CompileError, CompileOptions, compile_model, load_manifest, quantize_inputs
from fmlc.emulator import Emulator
from fmlc.fixed import FixedFormat
from fmlc.lowering.dataflow_to_hw import bank_words
from fmlc.ir import parse_module, print_module
from fmlc.netgen import KINDS, random_network
from fmlc.targets.verilog import LINT_WAIVERS, VerilogTarget, compiled_weights, config_writes, weights_of

TOOLS = ("iverilog", "vvp", "verilator", "yosys")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS), reason="needs Icarus, Verilator and Yosys (`apt-get install -y iverilog verilator yosys`)"
)

TARGET = VerilogTarget()
SAMPLES = 300


def _inputs(module, n: int, seed: int) -> np.ndarray:
    shape = Emulator(module).input_shapes[0]
    return np.random.default_rng(seed).uniform(-12, 12, (n,) + shape).astype(np.float32)


def _compile(module, out: Path, **options) -> Path:
    return compile_model(module, out, CompileOptions(target="verilog", **options))


def _check(out: Path, module, x: np.ndarray, backend: str, weights=None, reference=None) -> None:
    """Simulate ``out`` and compare codes with the emulator (on ``reference`` if given)."""
    expect = Emulator(reference if reference is not None else module).run(x, raw=True)
    codes = quantize_inputs(load_manifest(out), [x])
    got = TARGET.run(out, codes, backend, weights=weights)
    assert len(got) == len(expect)
    for g, e in zip(got, expect):
        assert g.dtype == np.int64 and g.shape == e.shape
        bad = np.argwhere(g != e)
        assert bad.size == 0, f"{backend}: {len(bad)} codes differ, first at {tuple(bad[0])}: got {g[tuple(bad[0])]}, expected {e[tuple(bad[0])]}"


# -- constant weights: adder graphs ------------------------------------------------------------

BUDGETS = (0, 2, 3)  # combinational, and two pipelines


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", KINDS)
def test_random_networks_icarus(kind, seed, tmp_path):
    module = random_network(kind, seed)
    out = _compile(module, tmp_path / "v", adders_per_stage=BUDGETS[seed])
    meta = json.loads((out / "verilog.json").read_text())
    assert meta["latency"] == 0 if BUDGETS[seed] == 0 else meta["latency"] >= 1
    _check(out, module, _inputs(module, SAMPLES, seed), "icarus")


@pytest.mark.parametrize("kind", KINDS)
def test_random_networks_verilator(kind, tmp_path):
    module = random_network(kind, 7)
    out = _compile(module, tmp_path / "v", adders_per_stage=2)
    _check(out, module, _inputs(module, SAMPLES, 7), "verilator")


def test_one_adder_level_per_stage(tmp_path):
    """The tightest pipeline (a register after every adder level) is still exact."""
    module = random_network("mlp", 11)
    out = _compile(module, tmp_path / "v", adders_per_stage=1)
    meta = json.loads((out / "verilog.json").read_text())
    assert meta["latency"] >= 5 and meta["pipeline_register_bits"] > 0
    _check(out, module, _inputs(module, SAMPLES, 11), "icarus")


# -- programmable weights ----------------------------------------------------------------------


def reweighted(module, seed: int, fraction: float = 1.0):
    """A copy of a dataflow module whose dense/conv weights and biases take other random codes
    of the same formats (the accumulator and result types stay: where the new sums leave
    them, the emulator wraps or saturates exactly as the hardware must).  With ``fraction``
    < 1, only that share of each tensor's codes (at random places, at least one) is redrawn."""
    module = module.clone()
    rng = np.random.default_rng(seed)
    for node in list(module.walk()):
        if not isinstance(node, dataflow.NodeOp):
            continue
        for op in list(node.block.ops):
            if isinstance(op, fxp.DenseOp | fxp.ConvOp):
                for v in (op.weight, op.bias):
                    if v is not None:
                        const = v.owner
                        fmt = const.format
                        codes = const.codes().copy()
                        redraw = rng.random(codes.shape) < fraction
                        redraw.reshape(-1)[rng.integers(codes.size)] = True
                        codes[redraw] = rng.integers(fmt.min_code, fmt.max_code + 1, int(redraw.sum()))
                        Rewriter.replace_op(const, fxp.ConstantOp(codes, fmt))
    module.verify()
    return module


@pytest.mark.parametrize("kind", KINDS)
def test_programmable_weights_reload(kind, tmp_path):
    module = random_network(kind, 4)
    out = _compile(module, tmp_path / "v", adders_per_stage=2, programmable_weights=True)
    x = _inputs(module, SAMPLES, 4)
    _check(out, module, x, "icarus")  # the registers reset to the compiled weights
    prepared = parse_module((out / "model.mlir").read_text())
    other = reweighted(prepared, 99)
    new = weights_of(other)
    assert new and any(not np.array_equal(new[k], v) for k, v in weights_of(prepared).items())
    _check(out, module, x, "icarus", weights=new, reference=other)


def test_programmable_weights_reload_verilator(tmp_path):
    module = random_network("conv1d", 5)
    out = _compile(module, tmp_path / "v", adders_per_stage=3, programmable_weights=True)
    x = _inputs(module, SAMPLES, 5)
    other = reweighted(parse_module((out / "model.mlir").read_text()), 7)
    _check(out, module, x, "verilator", weights=weights_of(other), reference=other)
    _check(out, module, x, "verilator")  # a new simulation starts from reset: compiled weights


def test_config_writes_only_what_differs_from_the_compiled_codes(tmp_path):
    module = random_network("mlp", 4)
    out = _compile(module, tmp_path / "v", programmable_weights=True)
    meta = json.loads((out / "verilog.json").read_text())
    compiled = compiled_weights(out)
    assert compiled and config_writes(meta, compiled, compiled) == []
    other = weights_of(reweighted(parse_module((out / "model.mlir").read_text()), 5, fraction=0.1))
    entries = {(e["layer"], e["role"]): e for e in meta["config"]["entries"]}
    want = []
    for key, codes in other.items():
        fmt = FixedFormat.parse(entries[key]["format"])
        for k in np.flatnonzero(codes.reshape(-1) != compiled[key].reshape(-1)):
            want.append((entries[key]["base"] + int(k), int(codes.reshape(-1)[k]) & ((1 << fmt.width) - 1)))
    assert want and config_writes(meta, other, compiled) == want
    assert len(config_writes(meta, other)) == sum(c.size for c in other.values())


def test_programmable_address_map(tmp_path):
    module = random_network("mlp", 4)
    out = _compile(module, tmp_path / "v", programmable_weights=True)
    cfg = json.loads((out / "verilog.json").read_text())["config"]
    entries = cfg["entries"]
    assert entries[0]["base"] == 0
    for a, b in zip(entries, entries[1:]):  # in order, no overlap, each on a multiple of its bank size
        bank = bank_words(FixedFormat.parse(b["format"]).width, b["count"])
        assert b["base"] % bank == 0 and a["base"] + a["count"] <= b["base"] < a["base"] + a["count"] + bank
    total = entries[-1]["base"] + entries[-1]["count"]
    assert cfg["addr_width"] == max(1, (total - 1).bit_length())
    readme = (out / "README.md").read_text()
    assert "## Configuration port" in readme and "cfg_we" in readme
    with pytest.raises(CompileError, match="needs .* codes"):
        TARGET.run(out, [np.zeros((1, *Emulator(module).input_shapes[0]), dtype=np.int64)], "icarus", weights={(entries[0]["layer"], "weight"): np.zeros(1)})


# -- output quality --------------------------------------------------------------------------


@pytest.mark.parametrize("kind, programmable", [("misc", False), ("conv2d", False), ("mlp", True)])
def test_verilator_lint_clean(kind, programmable, tmp_path):
    out = _compile(random_network(kind, 2), tmp_path / "v", adders_per_stage=2, programmable_weights=programmable)
    sv = (out / "model.sv").read_text()
    for waiver in LINT_WAIVERS:
        assert f"/* verilator lint_off {waiver} */" in sv
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "model", str(out / "model.sv")], capture_output=True, text=True)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr and "%Error" not in proc.stderr, proc.stderr[-3000:]


def test_output_is_deterministic(tmp_path):
    for k in range(2):
        _compile(random_network("conv1d", 3), tmp_path / f"v{k}", adders_per_stage=2)
    names = sorted(p.name for p in (tmp_path / "v0").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "v1").iterdir())
    for name in names:
        assert (tmp_path / "v0" / name).read_bytes() == (tmp_path / "v1" / name).read_bytes(), name


def test_opt_pass_and_target_export_the_same_verilog():
    """One builder: the IR fmlc-opt's dataflow-to-hw gives (CIRCT's modules, parsed into xDSL)
    prints, custom or generic, as text CIRCT reads back and exports to the target's Verilog."""
    from fmlc.driver import prepare
    from fmlc.lowering.dataflow_to_hw import build_hw, lower_to_hw
    from fmlc.lowering.hw_to_verilog import export_design, export_verilog
    from fmlc.passes.adder_graph import AdderGraph

    for kind, seed, budget, programmable in (("conv2d", 1, 3, False), ("misc", 2, 0, False), ("conv1d", 1, 1, True)):
        module = prepare(random_network(kind, seed), CompileOptions())
        if not programmable:
            AdderGraph().apply(None, module)
        ops = module.clone()
        lower_to_hw(ops, "model", budget, programmable)
        ops.verify()
        _, design = build_hw(module, "model", budget, programmable)
        want = export_design(design)
        assert export_verilog(print_module(ops)) == want, (kind, seed)
        generic = io.StringIO()
        Printer(stream=generic, print_generic_format=True).print_op(ops)
        assert export_verilog(generic.getvalue()) == want, (kind, seed)


def tiny_network():
    """4 inputs, a 4x3 dense layer and a ReLU into ufixed<4, 2> (rounded, saturated)."""
    from xdsl.dialects.builtin import TensorType, f32

    from fmlc.fixed import FixedFormat
    from fmlc.ir import FunctionBuilder
    from fmlc.passes.infer_precision import InferPrecision

    b = FunctionBuilder("main", [TensorType(f32, [4])])
    x = b.add(fxp.QuantizeOp(b.args[0], FixedFormat(6, 2, True))).result
    w = b.add(fxp.ConstantOp(np.array([[3, -5, 7], [1, 6, -2], [-7, 3, 5], [2, 0, -3]]), FixedFormat(4, 1, True))).result
    h = b.add(fxp.DenseOp(x, w, None, None, None), name="fc").result
    y = b.add(fxp.ReluOp(h, FixedFormat(4, 2, False, "RND", "SAT")), name="act").result
    module = b.finish([y])
    InferPrecision().apply(None, module)
    return module


def test_report_small_design(tmp_path):
    module = tiny_network()
    out = _compile(module, tmp_path / "v", adders_per_stage=1)
    _check(out, module, _inputs(module, SAMPLES, 0), "icarus")
    text = TARGET.report(out, synth=True)
    rows = {line.split("  ")[0]: line.split() for line in text.splitlines() if line.startswith("synth")}
    assert set(rows) == {"synth_xilinx -flatten", "synth_xilinx -flatten -nodsp", "synth -flatten (generic)"}
    nodsp = rows["synth_xilinx -flatten -nodsp"]
    lut, ff, dsp, depth, ns = int(nodsp[-7]), int(nodsp[-6]), int(nodsp[-4]), int(nodsp[-2]), float(nodsp[-1])
    assert lut > 0 and ff > 0 and dsp == 0 and depth > 0 and ns > 0
    # one adder level a stage: a stage is a few LUTs deep, not the whole network's path
    generic_depth = int(rows["synth -flatten (generic)"][-2])  # ltp -noff on generic cells, in cells
    assert depth <= 4, f"per-stage depth of a 1-adder-level pipeline: {depth} LUT levels"
    assert rows["synth -flatten (generic)"][-1] == "-" and generic_depth > 0
    assert "latency:" in text


CHAIN = """
module chain #(parameter REG = 1) (input clk, input [15:0] a, b, c, d, output [18:0] y);
  wire [16:0] s1 = a + b;
  reg  [16:0] r1; always @(posedge clk) r1 <= s1;
  wire [17:0] s2 = (REG ? r1 : s1) + c;
  reg  [17:0] r2; always @(posedge clk) r2 <= s2;
  wire [18:0] s3 = (REG ? r2 : s2) + d;
  reg  [18:0] r3; always @(posedge clk) r3 <= s3;
  assign y = REG ? r3 : s3;
endmodule
"""


def test_register_to_register_depth(tmp_path):
    """The depth of a mapped netlist stops at flip-flops: three registered adders are one adder
    deep (Yosys's ``ltp -noff`` after synth_xilinx runs through the FDREs), the same chain
    without registers deeper."""
    from fmlc.targets.rtl_depth import YOSYS_COMMAND, depth_of_netlist

    (tmp_path / "chain.v").write_text(CHAIN)
    depths = {}
    for reg in (1, 0):
        script = f"read_verilog chain.v\nchparam -set REG {reg} chain\nsynth_xilinx -flatten -nodsp -top chain\n{YOSYS_COMMAND.format(path=f'net{reg}.json')}\n"
        (tmp_path / f"run{reg}.ys").write_text(script)
        subprocess.run(["yosys", "-q", "-s", f"run{reg}.ys"], cwd=tmp_path, check=True, capture_output=True)
        depths[reg] = depth_of_netlist(json.loads((tmp_path / f"net{reg}.json").read_text()), "chain")
    one = depths[1]
    assert one.luts == 1 and 1 <= one.carries <= 5  # one adder: its LUTs, then its carry chain
    assert depths[0].delay_ns > one.delay_ns and depths[0].luts > one.luts


def _carry_inverters(netlist: dict, top: str) -> int:
    """INV cells that invert one carry chain's sum into another's DI input."""
    cells = netlist["modules"][top]["cells"].values()
    carry_out = {b for c in cells if c["type"] == "CARRY4" for b in c["connections"].get("O", [])}
    carry_di = {b for c in cells if c["type"] == "CARRY4" for b in c["connections"].get("DI", [])}
    return sum(1 for c in cells if c["type"] == "INV" and c["connections"]["I"][0] in carry_out and c["connections"]["O"][0] in carry_di)


def test_adder_graph_subtractions_read_no_inverted_minuend(tmp_path):
    """An adder graph's differences are subtractions of operands as they are (``Logic.minus``):
    Yosys feeds a minuend to the carry chain's DI inputs, where an inverted sum costs an INV
    cell a bit.  Written as ``big + ~small`` (or ``(K + ~small) - ~big``), these random MLPs
    had 2.1 to 2.5 such inverters an adder; now under one in two."""
    for seed in range(2):
        out = _compile(random_network("mlp", seed), tmp_path / f"v{seed}", name="net")
        script = (
            f"read_verilog -sv {out / 'net.sv'}\nhierarchy -top net\nproc\nflatten\nopt\nwreduce\nalumacc\ntee -q -o alu.txt stat\n"
            "design -reset\n"
            f"read_verilog -sv {out / 'net.sv'}\nsynth_xilinx -flatten -nodsp -top net\nwrite_json net.json\n"
        )
        (tmp_path / "run.ys").write_text(script)
        subprocess.run(["yosys", "-q", "-s", "run.ys"], cwd=tmp_path, check=True, capture_output=True)
        adders = int(next(line.split()[-1] for line in (tmp_path / "alu.txt").read_text().splitlines() if "$alu" in line))
        inverters = _carry_inverters(json.loads((tmp_path / "net.json").read_text()), "net")
        assert adders > 50 and inverters * 2 < adders, f"seed {seed}: {inverters} sums inverted into a DI for {adders} adders"


# -- the command line --------------------------------------------------------------------------


def test_cli_compile_run(tmp_path):
    module = random_network("misc", 6)
    ir = tmp_path / "net.mlir"
    ir.write_text(print_module(module))
    x = _inputs(module, 50, 6)
    np.save(tmp_path / "x.npy", x)
    fmlc = [sys.executable, "-m", "fmlc.cli"]
    subprocess.run(fmlc + ["compile", str(ir), "-t", "verilog", "-o", str(tmp_path / "out"), "--adders-per-stage", "2"], check=True, capture_output=True)
    for backend in ("icarus", "verilator"):
        subprocess.run(fmlc + ["run", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"), "--backend", backend, "--raw"], check=True, capture_output=True)
        assert np.array_equal(np.load(tmp_path / "y.npy"), Emulator(module).run(x, raw=True)[0])


# -- errors ------------------------------------------------------------------------------------


def test_unsupported_layer_names_node_and_op(tmp_path):
    """Thresholds that are not constants cannot be compared in hardware: the error names the
    node and the op, and nothing is written."""
    text = """
    func.func @main(%x: tensor<4x!fxp.fixed<6, 3, signed>>, %t: tensor<1x2x!fxp.fixed<6, 3, signed>>) -> tensor<4x!fxp.fixed<3, 3, signed>> {
      %y = fxp.multithreshold %x, %t {out_scale = 1.0 : f64, out_bias = 0.0 : f64, name = "mt"} : (tensor<4x!fxp.fixed<6, 3, signed>>, tensor<1x2x!fxp.fixed<6, 3, signed>>) -> tensor<4x!fxp.fixed<3, 3, signed>>
      func.return %y : tensor<4x!fxp.fixed<3, 3, signed>>
    }
    """
    out = tmp_path / "v"
    with pytest.raises(CompileError, match="node 'mt'.*fxp.multithreshold 'mt' needs constant thresholds"):
        _compile(parse_module(text), out)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_options_and_fixed_weights(tmp_path):
    module = random_network("mlp", 0)
    with pytest.raises(CompileError, match="adders_per_stage must be >= 0"):
        _compile(module, tmp_path / "bad", adders_per_stage=-1)
    out = _compile(module, tmp_path / "v")
    codes = quantize_inputs(load_manifest(out), [_inputs(module, 2, 0)])
    with pytest.raises(CompileError, match="fixed weights"):
        TARGET.run(out, codes, "icarus", weights={("dense_1", "weight"): np.zeros(1)})
    with pytest.raises(CompileError, match="unknown backend"):
        TARGET.run(out, codes, "modelsim")
