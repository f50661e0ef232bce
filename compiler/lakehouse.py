"""The demo lakehouse: pyiceberg's SQL catalog in SQLite plus a file warehouse, with `sales.orders`.

Deterministic (seeded) orders from 2023 to 2025, partitioned by region (identity) and by month of
order_date, with nulls, dates, timestamps and decimals. `build_lakehouse` returns the
environment a pod needs to find the catalog. `datapic demo-lakehouse` builds it into a project,
`make demo` into the repository's .lakehouse/, and the pod tests share it.

Needs pyiceberg with its SQL catalog and pyiceberg-core (month-partitioned tables are written
through it): the `demo` extra. The CLI imports this module only when the command runs.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
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

from .scaffold.catalog import demo_catalog_properties

# Bump when the generated data changes, so an existing lakehouse is rebuilt rather than reused.
DATA_VERSION = 2
SEED = 7
STAMP = "lakehouse.json"

REGIONS = {
    "EMEA": ["DE", "FR", "GB", "ES", "IT", "NL"],
    "AMER": ["US", "CA"],
    "APAC": ["JP", "AU", "SG", "IN"],
    "LATAM": ["BR", "MX", "AR"],
}
PRODUCTS = ["laptop", "phone", "tablet", "monitor", "keyboard", "headset", "dock"]
FIRST_DAY = dt.date(2023, 1, 1)
DAYS = 3 * 365

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
    """The PYICEBERG_CATALOG__DEFAULT__* variables that point a pod at the lakehouse in `root`."""
    properties = demo_catalog_properties(root)
    return {f"PYICEBERG_CATALOG__DEFAULT__{key.upper()}": v for key, v in properties.items()}


def open_catalog(root: Path) -> SqlCatalog:
    """The lakehouse's catalog, as a writer (the same one a pod reads through its env)."""
    env = catalog_env(root)
    return SqlCatalog(
        "default",
        uri=env["PYICEBERG_CATALOG__DEFAULT__URI"],
        warehouse=env["PYICEBERG_CATALOG__DEFAULT__WAREHOUSE"],
    )


def orders(rows: int, seed: int = SEED) -> pa.Table:
    """`rows` deterministic orders in SCHEMA's Arrow form."""
    rng = random.Random(seed)
    regions = list(REGIONS)
    columns: dict[str, list] = {field.name: [] for field in SCHEMA.fields}
    for order_id in range(1, rows + 1):
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        region = rng.choice(regions)
        quantity = rng.randint(1, 20)
        placed = dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60)))
        columns["order_id"].append(order_id)
        columns["order_date"].append(day)
        # About 5 % not shipped yet, 1 % without a region, 30 % without a discount.
        shipped = placed + dt.timedelta(days=rng.randint(1, 5), seconds=rng.randrange(3600))
        columns["shipped_at"].append(None if rng.random() < 0.05 else shipped)
        columns["region"].append(None if rng.random() < 0.01 else region)
        columns["country"].append(rng.choice(REGIONS[region]))
        columns["product"].append(rng.choice(PRODUCTS))
        columns["quantity"].append(quantity)
        columns["sales"].append(Decimal(rng.randrange(500, 300_000)) / 100 * quantity)
        columns["discount"].append(None if rng.random() < 0.3 else round(rng.random() / 4, 3))
        columns["q"].append(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
    return pa.Table.from_pydict(columns, schema=SCHEMA.as_arrow())


def build_lakehouse(root: Path, rows: int = 300_000) -> dict[str, str]:
    """Build (or reuse, when already built alike) the lakehouse in `root`; returns a pod's env."""
    if is_built(root, rows):
        return catalog_env(root)
    # Only what this function creates is removed: `root` may hold other things.
    (root / STAMP).unlink(missing_ok=True)
    (root / "catalog.db").unlink(missing_ok=True)
    shutil.rmtree(root / "warehouse", ignore_errors=True)
    (root / "warehouse").mkdir(parents=True)
    catalog = open_catalog(root)
    catalog.create_namespace("sales")
    table = catalog.create_table("sales.orders", schema=SCHEMA, partition_spec=PARTITIONING)
    table.append(orders(rows))
    (root / STAMP).write_text(json.dumps(_stamp(rows), sort_keys=True) + "\n")
    return catalog_env(root)


def _stamp(rows: int) -> dict:
    return {"version": DATA_VERSION, "seed": SEED, "rows": rows}


def is_built(root: Path, rows: int) -> bool:
    """True when `root` holds a complete lakehouse of `rows` orders from the same recipe."""
    stamp = _stamp(rows)
    try:
        if json.loads((root / STAMP).read_text()) != stamp:
            return False
        snapshot = open_catalog(root).load_table("sales.orders").current_snapshot()
    except Exception:  # noqa: BLE001 - anything missing or unreadable means "build it again"
        return False
    return snapshot is not None and snapshot.summary["total-records"] == str(stamp["rows"])
