"""datapic_runtime.plan: pruning by the pushdown, which reader reads each file, plan caching."""

from __future__ import annotations

from pathlib import Path

import pytest
from datapic_runtime.columns import duckdb_type
from datapic_runtime.config import PodConfig, SourceSpec
from datapic_runtime.errors import PodError
from datapic_runtime.plan import PlanCache, duckdb_path, plan, read_columns
from datapic_runtime.predicates import parse_predicate
from enginekit import REGIONS, delete_equal, delete_positions, make_sales
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.types import (
    BinaryType,
    DecimalType,
    FixedType,
    IntegerType,
    ListType,
    LongType,
    StringType,
    TimestampNanoType,
    TimestamptzType,
    UUIDType,
)

BY_REGION = (
    parse_predicate({"column": "region", "op": "eq", "value": {"parameter": "r"}}, ["r"], "t"),
)


def sales_config(**fields) -> PodConfig:
    """A pod over `e.sales` reading the renamed and added columns, filtered by region."""
    values = {
        "name": "p",
        "source": SourceSpec(catalog="default", namespace=("e",), table="sales"),
        "columns": ("n",),
        "read_columns": ("REGION", "total", "note"),
        "parameters": (),
        "sql": "SELECT count(*) AS n FROM source",
        "pushdown": BY_REGION,
    }
    return PodConfig(**{**values, **fields})


@pytest.fixture
def catalog(tmp_path) -> SqlCatalog:
    catalog = SqlCatalog(
        "default", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=tmp_path.as_uri()
    )
    catalog.create_namespace("e")
    return catalog


def test_the_pushdown_prunes_other_partitions_and_duckdb_reads_the_rest(catalog):
    table = make_sales(catalog, "e.sales")
    made = plan(table, sales_config(), {"r": "EMEA"}, table.current_snapshot().snapshot_id)
    assert made.files_total == 6 and made.files_planned == 2 and made.files_pruned == 4
    paths = [f.path for f in made.files]
    assert all("region=EMEA" in path and not path.startswith("file:") for path in paths)
    assert not made.via_pyiceberg and made.duckdb_files == tuple(paths)
    assert made.bytes_planned > 0
    # The current names, found in any case; renamed and added columns keep their field ids.
    assert [(c.field_id, c.name, c.duckdb_type) for c in made.columns] == [
        (2, "region", "VARCHAR"),
        (3, "total", "DOUBLE"),
        (5, "note", "VARCHAR"),
    ]


def test_a_position_delete_file_comes_with_its_data_file_and_only_that(catalog):
    table = make_sales(catalog, "e.sales")
    emea = [t.file for t in table.scan(row_filter="region == 'EMEA'").plan_files()]
    delete_positions(table, emea[0], [0])
    table = catalog.load_table("e.sales")
    made = plan(table, sales_config(), {"r": "AMER"}, table.current_snapshot().snapshot_id)
    assert len(made.files) == 2 and not any(f.task.has_deletes for f in made.files)
    made = plan(table, sales_config(), {"r": "EMEA"}, table.current_snapshot().snapshot_id)
    # Without file_path bounds a position delete file may hit any file of its partition; the
    # rows it removes are its own business (tests/runtime/test_source.py).
    assert [len(f.task.position_deletes) for f in made.files] == [1, 1]
    assert not made.via_pyiceberg and made.equality_deletes == ()


def test_a_name_mapped_table_reads_files_with_field_ids_by_id(catalog):
    # Its files may lack field ids (then they are read by the mapped names): the footer says.
    table = make_sales(catalog, "e.sales")
    with table.transaction() as transaction:
        transaction.set_properties({"schema.name-mapping.default": "[]"})
    table = catalog.load_table("e.sales")
    made = plan(table, sales_config(), {"r": "EMEA"}, table.current_snapshot().snapshot_id)
    assert len(made.files) == 2 and all(f.names is None for f in made.files)


def test_equality_deletes_come_with_the_files_of_their_partition_and_their_keys(catalog):
    table = make_sales(catalog, "e.sales")
    emea = next(iter(table.scan(row_filter="region == 'EMEA'").plan_files())).file
    delete_equal(table, emea, {"id": [3]})
    table = catalog.load_table("e.sales")
    snapshot = table.current_snapshot().snapshot_id
    made = plan(table, sales_config(), {"r": "EMEA"}, snapshot)
    assert all(len(f.task.equality_deletes) == 1 for f in made.files)  # both EMEA files
    (scoped,) = made.equality_deletes
    assert scoped.scope == made.files[0].scope and scoped.delete.equality_ids == (1,)
    # The query does not read id, the key: the scan reads it under a name of its own.
    assert [(c.name, c.read_by_query) for c in made.columns][-1] == ("__datapic_key_1", False)
    other = plan(table, sales_config(), {"r": "APAC"}, snapshot)
    assert other.equality_deletes == () and len(other.columns) == 3


