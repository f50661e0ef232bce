"""Failures end to end: an unreachable catalog is a 503 with Retry-After and the same process
recovers when it comes back; a missing table is a 404; a damaged one a 502 saying what is
damaged, logged in one line; a secret never reaches an answer or a log line; the pod keeps
answering /healthz through all of it."""

from __future__ import annotations

import concurrent.futures
import shutil
import socket
from pathlib import Path

import pyarrow as pa
import pytest
from lakehouse import catalog_env, open_catalog
from podkit import make_pod, param, pod_json, ref, serving

pytestmark = pytest.mark.pod

SECRET = "s3cr3t-T0ken-value"
POD = pod_json(
    "orders-of-region",
    "sales.orders",
    "SELECT order_id, sales FROM source WHERE region = $region ORDER BY order_id LIMIT 5",
    columns=["order_id", "sales"],
    read_columns=["order_id", "region", "sales"],
    parameters=[param("region", "string", "EMEA")],
    pushdown=[{"op": "eq", "column": "region", "value": ref("region")}],
)


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_catalog_is_a_503_and_the_pod_recovers(tmp_path, lakehouse, pod_env):
    # The catalog database sits in a folder that does not exist yet: the pod does not create it.
    later = tmp_path / "later"
    env = {
        **pod_env,
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{later / 'catalog.db'}",
        "PYICEBERG_CATALOG__DEFAULT__PASSWORD": SECRET,
    }
    log = tmp_path / "pod.log"
    with serving(make_pod(tmp_path, POD), env, log) as client:
        response = client.get("/get_data")
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
        assert response.json() == {
            "error": "catalog 'default' cannot be reached (its database file is missing)"
        }
        assert client.get("/healthz").status_code == 200
        assert not later.exists()

        # The catalog comes back: the same process answers, without a restart.
        later.mkdir()
        shutil.copy(lakehouse / "catalog.db", later / "catalog.db")
        response = client.get("/get_data")
        assert response.status_code == 200, response.text
        assert len(response.json()) == 5
    logged = log.read_text()
    assert "503 catalog 'default' cannot be reached" in logged  # operators see it
    assert SECRET not in logged


def test_a_catalog_file_replaced_by_garbage_or_removed_recovers_once_it_is_back(
    tmp_path, lakehouse, pod_env
):
    own = tmp_path / "catalog" / "catalog.db"
    own.parent.mkdir()
    shutil.copy(lakehouse / "catalog.db", own)
    good = own.read_bytes()
    env = {**pod_env, "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{own}"}
    freshness_zero = {**POD, "freshness_seconds": 0}  # every request asks the catalog

    def swap(content: bytes) -> None:
        (own.parent / "new").write_bytes(content)
        (own.parent / "new").replace(own)

    def statuses(client, count: int = 8) -> set[int]:
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            return set(pool.map(lambda _: client.get("/get_data").status_code, range(count)))

    with serving(make_pod(tmp_path, freshness_zero), env, tmp_path / "pod.log") as client:
        assert statuses(client) == {200}
        swap(b"not a database " * 1000)
        assert statuses(client) == {502}  # the file now there, not the one it had open
        response = client.get("/get_data")
        assert response.json() == {
            "error": "catalog 'default' is damaged: its file is not a SQLite database"
        }
        swap(good)
        assert statuses(client) == {200}  # no pooled connection to the garbage is left
        own.unlink()
        response = client.get("/get_data")
        assert response.status_code == 503 and response.headers["retry-after"].isdigit()
        assert not own.exists()  # never an empty catalog of the pod's making
        swap(good)
        assert statuses(client) == {200}
    assert "Traceback" not in (tmp_path / "pod.log").read_text()


def test_a_refused_rest_catalog_is_a_503_without_its_credential(tmp_path, pod_env):
    env = {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "rest",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"http://127.0.0.1:{closed_port()}/catalog",
        "PYICEBERG_CATALOG__DEFAULT__CREDENTIAL": f"pod-client:{SECRET}",
    }
    log = tmp_path / "pod.log"
    with serving(make_pod(tmp_path, POD), env, log) as client:
        for _ in range(2):  # a failed catalog start is retried, and fails the same way
            response = client.get("/get_data", params={"region": "APAC"})
            assert response.status_code == 503
            assert response.json() == {
                "error": "catalog 'default' or its storage cannot be reached (ConnectionError)"
            }
            assert SECRET not in response.text
        assert client.get("/healthz").json() == {"status": "ok"}
    assert SECRET not in log.read_text()


def test_a_missing_table_is_a_404_naming_it(tmp_path, pod_env):
    vanished = {**POD, "source": {"catalog": "default", "namespace": ["sales"], "table": "gone"}}
    with serving(make_pod(tmp_path, vanished), pod_env, tmp_path / "pod.log") as client:
        response = client.get("/get_data")
        assert response.status_code == 404
        assert response.json() == {"error": "table sales.gone does not exist in catalog 'default'"}
        assert client.get("/healthz").status_code == 200
        assert client.get("/get_data", params={"region": 1}).status_code == 404  # still up


# --- damaged tables -----------------------------------------------------------------------------


def _local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def _data_file(table) -> Path:
    return _local(next(iter(table.scan().plan_files())).file.file_path)


def _cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


DAMAGES = {
    "data file deleted": (
        lambda t: _data_file(t).unlink(),
        "a planned data file is missing from storage (deleted, or its snapshot expired)",
    ),
    "data file truncated": (
        lambda t: _cut(_data_file(t), 100),
        "a data file is not readable Parquet (truncated, or overwritten)",
    ),
    "data file overwritten": (
        lambda t: _data_file(t).write_bytes(b"PAR1" + b"\0" * 500 + b"PAR1"),
        "a data file is not readable Parquet (truncated, or overwritten)",
    ),
    "metadata truncated": (
        lambda t: _cut(_local(t.metadata_location), 50),
        "its metadata file cannot be read (truncated, or not Iceberg metadata)",
    ),
    "manifest list truncated": (
        lambda t: _cut(_local(t.current_snapshot().manifest_list), 50),
        "a manifest cannot be read (truncated, or not an Avro file)",
    ),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_table_is_a_502_saying_so_logged_in_one_line(tmp_path, damage):
    root = tmp_path / "lake"
    (root / "warehouse").mkdir(parents=True)
    catalog = open_catalog(root)
    catalog.create_namespace("sales")
    schema = pa.schema([("order_id", pa.int64()), ("region", pa.string()), ("sales", pa.int64())])
    table = catalog.create_table("sales.orders", schema=schema)
    for first in (1, 101):  # two data files: one damaged, one whole
        ids = list(range(first, first + 100))
        table.append(pa.table({"order_id": ids, "region": ["EMEA"] * 100, "sales": ids}, schema))
    do, reason = DAMAGES[damage]
    do(catalog.load_table("sales.orders"))
    env = {**catalog_env(root), "PYICEBERG_CATALOG__DEFAULT__PASSWORD": SECRET}
    log = tmp_path / "pod.log"
    with serving(make_pod(tmp_path, POD), env, log) as client:
        for _ in range(3):
            response = client.get("/get_data", params={"format": "ndjson"})
            assert response.status_code == 502
            assert response.json() == {"error": f"table sales.orders is damaged: {reason}"}
            assert str(tmp_path) not in response.text
        assert client.get("/healthz").status_code == 200
    logged = log.read_text()
    assert "Traceback" not in logged and SECRET not in logged
    failures = [line for line in logged.splitlines() if "is damaged" in line]
    # One line per request saying why, and the request's own line (which carries the status).
    assert len([line for line in failures if line.startswith("ERROR:")]) == 3
