"""Answering the pod's query: the catalog says where the data is, DuckDB computes the answer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.table import Table

from .config import PodConfig
from .errors import PodError
from .pushdown import row_filter
from .secrets import redact

log = logging.getLogger("datapic.pod")

# Settings that close DuckDB off from everything but the Arrow data we register: no files, no
# network, no extensions; lock_configuration (set last) stops the SQL from re-opening them.
_HARDENED = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
RETRY_AFTER_SECONDS = "5"


def _catalog_errors() -> dict[str, tuple[int, str]]:
    """pyiceberg exception names -> (status, what to tell the client)."""
    return {
        "NoSuchTableError": (404, "table {table} does not exist in catalog '{catalog}'"),
        "NoSuchNamespaceError": (404, "table {table} does not exist in catalog '{catalog}'"),
        "ForbiddenError": (403, "the pod's principal may not read table {table}"),
        "UnauthorizedError": (502, "catalog '{catalog}' rejected the pod's credentials"),
        "OAuthError": (502, "catalog '{catalog}' rejected the pod's credentials"),
        "ServiceUnavailableError": (503, "catalog '{catalog}' is unavailable"),
    }


_UNREACHABLE = ("ConnectionError", "Timeout", "OperationalError", "ConnectTimeout", "ReadTimeout")


def classify(exc: BaseException, config: PodConfig) -> PodError:
    """The client-facing error for a failure while loading or reading the table."""
    if isinstance(exc, PodError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    words = {"table": config.source.display, "catalog": config.source.catalog}
    for name, (status, message) in _catalog_errors().items():
        if name in names:
            headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else {}
            return PodError(status, message.format(**words), headers)
    if names & set(_UNREACHABLE) or isinstance(exc, ConnectionError | TimeoutError):
        return PodError(
            503,
            f"catalog '{config.source.catalog}' or its storage cannot be reached "
            f"({type(exc).__name__})",
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    if isinstance(exc, duckdb.ConversionException):
        return PodError(400, f"a parameter value does not fit its column: {_first_line(exc)}")
    if isinstance(exc, duckdb.Error):
        return PodError(500, f"query failed: {_first_line(exc)}")
    return PodError(500, "internal error")


def _first_line(exc: BaseException) -> str:
    return redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


class QueryEngine:
    """Per-process state of a pod: one catalog client, reused by every request."""

    def __init__(
        self, config: PodConfig, catalog_factory: Callable[[str], Catalog] = load_catalog
    ) -> None:
        self.config = config
        self._catalog_factory = catalog_factory
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    def catalog(self) -> Catalog:
        """The catalog client, created on first use (a failed creation is retried next time)."""
        with self._lock:
            if self._catalog is None:
                self._catalog = self._load_catalog()
            return self._catalog

    def _load_catalog(self) -> Catalog:
        name = self.config.source.catalog
        try:
            return self._catalog_factory(name)
        except ValueError as exc:
            # pyiceberg says ValueError for a catalog without properties: a deployment mistake.
            log.error("catalog %r is not configured: %s", name, redact(str(exc)))
            raise PodError(
                500,
                f"catalog '{name}' is not configured: set PYICEBERG_CATALOG__{name.upper()}__* "
                "environment variables or .pyiceberg.yaml",
            ) from None

    def table(self) -> Table:
        """The table's current metadata, from the catalog."""
        return self.catalog().load_table(self.config.source.identifier)

    def answer(self, values: Mapping[str, Any]) -> list[tuple]:
        """The query's rows for these parameter values; raises PodError for every failure."""
        try:
            data = self._read(self.table(), values)
            return self._execute(data, values)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a clean JSON error
            error = classify(exc, self.config)
            level = logging.WARNING if error.status < 500 else logging.ERROR
            log.log(level, "%s: %s (%s)", self.config.name, error.message, _first_line(exc))
            raise error from None

    def _read(self, table: Table, values: Mapping[str, Any]) -> pa.Table:
        """The rows and columns the query needs: Iceberg prunes files, then reads what is left."""
        schema = table.schema()
        # count(*) alone reads no column, but a scan must select one to count rows.
        columns = self.config.read_columns or (schema.fields[0].name,)
        scan = table.scan(
            row_filter=row_filter(self.config.pushdown, schema, values),
            selected_fields=columns,
        )
        return scan.to_arrow()

    def _execute(self, data: pa.Table, values: Mapping[str, Any]) -> list[tuple]:
        connection = duckdb.connect(config=_HARDENED)
        try:
            connection.execute("SET lock_configuration = true")
            connection.register("source", data)
            return connection.execute(self.config.sql, dict(values)).fetchall()
        finally:
            connection.close()
