"""Which data files read the same by column name as by Iceberg field id.

The pod reads files by field id (read_parquet's `schema` option, reads.py), which is always
right but costs DuckDB binding and planning for every column on every request: about a
millisecond for the bench's eleven-column projection. A file whose top-level columns the query
reads each carry the field id, the name and the DuckDB type of the table's current column reads
the same by name, value for value, so such files are read by name. That is the usual case: a
column is renamed or widened rarely, and only the files written before the change differ.

A file's layout (the field id, name and DuckDB type of each top-level column) comes from
DuckDB's `parquet_schema`, which reads the footer the query then reuses (the pod keeps footers,
database.py); it is found once per file (files never change) and kept, least recently used
first out. A file whose layout cannot be read is read by field id, which then reports the
problem as it always did.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import duckdb

from .columns import Column

# Layouts kept: a few hundred bytes each.
LAYOUTS_KEPT = 100_000

# A layout: per top-level column, its field id (None without one), name and DuckDB type.
Layout = tuple[tuple[int | None, str, str], ...]

_SCHEMA_SQL = (
    "SELECT file_name, name, num_children, field_id, duckdb_type FROM parquet_schema($files)"
)


class Layouts:
    """The layouts of the data files read so far, by path (as DuckDB names it)."""

    def __init__(self, max_files: int = LAYOUTS_KEPT) -> None:
        self.max_files = max_files
        self._files: OrderedDict[str, Layout] = OrderedDict()
        self._lock = threading.Lock()

    def by_name(
        self, cursor: duckdb.DuckDBPyConnection, paths: Sequence[str], columns: Sequence[Column]
    ) -> list[bool]:
        """Per path, whether reading `columns` from it by name equals reading them by field id."""
        wanted = [(c.field_id, c.name, c.duckdb_type) for c in columns]
        if not all(c.iceberg_type.is_primitive and c.duckdb_type for c in columns):
            return [False] * len(paths)
        layouts = self._layouts(cursor, paths)
        return [_reads_by_name(layouts.get(path), wanted) for path in paths]

    def _layouts(self, cursor: duckdb.DuckDBPyConnection, paths: Sequence[str]) -> dict:
        with self._lock:
            known = {p: self._files[p] for p in paths if p in self._files}
            for path in known:
                self._files.move_to_end(path)
        missing = sorted(set(paths) - known.keys())
        if missing:
            found = _read_layouts(cursor, missing)
            with self._lock:
                self._files.update(found)
                while len(self._files) > self.max_files:
                    self._files.popitem(last=False)
            known.update(found)
        return known


def _read_layouts(cursor: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, Layout]:
    """The layouts of `paths` from their footers; none for any if one cannot be read."""
    try:
        rows = cursor.execute(_SCHEMA_SQL, {"files": paths}).fetchall()
    except duckdb.Error:
        return {}
    by_file: dict[str, list[tuple]] = {}
    for file_name, *element in rows:
        by_file.setdefault(file_name, []).append(tuple(element))
    return {path: _top_level(elements) for path, elements in by_file.items()}


def _top_level(elements: list[tuple]) -> Layout:
    """The root's children among a file's schema elements (depth first, the root first)."""
    top = []
    position = 1
    while position < len(elements):
        name, _, field_id, duckdb_type = elements[position]
        top.append((field_id, name, duckdb_type))
        position = _after_subtree(elements, position)
    return tuple(top)


def _after_subtree(elements: list[tuple], position: int) -> int:
    """The position just past the element at `position` and its descendants."""
    pending = 1
    while pending:
        pending += (elements[position][1] or 0) - 1
        position += 1
    return position


def _reads_by_name(layout: Layout | None, wanted: list[tuple[int, str, Any]]) -> bool:
    """Whether every wanted (field id, name, type) is a top-level column of `layout`, and no
    two of its names match alike in DuckDB's case-insensitive binding."""
    if not layout:
        return False
    names = [name for _, name, _ in layout]
    if len({name.lower() for name in names}) != len(names):
        return False
    present = set(layout)
    return all((field_id, name, str(kind)) in present for field_id, name, kind in wanted)


LAYOUTS = Layouts()
