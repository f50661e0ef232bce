"""datapic_runtime.serialize: DuckDB answers as JSON rows, exact and in the declared key order."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from datapic_runtime.query import execute
from datapic_runtime.serialize import error_json, rows_json

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
        ("SUM(x)", "1"),  # HUGEINT: a number, though Arrow carries it as a decimal
        ("CAST(18446744073709551615 AS HUGEINT)", "18446744073709551615"),
        (
            "CAST(170141183460469231731687303715884105727 AS HUGEINT)",
            '"170141183460469231731687303715884105727"',  # beyond 64 bits: exact text
        ),
        ("COUNT(*)", "1"),
        ("CAST(9007199254740993 AS BIGINT)", "9007199254740993"),
        ("CAST(0.1 AS DOUBLE)", "0.1"),
        ("CAST('nan' AS DOUBLE)", "null"),  # JSON has no NaN
        ("CAST('-inf' AS DOUBLE)", "null"),
        ("DATE '2024-02-29'", '"2024-02-29"'),
        ("TIMESTAMP '2024-02-29 23:59:59.123456'", '"2024-02-29T23:59:59.123456"'),
        ("TIMESTAMP '2024-02-29 23:59:59'", '"2024-02-29T23:59:59"'),
        ("TIMESTAMPTZ '2024-02-29 23:59:59+02'", '"2024-02-29T21:59:59+00:00"'),  # UTC
        ("TIME '12:30:01'", '"12:30:01"'),
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
    assert (
        rows_json(["v"], answer.to_table(), answer.wide_integers)
        == b'[{"v":' + expected.encode() + b"}]"
    )


def test_keys_follow_the_declared_columns_by_position():
    answer = execute("SELECT 3 AS z, 2 AS a, 1 AS m FROM source", SOURCE, {})
    text = rows_json(["zeta", "alpha", "mu"], answer.to_table(), answer.wide_integers)
    assert text == b'[{"zeta":3,"alpha":2,"mu":1}]'
    assert list(json.loads(text)[0]) == ["zeta", "alpha", "mu"]


def test_no_rows_is_an_empty_array():
    answer = execute("SELECT x FROM source WHERE false", SOURCE, {})
    assert rows_json(["x"], answer.to_table()) == b"[]"


def test_a_column_count_mismatch_is_an_error_not_a_silent_cut():
    answer = execute("SELECT x, x AS y FROM source", SOURCE, {})
    with pytest.raises(ValueError, match="the query gave 2 columns, pod.json 1"):
        rows_json(["x"], answer.to_table())


def test_error_bodies():
    assert json.loads(error_json("parameter 'a' is \"bad\"")) == {
        "error": "parameter 'a' is \"bad\""
    }
