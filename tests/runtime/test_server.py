"""datapic_runtime.server: the HTTP contract, in process (the pod tests run it under uvicorn)."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datapic_runtime.errors import ConfigError
from datapic_runtime.paging import PageTokens, Position, token_key
from datapic_runtime.server import create_app
from pyiceberg.catalog import load_catalog
from runtimekit import OPENAPI, POD, TestClient, make_client

SECRET = "s3cr3t-t0ken-value"


@pytest.fixture
def client(tmp_path, catalog_props) -> TestClient:
    return make_client(tmp_path, catalog_props)


def test_get_data_answers_json_rows_cacheable_for_the_freshness(tmp_path, catalog_props):
    # A stopped clock: max-age counts down from the load, which a slow machine could round off.
    client = make_client(tmp_path, catalog_props, clock=lambda: 1000.0)
    response = client.get("/get_data", params={"label": "EMEA"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "max-age=30"
    assert (
        response.content
        == b'[{"id":1,"label":"EMEA","price":"10.00"},{"id":9,"label":"EMEA","price":"7.77"}]'
    )
    assert [row["id"] for row in client.get("/get_data", params={"min_id": "8"}).json()] == [8, 9]


def test_caches_may_keep_an_answer_only_for_what_is_left_of_the_freshness(tmp_path, catalog_props):
    clock = [1000.0]
    client = make_client(tmp_path, catalog_props, clock=lambda: clock[0])
    assert client.get("/get_data").headers["cache-control"] == "max-age=30"
    clock[0] += 12  # the table state read 12 s ago: its answers may be 18 s from stale
    assert client.get("/get_data").headers["cache-control"] == "max-age=18"
    clock[0] += 17.9
    assert client.get("/get_data").headers["cache-control"] == "max-age=0"
    clock[0] += 0.1  # stale: reloaded, so fresh again
    assert client.get("/get_data").headers["cache-control"] == "max-age=30"


@pytest.mark.parametrize(
    ("freshness", "max_age"),
    [(1e308, 2**31), (float("inf"), 2**31), (2.0**31 + 0.4, 2**31), (float("nan"), 0), (-5, 0)],
)
def test_max_age_stays_within_what_caches_can_hold(tmp_path, catalog_props, freshness, max_age):
    client = make_client(tmp_path, catalog_props, freshness_seconds=freshness)
    response = client.get("/get_data")
    assert response.status_code == 200
    assert response.headers["cache-control"] == f"max-age={max_age}"


def test_healthz_and_the_compiled_openapi_served_verbatim(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").content == OPENAPI


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/nope", 404, "no such route '/nope'; this pod serves GET /get_data, GET /healthz"),
        ("GET", "/docs", 404, "no such route '/docs'"),  # FastAPI's own docs are off
        ("GET", "/redoc", 404, "no such route"),
        ("POST", "/get_data", 405, "method POST is not allowed"),
        ("DELETE", "/healthz", 405, "method DELETE is not allowed"),
        (
            "GET",
            "/get_data?min_id=x",
            400,
            "parameter 'min_id' must be a whole number such as 42, got 'x'",
        ),
        (
            "GET",
            "/get_data?lable=EMEA",
            400,
            "unknown parameter 'lable' (this pod's parameters: label, min_id)",
        ),
        ("GET", "/get_data?label=a&label=b", 400, "parameter 'label' is given more than once"),
    ],
)
def test_every_error_is_a_json_object(client, method, path, status, message):
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]
    assert set(response.json()) == {"error"}
    if status == 405:
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}  # a set: any order


@pytest.mark.parametrize("path", ["/get_data/", "/healthz/", "/get_data/?label=EMEA"])
def test_a_trailing_slash_is_no_redirect_to_the_host_a_client_names(client, path):
    response = client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "evil.example" not in response.text
    assert "this pod serves GET /get_data" in response.json()["error"]


@pytest.mark.parametrize(
    "path", ["/healthz", "/metrics", "/openapi.json", "/get_data?limit=2", "/get_data?format=csv"]
)
def test_head_sends_the_headers_get_would_without_the_body(client, path):
    got, head = client.get(path), client.head(path)
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    ignored = {"x-next-page-token", "link"}  # tokens hold no clock, but say it anyway
    if path == "/metrics":
        ignored.add("content-length")  # the metrics count the GET in between
    assert {k: v for k, v in head.headers.items() if k not in ignored} == {
        k: v for k, v in got.headers.items() if k not in ignored
    }
    assert ("link" in head.headers) == ("link" in got.headers)


def test_head_of_a_streamed_answer_sends_no_body_and_frees_its_query_slot(
    tmp_path, catalog_props, monkeypatch
):
    from datapic_runtime import streaming

    monkeypatch.setattr(streaming, "WHOLE_BODY_BYTES", 0)  # every answer is streamed
    monkeypatch.setenv("DATAPIC_MAX_CONCURRENT_QUERIES", "1")
    monkeypatch.setenv("DATAPIC_QUERY_QUEUE_SECONDS", "2")
    client = make_client(tmp_path, catalog_props)
    for _ in range(3):  # one query slot: each HEAD must give it back
        head = client.head("/get_data", params={"limit": "3"})
        assert head.status_code == 200 and head.content == b""
        assert "content-length" not in head.headers
        assert "x-next-page-token" in head.headers
    assert len(client.get("/get_data").json()) == len(ALL_ROWS)


def test_head_of_a_bad_request_is_its_status_without_a_body(client):
    head = client.head("/get_data", params={"min_id": "x"})
    assert head.status_code == 400 and head.content == b""
    assert client.head("/nope").status_code == 404


def test_a_missing_table_is_a_404_naming_it(tmp_path, catalog_props):
    client = make_client(
        tmp_path, catalog_props, source={"catalog": "default", "namespace": ["t"], "table": "gone"}
    )
    response = client.get("/get_data")
    assert response.status_code == 404
    assert response.json() == {"error": "table t.gone does not exist in catalog 'default'"}
    assert client.get("/healthz").status_code == 200


def test_a_request_value_duckdb_cannot_convert_is_a_400(tmp_path, catalog_props):
    sql = "SELECT id, label, price FROM source WHERE id = CAST($label AS BIGINT) AND id >= $min_id"
    client = make_client(tmp_path, catalog_props, sql=[sql], pushdown=[])
    response = client.get("/get_data", params={"label": "seven"})
    assert response.status_code == 400
    assert response.json()["error"].startswith(
        "parameter 'label' does not fit the query: Conversion Error"
    )
    assert client.get("/get_data", params={"label": "7"}).json() == [
        {"id": 7, "label": "LATAM", "price": "0.01"}
    ]


def test_an_internal_error_says_nothing_and_is_logged_without_secrets(
    tmp_path, catalog_props, monkeypatch, caplog
):
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__TOKEN", SECRET)
    # A broken query holding the secret, which DuckDB quotes in its message.
    sql = (
        f"SELECT id, CAST('{SECRET}' AS INTEGER) AS label, price FROM source "
        "WHERE $label IS NULL AND $min_id = 0"
    )
    client = make_client(tmp_path, catalog_props, sql=[sql])
    with caplog.at_level(logging.INFO, logger="datapic"):
        response = client.get("/get_data")
    assert (response.status_code, response.json()) == (500, {"error": "internal error"})
    logged = caplog.text
    assert "Traceback" in logged and "Conversion Error" in logged  # the operator can debug it
    assert SECRET not in logged and "***" in logged
    assert client.get("/healthz").status_code == 200


def test_a_query_giving_other_columns_than_declared_is_an_internal_error(tmp_path, catalog_props):
    client = make_client(tmp_path, catalog_props, columns=["id", "label"])
    assert client.get("/get_data").status_code == 500


def test_a_broken_pod_directory_fails_at_start_up(tmp_path, catalog_props):
    (tmp_path / "pod.json").write_text(json.dumps({**POD, "format_version": 9}))
    (tmp_path / "openapi.json").write_bytes(OPENAPI)
    with pytest.raises(ConfigError, match="format_version 9"):
        create_app(tmp_path)
    (tmp_path / "pod.json").write_text(json.dumps(POD))
    (tmp_path / "openapi.json").write_text("{")
    with pytest.raises(ConfigError, match="openapi.json: cannot read"):
        create_app(tmp_path)


# --- formats, pages ----------------------------------------------------------------------------

ALL_ROWS = [1, 2, 3, 4, 5, 6, 7, 8, 9]  # t.nasty's ids, which POD's query orders


def follow_pages(client, params: dict, headers: dict | None = None) -> list[list[dict]]:
    """Every page of an answer, from the first through the X-Next-Page-Token chain."""
    pages, params = [], dict(params)
    while True:
        response = client.get("/get_data", params=params, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        token = response.headers.get("x-next-page-token")
        if token is None:
            assert "link" not in response.headers
            return pages
        params["page_token"] = token
        assert len(pages) < 20, "the token chain does not end"


def test_pages_of_limit_rows_chain_to_the_whole_answer(client):
    whole = client.get("/get_data").json()
    assert [row["id"] for row in whole] == ALL_ROWS
    pages = follow_pages(client, {"limit": "2"})
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    assert [row for page in pages for row in page] == whole
    assert [len(page) for page in follow_pages(client, {"limit": "3"})] == [3, 3, 3]


def test_the_next_page_headers_point_at_the_same_request(client):
    response = client.get("/get_data", params={"min_id": "3", "limit": "4"})
    token = response.headers["x-next-page-token"]
    assert (
        response.headers["link"] == f'</get_data?min_id=3&limit=4&page_token={token}>; rel="next"'
    )
    assert response.headers["vary"] == "Accept, Accept-Encoding"
    following = client.get(response.headers["link"].split(">")[0][1:])
    assert [row["id"] for row in following.json()] == [7, 8, 9]


def test_a_long_query_gets_a_token_but_no_link_repeating_it(client):
    params = {"limit": "1" + " " * 60_000}  # a 60 KB query string (httpx sends no longer)
    response = client.get("/get_data", params=params)
    assert response.status_code == 200
    assert "link" not in response.headers
    assert all(len(name) + len(value) < 1024 for name, value in response.headers.items())
    following = client.get(
        "/get_data", params={**params, "page_token": response.headers["x-next-page-token"]}
    )
    assert following.status_code == 200


def test_a_token_only_continues_the_parameters_it_was_issued_for(client):
    token = client.get("/get_data", params={"min_id": "1", "limit": "2"}).headers[
        "x-next-page-token"
    ]
    # The same typed values, written differently, continue the answer.
    same = client.get("/get_data", params={"min_id": "01", "limit": "2", "page_token": token})
    assert [row["id"] for row in same.json()] == [3, 4]
    other = client.get("/get_data", params={"min_id": "2", "page_token": token})
    assert other.status_code == 400
    assert "page_token belongs to other parameter values" in other.json()["error"]
    forged = client.get("/get_data", params={"min_id": "1", "page_token": token[:-2] + "AA"})
    assert forged.status_code == 400
    assert "not issued by this pod's query" in forged.json()["error"]


def test_a_token_anyone_can_mint_pins_no_snapshot_replaced_longer_than_the_ttl_ago(
    tmp_path, catalog_props, monkeypatch
):
    monkeypatch.setenv("DATAPIC_PAGE_TOKEN_TTL_SECONDS", "0")  # every replaced snapshot expired
    client = make_client(tmp_path, catalog_props)
    # Without DATAPIC_PAGE_TOKEN_SECRET the key comes from pod.json, which is public.
    tokens = PageTokens(token_key((tmp_path / "pod.json").read_bytes()))
    table = load_catalog("default", **catalog_props).load_table("t.nasty")
    older = [s.snapshot_id for s in table.snapshots() if s != table.current_snapshot()]
    assert older, "t.nasty must have a replaced snapshot"
    values = {"label": None, "min_id": 0}
    old = tokens.issue(Position(older[0], 0), values)
    response = client.get("/get_data", params={"page_token": old})
    assert response.status_code == 410
    assert response.json() == {"error": "page expired; start again without page_token"}
    current = tokens.issue(Position(table.current_snapshot().snapshot_id, 2), values)
    response = client.get("/get_data", params={"page_token": current})
    assert response.status_code == 200 and [row["id"] for row in response.json()] == ALL_ROWS[2:]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be a whole number from 1 to 10000, got '0'"),
        ("limit=10001", "limit must be a whole number from 1 to 10000"),
        ("limit=" + "9" * 5000, "limit must be a whole number from 1 to 10000, got '9999"),
        ("limit=2&limit=3", "argument 'limit' is given more than once"),
        ("format=csv&format=json", "argument 'format' is given more than once"),
        ("format=xml", "format must be one of json, ndjson, csv, arrow, parquet, got 'xml'"),
        ("page_token=nope", "page_token is malformed"),
    ],
)
def test_bad_pod_arguments_are_400s(client, query, message):
    response = client.get(f"/get_data?{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_streamed_page_carries_a_token_only_when_rows_follow(client, monkeypatch):
    from datapic_runtime import streaming

    monkeypatch.setattr(streaming, "WHOLE_BODY_BYTES", 0)  # every page is streamed
    pages = follow_pages(client, {"limit": "3"})
    assert [len(page) for page in pages] == [3, 3, 3]
    assert [row["id"] for page in pages for row in page] == ALL_ROWS
    assert len(follow_pages(client, {"limit": "9"})) == 1


@pytest.mark.parametrize("result_cache", [False, True])
def test_a_last_page_goes_whole_only_under_the_threshold(
    tmp_path, catalog_props, monkeypatch, result_cache
):
    # The engine hands over the answer's Arrow size, which decides without measuring each
    # batch again: a page of a single byte more is streamed, its rows the same.
    from datapic_runtime import streaming

    client = make_client(tmp_path, catalog_props, result_cache=result_cache)
    for _ in range(2):  # the second from the result cache, if on
        whole = client.get("/get_data")
        assert whole.headers["content-length"] == str(len(whole.content))
    monkeypatch.setattr(streaming, "WHOLE_BODY_BYTES", 1)
    for _ in range(2):
        streamed = client.get("/get_data")
        assert "content-length" not in streamed.headers
        assert streamed.content == whole.content
        assert [row["id"] for row in streamed.json()] == ALL_ROWS
    empty = client.get("/get_data", params={"label": "nowhere"})  # no Arrow bytes at all
    assert empty.headers["content-length"] == "2" and empty.content == b"[]"


EMPTY_BODIES = {"json": b"[]", "ndjson": b"", "csv": b"id,label,price\r\n"}


@pytest.mark.parametrize("format", ["json", "ndjson", "csv", "arrow", "parquet"])
@pytest.mark.parametrize("streamed", [False, True])
def test_an_empty_answer_is_an_empty_body_in_every_format(client, monkeypatch, format, streamed):
    from datapic_runtime import streaming

    if streamed:
        monkeypatch.setattr(streaming, "WHOLE_BODY_BYTES", 0)
    response = client.get("/get_data", params={"label": "nowhere", "format": format})
    assert response.status_code == 200, response.text
    assert "x-next-page-token" not in response.headers
    if format in EMPTY_BODIES:
        assert response.content == EMPTY_BODIES[format]
    else:
        reader = pa.ipc.open_stream if format == "arrow" else pq.read_table
        table = reader(pa.BufferReader(response.content))
        table = table.read_all() if format == "arrow" else table
        assert table.num_rows == 0 and table.column_names == ["id", "label", "price"]


@pytest.mark.parametrize(
    ("params", "accept", "media_type"),
    [
        ({}, None, "application/json"),
        ({}, "text/csv", "text/csv; charset=utf-8; header=present"),
        ({"format": "ndjson"}, "text/csv", "application/x-ndjson"),  # the argument wins
        ({"format": "arrow"}, None, "application/vnd.apache.arrow.stream"),
        ({}, "application/vnd.apache.parquet", "application/vnd.apache.parquet"),
    ],
)
def test_the_format_comes_from_the_argument_else_from_accept(client, params, accept, media_type):
    headers = {"accept": accept} if accept else {}
    response = client.get("/get_data", params={**params, "limit": "2"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert "x-next-page-token" in response.headers  # every format pages the same way


def test_an_accept_header_naming_no_served_format_is_a_406(client):
    response = client.get("/get_data", headers={"accept": "text/html"})
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/json"
    assert "application/vnd.apache.parquet" in response.json()["error"]
    assert client.get("/get_data?format=csv", headers={"accept": "text/html"}).status_code == 200


def test_an_answer_a_format_cannot_hold_is_a_406_before_any_byte(tmp_path, catalog_props):
    sql = (
        "SELECT id, INTERVAL 1 DAY AS label, price FROM source WHERE $label IS NULL AND $min_id = 0"
    )
    client = make_client(tmp_path, catalog_props, sql=[sql])
    response = client.get("/get_data", params={"format": "parquet"})
    assert response.status_code == 406
    assert response.json()["error"].startswith("this answer cannot be written as parquet")
    assert client.get("/get_data", params={"format": "arrow"}).status_code == 200


@pytest.mark.parametrize("name", ["format", "limit", "page_token"])
def test_a_parameter_named_like_a_pod_argument_fails_at_start_up(tmp_path, name):
    parameter = {"default": None, "description": "", "name": name, "required": False}
    (tmp_path / "pod.json").write_text(
        json.dumps({**POD, "parameters": [*POD["parameters"], {**parameter, "type": "string"}]})
    )
    (tmp_path / "openapi.json").write_bytes(OPENAPI)
    with pytest.raises(ConfigError, match=f"parameter '{name}' has the name of a pod argument"):
        create_app(tmp_path)


# --- list parameters ----------------------------------------------------------------------------

LIST_POD = {
    "parameters": [
        {
            "default": None,
            "description": "",
            "name": "labels",
            "required": False,
            "type": "string[]",
        },
        {
            "default": [],
            "description": "",
            "name": "not_ids",
            "required": False,
            "type": "integer[]",
        },
    ],
    "pushdown": [
        {"column": "id", "op": "not_in", "values": [{"parameter": "not_ids"}]},
    ],
    "sql": [
        "SELECT id, label, price FROM source",
        "WHERE ($labels IS NULL OR ARRAY_CONTAINS($labels, label))",
        "AND NOT ARRAY_CONTAINS($not_ids, id) ORDER BY id",
    ],
}


@pytest.fixture
def lists(tmp_path, catalog_props) -> TestClient:
    return make_client(tmp_path, catalog_props, **LIST_POD, result_cache=True)


def expected_ids(nasty, labels=None, not_ids=()) -> list[int]:
    """The reference: pyiceberg's full read of the table, filtered here."""
    rows = nasty.scan().to_arrow().to_pylist()
    return sorted(
        r["id"] for r in rows if (labels is None or r["label"] in labels) and r["id"] not in not_ids
    )


