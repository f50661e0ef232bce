"""The SQL that reads a plan's files as the relation `source`, under the pod's query.

DuckDB reads the data files with `read_parquet`, columns mapped by Iceberg field id (or by the
name mapping's names, for files without field ids) in the table's current types. Files are read
in parts that share what they need, so a file without deletes or missing columns costs what a
bare `read_parquet` costs:
- a column the file may lack takes its partition value (`COALESCE` with a per-file constant);
- position deletes and deletion vectors (decoded by pyiceberg, kept per delete file) remove
  rows by (file, row number), an anti-join;
- equality deletes remove rows whose key columns equal a delete row's, NULL equal to NULL, where
  the delete is newer than the row's file and in its partition or in every partition: rows carry
  their file's sequence and partition numbers into one anti-join per key set.
When pyiceberg must read the files (types DuckDB cannot read by field id), it applies position
deletes itself and DuckDB applies the equality deletes the same way.

Every file list and per-file value is a $parameter of the engine's own, under a prefix no pod
parameter uses; Arrow tables (positions, pyiceberg's rows) are registered with the cursor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow
from pyiceberg.table import FileScanTask, Table

from .columns import Column
from .deletes import POSITIONS
from .errors import PodError
from .plan import FileRead, Plan, ScopedDelete

SEQUENCE = "__datapic_seq"
SCOPE = "__datapic_scope"
_FILE = "__datapic_file"
_ROW = "__datapic_row"
_TAGS = (SEQUENCE, SCOPE)


class _Statement:
    """The parameters and registered tables one statement names, under the engine's prefix."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, prefix: str) -> None:
        self.cursor = cursor
        self.prefix = prefix
        self.params: dict[str, Any] = {}

    def param(self, kind: str, value: Any) -> str:
        name = f"{self.prefix}{kind}{len(self.params)}"
        self.params[name] = value
        return "$" + name

    def register(self, kind: str, data: pa.Table) -> str:
        name = f"{self.prefix}{kind}{len(self.params)}"
        self.params[name] = None  # reserves the number; dropped before execution
        self.cursor.register(name, data)
        return name

    def bound(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if v is not None}


def read_planned(
    cursor: duckdb.DuckDBPyConnection, table: Table, plan: Plan, prefix: str
) -> tuple[str, dict[str, Any]]:
    """The SELECT reading `plan`'s files as the table's rows (the columns the query reads),
    and the parameters it names."""
    statement = _Statement(cursor, prefix)
    tagged = bool(plan.equality_deletes)
    if plan.via_pyiceberg or not plan.files:
        parts = [(f"SELECT * FROM {_pyiceberg_rows(statement, table, plan)}", tagged)]
    else:
        parts = _duckdb_parts(statement, table, plan)
    plain = [sql for sql, has_tags in parts if not has_tags]
    with_tags = [sql for sql, has_tags in parts if has_tags]
    if with_tags:
        tagged_files = [f for f in plan.files if f.task.equality_deletes]
        plain.append(_without_equality_deletes(statement, plan, with_tags, tagged_files))
    union = " UNION ALL BY NAME ".join(plain)
    wanted = ", ".join(_identifier(c.name) for c in plan.columns if c.read_by_query)
    return f"SELECT {wanted} FROM ({union})", statement.bound()


# --- files DuckDB reads ---------------------------------------------------------------------


def _duckdb_parts(statement: _Statement, table: Table, plan: Plan) -> list[tuple[str, bool]]:
    """One read per group of files needing the same treatment: (SQL, carries the tags)."""
    groups: dict[tuple, list[FileRead]] = defaultdict(list)
    for file in plan.files:
        groups[_needs(file)].append(file)
    parts = []
    for (names, equality, positions, constants), files in groups.items():
        sql = _read_files(statement, plan.columns, files, names, equality, constants, positions)
        if positions:
            sql = _without_positions(statement, table, files, sql)
        parts.append((sql, equality))
    return parts


def _needs(file: FileRead) -> tuple:
    """What reading `file` takes beyond a bare read_parquet; files alike are read together."""
    return (
        file.names,
        bool(file.task.equality_deletes),
        bool(file.task.position_deletes),
        any(c is not None for c in file.constants),
    )


def _read_files(
    statement: _Statement,
    columns: Sequence[Column],
    files: Sequence[FileRead],
    names: tuple[str, ...] | None,
    tagged: bool,
    constants: bool,
    positions: bool,
) -> str:
    keys = list(names) if names is not None else [c.field_id for c in columns]
    fields = [{"name": c.name, "type": c.duckdb_type, "default_value": c.default} for c in columns]
    index = "file_index::BIGINT + 1"
    select = []
    for i, c in enumerate(columns):
        values = [f.constants[i] for f in files]
        if constants and any(v is not None for v in values):
            constant = f"CAST({statement.param('const', values)}[{index}] AS {c.duckdb_type})"
            select.append(f"COALESCE({_identifier(c.name)}, {constant}) AS {_identifier(c.name)}")
        else:
            select.append(_identifier(c.name))
    if tagged:
        sequences = statement.param("seq", [f.task.sequence_number for f in files])
        scopes = statement.param("scope", [f.scope for f in files])
        select.append(f"{sequences}[{index}]::BIGINT AS {SEQUENCE}")
        select.append(f"{scopes}[{index}]::BIGINT AS {SCOPE}")
    if positions:
        select.append(f"file_index AS {_FILE}, file_row_number AS {_ROW}")
    paths = statement.param("files", [f.path for f in files])
    schema = f"MAP({statement.param('ids', keys)}, {statement.param('fields', fields)})"
    row_numbers = ", file_row_number = true" if positions else ""
    return f"SELECT {', '.join(select)} FROM read_parquet({paths}, schema = {schema}{row_numbers})"


