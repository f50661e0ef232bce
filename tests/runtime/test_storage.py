"""datapic_runtime.storage: which file system serves which scheme, and that DuckDB may read the
table's own directories and nothing else (a real table on disk, a real DuckDB)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from datapic_runtime.storage import (
    _sql_list,
    filesystem_for,
    register_filesystems,
    table_directories,
)
from pyarrow import fs as pafs
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

SCHEMA = Schema(NestedField(1, "id", LongType(), required=True))


@pytest.fixture
def catalog(tmp_path) -> SqlCatalog:
    catalog = SqlCatalog(
        "unit", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=f"file://{tmp_path / 'wh'}"
    )
    catalog.create_namespace("ns")
    for name in ("t", "t2"):
        table = catalog.create_table(f"ns.{name}", schema=SCHEMA)
        table.append(pa.Table.from_pylist([{"id": i} for i in range(5)], schema=SCHEMA.as_arrow()))
    return catalog


def _files(table) -> list[str]:
    return [task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()]


def test_duckdb_reads_the_tables_files_and_nothing_else(catalog, tmp_path):
    table = catalog.load_table("ns.t")
    connection = duckdb.connect()
    allowed = register_filesystems(connection, table)
    connection.execute("SET lock_configuration = true")
    assert allowed == (table.location().removeprefix("file://") + "/",)
    count = connection.execute("SELECT count(*) FROM read_parquet($f)", {"f": _files(table)})
    assert count.fetchone() == (5,)
    # `t2` shares the prefix `.../ns/t`: the trailing "/" keeps it out.
    sibling = _files(catalog.load_table("ns.t2"))
    with pytest.raises(duckdb.PermissionException):
        connection.execute("SELECT count(*) FROM read_parquet($f)", {"f": sibling})
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with pytest.raises(duckdb.PermissionException):
        connection.execute(f"SELECT * FROM read_csv('{secret}')")
    with pytest.raises(duckdb.Error):
        connection.execute("SET enable_external_access = true")


def test_data_paths_outside_the_location_are_allowed_too(catalog, tmp_path):
    table = catalog.load_table("ns.t")
    with table.transaction() as transaction:
        transaction.set_properties({"write.data.path": f"file://{tmp_path / 'elsewhere'}/"})
    directories = table_directories(catalog.load_table("ns.t"))
    assert f"{tmp_path / 'elsewhere'}/" in directories
    assert len(directories) == 2


def test_object_store_schemes_get_pyarrow_or_adlfs_filesystems():
    io = PyArrowFileIO({"s3.endpoint": "http://127.0.0.1:9", "s3.region": "us-east-1",
                        "gcs.oauth2.token": "t", "gcs.oauth2.token-expires-at": "4102444800000",
                        "gcs.service.host": "http://127.0.0.1:9"})  # fmt: skip
    s3 = filesystem_for(io, "s3", ["s3://bucket/table/"])
    assert isinstance(s3.fs, pafs.S3FileSystem)
    assert "s3" in s3.protocol and s3._strip_protocol("s3://bucket/x") == "bucket/x"
    gcs = filesystem_for(io, "gs")
    assert isinstance(gcs.fs, pafs.GcsFileSystem)
    adls = filesystem_for(io, "abfss", ["abfss://c@acct.dfs.core.windows.net/x/"])
    assert type(adls).__name__ == "AzureBlobFileSystem"
    assert filesystem_for(io, "file") is None
    with pytest.raises(ValueError, match="hdfs"):
        filesystem_for(io, "hdfs")


def test_sql_lists_double_quotes():
    assert _sql_list(["a", "it's"]) == "['a', 'it''s']"
