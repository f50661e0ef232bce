"""What goes wrong asking a catalog for a table, each as one line a user can act on.

Messages may still hold secrets (an error quoting a credential): SchemaLookup redacts them.
"""

from __future__ import annotations

import difflib
import re

from pyiceberg.exceptions import ForbiddenError, OAuthError, UnauthorizedError

from ..diagnostics import Code, Span, one_line
from ..spec.ir import Source
from .settings import CatalogSettings

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_MAX_LISTED_TABLES = 10


class Problem(Exception):
    """Why a schema could not be had: a diagnostic's code and message, before redaction."""

    def __init__(
        self, code: Code, message: str, span: Span | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.span = span
        self.field = field  # the depends_on key at fault: "namespace" or "table"


def catalog_problem(exc: Exception, settings: CatalogSettings) -> Problem:
    """What went wrong signing into a catalog, in one line."""
    # origin is config.yml or the pyiceberg configuration: say which the user should look at.
    where = f"catalog '{settings.name}' (from {settings.origin})"
    if isinstance(exc, OAuthError | UnauthorizedError):
        message = f"{where} at {settings.uri} refused the credential: {_reason(exc)}"
    elif isinstance(exc, ValueError):
        message = f"{where} is misconfigured: {_reason(exc)}"
    else:
        message = _failure(exc, where, settings, f"failed at {settings.uri}")
    return Problem(Code.CATALOG_UNAVAILABLE, message)


def table_problem(exc: Exception, settings: CatalogSettings, source: Source) -> Problem:
    """What went wrong loading a table from a catalog one is signed into, in one line."""
    table = source.qualified_name
    where = f"catalog '{settings.name}'"
    if isinstance(exc, ForbiddenError):
        message = (
            f"this principal may not read table '{table}' in {where} (forbidden: "
            f"{_reason(exc)}); grant it read access to the table (Polaris: TABLE_READ_DATA)"
        )
    elif isinstance(exc, OAuthError | UnauthorizedError):
        message = f"{where} refused the credential loading '{table}': {_reason(exc)}"
    else:
        message = _failure(exc, where, settings, f"failed loading '{table}'")
    return Problem(Code.CATALOG_UNAVAILABLE, message)


def _failure(exc: Exception, where: str, settings: CatalogSettings, failed: str) -> str:
    """A connection that failed, in the operating system's words; else the error's own."""
    if isinstance(exc, OSError) or _is_network_error(exc):
        return f"{where} cannot be reached at {settings.uri}: {_network_reason(exc)}"
    return f"{where} {failed}: {type(exc).__name__}: {_reason(exc)}"


def unexpected(exc: Exception, source: Source) -> Problem:
    """Whatever else went wrong: still one line, never a traceback."""
    return Problem(
        Code.CATALOG_UNAVAILABLE,
        f"catalog '{source.catalog}' failed: {type(exc).__name__}: {_reason(exc)}",
    )


def hint(name: str, tables: list[str]) -> str:
    """A missing table's nearest neighbour, else the namespace's tables, for the message."""
    close = difflib.get_close_matches(name, tables, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if not tables:
        return " (the namespace holds no tables)"
    shown = ", ".join(tables[:_MAX_LISTED_TABLES])
    more = (
        f", and {len(tables) - _MAX_LISTED_TABLES} more" if len(tables) > _MAX_LISTED_TABLES else ""
    )
    return f" (its tables: {shown}{more})"


def _is_network_error(exc: BaseException) -> bool:
    return any(cls.__module__.startswith(("requests", "urllib3")) for cls in type(exc).__mro__)


def _network_reason(exc: BaseException) -> str:
    """The operating system's words for a failed connection ('Connection refused', …)."""
    found = _ERRNO.search(str(exc))
    if found:
        return found[1].strip().lower()
    return type(exc).__name__


def _reason(exc: BaseException) -> str:
    return one_line(exc) or type(exc).__name__
