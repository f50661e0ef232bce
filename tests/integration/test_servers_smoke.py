"""Smoke tests: pyiceberg creates, writes and reads Iceberg tables through each real server.

The reference is the list of Python rows the test wrote, filtered by a hand-written Python
predicate: independent of pyiceberg's expression evaluation and of the servers. Where the files
live is checked through each server's own API (S3, GCS JSON, Azure Blob), not through pyiceberg.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
import subprocess
import sys
import textwrap
from urllib.parse import urlencode, urlparse

import pyarrow as pa
import pytest
import servers
from pyiceberg.exceptions import ForbiddenError, NoSuchTableError, OAuthError
from pyiceberg.expressions import And, GreaterThan, GreaterThanOrEqual, IsNull, Or
from pyiceberg.schema import Schema
from pyiceberg.types import (
    DateType,
    DoubleType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)

pytestmark = pytest.mark.integration

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "day", DateType()),
    NestedField(3, "at", TimestampType()),
    NestedField(4, "region", StringType()),
    NestedField(5, "amount", DoubleType()),
)
ROW_COUNT = 3000
FIRST_BATCH = 2000
CUTOFF = dt.date(2025, 1, 1)
THRESHOLD = 500.0
# The same predicate three ways: pyiceberg expression, pyiceberg string, plain Python.
ROW_FILTER = And(
    GreaterThanOrEqual("day", CUTOFF.isoformat()),
    Or(IsNull("amount"), GreaterThan("amount", THRESHOLD)),
)
ROW_FILTER_TEXT = f"day >= '{CUTOFF.isoformat()}' AND (amount IS NULL OR amount > {THRESHOLD})"


def wanted(row: dict) -> bool:
    return (
        row["day"] is not None
        and row["day"] >= CUTOFF
        and (row["amount"] is None or row["amount"] > THRESHOLD)
    )


def make_rows(count: int, seed: int = 4) -> list[dict]:
    """Deterministic rows over 2024-2025 with nulls in every optional column."""
    rng = random.Random(seed)
    start = dt.date(2024, 1, 1)
    rows = []
    for index in range(count):
        day = start + dt.timedelta(days=rng.randrange(731))
        clock = dt.time(
            rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(10**6)
        )
        rows.append(
            {
                "id": index,
                "day": None if index % 13 == 0 else day,
                "at": None if index % 11 == 0 else dt.datetime.combine(day, clock),
                "region": None if rng.random() < 0.1 else rng.choice(["EMEA", "AMER", "APAC"]),
                "amount": None if rng.random() < 0.2 else round(rng.uniform(-100, 1000), 2),
            }
        )
    return rows


ROWS = make_rows(ROW_COUNT)
EXPECTED = [row for row in ROWS if wanted(row)]


def test_reference_is_selective():
    """The filter keeps some rows, drops others, and keeps rows whose amount is null."""
    assert 0 < len(EXPECTED) < ROW_COUNT
    assert any(row["amount"] is None for row in EXPECTED)
    assert any(row["day"] is None for row in ROWS)
    assert any(row["at"] is None for row in EXPECTED)


@pytest.fixture
def written(backend: servers.Backend):
    """A fresh namespace and table written by the writer in two appends."""
    namespace = f"smoke{secrets.token_hex(4)}"
    identifier = f"{namespace}.events"
    catalog = backend.catalog()
    catalog.create_namespace(namespace)
    table = catalog.create_table(identifier, schema=SCHEMA)
    arrow_schema = SCHEMA.as_arrow()
    table.append(pa.Table.from_pylist(ROWS[:FIRST_BATCH], schema=arrow_schema))
    table.append(pa.Table.from_pylist(ROWS[FIRST_BATCH:], schema=arrow_schema))
    return backend, identifier


def by_id(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: row["id"])


def test_round_trip(written):
    backend, identifier = written
    table = backend.catalog("reader").load_table(identifier)

    assert table.location().startswith(backend.warehouse.split("/")[0] + "//")
    assert len(table.snapshots()) == 2
    assert table.scan().to_arrow().num_rows == ROW_COUNT
    got = table.scan(row_filter=ROW_FILTER).to_arrow().to_pylist()
    assert by_id(got) == EXPECTED


def server_object_keys(backend: servers.Backend, location: str) -> set[str]:
    """Object keys under `location`, listed through the server's own API."""
    parsed = urlparse(location)
    prefix = parsed.path.lstrip("/")
    if backend.kind == "seaweedfs":
        from pyarrow import fs

        writer = backend.details["writer"]
        s3 = fs.S3FileSystem(
            endpoint_override=urlparse(backend.endpoints["s3"]).netloc,
            scheme="http",
            region=servers.SEAWEEDFS_REGION,
            access_key=writer.access_key,
            secret_key=writer.secret_key,
        )
        selector = fs.FileSelector(f"{parsed.netloc}/{prefix}", recursive=True)
        bucket_prefix = f"{parsed.netloc}/"
        return {
            info.path.removeprefix(bucket_prefix)
            for info in s3.get_file_info(selector)
            if info.type == fs.FileType.File
        }
    if backend.kind == "gcs":
        query = urlencode({"prefix": prefix})
        url = f"{backend.endpoints['gcs']}/storage/v1/b/{parsed.netloc}/o?{query}"
        answer = servers.http_request(url)
        assert answer is not None and answer[0] == 200, answer
        return {item["name"] for item in json.loads(answer[1]).get("items", [])}
    if backend.kind == "adls":
        from azure.storage.blob import ContainerClient

        container = ContainerClient.from_connection_string(
            backend.details["connection_string"], backend.details["container"]
        )
        return {blob.name for blob in container.list_blobs(name_starts_with=prefix)}
    raise AssertionError(backend.kind)


