"""What a compiled point costs, read from its target's own tools and reports.

- Verilog: Yosys ``synth_xilinx -flatten -nodsp`` through ``fmlc.targets.verilog.synthesize``:
  LUT, FF, CARRY and DSP cells, and the register-to-register depth of the mapped netlist
  (``fmlc.targets.rtl_depth``: LUT levels and estimated ns); latency in cycles from
  ``verilog.json``;
- HLS: the schedule of the dataflow IR the HLS report prints: latency (sum over layers), II
  (the worst layer's), multiplications per sample and a DSP estimate (per layer
  ``ceil(multiplications / reuse factor)``);
- CUDA: ``nvcc -Xptxas -v`` on the kernels: registers a thread and shared memory (the largest
  kernel's), spilled bytes (stores and loads, all kernels).

Each target has one headline cost for the Pareto plot: ``COST_METRIC``.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

COST_METRIC = {
    "verilog": ("lut", "LUTs (Yosys synth_xilinx -nodsp)"),
    "hls": ("dsp_estimate", "DSPs (estimate: multiplications / reuse)"),
    "cuda": ("registers", "registers a thread (ptxas)"),
}

VERILOG_FLOW = "synth_xilinx -flatten -nodsp"


def measure_cost(out: Path, options: dict) -> dict:
    """Cost fields of the compiled folder ``out`` for ``options['target']``."""
    return {"verilog": verilog_cost, "hls": hls_cost, "cuda": cuda_cost}[options["target"]](Path(out), options)


def verilog_cost(out: Path, options: dict) -> dict:
    from fmlc.targets.verilog import FLOWS, META, synthesize
    from fmlc.toolchain import require

    require("yosys", "install Yosys (`apt-get install -y yosys`) on the workers")
    meta = json.loads((out / META).read_text())
    top = meta["top"]
    stat_file, netlist_file = FLOWS[VERILOG_FLOW]
    script = "\n".join(
        [
            f"read_verilog -sv {top}.sv",
            f"hierarchy -top {top}",
            f"{VERILOG_FLOW} -top {top}",
            f"tee -q -o {stat_file} stat",
            f"write_json {netlist_file}",  # the register-to-register depth reads the mapped netlist
            "",
        ]
    )
    stats = synthesize(out / f"{top}.sv", top, flows=(VERILOG_FLOW,), script=script)[VERILOG_FLOW]
    return {
        "lut": stats["lut"],
        "ff": stats["ff"],
        "carry": stats["carry"],
        "dsp": stats["dsp"],
        "depth": stats["depth"],
        "depth_ns": stats.get("depth_ns"),
        "latency_cycles": int(meta["latency"]),
    }


def hls_cost(out: Path, options: dict) -> dict:
    from fmlc.dialects import dataflow, fxp
    from fmlc.driver import IR_FILE
    from fmlc.ir import parse_module
    from fmlc.lowering.fxp_to_dataflow import multiplications

    module = parse_module((out / IR_FILE).read_text())
    latency = ii = mults = dsps = 0
    for node in module.walk():
        if not isinstance(node, dataflow.NodeOp):
            continue
        latency += node.latency.value.data if node.latency is not None else 0
        ii = max(ii, node.ii.value.data if node.ii is not None else 0)
        op = node.main_op()
        if isinstance(op, fxp.DenseOp | fxp.ConvOp):
            owner = op.weight.owner
            w = owner.codes() if isinstance(owner, fxp.ConstantOp) else None
            # multiplications by non-zero weights, as the HLS report counts them
            layer = multiplications(op) if w is None else multiplications(op) * int((w != 0).sum()) // max(1, w.size)
            mults += layer
            dsps += math.ceil(layer / node.reuse_factor.value.data)
    return {"latency_cycles": latency, "ii": ii, "mults": mults, "dsp_estimate": dsps}


PTXAS_USED = re.compile(r"Used (\d+) registers(?:, used \d+ barriers)?(?:, (\d+) bytes smem)?")
PTXAS_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")


def cuda_cost(out: Path, options: dict) -> dict:
    from fmlc.targets.cuda import NVCC_FLAGS
    from fmlc.toolchain import require

    nvcc = require("nvcc", "install the CUDA toolkit (nvcc) on the workers")
    name = json.loads((out / "fmlc.json").read_text())["options"]["name"]
    with tempfile.TemporaryDirectory(prefix="fmlc-ptxas-") as tmp:
        for f in out.iterdir():
            if f.suffix in (".cu", ".cuh", ".h"):
                shutil.copy(f, tmp)
        cmd = [nvcc, *NVCC_FLAGS, f"-arch=sm_{options['cuda_arch']}", "-c", f"{name}_kernels.cu", "-o", "kernels.o", "-Xptxas", "-v"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cuda: nvcc failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return parse_ptxas(proc.stdout + proc.stderr)


def parse_ptxas(text: str) -> dict:
    """Registers and shared memory of the largest kernel, spills and stack over all kernels."""
    used = PTXAS_USED.findall(text)
    frames = PTXAS_FRAME.findall(text)
    if not used:
        raise RuntimeError(f"cuda: no 'Used N registers' line in the ptxas output:\n{text[-2000:]}")
    return {
        "registers": max(int(r) for r, _ in used),
        "smem_bytes": max(int(s or 0) for _, s in used),
        "spill_bytes": sum(int(st) + int(ld) for _, st, ld in frames),
        "stack_bytes": max((int(f) for f, _, _ in frames), default=0),
    }