@pytest.mark.parametrize(
    ("query", "labels", "not_ids"),
    [
        ("", None, ()),
        ("labels=EMEA,APAC", {"EMEA", "APAC"}, ()),
        ("labels=EMEA&labels=APAC", {"EMEA", "APAC"}, ()),
        ("labels=o'hara,APAC&labels=%C3%89mea", {"o'hara", "APAC", "Émea"}, ()),
        # %2C is a comma inside the value: one label "o'hara,APAC", which no row has.
        ("labels=o'hara%2CAPAC", {"o'hara,APAC"}, ()),
        ("labels=", {""}, ()),
        ("not_ids=1,2&not_ids=9", None, (1, 2, 9)),
        ("labels=EMEA&not_ids=1", {"EMEA"}, (1,)),
    ],
)
def test_a_list_parameter_from_either_form_answers_like_the_reference(
    lists, nasty, query, labels, not_ids
):
    response = lists.get(f"/get_data?{query}")
    assert response.status_code == 200, response.text
    assert [row["id"] for row in response.json()] == expected_ids(nasty, labels, not_ids)
    again = lists.get(f"/get_data?{query}")  # from the result cache, keyed by the tuple
    assert again.json() == response.json()


def test_pages_of_a_list_parameter_answer_chain_through_the_link(lists, nasty):
    response = lists.get("/get_data?labels=EMEA,emea&labels=o'hara%2Cx&labels=APAC&limit=1")
    ids = [row["id"] for row in response.json()]
    while "link" in response.headers:
        response = lists.get(response.headers["link"].split(">")[0][1:])
        assert response.status_code == 200, response.text
        ids += [row["id"] for row in response.json()]
    assert ids == expected_ids(nasty, {"EMEA", "emea", "o'hara,x", "APAC"})
    assert len(ids) > 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("not_ids=1,x", "parameter 'not_ids' takes whole numbers such as 42, got 'x'"),
        ("not_ids=1,,2", "parameter 'not_ids' takes whole numbers such as 42, got ''"),
        (
            "not_ids=" + ",".join(["1"] * 1001),
            "parameter 'not_ids' takes at most 1000 values, got more",
        ),
        ("labels=a&nope=1", "unknown parameter 'nope' (this pod's parameters: labels, not_ids)"),
    ],
)
def test_bad_list_values_are_400s(lists, query, message):
    response = lists.get(f"/get_data?{query}")
    assert (response.status_code, response.json()) == (400, {"error": message})


def test_a_scalar_parameter_still_comes_once_and_keeps_its_commas(client):
    response = client.get("/get_data?label=EMEA,APAC")
    assert (response.status_code, response.json()) == (200, [])  # one label "EMEA,APAC"
    response = client.get("/get_data?min_id=1&min_id=2")
    assert (response.status_code, response.json()) == (
        400,
        {"error": "parameter 'min_id' is given more than once"},
    )
