"""Answering the pod's query: the catalog says where the data is, DuckDB computes the answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import PrimitiveType

from .catalog import CatalogClient
from .config import PodConfig
from .errors import PodError
from .pushdown import row_filter

# Settings that close DuckDB off from everything but the Arrow data we register: no files, no
# network, no extensions. lock_configuration, set last, stops the SQL from re-opening them.
HARDENED = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
# DuckDB's session time zone defaults to the machine's; it decides how TIMESTAMP and
# TIMESTAMPTZ values compare and cast, so every pod uses the same one.
TIME_ZONE = "UTC"
# DuckDB types that Arrow carries as decimal128(38, 0) but that are integers (SUM of INTEGER).
_WIDE_INTEGERS = {"HUGEINT", "UHUGEINT"}


@dataclass(frozen=True, slots=True)
class Page:
    """A slice of an answer: rows [offset, offset + limit) of the answer at `snapshot_id`.

    Pinning the snapshot keeps the pages of one answer consistent while the table changes.
    """

    offset: int
    limit: int
    snapshot_id: int | None = None


@dataclass(frozen=True, slots=True)
class ScanStats:
    """What answering cost: for the request log line and /metrics."""

    files_planned: int = 0  # data files the scan kept after pruning
    files_pruned: int = 0  # data files of the snapshot that pruning ruled out
    bytes_planned: int = 0  # on-storage size of the kept files
    cache: str = "off"  # "hit", "miss" or "off" (result cache)


@dataclass(frozen=True, slots=True)
class Answer:
    """A query's result as a stream of Arrow batches, and where it came from.

    `batches` may hold a DuckDB cursor open: consume it to the end or call `close()`.
    """

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    # Columns that Arrow carries as decimal128(38, 0) but are integers (SUM of INTEGER).
    wide_integers: frozenset[int]
    snapshot_id: int | None
    stats: ScanStats = ScanStats()

    def close(self) -> None:
        """Release what the stream holds, when a client stops reading early."""
        close = getattr(self.batches, "close", None)
        if close is not None:
            close()

    def to_table(self) -> pa.Table:
        """Every batch, in memory (for callers that need the whole answer)."""
        return pa.Table.from_batches(list(self.batches), schema=self.schema)


def hardened_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can read registered data and nothing else."""
    connection = duckdb.connect(config=HARDENED)
    connection.execute(f"SET TimeZone = '{TIME_ZONE}'")
    connection.execute("SET lock_configuration = true")
    return connection


def execute(
    sql: str, data: pa.Table, values: Mapping[str, Any], snapshot_id: int | None = None
) -> Answer:
    """Run `sql` over `data` registered as `source`, with `values` bound to its $parameters."""
    connection = hardened_connection()
    try:
        connection.register("source", data)
        relation = connection.sql(sql, params=dict(values) or None)
        wide = frozenset(i for i, t in enumerate(relation.types) if str(t) in _WIDE_INTEGERS)
        result = relation.to_arrow_table()
    finally:
        connection.close()
    return Answer(result.schema, iter(result.to_batches()), wide, snapshot_id)


def read(table: Table, config: PodConfig, values: Mapping[str, Any]) -> pa.Table:
    """The columns the query needs, from the files the pushdown cannot rule out."""
    schema = table.schema()
    columns = [_column_name(schema, name, config) for name in config.read_columns]
    if not columns:
        # count(*) alone reads no column, but a scan must select one to count the rows.
        columns = [next(f.name for f in schema.fields if isinstance(f.field_type, PrimitiveType))]
    scan = table.scan(
        row_filter=row_filter(config.pushdown, schema, values), selected_fields=tuple(columns)
    )
    return scan.to_arrow()


def _column_name(schema: Schema, name: str, config: PodConfig) -> str:
    """The table's spelling of `name` (DuckDB's SQL matches names in any case)."""
    try:
        field = schema.find_field(name, case_sensitive=False)
    except ValueError:
        raise PodError(
            500,
            f"table {config.source.display} has no column '{name}', which this pod reads: "
            "the table changed since the pod was compiled",
        ) from None
    return schema.find_column_name(field.field_id) or name


class QueryEngine:
    """Per-process state of a pod: the catalog client and what is cached between requests."""

    def __init__(
        self, config: PodConfig, catalog_factory: Callable[[str], Catalog] = load_catalog
    ) -> None:
        self.config = config
        self.catalog = CatalogClient(config.source.catalog, catalog_factory)

    def table(self) -> Table:
        """The table's current metadata (current snapshot and schema), from the catalog."""
        return self.catalog.load_table(self.config.source.identifier)

    def answer(self, values: Mapping[str, Any], page: Page | None = None) -> Answer:
        """The query's answer for these typed parameter values, or one page of it."""
        table = self.table()
        data = read(table, self.config, values)
        snapshot = table.current_snapshot()
        sql = self.config.sql
        if page is not None:
            # Placeholder until issue 3's engine: not yet pinned to page.snapshot_id.
            sql = f"SELECT * FROM ({sql}) LIMIT {int(page.limit)} OFFSET {int(page.offset)}"
        return execute(sql, data, values, snapshot.snapshot_id if snapshot else None)
