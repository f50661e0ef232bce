"""The pod's DuckDB: in memory, able to read the table's files and nothing else.

One database per loaded table state (its location and storage credentials), shared by the
requests through a cursor each; a cursor costs microseconds where a new database costs a few
milliseconds and its own thread pool. allowed_directories, then enable_external_access=false,
then lock_configuration: SQL can read Parquet under the table's directories and reach no other
file, no network and no extension, and cannot undo any of it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

import duckdb
from pyiceberg.table import Table

from .limits import Limits
from .plan import duckdb_path
from .storage import register_filesystems

# Never fetch or load an extension: a pod image must not download anything at run time.
_NO_EXTENSIONS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# DuckDB's session time zone defaults to the machine's; it decides how TIMESTAMP and
# TIMESTAMPTZ values compare and cast, so every pod uses the same one.
TIME_ZONE = "UTC"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sandboxed(table: Table, allowed: Iterable[str], limits: Limits) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads `table`'s files under the `allowed` prefixes and nothing
    else."""
    connection = duckdb.connect(config=_NO_EXTENSIONS)
    connection.execute(f"SET GLOBAL TimeZone = {_quoted(TIME_ZONE)}")
    connection.execute(f"SET GLOBAL threads = {int(limits.duckdb_threads)}")
    connection.execute(f"SET GLOBAL memory_limit = {_quoted(limits.duckdb_memory_limit)}")
    # jemalloc returns freed pages to the system from background threads: without them it
    # does so only while allocating, so what a load left behind stays resident (idle.py).
    connection.execute("SET GLOBAL allocator_background_threads = true")
    # Data files never change once written (Iceberg writes new ones), so their Parquet footers
    # are parsed once and kept, not read and parsed again by every request (a round trip each
    # on object storage). DuckDB keeps them in its buffer pool, within memory_limit, evicts
    # the least recently used first, and still checks each file's modification time (and
    # ETag where storage has one) before using its entry.
    connection.execute("SET GLOBAL parquet_metadata_cache = true")
    # The only joins a pod runs are its delete anti-joins, whose small side (the deleted rows)
    # is always the build side. read_parquet with a field-id schema estimates the data at one
    # row, and DuckDB would then swap the sides: a hash table of every data row (4x slower).
    connection.execute("SET GLOBAL disabled_optimizers = 'build_side_probe_side'")
    # Registers object-storage file systems, sets allowed_directories, disables access.
    register_filesystems(connection, table, sorted(set(allowed)))
    connection.execute("SET lock_configuration = true")
    return connection


def directory_of(path: str) -> str:
    """The prefix that allows `path`'s directory (with its trailing slash)."""
    return posixpath.dirname(path).rstrip("/") + "/"


class Database:
    """A sandboxed DuckDB for one table state; `covers` says whether it may read given files."""

    def __init__(
        self,
        table: Table,
        limits: Limits,
        files: Iterable[str] = (),
        previous: Iterable[str] = (),
    ) -> None:
        location = duckdb_path(table.location()).rstrip("/") + "/"
        # The table's own directory, those of its data files that lie elsewhere (after a
        # write.data.path change, or files shared with another table), and what a database
        # this one replaces allowed (other requests may still plan those files).
        elsewhere = {directory_of(p) for p in files if not p.startswith(location)}
        self.prefixes = tuple(sorted({location, *previous, *elsewhere}))
        self.connection = sandboxed(table, self.prefixes, limits)

    def covers(self, paths: Iterable[str]) -> bool:
        """Whether every one of `paths` lies under an allowed prefix."""
        return all(path.startswith(self.prefixes) for path in paths)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one request, sharing the database and its settings."""
        return self.connection.cursor()
