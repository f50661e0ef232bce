"""The kinds `--check` gives Iceberg columns and sqlglot nodes, and which kinds may meet.

The kinds and their families are the compiler's one type table (compiler/sql/types.py); this
module adds what only a live table tells: the Iceberg types, and DuckDB's rules for functions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyiceberg import types as iceberg
from sqlglot import exp

from ..spec.ir import Parameter
from ..sql.types import TIME, Kind, family

_ICEBERG_KINDS: tuple[tuple[tuple[type[iceberg.IcebergType], ...], Kind], ...] = (
    ((iceberg.StringType,), Kind.STRING),
    (
        (
            iceberg.IntegerType,
            iceberg.LongType,
            iceberg.FloatType,
            iceberg.DoubleType,
            iceberg.DecimalType,
        ),
        Kind.NUMBER,
    ),
    ((iceberg.BooleanType,), Kind.BOOLEAN),
    ((iceberg.DateType,), Kind.DATE),
    (
        (
            iceberg.TimestampType,
            iceberg.TimestamptzType,
            iceberg.TimestampNanoType,
            iceberg.TimestamptzNanoType,
        ),
        Kind.TIMESTAMP,
    ),
)

# What each aggregate accepts (DuckDB: sum takes booleans, avg and quantile_cont take dates;
# count, approx_count_distinct, min, max, median and quantile_disc take anything).
AGGREGATE_ARGUMENTS: dict[type[exp.Expression], tuple[str, frozenset[Kind]]] = {
    exp.Sum: ("sum", frozenset({Kind.NUMBER, Kind.BOOLEAN})),
    exp.Avg: ("avg", frozenset({Kind.NUMBER, *TIME})),
    exp.Stddev: ("stddev", frozenset({Kind.NUMBER})),
    exp.Variance: ("variance", frozenset({Kind.NUMBER})),
    exp.CountIf: ("count_if", frozenset({Kind.BOOLEAN})),
    exp.PercentileCont: ("quantile_cont", frozenset({Kind.NUMBER, *TIME})),
}

# The kind of an aggregate's result, where it does not follow its argument's (min, max,
# quantile_disc give their argument's kind; median and quantile_cont a number for numbers and a
# timestamp for dates and timestamps: AGGREGATE_INTERPOLATES).
AGGREGATE_RESULTS: dict[type[exp.Expression], Kind] = {
    exp.Count: Kind.NUMBER,
    exp.CountIf: Kind.NUMBER,
    exp.ApproxDistinct: Kind.NUMBER,
    exp.Sum: Kind.NUMBER,
    exp.Stddev: Kind.NUMBER,
    exp.Variance: Kind.NUMBER,
}
AGGREGATE_INTERPOLATES = (exp.Avg, exp.Median, exp.PercentileCont)

# Scalar functions: the argument that must be of a kind, and the kinds it may be.
FUNCTION_ARGUMENTS: dict[type[exp.Expression], tuple[str, str, frozenset[Kind]]] = {
    exp.Year: ("year", "this", TIME),
    exp.Quarter: ("quarter", "this", TIME),
    exp.Month: ("month", "this", TIME),
    exp.Day: ("day", "this", TIME),
    exp.Extract: ("extract", "expression", TIME),
    exp.Hour: ("hour", "this", TIME),
    exp.Minute: ("minute", "this", TIME),
    exp.DayOfWeek: ("dayofweek", "this", TIME),
    exp.TimeToStr: ("strftime", "this", TIME),
    exp.ByteLength: ("octet_length", "this", frozenset({Kind.STRING})),
    exp.DateTrunc: ("date_trunc", "this", TIME),
    exp.TimestampTrunc: ("date_trunc", "this", TIME),
    exp.Lower: ("lower", "this", frozenset({Kind.STRING})),
    exp.Upper: ("upper", "this", frozenset({Kind.STRING})),
    exp.Trim: ("trim", "this", frozenset({Kind.STRING})),
    exp.Length: ("length", "this", frozenset({Kind.STRING})),
    exp.Substring: ("substring", "this", frozenset({Kind.STRING})),
    exp.StartsWith: ("starts_with", "this", frozenset({Kind.STRING})),
    exp.Abs: ("abs", "this", frozenset({Kind.NUMBER})),
    exp.Ceil: ("ceil", "this", frozenset({Kind.NUMBER})),
    exp.Floor: ("floor", "this", frozenset({Kind.NUMBER})),
    exp.Round: ("round", "this", frozenset({Kind.NUMBER})),
}

# The kind of what a scalar function returns, where it does not depend on its arguments.
FUNCTION_RESULTS: dict[type[exp.Expression], Kind] = {
    exp.Year: Kind.NUMBER,
    exp.Quarter: Kind.NUMBER,
    exp.Month: Kind.NUMBER,
    exp.Day: Kind.NUMBER,
    exp.Extract: Kind.NUMBER,
    exp.Hour: Kind.NUMBER,
    exp.Minute: Kind.NUMBER,
    exp.DayOfWeek: Kind.NUMBER,
    exp.ByteLength: Kind.NUMBER,
    exp.TimeToStr: Kind.STRING,
    exp.RegexpLike: Kind.BOOLEAN,
    exp.Length: Kind.NUMBER,
    exp.Abs: Kind.NUMBER,
    exp.Ceil: Kind.NUMBER,
    exp.Floor: Kind.NUMBER,
    exp.Round: Kind.NUMBER,
    exp.Lower: Kind.STRING,
    exp.Upper: Kind.STRING,
    exp.Trim: Kind.STRING,
    exp.Substring: Kind.STRING,
    exp.Concat: Kind.STRING,
    exp.DPipe: Kind.STRING,
    exp.CurrentDate: Kind.DATE,
    exp.CurrentTimestamp: Kind.TIMESTAMP,
    exp.TimestampTrunc: Kind.TIMESTAMP,
    exp.DateTrunc: Kind.TIMESTAMP,
}

# Functions whose arguments must be of one kind, as DuckDB combines them.
SAME_KIND = (exp.Coalesce, exp.Greatest, exp.Least, exp.Nullif)

# Text DuckDB reads as a boolean.
_BOOLEAN_TEXT = {"true", "false", "t", "f", "yes", "no", "y", "n", "1", "0", "on", "off"}


@dataclass(frozen=True, slots=True)
class Typed:
    """An operand as the checks see it: its kind (None: unknown), how to name it in a message,
    whether it is a request parameter, its text if it is a string literal, and whether it
    reads a table column (only problems involving the table are this stage's to report)."""

    kind: Kind | None
    what: str
    parameter: Parameter | None = None
    text: str | None = None
    reads_table: bool = False
    column_type: iceberg.IcebergType | None = None


def kind_of(iceberg_type: iceberg.IcebergType) -> Kind:
    """The checks' kind of an Iceberg column type.

    >>> kind_of(iceberg.DecimalType(10, 2)).value
    'number'
    """
    for types, kind in _ICEBERG_KINDS:
        if isinstance(iceberg_type, types):
            return kind
    return Kind.OTHER


def compatible(left: Typed, right: Typed) -> bool:
    """Whether DuckDB compares the two without error, parameters held to their family."""
    if None in (left.kind, right.kind) or Kind.OTHER in (left.kind, right.kind):
        return True
    if left.parameter is not None or right.parameter is not None:
        return family(left.kind) == family(right.kind)
    if family(left.kind) == family(right.kind):
        return True
    for one, other in ((left, right), (right, left)):
        if one.text is not None:  # a string literal is cast to the other side's type
            return text_fits(one.text, other.kind)
    return {left.kind, right.kind} == {Kind.NUMBER, Kind.BOOLEAN}


def text_fits(text: str, kind: Kind) -> bool:
    """Whether DuckDB can cast this string literal to `kind`.

    >>> text_fits("2024-01-01", Kind.DATE), text_fits("20240101x", Kind.DATE)
    (True, False)
    """
    text = text.strip()
    try:
        if kind is Kind.NUMBER:
            float(text)
        elif kind in TIME:
            dt.datetime.fromisoformat(text)
        elif kind is Kind.BOOLEAN:
            return text.lower() in _BOOLEAN_TEXT
    except ValueError:
        return False
    return True


def kinds_text(allowed: frozenset[Kind]) -> str:
    """The kinds, for a message: `number, date or timestamp`."""
    order = [Kind.NUMBER, Kind.STRING, Kind.BOOLEAN, Kind.DATE, Kind.TIMESTAMP]
    names = [k.value for k in order if k in allowed]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def arguments(node: exp.Expression) -> list[exp.Expression]:
    """Every argument of a function call, in order."""
    found = [node.this, node.args.get("expression"), *node.expressions]
    return [a for a in found if a is not None]
