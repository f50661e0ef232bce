"""The pod's one catalog client: created lazily, shared by requests, rebuilt after auth failures.

Configuration comes only from pyiceberg's own (PYICEBERG_CATALOG__<NAME>__* variables or
.pyiceberg.yaml). For an Iceberg REST catalog (Apache Polaris and others) the pod adds:

- OAuth2 client credentials (`credential=ID:SECRET`, `scope`, `oauth2-server-uri`) through
  oauth.py's `ClientCredentials`, which renews the token before it expires;
- a bounded timeout on every request to the catalog (pyiceberg sets none, so a catalog that
  accepts connections but never answers would hang the pod's workers);
- `X-Iceberg-Access-Delegation: vended-credentials` (pyiceberg's default), so the pod needs
  no storage keys of its own where the catalog vends them.

For a SQL catalog in a SQLite file the pod opens the file read-only and never creates its
tables, so a missing file is a 503, not a new empty catalog. A plain one (no schema_version, no
own implementation) it reads with sqlite3, a connection per table load (sqlitecatalog.py), which
spares it SQLAlchemy's import at the first request. Any other goes through pyiceberg's
SqlCatalog (SQLAlchemy's pooled connections), whose client the pod rebuilds (a new pool) when
the file is replaced or after the database failed, since pooled connections would otherwise keep
reading the file they opened, good or garbage, until a restart.

Tables come back with a FileIO built from the operator's and the catalog server's settings
only: pyiceberg merges the *table's* properties into the storage client's, so whoever may set
table properties could otherwise point the pod's reads, and its credentials, elsewhere
(`s3.endpoint`, `gcs.service.host`, `py-io-impl` …). DATAPIC_TABLE_IO_PROPERTIES opts back in.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.io import load_file_io
from pyiceberg.table import Table
from pyiceberg.utils.config import Config

from .errors import RETRY_AFTER_SECONDS, PodError
from .features import refuse_unloadable
from .secrets import named_secrets, redact, remember
from .sqlitecatalog import load_sqlite_table, reads_directly

log = logging.getLogger("datapic.pod")

# Errors after which the catalog client is rebuilt, so that it signs in again.
_STALE_CLIENT = {"UnauthorizedError", "AuthorizationExpiredError", "OAuthError"}

# Seconds any one request to the catalog (config, token, load_table) may take, if not
# DEFAULT_TIMEOUT.
TIMEOUT_VARIABLE = "DATAPIC_CATALOG_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
# Comma-separated table property names (fnmatch patterns: `s3.*`) allowed to shape storage.
TABLE_IO_VARIABLE = "DATAPIC_TABLE_IO_PROPERTIES"
# Vended credentials are renewed this long before they lapse (a request may be under way).
CREDENTIAL_MARGIN_SECONDS = 60.0
# FileIO properties saying when vended (or configured) storage credentials lapse, epoch ms.
EXPIRY_PROPERTIES = (
    "s3.session-token-expires-at-ms",
    "gcs.oauth2.token-expires-at",
    "adls.sas-token-expires-at-ms",
)


def timeout_seconds() -> float:
    """The catalog request timeout from DATAPIC_CATALOG_TIMEOUT (seconds), default 10."""
    text = os.environ.get(TIMEOUT_VARIABLE, "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value < math.inf else DEFAULT_TIMEOUT


def _bound_rest_sessions() -> None:
    """Give pyiceberg's REST catalog sessions a timeout (it creates them itself, in its
    constructor too, so the class it instantiates is replaced; idempotent)."""
    from pyiceberg.catalog import rest

    from .oauth import BoundedSession

    rest.Session = BoundedSession


def catalog_properties(name: str) -> dict[str, Any]:
    """The catalog's properties as pyiceberg configures them (environment, .pyiceberg.yaml)."""
    return dict(Config().get_catalog_config(name) or {})


def pod_catalog(name: str) -> Catalog:
    """pyiceberg's catalog `name`, with bounded requests and token renewal for REST."""
    properties = catalog_properties(name)
    remember(named_secrets(properties))
    _read_only(properties)
    if _is_rest(properties):
        _bound_rest_sessions()
        # Imported here, not at start-up: pyiceberg's REST client (and requests) take a tenth
        # of a second to import, which a pod over another catalog never needs.
        from .oauth import AUTH_TYPE

        credential = properties.get("credential")
        if credential and not properties.get("auth") and not properties.get("token"):
            properties["auth"] = {"type": AUTH_TYPE, AUTH_TYPE: _auth_config(properties)}
    # Given explicitly: pyiceberg's own copy of the environment is read once, at import.
    return load_catalog(name, **properties)


