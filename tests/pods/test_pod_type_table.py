"""The README's type table, end to end: a pod over a table holding every Iceberg type answers in
each format with the types the table promises, and every format of one answer carries the same
values. The reference is the rows the test wrote (and aggregates of them computed here in
Python), not the engine; the readers are independent ones: pyarrow for Arrow and Parquet, the
csv module, json. Then an integer sum beyond int64, which must be a clear 422."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from podkit import make_pod, param, pod_json, serving
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

pytestmark = pytest.mark.pod

UTC = dt.UTC
FORMATS = ("json", "ndjson", "csv", "arrow", "parquet")

# --- the table: one column of each Iceberg type -------------------------------------------------

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "flag", BooleanType()),
    NestedField(3, "i", IntegerType()),
    NestedField(4, "l", LongType()),
    NestedField(5, "f", FloatType()),
    NestedField(6, "d", DoubleType()),
    NestedField(7, "dec", DecimalType(9, 2)),
    NestedField(8, "day", DateType()),
    NestedField(9, "t", TimeType()),
    NestedField(10, "ts", TimestampType()),
    NestedField(11, "tz", TimestamptzType()),
    NestedField(12, "s", StringType()),
    NestedField(13, "u", UUIDType()),
    NestedField(14, "fx", FixedType(4)),
    NestedField(15, "bin", BinaryType()),
    NestedField(
        16,
        "st",
        StructType(NestedField(17, "a", IntegerType()), NestedField(18, "m", DecimalType(9, 2))),
    ),
    NestedField(19, "li", ListType(20, LongType())),
    NestedField(21, "mp", MapType(22, StringType(), 23, DoubleType())),
)
COLUMNS = [field.name for field in SCHEMA.fields]
U1 = uuid.UUID("12345678-1234-5678-1234-567812345678")
U2 = uuid.UUID("f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f")
ROWS = [
    {
        "id": 1,
        "flag": True,
        "i": 7,
        "l": 2**40,
        "f": 0.1,
        "d": 2.5,
        "dec": Decimal("12.30"),
        "day": dt.date(2024, 2, 29),
        "t": dt.time(12, 30, 1, 5),
        "ts": dt.datetime(2024, 1, 1, 12),
        "tz": dt.datetime(2024, 1, 1, 12, tzinfo=UTC),
        "s": 'Zürich, "quoted"',
        "u": U1,
        "fx": b"\x00\x01\x02\x03",
        "bin": b"ab",
        "st": {"a": 1, "m": Decimal("1.50")},
        "li": [1, 2],
        "mp": [("k", 1.5)],
    },
    {
        "id": 2,
        "flag": False,
        "i": -3,
        "l": 2**53 + 1,  # beyond a double's integers: a JSON reader must keep it exact
        "f": -0.5,
        "d": -0.25,
        "dec": Decimal("-0.05"),
        "day": dt.date(1999, 12, 31),
        "t": dt.time(0, 0),
        "ts": dt.datetime(2024, 3, 1, 0, 0, 0, 1),
        "tz": dt.datetime(2024, 6, 30, 23, 59, 59, 500000, tzinfo=UTC),
        "s": "",
        "u": U2,
        "fx": b"\xff\xfe\xfd\xfc",
        "bin": b"",
        "st": {"a": None, "m": None},
        "li": [],
        "mp": [],
    },
    {"id": 3, **{name: None for name in COLUMNS[1:]}},
]

# What the README's table promises each column as: its Arrow type, and its Parquet type (top-level
# primitives; a nested column is a Parquet group). JSON, NDJSON and CSV carry the same values.
PROJECTION_TYPES = {
    "id": (pa.int64(), "INT64"),
    "flag": (pa.bool_(), "BOOLEAN"),
    "i": (pa.int32(), "INT32"),
    "l": (pa.int64(), "INT64"),
    "f": (pa.float32(), "FLOAT"),
    "d": (pa.float64(), "DOUBLE"),
    "dec": (pa.decimal128(9, 2), "DECIMAL(9,2)"),
    "day": (pa.date32(), "DATE"),
    "t": (pa.time64("us"), "TIME(MICROS)"),
    "ts": (pa.timestamp("us"), "TIMESTAMP(MICROS)"),
    "tz": (pa.timestamp("us", tz="UTC"), "TIMESTAMP(MICROS, UTC)"),
    "s": (pa.string(), "STRING"),
    "u": (pa.string(), "STRING"),
    "fx": (pa.binary(), "BYTE_ARRAY"),
    "bin": (pa.binary(), "BYTE_ARRAY"),
    "st": (pa.struct([("a", pa.int32()), ("m", pa.decimal128(9, 2))]), None),
    "li": (pa.list_(pa.field("l", pa.int64())), None),
    "mp": (pa.map_(pa.string(), pa.float64()), None),
}
PROJECTION = pod_json(
    "every-type",
    "shop.every_type",
    f"SELECT {', '.join(COLUMNS)} FROM source ORDER BY id",
    columns=COLUMNS,
    read_columns=COLUMNS,
)

# Aggregates: output column, SQL, promised (Arrow, Parquet) types, the value computed from ROWS.
INT64, DOUBLE = (pa.int64(), "INT64"), (pa.float64(), "DOUBLE")
AGGREGATES = [
    ("n", "count(*)", INT64, 3),
    ("n_i", "count(i)", INT64, 2),
    ("sum_i", "sum(i)", INT64, 7 - 3),
    ("sum_l", "sum(l)", INT64, 2**40 + 2**53 + 1),
    ("sum_flag", "sum(flag)", INT64, 1),
    ("sum_dec", "sum(dec)", (pa.decimal128(38, 2), "DECIMAL(38,2)"), Decimal("12.25")),
    ("sum_d", "sum(d)", DOUBLE, 2.25),
    ("avg_i", "avg(i)", DOUBLE, 2.0),
    ("avg_l", "avg(l)", DOUBLE, (2**40 + 2**53 + 1) / 2),
    ("avg_dec", "avg(dec)", DOUBLE, 6.125),
    ("avg_d", "avg(d)", DOUBLE, 1.125),
    ("min_i", "min(i)", (pa.int32(), "INT32"), -3),
    ("max_l", "max(l)", INT64, 2**53 + 1),
    ("min_f", "min(f)", (pa.float32(), "FLOAT"), -0.5),
    ("max_dec", "max(dec)", (pa.decimal128(9, 2), "DECIMAL(9,2)"), Decimal("12.30")),
    ("min_day", "min(day)", (pa.date32(), "DATE"), dt.date(1999, 12, 31)),
    ("max_t", "max(t)", (pa.time64("us"), "TIME(MICROS)"), dt.time(12, 30, 1, 5)),
    ("min_ts", "min(ts)", (pa.timestamp("us"), "TIMESTAMP(MICROS)"), dt.datetime(2024, 1, 1, 12)),
    (
        "max_tz",
        "max(tz)",
        (pa.timestamp("us", tz="UTC"), "TIMESTAMP(MICROS, UTC)"),
        ROWS[1]["tz"],
    ),
    ("min_s", "min(s)", (pa.string(), "STRING"), ""),
    ("max_u", "max(u)", (pa.string(), "STRING"), str(U2)),
    ("max_bin", "max(bin)", (pa.binary(), "BYTE_ARRAY"), b"ab"),
    # issue 12's aggregates: counts stay int64 (count_if is a 128-bit integer in DuckDB)
    ("n_positive", "count(*) FILTER (WHERE i > 0)", INT64, 1),
    ("n_flag", "count_if(flag)", INT64, 1),
    ("distinct_s", "approx_count_distinct(s)", INT64, 2),
    ("median_i", "median(i)", DOUBLE, (7 + -3) / 2),
    ("q_cont_d", "quantile_cont(d, 0.5)", DOUBLE, (2.5 + -0.25) / 2),
    # An interpolated decimal keeps its scale, cut rather than rounded: -0.05 + 0.25 * 12.35.
    (
        "q_cont_dec",
        "quantile_cont(dec, 0.25)",
        (pa.decimal128(9, 2), "DECIMAL(9,2)"),
        (Decimal("-0.05") + Decimal("0.25") * Decimal("12.35")).quantize(
            Decimal("0.01"), rounding=ROUND_DOWN
        ),
    ),
    ("q_disc_i", "quantile_disc(i, 0.5)", (pa.int32(), "INT32"), -3),
    (
        "p_disc_day",
        "percentile_disc(0.5) WITHIN GROUP (ORDER BY day)",
        (pa.date32(), "DATE"),
        dt.date(1999, 12, 31),
    ),
]
REDUCTION = pod_json(
    "every-aggregate",
    "shop.every_type",
    "SELECT " + ", ".join(f"{sql} AS {name}" for name, sql, _, _ in AGGREGATES) + " FROM source",
    columns=[name for name, _, _, _ in AGGREGATES],
    read_columns=["bin", "d", "day", "dec", "f", "flag", "i", "l", "s", "t", "ts", "tz", "u"],
)
REDUCTION["operation"] = "REDUCTION"


def write_every_type(catalog) -> None:
    table = catalog.create_table("shop.every_type", schema=SCHEMA)
    schema = table.schema().as_arrow()
    for rows in (ROWS[:1], ROWS[1:]):  # two files
        written = [{**row, "u": row["u"].bytes if row["u"] else None} for row in rows]
        table.append(pa.Table.from_pylist(written, schema=schema))


@pytest.fixture(scope="module")
def pods(tmp_path_factory, catalog, pod_env):
    write_every_type(catalog)
    work = tmp_path_factory.mktemp("type-table")
    with (
        serving(make_pod(work, PROJECTION), pod_env, work / "projection.log") as projection,
        serving(make_pod(work, REDUCTION), pod_env, work / "reduction.log") as reduction,
    ):
        yield {"projection": projection, "reduction": reduction}


# --- the value forms, as the README states them (written here, not taken from the runtime) -----


def json_form(value: Any, kind: pa.DataType) -> Any:
    """`value` of Arrow type `kind` as JSON carries it."""
    if value is None:
        return None
    if pa.types.is_struct(kind):
        return {f.name: json_form(value[f.name], f.type) for f in kind}
    if pa.types.is_map(kind):
        return [[json_form(k, kind.key_type), json_form(v, kind.item_type)] for k, v in value]
    if pa.types.is_list(kind):
        return [json_form(v, kind.value_type) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        # A float32 is its own shortest text (0.1), not its double's digits.
        return float(str(np.float32(value))) if pa.types.is_float32(kind) else value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()  # UTC, with its +00:00 offset
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def json_rows(table: pa.Table) -> list[dict]:
    kinds = {field.name: field.type for field in table.schema}
    return [{k: json_form(v, kinds[k]) for k, v in row.items()} for row in table.to_pylist()]


def csv_value(field: str, want: Any) -> Any:
    """A CSV field read back as the JSON value `want` is of: numbers as numbers, nested values
    as their JSON text, true/false; an empty field is NULL (or the empty string)."""
    if want is None or want == "":
        return want if field == "" else field
    if isinstance(want, bool):
        return {"true": True, "false": False}.get(field, field)
    if isinstance(want, float):
        return float(field)
    if isinstance(want, int):
        return int(field) if field.lstrip("-").isdigit() else field
    if isinstance(want, dict | list):
        return json.loads(field)
    return field


# --- decoding each format -----------------------------------------------------------------------


def fetch(client, format_name: str, **params) -> bytes:
    response = client.get("/get_data", params={"format": format_name, **params})
    assert response.status_code == 200, response.text
    return response.content


def parquet_type(column: pq.ColumnSchema) -> str:
    """A Parquet column's type as the README names it: the logical type, else the physical."""
    logical = json.loads(column.logical_type.to_json())
    kind = logical["Type"].upper()
    if kind == "NONE":
        return column.physical_type
    if kind == "DECIMAL":
        return f"DECIMAL({logical['precision']},{logical['scale']})"
    if kind in ("TIME", "TIMESTAMP"):
        assert logical["timeUnit"] == "microseconds"
        return f"{kind}(MICROS, UTC)" if logical["isAdjustedToUTC"] else f"{kind}(MICROS)"
    return kind


