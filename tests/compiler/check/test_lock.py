"""The schema lock `--check` finds (compiler/check/lock.py): each answer column's type as the
README's "Types in answers" gives it, for the forms a spec may take, and columns answered as
read keeping their exact Iceberg type."""

from __future__ import annotations

import pytest
from factories import parameter, pod, projection, reduction
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    DateType,
    DecimalType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestampNanoType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

from compiler.check.lock import schema_lock
from compiler.sql.lower import lower

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "quantity", IntegerType()),
    NestedField(3, "price", DecimalType(10, 2)),
    NestedField(4, "day", DateType()),
    NestedField(5, "at", TimestamptzType()),
    NestedField(6, "label", StringType()),
    NestedField(7, "key", UUIDType()),
    NestedField(8, "tags", ListType(9, StringType())),
    NestedField(10, "blob", BinaryType()),
    NestedField(11, "clock", TimeType()),
    NestedField(12, "nanos", TimestampNanoType()),
)

CASES = [
    # Answered as read: the table's own type, also where DuckDB would say less (uuid, list).
    (
        projection("key", "tags", "blob", "clock", "nanos"),
        (),
        {
            "key": "uuid",
            "tags": "list<string>",
            "blob": "binary",
            "clock": "time",
            "nanos": "timestamp_ns",
        },
    ),
    # README: an aggregate over an expression takes DuckDB's type of it (a decimal sum).
    (
        reduction(("day",), amount="sum(quantity * price)"),
        (),
        {"day": "date", "amount": "decimal(38, 2)"},
    ),
    (reduction(n="count(DISTINCT key)", mean="avg(quantity)"), (), {"n": "long", "mean": "double"}),
    (reduction(total="sum(quantity)"), (), {"total": "long"}),  # 128-bit in DuckDB, int64 answered
    (
        reduction(last="max(at)", first="min(nanos)"),
        (),
        {"last": "timestamptz", "first": "timestamp_ns"},
    ),
    (
        reduction(("label",), median="median(price)"),
        (),
        {"label": "string", "median": "decimal(10, 2)"},
    ),
    # Parameters are bound with a value of their type while DuckDB types the query.
    (projection("id", "day"), (parameter("since", "date"),), {"id": "long", "day": "date"}),
]


@pytest.mark.parametrize(("query", "parameters", "expected"), CASES)
def test_the_answer_types(query, parameters, expected):
    filters = ("day >= :since",) if parameters else ()
    compiled_pod = pod(query, parameters=parameters, filters=filters)
    compiled, problems = lower(compiled_pod)
    assert compiled is not None, problems
    lock = schema_lock(compiled_pod, compiled, SCHEMA)
    assert dict(lock.columns) == expected
    assert [name for name, _ in lock.columns] == list(compiled.columns)
    assert dict(lock.table_columns) == {
        name: str(SCHEMA.find_field(name).field_type) for name in compiled.read_columns
    }


def test_no_lock_when_duckdb_cannot_type_the_query():
    compiled_pod = pod(reduction(total="sum(label)"))
    compiled, _ = lower(compiled_pod)
    assert schema_lock(compiled_pod, compiled, SCHEMA) is None
