"""datapic_runtime.query: the hardened DuckDB, the column-selecting scan, one catalog client."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from datapic_runtime.config import PodConfig, SourceSpec
from datapic_runtime.errors import PodError
from datapic_runtime.query import QueryEngine, execute, hardened_connection
from pyiceberg.catalog import load_catalog


def config(sql: str = "SELECT id FROM source", **fields) -> PodConfig:
    """A pod over `t.nasty` in catalog `default`."""
    values = {
        "name": "p",
        "source": SourceSpec(catalog="default", namespace=("t",), table="nasty"),
        "columns": ("id",),
        "read_columns": ("id",),
        "parameters": (),
        "sql": sql,
    }
    return PodConfig(**{**values, **fields})


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_parquet('/tmp/*.parquet')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "COPY (SELECT 1) TO '/tmp/datapic-leak.csv'",
        "EXPORT DATABASE '/tmp/datapic-leak'",
        "ATTACH '/tmp/datapic-leak.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        "SET TimeZone = 'America/New_York'",
        "SET threads = 1",
        "SELECT getenv('HOME')",
    ],
)
def test_the_pods_duckdb_reaches_nothing_outside_its_data(sql):
    connection = hardened_connection()
    with pytest.raises(duckdb.Error):
        connection.execute(sql)
    assert not Path("/tmp/datapic-leak.csv").exists()


def test_registered_data_still_answers_in_utc():
    connection = hardened_connection()
    assert connection.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    answer = execute(
        "SELECT sum(a) AS s, count(*) AS n FROM source WHERE a > $m",
        pa.table({"a": [1, 2, 3]}),
        {"m": 1},
    )
    assert answer.to_table().to_pylist() == [{"s": 5, "n": 2}]
    # SUM over integers is a HUGEINT, which Arrow carries as decimal128(38, 0): flagged as integer.
    assert answer.wide_integers == frozenset({0})
    assert pa.types.is_decimal(answer.schema.field("s").type)


def counting(factory):
    """`factory`, counting its calls in .calls."""

    @functools.wraps(factory)
    def wrapper(name):
        wrapper.calls += 1
        return factory(name)

    wrapper.calls = 0
    return wrapper


def test_the_catalog_is_created_once_and_each_answer_reads_the_current_snapshot(
    catalog_props, tmp_path
):
    # A private copy of the lakehouse: this test appends to it.
    root = Path(catalog_props["uri"].removeprefix("sqlite:///")).parent
    shutil.copytree(root, tmp_path / "lake")
    props = {**catalog_props, "uri": f"sqlite:///{tmp_path / 'lake' / 'catalog.db'}"}
    factory = counting(functools.partial(load_catalog, **props))
    engine = QueryEngine(config("SELECT count(*) AS n FROM source"), factory)
    assert engine.answer({}).to_table().to_pylist() == [{"n": 9}]

    table = load_catalog("default", **props).load_table("t.nasty")
    table.append(table.scan(row_filter="id <= 2").to_arrow())
    assert engine.answer({}).to_table().to_pylist() == [{"n": 11}]
    assert factory.calls == 1

    engine.catalog.forget()
    engine.answer({})
    assert factory.calls == 2


def test_a_catalog_that_failed_to_start_is_retried(catalog_props, tmp_path):
    later = tmp_path / "later"
    props = {**catalog_props, "uri": f"sqlite:///{later / 'catalog.db'}"}
    engine = QueryEngine(config(), functools.partial(load_catalog, **props))
    with pytest.raises(Exception, match="unable to open database file"):
        engine.answer({})
    later.mkdir()
    shutil.copy(Path(catalog_props["uri"].removeprefix("sqlite:///")), later / "catalog.db")
    assert engine.answer({}).to_table().num_rows == 9


def test_an_unconfigured_catalog_is_a_500_saying_how_to_configure_it(monkeypatch):
    engine = QueryEngine(config(source=SourceSpec(catalog="nowhere", namespace=("t",), table="x")))
    with pytest.raises(PodError) as caught:
        engine.answer({})
    assert caught.value.status == 500
    assert "catalog 'nowhere' is not configured" in caught.value.message
    assert "PYICEBERG_CATALOG__NOWHERE__*" in caught.value.message
