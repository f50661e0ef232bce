"""Reading tables on S3 (SeaweedFS), GCS (fake-gcs-server) and ADLS (Azurite).

Two paths: DuckDB's read_parquet over the file systems `storage.register_filesystems`
registers (what the engine runs), and whole pods over GCS and ADLS through pyiceberg's SQL
catalog with its warehouse on the emulator. The reference is a plain DuckDB over the rows the
test wrote.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid

import duckdb
import pyarrow as pa
import pytest
import servers
from datapic_runtime.catalog import CatalogClient
from datapic_runtime.plan import duckdb_path
from datapic_runtime.storage import register_filesystems
from podtables import (
    SQL,
    Listener,
    assert_no_secrets,
    body,
    json_form,
    pod_env,
    pod_texts,
    reference,
    served_many,
    write_table,
)
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.serializers import ToOutputFile
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType

pytestmark = pytest.mark.integration

PARAMS = {"region": "AMER", "min_amount": "42.25"}


@pytest.fixture(scope="module")
def tables(request):
    """Per backend: two tables in the same warehouse (the second must stay unreadable)."""
    written = {}
    for kind in ("seaweedfs", "gcs", "adls"):
        backend = request.getfixturevalue(kind)
        written[kind] = (write_table(backend, "store"), write_table(backend, "other", rows=5))
    return written


def _reader_table(backend: servers.Backend, identifier: str, monkeypatch):
    """The table as a pod loads it: CatalogClient over the reader's environment only."""
    for name in list(__import__("os").environ):
        if name.upper().startswith("PYICEBERG_CATALOG__"):
            monkeypatch.delenv(name)
    for name, value in backend.env("reader").items():
        monkeypatch.setenv(name, value)
    client = CatalogClient(backend.catalog_name)
    return client.load_table(tuple(identifier.split(".")))


@pytest.mark.parametrize("kind", ["seaweedfs", "gcs", "adls"])
def test_duckdb_reads_the_table_through_registered_filesystems(kind, tables, monkeypatch):
    written, other = tables[kind]
    backend = written.backend
    table = _reader_table(backend, written.identifier, monkeypatch)
    files = [task.file.file_path for task in table.scan().plan_files()]
    assert len(files) == 2
    assert files[0].split(":")[0] in {"s3", "gs", "abfss"}

    connection = duckdb.connect()
    allowed = register_filesystems(connection, table)
    connection.execute("SET lock_configuration = true")
    assert all(directory.endswith("/") for directory in allowed)
    sql = SQL.replace("FROM source", "FROM read_parquet($files)")
    result = connection.execute(sql, {"files": files, "region": "AMER", "min_amount": 42.25})
    names = [column[0] for column in result.description]
    got = [{n: json_form(v) for n, v in zip(names, row, strict=True)} for row in result.fetchall()]
    assert got == reference("AMER", 42.25)

    # Nothing else: not the other table in the same bucket, not a local file.
    other_table = backend.catalog().load_table(other.identifier)
    other_file = next(task.file.file_path for task in other_table.scan().plan_files())
    with pytest.raises(duckdb.PermissionException):
        connection.execute("SELECT count(*) FROM read_parquet($f)", {"f": other_file})
    with pytest.raises(duckdb.PermissionException):
        connection.execute("SELECT * FROM read_csv('/etc/passwd')")


# Partition values that writers percent-encode in object keys (`k=c%3Ad/`, pyiceberg as Iceberg
# Java): the key holds the escapes themselves, and the manifests' paths name it so.
ESCAPED = ("c:d", "e%f", "g/h", "x=y", "a b")


