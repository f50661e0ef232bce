"""The fsspec file systems through which DuckDB reads object storage (storage.py's other half).

Imported only for a table whose files are in S3, GCS or ADLS: fsspec costs a pod over local
files a hundredth of a second of every cold start (issue 11), for classes it never uses.

Each file system is the very client pyiceberg reads the table with, built from the table's
FileIO properties (which carry vended credentials): pyarrow's S3 and GCS file systems (wrapped
for fsspec), and adlfs for ADLS, whose `abfss://container@account.dfs.core.windows.net/…`
paths pyarrow's reader mishandles.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fsspec import AbstractFileSystem
from fsspec.implementations.arrow import ArrowFSWrapper
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import PyArrowFileIO

if TYPE_CHECKING:
    from pyiceberg.io.fsspec import FsspecFileIO

S3_SCHEMES = ("s3", "s3a", "s3n")
GCS_SCHEMES = ("gs", "gcs")
ADLS_SCHEMES = ("abfs", "abfss")
SCHEMES = (*S3_SCHEMES, *GCS_SCHEMES, *ADLS_SCHEMES)


class _S3(ArrowFSWrapper):
    """pyarrow's S3FileSystem as fsspec; DuckDB hands it `s3://bucket/key` paths."""

    protocol = S3_SCHEMES


class _GCS(ArrowFSWrapper):
    """pyarrow's GcsFileSystem as fsspec; DuckDB hands it `gs://bucket/key` paths."""

    protocol = GCS_SCHEMES


def object_filesystem(io: FileIO, scheme: str, directories: Iterable[str]) -> AbstractFileSystem:
    """The fsspec file system that reads `scheme` (one of SCHEMES) with `io`'s settings."""
    if scheme in S3_SCHEMES:
        netloc = next((urlsplit(d).netloc for d in directories if d.startswith(scheme)), None)
        return _S3(_pyarrow_io(io).fs_by_scheme(scheme, netloc))
    if scheme in GCS_SCHEMES:
        return _GCS(_pyarrow_io(io).fs_by_scheme(scheme, None))
    account = next((urlsplit(d).hostname for d in directories if d.startswith(scheme)), None)
    return _fsspec_io(io).get_fs(scheme, account)


def as_spelled_by(filesystem: AbstractFileSystem, directory: str) -> str:
    """`directory` as `filesystem` spells it (adlfs turns
    abfss://container@account.dfs.core.windows.net/x into abfs://container/x)."""
    return filesystem.unstrip_protocol(filesystem._strip_protocol(directory)).rstrip("/") + "/"


def _pyarrow_io(io: FileIO) -> PyArrowFileIO:
    # The table's own FileIO when it is pyarrow's: its file systems are cached per scheme.
    return io if isinstance(io, PyArrowFileIO) else PyArrowFileIO(io.properties)


def _fsspec_io(io: FileIO) -> FsspecFileIO:
    # Imported for ADLS only: it brings pyiceberg's REST client and requests, a tenth of a
    # second of every pod's start-up otherwise.
    from pyiceberg.io.fsspec import FsspecFileIO

    return io if isinstance(io, FsspecFileIO) else FsspecFileIO(io.properties)