def parquet_types(body: bytes) -> dict[str, str]:
    """The Parquet type of each top-level primitive column (nested ones are groups)."""
    schema = pq.ParquetFile(io.BytesIO(body)).metadata.schema
    leaves = (schema.column(j) for j in range(len(schema)))
    return {leaf.path: parquet_type(leaf) for leaf in leaves if "." not in leaf.path}


def decoded(client) -> dict[str, Any]:
    """One answer in every format, each read by its own independent reader."""
    bodies = {name: fetch(client, name) for name in FORMATS}
    return {
        "arrow": pa.ipc.open_stream(bodies["arrow"]).read_all(),
        "parquet": pq.read_table(io.BytesIO(bodies["parquet"])),
        "parquet_types": parquet_types(bodies["parquet"]),
        "json": json.loads(bodies["json"]),
        "ndjson": [json.loads(line) for line in bodies["ndjson"].decode().splitlines()],
        "csv": list(csv.reader(io.StringIO(bodies["csv"].decode("utf-8"), newline=""))),
    }


def assert_every_format_carries(answer: dict[str, Any], types: dict, expected: list[dict]):
    arrow = answer["arrow"]
    assert dict(zip(arrow.column_names, arrow.schema.types, strict=True)) == {
        name: arrow_type for name, (arrow_type, _) in types.items()
    }
    assert answer["parquet_types"] == {name: kind for name, (_, kind) in types.items() if kind}
    assert answer["parquet"].schema.remove_metadata() == arrow.schema.remove_metadata()
    assert_close(arrow.to_pylist(), expected)
    assert answer["parquet"].to_pylist() == arrow.to_pylist()
    want = json_rows(arrow)
    assert answer["json"] == want
    assert answer["ndjson"] == want
    header, *lines = answer["csv"]
    assert header == list(types)
    read = [
        {k: csv_value(field, row[k]) for k, field in zip(header, line, strict=True)}
        for line, row in zip(lines, want, strict=True)
    ]
    assert read == want


