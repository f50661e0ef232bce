"""The demo lakehouse: pyiceberg's SQL catalog in SQLite plus a file warehouse, with `sales.orders`.

Deterministic (seeded) data, partitioned by region and by month of order_date, with nulls,
dates, timestamps and decimals. `build_lakehouse` returns the environment a pod needs to find
the catalog; run this file to (re)build it under .lakehouse/.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform, MonthTransform
from pyiceberg.types import (
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = ROOT / ".lakehouse"
REGIONS = {
    "EMEA": ["DE", "FR", "GB", "ES", "IT", "NL"],
    "AMER": ["US", "CA"],
    "APAC": ["JP", "AU", "SG", "IN"],
    "LATAM": ["BR", "MX", "AR"],
}
PRODUCTS = ["laptop", "phone", "tablet", "monitor", "keyboard", "headset", "dock"]

SCHEMA = Schema(
    NestedField(1, "order_id", LongType(), required=True),
    NestedField(2, "order_date", DateType(), required=True),
    NestedField(3, "shipped_at", TimestampType()),
    NestedField(4, "region", StringType()),
    NestedField(5, "country", StringType()),
    NestedField(6, "product", StringType()),
    NestedField(7, "quantity", IntegerType()),
    NestedField(8, "sales", DecimalType(12, 2)),
    NestedField(9, "discount", DoubleType()),
    NestedField(10, "q", StringType()),
)
PARTITIONING = PartitionSpec(
    PartitionField(source_id=4, field_id=1000, transform=IdentityTransform(), name="region"),
    PartitionField(source_id=2, field_id=1001, transform=MonthTransform(), name="order_month"),
)


def catalog_env(root: Path) -> dict[str, str]:
    """The PYICEBERG_CATALOG__DEFAULT__* variables that point a pod at this lakehouse."""
    return {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{root / 'catalog.db'}",
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": (root / "warehouse").as_uri(),
    }


def open_catalog(root: Path) -> SqlCatalog:
    """The lakehouse's catalog, as a writer."""
    env = catalog_env(root)
    return SqlCatalog(
        "default",
        uri=env["PYICEBERG_CATALOG__DEFAULT__URI"],
        warehouse=env["PYICEBERG_CATALOG__DEFAULT__WAREHOUSE"],
    )


def orders(rows: int, seed: int = 7) -> pa.Table:
    """`rows` deterministic orders from 2023 to 2025 in SCHEMA's Arrow form."""
    rng = random.Random(seed)
    start = dt.date(2023, 1, 1)
    regions = list(REGIONS)
    columns: dict[str, list] = {field.name: [] for field in SCHEMA.fields}
    for order_id in range(1, rows + 1):
        day = start + dt.timedelta(days=rng.randrange(3 * 365))
        region = rng.choice(regions)
        country = rng.choice(REGIONS[region])
        quantity = rng.randint(1, 20)
        shipped = dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60)))
        columns["order_id"].append(order_id)
        columns["order_date"].append(day)
        columns["shipped_at"].append(
            None if rng.random() < 0.05 else shipped + dt.timedelta(days=rng.randint(1, 5))
        )
        columns["region"].append(None if rng.random() < 0.01 else region)
        columns["country"].append(country)
        columns["product"].append(rng.choice(PRODUCTS))
        columns["quantity"].append(quantity)
        columns["sales"].append(Decimal(rng.randrange(500, 300_000)) / 100 * quantity)
        columns["discount"].append(None if rng.random() < 0.3 else round(rng.random() / 4, 3))
        columns["q"].append(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
    return pa.Table.from_pydict(columns, schema=SCHEMA.as_arrow())


def build_lakehouse(root: Path = DEFAULT_ROOT, rows: int = 300_000) -> dict[str, str]:
    """(Re)build the lakehouse under `root` and return the env a pod needs to read it."""
    if root.exists():
        shutil.rmtree(root)
    (root / "warehouse").mkdir(parents=True)
    catalog = open_catalog(root)
    catalog.create_namespace("sales")
    table = catalog.create_table("sales.orders", schema=SCHEMA, partition_spec=PARTITIONING)
    table.append(orders(rows))
    return catalog_env(root)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    build_lakehouse(rows=count)
    print(f"built {DEFAULT_ROOT.relative_to(ROOT)}/ with sales.orders ({count} rows)")