def _read_only(properties: dict[str, Any]) -> str | None:
    """Point a SQLite catalog's `uri` at its file read-only (SQLite would create a missing
    file, pyiceberg the catalog's tables in it); the file's path, None for other catalogs."""
    sqlite = sqlite_file(properties)
    if sqlite is not None:
        properties["uri"] = f"sqlite:///file:{urllib.parse.quote(sqlite)}?mode=ro&uri=true"
        properties.setdefault("init_catalog_tables", "false")
    return sqlite


def direct_sqlite(name: str) -> tuple[dict[str, Any], str] | None:
    """For a plain SQLite SQL catalog, its read-only properties and file path, so the pod
    reads it with sqlite3 (sqlitecatalog.py) instead of SQLAlchemy; None for other catalogs."""
    properties = catalog_properties(name)
    if not reads_directly(properties):
        return None
    sqlite = _read_only(properties)
    if sqlite is None:
        return None
    remember(named_secrets(properties))
    return properties, sqlite


def sqlite_file(properties: Mapping[str, Any]) -> str | None:
    """The path of a SQL catalog's SQLite database file; None for other catalogs (and memory).

    >>> sqlite_file({"type": "sql", "uri": "sqlite:////lake/catalog.db"})
    '/lake/catalog.db'
    >>> sqlite_file({"uri": "sqlite:///file:/lake/catalog.db?mode=ro&uri=true"})
    '/lake/catalog.db'
    >>> sqlite_file({"uri": "sqlite://"}), sqlite_file({"uri": "postgresql://db/x"})
    (None, None)
    """
    uri = str(properties.get("uri", ""))
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///")
    if path.startswith("file:"):
        path = urllib.parse.unquote(path.removeprefix("file:").partition("?")[0])
    return None if path in ("", ":memory:") else path


