"""How DuckDB reaches a table's files: local paths directly, object storage through fsspec.

duckdb from PyPI cannot load httpfs or azure offline, and a pod never downloads at run time,
so object storage is read through fsspec file systems registered with the DuckDB connection
(objectstore.py, imported only for a table in object storage).

DuckDB may then read only below the table's own directories (`allowed_directories`), and
nothing else: no local file, no other bucket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import duckdb
from pyiceberg.io import FileIO
from pyiceberg.table import Table

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

# Table properties that put data files outside the table's location (Iceberg's own names).
_DATA_PATH_PROPERTIES = (
    "write.data.path",
    "write.object-storage.path",
    "write.folder-storage.path",
)


def register_filesystems(
    connection: duckdb.DuckDBPyConnection, table: Table, extra: Iterable[str] = ()
) -> tuple[str, ...]:
    """Make `table`'s data files, and nothing else, readable by `connection`.

    Call it on a fresh connection whose external access is still enabled (DuckDB refuses to
    change `allowed_directories` after): it registers the file systems, allows reads below the
    table's directories (and the `extra` ones, for data files the table keeps elsewhere) only,
    then disables external access. Lock the configuration after it. Returns the allowed
    directories.
    """
    directories = tuple(sorted({*table_directories(table), *extra}))
    allowed = set(directories)
    for scheme in sorted({urlsplit(directory).scheme for directory in directories}):
        filesystem = filesystem_for(table.io, scheme, directories)
        if filesystem is not None:
            connection.register_filesystem(filesystem)
            # DuckDB checks the path as the file system spells it: adlfs turns
            # abfss://container@account.dfs.core.windows.net/x into abfs://container/x.
            allowed |= {_as_spelled_by(filesystem, d) for d in directories if d.startswith(scheme)}
    connection.execute(f"SET allowed_directories = {_sql_list(sorted(allowed))}")
    connection.execute("SET enable_external_access = false")
    return tuple(sorted(allowed))


def _as_spelled_by(filesystem: AbstractFileSystem, directory: str) -> str:
    from .objectstore import as_spelled_by  # loaded already: a file system was registered

    return as_spelled_by(filesystem, directory)


def _sql_list(texts: Iterable[str]) -> str:
    """A DuckDB list literal (SET takes no bound parameters); quotes doubled."""
    return "[" + ", ".join("'" + text.replace("'", "''") + "'" for text in texts) + "]"


def table_directories(table: Table) -> tuple[str, ...]:
    """The directories `table`'s files live in, each ending in "/" (so `t` does not admit
    `t2`), in DuckDB's spelling: local ones as plain paths."""
    properties = table.metadata.properties
    locations = [table.location()]
    locations += [properties[name] for name in _DATA_PATH_PROPERTIES if properties.get(name)]
    return tuple(sorted({_directory(location) for location in locations}))


def _directory(location: str) -> str:
    if urlsplit(location).scheme in ("", "file"):
        location = location.removeprefix("file://")
    return location.rstrip("/") + "/"


def filesystem_for(
    io: FileIO, scheme: str, directories: Iterable[str] = ()
) -> AbstractFileSystem | None:
    """The fsspec file system that reads `scheme` with `io`'s settings; None for local files."""
    if scheme in ("", "file"):
        return None
    from . import objectstore  # fsspec and the wrappers, for object storage only

    if scheme not in objectstore.SCHEMES:
        raise ValueError(f"the pod cannot read files with scheme {scheme!r}")
    return objectstore.object_filesystem(io, scheme, directories)
