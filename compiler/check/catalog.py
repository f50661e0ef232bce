"""For `--check`: each spec's table's current schema, loaded through pyiceberg.

Catalog settings come from pyiceberg's own configuration (PYICEBERG_CATALOG__<NAME>__*
environment variables or .pyiceberg.yaml), else from the project's dataPi config.yml (a Polaris
REST catalog: metastore_uri, metastore_catalog as warehouse, scope PRINCIPAL_ROLE:ALL and
metastore_credentials for OAuth2 client credentials).

One `SchemaLookup` serves one run: each catalog is signed into once and each table loaded once;
a catalog that failed is not asked again, so twenty specs over an unreachable catalog wait one
timeout, not twenty. Every catalog call is bounded in time (pyiceberg's REST client has no
timeout of its own). Whatever goes wrong becomes a located diagnostic (DP0501 missing table or
namespace, DP0504 catalog not configured, unreachable, refusing the credential or forbidding
the table, DP0505 a table its pod would refuse to serve) whose message has every secret removed;
nothing is printed and nothing raises. The file-level rules of DP0505 read the current
snapshot's manifests from storage, once per table; where --check cannot (it otherwise needs
only the catalog), they are left to the pod, which refuses such files when it meets them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    ForbiddenError,
    NoSuchNamespaceError,
    NoSuchTableError,
    UnauthorizedError,
)
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.utils.config import Config

from ..diagnostics import Code, Diagnostic, Span, error
from ..secrets import redacted
from ..spec.datapi import DATAPI_CONFIG, POLARIS_SCOPE, Metastore
from ..spec.ir import CompiledQuery, Pod, SchemaLock, Source
from . import DEFAULT_TIMEOUT_SECONDS
from .features import current_files, in_files, in_metadata, message, unloadable
from .lock import schema_lock
from .problems import Problem, catalog_problem, hint, table_problem, unexpected
from .settings import PYICEBERG_CONFIGURATION, CatalogSettings

_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}$")

T = TypeVar("T")


# After this long without an answer, --check says what it is waiting for (the CLI prints it).
PROGRESS_AFTER_SECONDS = 1.0


class _TimedOut(Exception):
    pass


class SchemaLookup:
    """Loads tables' current schemas for one run of `datapic compile --check`."""

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        environ: Mapping[str, str] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.timeout = timeout
        # Told what the lookup waits for when an answer is slow (never a secret: the catalog's
        # name, its address without user information, the table).
        self.progress = progress
        self.environ = os.environ if environ is None else environ
        self._config: Config | None = None
        self._catalogs: dict[tuple[str, str], Catalog | Problem] = {}
        self._tables: dict[tuple, Table | Problem] = {}
        self._files: dict[tuple, list[tuple[str, str]]] = {}

    def schema(
        self,
        source: Source,
        metastore: Metastore | None = None,
        spans: Mapping[str, Span] | None = None,
    ) -> tuple[Schema | None, list[Diagnostic]]:
        """The table's current schema, or the one diagnostic saying why there is none.

        `spans` may say where the spec's namespace and table stand, for a missing one.
        """
        settings: CatalogSettings | None = None
        try:
            settings = self.settings(source.catalog, metastore)
            return self._table(settings, source).schema(), []
        except Exception as exc:
            problem = exc if isinstance(exc, Problem) else unexpected(exc, source)
            secrets = settings.secrets if settings else ()
            message = redacted(problem.message, secrets)
            where = problem.span or (spans or {}).get(problem.field or "") or source.span
            return None, [error(problem.code, message, where)]

    def unsupported(
        self,
        source: Source,
        read_columns: Iterable[str],
        metastore: Metastore | None = None,
        spans: Mapping[str, Span] | None = None,
    ) -> list[Diagnostic]:
        """A DP0505 at the spec's table for each feature of the table its pod would refuse to
        serve (a 501); none when the table did not load (`schema` says why)."""
        try:
            settings = self.settings(source.catalog, metastore)
            table = self._table(settings, source)
        except Exception:  # noqa: BLE001 - reported by schema()
            return []
        found = [*in_metadata(table, read_columns), *self._file_features(settings, source, table)]
        where = (spans or {}).get("table") or source.span
        return [
            error(
                Code.UNSUPPORTED_FEATURE,
                redacted(message(feature, source.qualified_name, detail), settings.secrets),
                where,
            )
            for feature, detail in found
        ]

    def lock(self, pod: Pod, query: CompiledQuery, schema: Schema) -> SchemaLock | None:
        """The pod's schema lock (the types it reads and answers) against `schema`."""
        return schema_lock(pod, query, schema)

    def _table(self, settings: CatalogSettings, source: Source) -> Table:
        """The table, loaded once per run; the Problem loading it raises."""
        key = (settings.name, settings.origin, *source.namespace, source.table)
        if key not in self._tables:
            self._tables[key] = self._load_table(settings, source)
        found = self._tables[key]
        if isinstance(found, Problem):
            raise found
        return found

    def _file_features(
        self, settings: CatalogSettings, source: Source, table: Table
    ) -> list[tuple[str, str]]:
        """What the current snapshot's files hold that a pod refuses, read once per table. The
        manifests are in storage, which --check may not reach (it needs only the catalog) or
        not in time: then nothing is said, and the pod still refuses them when it meets them."""
        key = (settings.name, settings.origin, *source.namespace, source.table)
        if key not in self._files:
            try:
                found = _call_with_deadline(
                    lambda: list(in_files(current_files(table))),
                    self.timeout,
                    self._waiting(f"the manifests of table {source.qualified_name}"),
                )
            except Exception:  # noqa: BLE001 - unreadable manifests: see the docstring
                found = []
            self._files[key] = found
        return self._files[key]

    def settings(self, name: str, metastore: Metastore | None) -> CatalogSettings:
        """The catalog's properties: pyiceberg's configuration first, then config.yml's."""
        if self._config is None:
            try:
                self._config = Config()  # read now: the environment may have changed since import
            except Exception as exc:  # a malformed .pyiceberg.yaml
                raise Problem(
                    Code.CATALOG_UNAVAILABLE, f"pyiceberg configuration cannot be read: {exc}"
                ) from None
        try:
            configured = self._config.get_catalog_config(name)
        except ValueError as exc:  # `catalog:` or the catalog's entry is not a mapping
            raise Problem(
                Code.CATALOG_UNAVAILABLE, f"pyiceberg configuration of catalog '{name}': {exc}"
            ) from None
        if configured:
            return CatalogSettings(
                name=name, origin=PYICEBERG_CONFIGURATION, properties=dict(configured)
            )
        if metastore is not None:
            return CatalogSettings(
                name=name, origin=DATAPI_CONFIG, properties=self._metastore_properties(metastore)
            )
        raise Problem(
            Code.CATALOG_UNAVAILABLE,
            f"catalog '{name}' is not configured, so --check cannot load the table: set "
            f"PYICEBERG_CATALOG__{name.upper()}__URI (and the catalog's other properties) or "
            ".pyiceberg.yaml, or metastore_uri in the project's config.yml",
        )

    def _metastore_properties(self, metastore: Metastore) -> dict[str, str]:
        properties = {"uri": metastore.uri, "scope": POLARIS_SCOPE}
        if metastore.warehouse:
            properties["warehouse"] = metastore.warehouse
        credential = metastore.credential
        match = _VARIABLE.match(credential or "")
        if match:
            credential = self.environ.get(match["name"])
            if not credential:
                raise Problem(
                    Code.CATALOG_UNAVAILABLE,
                    f"config.yml's metastore_credentials names ${{{match['name']}}}, "
                    "which is not set in the environment",
                    metastore.span("metastore_credentials"),
                )
        if credential:
            properties["credential"] = credential
        return properties

    def _catalog(self, settings: CatalogSettings) -> Catalog:
        key = (settings.name, settings.origin)
        if key not in self._catalogs:
            try:
                self._catalogs[key] = self._bounded(
                    settings,
                    lambda: load_catalog(settings.name, **settings.properties),
                    f"catalog '{settings.name}' at {settings.uri}",
                )
            except Problem as problem:
                self._catalogs[key] = problem
            except Exception as exc:
                self._catalogs[key] = catalog_problem(exc, settings)
        found = self._catalogs[key]
        if isinstance(found, Problem):
            raise found
        return found

    def _load_table(self, settings: CatalogSettings, source: Source) -> Table | Problem:
        identifier = (*source.namespace, source.table)
        try:
            catalog = self._catalog(settings)
            return self._bounded(
                settings,
                lambda: catalog.load_table(identifier),
                f"table {source.qualified_name} in catalog '{settings.name}' at {settings.uri}",
            )
        except Problem as problem:
            return problem
        except (NoSuchTableError, NoSuchNamespaceError):
            return self._why_missing(catalog, settings, source)
        except Exception as exc:
            refused = unloadable(exc)
            if refused is not None:  # metadata pyiceberg cannot parse: the pod cannot either
                feature, detail = refused
                text = message(feature, source.qualified_name, detail)
                return Problem(Code.UNSUPPORTED_FEATURE, text, field="table")
            return table_problem(exc, settings, source)

    def _why_missing(self, catalog: Catalog, settings: CatalogSettings, source: Source) -> Problem:
        """Tell a missing namespace from a missing table, and both from a hidden one: catalogs
        such as SeaweedFS answer 404 to a principal that may not read the table."""
        table, namespace = source.qualified_name, ".".join(source.namespace)
        where = f"catalog '{settings.name}'"
        try:
            names = self._bounded(
                settings,
                lambda: catalog.list_tables(source.namespace),
                f"namespace {namespace} in catalog '{settings.name}' at {settings.uri}",
            )
        except Problem as problem:
            return problem
        except NoSuchNamespaceError:
            message = f"namespace '{namespace}' does not exist in {where}"
            return Problem(Code.MISSING_TABLE, message, field="namespace")
        except (ForbiddenError, UnauthorizedError):
            return Problem(
                Code.CATALOG_UNAVAILABLE,
                f"table '{table}' is not visible to this principal in {where}: loading it "
                f"answered 'not found' and listing namespace '{namespace}' is forbidden; grant "
                "the principal read access to the table (Polaris: TABLE_READ_DATA)",
            )
        except Exception:
            names = None  # the table is missing all the same; only the hint is lost
        message = f"table '{table}' does not exist in {where}"
        if names is not None:
            message += hint(source.table, sorted(name[-1] for name in names))
        return Problem(Code.MISSING_TABLE, message, field="table")

    def _bounded(self, settings: CatalogSettings, call: Callable[[], T], waiting_for: str) -> T:
        """The call's result, or a DP0504 problem when the catalog does not answer in time."""
        try:
            return _call_with_deadline(call, self.timeout, self._waiting(waiting_for))
        except _TimedOut:
            raise Problem(
                Code.CATALOG_UNAVAILABLE,
                f"catalog '{settings.name}' did not answer within {self.timeout:g} s at "
                f"{settings.uri}",
            ) from None

    def _waiting(self, what: str) -> Callable[[], None] | None:
        """What to say when waiting for `what` takes long, if anyone listens."""
        if self.progress is None:
            return None
        progress, timeout = self.progress, self.timeout
        return lambda: progress(f"--check: waiting for {what} (at most {timeout:g} s)")


def _call_with_deadline(
    call: Callable[[], T], seconds: float, slow: Callable[[], None] | None = None
) -> T:
    """Run `call` in a daemon thread and wait at most `seconds`; a call still blocked then is
    abandoned (a daemon thread does not keep the process alive). `slow` is called once if the
    call takes longer than PROGRESS_AFTER_SECONDS."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        with _quiet():
            try:
                outcome["value"] = call()
            except BaseException as exc:  # handed to the caller below
                outcome["error"] = exc

    thread = threading.Thread(target=run, name="datapic-check", daemon=True)
    thread.start()
    first = min(seconds, PROGRESS_AFTER_SECONDS) if slow is not None else seconds
    thread.join(first)
    if thread.is_alive() and first < seconds:
        slow()
        thread.join(seconds - first)
    if thread.is_alive():
        raise _TimedOut
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """pyiceberg warns and logs (to stderr, via logging's last resort) while signing in; stages
    never print, and a log line could carry a secret."""
    logger = logging.getLogger("pyiceberg")
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(previous)
