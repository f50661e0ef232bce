"""Every answer format over HTTP, decoded by an independent reader and compared with the reference
(DuckDB over pyiceberg's own full read): exact decimals, dates, timestamps with zone, NULL and
empty text, unicode, integers beyond 2^53, DuckDB's 128-bit ones as int64. Then the body as a
stream: chunked, cut (not completed) when the answer breaks mid-way, and ended when the client
goes away."""

from __future__ import annotations

import csv
import io
import json
import math
import time

import duckdb
import httpx
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest
from podkit import assert_rows_equal, make_pod, param, pod_json, serving
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.pod

COLUMNS = ["id", "d", "f", "dec", "flag", "day", "ts", "tz", "label", "unicode", "nasty", "big"]
COLUMNS += ["huge"]
POD = pod_json(
    "formats",
    "shop.types",
    "SELECT id, d, f, dec, flag, day, ts, tz, label,\n"
    "  label || ' ✓ 日本 🚀' AS unicode,\n"
    "  CASE id WHEN 1 THEN 'a,\"b\"' || chr(13) || chr(10) || 'c' WHEN 2 THEN '' ELSE label END"
    " AS nasty,\n"
    "  id + 9007199254740990 AS big,\n"
    "  CAST('9223372036854775000' AS HUGEINT) - id AS huge\n"
    "FROM source WHERE id >= $min_id ORDER BY id",
    columns=COLUMNS,
    read_columns=["id", "d", "f", "dec", "flag", "day", "ts", "tz", "label"],
    parameters=[param("min_id", "integer", 0)],
)


