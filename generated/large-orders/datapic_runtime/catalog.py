"""The pod's one catalog client: created lazily, shared by requests, rebuilt after auth failures."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.table import Table

from .errors import PodError
from .secrets import redact

log = logging.getLogger("datapic.pod")

# Errors after which the catalog client is rebuilt, so that it signs in again.
_STALE_CLIENT = {"UnauthorizedError", "AuthorizationExpiredError", "OAuthError"}


class CatalogClient:
    """A pyiceberg catalog by name, configured from the environment (PYICEBERG_CATALOG__*)."""

    def __init__(self, name: str, factory: Callable[[str], Catalog] = load_catalog) -> None:
        self.name = name
        self._factory = factory
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    def catalog(self) -> Catalog:
        """The client, created on first use; a failed creation is retried next time."""
        with self._lock:
            if self._catalog is None:
                self._catalog = self._create()
            return self._catalog

    def forget(self) -> None:
        """Drop the client, so the next request builds a new one (and signs in afresh)."""
        with self._lock:
            self._catalog = None

    def load_table(self, identifier: tuple[str, ...]) -> Table:
        """The table's current metadata; an authentication failure drops the client first."""
        try:
            return self.catalog().load_table(identifier)
        except Exception as exc:
            if {cls.__name__ for cls in type(exc).__mro__} & _STALE_CLIENT:
                self.forget()
            raise

    def valid_until(self, table: Table) -> float:
        """When (time.monotonic()) `table`'s storage access lapses, so it must be reloaded.

        Infinite unless the catalog vended short-lived storage credentials with it.
        """
        return math.inf

    def _create(self) -> Catalog:
        try:
            return self._factory(self.name)
        except ValueError as exc:
            # pyiceberg raises ValueError for a catalog without properties: a deployment mistake.
            log.error("catalog %r is not configured: %s", self.name, redact(str(exc)))
            raise PodError(
                500,
                f"catalog '{self.name}' is not configured: set PYICEBERG_CATALOG__"
                f"{self.name.upper()}__* environment variables or .pyiceberg.yaml",
            ) from None
