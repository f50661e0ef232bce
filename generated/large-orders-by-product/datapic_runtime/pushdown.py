"""The pushdown predicates as a pyiceberg row filter, with this request's values bound.

Each top-level conjunct is built and bound on its own; one that cannot be pushed exactly (it
names a NULL parameter or an unknown column, its value would be rounded to the column's type,
or Iceberg and DuckDB disagree on it, see _unsafe_on_floats) is left out. That is always safe:
the SQL re-applies every filter, so pushdown only decides which files and rows are read, and
must never drop a row the SQL would keep.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from pyiceberg import expressions as ex
from pyiceberg import types as ice
from pyiceberg.expressions.visitors import bind
from pyiceberg.schema import Schema

from .predicates import (
    Comparison,
    Junction,
    Literal,
    Membership,
    Negation,
    NullCheck,
    Predicate,
    Value,
)

log = logging.getLogger("datapic.pod")

_COMPARISONS = {
    "eq": ex.EqualTo,
    "ne": ex.NotEqualTo,
    "lt": ex.LessThan,
    "le": ex.LessThanOrEqual,
    "gt": ex.GreaterThan,
    "ge": ex.GreaterThanOrEqual,
    "starts_with": ex.StartsWith,
}
_NEGATED = {"eq": "ne", "ne": "eq", "lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}
# A float64 holds every integer below 2**53 exactly; DuckDB compares BIGINT with DOUBLE as doubles.
_EXACT_FLOAT_INT = 2**53
# Decimals of up to 15 significant digits survive a round trip through a double.
_EXACT_FLOAT_DIGITS = 15


class _Skip(Exception):
    """This conjunct cannot be pushed down exactly."""


def row_filter(
    predicates: Iterable[Predicate], schema: Schema, values: Mapping[str, Any]
) -> ex.BooleanExpression:
    """The AND of every conjunct that binds exactly against `schema`; AlwaysTrue if none does."""
    pushed: ex.BooleanExpression = ex.AlwaysTrue()
    for conjunct in _conjuncts(predicates):
        try:
            expression = _build(conjunct, schema, values, negated=False)
            bind(schema, expression, case_sensitive=True)
        except (_Skip, ValueError, TypeError, ArithmeticError) as exc:
            # pyiceberg could not convert or bind it (ValueError, TypeError), or the value does
            # not fit the column's type (decimal.InvalidOperation): the SQL applies it.
            log.debug("not pushed down: %r (%s)", conjunct, type(exc).__name__)
            continue
        pushed = ex.And(pushed, expression)
    return pushed


def _conjuncts(predicates: Iterable[Predicate]) -> Iterator[Predicate]:
    """Top-level AND arguments one by one, so one unpushable part does not cost the others."""
    for predicate in predicates:
        if isinstance(predicate, Junction) and predicate.op == "and":
            yield from _conjuncts(predicate.args)
        else:
            yield predicate


def _build(
    node: Predicate, schema: Schema, values: Mapping[str, Any], *, negated: bool
) -> ex.BooleanExpression:
    if isinstance(node, Junction):
        parts = [_build(arg, schema, values, negated=negated) for arg in node.args]
        return (ex.And if node.op == "and" else ex.Or)(*parts)
    if isinstance(node, Negation):
        return ex.Not(_build(node.arg, schema, values, negated=not negated))
    name, column_type = _field(schema, node.column)
    if isinstance(node, NullCheck):
        return (ex.IsNull if node.op == "is_null" else ex.NotNull)(name)
    if isinstance(node, Membership):
        literals = {_exact(column_type, v) for v in _members(node.values, values)}
        return (ex.In if node.op == "in" else ex.NotIn)(name, literals)
    if isinstance(node, Comparison):
        if node.op == "starts_with" and not isinstance(column_type, ice.StringType):
            raise _Skip
        if _unsafe_on_floats(column_type, node.op, negated):
            raise _Skip
        return _COMPARISONS[node.op](name, _exact(column_type, _resolve(node.value, values)))
    raise _Skip


def _field(schema: Schema, column: str) -> tuple[str, ice.IcebergType]:
    """The schema's own spelling and type of `column`, found as DuckDB would (any case)."""
    try:
        found = schema.find_field(column, case_sensitive=False)
    except ValueError:
        raise _Skip from None
    return schema.find_column_name(found.field_id) or column, found.field_type


