"""Pods run for real: uvicorn on loopback over real Iceberg tables (pyiceberg's SQL catalog in
SQLite, Parquet files on disk), queried over HTTP.

The reference for every answer is independent of the pod's data path: pyiceberg's own full
read of the table (no pushdown, no column selection) queried by a plain DuckDB with the same
SQL, the parameters written into it as typed literals by the test, and the rows turned into
JSON form by the test's own rules.

Each test writes its pod's pod.json (the compiled query: SQL, parameters, pushdown), so the
SQL can be DuckDB that no spec compiles to; `podkit.make_pod` then has the compiler's own
render and emit write the pod directory from it (runtime, openapi.json, deploy files), as
`datapic compile` does.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from lakehouse import build_lakehouse, catalog_env, open_catalog
from podkit import json_form, substitute
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

ORDERS_ROWS = 20_000
UTC = dt.UTC
NAN = float("nan")


# --- the lakehouse ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lakehouse(tmp_path_factory) -> Path:
    """The demo lakehouse (small) plus the tables the pod tests need."""
    root = tmp_path_factory.mktemp("lakehouse")
    build_lakehouse(root, rows=ORDERS_ROWS)
    catalog = open_catalog(root)
    catalog.create_namespace("shop")
    evolving_table(catalog)
    types_table(catalog)
    return root


@pytest.fixture(scope="session")
def pod_env(lakehouse: Path) -> dict[str, str]:
    """The environment that points a pod at the lakehouse (as the demo uses it)."""
    return catalog_env(lakehouse)


@pytest.fixture(scope="session")
def catalog(lakehouse: Path) -> SqlCatalog:
    """The lakehouse's catalog, for the references and for changing tables."""
    return open_catalog(lakehouse)


def evolving_table(catalog: SqlCatalog) -> None:
    """`shop.evolving`: schema changes after the first files, then deletes and an overwrite."""
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "amount", DoubleType()),
        NestedField(3, "flag", BooleanType()),
        NestedField(4, "qty", IntegerType()),
    )
    table = catalog.create_table("shop.evolving", schema=schema)
    first = {
        "id": list(range(1, 101)),
        "amount": [None if i % 10 == 0 else i * 1.5 for i in range(1, 101)],
        "flag": [i % 3 == 0 for i in range(1, 101)],
        "qty": [i % 7 for i in range(1, 101)],
    }
    table.append(pa.Table.from_pydict(first, schema=schema.as_arrow()))
    with table.update_schema() as update:
        update.rename_column("amount", "total")  # old files still say "amount"
        update.add_column("note", StringType())  # old files have no such column
        update.update_column("qty", LongType())  # int -> long: old files hold int32
    table = catalog.load_table("shop.evolving")
    second = {
        "id": list(range(101, 151)),
        "total": [i * 2.0 for i in range(101, 151)],
        "flag": [i % 2 == 0 for i in range(101, 151)],
        "qty": [5_000_000_000 + i for i in range(101, 151)],
        "note": [None if i % 5 == 0 else f"n{i}" for i in range(101, 151)],
    }
    table.append(pa.Table.from_pydict(second, schema=table.schema().as_arrow()))
    third = {"id": [900, 901], "total": [9.0, 9.5], "flag": [True, True], "qty": [1, 2]}
    third["note"] = ["gone", "gone"]
    table.append(pa.Table.from_pydict(third, schema=table.schema().as_arrow()))
    table.delete("id >= 900")  # a whole data file deleted
    table.delete("id <= 20")  # part of a file: rewritten without these rows
    replacement = {"id": [140, 141], "total": [-1.0, -2.0], "flag": [True, False], "qty": [7, 8]}
    replacement["note"] = ["re", None]
    table.overwrite(
        pa.Table.from_pydict(replacement, schema=table.schema().as_arrow()),
        overwrite_filter="id >= 140",  # 140..150 replaced by two rows
    )


