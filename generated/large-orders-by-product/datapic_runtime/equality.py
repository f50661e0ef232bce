"""Equality deletes in DuckDB: which rows of the planned files they remove.

A row is deleted when its key columns (a delete file's `equality_ids`, by field id) equal a
delete row's, NULL equal to NULL, and the delete applies to the row's file (deletes.py): newer
than the file, in its partition or in every partition. Rows and delete rows carry their file's
sequence and partition numbers; a condition every pair meets is left out, since each costs per
row (the partition when the files and deletes share one, the sequence when every delete is
newer than every file).

Files DuckDB reads: the deleted rows of each data file are found once, by a semi-join over the
file's key columns alone, and kept by (data file, the delete files that apply to it); a request
then removes them as position deletes, without reading the keys. Rows pyiceberg reads (types
DuckDB cannot read by field id) go through an anti-join instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .columns import Column
from .errors import PodError
from .plan import FileRead, Plan, ScopedDelete
from .reads import FILE, ROW, SCOPE, SEQUENCE, Statement, identifier, read_files

# Rows found deleted kept in memory, across data files: 8 bytes each, 32 MB in all.
ROWS_KEPT = 4_000_000


def without_equality_deletes(
    statement: Statement, plan: Plan, tagged: str, files: Sequence[FileRead]
) -> str:
    """The rows of `tagged` (of `files`, with their tags) less those an applicable equality
    delete removes."""
    sql = f"SELECT * FROM ({tagged}) AS d"
    for number, (keys, deletes) in enumerate(_key_sets(plan, files)):
        alias = f"e{number}"
        rows = _delete_rows(statement, keys, deletes)
        sql += f" ANTI JOIN ({rows}) AS {alias} ON {_match(keys, alias, deletes, files)}"
    return f"SELECT * EXCLUDE ({SEQUENCE}, {SCOPE}) FROM ({sql})"


class DeletedRows:
    """Positions that equality deletes remove from data files, by (data file, its deletes)."""

    def __init__(self, max_rows: int = ROWS_KEPT) -> None:
        self.max_rows = max_rows
        self._rows: OrderedDict[tuple, pa.Array] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def of(self, cursor: duckdb.DuckDBPyConnection, prefix: str, plan: Plan) -> dict[str, pa.Array]:
        """Per data file of `plan` with equality deletes, the positions they remove."""
        found, missing = {}, []
        for file in plan.files:
            if file.task.equality_deletes:
                rows = self._get(_key(file))
                if rows is None:
                    missing.append(file)
                else:
                    found[file.path] = rows
        for files in _by_names(missing).values():
            for file, rows in zip(files, _find(cursor, prefix, plan, files), strict=True):
                self._put(_key(file), rows)
                found[file.path] = rows
        return found

    def _get(self, key: tuple) -> pa.Array | None:
        with self._lock:
            rows = self._rows.get(key)
            if rows is not None:
                self._rows.move_to_end(key)
            return rows

    def _put(self, key: tuple, rows: pa.Array) -> None:
        with self._lock:
            if key in self._rows or len(rows) > self.max_rows:
                return
            self._rows[key] = rows
            self._count += len(rows)
            while self._count > self.max_rows:
                _, evicted = self._rows.popitem(last=False)
                self._count -= len(evicted)


DELETED_ROWS = DeletedRows()


def _key(file: FileRead) -> tuple:
    return (file.path, tuple(sorted(d.file.file_path for d in file.task.equality_deletes)))


def _by_names(files: Iterable[FileRead]) -> dict[Any, list[FileRead]]:
    groups: dict[Any, list[FileRead]] = defaultdict(list)
    for file in files:
        groups[file.names].append(file)
    return groups


def _find(
    cursor: duckdb.DuckDBPyConnection, prefix: str, plan: Plan, files: Sequence[FileRead]
) -> list[pa.Array]:
    """The positions equality deletes remove from each of `files` (which share their names):
    one semi-join per key set over the files' key columns, whole files, no filter."""
    statement = Statement(cursor, prefix)
    sets = _key_sets(plan, files)
    columns = sorted({k for keys, _ in sets for k in keys}, key=lambda c: c.position)
    data = read_files(statement, columns, files, tags=True, row_numbers=True)
    found = []
    for number, (keys, deletes) in enumerate(sets):
        alias = f"e{number}"
        rows = _delete_rows(statement, keys, deletes)
        found.append(
            f"SELECT d.{FILE} AS file, d.{ROW} AS pos FROM ({data}) AS d "
            f"SEMI JOIN ({rows}) AS {alias} ON {_match(keys, alias, deletes, files)}"
        )
    result = cursor.sql(" UNION ".join(found), params=statement.bound()).to_arrow_table()
    return [
        result.filter(pc.equal(result["file"], number))["pos"].combine_chunks().cast(pa.int64())
        for number in range(len(files))
    ]


def _key_sets(
    plan: Plan, files: Sequence[FileRead]
) -> list[tuple[list[Column], list[ScopedDelete]]]:
    """The delete files applying to some of `files`, grouped by key set and by whether they
    apply everywhere, with the key columns."""
    paths = {d.file.file_path for f in files for d in f.task.equality_deletes}
    by_id = {c.field_id: c for c in plan.columns}
    groups: dict[tuple, list[ScopedDelete]] = defaultdict(list)
    for scoped in plan.equality_deletes:
        if scoped.delete.file.file_path in paths:
            groups[(scoped.delete.equality_ids, scoped.scope is None)].append(scoped)
    return [([by_id[i] for i in ids], deletes) for (ids, _), deletes in groups.items()]


def _match(
    keys: Sequence[Column], alias: str, deletes: Sequence[ScopedDelete], files: Sequence[FileRead]
) -> str:
    """The join condition of rows `d` and delete rows `alias`."""
    match = [f"d.{identifier(k.name)} IS NOT DISTINCT FROM {alias}.k{k.field_id}" for k in keys]
    everywhere = deletes[0].scope is None
    if not everywhere and len({f.scope for f in files} | {d.scope for d in deletes}) > 1:
        match.append(f"d.{SCOPE} = {alias}.{SCOPE}")
    newest_file = max(f.task.sequence_number for f in files)
    if min(d.delete.sequence_number for d in deletes) <= newest_file:
        match.append(f"{alias}.{SEQUENCE} > d.{SEQUENCE}")
    return " AND ".join(match)


def _delete_rows(
    statement: Statement, keys: Sequence[Column], deletes: Sequence[ScopedDelete]
) -> str:
    """The key columns of equality delete files (by field id), with each delete file's
    sequence number and partition number."""
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
    select = [f"k{k.field_id}" for k in keys]
    sequences = [d.delete.sequence_number for d in deletes]
    select.append(f"{statement.per_file('dseq', sequences, 'BIGINT')} AS {SEQUENCE}")
    if deletes[0].scope is not None:
        scopes = [d.scope for d in deletes]
        select.append(f"{statement.per_file('dscope', scopes, 'BIGINT')} AS {SCOPE}")
    paths = statement.param("deletes", [d.path for d in deletes])
    ids = statement.param("dids", [k.field_id for k in keys])
    schema = f"MAP({ids}, {statement.param('dfields', fields)})"
    return f"SELECT {', '.join(select)} FROM read_parquet({paths}, schema = {schema})"
