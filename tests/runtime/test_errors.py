"""datapic_runtime.errors: every failure becomes a fitting status and a message without internals.

The exceptions are the real ones, raised by the real libraries wherever that is cheap."""

from __future__ import annotations

import errno
import socket
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pyiceberg.exceptions as iceberg
import pytest
import requests
import sqlalchemy
from datapic_runtime.errors import (
    MISSING_DATA_FILE,
    RESULT_OUT_OF_RANGE,
    PodError,
    classify,
    storage_denied,
    table_damage,
)
from pyiceberg.table.metadata import TableMetadataUtil
from runtimekit import execute, whole

TABLE = {"catalog": "prod", "table": "sales.orders"}


def raised(call) -> Exception:
    """The exception `call()` raises."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - collecting it is the point
        return exc
    raise AssertionError("did not raise")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_in_missing_folder():
    engine = sqlalchemy.create_engine("sqlite:////nonexistent-datapic/secret-name/catalog.db")
    with engine.connect():
        pass


@pytest.mark.parametrize(
    ("exc", "status", "message"),
    [
        (
            iceberg.NoSuchTableError("Table does not exist: x"),
            404,
            "table sales.orders does not exist in catalog 'prod'",
        ),
        (iceberg.NoSuchNamespaceError("x"), 404, "table sales.orders does not exist"),
        (
            iceberg.ForbiddenError("principal p lacks TABLE_READ"),
            403,
            "catalog 'prod' does not allow the pod to read table sales.orders",
        ),
        (
            iceberg.UnauthorizedError("bad token abc"),
            502,
            "catalog 'prod' rejected the pod's credentials",
        ),
        (iceberg.OAuthError("invalid_client"), 502, "rejected the pod's credentials"),
        (iceberg.ServerError("boom"), 502, "catalog 'prod' failed to answer"),
        (iceberg.ServiceUnavailableError("down"), 503, "catalog 'prod' is unavailable"),
        (iceberg.TooManyRequestsError("slow down"), 503, "catalog 'prod' is rate-limiting the pod"),
        (
            lambda: requests.get(f"http://user:pw@127.0.0.1:{closed_port()}/v1/config", timeout=2),
            503,
            "catalog 'prod' or its storage cannot be reached (ConnectionError)",
        ),
        (sqlite_in_missing_folder, 503, "cannot be reached (OperationalError)"),
        (TimeoutError("read timed out"), 503, "cannot be reached (TimeoutError)"),
        (ConnectionResetError("peer reset"), 503, "cannot be reached (ConnectionResetError)"),
        (
            OSError("AWS Error NETWORK_CONNECTION during GetObject operation: curlCode: 6"),
            503,
            "cannot be reached (OSError)",
        ),
        (
            # How DuckDB passes on the OSError of a file system it reads through (pyarrow's).
            duckdb.Error(
                'Traceback (most recent call last):\n  File "pyarrow/error.pxi", line 92\n'
                "OSError: When getting information for key 'k' in bucket 'lake': AWS Error "
                "NETWORK_CONNECTION during HeadObject operation: curlCode: 7"
            ),
            503,
            "cannot be reached (OSError)",
        ),
        (RuntimeError("password=hunter2 at /srv/x"), 500, "internal error"),
        (
            FileNotFoundError(errno.ENOENT, "Failed to open s3://bucket/data/x.parquet"),
            502,
            "table sales.orders is damaged: a file of the table is missing from storage",
        ),
        (lambda: duckdb.sql("SELECT nope"), 500, "internal error"),
    ],
)
def test_failures_map_to_statuses_without_details(exc, status, message):
    # Real failures are provoked here, not at collection, where they would outlive the test.
    exc = raised(exc) if callable(exc) else exc
    error = classify(exc, **TABLE)
    assert error.status == status and message in error.message
    assert ("Retry-After" in error.headers) == (status == 503)
    # Nothing of the exception's own text, which may name hosts, paths, users or tokens.
    for detail in (
        "does not exist: x",
        "TABLE_READ",
        "abc",
        "pw",
        "secret-name",
        "hunter2",
        "bucket",
    ):
        assert detail not in error.message


# --- damaged tables ------------------------------------------------------------------------------


def parquet_cut(tmp_path, keep):
    """A Parquet file of `tmp_path` cut down to `keep(its bytes)`."""
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), path)
    path.write_bytes(keep(path.read_bytes()))
    return path


def avro_cut(tmp_path):
    """Reading a manifest list that breaks off after its Avro header's first bytes."""
    from pyiceberg.io.pyarrow import PyArrowFileIO
    from pyiceberg.manifest import _manifests

    (tmp_path / "snap.avro").write_bytes(b"Obj\x01\x04\x16avro.schema\xa7\xa7")
    return lambda: list(_manifests(PyArrowFileIO(), str(tmp_path / "snap.avro")))


