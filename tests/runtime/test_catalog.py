"""datapic_runtime.catalog: table properties kept out of storage settings, credential lifetimes,
a new client after a refused token, and REST catalogs wired to the pod's own OAuth2 tokens.

Tables are real (SQL catalog in SQLite); the token endpoint is a real HTTP server on loopback.
"""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from datapic_runtime import catalog as runtime_catalog
from datapic_runtime import oauth
from datapic_runtime.catalog import (
    CatalogClient,
    catalog_properties,
    confine_io,
    pod_catalog,
    timeout_seconds,
)
from datapic_runtime.errors import PodError
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import UnauthorizedError
from pyiceberg.io import load_file_io
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField
from tokenkit import Clock


@pytest.mark.parametrize(
    ("text", "expected"), [("2.5", 2.5), ("", 10.0), ("x", 10.0), ("-1", 10.0)]
)
def test_timeout_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv("DATAPIC_CATALOG_TIMEOUT", text)
    assert timeout_seconds() == expected


# --- tables -------------------------------------------------------------------------------------

SCHEMA = Schema(NestedField(1, "id", LongType(), required=True))


@pytest.fixture
def sql_catalog(tmp_path, monkeypatch):
    """A real SQL catalog named `unit`, configured through the environment as a pod's is."""
    for name in [n for n in __import__("os").environ if n.startswith("PYICEBERG_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PYICEBERG_CATALOG__UNIT__TYPE", "sql")
    monkeypatch.setenv("PYICEBERG_CATALOG__UNIT__URI", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("PYICEBERG_CATALOG__UNIT__WAREHOUSE", f"file://{tmp_path / 'wh'}")
    monkeypatch.setenv("PYICEBERG_CATALOG__UNIT__S3__ENDPOINT", "http://operator.example")
    # The pod opens a SQLite catalog read-only: the test writes through pyiceberg's own.
    catalog = SqlCatalog("unit", **catalog_properties("unit"))
    catalog.create_namespace("ns")
    table = catalog.create_table("ns.t", schema=SCHEMA)
    table.append(pa.Table.from_pylist([{"id": 1}, {"id": 2}], schema=SCHEMA.as_arrow()))
    return catalog


def _poison(catalog: SqlCatalog, properties: dict[str, str]) -> None:
    table = catalog.load_table("ns.t")
    with table.transaction() as transaction:
        transaction.set_properties(properties)


def test_table_properties_do_not_shape_storage(sql_catalog):
    _poison(sql_catalog, {"s3.endpoint": "http://attacker.example", "s3.proxy-uri": "http://x"})
    # pyiceberg itself would follow them:
    assert sql_catalog.load_table("ns.t").io.properties["s3.endpoint"] == "http://attacker.example"

    table = CatalogClient("unit").load_table(("ns", "t"))
    assert table.io.properties["s3.endpoint"] == "http://operator.example"
    assert "s3.proxy-uri" not in table.io.properties
    assert table.metadata.properties["s3.endpoint"] == "http://attacker.example"  # untouched
    assert table.scan().to_arrow().num_rows == 2


def test_an_operator_may_allow_table_properties(sql_catalog, monkeypatch):
    _poison(sql_catalog, {"s3.endpoint": "http://table.example", "s3.proxy-uri": "http://x"})
    monkeypatch.setenv("DATAPIC_TABLE_IO_PROPERTIES", "s3.endpoint, gcs.*")
    table = CatalogClient("unit").load_table(("ns", "t"))
    assert table.io.properties["s3.endpoint"] == "http://table.example"
    assert "s3.proxy-uri" not in table.io.properties


def test_what_the_catalog_server_says_wins_over_table_properties(sql_catalog):
    _poison(sql_catalog, {"s3.endpoint": "http://same.example", "s3.region": "eu-west-9"})
    table = sql_catalog.load_table("ns.t")
    table.config = {"s3.endpoint": "http://same.example"}  # as a REST server's config would
    confine_io(table, sql_catalog)
    assert table.io.properties["s3.endpoint"] == "http://same.example"
    assert "s3.region" not in table.io.properties


def test_valid_until_follows_the_earliest_vended_expiry(sql_catalog):
    clock, wall = Clock(), Clock()
    wall.now = 1_700_000_000.0
    client = CatalogClient("unit", clock=clock, wall_clock=wall)
    table = client.load_table(("ns", "t"))
    assert client.valid_until(table) == math.inf
    expiry_ms = (wall.now + 900) * 1000
    table.io = load_file_io(
        {
            **table.io.properties,
            "s3.session-token-expires-at-ms": str(int(expiry_ms)),
            "gcs.oauth2.token-expires-at": str(int(expiry_ms + 60_000)),
        }
    )
    assert client.valid_until(table) == pytest.approx(clock.now + 900 - 60)


class _Refusing:
    """A catalog whose first load_table is refused as a stale token would be."""

    def __init__(self, real: SqlCatalog, refusals: int) -> None:
        self.real, self.refusals, self.properties = real, refusals, real.properties

    def load_table(self, identifier):
        if self.refusals:
            self.refusals -= 1
            raise UnauthorizedError("Bearer token is invalid or expired")
        return self.real.load_table(identifier)


def test_a_refused_token_is_retried_once_with_a_new_client(sql_catalog):
    made = []

    def factory(name: str):
        made.append(_Refusing(sql_catalog, 1 if not made else 0))
        return made[-1]

    client = CatalogClient("unit", factory)
    assert client.load_table(("ns", "t")).scan().to_arrow().num_rows == 2
    assert len(made) == 2


def test_a_token_refused_twice_is_an_error_and_the_next_request_starts_afresh(sql_catalog):
    made = []

    def factory(name: str):
        made.append(_Refusing(sql_catalog, 2))
        return made[-1]

    client = CatalogClient("unit", factory)
    with pytest.raises(UnauthorizedError):
        client.load_table(("ns", "t"))
    assert len(made) == 2
    with pytest.raises(UnauthorizedError):
        client.load_table(("ns", "t"))
    assert len(made) == 4


def test_rest_catalogs_get_renewing_tokens_and_bounded_sessions(monkeypatch, token_server):
    server = token_server()
    properties = {
        "type": "rest",
        "uri": "http://127.0.0.1:1",
        "credential": "id:secret-value",
        "oauth2-server-uri": server.url,
    }
    captured = {}
    monkeypatch.setattr(runtime_catalog, "catalog_properties", lambda name: dict(properties))
    monkeypatch.setattr(runtime_catalog, "load_catalog", lambda name, **p: captured.update(p))
    pod_catalog("polaris")
    auth = captured["auth"]
    assert auth["type"] == oauth.AUTH_TYPE
    config = auth[oauth.AUTH_TYPE]
    assert config["token_url"] == server.url
    assert config["scope"] == "PRINCIPAL_ROLE:ALL"
    from pyiceberg.catalog import rest

    assert rest.Session is oauth.BoundedSession


# --- a SQLite catalog's file replaced or removed under a running pod ----------------------------


def _swap(path, content: bytes, in_place: bool) -> None:
    """Give the catalog file `content`: written over it, or as a new file moved over it."""
    if in_place:
        path.write_bytes(content)
    else:
        path.with_suffix(".new").write_bytes(content)
        path.with_suffix(".new").replace(path)


@pytest.mark.parametrize("in_place", [False, True], ids=["moved-over", "written-over"])
def test_a_garbage_catalog_file_fails_and_the_good_one_back_answers_again(
    sql_catalog, tmp_path, in_place
):
    path = tmp_path / "c.db"
    good = path.read_bytes()
    client = CatalogClient("unit")
    assert client.load_table(("ns", "t")).scan().to_arrow().num_rows == 2
    engine = client.catalog().engine
    _swap(path, b"not a database " * 1000, in_place)
    # Requests at once open more pooled connections, now to the garbage file.
    connections = [engine.connect() for _ in range(3)]
    for connection in connections:
        connection.close()  # back to the pool, still open
    failures = 0
    for _ in range(3):
        try:
            client.load_table(("ns", "t"))
        except Exception as exc:
            assert "not a database" in str(exc)
            failures += 1
    assert failures  # the garbage was read (a connection to the old file may still answer)
    _swap(path, good, in_place)
    for _ in range(5):  # whichever pooled connection each request takes
        assert client.load_table(("ns", "t")).scan().to_arrow().num_rows == 2


def test_a_removed_catalog_file_is_a_503_and_never_an_empty_new_one(sql_catalog, tmp_path):
    path = tmp_path / "c.db"
    good = path.read_bytes()
    client = CatalogClient("unit")
    client.load_table(("ns", "t"))
    path.unlink()
    for fresh in (client, CatalogClient("unit")):  # a running client, and one starting
        with pytest.raises(PodError) as caught:
            fresh.load_table(("ns", "t"))
        assert caught.value.status == 503 and caught.value.headers["Retry-After"]
        assert "database file is missing" in caught.value.message
        assert not path.exists()
    path.write_bytes(good)
    assert client.load_table(("ns", "t")).scan().to_arrow().num_rows == 2


def test_the_pod_opens_a_sqlite_catalog_read_only(sql_catalog):
    with pytest.raises(Exception, match="readonly database"):
        pod_catalog("unit").create_namespace("other")
