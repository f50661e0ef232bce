"""Answering the pod's query: the catalog says where the data is, DuckDB computes the answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import PrimitiveType

from .config import PodConfig
from .errors import PodError
from .pushdown import row_filter
from .secrets import redact

log = logging.getLogger("datapic.pod")

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
# Errors after which the catalog client is rebuilt, so that it signs in again.
_STALE_CLIENT = {"UnauthorizedError", "AuthorizationExpiredError", "OAuthError"}


@dataclass(frozen=True, slots=True)
class Answer:
    """The query's result rows (Arrow) and which of its columns are 128-bit integers."""

    data: pa.Table
    wide_integers: frozenset[int]


def hardened_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can read registered data and nothing else."""
    connection = duckdb.connect(config=HARDENED)
    connection.execute(f"SET TimeZone = '{TIME_ZONE}'")
    connection.execute("SET lock_configuration = true")
    return connection


def execute(sql: str, data: pa.Table, values: Mapping[str, Any]) -> Answer:
    """Run `sql` over `data` registered as `source`, with `values` bound to its $parameters."""
    connection = hardened_connection()
    try:
        connection.register("source", data)
        relation = connection.sql(sql, params=dict(values) or None)
        wide = frozenset(i for i, t in enumerate(relation.types) if str(t) in _WIDE_INTEGERS)
        return Answer(relation.to_arrow_table(), wide)
    finally:
        connection.close()


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
    """Per-process state of a pod: one catalog client, created lazily, shared by requests."""

    def __init__(
        self, config: PodConfig, catalog_factory: Callable[[str], Catalog] = load_catalog
    ) -> None:
        self.config = config
        self._catalog_factory = catalog_factory
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    def catalog(self) -> Catalog:
        """The catalog client, created on first use; a failed creation is retried next time."""
        with self._lock:
            if self._catalog is None:
                self._catalog = self._create_catalog()
            return self._catalog

    def forget_catalog(self) -> None:
        """Drop the client, so the next request builds a new one (and signs in afresh)."""
        with self._lock:
            self._catalog = None

    def _create_catalog(self) -> Catalog:
        name = self.config.source.catalog
        try:
            return self._catalog_factory(name)
        except ValueError as exc:
            # pyiceberg raises ValueError for a catalog without properties: a deployment mistake.
            log.error("catalog %r is not configured: %s", name, redact(str(exc)))
            raise PodError(
                500,
                f"catalog '{name}' is not configured: set PYICEBERG_CATALOG__{name.upper()}__* "
                "environment variables or .pyiceberg.yaml",
            ) from None

    def table(self) -> Table:
        """The table's current metadata (current snapshot and schema), from the catalog."""
        return self.catalog().load_table(self.config.source.identifier)

    def answer(self, values: Mapping[str, Any]) -> Answer:
        """The query's answer for these typed parameter values."""
        try:
            data = read(self.table(), self.config, values)
        except Exception as exc:
            if {cls.__name__ for cls in type(exc).__mro__} & _STALE_CLIENT:
                self.forget_catalog()
            raise
        return execute(self.config.sql, data, values)
