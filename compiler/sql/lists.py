"""List parameters (`type: string[]`, ...): where a filter may use them, and the SQL they become.

A list parameter means "any of these values", so it has one place: `column IN :name` (or
`NOT IN`, with or without parentheses around the name). `:name IS [NOT] NULL` is allowed too,
so that an optional list (default null) can switch its filter off. Anywhere else a list has no
meaning (DP0313). The other way round, `column IN :scalar` is refused (DP0312): DuckDB reads
`x IN 'text'` as a substring test and would answer rows the caller never asked for.

In the pod's SQL the membership is `list_contains($name, column)` (printed ARRAY_CONTAINS, its
DuckDB alias): a string bound there by mistake would fail, never be searched as text, and DuckDB
plans it as it plans `column IN ('a', 'b')`, pushing the values into the Parquet scan.
"""

from __future__ import annotations

from sqlglot import exp

from ..diagnostics import Code, Diagnostic, Span, error
from ..spec.ir import Parameter


def in_problem(node: exp.In) -> str | None:
    """Why an IN without parentheses cannot stand, if it cannot (`x IN 'abc'`, `x IN col`)."""
    field = node.args.get("field")
    if field is None or isinstance(field, exp.Placeholder):
        return None  # a parameter's type is judged with the parameters (list_problem)
    return (
        f"`{_written(node)}`: IN takes a parenthesised list of values, as in `x IN ('a', 'b')`, "
        "or a list parameter, as in `x IN :name` with type: string[] (integer[], date[], ...)"
    )


def list_problem(
    placeholder: exp.Placeholder, declared: Parameter, span: Span
) -> Diagnostic | None:
    """A located error when a parameter stands where its type (list or scalar) cannot."""
    parent, child = _parent(placeholder)
    if not declared.type.is_list:
        if isinstance(parent, exp.In) and parent.args.get("field") is child:
            return _scalar_after_in(parent, declared, span)
        return None
    if isinstance(parent, exp.In) and _membership_list(parent) is child:
        return None
    null_test = isinstance(parent, exp.Is) and isinstance(parent.expression, exp.Null)
    if null_test and parent.this is child:
        return None
    name, type_name = declared.name, declared.type.value
    if isinstance(parent, exp.In) and child in parent.expressions:
        message = (
            f"list parameter ':{name}' ({type_name}) must be the whole IN list: `x IN :{name}`"
        )
    else:
        message = (
            f"list parameter ':{name}' ({type_name}) can only be used as `column IN :{name}` "
            f"(or NOT IN, or `:{name} IS NULL`), not in `{_written(parent or child)}`"
        )
    return error(Code.LIST_OUTSIDE_IN, message, span)


def _scalar_after_in(node: exp.In, declared: Parameter, span: Span) -> Diagnostic:
    subject = _written(node.this, 40)
    return error(
        Code.IN_NEEDS_A_LIST,
        f"`{subject} IN :{declared.name}` needs a list, but ':{declared.name}' is declared "
        f"{declared.type.value}; for any of several values declare type: "
        f"{declared.type.as_list.value}, for one value write `{subject} = :{declared.name}`",
        span,
    )


def _written(node: exp.Expression, limit: int = 60) -> str:
    """The node as the spec writes it (`:name`, not DuckDB's `$name`), cut for a message."""
    text = node.sql()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parent(node: exp.Expression) -> tuple[exp.Expression | None, exp.Expression]:
    """The node's parent past any parentheses, and the child of it that holds the node."""
    child, parent = node, node.parent
    while isinstance(parent, exp.Paren):
        child, parent = parent, parent.parent
    return parent, child


def _membership_list(node: exp.In) -> exp.Expression | None:
    """The one operand an IN tests membership in when it is a single name: `IN :l`, `IN (:l)`."""
    field = node.args.get("field")
    if field is not None:
        return field
    if len(node.expressions) == 1 and not node.args.get("query"):
        return node.expressions[0]
    return None


def list_name(node: exp.In, parameters: dict[str, Parameter]) -> str | None:
    """The list parameter an IN tests membership in, if it is `x IN :list` or `x IN (:list)`."""
    operand = _membership_list(node)
    operand = operand.unnest() if operand is not None else None
    if isinstance(operand, exp.Placeholder):
        declared = parameters.get(operand.name)
        if declared is not None and declared.type.is_list:
            return operand.name
    return None


def lowered(tree: exp.Expression, parameters: dict[str, Parameter]) -> exp.Expression:
    """The condition with each `x IN :list` as `list_contains($list, x)` (a copy)."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.In) and (name := list_name(node, parameters)):
            return exp.ArrayContains(this=exp.Placeholder(this=name), expression=node.this)
        return node

    return tree.transform(rewrite)
