"""Errors in IR, located: ``FILE:LINE:COL: message`` and the offending op, never the module.

xDSL reports a verifier failure by printing the whole module with the message attached (for a
hardware-level module, tens of thousands of lines).  fmlc parses with ``LocatingParser``, which
remembers where each operation starts; when verification fails it finds the first op (inner
ops first, as xDSL verifies) whose verifier fails and names it by file, line and column,
with one clipped line of its text.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError, VerifyException
from xdsl.utils.lexer import Span

from fmlc.errors import MAX_LINE_CHARS, MAX_MESSAGE_LINES, clip


class IRError(ValueError):
    """IR that cannot be used: the message says where (file:line:col or op) and why."""


class LocatingParser(Parser):
    """A parser that records the span where each operation starts."""

    def __init__(self, ctx, text: str | bytes, name: str):
        super().__init__(ctx, text, name)
        self.spans: dict[Operation, Span] = {}

    def parse_operation(self) -> Operation:
        start = self._current_token.span
        try:
            op = super().parse_operation()
        except VerifyException as err:
            # an attribute or type that rejects its parameters while being parsed
            raise ParseError(start, str(err)) from None
        self.spans[op] = start
        return op


def parse_ir(text: str | bytes, name: str, ctx=None) -> tuple[ModuleOp, dict[Operation, Span]]:
    """Parse and verify MLIR text; ``IRError``/``ParseError`` name the place on failure."""
    from fmlc.ir import make_context

    parser = LocatingParser(ctx or make_context(), text, name)
    module = parser.parse_module()
    verify(module, parser.spans)
    return module, parser.spans


def verify(module: Operation, spans: dict[Operation, Span] | None = None, after: str | None = None) -> None:
    """``module.verify()``, with a failure reported as the op that fails, located."""
    try:
        module.verify()
    except VerifyException as err:
        found = _first_failure(module)
        if found is None:
            raise IRError(_prefix(after) + first_lines(str(err))) from None
        op, message = found
        raise IRError(_prefix(after) + describe_op(op, message, spans)) from None


def _prefix(after: str | None) -> str:
    return f"after pass {after}: " if after else ""


def _first_failure(op: Operation) -> tuple[Operation, str] | None:
    """The first op (nested ops before their parent) whose own verification fails."""
    for region in op.regions:
        for block in region.blocks:
            for child in block.ops:
                found = _first_failure(child)
                if found is not None:
                    return found
    try:
        op.verify_()  # the op's own verifier: on failure xDSL's verify() would print the module
        op.verify(verify_nested_ops=False)  # structure (terminators, successors)
    except VerifyException as err:
        return op, str(err)
    return None


def describe_op(op: Operation, message: str, spans: dict[Operation, Span] | None = None) -> str:
    """``FILE:LINE:COL: message`` and the op's first line (clipped), or the op's name and label."""
    from fmlc.ir import op_label

    message = first_lines(message)
    span = (spans or {}).get(op)
    if span is None:
        return f"{op_label(op)}: {message}"
    loc = span.get_location()
    return f"{loc}: {op_label(op)}: {message}\n  {_source_line(span)}"


def _source_line(span: Span) -> str:
    text = span.input.content
    start = span.input.get_start_of_line(span.start)
    end = span.input.get_end_of_line(span.start)
    line = text[start:end]
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    return clip(line.strip(), MAX_LINE_CHARS - 4)


def format_parse_error(err: ParseError) -> str:
    """``FILE:LINE:COL: message``, the line (clipped around the column) and a caret."""
    span = err.span
    loc = span.get_location()
    text = span.input.content
    start = span.input.get_start_of_line(span.start)
    end = span.input.get_end_of_line(span.start)
    line = text[start:end]
    col = span.start - start
    if isinstance(line, bytes):
        col = len(line[:col].decode("utf-8", "replace"))
        line = line.decode("utf-8", "replace")
    width = MAX_LINE_CHARS - 8
    first = max(0, col - width // 2) if len(line) > width else 0
    shown = line[first : first + width]
    lead = "..." if first else ""
    caret = " " * (len(lead) + col - first) + "^"
    return f"{loc}: {first_lines(err.msg)}\n  {lead}{shown}\n  {caret}"


def first_lines(text: str, count: int = MAX_MESSAGE_LINES - 3) -> str:
    """A message cut to its first lines (xDSL messages may embed IR)."""
    lines = str(text).strip("\n").splitlines()
    if len(lines) <= count:
        return "\n".join(clip(line) for line in lines)
    return "\n".join([clip(line) for line in lines[:count]] + [f"... ({len(lines) - count} more lines)"])
