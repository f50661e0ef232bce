"""Shared by the runtime's unit tests: `datapic_runtime` importable as in a pod, and a small real
Iceberg table (SQL catalog in SQLite, Parquet on disk) with values that trip engines up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from tokenkit import TokenServer

NAN = float("nan")
UTC = dt.UTC

# One list per file written: several files, so that pruning is observable.
NASTY_BATCHES = [
    {
        "id": [1, 2, 3, 4],
        "d": [0.5, NAN, None, -1.0],
        "f": [0.1, 0.25, None, 2.0],
        "price": [Decimal("10.00"), Decimal("100.55"), None, Decimal("-3.10")],
        "label": ["EMEA", "emea", None, "o'hara"],
        "flag": [True, False, None, True],
        "day": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), None, dt.date(2023, 12, 31)],
        "ts": [dt.datetime(2024, 1, 1, 12), None, dt.datetime(2024, 3, 1, 0, 0, 0, 1), None],
        "tz": [dt.datetime(2024, 1, 1, 12, tzinfo=UTC), None, None, None],
        "qty": [1, 2, None, 2_000_000_000],
    },
    {
        "id": [5, 6],
        "d": [NAN, NAN],
        "f": [0.1, 0.1],
        "price": [Decimal("100.56"), Decimal("99999.99")],
        "label": ["APAC", ""],
        "flag": [False, False],
        "day": [dt.date(2025, 6, 1), dt.date(2025, 6, 2)],
        "ts": [dt.datetime(2025, 6, 1), dt.datetime(2025, 6, 2)],
        "tz": [dt.datetime(2025, 6, 1, tzinfo=UTC), None],
        "qty": [5, 6],
    },
    {
        "id": [7, 8, 9],
        "d": [100.0, 0.1, None],
        "f": [None, -0.5, 3.5],
        "price": [Decimal("0.01"), Decimal("5.00"), Decimal("7.77")],
        "label": ["LATAM", "Émea", "EMEA"],
        "flag": [None, True, True],
        "day": [dt.date(2022, 1, 1), None, dt.date(2024, 1, 2)],
        "ts": [None, dt.datetime(2022, 5, 5, 5, 5, 5), dt.datetime(2024, 1, 2)],
        "tz": [None, None, dt.datetime(2024, 1, 2, 23, 59, tzinfo=UTC)],
        "qty": [-7, 8, 9],
    },
]


def nasty_schema():
    """The Iceberg schema of `t.nasty`."""
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

    return Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "d", DoubleType()),
        NestedField(3, "f", FloatType()),
        NestedField(4, "price", DecimalType(12, 2)),
        NestedField(5, "label", StringType()),
        NestedField(6, "flag", BooleanType()),
        NestedField(7, "day", DateType()),
        NestedField(8, "ts", TimestampType()),
        NestedField(9, "tz", TimestamptzType()),
        NestedField(10, "qty", IntegerType()),
    )


@pytest.fixture(scope="session")
def catalog_props(tmp_path_factory) -> dict[str, str]:
    """Properties of a real SQL catalog holding `t.nasty` (three data files)."""
    from pyiceberg.catalog.sql import SqlCatalog

    root = tmp_path_factory.mktemp("unit-lakehouse")
    (root / "warehouse").mkdir()
    props = {"type": "sql", "uri": f"sqlite:///{root / 'catalog.db'}"}
    props["warehouse"] = (root / "warehouse").as_uri()
    catalog = SqlCatalog("default", uri=props["uri"], warehouse=props["warehouse"])
    catalog.create_namespace("t")
    schema = nasty_schema()
    table = catalog.create_table("t.nasty", schema=schema)
    for batch in NASTY_BATCHES:
        table.append(pa.Table.from_pydict(batch, schema=schema.as_arrow()))
    return props


@pytest.fixture(scope="session")
def nasty(catalog_props):
    """The pyiceberg table `t.nasty`."""
    from pyiceberg.catalog import load_catalog

    return load_catalog("default", **catalog_props).load_table("t.nasty")


@pytest.fixture
def token_server():
    """Makes OAuth2 token endpoints on loopback that answer with the given (status, body)."""
    servers = []

    def make(*answers: tuple[int, dict]) -> TokenServer:
        server = TokenServer(list(answers))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()