def _without_positions(
    statement: _Statement, table: Table, files: Sequence[FileRead], sql: str
) -> str:
    """`sql`'s rows less those the files' position deletes and deletion vectors remove."""
    deleted = []
    for number, file in enumerate(files):
        task = file.task
        rows = POSITIONS.deleted_rows(table.io, task.file.file_path, task.position_deletes)
        numbers = pa.repeat(pa.scalar(number, pa.uint64()), len(rows))
        deleted.append(pa.table({"file": numbers, "pos": rows}))
    positions = statement.register("positions", pa.concat_tables(deleted))
    return (
        f"SELECT * EXCLUDE ({_FILE}, {_ROW}) FROM ({sql}) AS d "
        f"ANTI JOIN {positions} AS p ON d.{_FILE} = p.file AND d.{_ROW} = p.pos"
    )


# --- files pyiceberg reads ------------------------------------------------------------------


def _pyiceberg_rows(statement: _Statement, table: Table, plan: Plan) -> str:
    """The files through pyiceberg's reader (it applies position deletes), tagged for the
    equality deletes if there are any, registered with the cursor."""
    if not plan.files:
        rows = schema_to_pyarrow(plan.projection).empty_table()
        if plan.equality_deletes:
            rows = _tag(rows, 0, 0)
        return statement.register("rows", rows)
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


# --- equality deletes -----------------------------------------------------------------------


def _without_equality_deletes(
    statement: _Statement, plan: Plan, tagged_parts: Iterable[str], files: Sequence[FileRead]
) -> str:
    """The tagged rows (of `files`) less those an applicable equality delete removes.

    A condition every pair meets is left out, since each costs per row: the partition when the
    files and deletes share one, the sequence when every delete is newer than every file.
    """
    by_id = {c.field_id: c for c in plan.columns}
    groups: dict[tuple, list[ScopedDelete]] = defaultdict(list)
    for scoped in plan.equality_deletes:
        groups[(scoped.delete.equality_ids, scoped.scope is None)].append(scoped)
    union = " UNION ALL BY NAME ".join(tagged_parts)
    sql = f"SELECT * FROM ({union}) AS d"
    for number, ((ids, everywhere), deletes) in enumerate(groups.items()):
        keys = [by_id[i] for i in ids]
        alias = f"e{number}"
        rows = _delete_rows(statement, keys, deletes, everywhere)
        match = [
            f"d.{_identifier(k.name)} IS NOT DISTINCT FROM {alias}.k{k.field_id}" for k in keys
        ]
        if not everywhere and len({f.scope for f in files} | {d.scope for d in deletes}) > 1:
            match.append(f"d.{SCOPE} = {alias}.{SCOPE}")
        if min(d.delete.sequence_number for d in deletes) <= max(
            f.task.sequence_number for f in files
        ):
            match.append(f"{alias}.{SEQUENCE} > d.{SEQUENCE}")
        sql += f" ANTI JOIN ({rows}) AS {alias} ON {' AND '.join(match)}"
    return f"SELECT * EXCLUDE ({SEQUENCE}, {SCOPE}) FROM ({sql})"


def _delete_rows(
    statement: _Statement, keys: Sequence[Column], deletes: Sequence[ScopedDelete], everywhere: bool
) -> str:
    """The key columns of equality delete files (by field id), with each file's sequence
    number and partition number."""
    for key in keys:
        if key.duckdb_type is None:
            raise PodError(
                501,
                f"equality deletes keyed on column '{key.name}' of type {key.iceberg_type} "
                "cannot be applied by the pod; compact the table to serve it",
            )
    fields = [
        {"name": f"k{k.field_id}", "type": k.duckdb_type, "default_value": None} for k in keys
    ]
    index = "file_index::BIGINT + 1"
    sequences = statement.param("dseq", [d.delete.sequence_number for d in deletes])
    select = [f"k{k.field_id}" for k in keys] + [f"{sequences}[{index}]::BIGINT AS {SEQUENCE}"]
    if not everywhere:
        scopes = statement.param("dscope", [d.scope for d in deletes])
        select.append(f"{scopes}[{index}]::BIGINT AS {SCOPE}")
    paths = statement.param("deletes", [d.path for d in deletes])
    ids = statement.param("dids", [k.field_id for k in keys])
    schema = f"MAP({ids}, {statement.param('dfields', fields)})"
    return f"SELECT {', '.join(select)} FROM read_parquet({paths}, schema = {schema})"


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