def _file_identity(path: str) -> tuple[int, int] | None:
    """Which file `path` is (device, inode): a replaced file is another one; None if missing."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _is_rest(properties: Mapping[str, Any]) -> bool:
    kind = str(properties.get("type", "")).lower()
    return kind == "rest" or (not kind and str(properties.get("uri", "")).startswith("http"))


def _auth_config(properties: Mapping[str, Any]) -> dict[str, Any]:
    uri = str(properties["uri"]).rstrip("/")
    extra = {key: properties[key] for key in ("audience", "resource") if properties.get(key)}
    return {
        "token_url": properties.get("oauth2-server-uri") or f"{uri}/v1/oauth/tokens",
        "credential": properties["credential"],
        # Polaris needs a scope; PRINCIPAL_ROLE:ALL is what pyiceberg's legacy flow sends.
        "scope": properties.get("scope") or "PRINCIPAL_ROLE:ALL",
        "extra": extra,
        "timeout": timeout_seconds(),
    }


def table_io_allowed() -> tuple[str, ...]:
    """Table property patterns allowed to shape storage (DATAPIC_TABLE_IO_PROPERTIES)."""
    text = os.environ.get(TABLE_IO_VARIABLE, "")
    return tuple(part.strip() for part in text.split(",") if part.strip())


def confine_io(table: Table, catalog: Catalog, allowed: tuple[str, ...] = ()) -> Table:
    """`table` with a FileIO that ignores the table's own properties (unless `allowed`).

    pyiceberg builds the FileIO from {catalog properties, table properties, the catalog
    server's table config, vended credentials}, later ones winning. A key whose value equals
    the table property's came from the table, unless the server's config says the same; it
    gets the operator's value back (or goes). Equal vended values are indistinguishable and
    also replaced, which only matters if a table property guessed them.
    """
    table_properties = table.metadata.properties
    io_properties = dict(table.io.properties)
    changed = False
    for key, value in table_properties.items():
        if key not in io_properties or io_properties[key] != value:
            continue  # overridden by the server's config or vended credentials
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in allowed):
            continue
        if table.config.get(key) == value:
            continue  # the catalog server itself says so
        changed = True
        if key in catalog.properties:
            io_properties[key] = catalog.properties[key]
        else:
            del io_properties[key]
    remember(named_secrets(io_properties))
    if changed:
        table.io = load_file_io(io_properties, table.metadata_location)
    return table


class CatalogClient:
    """A pyiceberg catalog by name, configured from the environment (PYICEBERG_CATALOG__*)."""

    def __init__(
        self,
        name: str,
        factory: Callable[[str], Catalog] = load_catalog,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_load: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        # Called once per table load sent to the catalog (the pod's /metrics counts them).
        self._on_load = on_load
        # pyiceberg's plain load_catalog gets the pod's additions (timeouts, token renewal).
        self._factory = pod_catalog if factory is load_catalog else factory
        self._catalog: Catalog | None = None
        # A SQLite catalog's file and which file it was when the client was built.
        self._sqlite: tuple[str, tuple[int, int] | None] | None = None
        self._lock = threading.Lock()
        self._clock = clock
        self._wall_clock = wall_clock
        # A plain SQLite catalog is read with sqlite3 (see _direct_sqlite); False: not looked yet.
        self._direct: tuple[dict[str, Any], str] | None | bool = False

    def _direct_sqlite(self) -> tuple[dict[str, Any], str] | None:
        """The read-only properties and file of a plain SQLite catalog, read with sqlite3 on a
        connection per load: no SQLAlchemy to import at the first request (a quarter of a
        second), no pool to outlive a replaced file. None: pyiceberg's own client (other
        catalogs, and catalogs that tests hand in)."""
        if self._direct is False:
            self._direct = direct_sqlite(self.name) if self._factory is pod_catalog else None
        return self._direct or None

    def catalog(self) -> Catalog:
        """The client, created on first use; a failed creation is retried next time. A SQLite
        catalog whose file was replaced gets a new client; one whose file is missing, a 503."""
        with self._lock:
            if self._catalog is not None and self._sqlite is not None:
                identity = _file_identity(self._sqlite[0])
                if identity != self._sqlite[1]:
                    self._drop()
                    if identity is None:
                        raise self._missing_file()
            if self._catalog is None:
                self._catalog = self._create()
                path = sqlite_file(self._catalog.properties)
                identity = _file_identity(path) if path is not None else None
                self._sqlite = (path, identity) if path is not None else None
                if path is not None and identity is None:
                    self._drop()
                    raise self._missing_file()
            return self._catalog

    def forget(self) -> None:
        """Drop the client, so the next request builds a new one (and signs in afresh)."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        catalog, self._catalog, self._sqlite = self._catalog, None, None
        engine = getattr(catalog, "engine", None)  # SqlCatalog's SQLAlchemy engine and its pool
        if engine is not None:
            engine.dispose()

    def _missing_file(self) -> PodError:
        log.error("catalog %r: its SQLite database file is missing", self.name)
        return PodError(
            503,
            f"catalog '{self.name}' cannot be reached (its database file is missing)",
            {"Retry-After": RETRY_AFTER_SECONDS},
        )

    def load_table(self, identifier: tuple[str, ...]) -> Table:
        """The table's current metadata, storage confined to operator and catalog settings.

        A refused token (the catalog forgot it, or it expired early) drops the client and
        tries once more with a new one, which signs in afresh.
        """
        try:
            return self._load(identifier)
        except Exception as exc:
            if self._sqlite is not None and _is_database_failure(exc):
                self.forget()  # pooled connections may hold a broken file: open new ones
            if not _is_stale_client(exc):
                raise
            self.forget()
        try:
            return self._load(identifier)
        except Exception as exc:
            if _is_stale_client(exc):
                self.forget()
            raise

    def _load(self, identifier: tuple[str, ...]) -> Table:
        direct = self._direct_sqlite()
        catalog = self.catalog() if direct is None else None
        if direct is not None and _file_identity(direct[1]) is None:
            raise self._missing_file()
        self._on_load()
        try:
            if direct is None:
                table = catalog.load_table(identifier)
            else:
                uri = f"file:{urllib.parse.quote(direct[1])}?mode=ro"
                table = load_sqlite_table(self.name, direct[0], uri, identifier)
                catalog = table.catalog
        except Exception as exc:
            # Metadata pyiceberg cannot parse (a v4 table, a variant column) is a 501 naming
            # the feature, not an internal error.
            refused = refuse_unloadable(exc, ".".join(identifier))
            if refused is None:
                raise
            raise refused from None
        return confine_io(table, catalog, table_io_allowed())

    def valid_until(self, table: Table) -> float:
        """When (time.monotonic()) `table`'s storage access lapses, so it must be reloaded.

        The earliest expiry among the FileIO's credential properties (epoch milliseconds, as
        vended by the catalog), less a margin; infinite when none is given.
        """
        expiries = []
        for key in EXPIRY_PROPERTIES:
            try:
                expiries.append(float(table.io.properties[key]) / 1000.0)
            except (KeyError, TypeError, ValueError):
                continue
        if not expiries:
            return math.inf
        remaining = min(expiries) - self._wall_clock() - CREDENTIAL_MARGIN_SECONDS
        return self._clock() + remaining

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


def _is_database_failure(exc: BaseException) -> bool:
    """Whether `exc` is SQLAlchemy's (a SQL catalog's database failed); by class, not import."""
    return any(cls.__module__.startswith("sqlalchemy") for cls in type(exc).__mro__)


def _is_stale_client(exc: BaseException) -> bool:
    return bool({cls.__name__ for cls in type(exc).__mro__} & _STALE_CLIENT)