def test_files_live_on_the_server(written):
    backend, identifier = written
    table = backend.catalog("reader").load_table(identifier)
    data_files = [task.file.file_path for task in table.scan().plan_files()]
    assert len(data_files) == 2
    keys = server_object_keys(backend, table.location())
    wanted_keys = {urlparse(path).path.lstrip("/") for path in data_files}
    wanted_keys.add(urlparse(table.metadata_location).path.lstrip("/"))
    assert wanted_keys <= keys


POD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pyiceberg.catalog import load_catalog

    catalog = load_catalog(sys.argv[1])
    rows = catalog.load_table(sys.argv[2]).scan(row_filter=sys.argv[3]).to_arrow()
    print(json.dumps({"count": rows.num_rows, "ids": sorted(rows.column("id").to_pylist())}))
    """
)


def test_pod_environment_reads_the_table(written, tmp_path):
    """A separate process configured only by Backend.env() (what a pod gets) reads the table."""
    backend, identifier = written
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **backend.env("reader")}
    assert all(
        key.startswith("PYICEBERG_CATALOG__")
        for key in backend.env()
        if key not in backend.extra_env
    )
    if backend.kind == "seaweedfs":
        # The pod's environment holds the reader's secret, never the writer's.
        assert backend.details["writer"].secret_key not in env.values()
        assert backend.details["reader"].secret_key in "".join(env.values())
    result = subprocess.run(
        [sys.executable, "-c", POD_SCRIPT, backend.catalog_name, identifier, ROW_FILTER_TEXT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer == {"count": len(EXPECTED), "ids": [row["id"] for row in EXPECTED]}


def test_backend_properties_survive_the_environment(backend: servers.Backend):
    """PYICEBERG_CATALOG__* variables turn back into exactly the reader's properties."""
    from pyiceberg.utils.config import Config

    saved = dict(os.environ)
    try:
        for key in [key for key in os.environ if key.upper().startswith("PYICEBERG_")]:
            del os.environ[key]
        os.environ.update(backend.env("reader"))
        loaded = Config._from_environment_variables({})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    expected = {
        (key.lower() if key.startswith("header.") else key): value
        for key, value in backend.principals["reader"].items()
    }
    assert loaded["catalog"][backend.catalog_name] == expected


# --- SeaweedFS: principals, vended credentials ------------------------------------------------


@pytest.fixture
def seaweed_table(seaweedfs: servers.Backend):
    namespace = f"smoke{secrets.token_hex(4)}"
    identifier = f"{namespace}.events"
    catalog = seaweedfs.catalog()
    catalog.create_namespace(namespace)
    table = catalog.create_table(identifier, schema=SCHEMA)
    table.append(pa.Table.from_pylist(ROWS[:100], schema=SCHEMA.as_arrow()))
    return seaweedfs, namespace, identifier


