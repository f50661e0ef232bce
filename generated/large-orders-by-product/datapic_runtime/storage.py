"""How DuckDB reaches a table's files: local paths directly, object storage through fsspec.

duckdb from PyPI cannot load httpfs or azure offline, and a pod never downloads at run time,
so object storage is read through fsspec file systems registered with the DuckDB connection.
Each is the very client pyiceberg reads the table with, built from the table's FileIO
properties (which carry vended credentials): pyarrow's S3 and GCS file systems (wrapped for
fsspec), and adlfs for ADLS, whose `abfss://container@account.dfs.core.windows.net/…` paths
pyarrow's reader mishandles.

DuckDB may then read only below the table's own directories (`allowed_directories`), and
nothing else: no local file, no other bucket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import duckdb
from fsspec import AbstractFileSystem
from fsspec.implementations.arrow import ArrowFSWrapper
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table

if TYPE_CHECKING:
    from pyiceberg.io.fsspec import FsspecFileIO

S3_SCHEMES = ("s3", "s3a", "s3n")
GCS_SCHEMES = ("gs", "gcs")
ADLS_SCHEMES = ("abfs", "abfss")
# Table properties that put data files outside the table's location (Iceberg's own names).
_DATA_PATH_PROPERTIES = (
    "write.data.path",
    "write.object-storage.path",
    "write.folder-storage.path",
)


class _S3(ArrowFSWrapper):
    """pyarrow's S3FileSystem as fsspec; DuckDB hands it `s3://bucket/key` paths."""

    protocol = S3_SCHEMES


class _GCS(ArrowFSWrapper):
    """pyarrow's GcsFileSystem as fsspec; DuckDB hands it `gs://bucket/key` paths."""

    protocol = GCS_SCHEMES


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
    return filesystem.unstrip_protocol(filesystem._strip_protocol(directory)).rstrip("/") + "/"


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
    if scheme in S3_SCHEMES:
        netloc = next((urlsplit(d).netloc for d in directories if d.startswith(scheme)), None)
        return _S3(_pyarrow_io(io).fs_by_scheme(scheme, netloc))
    if scheme in GCS_SCHEMES:
        return _GCS(_pyarrow_io(io).fs_by_scheme(scheme, None))
    if scheme in ADLS_SCHEMES:
        account = next((urlsplit(d).hostname for d in directories if d.startswith(scheme)), None)
        return _fsspec_io(io).get_fs(scheme, account)
    if scheme in ("", "file"):
        return None
    raise ValueError(f"the pod cannot read files with scheme {scheme!r}")


def _pyarrow_io(io: FileIO) -> PyArrowFileIO:
    # The table's own FileIO when it is pyarrow's: its file systems are cached per scheme.
    return io if isinstance(io, PyArrowFileIO) else PyArrowFileIO(io.properties)


def _fsspec_io(io: FileIO) -> FsspecFileIO:
    # Imported for ADLS only: it brings pyiceberg's REST client and requests, a tenth of a
    # second of every pod's start-up otherwise.
    from pyiceberg.io.fsspec import FsspecFileIO

    return io if isinstance(io, FsspecFileIO) else FsspecFileIO(io.properties)