NOT_PARQUET = "a data file is not readable Parquet (truncated, or overwritten)"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda _: FileNotFoundError(errno.ENOENT, MISSING_DATA_FILE),
            "a planned data file is missing from storage (deleted, or its snapshot expired)",
        ),
        (
            # Further into a stream than query.py's own rule looks.
            lambda tmp: lambda: duckdb.read_parquet(str(tmp / "gone.parquet")).fetchall(),
            "a planned data file is missing from storage (deleted, or its snapshot expired)",
        ),
        (
            lambda tmp: lambda: pq.read_table(tmp / "gone.parquet"),
            "a file of the table is missing from storage",
        ),
        (lambda tmp: lambda: duckdb.read_parquet(str(parquet_cut(tmp, lambda b: b[:100]))), None),
        (lambda tmp: lambda: duckdb.read_parquet(str(parquet_cut(tmp, lambda b: b[:-10]))), None),
        (lambda tmp: lambda: duckdb.read_parquet(str(parquet_cut(tmp, lambda b: b""))), None),
        (
            lambda tmp: (
                lambda: duckdb.read_parquet(
                    str(parquet_cut(tmp, lambda b: b"PAR1" + b"x" * (len(b) - 8) + b"PAR1"))
                )
            ),
            None,
        ),
        (lambda tmp: lambda: pq.read_table(parquet_cut(tmp, lambda b: b[:100])), None),
        (lambda tmp: lambda: pq.read_table(parquet_cut(tmp, lambda b: b"")), None),
        (
            lambda _: lambda: TableMetadataUtil.parse_raw('{"format-version": 2, "table-uu'),
            "its metadata file cannot be read (truncated, or not Iceberg metadata)",
        ),
        (avro_cut, "a manifest cannot be read (truncated, or not an Avro file)"),
    ],
)
def test_a_damaged_table_is_a_502_saying_what_is_damaged(tmp_path, damage, reason):
    made = damage(tmp_path)
    exc = raised(made) if callable(made) else made
    error = classify(exc, **TABLE)
    assert (error.status, error.message) == (
        502,
        f"table sales.orders is damaged: {reason or NOT_PARQUET}",
    )
    assert str(tmp_path) not in error.message


@pytest.mark.parametrize(
    "exc",
    [
        FileExistsError("x"),
        duckdb.InvalidInputException("Invalid Input Error: value 'PAR1' is no magic"),
        EOFError("EOF: read 1 bytes"),  # not from pyiceberg's Avro reader
        type("ValidationError", (Exception,), {})("not pyiceberg's: pydantic's, say"),
    ],
)
def test_other_failures_are_no_damage(exc):
    assert table_damage(exc) is None


def test_a_pod_error_passes_through():
    error = PodError(400, "missing required parameter 'a'")
    assert classify(error, **TABLE) is error


@pytest.mark.parametrize(
    ("sql", "params", "given", "expected"),
    [
        # A request value DuckDB cannot convert: a 400 naming the parameter.
        ("SELECT CAST($code AS INTEGER)", {"code": "abc"}, {"code": "abc", "other": "1"}, "code"),
        ("SELECT $n + 9223372036854775807", {"n": 1}, {"n": "1"}, "n"),
        # A regexp_matches pattern RE2 cannot compile, a strftime format DuckDB cannot read.
        ("SELECT regexp_matches('a', $p)", {"p": "(open"}, {"p": "(open"}, "p"),
        ("SELECT strftime(DATE '2024-01-01', $f)", {"f": "%Q"}, {"f": "%Q"}, "f"),
        ("SELECT regexp_matches('a', '(open')", {}, {"p": "x"}, None),
        # The same error from data, or from a value no parameter holds: not the client's fault.
        ("SELECT CAST('xyz' AS INTEGER)", {}, {"code": "abc"}, None),
        (
            "SELECT CAST($a AS INTEGER) + CAST($b AS INTEGER)",
            {"a": "x", "b": "x"},
            {"a": "x", "b": "x"},
            None,
        ),
    ],
)
def test_conversion_errors_blame_the_parameter_whose_value_failed(sql, params, given, expected):
    exc = raised(lambda: duckdb.execute(sql, params or None).fetchall())
    assert isinstance(
        exc,
        duckdb.ConversionException | duckdb.OutOfRangeException | duckdb.InvalidInputException,
    )
    error = classify(exc, **TABLE, given=given)
    if expected is None:
        assert (error.status, error.message) == (500, "internal error")
    else:
        assert error.status == 400
        assert error.message.startswith(f"parameter '{expected}' does not fit the query: ")
        assert "LINE 1" not in error.message  # DuckDB's SQL excerpt stays server-side


