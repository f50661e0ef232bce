"""The benchmark's lakehouse: `bench.orders` (N rows) and the scaling tables `bench.orders_x4`,
`bench.orders_x16`, in pyiceberg's SQL catalog (SQLite) with a file warehouse under .bench/.

Rows are made with numpy in chunks of one (region, year) each, so memory stays bounded at any N.
The data files are written once into two staging tables (`bench.base`: the four real regions;
`bench.extra`: synthetic regions X01, X02, … holding the extra rows) and the measured tables
are composed from them by fast-appending the same data files: `orders` holds the base files,
`orders_x4` and `orders_x16` hold them too plus 3 or 15 times as many rows in the other
regions. The selected data (one real region) is therefore byte-identical in all three tables.
Everything is seeded: the same parameters give the same rows, and a finished build is reused.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
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

# Bump when the generated data changes, so an existing build is rebuilt rather than reused.
DATA_VERSION = 2
NAMESPACE = "bench"
STAMP = "tables.json"
YEARS = (2023, 2024, 2025)
REGIONS = {
    "AMER": ["US", "CA", "MX"],
    "APAC": ["JP", "AU", "SG", "IN", "KR"],
    "EMEA": ["DE", "FR", "GB", "ES", "IT", "NL", "SE"],
    "LATAM": ["BR", "AR", "CL", "CO"],
}
CATEGORIES = {
    "computers": ["laptop", "desktop", "tablet", "server"],
    "phones": ["phone", "phone case", "charger"],
    "displays": ["monitor", "projector", "tv"],
    "audio": ["headset", "speaker", "earbuds", "microphone"],
    "accessories": ["keyboard", "mouse", "dock", "cable", "webcam", "bag"],
    "storage": ["ssd", "hdd", "usb stick", "sd card"],
}
PRODUCTS = [(p, c) for c, products in CATEGORIES.items() for p in products]
# A list price per product in cents, fixed by the seed; each order varies it by up to ±10 %.
LIST_CENTS = np.random.default_rng(99).integers(500, 250_000, len(PRODUCTS))
ORDERS_PER_CUSTOMER = 200

SCHEMA = Schema(
    NestedField(1, "order_id", LongType(), required=True),
    NestedField(2, "customer", StringType()),
    NestedField(3, "region", StringType()),
    NestedField(4, "country", StringType()),
    NestedField(5, "product", StringType()),
    NestedField(6, "category", StringType()),
    NestedField(7, "quantity", IntegerType()),
    NestedField(8, "unit_price", DecimalType(12, 2)),
    NestedField(9, "discount", DoubleType()),
    NestedField(10, "order_date", DateType(), required=True),
    NestedField(11, "order_month", StringType()),
    NestedField(12, "shipped_at", TimestampType()),
)
PARTITIONING = PartitionSpec(
    PartitionField(source_id=3, field_id=1000, transform=IdentityTransform(), name="region"),
    PartitionField(
        source_id=10, field_id=1001, transform=MonthTransform(), name="order_date_month"
    ),
)
ARROW_SCHEMA = SCHEMA.as_arrow()


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    """What a build is made of; a stored build is reused only when all of it matches."""

    rows: int
    scales: tuple[int, ...]
    seed: int = 7
    version: int = DATA_VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class Lakehouse:
    """A finished build: where it is and the tables it holds (scale -> table name)."""

    root: Path
    build: Build
    tables: dict[int, str]

    @property
    def env(self) -> dict[str, str]:
        """The PYICEBERG_CATALOG__DEFAULT__* variables that point a pod at this lakehouse."""
        return catalog_env(self.root)

    def catalog(self) -> SqlCatalog:
        """A fresh client of the lakehouse's catalog."""
        return open_catalog(self.root)


def catalog_env(root: Path) -> dict[str, str]:
    """The environment a pod needs to find the catalog in `root` (pyiceberg's own config)."""
    root = root.resolve()
    return {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{root / 'catalog.db'}",
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": (root / "warehouse").as_uri(),
    }


def open_catalog(root: Path) -> SqlCatalog:
    """The lakehouse's catalog, as the bench reads and writes it."""
    env = catalog_env(root)
    return SqlCatalog(
        "default",
        uri=env["PYICEBERG_CATALOG__DEFAULT__URI"],
        warehouse=env["PYICEBERG_CATALOG__DEFAULT__WAREHOUSE"],
    )


def table_name(scale: int) -> str:
    """The measured table at `scale` times the base rows."""
    return f"{NAMESPACE}.orders" if scale == 1 else f"{NAMESPACE}.orders_x{scale}"


