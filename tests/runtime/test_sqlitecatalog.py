"""The pod reads a plain SQLite SQL catalog with sqlite3 (no SQLAlchemy at its first request):
every table it loads that way must be the one pyiceberg's own SqlCatalog gives, over the same
file, for a v1 catalog (views filtered out), a v0 catalog (no iceberg_type column) and a
missing table. The reference is pyiceberg's SqlCatalog; its lookup is made to fail inside the
pod's client, so a test passing there proves the pod did not use it."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pytest
from datapic_runtime.catalog import CatalogClient, catalog_properties, pod_catalog
from datapic_runtime.sqlitecatalog import reads_directly
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

SCHEMA = Schema(NestedField(1, "id", LongType(), required=False))


@pytest.fixture
def catalog_file(tmp_path, monkeypatch):
    """A real SQL catalog `unit` in SQLite, configured through the environment, with ns.t."""
    for name in [n for n in __import__("os").environ if n.startswith("PYICEBERG_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "c.db"
    monkeypatch.setenv("PYICEBERG_CATALOG__UNIT__TYPE", "sql")
    monkeypatch.setenv("PYICEBERG_CATALOG__UNIT__URI", f"sqlite:///{path}")
    monkeypatch.setenv("PYICEBERG_CATALOG__UNIT__WAREHOUSE", f"file://{tmp_path / 'wh'}")
    catalog = SqlCatalog("unit", **catalog_properties("unit"))
    catalog.create_namespace("ns")
    table = catalog.create_table("ns.t", schema=SCHEMA)
    table.append(pa.Table.from_pylist([{"id": 1}, {"id": 2}], schema=SCHEMA.as_arrow()))
    catalog.engine.dispose()
    return path


def _reference(identifier: str):
    """What the pod's client loads through pyiceberg's SqlCatalog (as the pod configures it:
    read-only), the way it still does for other SQL catalogs."""
    client = CatalogClient("unit", factory=lambda name: pod_catalog(name))
    try:
        return client.load_table(tuple(identifier.split(".")))
    finally:
        client.forget()


def _pods_load(monkeypatch, identifier: tuple[str, ...]):
    """The pod's client loading `identifier`, SqlCatalog's lookup made to fail meanwhile."""

    def refused(*_args, **_kwargs):
        raise AssertionError("the pod used SQLAlchemy's SqlCatalog")

    with monkeypatch.context() as patch:
        patch.setattr(SqlCatalog, "load_table", refused)
        return CatalogClient("unit").load_table(identifier)


def _same_table(found, expected) -> None:
    assert found.name() == expected.name()
    assert found.metadata_location == expected.metadata_location
    assert found.metadata == expected.metadata
    assert found.io.properties == expected.io.properties
    assert found.scan().to_arrow().equals(expected.scan().to_arrow())


def test_a_plain_sqlite_catalog_is_read_without_sqlalchemy_and_gives_the_same_table(
    catalog_file, monkeypatch
):
    _same_table(_pods_load(monkeypatch, ("ns", "t")), _reference("ns.t"))


def test_a_v0_catalog_without_the_iceberg_type_column_reads_alike(catalog_file, monkeypatch):
    with sqlite3.connect(catalog_file) as connection:
        connection.execute("ALTER TABLE iceberg_tables DROP COLUMN iceberg_type")
    _same_table(_pods_load(monkeypatch, ("ns", "t")), _reference("ns.t"))


def test_a_view_row_and_a_missing_table_are_no_such_table_as_in_pyiceberg(
    catalog_file, monkeypatch
):
    with sqlite3.connect(catalog_file) as connection:
        connection.execute(
            "INSERT INTO iceberg_tables VALUES ('unit', 'ns', 'v', 'file:///x.json', NULL, 'VIEW')"
        )
    for name in ("v", "gone"):
        with pytest.raises(NoSuchTableError) as expected:
            _reference(f"ns.{name}")
        with pytest.raises(NoSuchTableError) as found:
            _pods_load(monkeypatch, ("ns", name))
        assert str(found.value) == str(expected.value)


def test_only_catalogs_that_sqlalchemy_would_not_change_are_read_directly():
    sqlite = {"uri": "sqlite:////lake/catalog.db"}
    assert reads_directly({**sqlite, "type": "sql"}) and reads_directly(sqlite)
    assert not reads_directly({**sqlite, "type": "sql", "schema_version": "v1"})
    assert not reads_directly({**sqlite, "py-catalog-impl": "my.Catalog"})
    assert not reads_directly({"type": "rest", "uri": "http://catalog"})
