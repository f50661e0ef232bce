"""pod.json's pushdown conjuncts as a pyiceberg row filter, with request values bound.

Each conjunct is built and bound on its own; one that cannot be bound exactly (a parameter that
is NULL, a literal of another type than its column, a decimal that would be rounded) is left
out. That is always safe: the SQL re-applies every filter, so pushdown only decides which files
are read, never which rows are answered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from pyiceberg import expressions as ex
from pyiceberg.expressions.visitors import bind
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

_COMPARISONS = {
    "eq": ex.EqualTo,
    "ne": ex.NotEqualTo,
    "lt": ex.LessThan,
    "le": ex.LessThanOrEqual,
    "gt": ex.GreaterThan,
    "ge": ex.GreaterThanOrEqual,
    "starts_with": ex.StartsWith,
}


class _Skip(Exception):
    """This conjunct cannot be pushed down exactly."""


def row_filter(
    conjuncts: Iterable[dict], schema: Schema, values: Mapping[str, Any]
) -> ex.BooleanExpression:
    """The AND of every conjunct that binds exactly against `schema`; AlwaysTrue if none does."""
    pushed: ex.BooleanExpression = ex.AlwaysTrue()
    for conjunct in conjuncts:
        try:
            expression = _expression(conjunct, schema, values)
            bind(schema, expression, case_sensitive=True)
        except Exception:  # noqa: BLE001 - any failure only means "do not push this one"
            continue
        pushed = ex.And(pushed, expression)
    return pushed


def _expression(node: dict, schema: Schema, values: Mapping[str, Any]) -> ex.BooleanExpression:
    op = node["op"]
    if op in ("and", "or"):
        parts = [_expression(arg, schema, values) for arg in node["args"]]
        combine = ex.And if op == "and" else ex.Or
        return combine(*parts)
    if op == "not":
        return ex.Not(_expression(node["arg"], schema, values))
    if op == "is_null":
        return ex.IsNull(node["column"])
    if op == "not_null":
        return ex.NotNull(node["column"])
    column_type = schema.find_type(node["column"], case_sensitive=True)
    if op in ("in", "not_in"):
        literals = {_exact(column_type, _value(v, values)) for v in node["values"]}
        return (ex.In if op == "in" else ex.NotIn)(node["column"], literals)
    return _COMPARISONS[op](node["column"], _exact(column_type, _value(node["value"], values)))


def _value(value: dict, values: Mapping[str, Any]) -> Any:
    if "parameter" in value:
        return values[value["parameter"]]
    return value["literal"]


def _exact(column_type: IcebergType, value: Any) -> Any:
    """`value` in a form pyiceberg converts to `column_type` without rounding, else _Skip."""
    if value is None or isinstance(value, bool) != isinstance(column_type, BooleanType):
        raise _Skip
    if isinstance(column_type, IntegerType | LongType):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
    elif isinstance(column_type, DecimalType):
        if isinstance(value, int | float):
            exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            if -exact.as_tuple().exponent <= column_type.scale:
                # pyiceberg wants the column's scale; quantizing to it is exact here.
                return exact.quantize(Decimal(1).scaleb(-column_type.scale))
    elif isinstance(column_type, FloatType | DoubleType):
        if isinstance(value, int | float):
            return float(value)
    elif isinstance(column_type, StringType):
        if isinstance(value, str):
            return value
    elif isinstance(column_type, BooleanType):
        return value
    elif isinstance(column_type, DateType):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, str):
            return dt.date.fromisoformat(value).isoformat()
    elif isinstance(column_type, TimestampType | TimestamptzType):
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime):
            aware = value.tzinfo is not None
            if aware == isinstance(column_type, TimestamptzType):
                return value.isoformat()
    raise _Skip
