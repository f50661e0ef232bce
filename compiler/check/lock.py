"""For `--check`: the schema lock of a pod, the types of the columns it reads and answers.

The table's columns come from the live schema. The answer's are DuckDB's, found by running the
pod's own SQL over an empty table of the read columns (as pyiceberg turns them into Arrow) with
a value of each parameter's type bound: so every form the SQL may take (aggregates, casts,
expressions) is typed by the engine that answers, not by a second set of rules here. Like the
pod, 128-bit integer results are int64 (`long`), and a column answered as read keeps its exact
Iceberg type (`uuid`, `timestamp_ns`, nested types), which DuckDB would only approximate.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema

from ..spec.ir import CompiledQuery, Pod, SchemaLock

# The pod's DuckDB session time zone (datapic_runtime/database.py TIME_ZONE).
_TIME_ZONE = "UTC"

# A value of each parameter type, bound so that DuckDB types the query as the pod would.
_SAMPLES: dict[str, Any] = {
    "string": "",
    "integer": 0,
    "number": 0.0,
    "boolean": False,
    "date": dt.date(2000, 1, 1),
    "timestamp": dt.datetime(2000, 1, 1),
}

# DuckDB's result types in Iceberg's names; the pod narrows 128-bit integers to int64.
_ICEBERG_NAMES = {
    "BOOLEAN": "boolean",
    "TINYINT": "int",
    "SMALLINT": "int",
    "INTEGER": "int",
    "BIGINT": "long",
    "HUGEINT": "long",
    "UHUGEINT": "long",
    "FLOAT": "float",
    "DOUBLE": "double",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIMESTAMP_NS": "timestamp_ns",
    "VARCHAR": "string",
    "BLOB": "binary",
    "UUID": "uuid",
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def schema_lock(pod: Pod, query: CompiledQuery, schema: Schema) -> SchemaLock | None:
    """The pod's lock against `schema`; None when DuckDB cannot type the query (the checks
    have then said why, or the pod will)."""
    try:
        fields = [schema.find_field(name) for name in query.read_columns]
    except ValueError:
        return None
    read = Schema(*fields)
    try:
        found = _answer_types(pod, query, schema_to_pyarrow(read))
    except (duckdb.Error, pa.ArrowException, ValueError, TypeError):
        return None
    as_read = {
        name: (str(f.field_type), found.get(("source", name)))
        for name, f in zip(query.read_columns, fields, strict=True)
    }
    columns = []
    for name in query.columns:
        duckdb_type = found[("answer", name)]
        table_type, read_as = as_read.get(name, (None, None))
        same = table_type is not None and duckdb_type == read_as
        columns.append((name, table_type if same else iceberg_name(duckdb_type)))
    return SchemaLock(
        table_columns=tuple((name, t) for name, (t, _) in as_read.items()),
        columns=tuple(columns),
    )


def _answer_types(pod: Pod, query: CompiledQuery, arrow: pa.Schema) -> dict[tuple[str, str], str]:
    """DuckDB's type of each read column ("source", name) and answer column ("answer", name)."""
    # Only those the SQL names: DuckDB refuses others (one passed through to an upstream pod
    # and used nowhere here, say).
    named = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", query.sql))
    values = {p.name: _sample(p.type.value) for p in pod.parameters if p.name in named}
    with duckdb.connect() as connection:
        connection.execute(f"SET TimeZone = '{_TIME_ZONE}'")
        connection.register("source", arrow.empty_table())
        source = connection.sql("SELECT * FROM source")
        answer = connection.sql(query.sql, params=values or None)
        return {
            **{("source", n): str(t) for n, t in zip(source.columns, source.types, strict=True)},
            **{("answer", n): str(t) for n, t in zip(query.columns, answer.types, strict=True)},
        }


def _sample(type_name: str) -> Any:
    """A value of a parameter type (`string[]`: a list of one string)."""
    if type_name.endswith("[]"):
        return [_SAMPLES.get(type_name[:-2])]
    return _SAMPLES.get(type_name)


def iceberg_name(duckdb_type: str) -> str:
    """A DuckDB type in Iceberg's name for it, lower case DuckDB's where Iceberg has none.

    >>> iceberg_name("DECIMAL(38,2)"), iceberg_name("HUGEINT"), iceberg_name("INTEGER[]")
    ('decimal(38, 2)', 'long', 'integer[]')
    """
    decimal = _DECIMAL.fullmatch(duckdb_type)
    if decimal:
        return f"decimal({decimal[1]}, {decimal[2]})"
    return _ICEBERG_NAMES.get(duckdb_type, duckdb_type.lower())
