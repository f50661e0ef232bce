"""datapic_runtime.formats: each encoder over real DuckDB answers, decoded by an independent
reader (csv module, pyarrow's IPC and Parquet readers), and content negotiation."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datapic_runtime import formats
from datapic_runtime.errors import PodError
from datapic_runtime.formats import choose_format, negotiate
from datapic_runtime.serialize import rows_json
from runtimekit import execute, whole

SOURCE = pa.table({"x": pa.array([1, 2, 3, 4, 5], pa.int32())})
# Small batches, so every encoder works across several of them.
SEVERAL = pa.table({"x": pa.array(range(10), pa.int32())}).to_batches(max_chunksize=3)


def answer(sql: str, source: pa.Table = SOURCE):
    result = execute(sql, source, {})
    return result.schema, whole(result).to_batches(max_chunksize=2)


def body(encoder, columns, sql, source=SOURCE) -> bytes:
    schema, batches = answer(sql, source)
    return b"".join(encoder(columns, schema, batches))


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("CAST(1234567890.12 AS DECIMAL(12, 2))", "1234567890.12"),
        ("CAST(0 AS DECIMAL(38, 10))", "0.0000000000"),  # Arrow alone writes 0E-10
        ("CAST(0.0000000001 AS DECIMAL(20, 10))", "0.0000000001"),  # and 1E-10
        (
            "CAST('-12345678901234567890.123456789' AS DECIMAL(38, 9))",
            "-12345678901234567890.123456789",
        ),
        ("CAST(123 AS DECIMAL(38, 0))", "123"),
        ("SUM(x)", "15"),  # int64, though DuckDB sums integers as 128-bit ones
        ("CAST(9007199254740993 AS BIGINT)", "9007199254740993"),
        ("CAST(0.1 AS DOUBLE)", "0.1"),
        ("CAST('nan' AS DOUBLE)", ""),  # as JSON's null
        ("CAST('-inf' AS DOUBLE)", ""),
        ("CAST('-0.0' AS DOUBLE)", "-0.0"),  # as JSON writes it
        ("CAST(0.1 AS FLOAT)", "0.1"),
        ("TRUE", "true"),
        ("DATE '2024-02-29'", "2024-02-29"),
        ("TIMESTAMP '2024-02-29 23:59:59.123456'", "2024-02-29T23:59:59.123456"),
        ("TIMESTAMPTZ '2024-02-29 23:59:59+02'", "2024-02-29T21:59:59+00:00"),  # UTC
        ("TIME '12:30:01'", "12:30:01"),
        ("'Zürich ✓ 日本'", "Zürich ✓ 日本"),
        ("'a,\"b\"' || chr(13) || chr(10) || 'c'", 'a,"b"\r\nc'),
        ("CAST('ab' AS BLOB)", "YWI="),
        ("INTERVAL 14 MONTH", "P14M"),
        ("[1, 2]", "[1,2]"),
        ("{'k': DATE '2024-01-01'}", '{"k":"2024-01-01"}'),
    ],
)
def test_csv_writes_each_duckdb_type_as_exact_text(expression, field):
    data = body(formats.encode_csv, ["v"], f"SELECT {expression} AS v FROM source LIMIT 1")
    assert csv_rows(data) == [["v"], [field] if field else []]  # a lone empty field: no field


def float32_values() -> pa.Array:
    """Float32 values that trip writers up: short decimals, extremes, subnormals, -0.0, NaN."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, 2000, dtype=np.uint32).view(np.float32)
    special = [0.1, 0.2, 1 / 3, -0.0, 0.0, 1e-45, 3.4028235e38, 16777217.0, 1e20, 1e-7]
    values = np.concatenate([np.array(special, np.float32), bits, np.float32([np.nan, np.inf])])
    return pa.array(values, pa.float32())


def significant_digits(text: str) -> int:
    return len(text.lower().split("e")[0].lstrip("-").replace(".", "").strip("0")) or 1


@pytest.mark.parametrize("name", ["json", "ndjson", "csv"])
def test_float32_round_trips_through_its_shortest_text_and_non_finite_is_null(name):
    values = float32_values()
    batch = pa.record_batch([values], names=["f"])
    data = b"".join(formats.FORMATS[name].encode(["f"], batch.schema, [batch]))
    if name == "csv":
        fields = [row[0] if row else "" for row in csv_rows(data)[1:]]
        read = [float(f) if f else None for f in fields]
    else:
        fields = [f.decode() for f in re.findall(rb'"f":([^,}]+)', data)]
        read = [json.loads(f) for f in fields]
    assert len(read) == len(values)
    for value, back, field in zip(values.to_pylist(), read, fields, strict=True):
        if not math.isfinite(value):
            assert back is None  # JSON's null, CSV's empty field
            continue
        assert np.float32(back).tobytes() == np.float32(value).tobytes()  # same float32, -0.0 too
        shortest = np.format_float_scientific(np.float32(value), unique=True)
        assert significant_digits(field) == significant_digits(shortest), (field, shortest)


def test_csv_is_rfc_4180_null_is_empty_and_empty_text_is_quoted():
    data = body(
        formats.encode_csv,
        ["n", "empty", "text", "plain"],
        "SELECT NULL AS n, '' AS e, 'say \"hi\", bye' AS t, x FROM source WHERE x <= 2",
    )
    assert data == b'n,empty,text,plain\r\n,"","say ""hi"", bye",1\r\n,"","say ""hi"", bye",2\r\n'


def test_csv_header_names_are_the_pods_and_quoted_when_needed():
    data = body(formats.encode_csv, ["a,b", "x"], "SELECT x AS first, x FROM source")
    assert data.split(b"\r\n")[0] == b'"a,b",x'
    assert [row[1] for row in csv_rows(data)[1:]] == ["1", "2", "3", "4", "5"]