def assert_close(got: list[dict], expected: list[dict]) -> None:
    """Same rows; a float equal up to its last bits (the engine adds in its own order)."""
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        assert list(row) == list(want)
        for key, value in want.items():
            if isinstance(value, float):
                assert math.isclose(row[key], value, rel_tol=1e-12), (key, row[key], value)
            else:
                assert row[key] == value, (key, row[key], value)


def test_a_projection_of_every_iceberg_type_is_the_same_in_every_format(pods):
    expected = [
        {
            **row,
            "f": None if row["f"] is None else float(np.float32(row["f"])),  # as stored
            "u": None if row["u"] is None else str(row["u"]),  # a uuid is its text
        }
        for row in ROWS
    ]
    assert_every_format_carries(decoded(pods["projection"]), PROJECTION_TYPES, expected)


def test_every_aggregate_is_the_same_in_every_format(pods):
    types = {name: kind for name, _, kind, _ in AGGREGATES}
    expected = [{name: value for name, _, _, value in AGGREGATES}]
    assert_every_format_carries(decoded(pods["reduction"]), types, expected)


def test_json_keeps_integers_integers_and_floats_floats(pods):
    """A typed reader must tell them apart: a sum is never 4.0, an average never 2."""
    (row,) = json.loads(fetch(pods["reduction"], "json"))
    assert all(type(row[name]) is int for name in ("n", "sum_i", "sum_l", "sum_flag", "min_i"))
    assert all(type(row[name]) is float for name in ("avg_i", "avg_dec", "avg_d", "sum_d"))
    assert row["sum_l"] == 2**40 + 2**53 + 1  # exact beyond 2^53
    assert (row["sum_dec"], row["max_dec"]) == ("12.25", "12.30")  # the scale kept
    assert row["max_tz"] == "2024-06-30T23:59:59.500000+00:00"


