"""How DuckDB reaches a table's files: local paths directly, object storage through fsspec.

duckdb from PyPI cannot load httpfs or azure offline, and a pod never downloads at run time,
so object storage is read through fsspec file systems registered with the DuckDB connection,
configured from the table's FileIO properties (which carry vended credentials).
"""

from __future__ import annotations

import duckdb
from pyiceberg.table import Table


def register_filesystems(connection: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Make `table`'s data files readable by `connection` (call before locking its config).

    Local files need nothing. Issue 4 registers s3://, gs:// and abfss:// file systems here.
    """