def extra_regions(scale: int) -> list[str]:
    """The synthetic regions holding the extra rows of the table at `scale`: one per extra
    multiple, each as big as the base table (few, large partitions: a fast build).

    Named X01, X02, …: they sort after every real region, so a manifest of extra files has
    partition bounds that exclude the real regions (as data added region by region would)."""
    return [f"X{i:02d}" for i in range(1, scale)]


def ensure_lakehouse(
    root: Path, build: Build, progress: Callable[[str], None] = print
) -> Lakehouse:
    """Build the lakehouse in `root`, or reuse it when a finished build there matches `build`."""
    tables = {scale: table_name(scale) for scale in (1, *build.scales)}
    lakehouse = Lakehouse(root=root, build=build, tables=tables)
    if _is_built(root, build):
        progress(f"tables: reusing {root} ({build.rows:,} rows, scales {_scales(build)})")
        return lakehouse
    started = time.monotonic()
    (root / STAMP).unlink(missing_ok=True)
    (root / "catalog.db").unlink(missing_ok=True)
    shutil.rmtree(root / "warehouse", ignore_errors=True)
    (root / "warehouse").mkdir(parents=True)
    catalog = open_catalog(root)
    catalog.create_namespace(NAMESPACE)
    base = _write_staging(catalog, "base", list(REGIONS), build, progress)
    extra = _write_staging(
        catalog, "extra", extra_regions(max(build.scales, default=1)), build, progress
    )
    base_files = _data_files(base)
    extra_files = _data_files(extra)
    for scale, name in tables.items():
        table = catalog.create_table(name, schema=SCHEMA, partition_spec=PARTITIONING)
        _fast_append(table, base_files)
        # One commit per multiple: each added region gets its own manifest.
        for region in extra_regions(scale):
            _fast_append(table, [f for f in extra_files if f.partition[0] == region])
        progress(f"tables: {name} ready ({scale}x, {_rows(table):,} rows)")
    stamp = json.dumps({**asdict(build), "scales": list(build.scales)}, sort_keys=True)
    (root / STAMP).write_text(stamp + "\n")
    progress(f"tables: built in {time.monotonic() - started:.0f} s")
    return lakehouse


def _scales(build: Build) -> str:
    return ", ".join(f"{s}x" for s in (1, *build.scales))


def _is_built(root: Path, build: Build) -> bool:
    try:
        stamp = json.loads((root / STAMP).read_text())
        if stamp != {**asdict(build), "scales": list(build.scales)}:
            return False
        catalog = open_catalog(root)
        for scale in (1, *build.scales):
            expected = build.rows * scale
            if _rows(catalog.load_table(table_name(scale))) != expected:
                return False
    except Exception:  # noqa: BLE001 - anything missing or unreadable means "build it again"
        return False
    return True


def _rows(table: Table) -> int:
    snapshot = table.current_snapshot()
    return int(snapshot.summary["total-records"]) if snapshot else 0


