"""The one table of type families: what a value is, as far as any type rule cares.

Lowering uses it to hold a parameter to what it meets without knowing the table (DP0306);
`--check` maps the table's Iceberg types onto the same kinds (check/kinds.py).
"""

from __future__ import annotations

import enum

from sqlglot import exp

from ..spec.ir import ParamType


class Kind(enum.Enum):
    """What a value is; OTHER (uuid, binary, nested…) is not judged."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    OTHER = "other"


TIME = frozenset({Kind.DATE, Kind.TIMESTAMP})

_SCALAR_KINDS = {
    ParamType.STRING: Kind.STRING,
    ParamType.INTEGER: Kind.NUMBER,
    ParamType.NUMBER: Kind.NUMBER,
    ParamType.BOOLEAN: Kind.BOOLEAN,
    ParamType.DATE: Kind.DATE,
    ParamType.TIMESTAMP: Kind.TIMESTAMP,
}
# A list parameter is judged by its values' kind: `region IN :regions` compares strings.
PARAMETER_KINDS = {t: _SCALAR_KINDS[t.element] for t in ParamType}


def family(kind: Kind) -> str:
    """Kinds that may meet in a comparison share a family: dates and timestamps are 'time'.

    >>> family(Kind.DATE), family(Kind.NUMBER)
    ('time', 'number')
    """
    return "time" if kind in TIME else kind.value


def parameter_family(type_: ParamType) -> str:
    """The family of a declared parameter type.

    >>> parameter_family(ParamType.INTEGER)
    'number'
    """
    return family(PARAMETER_KINDS[type_])


def cast_kind(to: exp.DataType) -> Kind | None:
    """The kind of what `CAST(… AS to)` gives; None for a type no rule judges."""
    this = to.this
    if this in exp.DataType.TEXT_TYPES:
        return Kind.STRING
    if this in exp.DataType.NUMERIC_TYPES:
        return Kind.NUMBER
    if this == exp.DataType.Type.BOOLEAN:
        return Kind.BOOLEAN
    if this == exp.DataType.Type.DATE:
        return Kind.DATE
    if this in exp.DataType.TEMPORAL_TYPES:
        return Kind.TIMESTAMP
    return None


# Iceberg's widest decimal: a longer number literal has no exact type in the pod's engines.
MAX_DECIMAL_DIGITS = 38


def literal_problem(node: exp.Literal) -> str | None:
    """Why a number written in an expression cannot be carried, if it cannot.

    >>> literal_problem(exp.Literal.number("12.5")) is None
    True
    >>> literal_problem(exp.Literal.number("1" * 39))
    'number 111111111111111111111111111111111111111 has more than 38 digits (DECIMAL(38))'
    >>> literal_problem(exp.Literal.number("1e400")) is None  # a DOUBLE: infinity, not an error
    True
    """
    if node.is_string:
        return None
    text = node.this
    mantissa, _, exponent = text.lower().partition("e")
    if exponent:
        return None
    digits = mantissa.lstrip("+-").replace(".", "").lstrip("0")
    if len(digits) > MAX_DECIMAL_DIGITS:
        return f"number {text} has more than {MAX_DECIMAL_DIGITS} digits (DECIMAL(38))"
    return None


# Scalar types DuckDB hands to Arrow as something else: an answer holding them would be wrong,
# not refused (each measured with DuckDB's Arrow export).
_ANSWERED_WRONG = {
    # Arrow's time64 without the offset: 12:00+02 answered as 12:00. No Iceberg type holds it.
    exp.DataType.Type.TIMETZ: (
        "a time's zone offset would be dropped from the answer; cast to TIMESTAMPTZ (an instant) "
        "or TIME"
    ),
    # UHUGEINT as a signed decimal128(38, 0): 2^128 - 1 answered as -1.
    exp.DataType.Type.UINT128: (
        "values from 2^127 on would be answered as negative numbers; cast to HUGEINT or "
        "DECIMAL(38, 0)"
    ),
    # BIT as DuckDB's internal bytes (CAST(1 AS BIT) answered as base64 of 00 00 00 00 00 01).
    exp.DataType.Type.BIT: (
        "a bit string would be answered as DuckDB's internal bytes; cast to text"
    ),
}


def cast_problem(node: exp.Cast) -> str | None:
    """Why a CAST's target type cannot be served, if it cannot: a pod's answers and rules know
    scalar kinds only (MAP, STRUCT, LIST passed `--check` and failed every request), and a few
    scalar types would reach the answer changed (_ANSWERED_WRONG).

    >>> import sqlglot
    >>> cast_problem(sqlglot.parse_one("CAST(a AS MAP(VARCHAR, VARCHAR))", read="duckdb"))
    "CAST to 'MAP(TEXT, TEXT)' is not allowed: cast to text, a number, boolean, date or timestamp"
    >>> cast_problem(sqlglot.parse_one("CAST(a AS TIME WITH TIME ZONE)", read="duckdb"))[:26]
    "CAST to 'TIMETZ' is not al"
    """
    to = node.to
    shown = to.sql(dialect="duckdb")
    wrong = _ANSWERED_WRONG.get(to.this)
    if wrong is not None:
        return f"CAST to '{shown}' is not allowed: {wrong}"
    if cast_kind(to) is None:
        return (
            f"CAST to '{shown}' is not allowed: cast to text, a number, boolean, date or timestamp"
        )
    return None
