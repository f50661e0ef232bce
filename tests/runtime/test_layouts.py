"""datapic_runtime.layouts: a file is read by name only where that equals reading it by field
id; answers are checked against pyiceberg's own read of the table."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from datapic_runtime.config import PodConfig, SourceSpec
from datapic_runtime.database import Database
from datapic_runtime.layouts import Layouts, _reads_by_name
from datapic_runtime.limits import load_limits
from datapic_runtime.plan import plan
from datapic_runtime.query import QueryEngine
from datapic_runtime.source import read_planned
from enginekit import make_sales
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType
from runtimekit import whole


def _catalog(root) -> SqlCatalog:
    # Not root.as_uri(): it writes `=` as %3D, which pyiceberg would keep in directory names.
    catalog = SqlCatalog("default", uri=f"sqlite:///{root / 'c.db'}", warehouse=f"file://{root}")
    catalog.create_namespace("e")
    return catalog


def _pod(sql: str, columns: tuple[str, ...], read: tuple[str, ...], table: str) -> PodConfig:
    return PodConfig(
        name="p",
        source=SourceSpec(catalog="default", namespace=("e",), table=table),
        columns=columns,
        read_columns=read,
        parameters=(),
        sql=sql,
    )


def _reference(catalog, table: str, sql: str) -> list[dict]:
    connection = duckdb.connect()
    connection.register("source", catalog.load_table(f"e.{table}").scan().to_arrow())
    return connection.sql(sql).to_arrow_table().to_pylist()


def _answer(catalog, root, config: PodConfig) -> list[dict]:
    props = {"uri": f"sqlite:///{root / 'c.db'}", "warehouse": f"file://{root}"}
    engine = QueryEngine(config, lambda name: SqlCatalog(name, **props), limits=load_limits())
    return whole(engine.answer({})).to_pylist()


def _reads(catalog, config: PodConfig) -> tuple[str, list[bool]]:
    """The statement reading the plan's files, and per file whether it is read by name."""
    table = catalog.load_table(f"e.{config.source.table}")
    made = plan(table, config, {}, table.current_snapshot().snapshot_id)
    cursor = Database(table, load_limits(), made.duckdb_files).cursor()
    columns = [c for c in made.columns if c.read_by_query]
    flags = Layouts().by_name(cursor, [f.path for f in made.files], columns)
    source, _ = read_planned(cursor, table, made, "datapic_")
    return source, flags


SALES = "SELECT id, total, qty, note FROM source ORDER BY id"


def test_files_written_before_a_rename_and_a_widening_are_read_by_field_id(tmp_path):
    catalog = _catalog(tmp_path)
    make_sales(catalog, "e.sales")  # 60 rows as (amount, int qty), then 60 as (total, long qty)
    config = _pod(SALES, ("id", "total", "qty", "note"), ("id", "note", "qty", "total"), "sales")
    source, flags = _reads(catalog, config)
    assert sorted(flags) == [False] * 3 + [True] * 3  # one file per region and append
    assert "hive_partitioning = false" in source and "schema = MAP(" in source
    rows = _answer(catalog, tmp_path, config)
    assert rows == _reference(catalog, "sales", SALES)
    assert {r["id"] for r in rows} == set(range(1, 121))


def test_names_swapped_by_renames_are_read_by_field_id(tmp_path):
    # The old files hold a column named `a` whose field id is now `b`'s: reading by name
    # would swap the two columns' values.
    catalog = _catalog(tmp_path)
    schema = Schema(
        NestedField(1, "a", StringType(), required=False),
        NestedField(2, "b", StringType(), required=False),
    )
    table = catalog.create_table("e.swapped", schema=schema)
    table.append(pa.table({"a": ["first a"], "b": ["first b"]}))
    with table.update_schema() as update:
        update.rename_column("a", "tmp")
    with table.update_schema() as update:
        update.rename_column("b", "a")
    with table.update_schema() as update:
        update.rename_column("tmp", "b")
    table = catalog.load_table("e.swapped")
    table.append(pa.table({"b": ["second b"], "a": ["second a"]}, schema=table.schema().as_arrow()))
    sql = "SELECT a, b FROM source ORDER BY a"
    config = _pod(sql, ("a", "b"), ("a", "b"), "swapped")
    _, flags = _reads(catalog, config)
    assert sorted(flags) == [False, True]
    rows = _answer(catalog, tmp_path, config)
    assert rows == _reference(catalog, "swapped", sql)
    assert {"a": "first b", "b": "first a"} in rows


def test_directory_names_never_stand_in_for_the_values_a_file_holds(tmp_path):
    # DuckDB would take region=APAC in the path for the column's value, were hive
    # partitioning not turned off for files read by name.
    root = tmp_path / "region=APAC"
    root.mkdir()
    catalog = _catalog(root)
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "region", StringType(), required=False),
    )
    table = catalog.create_table("e.plain", schema=schema)
    table.append(pa.table({"id": [1, 2], "region": ["EMEA", "EMEA"]}, schema=schema.as_arrow()))
    sql = "SELECT id, region FROM source ORDER BY id"
    config = _pod(sql, ("id", "region"), ("id", "region"), "plain")
    _, flags = _reads(catalog, config)
    assert flags == [True]
    assert _answer(catalog, root, config) == [
        {"id": 1, "region": "EMEA"},
        {"id": 2, "region": "EMEA"},
    ]


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (((1, "id", "BIGINT"), (2, "region", "VARCHAR")), True),
        (((1, "id", "INTEGER"), (2, "region", "VARCHAR")), False),  # widened since
        (((1, "ID", "BIGINT"), (2, "region", "VARCHAR")), False),  # renamed since
        (((3, "id", "BIGINT"), (2, "region", "VARCHAR")), False),  # another column's name
        (((None, "id", "BIGINT"), (2, "region", "VARCHAR")), False),  # no field ids
        (((1, "id", "BIGINT"), (2, "region", "VARCHAR"), (4, "Region", "BIGINT")), False),
        (((2, "region", "VARCHAR"),), False),  # lacks a column
        (None, False),  # its footer could not be read
    ],
)
def test_a_file_is_read_by_name_only_if_every_column_matches_exactly(layout, expected):
    wanted = [(1, "id", "BIGINT"), (2, "region", "VARCHAR")]
    assert _reads_by_name(layout, wanted) is expected


def test_a_missing_file_is_read_by_field_id_and_fails_as_before(tmp_path):
    catalog = _catalog(tmp_path)
    make_sales(catalog, "e.sales")
    config = _pod(SALES, ("id", "total", "qty", "note"), ("id", "note", "qty", "total"), "sales")
    table = catalog.load_table("e.sales")
    made = plan(table, config, {}, table.current_snapshot().snapshot_id)
    cursor = Database(table, load_limits(), made.duckdb_files).cursor()
    columns = [c for c in made.columns if c.read_by_query]
    paths = [f.path for f in made.files]
    assert Layouts().by_name(cursor, [*paths, paths[0] + ".gone"], columns) == [False] * 7