def _write_staging(
    catalog: SqlCatalog, name: str, regions: list[str], build: Build, progress
) -> Table:
    """A staging table holding `regions`' rows, one commit per year of each real region group
    or extra region (few commits; memory bounded by a third of the base rows)."""
    table = catalog.create_table(f"{NAMESPACE}.{name}", schema=SCHEMA, partition_spec=PARTITIONING)
    real = [r for r in regions if r in REGIONS]
    groups = ([real] if real else []) + [[r] for r in regions if r not in REGIONS]
    commits = [(group, year) for group in groups for year in YEARS]
    started = time.monotonic()
    written = 0

    def make(index: int) -> pa.Table:
        group, year = commits[index]
        return pa.concat_tables(make_chunk(build, region, year) for region in group)

    # The next chunk is made while the current one is written (both mostly release the GIL).
    with ThreadPoolExecutor(max_workers=1) as maker:
        upcoming = maker.submit(make, 0)
        for done, (group, year) in enumerate(commits, 1):
            chunk = upcoming.result()
            if done < len(commits):
                upcoming = maker.submit(make, done)
            table.append(chunk)
            del chunk
            written += sum(chunk_rows(build, region, year) for region in group)
            if done == len(commits) or done % max(1, len(commits) // 10) == 0:
                rate = written / max(time.monotonic() - started, 1e-9)
                progress(
                    f"tables: {name}: {done}/{len(commits)} commits, {written:,} rows written "
                    f"({rate:,.0f} rows/s)"
                )
    return table


def _data_files(table: Table) -> list[DataFile]:
    return [task.file for task in table.scan().plan_files()]


def _fast_append(table: Table, files: list[DataFile]) -> None:
    if not files:
        return
    with table.transaction() as tx, tx.update_snapshot().fast_append() as append:
        for data_file in files:
            append.append_data_file(data_file)


def chunk_rows(build: Build, region: str, year: int) -> int:
    """Rows of one (region, year) chunk: the base rows spread evenly over 4 regions x 3 years;
    an extra region holds the base table's rows of that year (all 4 regions' worth)."""
    if region not in REGIONS:
        return sum(chunk_rows(build, real, year) for real in REGIONS)
    chunks = len(REGIONS) * len(YEARS)
    index = list(REGIONS).index(region) * len(YEARS) + YEARS.index(year)
    return build.rows // chunks + (1 if index < build.rows % chunks else 0)


def chunk_seed(build: Build, region: str, year: int) -> list[int]:
    """The seed of one chunk: the same region and year give the same rows in every table."""
    return [build.seed, year, *region.encode()]


def customers_per_region(build: Build) -> int:
    """How many customers a region has: about ORDERS_PER_CUSTOMER orders each."""
    return max(10, build.rows // len(REGIONS) // ORDERS_PER_CUSTOMER)


def customer_name(region: str, number: int) -> str:
    """A customer's identifier: its home region and a number."""
    return f"{region}-{number:06d}"


def make_chunk(build: Build, region: str, year: int) -> pa.Table:
    """One (region, year) chunk of orders, in SCHEMA's Arrow form."""
    n = chunk_rows(build, region, year)
    rng = np.random.default_rng(chunk_seed(build, region, year))
    first = dt.date(year, 1, 1)
    days_in_year = (dt.date(year + 1, 1, 1) - first).days
    epoch_day = (first - dt.date(1970, 1, 1)).days
    day = np.sort(rng.integers(0, days_in_year, n)) + epoch_day
    months = [f"{year}-{month:02d}" for month in range(1, 13)]
    month_starts = np.array(
        [(dt.date(year, m, 1) - dt.date(1970, 1, 1)).days for m in range(1, 13)]
    )
    customers = customers_per_region(build)
    customer = rng.integers(0, customers, n)
    countries = REGIONS.get(region, ["ZZ"])
    product = rng.integers(0, len(PRODUCTS), n)
    quantity = np.minimum(rng.geometric(0.35, n), 50).astype(np.int32)
    cents = (LIST_CENTS[product] * rng.uniform(0.9, 1.1, n)).astype(np.int64)
    discount = np.round(rng.uniform(0, 0.25, n), 3)
    shipped_us = (day * 86_400 + rng.integers(3_600, 5 * 86_400, n)) * 1_000_000
    # A block of ids per chunk, so order ids never repeat across chunks or tables.
    first_id = _chunk_index(build, region, year) * (build.rows // len(YEARS) + 1) + 1
    columns = {
        "order_id": pa.array(first_id + np.arange(n), pa.int64()),
        "customer": _take([customer_name(region, i) for i in range(customers)], customer),
        "region": _take([region], np.zeros(n, np.int32)),
        "country": _take(countries, customer % len(countries)),
        "product": _take([p for p, _ in PRODUCTS], product),
        "category": _take([c for _, c in PRODUCTS], product),
        "quantity": pa.array(quantity, pa.int32()),
        "unit_price": _decimal_cents(cents),
        # About 30 % of orders without a discount, 4 % not shipped yet.
        "discount": pa.array(discount, pa.float64(), mask=rng.random(n) < 0.3),
        "order_date": pa.array(day.astype(np.int32), pa.int32()).cast(pa.date32()),
        "order_month": _take(months, np.searchsorted(month_starts, day, side="right") - 1),
        "shipped_at": pa.array(shipped_us, pa.int64(), mask=rng.random(n) < 0.04).cast(
            pa.timestamp("us")
        ),
    }
    return pa.Table.from_pydict(columns, schema=ARROW_SCHEMA)


def _chunk_index(build: Build, region: str, year: int) -> int:
    order = list(REGIONS) + extra_regions(max(build.scales, default=1))
    return order.index(region) * len(YEARS) + YEARS.index(year)


def _take(values: list[str], indices: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(indices))


def _decimal_cents(cents: np.ndarray) -> pa.Array:
    """decimal(12,2) values from integer cents, exactly (Arrow stores the unscaled integer)."""
    words = np.zeros((len(cents), 2), np.int64)
    words[:, 0] = cents  # little-endian 128-bit: low word, then the (zero) high word
    return pa.Array.from_buffers(pa.decimal128(12, 2), len(cents), [None, pa.py_buffer(words)])