def _write_probe(io, location: str) -> None:
    # The table bucket only accepts Iceberg-looking keys (.parquet, .avro, .json).
    with io.new_output(f"{location}/data/probe-{secrets.token_hex(4)}.parquet").create() as out:
        out.write(b"probe")


def test_seaweedfs_reader_reads_with_vended_read_only_credentials(seaweed_table):
    backend, _, identifier = seaweed_table
    reader = backend.details["reader"]
    assert "s3.access-key-id" not in backend.principals["reader"]

    table = backend.catalog("reader").load_table(identifier)
    io_properties = table.io.properties
    assert io_properties.get("s3.session-token")
    assert io_properties["s3.access-key-id"] != reader.access_key
    assert int(io_properties["s3.session-token-expires-at-ms"]) > 0
    assert table.scan().to_arrow().num_rows == 100

    with pytest.raises(OSError, match="ACCESS_DENIED"):
        _write_probe(table.io, table.location())
    # The same write with the writer's own keys goes through: the refusal is about rights.
    writer_table = backend.catalog().load_table(identifier)
    assert "s3.session-token" not in writer_table.io.properties
    _write_probe(writer_table.io, writer_table.location())


def test_seaweedfs_reader_with_own_keys_skips_vending(seaweed_table):
    backend, _, identifier = seaweed_table
    table = backend.catalog("reader-keys").load_table(identifier)
    assert "s3.session-token" not in table.io.properties
    assert table.io.properties["s3.access-key-id"] == backend.details["reader"].access_key
    assert table.scan().to_arrow().num_rows == 100
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        _write_probe(table.io, table.location())


def test_seaweedfs_hides_tables_from_an_outsider(seaweed_table):
    backend, namespace, identifier = seaweed_table
    outsider = backend.catalog("outsider")
    with pytest.raises(NoSuchTableError):
        outsider.load_table(identifier)
    with pytest.raises(ForbiddenError):
        outsider.list_tables(namespace)
    with pytest.raises(ForbiddenError):
        backend.catalog("reader").create_namespace(f"denied{secrets.token_hex(4)}")


def test_seaweedfs_rejects_a_wrong_secret(seaweedfs: servers.Backend):
    properties = dict(seaweedfs.principals["reader"])
    properties["credential"] = f"{seaweedfs.details['reader'].access_key}:wrong-secret"
    from pyiceberg.catalog import load_catalog

    with pytest.raises(OAuthError, match="invalid_client"):
        load_catalog("wrong", **properties)


# --- startup is bounded and says why it failed ------------------------------------------------


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    script = "echo listening soon; echo 'fatal: no such flag -frobnicate' >&2; exit 3"
    server = servers.ManagedProcess("broken", ["sh", "-c", script], tmp_path / "broken.log")
    server.start()
    with pytest.raises(servers.ServerStartError) as failure:
        server.wait_until(lambda: False, timeout=30)
    message = str(failure.value)
    assert "broken exited with code 3" in message
    assert "fatal: no such flag -frobnicate" in message
    assert not isinstance(failure.value, servers._PortTaken)


def test_a_lost_port_is_told_apart(tmp_path):
    script = "echo 'Port allocation failed: port 9333 is not available on 127.0.0.1'; exit 1"
    server = servers.ManagedProcess("weedish", ["sh", "-c", script], tmp_path / "weedish.log")
    server.start()
    with pytest.raises(servers._PortTaken):
        server.wait_until(lambda: False, timeout=30)


def test_a_server_that_never_answers_is_stopped_after_the_timeout(tmp_path):
    server = servers.ManagedProcess(
        "silent", ["sh", "-c", "echo started; sleep 600"], tmp_path / "silent.log"
    )
    server.start()
    with pytest.raises(servers.ServerStartError, match="silent .* was not ready within 1 s"):
        server.wait_until(lambda: False, timeout=1)
    assert not server.running
    assert server.process.returncode == -15  # SIGTERM reached the process group
