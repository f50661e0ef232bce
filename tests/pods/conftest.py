"""Real Iceberg tables (pyiceberg SQL catalog in SQLite, Parquet files on disk) and compiled pods.

The reference for every answer is independent of the pod: pyiceberg's own full read of the
table (no pushdown, no column selection) queried by DuckDB with SQL written by hand in the test.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import BooleanType, DoubleType, LongType, NestedField, StringType

from compiler.emit import emit
from compiler.pipeline import compile_spec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "templates" / "pod"))

from lakehouse import PARTITIONING, SCHEMA, catalog_env, open_catalog, orders  # noqa: E402

CATALOG = "default"


def evolving_table(catalog: SqlCatalog) -> None:
    """`shop.evolving`: a column renamed and one added after the first write, then rows
    removed by a delete and replaced by an overwrite, so only the current snapshot counts."""
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "amount", DoubleType()),
        NestedField(3, "flag", BooleanType()),
    )
    table = catalog.create_table("shop.evolving", schema=schema)
    table.append(
        pa.Table.from_pydict(
            {
                "id": list(range(1, 101)),
                "amount": [None if i % 10 == 0 else i * 1.5 for i in range(1, 101)],
                "flag": [i % 3 == 0 for i in range(1, 101)],
            },
            schema=schema.as_arrow(),
        )
    )
    with table.update_schema() as update:
        update.rename_column("amount", "total")
        update.add_column("note", StringType())
    table = catalog.load_table("shop.evolving")
    table.append(
        pa.Table.from_pydict(
            {
                "id": list(range(101, 151)),
                "total": [i * 2.0 for i in range(101, 151)],
                "flag": [i % 2 == 0 for i in range(101, 151)],
                "note": [None if i % 5 == 0 else f"n{i}" for i in range(101, 151)],
            },
            schema=table.schema().as_arrow(),
        )
    )
    table.delete("id <= 20")
    replacement = pa.Table.from_pydict(
        {"id": [140, 141], "total": [-1.0, -2.0], "flag": [True, False], "note": ["re", None]},
        schema=table.schema().as_arrow(),
    )
    table.overwrite(replacement, overwrite_filter="id >= 140")


@pytest.fixture(scope="session")
def lakehouse(tmp_path_factory) -> Path:
    """A lakehouse with `sales.orders` (partitioned) and `shop.evolving`."""
    root = tmp_path_factory.mktemp("lakehouse")
    (root / "warehouse").mkdir()
    catalog = open_catalog(root)
    catalog.create_namespace("sales")
    table = catalog.create_table("sales.orders", schema=SCHEMA, partition_spec=PARTITIONING)
    table.append(orders(6000, seed=11))
    catalog.create_namespace("shop")
    evolving_table(catalog)
    return root


@pytest.fixture(scope="session")
def catalog(lakehouse: Path) -> SqlCatalog:
    return open_catalog(lakehouse)


@pytest.fixture(scope="session")
def pod_env(lakehouse: Path) -> dict[str, str]:
    return catalog_env(lakehouse)


@pytest.fixture
def compile_pod(tmp_path: Path):
    """Compile spec text into a pod directory, as `datapic compile` does."""

    def _compile(spec_text: str, name: str = "spec") -> Path:
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(spec_text)
        result = compile_spec(spec)
        assert result.ok, [d.message for d in result.diagnostics]
        pod_dir = tmp_path / "out" / result.pod.name
        emit(result.files, pod_dir)
        return pod_dir

    return _compile


@pytest.fixture(scope="session")
def reference(catalog: SqlCatalog):
    """Rows of hand-written SQL over pyiceberg's full read of a table, in the pods' JSON form."""

    def _reference(table: str, sql: str) -> list[dict]:
        data = catalog.load_table(table).scan().to_arrow()
        connection = duckdb.connect()
        connection.register("t", data)
        cursor = connection.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, map(json_form, row), strict=True)) for row in cursor.fetchall()]

    return _reference


def json_form(value):
    """How the pod contract writes a value in JSON (decimals as strings, ISO 8601 times)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
