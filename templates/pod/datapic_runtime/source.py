"""The SQL that reads a plan's files as the relation `source`, under the pod's query.

DuckDB reads the data files (reads.py) in parts that share what they need, so a file without
deletes or missing columns costs what a bare `read_parquet` costs. Rows that position deletes,
deletion vectors (decoded by pyiceberg, kept per delete file) or equality deletes (found once
per data file, equality.py) remove go in one anti-join on (file, row number), whose small side
is the deleted rows.

When pyiceberg must read the files (types DuckDB cannot read by field id), it applies position
deletes itself and DuckDB applies the equality deletes to its rows by an anti-join on the keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.table import FileScanTask, Table

from .deletes import POSITIONS
from .equality import DELETED_ROWS, without_equality_deletes
from .layouts import LAYOUTS
from .plan import FileRead, Plan
from .reads import FILE, ROW, SCOPE, SEQUENCE, Statement, identifier, read_files


def read_planned(
    cursor: duckdb.DuckDBPyConnection, table: Table, plan: Plan, prefix: str
) -> tuple[str, dict[str, Any]]:
    """The SELECT reading `plan`'s files as the table's rows (the columns the query reads),
    and the parameters it names."""
    statement = Statement(cursor, prefix)
    if plan.via_pyiceberg or not plan.files:
        rows = f"SELECT * FROM {_pyiceberg_rows(statement, table, plan)}"
        if plan.equality_deletes:
            rows = without_equality_deletes(statement, plan, rows, plan.files)
        parts = [rows]
    else:
        equality = DELETED_ROWS.of(cursor, prefix, plan) if plan.equality_deletes else {}
        parts = _duckdb_parts(statement, table, plan, equality)
        if len(parts) == 1:  # its columns are those the query reads, in order: no wrapper
            return parts[0], statement.bound()
    union = " UNION ALL BY NAME ".join(parts)
    wanted = ", ".join(identifier(c.name) for c in plan.columns if c.read_by_query)
    return f"SELECT {wanted} FROM ({union})", statement.bound()


def _duckdb_parts(
    statement: Statement, table: Table, plan: Plan, equality: Mapping[str, pa.Array]
) -> list[str]:
    """One read per group of files needing the same treatment."""
    columns = [c for c in plan.columns if c.read_by_query]
    by_id = [f.path for f in plan.files if f.names is None]
    by_name = dict(zip(by_id, LAYOUTS.by_name(statement.cursor, by_id, columns), strict=True))
    groups: dict[tuple, list[FileRead]] = defaultdict(list)
    for file in plan.files:
        groups[(file.names, file.task.has_deletes, by_name.get(file.path, False))].append(file)
    parts = []
    for (_, deleted, named), files in groups.items():
        sql = read_files(statement, columns, files, row_numbers=deleted, by_name=named)
        if deleted:
            sql = _without_deleted_rows(statement, table, files, sql, equality)
        parts.append(sql)
    return parts


def _without_deleted_rows(
    statement: Statement,
    table: Table,
    files: Sequence[FileRead],
    sql: str,
    equality: Mapping[str, pa.Array],
) -> str:
    """`sql`'s rows less those position deletes, deletion vectors and equality deletes remove."""
    deleted = []
    for number, file in enumerate(files):
        task = file.task
        rows = POSITIONS.deleted_rows(table.io, task.file.file_path, task.position_deletes)
        if file.path in equality:
            rows = pa.concat_arrays([rows, equality[file.path]])
        numbers = pa.repeat(pa.scalar(number, pa.uint64()), len(rows))
        deleted.append(pa.table({"file": numbers, "pos": rows}))
    positions = statement.register("positions", pa.concat_tables(deleted))
    return (
        f"SELECT * EXCLUDE ({FILE}, {ROW}) FROM ({sql}) AS d "
        f"ANTI JOIN {positions} AS p ON d.{FILE} = p.file AND d.{ROW} = p.pos"
    )


def _pyiceberg_rows(statement: Statement, table: Table, plan: Plan) -> str:
    """The files through pyiceberg's reader (it applies position deletes), tagged for the
    equality deletes if there are any, registered with the cursor."""
    if not plan.files:
        rows = schema_to_pyarrow(plan.projection).empty_table()
        return statement.register("rows", _tag(rows, 0, 0) if plan.equality_deletes else rows)
    scan = ArrowScan(table.metadata, table.io, plan.projection, plan.row_filter)

    def task(file: FileRead) -> FileScanTask:
        return FileScanTask(file.task.file, delete_files=set(file.task.position_deletes))

    if not plan.equality_deletes:
        return statement.register("rows", scan.to_table([task(f) for f in plan.files]))
    read = [_tag(scan.to_table([task(f)]), f.task.sequence_number, f.scope) for f in plan.files]
    return statement.register("rows", pa.concat_tables(read))


def _tag(rows: pa.Table, sequence: int, scope: int) -> pa.Table:
    count = len(rows)
    rows = rows.append_column(SEQUENCE, pa.repeat(pa.scalar(sequence, pa.int64()), count))
    return rows.append_column(SCOPE, pa.repeat(pa.scalar(scope, pa.int64()), count))


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
