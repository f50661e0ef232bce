"""Failures as client-safe answers: a status, a message without secrets, and maybe headers."""

from __future__ import annotations

import errno
import re
import traceback
from collections.abc import Mapping

import duckdb

RETRY_AFTER_SECONDS = "5"
# The whole message of an unexpected failure: its details go to the log, never to the client.
INTERNAL_ERROR = "internal error"


class ConfigError(ValueError):
    """pod.json does not describe a pod this runtime can serve (raised at start-up)."""


class PodError(Exception):
    """An answer other than 200: `message` goes to the client, so it must never hold a secret."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


# pyiceberg exception class names -> (status, message); names, because the REST, SQL and other
# catalogs raise their own subclasses and the pod must not import optional catalog modules.
_CATALOG_ERRORS = {
    "NoSuchTableError": (404, "table {table} does not exist in catalog '{catalog}'"),
    "NoSuchIcebergTableError": (404, "table {table} does not exist in catalog '{catalog}'"),
    "NoSuchNamespaceError": (404, "table {table} does not exist in catalog '{catalog}'"),
    "ForbiddenError": (403, "catalog '{catalog}' does not allow the pod to read table {table}"),
    "UnauthorizedError": (502, "catalog '{catalog}' rejected the pod's credentials"),
    "AuthorizationExpiredError": (502, "catalog '{catalog}' rejected the pod's credentials"),
    "OAuthError": (502, "catalog '{catalog}' rejected the pod's credentials"),
    "ServerError": (502, "catalog '{catalog}' failed to answer"),
    "ServiceUnavailableError": (503, "catalog '{catalog}' is unavailable"),
    "TooManyRequestsError": (503, "catalog '{catalog}' is rate-limiting the pod"),
}
# Connection-level failures of the catalog (requests, SQLAlchemy, the OS) or of storage
# (botocore, aiohttp under fsspec), by class name: the pod does not import those libraries.
_UNREACHABLE = {
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "Timeout",
    "OperationalError",
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ClientConnectionError",
    "ServerTimeoutError",
}
# Exception classes that are storage refusing the pod (Python's, boto's, Azure's, fsspec's), by
# name: the pod does not import those libraries.
_DENIAL_CLASSES = {
    "PermissionError",
    "AccessDenied",
    "AccessDeniedException",
    "Forbidden",
    "Unauthorized",
    "ClientAuthenticationError",
}
# What object stores say when they refuse a request (pyarrow, botocore, Azure, GCS), also
# when DuckDB passes a file system's failure on as its own IOException.
_STORAGE_DENIAL = re.compile(
    r"ACCESS_DENIED|AccessDenied|Access Denied|ExpiredToken|InvalidAccessKeyId|"
    r"SignatureDoesNotMatch|AuthenticationFailed|AuthorizationFailure|"
    r"AuthorizationPermissionMismatch|PERMISSION_DENIED|\bForbidden\b|\b403\b|PermissionError|"
    r"Permission denied"
)
_DUCKDB_IO_ERRORS = (duckdb.Error, duckdb.IOException, duckdb.HTTPException)
# What query.py says when DuckDB finds no file where the plan put one.
MISSING_DATA_FILE = "a planned data file is missing"
# How DuckDB says a file it was asked to read does not exist (query.py raises MISSING_DATA_FILE
# instead where it can; a file missing further into a stream is still DuckDB's message).
_NO_SUCH_FILE = "No files found that match"
# How DuckDB and pyarrow say a data file is not (or no longer) whole Parquet: truncated, empty,
# or overwritten with something else.
_NOT_PARQUET = re.compile(
    r"No magic bytes found|too small to be a Parquet file|Footer length error|"
    r"magic bytes not found|Parquet file size is 0 bytes|Couldn't deserialize thrift|"
    r"Corrupt Parquet|Parquet file .* is corrupt"
)
# Where pyiceberg's Avro reader runs: any failure in there is a manifest (list) it cannot read.
_AVRO_READER = re.compile(r"pyiceberg[/\\]avro[/\\]")
# Errors DuckDB raises when a value cannot be converted or does not fit a type.
_VALUE_ERRORS = (duckdb.ConversionException, duckdb.OutOfRangeException)
RESULT_OUT_OF_RANGE = (
    "a result is out of the range of its type (a decimal sum beyond 38 digits, or an arithmetic "
    "overflow); narrower filters may answer"
)
# What int64_overflow says, found again in the error DuckDB raises with it.
_INT64_OVERFLOW = re.compile(r"column .*: the integer sum exceeds the int64 range.*")


def classify(
    exc: BaseException, *, catalog: str, table: str, given: Mapping[str, str] | None = None
) -> PodError:
    """The client-facing error for `exc`, raised while answering with these request values."""
    if isinstance(exc, PodError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    for name, (status, message) in _CATALOG_ERRORS.items():
        if name in names:
            return _with_retry(status, message.format(catalog=catalog, table=table))
    if storage_denied(exc):
        # The storage credentials (vended or configured) do not cover the table's files.
        return PodError(403, f"storage refused the pod access to the files of table {table}")
    damage = table_damage(exc)
    if damage:
        # Before the outages (DuckDB's missing file is an OperationalError). Nothing is wrong
        # with the pod or the request, and retrying will not help: the table's files are not
        # what its metadata says. 502: what the pod depends on answered wrongly.
        return PodError(502, f"table {table} is damaged: {damage}")
    if "DatabaseError" in names and "file is not a database" in str(exc):
        # A SQLite catalog's file replaced by something else: the pod reopens the file on the
        # next request, so this lasts as long as the file does.
        return PodError(502, f"catalog '{catalog}' is damaged: its file is not a SQLite database")
    # pyarrow's file systems raise a plain OSError when storage cannot be reached; DuckDB
    # passes one raised while it reads through such a file system on as a plain duckdb.Error.
    passed_on = type(exc) is duckdb.Error and "\nOSError: " in str(exc)
    if (
        names & _UNREACHABLE
        or isinstance(exc, ConnectionError | TimeoutError)
        or type(exc) is OSError
        or passed_on
    ):
        # The class name says what failed; its message may hold a host or a connection string.
        failed = "OSError" if passed_on else type(exc).__name__
        message = f"catalog '{catalog}' or its storage cannot be reached ({failed})"
        return _with_retry(503, message)
    overflow = _int64_overflow_in(exc)
    if overflow:
        # The answer exists but does not fit its type: the request, as it stands, cannot be
        # answered (narrower filters may do), and nothing is wrong with the pod or the table.
        return PodError(422, overflow)
    if isinstance(exc, (*_VALUE_ERRORS, duckdb.InvalidInputException)):
        # InvalidInput names a request value it refused: a regexp_matches pattern that RE2
        # cannot compile, a strftime format it cannot read.
        culprit = _culprit(str(exc), given or {})
        if culprit:
            return PodError(400, f"parameter '{culprit}' does not fit the query: {first_line(exc)}")
    if isinstance(exc, duckdb.OutOfRangeException):
        # Not a request value: a result outgrew its type (a decimal sum past 38 digits). DuckDB's
        # message quotes the values, which stay in the log.
        return PodError(422, RESULT_OUT_OF_RANGE)
    return PodError(500, INTERNAL_ERROR)


def table_damage(exc: BaseException) -> str | None:
    """What is wrong with the table's files if `exc` says they are damaged (a file missing,
    not Parquet, metadata or a manifest unreadable), for the client; None for other failures.

    >>> table_damage(FileNotFoundError(2, MISSING_DATA_FILE))
    'a planned data file is missing from storage (deleted, or its snapshot expired)'
    """
    # DuckDB reads nothing but planned data files.
    if (isinstance(exc, FileNotFoundError) and exc.strerror == MISSING_DATA_FILE) or (
        isinstance(exc, duckdb.IOException) and _NO_SUCH_FILE in str(exc)
    ):
        return f"{MISSING_DATA_FILE} from storage (deleted, or its snapshot expired)"
    if isinstance(exc, FileNotFoundError):  # metadata, a manifest list, a manifest, deletes
        return "a file of the table is missing from storage"
    names = {cls.__name__ for cls in type(exc).__mro__}
    readers = isinstance(exc, duckdb.Error | OSError) or "ArrowInvalid" in names
    if readers and _NOT_PARQUET.search(str(exc)):
        return "a data file is not readable Parquet (truncated, or overwritten)"
    if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pyiceberg"):
        # Table metadata pyiceberg cannot parse, once refuse_unloadable (features.py) has
        # ruled out a feature it does not know.
        return "its metadata file cannot be read (truncated, or not Iceberg metadata)"
    if _raised_in_avro_reader(exc):
        return "a manifest cannot be read (truncated, or not an Avro file)"
    return None


def _raised_in_avro_reader(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and bool(_AVRO_READER.search(frames[-1].filename))


def int64_overflow(column: str) -> str:
    """The message of an integer result beyond int64 (answer.py raises it inside DuckDB).

    >>> int64_overflow("total").split(" (")[0]
    "column 'total': the integer sum exceeds the int64 range"
    """
    return (
        f"column {column!r}: the integer sum exceeds the int64 range "
        f"({-(2**63)} to {2**63 - 1}) of integer answers"
    )


def _int64_overflow_in(exc: BaseException) -> str | None:
    """int64_overflow's message, if `exc` is DuckDB raising it (the `error()` call answer.py
    puts into the query); None for any other failure."""
    if not isinstance(exc, duckdb.InvalidInputException):
        return None
    found = _INT64_OVERFLOW.search(first_line(exc))
    return found.group(0) if found else None


def storage_denied(exc: BaseException) -> bool:
    """Whether `exc` is object storage refusing the pod's credentials (expired vended ones
    among them): worth one reload of the table, which brings fresh credentials."""
    if isinstance(exc, OSError) and exc.errno == errno.EACCES:
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _DENIAL_CLASSES:
        return True
    # DuckDB re-raises a registered file system's OSError as a plain duckdb.Error; its other
    # errors (a conversion quoting a request value "403") are not about storage.
    storage_like = (
        isinstance(exc, OSError) or type(exc) in _DUCKDB_IO_ERRORS or "HttpResponseError" in names
    )
    return storage_like and bool(_STORAGE_DENIAL.search(str(exc)))


def _with_retry(status: int, message: str) -> PodError:
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else {}
    return PodError(status, message, headers)


def _culprit(message: str, given: Mapping[str, str]) -> str | None:
    """The request parameter whose value DuckDB's message names, if exactly one does."""
    texts = {name: text for name, text in given.items() if text.strip()}
    quoted = [name for name, text in texts.items() if f"'{text}'" in message]
    if len(quoted) == 1:
        return quoted[0]
    # Numbers appear unquoted ("Overflow in addition of INT64 (1 + 9223372036854775807)").
    bare = [
        name
        for name, text in texts.items()
        if re.search(rf"(?<![\w.]){re.escape(text)}(?![\w.])", message)
    ]
    return bare[0] if len(bare) == 1 else None


def first_line(exc: BaseException) -> str:
    """The first line of `exc`'s message, "" if it has none (DuckDB's first line quotes the
    failing value, not the data or the SQL).

    >>> first_line(ValueError("Could not convert 'x'\\nLINE 1: SELECT ..."))
    "Could not convert 'x'"
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