# --- an integer sum beyond int64 ----------------------------------------------------------------

HUGE_SCHEMA = Schema(
    NestedField(1, "g", StringType(), required=True), NestedField(2, "n", LongType())
)
OVERFLOW = pod_json(
    "huge-sums",
    "shop.huge_sums",
    "SELECT g, sum(n) AS total FROM source WHERE $g IS NULL OR g = $g GROUP BY g ORDER BY g",
    columns=["g", "total"],
    read_columns=["g", "n"],
    parameters=[param("g", "string")],
)
OVERFLOW["operation"] = "REDUCTION"
OVERFLOW_MESSAGE = (
    "column 'total': the integer sum exceeds the int64 range "
    "(-9223372036854775808 to 9223372036854775807) of integer answers"
)


@pytest.fixture(scope="module")
def overflow_pod(tmp_path_factory, catalog, pod_env):
    table = catalog.create_table("shop.huge_sums", schema=HUGE_SCHEMA)
    schema = table.schema().as_arrow()
    for rows in ({"g": ["a", "a"], "n": [2**62, 2**62]}, {"g": ["a", "b"], "n": [2**62, 5]}):
        table.append(pa.Table.from_pydict(rows, schema=schema))  # each file's sum fits
    work = tmp_path_factory.mktemp("huge-sums")
    with serving(make_pod(work, OVERFLOW), pod_env, work / "pod.log") as client:
        yield client, work / "pod.log"