@pytest.fixture(scope="module")
def pod(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("formats")
    with serving(make_pod(work, POD), pod_env, work / "pod.log") as client:
        yield client


@pytest.fixture(scope="module")
def expected(catalog) -> pa.Table:
    """The reference answer with DuckDB's Arrow types, under the pod's column names; a 128-bit
    integer (decimal128(38, 0) in Arrow) as the int64 the README's type table promises."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("source", catalog.load_table("shop.types").scan().to_arrow())
    relation = connection.sql("\n".join(POD["sql"]).replace("$min_id", "0"))
    table = relation.arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    for i, kind in enumerate(relation.types):
        if str(kind) == "HUGEINT":
            table = table.set_column(i, table.field(i).name, table.column(i).cast(pa.int64()))
    return table.rename_columns(COLUMNS)


def comparable(rows: list[dict]) -> list[dict]:
    """Rows with NaN made equal to itself."""
    return [
        {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in rows
    ]


def get(pod, format_name: str, **params) -> httpx.Response:
    response = pod.get("/get_data", params={"format": format_name, **params})
    assert response.status_code == 200, response.text
    return response


def test_json_matches_the_reference(pod, reference):
    expected = reference(POD, {"min_id": 0})
    assert_rows_equal(get(pod, "json").json(), expected)


def test_arrow_stream_keeps_every_type_exactly(pod, expected):
    response = get(pod, "arrow")
    assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
    decoded = pa.ipc.open_stream(response.content).read_all()
    assert decoded.schema.remove_metadata() == expected.schema.remove_metadata()
    assert decoded.schema.field("huge").type == pa.int64()
    assert comparable(decoded.to_pylist()) == comparable(expected.to_pylist())


def test_parquet_keeps_every_type_exactly(pod, expected):
    response = get(pod, "parquet")
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    decoded = pq.read_table(io.BytesIO(response.content))
    assert decoded.schema.remove_metadata() == expected.schema.remove_metadata()
    assert comparable(decoded.to_pylist()) == comparable(expected.to_pylist())


def test_csv_decodes_to_the_reference_with_its_types(pod, expected):
    response = get(pod, "csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    decoded = pa_csv.read_csv(
        io.BytesIO(response.content),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=expected.schema,
            null_values=[""],  # NULL is an empty field (and so are NaN and infinities) ...
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # ... and the empty string is ""
        ),
    )
    want = [
        {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
        for row in expected.to_pylist()
    ]
    assert decoded.to_pylist() == want


def test_csv_text_is_rfc_4180(pod, expected):
    body = get(pod, "csv").content
    assert body.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0] == COLUMNS
    by_id = {int(row[0]): dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]}
    assert sorted(by_id) == expected.column("id").to_pylist()
    assert by_id[1]["nasty"] == 'a,"b"\r\nc'
    assert by_id[5]["dec"] == "12345678901234567890.1234567890"
    assert by_id[2]["dec"] == "-99999999999999999999.9999999999"
    assert by_id[6]["unicode"] == "Zürich ✓ 日本 🚀"
    assert by_id[1]["tz"] == "2024-01-01T12:00:00+00:00"
    assert by_id[4]["ts"] == "2024-03-01T00:00:00.000001"
    assert (by_id[1]["big"], by_id[1]["huge"]) == (
        "9007199254740991",
        "9223372036854774999",
    )
    # Row 2's nasty text is empty, row 3's is NULL: only the raw bytes tell them apart.
    lines = body.split(b"\r\n")
    assert b',"",' in next(line for line in lines if line.startswith(b"2,"))
    assert next(line for line in lines if line.startswith(b"3,")).startswith(b"3" + b"," * 11)


def test_ndjson_lines_are_the_json_rows_and_decode_to_the_reference(pod, expected):
    response = get(pod, "ndjson")
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.content.decode("utf-8").split("\n")
    assert lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == get(pod, "json").json()
    # pyarrow's JSON reader takes dates as text only: read them so, then cast.
    as_read = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_date(f.type) else f for f in expected.schema]
    )
    decoded = pa_json.read_json(
        io.BytesIO(response.content), parse_options=pa_json.ParseOptions(explicit_schema=as_read)
    ).cast(expected.schema)
    # JSON has no NaN: the pod writes null, as in the JSON array.
    want = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in expected.to_pylist()
    ]
    assert decoded.to_pylist() == want


@pytest.mark.parametrize("format_name", ["json", "ndjson", "csv", "arrow", "parquet"])
@pytest.mark.parametrize("accept_encoding", ["identity", "gzip, br"])
def test_a_small_answer_is_sent_whole_with_its_length(pod, format_name, accept_encoding):
    headers = {"Accept-Encoding": accept_encoding}  # the length is of the bytes as sent
    params = {"format": format_name}
    with pod.stream("GET", "/get_data", params=params, headers=headers) as response:
        sent = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(sent)


# --- the body as a stream -----------------------------------------------------------------------

ORDER_COLUMNS = ["order_id", "n", "at"]
# 20,000 orders x 100: two million rows (about 70 MB of CSV), far more than socket buffers hold.
STREAM = pod_json(
    "stream",
    "sales.orders",
    "SELECT o.order_id, r.range AS n,\n"
    "  CASE WHEN $break_at IS NOT NULL AND o.order_id * 100 + r.range = $break_at\n"
    "    THEN {'at': TIMESTAMP '20000-01-01'} ELSE {'at': TIMESTAMP '2024-01-01'} END AS at\n"
    "FROM source o, range(100) r WHERE $orders IS NULL OR o.order_id <= $orders\n"
    "ORDER BY o.order_id, r.range",
    columns=ORDER_COLUMNS,
    read_columns=["order_id"],
    parameters=[param("break_at", "integer"), param("orders", "integer")],
)
STREAM["max_page_size"] = 5_000_000


@pytest.fixture(scope="module")
def stream_pod(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("stream")
    with serving(make_pod(work, STREAM), pod_env, work / "pod.log") as client:
        yield client, work / "pod.log"


@pytest.mark.parametrize("format_name", ["json", "ndjson", "csv", "arrow", "parquet"])
def test_a_large_answer_is_streamed_in_chunks(stream_pod, format_name):
    client, _ = stream_pod
    params = {"format": format_name, "limit": "60000", "orders": "700"}  # over 1 MiB of Arrow
    response = client.get("/get_data", params=params)
    assert response.status_code == 200
    assert response.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.headers
    assert "x-next-page-token" in response.headers


def metric(client, name: str, **labels) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def wait_until_idle(client) -> None:
    """The pod has ended every request (a wait for the server's own bookkeeping, not a timing)."""
    deadline = time.monotonic() + 60
    while metric(client, "datapic_requests_in_flight") != 0:
        assert time.monotonic() < deadline, "a request never ended"
        time.sleep(0.05)


def test_a_client_going_away_ends_the_answer(stream_pod):
    client, log = stream_pod
    # Identity: the pod's log counts the bytes it encoded, which compression would multiply.
    identity = {"Accept-Encoding": "identity"}
    with client.stream("GET", "/get_data", params={"format": "csv"}, headers=identity) as response:
        assert response.status_code == 200
        received = 0
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > 1_000_000:
                break  # leave with most of the answer unread
    wait_until_idle(client)
    assert metric(client, "datapic_streams_aborted_total", reason="disconnected") >= 1
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    ended = [line for line in lines if line["format"] == "csv"][-1]
    assert ended["outcome"] == "disconnected"
    assert received <= ended["bytes_sent"] < 30_000_000  # far from the whole answer


def test_an_answer_breaking_mid_way_cuts_the_connection(stream_pod):
    """Python's datetime, which writes nested values, cannot hold year 20000: past the first
    chunk, the client must see a cut body, never a complete-looking one."""
    client, log = stream_pod
    params = {"format": "json", "orders": "1500", "break_at": str(1 * 100 + 140_000)}
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("GET", "/get_data", params=params) as response,
    ):
        assert response.status_code == 200
        for _ in response.iter_raw():
            pass
    wait_until_idle(client)
    assert metric(client, "datapic_streams_aborted_total", reason="failed") == 1
    assert "Traceback" in log.read_text()  # the operator sees what broke
    # Before the first byte, the same failure is a clean JSON error.
    early = client.get("/get_data", params={"limit": "10", "break_at": str(1 * 100 + 5)})
    assert early.status_code == 500
    assert early.json() == {"error": "internal error"}
