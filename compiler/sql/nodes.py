"""Small sqlglot helpers shared by lowering, the allow-list and `--check`: one home for each.

Parentheses are dropped with sqlglot's own `Expression.unnest()`; nothing here needs it wrapped.
"""

from __future__ import annotations

from sqlglot import exp

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


def snippet(node: exp.Expression, limit: int) -> str:
    """The node as DuckDB SQL, cut to `limit` characters for a message.

    >>> import sqlglot
    >>> snippet(sqlglot.parse_one("a + b + c"), 8)
    'a + b...'
    """
    text = node.sql(dialect=DIALECT)
    return text if len(text) <= limit else text[: limit - 3] + "..."