def _unsafe_on_floats(column_type: ice.IcebergType, op: str, negated: bool) -> bool:
    """DuckDB sorts NaN above every number (NaN > x is true), Iceberg says false and prunes
    NaN-only files: a pushed `>`/`>=` (or a negated `<`/`<=`) would lose NaN rows."""
    if not isinstance(column_type, ice.FloatType | ice.DoubleType):
        return False
    effective = _NEGATED.get(op, op) if negated else op
    return effective in ("gt", "ge")


def _resolve(value: Value, values: Mapping[str, Any]) -> Any:
    resolved = value.value if isinstance(value, Literal) else values.get(value.name)
    if resolved is None:
        raise _Skip  # NULL never matches in SQL, but Iceberg literals cannot be NULL
    return resolved


def _members(refs: Iterable[Value], values: Mapping[str, Any]) -> Iterator[Any]:
    """An IN list's values: a list parameter (a tuple) gives each of its values; an empty one
    gives none, which pyiceberg's In reads as AlwaysFalse (and NotIn as AlwaysTrue), as DuckDB
    reads `x IN []`."""
    for ref in refs:
        resolved = _resolve(ref, values)
        yield from resolved if isinstance(resolved, tuple) else (resolved,)


def _exact(column_type: ice.IcebergType, value: Any) -> Any:
    """`value` in a form pyiceberg compares with `column_type` as DuckDB does, else _Skip."""
    if isinstance(value, bool) != isinstance(column_type, ice.BooleanType):
        raise _Skip
    for types, convert in _CONVERTERS:
        if isinstance(column_type, types):
            converted = convert(column_type, value)
            if converted is not None:
                return converted
            break
    raise _Skip


def _to_integer(column_type: ice.IcebergType, value: Any) -> int | None:
    if isinstance(value, int):
        return value
    # DuckDB compares an integer column with a DOUBLE parameter as doubles.
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT_INT:
        return int(value)
    return None


def _to_decimal(column_type: ice.DecimalType, value: Any) -> Decimal | None:
    if isinstance(value, int):
        exact = Decimal(value)
    elif isinstance(value, float) and column_type.precision <= _EXACT_FLOAT_DIGITS:
        exact = Decimal(repr(value))  # the shortest text that reads back as this double
    else:
        return None
    if -exact.as_tuple().exponent > column_type.scale:
        return None  # pyiceberg would round it to the column's scale
    return exact.quantize(Decimal(1).scaleb(-column_type.scale))


def _to_double(column_type: ice.IcebergType, value: Any) -> float | None:
    if not isinstance(value, int | float):
        return None
    if isinstance(column_type, ice.FloatType):
        # A 32-bit column: a bound that float32 cannot hold would be rounded by pyiceberg.
        try:
            as_float32 = struct.unpack("f", struct.pack("f", value))[0]
        except OverflowError:
            return None
        return float(value) if as_float32 == value else None
    return float(value)


def _to_string(column_type: ice.IcebergType, value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _to_boolean(column_type: ice.IcebergType, value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _to_date(column_type: ice.IcebergType, value: Any) -> str | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return None


def _to_timestamp(column_type: ice.IcebergType, value: Any) -> str | None:
    # Naive values only for `timestamp`, zoned ones only for `timestamptz`: DuckDB would cast
    # across them with its session time zone, which Iceberg knows nothing about.
    zoned = isinstance(column_type, ice.TimestamptzType)
    if isinstance(value, dt.datetime) and (value.tzinfo is not None) == zoned:
        return value.isoformat()
    return None


_CONVERTERS = (
    (ice.IntegerType | ice.LongType, _to_integer),
    (ice.DecimalType, _to_decimal),
    (ice.FloatType | ice.DoubleType, _to_double),
    (ice.StringType, _to_string),
    (ice.BooleanType, _to_boolean),
    (ice.DateType, _to_date),
    (ice.TimestampType | ice.TimestamptzType, _to_timestamp),
)