@pytest.mark.parametrize("kind", ["seaweedfs", "gcs", "adls"])
def test_partition_values_escaped_in_object_keys_are_read_as_written(kind, request, monkeypatch):
    backend = request.getfixturevalue(kind)
    identifier = f"escaped{uuid.uuid4().hex[:8]}.t"
    catalog = backend.catalog()
    catalog.create_namespace(identifier.split(".")[0])
    schema = Schema(NestedField(1, "k", StringType()), NestedField(2, "v", LongType()))
    spec = PartitionSpec(PartitionField(1, 1000, IdentityTransform(), "k"))
    written = catalog.create_table(identifier, schema=schema, partition_spec=spec)
    rows = {"k": list(ESCAPED), "v": list(range(len(ESCAPED)))}
    written.append(pa.Table.from_pydict(rows, schema=schema.as_arrow()))

    table = _reader_table(backend, identifier, monkeypatch)
    files = [duckdb_path(task.file.file_path) for task in table.scan().plan_files()]
    assert sum("%" in path.rpartition("/data/")[2] for path in files) == 4
    connection = duckdb.connect()
    register_filesystems(connection, table)
    connection.execute("SET lock_configuration = true")
    # As the pod reads them (reads.py): the directory names never stand in for the values.
    sql = "SELECT k, v FROM read_parquet($files, hive_partitioning = false) ORDER BY v"
    wanted = list(zip(ESCAPED, rows["v"], strict=True))
    assert connection.execute(sql, {"files": files}).fetchall() == wanted


@pytest.fixture(scope="module")
def gcs_redirect():
    with Listener() as listener:
        yield listener


@pytest.fixture(scope="module")
def storage_pods(tables, gcs_redirect, tmp_path_factory):
    """Pods over GCS and ADLS, plus a GCS pod whose operator allows gcs.service.host from
    table properties."""
    gcs_written, adls_written = tables["gcs"][0], tables["adls"][0]
    gcs_opted_in = pod_env(gcs_written.backend, DATAPIC_TABLE_IO_PROPERTIES="gcs.service.host")
    pods = {
        "gcs": (gcs_written, pod_env(gcs_written.backend)),
        "gcs-opted-in": (gcs_written, gcs_opted_in),
        "adls": (adls_written, pod_env(adls_written.backend)),
    }
    with served_many(tmp_path_factory.mktemp("storage-pods"), pods) as running:
        yield running


@pytest.mark.parametrize("kind", ["gcs", "adls"])
def test_pod_answers_from_object_storage(kind, tables, storage_pods):
    backend = tables[kind][0].backend
    pod = storage_pods[kind]
    answers = [pod.client.get("/get_data", params=PARAMS), pod.client.get("/get_data")]
    assert answers[0].status_code == 200, answers[0].text
    assert body(answers[0]) == reference("AMER", 42.25)
    assert body(answers[1]) == reference("EMEA", 0.0)
    texts = {"log": pod.log.read_bytes(), **pod_texts(pod.directory)}
    texts.update({f"answer {i}": a.content for i, a in enumerate(answers)})
    assert_no_secrets(texts, backend.secrets)


@contextlib.contextmanager
def poisoned_table_property(written, key: str, value: str):
    """The SQL catalog's table gets property `key`, written behind pyiceberg's back: its own
    commit would already write the new metadata file through the poisoned setting. Restored
    on exit."""
    backend = written.backend
    table = backend.catalog().load_table(written.identifier)
    properties = {**table.metadata.properties, key: value}
    metadata = table.metadata.model_copy(update={"properties": properties})
    location = f"{table.location()}/metadata/99999-{uuid.uuid4()}.metadata.json"
    ToOutputFile.table_metadata(metadata, table.io.new_output(location))
    database = backend.writer["uri"].removeprefix("sqlite:///")
    namespace, name = written.identifier.split(".")
    update = (
        "UPDATE iceberg_tables SET metadata_location = ? "
        "WHERE table_namespace = ? AND table_name = ?"
    )
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute(update, (location, namespace, name))
    try:
        yield
    finally:
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            db.execute(update, (table.metadata_location, namespace, name))


def test_a_table_property_cannot_point_gcs_reads_elsewhere(tables, storage_pods, gcs_redirect):
    """`gcs.service.host` on the table would send the pod's reads, and its OAuth token, to a
    host of the table owner's choosing; only the opted-in pod follows it."""
    with poisoned_table_property(tables["gcs"][0], "gcs.service.host", gcs_redirect.url):
        guarded = storage_pods["gcs"].client.get("/get_data", params=PARAMS)
        assert guarded.status_code == 200, guarded.text
        assert body(guarded) == reference("AMER", 42.25)
        assert gcs_redirect.connections == 0

        followed = storage_pods["gcs-opted-in"].client.get("/get_data", params=PARAMS)
        assert followed.status_code != 200
        assert gcs_redirect.connections > 0
