"""Reading one SQL fragment of a spec with sqlglot: exactly one expression, not nested too
deep, its functions in the forms the allow-list knows, and sqlglot's errors as diagnostics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from ..diagnostics import Code, Span, error
from .nodes import DIALECT, mark_placeholders

# sqlglot logs (to stderr, via logging's last resort) when it falls back to a raw Command;
# stages never print, and the statement is reported as a diagnostic anyway.
_SQLGLOT_LOGGER = logging.getLogger("sqlglot")

# sqlglot parses, copies and prints expressions recursively, and so do lowering and pushdown:
# nesting deeper than this (42 parentheses, 100 NOTs, a chain of ORs) is refused here, in place,
# rather than found as a RecursionError in some later stage.
MAX_EXPRESSION_DEPTH = 64


def parse_one(text: str, span: Span, what: str) -> tuple[exp.Expression | None, list]:
    too_deep = error(
        Code.EXPRESSION_TOO_DEEP,
        f"{what} nests more than {MAX_EXPRESSION_DEPTH} levels deep; simplify it",
        span,
    )
    try:
        with _quiet_sqlglot():
            statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
    except RecursionError:
        return None, [too_deep]
    except (ParseError, TokenError) as exc:
        message = _parse_error_reason(exc)
        if message.startswith("Required keyword"):
            message = "the expression is incomplete"
        where = _error_span(exc, text, span)
        return None, [error(Code.SQL_SYNTAX, f"{what}: invalid SQL: {message}", where)]
    if len(statements) != 1:
        return None, [
            error(
                Code.NOT_ONE_EXPRESSION,
                f"{what} must be exactly one expression, found {len(statements)} statements",
                span,
            )
        ]
    if _depth(statements[0]) > MAX_EXPRESSION_DEPTH:
        return None, [too_deep]
    tree = _standard_forms(_without_empty_aliases(statements[0]))
    mark_placeholders(tree, text)
    return tree, []


def _error_span(exc: Exception, text: str, span: Span) -> Span:
    """Where sqlglot stopped: the start of the token it highlights, else the expression's."""
    errors = getattr(exc, "errors", None) or [{}]
    line, column = errors[0].get("line"), errors[0].get("col")
    highlight = str(errors[0].get("highlight") or "")
    if not isinstance(line, int) or not isinstance(column, int) or not highlight:
        return span
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return span
    # sqlglot's col is 1-based at the highlighted token's last character.
    offset = sum(len(earlier) + 1 for earlier in lines[: line - 1]) + column - len(highlight)
    return replace(span, offset=offset) if 0 <= offset < len(text) else span


def _standard_forms(tree: exp.Expression) -> exp.Expression:
    """The tree with functions sqlglot leaves unnamed in DuckDB given their own node, so the
    allow-list and the type rules know them: `octet_length(x)` is a ByteLength."""

    def named(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Anonymous)
            and str(node.this).lower() == "octet_length"
            and len(node.expressions) == 1
        ):
            return exp.ByteLength(this=node.expressions[0])
        return node

    return tree.transform(named, copy=False)


def _depth(tree: exp.Expression) -> int:
    """How deep the tree nests, found without recursion.

    >>> _depth(sqlglot.parse_one("a")), _depth(sqlglot.parse_one("NOT (a = 1)"))
    (2, 5)
    """
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    previous = _SQLGLOT_LOGGER.level
    _SQLGLOT_LOGGER.setLevel(logging.ERROR)
    try:
        yield
    finally:
        _SQLGLOT_LOGGER.setLevel(previous)


def _without_empty_aliases(tree: exp.Expression) -> exp.Expression:
    """The tree without the nameless Alias sqlglot's DuckDB prefix-alias rule (`name: expr`)
    wraps around `NOT :flag` or `(:flag) AND x`: it names nothing and only hides the condition."""
    tree = tree.transform(
        lambda node: node.this if isinstance(node, exp.Alias) and not node.alias else node,
        copy=False,
    )
    return tree.pop()  # a new root must not keep the dropped Alias as its parent


def _parse_error_reason(exc: Exception) -> str:
    if isinstance(exc, TokenError):
        # sqlglot's own text shows a cut-off copy of the input; say what usually causes it.
        return "a quote or comment is not closed"
    errors = getattr(exc, "errors", None)
    if errors:
        description = str(errors[0].get("description", exc)).splitlines()[0]
        highlight = str(errors[0].get("highlight") or "").strip()
        return f"{description} at '{highlight}'" if highlight else description
    return str(exc).splitlines()[0]
