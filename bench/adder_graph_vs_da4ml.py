#!/usr/bin/env python3
"""fmlc's adder-graph search next to da4ml's on the same constant matrices, layer by layer, no Yosys.

``bench/verilog_vs_da4ml.py`` compares whole designs after synthesis; this one isolates the
algorithm that most of their LUTs come from: a constant matrix times a vector as shared adders
(fmlc: ``rtl-adder-graph``, ``passes/adder_graph.py``; da4ml: ``da4ml.cmvm.solve``).  For each
dense layer of the two networks of ``verilog_vs_da4ml.py`` (``jet``, skipped without
../shared/models; ``mlp57``, made here), both get the layer's integer weight codes and the
code range of its inputs, and the table gives per tool:

- ``adders``: two-operand additions and subtractions of two signals (constant additions, which
  both fold into other logic, are not counted);
- ``bits``: the bit positions where an adder's two operands both have bits, summed over the
  adders, each operand as wide as the narrowest two's complement format of its exact range
  (below the finer operand's grid and above the narrower operand's top bit the other operand's
  bits pass through or ride the carry chain; each overlapping bit is a LUT on a 7-series
  device, so this is the adder graph's LUT count up to what synthesis merges);
- ``depth``: adder levels on the longest path from an input to an output (da4ml: where it
  splits the matrix in two, the sum of the two parts' depths, an upper bound);
- ``s``: wall seconds: fmlc's ``rtl-adder-graph`` rewrite of the layer (search, output trees and
  the rtl ops built, one thread), da4ml's ``solve`` (its search and its decomposition tries,
  which it runs on several threads: on mlp57 here 51 s of CPU in 30 s).

da4ml runs as its tracer calls it in ``verilog_vs_da4ml.py`` (``adder_size=1``,
``carry_size=-1``), with every input at latency 0 (here a layer stands alone).  Both sides are
counted by the same function from the operands' exact ranges, so the ``bits`` columns compare
like with like.

    python bench/adder_graph_vs_da4ml.py [--networks jet,mlp57]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from verilog_vs_da4ml import import_da4ml, load_network, networks  # noqa: E402

from fmlc.dialects import fxp, rtl  # noqa: E402
from fmlc.driver import CompileOptions, prepare  # noqa: E402
from fmlc.fixed import narrowest_format  # noqa: E402
from fmlc.ir import main_function  # noqa: E402
from fmlc.passes.adder_graph import AdderGraph, layer_matrix  # noqa: E402


def overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Bit positions both operands occupy; an operand is (top bit weight, lowest bit weight) as
    powers of two: (int_bits, -frac) of its narrowest format."""
    return max(0, min(a[0], b[0]) - max(a[1], b[1]))


def span(lo: int, hi: int, frac: int) -> tuple[int, int]:
    """(int_bits, -frac) of the narrowest format holding codes lo..hi at ``frac``."""
    f = narrowest_format(lo, hi, frac)
    return f.int_bits, -f.frac


def dense_layers(module):
    """Per dense layer that becomes an adder graph: (name, op)."""
    out = []
    for op in main_function(module).walk():
        if isinstance(op, fxp.DenseOp | fxp.ConvOp) and AdderGraph._applies(op):
            out.append((op.attributes["name"].data if "name" in op.attributes else f"layer{len(out)}", op))
    return out


def fmlc_side(op) -> dict:
    """Rewrite the layer into an rtl.adder_graph and count it."""
    parent = op.parent_block()
    before = {o for o in parent.ops if isinstance(o, rtl.AdderGraphOp)}
    t = time.perf_counter()
    AdderGraph()._rewrite(op)
    seconds = time.perf_counter() - t
    graph = next(o for o in parent.ops if isinstance(o, rtl.AdderGraphOp) and o not in before)
    adders = bits = 0
    level: dict = {}
    for o in graph.body.block.ops:
        ins = [level.get(v, 0) for v in o.operands]
        if isinstance(o, rtl.AddOp | rtl.SubOp) and not any(isinstance(v.owner, rtl.ConstantOp) for v in o.operands):
            fa, fb = (v.type.format for v in o.operands)
            adders += 1
            bits += overlap((fa.int_bits, -fa.frac), (fb.int_bits, -fb.frac))
            level[o.results[0]] = max(ins) + 1
        elif o.results:
            level[o.results[0]] = max(ins, default=0)
    return {"adders": adders, "bits": bits, "depth": max(level.values(), default=0), "s": seconds}