def test_json_streamed_in_batches_is_the_whole_answers_json(monkeypatch):
    monkeypatch.setattr(formats, "JSON_SLICE_ROWS", 2)
    sql = "SELECT x, CAST(x AS DECIMAL(9, 2)) / 3 AS d, SUM(x) OVER () AS s FROM source ORDER BY x"
    schema, batches = answer(sql)
    chunks = list(formats.encode_json(["x", "d", "s"], schema, batches))
    assert len(chunks) > 3  # streamed, not built whole
    result = execute(sql, SOURCE, {})
    assert b"".join(chunks) == rows_json(["x", "d", "s"], whole(result))
    assert b"".join(formats.encode_json(["x", "d", "s"], schema, [])) == b"[]"


def test_ndjson_is_one_json_object_per_line():
    data = body(formats.encode_ndjson, ["x", "half"], "SELECT x, x / 2 AS h FROM source")
    lines = data.decode().split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    assert [json.loads(line) for line in lines[:-1]] == [
        {"x": i, "half": i / 2} for i in range(1, 6)
    ]


@pytest.mark.parametrize("encoder", [formats.encode_arrow, formats.encode_parquet])
def test_arrow_and_parquet_keep_the_types_under_the_pods_names(encoder):
    sql = (
        "SELECT x, CAST(x AS DECIMAL(38, 10)) / 3 AS d, SUM(x) OVER () AS s, "
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_days(x) AS tz, "
        "CASE WHEN x = 2 THEN NULL ELSE 'ü' || x END AS t FROM source ORDER BY x"
    )
    columns = ["id", "third", "total", "at", "label"]
    data = body(encoder, columns, sql)
    decoded = (
        pa.ipc.open_stream(data).read_all()
        if encoder is formats.encode_arrow
        else pq.read_table(io.BytesIO(data))
    )
    expected = whole(execute(sql, SOURCE, {})).rename_columns(columns)
    assert decoded.schema.remove_metadata() == expected.schema.remove_metadata()
    assert decoded.to_pylist() == expected.to_pylist()
    assert decoded.schema.field("total").type == pa.int64()  # DuckDB's HUGEINT, narrowed


@pytest.mark.parametrize("encoder", [formats.encode_arrow, formats.encode_parquet])
def test_arrow_and_parquet_of_no_rows_still_carry_the_schema(encoder):
    schema, _ = answer("SELECT x, 'a' AS t FROM source WHERE false")
    data = b"".join(encoder(["x", "t"], schema, []))
    decoded = (
        pa.ipc.open_stream(data).read_all()
        if encoder is formats.encode_arrow
        else pq.read_table(io.BytesIO(data))
    )
    assert decoded.num_rows == 0
    assert decoded.schema.names == ["x", "t"]


@pytest.mark.parametrize(
    "encoder",
    [
        formats.encode_json,
        formats.encode_ndjson,
        formats.encode_csv,
        formats.encode_arrow,
        formats.encode_parquet,
    ],
)
def test_every_encoder_yields_as_batches_arrive(encoder):
    """Each batch is encoded when it is pulled: the encoder never reads ahead of its output."""
    pulled = []

    def batches():
        for batch in SEVERAL:
            pulled.append(batch.num_rows)
            yield batch

    chunks = encoder(["x"], SEVERAL[0].schema, batches())
    next(chunks)
    if encoder is formats.encode_csv:
        next(chunks)  # the header comes first
    assert len(pulled) <= 2
    assert len(list(chunks)) >= len(SEVERAL) - 2


def test_a_column_count_mismatch_is_an_error_before_any_byte():
    schema, batches = answer("SELECT x, x AS y FROM source")
    for encoder in (formats.encode_json, formats.encode_csv, formats.encode_arrow):
        with pytest.raises(ValueError, match="the query gave 2 columns, pod.json 1"):
            next(encoder(["x"], schema, batches))


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/*", "json"),
        ("application/json", "json"),
        ("text/csv", "csv"),
        ("text/*", "csv"),
        ("TEXT/CSV; charset=utf-8", "csv"),
        ("application/x-ndjson", "ndjson"),
        ("application/ndjson", "ndjson"),
        ("application/vnd.apache.arrow.stream", "arrow"),
        ("application/vnd.apache.parquet", "parquet"),
        ("application/x-parquet", "parquet"),
        ("text/csv;q=0.5, application/vnd.apache.parquet", "parquet"),
        ("application/json;q=0, */*", "ndjson"),  # anything but JSON: the next in order
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "json"),  # browser
        ("text/csv;q=0.9, */*;q=1", "json"),
        ("*/*;q=0.1, text/csv", "csv"),
        ("text/html", None),
        ("image/png, application/xml", None),
        ("application/json;q=0", None),
        ("text/csv;q=oops", None),
    ],
)
def test_negotiation_follows_the_accept_header(accept, expected):
    chosen = negotiate(accept)
    assert (chosen.name if chosen else None) == expected


def test_the_format_argument_wins_over_accept_and_bad_values_are_client_errors():
    assert choose_format("csv", "application/json").name == "csv"
    assert choose_format("Parquet", "text/html").name == "parquet"
    with pytest.raises(PodError) as bad:
        choose_format("xml", None)
    assert bad.value.status == 400
    assert bad.value.message == "format must be one of json, ndjson, csv, arrow, parquet, got 'xml'"
    with pytest.raises(PodError) as refused:
        choose_format(None, "text/html")
    assert refused.value.status == 406
    assert "text/csv" in refused.value.message and "format argument" in refused.value.message
