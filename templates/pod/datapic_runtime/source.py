"""The SQL that reads a plan's files as the relation `source`, under the pod's query.

Files DuckDB can read directly go through `read_parquet`, columns mapped by Iceberg field id;
the others are read by pyiceberg (which applies their deletes) and registered with the cursor.
Both are named by $parameters of the engine's own, under a prefix no pod parameter uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.table import Table

from .plan import Plan


def read_planned(
    cursor: duckdb.DuckDBPyConnection, table: Table, plan: Plan, prefix: str
) -> tuple[str, dict[str, Any]]:
    """The SELECT reading `plan`'s files as the table's rows, and the parameters naming those
    files (the pyiceberg-read ones are registered with `cursor` as `<prefix>fallback`)."""
    parts, params = [], {}
    if plan.direct_files:
        parts.append(
            f"SELECT * FROM read_parquet(${prefix}files, "
            f"schema = MAP(${prefix}ids, ${prefix}fields))"
        )
        params[f"{prefix}files"] = list(plan.direct_files)
        params[f"{prefix}ids"] = [c.field_id for c in plan.columns]
        params[f"{prefix}fields"] = [
            {"name": c.name, "type": c.duckdb_type, "default_value": None} for c in plan.columns
        ]
    if plan.fallback_tasks or not plan.direct_files:
        cursor.register(f"{prefix}fallback", _read_with_pyiceberg(table, plan))
        if plan.direct_files:
            casts = ", ".join(
                f"CAST({_identifier(c.name)} AS {c.duckdb_type}) AS {_identifier(c.name)}"
                for c in plan.columns
            )
            parts.append(f"SELECT {casts} FROM {prefix}fallback")
        else:
            parts.append(f"SELECT * FROM {prefix}fallback")
    return " UNION ALL BY NAME ".join(parts), params


def _read_with_pyiceberg(table: Table, plan: Plan) -> pa.Table:
    """The fallback files through pyiceberg's reader, which applies positional deletes."""
    if not plan.fallback_tasks:
        return schema_to_pyarrow(plan.projection).empty_table()
    scan = ArrowScan(table.metadata, table.io, plan.projection, plan.row_filter)
    return scan.to_table(plan.fallback_tasks)


def _identifier(name: str) -> str:
    """`name` as a quoted SQL identifier.

    >>> _identifier('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def with_source(source: str, sql: str) -> str:
    """`sql` with `source` defined as a common table expression (inlined, so filters and
    column selection reach the Parquet reader).

    >>> with_source("SELECT 1 AS x", "WITH y AS (SELECT x FROM source) SELECT * FROM y")
    'WITH source AS NOT MATERIALIZED (SELECT 1 AS x), y AS (SELECT x FROM source) SELECT * FROM y'
    """
    definition = f"source AS NOT MATERIALIZED ({source})"
    head = sql.lstrip()
    if head[:4].upper() == "WITH" and head[4:5].isspace():
        return f"WITH {definition}, {head[5:]}"
    return f"WITH {definition}\n{sql}"


def parameter_prefix(names: Iterable[str]) -> str:
    """A prefix for the engine's own $parameters that no declared parameter starts with.

    >>> parameter_prefix(["region", "datapic_files"])
    '_datapic_'
    """
    taken = list(names)
    prefix = "datapic_"
    while any(name.startswith(prefix) for name in taken):
        prefix = "_" + prefix
    return prefix
