"""Unit tests of the pod runtime (templates/pod/datapic_runtime), as an ordinary module."""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "templates" / "pod"))

from datapic_runtime.config import ParameterSpec, PodConfig, SourceSpec  # noqa: E402
from datapic_runtime.errors import PodError  # noqa: E402
from datapic_runtime.params import bind_parameters  # noqa: E402
from datapic_runtime.query import QueryEngine, classify  # noqa: E402
from datapic_runtime.secrets import redact  # noqa: E402
from datapic_runtime.serialize import rows_to_json  # noqa: E402

DECLARED = (
    ParameterSpec(name="s", type="string", required=True, default=None),
    ParameterSpec(name="i", type="integer", required=False, default=3),
    ParameterSpec(name="n", type="number", required=False, default=1),
    ParameterSpec(name="b", type="boolean", required=False, default=False),
    ParameterSpec(name="d", type="date", required=False, default="2024-01-31"),
    ParameterSpec(name="t", type="timestamp", required=False, default=None),
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            [("s", "x")],
            {"s": "x", "i": 3, "n": 1.0, "b": False, "d": dt.date(2024, 1, 31), "t": None},
        ),
        (
            [
                ("s", ""),
                ("i", "-7"),
                ("n", "2.5"),
                ("b", "TRUE"),
                ("d", "2025-02-28"),
                ("t", "2025-02-28 10:30:00"),
            ],
            {
                "s": "",
                "i": -7,
                "n": 2.5,
                "b": True,
                "d": dt.date(2025, 2, 28),
                "t": dt.datetime(2025, 2, 28, 10, 30),
            },
        ),
        ([("s", "x"), ("format", "json")], None),
    ],
)
def test_parameters_are_typed(query, expected):
    if expected is None:
        values = bind_parameters(DECLARED, query, reserved=frozenset({"format"}))
        assert values["s"] == "x"
        return
    assert bind_parameters(DECLARED, query) == expected


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ([], "missing required parameter 's'"),
        ([("s", "x"), ("i", "1.5")], "'i' must be a whole number"),
        ([("s", "x"), ("n", "nan")], "'n' must be a number"),
        ([("s", "x"), ("b", "maybe")], "'b' must be true or false"),
        ([("s", "x"), ("d", "31/01/2024")], "'d' must be a date"),
        ([("s", "x"), ("x", "1")], "unknown parameter 'x'"),
        ([("s", "x"), ("s", "y")], "'s' is given more than once"),
    ],
)
def test_bad_parameters_are_400s_naming_the_parameter(query, named):
    with pytest.raises(PodError) as caught:
        bind_parameters(DECLARED, query)
    assert caught.value.status == 400 and named in caught.value.message


def test_rows_keep_column_order_and_exact_types():
    rows = [
        (
            2,
            Decimal("12345678901234567.89"),
            dt.date(2024, 2, 29),
            dt.datetime(2024, 2, 29, 23, 59, 59, 123456),
            None,
            True,
        )
    ]
    text = rows_to_json(["z", "a", "d", "t", "n", "b"], rows)
    assert text == (
        b'[{"z":2,"a":"12345678901234567.89","d":"2024-02-29",'
        b'"t":"2024-02-29T23:59:59.123456","n":null,"b":true}]'
    )
    assert list(json.loads(text)[0]) == ["z", "a", "d", "t", "n", "b"]


def _config(sql: str) -> PodConfig:
    return PodConfig(
        name="p",
        source=SourceSpec(catalog="c", namespace=("n",), table="t"),
        columns=("a",),
        read_columns=("a",),
        parameters=(),
        sql=sql,
        pushdown=(),
        freshness_seconds=5,
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) AS a FROM read_csv('/etc/passwd')",
        "SELECT 1 AS a FROM (SELECT * FROM read_parquet('/tmp/*.parquet'))",
        "COPY source TO '/tmp/leak.csv'",
        "ATTACH '/tmp/x.db'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
    ],
)
def test_the_pods_duckdb_cannot_reach_outside_its_data(sql):
    engine = QueryEngine(_config(sql))
    with pytest.raises(duckdb.Error):
        engine._execute(pa.table({"a": [1]}), {})


def test_registered_data_still_answers():
    engine = QueryEngine(_config("SELECT sum(a) AS a FROM source WHERE a > $m"))
    assert engine._execute(pa.table({"a": [1, 2, 3]}), {"m": 1}) == [(5,)]


@pytest.mark.parametrize(
    ("exception_name", "status"),
    [
        ("NoSuchTableError", 404),
        ("ForbiddenError", 403),
        ("UnauthorizedError", 502),
        ("ServiceUnavailableError", 503),
    ],
)
def test_catalog_failures_map_to_clear_statuses(exception_name, status):
    import pyiceberg.exceptions as errors

    error = classify(getattr(errors, exception_name)("detail"), _config("SELECT 1"))
    assert error.status == status
    assert ("n.t" if status < 500 else "catalog 'c'") in error.message
    assert "detail" not in error.message
    assert ("Retry-After" in error.headers) == (status == 503)


def test_unexpected_failures_say_nothing_about_internals():
    error = classify(RuntimeError("password=hunter2 at /srv/x"), _config("SELECT 1"))
    assert (error.status, error.message) == (500, "internal error")


def test_redact_masks_configured_secrets_and_url_passwords(monkeypatch):
    monkeypatch.setenv("PYICEBERG_CATALOG__PROD__CREDENTIAL", "client-id:client-secret-value")
    text = redact("auth client-secret-value failed for postgresql://me:pw@db/cat")
    assert "client-secret-value" not in text and ":pw@" not in text
    assert text == "auth *** failed for postgresql://***@db/cat"
