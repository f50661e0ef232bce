"""SQL that reads data files with DuckDB as the plan says, shared by source.py (the rows of a
request) and equality.py (the rows equality deletes remove).

Columns are mapped by Iceberg field id, or by the name mapping's names for files without field
ids, in the table's current types; a column a file may lack takes the file's partition value
(`COALESCE` with a per-file constant). Per-file values are lists indexed by DuckDB's
`file_index`. Every list and file name is a $parameter under the engine's own prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from .columns import Column
from .plan import FileRead

# Columns the engine adds to rows: the file's sequence and partition numbers (equality
# deletes compare them), its number in the read and the row's position in it.
SEQUENCE = "__datapic_seq"
SCOPE = "__datapic_scope"
FILE = "__datapic_file"
ROW = "__datapic_row"
# The 1-based list index of the file a row comes from.
_PER_FILE = "[file_index::BIGINT + 1]"


class Statement:
    """The parameters and registered Arrow tables one statement names, under the prefix."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, prefix: str) -> None:
        self.cursor = cursor
        self.prefix = prefix
        self._params: dict[str, Any] = {}
        self._count = 0

    def param(self, kind: str, value: Any) -> str:
        """A $parameter holding `value`."""
        name = self._name(kind)
        self._params[name] = value
        return "$" + name

    def per_file(self, kind: str, values: Sequence[Any], sql_type: str) -> str:
        """An expression giving each row its file's entry of `values`."""
        return f"CAST({self.param(kind, list(values))}{_PER_FILE} AS {sql_type})"

    def register(self, kind: str, data: pa.Table) -> str:
        """A name under which the statement reads `data`."""
        name = self._name(kind)
        self.cursor.register(name, data)
        return name

    def bound(self) -> dict[str, Any]:
        """The values of the statement's parameters."""
        return dict(self._params)

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{self.prefix}{kind}{self._count}"


def read_files(
    statement: Statement,
    columns: Sequence[Column],
    files: Sequence[FileRead],
    *,
    tags: bool = False,
    row_numbers: bool = False,
    by_name: bool = False,
) -> str:
    """SELECT `columns` (of the plan's, by their position there) from `files`, which share
    their names (`FileRead.names`); with each row's file sequence and partition numbers if
    `tags`, its file number and row position if `row_numbers`. `by_name`: the files hold each
    column under its name, field id and type (layouts.py), so no field-id schema is needed."""
    select = [_column(statement, c, files) for c in columns]
    if tags:
        sequences = statement.per_file("seq", [f.task.sequence_number for f in files], "BIGINT")
        scopes = statement.per_file("scope", [f.scope for f in files], "BIGINT")
        select += [f"{sequences} AS {SEQUENCE}", f"{scopes} AS {SCOPE}"]
    if row_numbers:
        select.append(f"file_index AS {FILE}, file_row_number AS {ROW}")
    paths = statement.param("files", [f.path for f in files])
    # Hive-style directory names (region=EMEA/) must never stand in for the files' values.
    mapping = "hive_partitioning = false" if by_name else _schema(statement, columns, files)
    options = ", file_row_number = true" if row_numbers else ""
    return f"SELECT {', '.join(select)} FROM read_parquet({paths}, {mapping}{options})"


def _schema(statement: Statement, columns: Sequence[Column], files: Sequence[FileRead]) -> str:
    """read_parquet's option mapping each column by field id (or by the file's own name for
    files without field ids) to its name and current type."""
    names = files[0].names
    keys = [names[c.position] for c in columns] if names else [c.field_id for c in columns]
    fields = [{"name": c.name, "type": c.duckdb_type, "default_value": c.default} for c in columns]
    return f"schema = MAP({statement.param('ids', keys)}, {statement.param('fields', fields)})"


def _column(statement: Statement, column: Column, files: Sequence[FileRead]) -> str:
    """The column as read, or its partition value where a file may lack it."""
    quoted = identifier(column.name)
    values = [f.constants[column.position] for f in files]
    if all(v is None for v in values):
        return quoted
    constant = statement.per_file("const", values, str(column.duckdb_type))
    return f"COALESCE({quoted}, {constant}) AS {quoted}"


def identifier(name: str) -> str:
    """`name` as a quoted SQL identifier.

    >>> identifier('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'
