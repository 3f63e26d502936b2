"""Register-to-register depth of a netlist Yosys mapped to Xilinx cells (``synth_xilinx``).

Yosys's ``ltp -noff`` after ``synth_xilinx`` does not cut paths at Xilinx flip-flops (``FDRE``
is a cell to it like any other): a pipelined design reports the length of its whole chain,
not of a stage.  This module reads the mapped netlist (``write_json``) and finds the longest
combinational path between flip-flops and ports, bit by bit, in a simple delay model of a
7-series slice:

    LUT1..LUT6       any input -> O                         0.45 ns (the LUT and the net after it)
    MUXF7, MUXF8     any input -> O                         0.30 ns
    CARRY4           S/DI of bit i -> CO of bit j >= i      0.30 ns + 0.03 ns per bit from i to j
                     S/DI of bit i -> O of bit j > i        0.30 ns + 0.03 ns per bit + 0.20 ns
                     S of bit j -> O of bit j               0.20 ns
                     CI/CYINIT -> CO of bit j               0.03 ns per bit up to j
                     CI/CYINIT -> O of bit j                0.03 ns per bit below j + 0.20 ns
    INV, buffers     0 (Vivado folds inverters into LUTs; I/O buffers are the ports)
    flip-flops       cut: Q starts a path, D/CE/R/S end one

The numbers are round figures of the -2 speed grade's data sheet with a typical net per LUT;
they rank designs and stages, they do not replace a timing report.  What is reported for the
worst path: its estimated delay, and its LUT levels and CARRY4 cells.

    report = depth_of_netlist(json.loads(Path("netlist.json").read_text()), "top")

and ``YOSYS_COMMAND`` is the line that writes that file after ``synth_xilinx``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

LUT_NS = 0.45
MUXF_NS = 0.30
CARRY_ENTER_NS = 0.30
CARRY_BIT_NS = 0.03
CARRY_SUM_NS = 0.20

YOSYS_COMMAND = "write_json {path}"
"""The Yosys command writing the netlist ``depth_of_netlist`` reads (after synth_xilinx)."""

FLIP_FLOPS = ("FDRE", "FDSE", "FDCE", "FDPE", "FDR", "FDS", "FDC", "FDP", "FD", "FDE")
WIRES = ("IBUF", "OBUF", "BUFG", "INV", "BUF", "IOBUF", "OBUFT")


@dataclass(frozen=True)
class Depth:
    """The worst register-to-register (or port) path of a netlist."""

    delay_ns: float
    """Estimated delay (the model in this module's docstring)."""
    luts: int
    """LUT levels on that path (MUXF7/F8 count as none)."""
    carries: int
    """CARRY4 cells on that path."""

    def __str__(self) -> str:
        return f"{self.delay_ns:.2f} ns ({self.luts} LUT, {self.carries} CARRY4)"

    def to_json(self) -> dict:
        return {"delay_ns": round(self.delay_ns, 3), "luts": self.luts, "carries": self.carries}


def _carry_arcs(conn: dict) -> list[tuple[list, list, float]]:
    """(input bits, output bits, delay) arcs of one CARRY4 (bit-level, see the docstring)."""
    arcs = []
    carry_in = list(conn.get("CI", [])) + list(conn.get("CYINIT", []))
    s, di = conn.get("S", []), conn.get("DI", [])
    co, o = conn.get("CO", []), conn.get("O", [])
    for j in range(4):
        if j < len(co):
            arcs.append((carry_in, [co[j]], CARRY_BIT_NS * (j + 1)))
        if j < len(o):
            arcs.append((carry_in, [o[j]], CARRY_BIT_NS * j + CARRY_SUM_NS))
        for i in range(j + 1):
            ins = [b for b in (s[i] if i < len(s) else None, di[i] if i < len(di) else None) if b is not None]
            if j < len(co):
                arcs.append((ins, [co[j]], CARRY_ENTER_NS + CARRY_BIT_NS * (j - i)))
            if j < len(o):
                if i == j:
                    arcs.append(([s[j]] if j < len(s) else [], [o[j]], CARRY_SUM_NS))
                else:
                    arcs.append((ins, [o[j]], CARRY_ENTER_NS + CARRY_BIT_NS * (j - i - 1) + CARRY_SUM_NS))
    return arcs


def depth_of_netlist(netlist: dict, top: str) -> Depth:
    """The worst combinational path of module ``top`` of a Yosys JSON netlist (flattened,
    mapped to Xilinx cells): flip-flops and ports start and end paths."""
    module = netlist["modules"][top]
    # arcs: from net bit -> [(to net bit, delay, luts, carries)]
    arcs: dict[object, list[tuple[object, float, int, int]]] = defaultdict(list)
    indegree: dict[object, int] = defaultdict(int)
    nodes: set = set()
    for cell in module["cells"].values():
        kind, conn, dirs = cell["type"], cell["connections"], cell.get("port_directions", {})
        if kind in FLIP_FLOPS:
            continue  # a flip-flop: its Q bits are sources, its inputs sinks (no arcs)
        if kind == "CARRY4":
            groups = [(ins, outs, ns, 0, 1) for ins, outs, ns in _carry_arcs(conn)]
        else:
            ins = [b for p, bits in conn.items() if dirs.get(p) == "input" for b in bits]
            outs = [b for p, bits in conn.items() if dirs.get(p) == "output" for b in bits]
            if kind.startswith("LUT"):
                groups = [(ins, outs, LUT_NS, 1, 0)]
            elif kind.startswith("MUXF"):
                groups = [(ins, outs, MUXF_NS, 0, 0)]
            elif kind in WIRES:
                groups = [(ins, outs, 0.0, 0, 0)]
            else:  # an unknown cell (DSP, RAM): combinational, one LUT's delay
                groups = [(ins, outs, LUT_NS, 1, 0)]
        for ins, outs, ns, luts, carries in groups:
            for a in ins:
                if isinstance(a, str):
                    continue  # a constant
                for b in outs:
                    arcs[a].append((b, ns, luts, carries))
                    indegree[b] += 1
                    nodes.add(a)
                    nodes.add(b)
    # longest path over the DAG of net bits (Kahn's order)
    best: dict[object, tuple[float, int, int]] = {n: (0.0, 0, 0) for n in nodes if indegree[n] == 0}
    ready = list(best)
    worst = (0.0, 0, 0)
    while ready:
        n = ready.pop()
        d = best[n]
        if d > worst:
            worst = d
        for m, ns, luts, carries in arcs.get(n, ()):
            cand = (d[0] + ns, d[1] + luts, d[2] + carries)
            if m not in best or cand > best[m]:
                best[m] = cand
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    if any(indegree[n] > 0 for n in nodes):
        raise ValueError(f"the netlist of {top} has a combinational loop")
    return Depth(round(worst[0], 3), worst[1], worst[2])
