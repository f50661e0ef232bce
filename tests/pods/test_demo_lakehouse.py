"""examples/lakehouse.py, which the demo and these tests share: deterministic, partitioned,
realistic, and safe to build again."""

from __future__ import annotations

import pytest
from lakehouse import SCHEMA, build_lakehouse, catalog_env, is_built, open_catalog, orders

pytestmark = pytest.mark.pod


def test_the_orders_are_deterministic_and_realistic():
    first, again = orders(3000), orders(3000)
    assert first.equals(again)
    assert first.schema == SCHEMA.as_arrow()
    rows = first.to_pylist()
    assert {r["region"] for r in rows} == {"EMEA", "AMER", "APAC", "LATAM", None}
    for column in ("shipped_at", "region", "discount"):
        nulls = sum(r[column] is None for r in rows)
        assert 0 < nulls < len(rows) / 2, column
    assert all(
        r["q"] == f"{r['order_date'].year}-Q{(r['order_date'].month + 2) // 3}" for r in rows
    )
    assert all(r["sales"].as_tuple().exponent == -2 for r in rows)  # cents, exactly
    assert len({r["order_id"] for r in rows}) == len(rows)


def test_build_reuses_an_identical_lakehouse_and_rebuilds_a_different_one(tmp_path):
    (tmp_path / "keep.txt").write_text("not the lakehouse's")
    env = build_lakehouse(tmp_path, rows=500)
    assert env == catalog_env(tmp_path)
    assert env["PYICEBERG_CATALOG__DEFAULT__URI"] == f"sqlite:///{tmp_path / 'catalog.db'}"
    assert env["PYICEBERG_CATALOG__DEFAULT__WAREHOUSE"] == (tmp_path / "warehouse").as_uri()
    table = open_catalog(tmp_path).load_table("sales.orders")
    assert [f.transform.__class__.__name__ for f in table.spec().fields] == [
        "IdentityTransform",
        "MonthTransform",
    ]
    assert table.scan().to_arrow().num_rows == 500
    assert is_built(tmp_path, 500) and not is_built(tmp_path, 600)

    built = (tmp_path / "catalog.db").stat().st_mtime_ns
    build_lakehouse(tmp_path, rows=500)
    assert (tmp_path / "catalog.db").stat().st_mtime_ns == built  # reused, not rebuilt

    build_lakehouse(tmp_path, rows=600)
    assert open_catalog(tmp_path).load_table("sales.orders").scan().to_arrow().num_rows == 600
    assert len(open_catalog(tmp_path).load_table("sales.orders").snapshots()) == 1
    assert (tmp_path / "keep.txt").read_text() == "not the lakehouse's"
