"""datapic_runtime.serialize: DuckDB answers as JSON rows, exact and in the declared key order."""

from __future__ import annotations

import json

import orjson
import pyarrow as pa
import pytest
from datapic_runtime.serialize import error_json, rows_json
from runtimekit import execute, whole

SOURCE = pa.table({"x": pa.array([1], pa.int32())})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("CAST(1234567890.12 AS DECIMAL(12, 2))", '"1234567890.12"'),
        ("CAST(0 AS DECIMAL(38, 10))", '"0.0000000000"'),  # never "0E-10"
        (
            "CAST('12345678901234567890.123456789' AS DECIMAL(38, 9))",
            '"12345678901234567890.123456789"',
        ),
        ("SUM(x)", "1"),  # narrowed to int64 by the engine: a number
        ("CAST(123 AS DECIMAL(38, 0))", '"123"'),  # a decimal, even without a fraction
        ("COUNT(*)", "1"),
        ("CAST(9007199254740993 AS BIGINT)", "9007199254740993"),
        ("CAST(0.1 AS DOUBLE)", "0.1"),
        ("CAST(-2 AS DOUBLE)", "-2.0"),  # still a float to a typed reader
        ("CAST(1e300 AS DOUBLE)", "1e+300"),
        ("CAST(0.1 AS FLOAT)", "0.1"),  # the float32's shortest text, not its double's
        ("CAST('-0.0' AS FLOAT)", "-0.0"),
        ("CAST('nan' AS DOUBLE)", "null"),  # JSON has no NaN
        ("CAST('-inf' AS DOUBLE)", "null"),
        ("DATE '2024-02-29'", '"2024-02-29"'),
        ("TIMESTAMP '2024-02-29 23:59:59.123456'", '"2024-02-29T23:59:59.123456"'),
        ("TIMESTAMP '2024-02-29 23:59:59'", '"2024-02-29T23:59:59"'),
        ("TIMESTAMPTZ '2024-02-29 23:59:59+02'", '"2024-02-29T21:59:59+00:00"'),  # UTC
        ("TIME '12:30:01'", '"12:30:01"'),
        ("TIME '12:30:01.5'", '"12:30:01.500000"'),
        ("TIMESTAMP '0001-01-01 00:00:00'", '"0001-01-01T00:00:00"'),
        ("TIMESTAMPTZ '2024-02-29 23:59:59.000001+00'", '"2024-02-29T23:59:59.000001+00:00"'),
        ("DATE '0099-01-01'", '"0099-01-01"'),
        # Nanoseconds (Iceberg v3 timestamp_ns): nine digits, none when the fraction is zero.
        ("TIMESTAMP_NS '2024-02-29 23:59:59.000000123'", '"2024-02-29T23:59:59.000000123"'),
        ("TIMESTAMP_NS '2024-02-29 23:59:59'", '"2024-02-29T23:59:59"'),
        ("TIMESTAMP_NS '2024-02-29 23:59:59.1'", '"2024-02-29T23:59:59.100000000"'),
        ("TIMESTAMP_MS '2024-02-29 23:59:59.120'", '"2024-02-29T23:59:59.120"'),
        ("TIMESTAMP_S '2024-02-29 23:59:59'", '"2024-02-29T23:59:59"'),
        ("CAST(0.0000000001 AS DECIMAL(20, 10))", '"0.0000000001"'),  # Arrow would say 1E-10
        ("CAST(-3.1 AS DECIMAL(5, 2))", '"-3.10"'),
        ("INTERVAL 1 DAY + INTERVAL 90 MINUTE", '"P1DT5400S"'),
        ("INTERVAL 14 MONTH", '"P14M"'),
        ("TRUE", "true"),
        ("NULL", "null"),
        ("CAST(NULL AS DECIMAL(12, 2))", "null"),
        ("'Zürich \"quoted\" \\ line'", '"Zürich \\"quoted\\" \\\\ line"'),
        ("CAST('ab' AS BLOB)", '"YWI="'),
        ("[1, 2]", "[1,2]"),
        ("{'k': DATE '2024-01-01'}", '{"k":"2024-01-01"}'),
    ],
)
def test_each_duckdb_type_becomes_exact_json(expression, expected):
    answer = execute(f"SELECT {expression} AS v FROM source", SOURCE, {})
    assert rows_json(["v"], whole(answer)) == b'[{"v":' + expected.encode() + b"}]"


def test_strings_are_escaped_as_orjson_escapes_them():
    texts = ["".join(map(chr, range(0x30))), 'back\\slash "quoted"', "Zürich ✓ 日本 🚀\u2028", ""]
    source = pa.table({"t": pa.array([*texts, None], pa.string())})
    answer = execute("SELECT t FROM source", source, {})
    assert rows_json(["t"], whole(answer)) == orjson.dumps([{"t": t} for t in [*texts, None]])


def test_arrow_computed_text_is_what_python_writes():
    """Dates, times and timestamps are formatted by Arrow for speed: Python's isoformat() and
    format(Decimal, "f") are the reference, over values spread across their whole ranges."""
    sql = (
        "SELECT TIMESTAMP '0001-01-01' + to_microseconds(x * 1000000000123) AS ts,"
        " TIMESTAMPTZ '1970-01-01 00:00:00+00' + to_microseconds(x * 1234567891) AS tz,"
        " DATE '0001-01-01' + CAST(x * 3 AS INTEGER) AS day,"
        " CAST('00:00:00' AS TIME) + to_microseconds(x * 1234567 % 86400000000) AS t,"
        " CAST((x - 5) / 7e9 AS DECIMAL(30, 12)) AS dec"
        " FROM range(300000) r(x) WHERE x % 997 = 0 OR x < 5"
    )
    data = whole(execute(sql, SOURCE, {}))
    rows = json.loads(rows_json(data.column_names, data))
    expected = [
        {k: format(v, "f") if k == "dec" else v.isoformat() for k, v in row.items()}
        for row in data.to_pylist()
    ]
    assert rows == expected
    assert any("." in row["ts"] for row in rows) and any("." not in row["ts"] for row in rows)


def test_keys_follow_the_declared_columns_by_position():
    answer = execute("SELECT 3 AS z, 2 AS a, 1 AS m FROM source", SOURCE, {})
    text = rows_json(["zeta", "alpha", "mu"], whole(answer))
    assert text == b'[{"zeta":3,"alpha":2,"mu":1}]'
    assert list(json.loads(text)[0]) == ["zeta", "alpha", "mu"]


def test_no_rows_is_an_empty_array():
    answer = execute("SELECT x FROM source WHERE false", SOURCE, {})
    assert rows_json(["x"], whole(answer)) == b"[]"


def test_a_column_count_mismatch_is_an_error_not_a_silent_cut():
    answer = execute("SELECT x, x AS y FROM source", SOURCE, {})
    with pytest.raises(ValueError, match="the query gave 2 columns, pod.json 1"):
        rows_json(["x"], whole(answer))


def test_error_bodies():
    assert json.loads(error_json("parameter 'a' is \"bad\"")) == {
        "error": "parameter 'a' is \"bad\""
    }
