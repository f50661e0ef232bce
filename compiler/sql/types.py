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

PARAMETER_KINDS = {
    ParamType.STRING: Kind.STRING,
    ParamType.INTEGER: Kind.NUMBER,
    ParamType.NUMBER: Kind.NUMBER,
    ParamType.BOOLEAN: Kind.BOOLEAN,
    ParamType.DATE: Kind.DATE,
    ParamType.TIMESTAMP: Kind.TIMESTAMP,
}


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