# --- integer results beyond int64 ---------------------------------------------------------------

BIG = pa.table({"g": ["a", "a", "b"], "n": pa.array([2**62, 2**62, 1], pa.int64())})


def test_an_integer_sum_beyond_int64_is_a_422_naming_the_column():
    sql = "SELECT g, sum(n) AS total FROM source GROUP BY g ORDER BY g"
    exc = raised(lambda: whole(execute(sql, BIG, {})))
    error = classify(exc, **TABLE)
    assert (error.status, error.message) == (
        422,
        "column 'total': the integer sum exceeds the int64 range "
        "(-9223372036854775808 to 9223372036854775807) of integer answers",
    )


def test_a_decimal_sum_beyond_38_digits_is_a_422_without_the_values():
    nines = Decimal("9" * 38)
    data = pa.table({"d": pa.array([nines, nines], pa.decimal128(38, 0))})
    exc = raised(lambda: whole(execute("SELECT sum(d) AS total FROM source", data, {})))
    assert isinstance(exc, duckdb.OutOfRangeException)
    error = classify(exc, **TABLE, given={"region": "EMEA"})
    assert (error.status, error.message) == (422, RESULT_OUT_OF_RANGE)
    assert "999" not in error.message


def test_integer_sums_at_the_edges_of_int64_are_answered():
    edges = pa.table({"n": pa.array([2**62, 2**62 - 1], pa.int64())})
    sql = "SELECT sum(n) AS top, sum(-n) - 1 AS bottom, sum(n) FILTER (n < 0) AS none FROM source"
    answer = execute(sql, edges, {})
    assert whole(answer).to_pylist() == [{"top": 2**63 - 1, "bottom": -(2**63), "none": None}]
    assert answer.schema.types == [pa.int64()] * 3


def test_other_invalid_input_is_not_an_overflow():
    exc = raised(lambda: duckdb.sql("SELECT error('the integer sum exceeds')").fetchall())
    assert classify(exc, **TABLE).status == 500


# --- storage refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        PermissionError("Cannot get file info, access denied: s3://lake/t/x.parquet"),
        OSError("When reading 'x' in bucket 'lake': AWS Error ACCESS_DENIED during GetObject"),
        OSError("AWS Error ExpiredToken during HeadObject: The provided token has expired"),
        duckdb.Error("OSError: AWS Error ACCESS_DENIED during HeadObject operation"),
        duckdb.IOException("GCS error: PERMISSION_DENIED: caller lacks storage.objects.get"),
        # Once the engine's own rule (query.py), now the same one.
        duckdb.IOException("IO Error: Access Denied reading s3://lake/t/x.parquet"),
        type("AccessDenied", (Exception,), {})("An error occurred (AccessDenied)"),
        type("AccessDeniedException", (Exception,), {})("not allowed"),
        type("Forbidden", (Exception,), {})("no"),
        type("ClientAuthenticationError", (Exception,), {})("Server failed to authenticate"),
        type("StorageError", (OSError,), {})(errno.EACCES, "denied"),
    ],
)
def test_storage_refusals_are_403_and_worth_a_reload(exc):
    assert storage_denied(exc)
    error = classify(exc, catalog="prod", table="sales.orders")
    assert (error.status, error.message) == (
        403,
        "storage refused the pod access to the files of table sales.orders",
    )


@pytest.mark.parametrize(
    "exc",
    [
        OSError("Couldn't connect to server"),
        duckdb.ConversionException("Could not convert string '403' to INT32"),
        ValueError("403"),
    ],
)
def test_other_failures_are_not_storage_refusals(exc):
    assert not storage_denied(exc)