TYPES_ROWS = [
    # id, d, f, dec, flag, day, ts, tz, label
    (
        1,
        0.5,
        0.1,
        "1.0000000001",
        True,
        "2024-01-01",
        "2024-01-01T12:00:00",
        "2024-01-01T12:00:00",
        "EMEA",
    ),
    (2, NAN, 0.25, "-99999999999999999999.9999999999", False, "2024-02-29", None, None, "emea"),
    (3, None, None, None, None, None, None, None, None),
    (4, -1.0, 2.0, "0", True, "2023-12-31", "2024-03-01T00:00:00.000001", None, "o'hara"),
    (
        5,
        NAN,
        0.1,
        "12345678901234567890.1234567890",
        False,
        "2025-06-01",
        "2025-06-01T00:00:00",
        "2025-06-01T00:00:00",
        "",
    ),
    (6, 100.0, -0.5, "0.0000000001", None, "2022-01-01", "2022-05-05T05:05:05", None, "Zürich"),
]


def types_table(catalog: SqlCatalog) -> None:
    """`shop.types`: NaN, NULL, float32, wide decimals, booleans, dates, timestamps, text."""
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "d", DoubleType()),
        NestedField(3, "f", FloatType()),
        NestedField(4, "dec", DecimalType(38, 10)),
        NestedField(5, "flag", BooleanType()),
        NestedField(6, "day", DateType()),
        NestedField(7, "ts", TimestampType()),
        NestedField(8, "tz", TimestamptzType()),
        NestedField(9, "label", StringType()),
    )
    table = catalog.create_table("shop.types", schema=schema)
    names = [field.name for field in schema.fields]
    for rows in (TYPES_ROWS[:3], TYPES_ROWS[3:]):  # two files
        columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
        columns["dec"] = [None if v is None else Decimal(v) for v in columns["dec"]]
        columns["day"] = [None if v is None else dt.date.fromisoformat(v) for v in columns["day"]]
        columns["ts"] = [None if v is None else dt.datetime.fromisoformat(v) for v in columns["ts"]]
        columns["tz"] = [
            None if v is None else dt.datetime.fromisoformat(v).replace(tzinfo=UTC)
            for v in columns["tz"]
        ]
        table.append(pa.Table.from_pydict(columns, schema=schema.as_arrow()))


@pytest.fixture(scope="session")
def reference(catalog: SqlCatalog):
    """reference(pod, values) -> the rows the pod must answer for these parameter values."""
    full_reads: dict[str, pa.Table] = {}

    def _reference(pod: dict, values: Mapping[str, Any]) -> list[dict]:
        table = ".".join([*pod["source"]["namespace"], pod["source"]["table"]])
        if table not in full_reads:
            full_reads[table] = catalog.load_table(table).scan().to_arrow()
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("source", full_reads[table])
        sql = substitute(pod, values)
        relation = connection.sql(sql)
        # Fetching TIMESTAMPTZ into Python needs pytz: fetch those as text and parse them here.
        zoned = [str(t) == "TIMESTAMP WITH TIME ZONE" for t in relation.types]
        if any(zoned):
            names = [n for n, z in zip(relation.columns, zoned, strict=True) if z]
            casts = ", ".join(f'CAST("{n}" AS VARCHAR) AS "{n}"' for n in names)
            relation = connection.sql(f"SELECT * REPLACE ({casts}) FROM ({sql})")
        # A float32 is written as its shortest float32 text (0.1), not its double's digits.
        single = [str(t) == "FLOAT" for t in relation.types]
        rows = [
            [
                dt.datetime.fromisoformat(v)
                if z and v
                else float(str(np.float32(v)))
                if f and v is not None and math.isfinite(v)
                else v
                for v, z, f in zip(row, zoned, single, strict=True)
            ]
            for row in relation.fetchall()
        ]
        return [dict(zip(pod["columns"], map(json_form, row), strict=True)) for row in rows]

    return _reference
