"""datapic_runtime.equality: the rows equality deletes remove are found once per data file and
then removed as positions; the answers themselves are checked against independent references
in tests/reference/."""

from __future__ import annotations

from pathlib import Path

import pytest
from datapic_runtime.config import PodConfig, SourceSpec
from datapic_runtime.database import Database
from datapic_runtime.equality import DeletedRows
from datapic_runtime.limits import load_limits
from datapic_runtime.plan import plan
from datapic_runtime.source import read_planned, with_source
from enginekit import delete_equal, make_sales
from pyiceberg.catalog.sql import SqlCatalog

CONFIG = PodConfig(
    name="p",
    source=SourceSpec(catalog="default", namespace=("e",), table="sales"),
    columns=("id",),
    read_columns=("id", "region"),
    parameters=(),
    sql="SELECT id FROM source WHERE region = 'EMEA' ORDER BY id",
)


@pytest.fixture
def table(tmp_path):
    catalog = SqlCatalog(
        "default", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=tmp_path.as_uri()
    )
    catalog.create_namespace("e")
    table = make_sales(catalog, "e.sales")
    before = sorted(table.scan(row_filter="region == 'EMEA'").to_arrow()["id"].to_pylist())
    emea = next(iter(table.scan(row_filter="region == 'EMEA'").plan_files())).file
    delete_equal(table, emea, {"id": [2, 5]})
    return catalog.load_table("e.sales"), before


def ids(table) -> list[int]:
    made = plan(table, CONFIG, {}, table.current_snapshot().snapshot_id)
    cursor = Database(table, load_limits(), made.duckdb_files).cursor()
    source, params = read_planned(cursor, table, made, "datapic_")
    return [r[0] for r in cursor.sql(with_source(source, CONFIG.sql), params=params).fetchall()]


def test_deleted_rows_are_found_once_then_removed_by_position(table, monkeypatch):
    table, before = table
    monkeypatch.setattr("datapic_runtime.source.DELETED_ROWS", DeletedRows())
    first = ids(table)
    assert 2 in before and 5 in before
    assert first == [i for i in before if i not in (2, 5)]
    made = plan(table, CONFIG, {}, table.current_snapshot().snapshot_id)
    for scoped in made.equality_deletes:  # the delete files are not needed again
        Path(scoped.path).unlink()
    assert ids(table) == first
