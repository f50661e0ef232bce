"""Small sqlglot helpers shared by lowering, the allow-list and `--check`: one home for each.

Parentheses are dropped with sqlglot's own `Expression.unnest()`; nothing here needs it wrapped.
"""

from __future__ import annotations

import dataclasses

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType

from ..diagnostics import Span

DIALECT = "duckdb"

# Node groups the allow-list, the parameter checks and `--check` all dispatch on.
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
CONNECTIVES = (exp.And, exp.Or, exp.Not)
PREDICATES = (
    *COMPARISONS,
    exp.In,
    exp.Is,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.StartsWith,
    exp.RegexpLike,
)
ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg)


def operands(node: exp.Expression) -> list[exp.Expression]:
    """What a comparison, IN or BETWEEN weighs: the subject first, then what it meets.

    >>> import sqlglot
    >>> [o.sql() for o in operands(sqlglot.parse_one("a BETWEEN 1 AND 2"))]
    ['a', '1', '2']
    """
    if isinstance(node, exp.In):
        # `x IN :list` keeps its list in `field`: its values are what x meets.
        field = node.args.get("field")
        return [node.this, *node.expressions, *([field] if field is not None else [])]
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    return [node.left, node.right]


def function_name(node: exp.Expression) -> str:
    """A function's name as a user writes it, lower case (`date_trunc`, an unknown `foo`).

    >>> import sqlglot
    >>> function_name(sqlglot.parse_one("FOO(a)")), function_name(sqlglot.parse_one("abs(a)"))
    ('foo', 'abs')
    """
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower() if isinstance(node, exp.Func) else node.key


def start_offset(node: exp.Expression) -> int | None:
    """0-based offset of the node's first token in the text sqlglot parsed, if it kept one."""
    starts = [
        n.meta["start"]
        for n in node.walk()
        if isinstance(n.meta, dict) and isinstance(n.meta.get("start"), int)
    ]
    return min(starts) if starts else None


def at_node(span: Span, node: exp.Expression) -> Span:
    """The span of an expression's text, narrowed to the node's first token where known."""
    start = start_offset(node)
    return span if start is None else dataclasses.replace(span, offset=start)


def mark_placeholders(tree: exp.Expression, text: str) -> None:
    """Give each `:name` placeholder the offset of its `:` (sqlglot keeps none for them), so a
    problem with a parameter points at it. The k-th use of a name in the tree, read left to
    right, is its k-th in the text."""
    tokens = Dialect.get_or_raise(DIALECT).tokenize(text)
    offsets: dict[str, list[int]] = {}
    for colon, name in zip(tokens, tokens[1:], strict=False):
        if colon.token_type is TokenType.COLON and name.end - colon.start == len(name.text):
            offsets.setdefault(name.text, []).append(colon.start)
    for node in tree.walk(bfs=False):
        if isinstance(node, exp.Placeholder) and offsets.get(node.name):
            node.meta["start"] = offsets[node.name].pop(0)


def snippet(node: exp.Expression, limit: int) -> str:
    """The node as DuckDB SQL, cut to `limit` characters for a message.

    >>> import sqlglot
    >>> snippet(sqlglot.parse_one("a + b + c"), 8)
    'a + b...'
    """
    text = node.sql(dialect=DIALECT)
    return text if len(text) <= limit else text[: limit - 3] + "..."