@pytest.mark.parametrize("format_name", FORMATS)
def test_an_integer_sum_beyond_int64_is_a_clear_422(overflow_pod, format_name):
    client, log = overflow_pod
    response = client.get("/get_data", params={"format": format_name})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": OVERFLOW_MESSAGE}
    assert "Traceback" not in log.read_text()


def test_a_sum_that_fits_is_an_int64_beside_one_that_would_not(overflow_pod):
    client, _ = overflow_pod
    answer = pa.ipc.open_stream(fetch(client, "arrow", g="b")).read_all()
    assert answer.schema.field("total").type == pa.int64()
    assert answer.to_pylist() == [{"g": "b", "total": 5}]
    assert json.loads(fetch(client, "json", g="b")) == [{"g": "b", "total": 5}]


DECIMAL_SCHEMA = Schema(
    NestedField(1, "g", StringType(), required=True), NestedField(2, "d", DecimalType(38, 0))
)
DECIMAL_SUMS = pod_json(
    "huge-decimal-sums",
    "shop.huge_decimal_sums",
    "SELECT g, sum(d) AS total FROM source WHERE $g IS NULL OR g = $g GROUP BY g ORDER BY g",
    columns=["g", "total"],
    read_columns=["g", "d"],
    parameters=[param("g", "string")],
)
DECIMAL_SUMS["operation"] = "REDUCTION"


def test_a_decimal_sum_beyond_38_digits_is_a_clear_422(tmp_path, catalog, pod_env):
    table = catalog.create_table("shop.huge_decimal_sums", schema=DECIMAL_SCHEMA)
    nines = Decimal("9" * 38)
    rows = {"g": ["a", "a", "b"], "d": [nines, nines, Decimal(7)]}
    table.append(pa.Table.from_pydict(rows, schema=table.schema().as_arrow()))
    log = tmp_path / "pod.log"
    with serving(make_pod(tmp_path, DECIMAL_SUMS), pod_env, log) as client:
        response = client.get("/get_data", params={"format": "csv"})
        assert response.status_code == 422
        assert "out of the range of its type" in response.json()["error"]
        assert "9999" not in response.text
        assert json.loads(fetch(client, "json", g="b")) == [{"g": "b", "total": "7"}]
    assert "Traceback" not in log.read_text()