def da4ml_side(weights: np.ndarray, lo: int, hi: int) -> dict:
    """da4ml's solve on the same codes (weights as integers, inputs as integer codes)."""
    from da4ml.cmvm import solve

    k = weights.shape[0]
    t = time.perf_counter()
    pipeline = solve(np.ascontiguousarray(weights.astype(np.float32)), qintervals=[(float(lo), float(hi), 1.0)] * k, latencies=[0.0] * k, adder_size=1, carry_size=-1)
    seconds = time.perf_counter() - t
    adders = bits = depth = 0
    for stage in pipeline.solutions:  # a decomposed matrix is two stages, one after the other
        ops = stage.ops
        level = [0] * len(ops)
        for n, o in enumerate(ops):
            if o.opcode in (0, 1):  # add, subtract: ops[id0] +- (ops[id1] << data)
                a, b = ops[o.id0].qint, ops[o.id1].qint
                s = 2.0**o.data
                # what the counts below assume it computes: the result's grid is the finer
                # operand's, its range that of the sum (da4ml's own range may be a little
                # tighter or looser than interval arithmetic: within a bit of it)
                lo, hi = (a.min + b.min * s, a.max + b.max * s) if o.opcode == 0 else (a.min - b.max * s, a.max - b.min * s)
                top = _qspan(o.qint.min, o.qint.max, o.qint.step)[0]
                if o.qint.step != min(a.step, b.step * s) or abs(top - _qspan(lo, hi, o.qint.step)[0]) > 1:
                    raise SystemExit(f"da4ml op {n} is not ops[{o.id0}] {'+-'[o.opcode]} (ops[{o.id1}] << {o.data}): this da4ml reads its ops otherwise")
                adders += 1
                bits += overlap(_qspan(a.min, a.max, a.step), _qspan(b.min * s, b.max * s, b.step * s))
                level[n] = max(level[o.id0], level[o.id1]) + 1
            elif o.opcode >= 0 and o.id0 >= 0 and o.id0 < n:
                level[n] = level[o.id0]
        depth += max(level, default=0)
    return {"adders": adders, "bits": bits, "depth": depth, "s": seconds}


def _qspan(lo: float, hi: float, step: float) -> tuple[int, int]:
    frac = -round(math.log2(step))
    return span(round(lo / step), round(hi / step), frac)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", default="jet,mlp57", help="comma-separated: jet, mlp57")
    args = ap.parse_args()
    names = networks(args.networks)
    da4ml = import_da4ml()

    print(f"da4ml {da4ml.__version__}; adders, overlapping adder bits (~LUTs), adder depth, seconds per layer\n")
    head = f"{'network':8} {'layer':10} {'K x M':>8} | {'fmlc adders':>11} {'bits':>7} {'depth':>5} {'s':>6} | {'da4ml adders':>12} {'bits':>7} {'depth':>5} {'s':>6} | {'bits ratio':>10}"
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            module, _ = load_network(name, Path(tmp))
            module = prepare(module, CompileOptions(target="verilog"))
            total = {"fmlc": dict.fromkeys(("adders", "bits", "s"), 0), "da4ml": dict.fromkeys(("adders", "bits", "s"), 0)}
            for layer, op in dense_layers(module):
                weights = layer_matrix(op)
                fx = fxp.element_format(op.input)
                theirs = da4ml_side(weights, fx.min_code, fx.max_code)
                ours = fmlc_side(op)
                for side, r in (("fmlc", ours), ("da4ml", theirs)):
                    for key in total[side]:
                        total[side][key] += r[key]
                shape = f"{weights.shape[0]}x{weights.shape[1]}"
                print(
                    f"{name:8} {layer:10} {shape:>8} | {ours['adders']:>11,} {ours['bits']:>7,} {ours['depth']:>5} {ours['s']:>6.2f} | "
                    f"{theirs['adders']:>12,} {theirs['bits']:>7,} {theirs['depth']:>5} {theirs['s']:>6.2f} | {ours['bits'] / theirs['bits']:>10.3f}"
                )
            f, d = total["fmlc"], total["da4ml"]
            print(
                f"{name:8} {'total':10} {'':>8} | {f['adders']:>11,} {f['bits']:>7,} {'':>5} {f['s']:>6.2f} | "
                f"{d['adders']:>12,} {d['bits']:>7,} {'':>5} {d['s']:>6.2f} | {f['bits'] / d['bits']:>10.3f}"
            )
            print(f"{'':8} adders {f['adders'] / d['adders']:.3f}x da4ml's, bits {f['bits'] / d['bits']:.3f}x, time {f['s'] / d['s']:.3f}x\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