def test_a_column_the_table_lost_is_a_clear_500(catalog):
    table = make_sales(catalog, "e.sales")
    with pytest.raises(PodError) as caught:
        read_columns(table, sales_config(read_columns=("id", "vanished")))
    assert caught.value.status == 500
    assert "table e.sales has no column 'vanished'" in caught.value.message


def test_count_star_alone_still_reads_one_column(catalog):
    table = make_sales(catalog, "e.sales")
    assert read_columns(table, sales_config(read_columns=())) == ("id",)


def test_plans_are_cached_per_snapshot_and_bound_values(catalog):
    table = make_sales(catalog, "e.sales")
    cache, config, snapshot = PlanCache(), sales_config(), table.current_snapshot().snapshot_id
    first = cache.plan(table, config, {"r": "EMEA"}, snapshot)
    assert cache.plan(table, config, {"r": "EMEA"}, snapshot) is first
    other = cache.plan(table, config, {"r": "APAC"}, snapshot)
    assert other is not first and all("region=APAC" in f.path for f in other.files)
    table.append(table.scan(row_filter="id <= 3").to_arrow())
    table = catalog.load_table("e.sales")
    newer = cache.plan(table, config, {"r": "EMEA"}, table.current_snapshot().snapshot_id)
    assert newer is not first and newer.files_total == 6 + len(REGIONS)


def test_a_repeated_request_finds_its_plan_without_binding_the_filter(catalog, monkeypatch):
    from datapic_runtime import plan as plan_module

    table = make_sales(catalog, "e.sales")
    cache, config, snapshot = PlanCache(), sales_config(), table.current_snapshot().snapshot_id
    first = cache.plan(table, config, {"r": "EMEA"}, snapshot)
    bound = []
    real = plan_module.row_filter
    monkeypatch.setattr(plan_module, "row_filter", lambda *a: bound.append(a) or real(*a))
    assert cache.plan(table, config, {"r": "EMEA"}, snapshot) is first
    assert bound == []
    # Other values: bound and planned again, not taken from the first request's plan.
    assert cache.plan(table, config, {"r": "APAC"}, snapshot) is not first
    assert len(bound) >= 1


@pytest.mark.parametrize(
    ("iceberg", "duckdb"),
    [
        (IntegerType(), "INTEGER"),
        (LongType(), "BIGINT"),
        (DecimalType(38, 10), "DECIMAL(38,10)"),
        (StringType(), "VARCHAR"),
        (TimestamptzType(), "TIMESTAMPTZ"),
        (BinaryType(), "BLOB"),
        (FixedType(4), "BLOB"),
        (UUIDType(), None),  # pyiceberg's reader: its values differ from DuckDB's UUID
        (TimestampNanoType(), None),
        (ListType(1, IntegerType()), None),
    ],
)
def test_duckdb_types(iceberg, duckdb):
    assert duckdb_type(iceberg) == duckdb


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///tmp/w/t/data/r=c%3Ad/a.parquet", "/tmp/w/t/data/r=c%3Ad/a.parquet"),
        ("file:/tmp/w/t/data/a.parquet", "/tmp/w/t/data/a.parquet"),
        ("/tmp/w/t/data/a.parquet", "/tmp/w/t/data/a.parquet"),
        ("s3://bucket/t/data/a.parquet", "s3://bucket/t/data/a.parquet"),
    ],
)
def test_duckdb_paths(uri, path):
    assert duckdb_path(uri) == path


def test_manifests_are_read_once_then_planned_from_memory(catalog):
    table = make_sales(catalog, "e.sales")
    cache, config, snapshot = PlanCache(), sales_config(), table.current_snapshot().snapshot_id
    first = cache.plan(table, config, {"r": "EMEA"}, snapshot)
    manifests = table.current_snapshot().manifests(table.io)
    for manifest in manifests:  # manifests never change: a later plan must not need them
        Path(manifest.manifest_path.removeprefix("file://")).unlink()
    other = cache.plan(table, config, {"r": "APAC"}, snapshot)
    assert other.files_planned == first.files_planned == 2
    assert all("region=APAC" in f.path for f in other.files)
    with pytest.raises(FileNotFoundError):  # what an uncached plan would have needed
        plan(table, config, {"r": "APAC"}, snapshot)


def test_equality_deletes_on_a_dropped_column_are_a_501_naming_the_field(catalog):
    table = make_sales(catalog, "e.sales")
    emea = next(iter(table.scan(row_filter="region == 'EMEA'").plan_files())).file
    delete_equal(table, emea, {"qty": [3]})
    table = catalog.load_table("e.sales")
    with table.update_schema() as update:
        update.delete_column("qty")
    table = catalog.load_table("e.sales")
    with pytest.raises(PodError) as caught:
        plan(table, sales_config(), {"r": "EMEA"}, table.current_snapshot().snapshot_id)
    assert caught.value.status == 501
    assert "equality deletes keyed on field 4, which is not a top-level column" in str(
        caught.value.message
    )
