"""Where a problem stands in the spec: inside a one-line expression, the column or operand
concerned; else the expression's own start."""

from __future__ import annotations

import dataclasses
import re

from sqlglot import exp

from ..diagnostics import Span
from ..sql.nodes import start_offset


class Locator:
    """Positions inside the spec's text (none without it: every span stays as given)."""

    def __init__(self, source_text: str | None) -> None:
        self.lines = source_text.splitlines() if source_text else []

    def inner_span(self, span: Span, text: str, node: exp.Expression) -> Span:
        """Where `node` stands inside an expression written verbatim at `span`: on its line,
        or (a block over several lines) by offset, which the pipeline resolves."""
        start = start_offset(node)
        base = self.verbatim_column(span, text)
        if start is not None and base is not None:
            return Span(file=span.file, line=span.line, column=base + start)
        if start is not None and "\n" in text:  # only a spec's own block keeps line breaks
            return dataclasses.replace(span, offset=start)
        # Rewritten text (dataPi's `sales.sum()` is sum(sales)): the column's name on the line.
        column = next(node.find_all(exp.Column), None)
        return (
            self.word_span(span, column.name) if column is not None and "\n" not in text else span
        )

    def verbatim_column(self, span: Span, text: str) -> int | None:
        """The 1-based column where `text` starts on the span's line, if it stands there as is
        (plain or quoted scalar); None for multi-line or escaped text."""
        if "\n" in text or not 1 <= span.line <= len(self.lines):
            return None
        line, start = self.lines[span.line - 1], span.column - 1
        if line[start : start + len(text)] == text:
            return span.column
        if (
            line[start : start + 1] in ("'", '"')
            and line[start + 1 : start + 1 + len(text)] == text
        ):
            return span.column + 1
        return None

    def word_span(self, span: Span, name: str) -> Span:
        """A column name's own position on the span's line (dataPi's `select: a b c` gives all
        three one span)."""
        if not 1 <= span.line <= len(self.lines):
            return span
        line = self.lines[span.line - 1]
        match = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)").search(line, span.column - 1)
        if match is None:
            return span
        return Span(file=span.file, line=span.line, column=match.start() + 1)
