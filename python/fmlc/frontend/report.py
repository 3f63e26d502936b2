"""What the importer did with each node, and what it guarantees about each output.

``fmlc import --explain`` prints this: for every ONNX node, how its result was made exact —

- ``exact``: exact fixed-point arithmetic (the reference computes the same value: every float32
  it forms is exactly representable);
- ``table``: a float chain evaluated with the reference's own float32 semantics on every input
  code, kept as a lookup table;
- ``thresholds``: a float chain ending in a quantizer, replaced by per-channel thresholds on the
  integer input found with the reference's own semantics (exhaustively or by bisection);
- ``bounded``: the reference rounds in float32 where fmlc computes exactly; the note states the
  largest possible difference (and, at a quantizer, how many levels a decision can move);
- ``boundary``: a graph input quantized at the model boundary (by the model's own quantizer, or
  to a user-chosen precision where the model has none);
- ``moved``: data movement or a no-op (exact);
- ``folded``: a constant computation (quantized weights, shapes).

Refusals do not appear here: they stop the import with the node and the reason.

``outputs`` maps each graph output to its guarantee: ``max_abs`` is the largest difference
from the reference any element can have (0 for exact), ``step`` the output quantizer's step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOW = ("exact", "table", "thresholds", "bounded", "boundary", "moved", "folded")


@dataclass
class NodeReport:
    name: str
    op_type: str
    how: str
    detail: str = ""


@dataclass
class OutputBound:
    max_abs: float = 0.0
    step: float | None = None
    detail: str = ""


@dataclass
class ImportReport:
    nodes: list[NodeReport] = field(default_factory=list)
    outputs: dict[str, OutputBound] = field(default_factory=dict)
    quantized: bool = False
    inputs: dict[str, str] = field(default_factory=dict)
    """Graph inputs the model does not quantize itself, with the fixed-point type fmlc casts them
    to (the configured input precision): the guarantees hold for inputs on that grid."""

    def add(self, node, how: str, detail: str = "") -> None:
        assert how in HOW, how
        self.nodes.append(NodeReport(node.name, node.op_type, how, detail))

    def add_many(self, nodes, how: str, detail: str = "") -> None:
        for n in nodes:
            self.add(n, how, detail)

    def counts(self) -> dict[str, int]:
        out = {h: 0 for h in HOW}
        for n in self.nodes:
            out[n.how] += 1
        return out

    def format(self) -> str:
        """The text of ``fmlc import --explain``."""
        lines = ["# how each node was made exact (fmlc import --explain)"]
        kind = "quantized (QONNX quantizers present)" if self.quantized else "float (no quantizers: the configured precision applies)"
        lines.append(f"# model: {kind}")
        width = max((len(n.name) for n in self.nodes), default=4)
        owidth = max((len(n.op_type) for n in self.nodes), default=2)
        for n in self.nodes:
            lines.append(f"{n.name:<{width}}  {n.op_type:<{owidth}}  {n.how:<10}  {n.detail}".rstrip())
        for name, fmt in self.inputs.items():
            lines.append(f"# input '{name}' has no quantizer in the model: fmlc casts it to {fmt}; the guarantees below hold for inputs {fmt} represents exactly (on its grid, within its range)")
        lines.append("# outputs")
        for name, b in self.outputs.items():
            if b.max_abs == float("inf"):
                text = "no bound"
            elif b.max_abs == 0.0:
                text = "bit-exact with the reference"
            else:
                text = f"|fmlc - reference| <= {b.max_abs:.6g}"
                if b.step:
                    text += f" ({b.max_abs / b.step:.3g} output steps of {b.step:.6g})"
            lines.append(f"{name}: {text}" + (f"; {b.detail}" if b.detail else ""))
        counts = self.counts()
        lines.append("# " + ", ".join(f"{v} {k}" for k, v in counts.items() if v))
        return "\n".join(lines)
