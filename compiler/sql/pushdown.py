"""The part of a pod's filters an Iceberg scan can use to skip files, as plain JSON.

Each filter's top-level AND conjuncts are translated separately; a conjunct with anything
Iceberg cannot evaluate (functions, arithmetic, column-to-column comparisons) is left out.
Leaving a conjunct out is always safe: the pod's SQL re-applies every filter, so pushdown
only decides which files are read, never which rows are answered.
"""

from __future__ import annotations

import re

from sqlglot import exp

_COMPARISON_OPS = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.LT: "lt",
    exp.LTE: "le",
    exp.GT: "gt",
    exp.GTE: "ge",
}
# `5 < col` is `col > 5`.
_MIRRORED = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_LIKE_PREFIX = re.compile(r"^([^%_\\]*)%$")


class _NotPushable(Exception):
    """Raised inside the translation when a node has no Iceberg equivalent."""


def pushdown(conditions: list[exp.Expression]) -> tuple[dict, ...]:
    """Iceberg-evaluable conjuncts implied by the conjunction of `conditions`."""
    result = []
    for condition in conditions:
        for conjunct in _conjuncts(condition):
            try:
                result.append(_predicate(conjunct))
            except _NotPushable:
                continue
    return tuple(result)


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    node = node.unnest()
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _predicate(node: exp.Expression) -> dict:
    node = node.unnest()
    if (optional := _optional(node)) is not None:
        return optional
    if isinstance(node, exp.And | exp.Or):
        op = "and" if isinstance(node, exp.And) else "or"
        return {"op": op, "args": [_predicate(node.left), _predicate(node.right)]}
    if isinstance(node, exp.Not):
        return _negated(node.this.unnest())
    if type(node) in _COMPARISON_OPS:
        return _comparison(node)
    if isinstance(node, exp.In):
        return {"op": "in", "column": _column(node.this), "values": _in_values(node)}
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return {"op": "is_null", "column": _column(node.this)}
    if isinstance(node, exp.Between):
        if node.args.get("symmetric"):
            # BETWEEN SYMMETRIC 3 AND 1 also holds for 2: the bounds may come in either order.
            raise _NotPushable
        column = _column(node.this)
        return {
            "op": "and",
            "args": [
                {"op": "ge", "column": column, "value": _value(node.args["low"])},
                {"op": "le", "column": column, "value": _value(node.args["high"])},
            ],
        }
    if isinstance(node, exp.Like):
        return _like(node)
    raise _NotPushable


def _optional(node: exp.Expression) -> dict | None:
    """`:p IS NULL OR q` (a filter a caller switches off by leaving p out) pushed as `q` alone,
    when q names p: the pod leaves out every conjunct naming a NULL parameter, so with p NULL
    nothing is pushed, and with p given the OR is q. Any other shape: None."""
    if not isinstance(node, exp.Or):
        return None
    for test, rest in ((node.left.unnest(), node.right), (node.right.unnest(), node.left)):
        off = isinstance(test, exp.Is) and isinstance(test.expression, exp.Null)
        name = (
            test.this.unnest().name
            if off and isinstance(test.this.unnest(), exp.Placeholder)
            else None
        )
        if name is None:
            continue
        try:
            pushed = _predicate(rest)
        except _NotPushable:
            return None
        return pushed if {"parameter": name} in _values_of(pushed) else None
    return None


def _values_of(predicate: dict) -> list[dict]:
    """Every value a pushdown predicate names, literals and parameters."""
    found = [predicate["value"]] if "value" in predicate else list(predicate.get("values", ()))
    for inner in (*predicate.get("args", ()), *([predicate["arg"]] if "arg" in predicate else [])):
        found += _values_of(inner)
    return found


def _negated(node: exp.Expression) -> dict:
    """NOT of a node, using Iceberg's dedicated negative forms where they exist."""
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return {"op": "not_null", "column": _column(node.this)}
    if isinstance(node, exp.In):
        return {"op": "not_in", "column": _column(node.this), "values": _in_values(node)}
    return {"op": "not", "arg": _predicate(node)}


def _in_values(node: exp.In) -> list[dict]:
    """The values of a plain IN list; `IN ()`, subqueries and UNNEST are not pushable.

    A list parameter (`x IN :regions`) is one parameter reference: the pod binds it to all of
    the request's values.
    """
    field = node.args.get("field")
    if isinstance(field, exp.Placeholder):
        return [_value(field)]
    if not node.expressions or any(node.args.get(k) for k in ("query", "unnest", "field")):
        raise _NotPushable
    return [_value(v) for v in node.expressions]


def _comparison(node: exp.Expression) -> dict:
    op = _COMPARISON_OPS[type(node)]
    left, right = node.left.unnest(), node.right.unnest()
    if isinstance(right, exp.Column):
        left, right, op = right, left, _MIRRORED[op]
    return {"op": op, "column": _column(left), "value": _value(right)}


def _like(node: exp.Like) -> dict:
    """`col LIKE 'abc%'` is Iceberg's starts_with; other patterns are not pushable."""
    pattern = node.expression.unnest()
    if node.args.get("escape") or not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise _NotPushable
    match = _LIKE_PREFIX.match(pattern.this)
    if not match or not match.group(1):
        raise _NotPushable
    value = {"literal": match.group(1), "type": "string"}
    prefix = {"op": "starts_with", "column": _column(node.this), "value": value}
    # `col NOT LIKE 'abc%'` is one node with negate set, not a NOT around a LIKE.
    return {"op": "not", "arg": prefix} if node.args.get("negate") else prefix


def _column(node: exp.Expression) -> str:
    node = node.unnest()
    if not isinstance(node, exp.Column):
        raise _NotPushable
    return node.name


def _value(node: exp.Expression) -> dict:
    """A literal with its type, or a parameter reference bound at request time."""
    node = node.unnest()
    if isinstance(node, exp.Placeholder):
        return {"parameter": node.name}
    if isinstance(node, exp.Boolean):
        return {"literal": node.this, "type": "boolean"}
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return _number(f"-{node.this.this}")
    if isinstance(node, exp.Literal):
        return {"literal": node.this, "type": "string"} if node.is_string else _number(node.this)
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        to = node.to.this
        if to == exp.DataType.Type.DATE:
            return {"literal": node.this.this, "type": "date"}
        if to in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ):
            return {"literal": node.this.this, "type": "timestamp"}
    raise _NotPushable


def _number(text: str) -> dict:
    """Integers stay exact; other numbers are pushed only when they are plain decimals."""
    try:
        return {"literal": int(text), "type": "integer"}
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError as exc:
        raise _NotPushable from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise _NotPushable
    return {"literal": value, "type": "number"}
