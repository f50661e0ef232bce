"""Pages over HTTP: following the Link / X-Next-Page-Token chain gives the reference answer
exactly once, in every format; the pages of one answer read one snapshot while the table
changes under them."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pytest
from podkit import assert_rows_equal, make_pod, param, pod_json, serving
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

pytestmark = pytest.mark.pod

ORDERS = pod_json(
    "paged-orders",
    "sales.orders",
    "SELECT order_id, country, sales FROM source WHERE sales >= $min_sales ORDER BY order_id",
    columns=["order_id", "country", "sales"],
    read_columns=["order_id", "country", "sales"],
    parameters=[param("min_sales", "number", 0)],
)
ORDERS["max_page_size"] = 3000


@pytest.fixture(scope="module")
def orders_pod(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("paged-orders")
    with serving(make_pod(work, ORDERS), pod_env, work / "pod.log") as client:
        yield client


def pages(client, url: str) -> list:
    """Every response of an answer, following each Link rel="next" until there is none."""
    responses = []
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        responses.append(response)
        link = response.headers.get("link")
        if link is None:
            assert "x-next-page-token" not in response.headers
            url = None
        else:
            assert link.endswith('>; rel="next"')
            assert response.headers["x-next-page-token"] in link
            url = link[1 : link.index(">")]
        assert len(responses) < 100, "the page chain does not end"
    return responses


def test_the_page_chain_gives_the_whole_answer_once(orders_pod, reference):
    expected = reference(ORDERS, {"min_sales": 100.0})
    assert len(expected) > 2 * ORDERS["max_page_size"], "the answer must span several pages"
    responses = pages(orders_pod, "/get_data?min_sales=100")
    sizes = [len(r.json()) for r in responses]
    assert all(size == 3000 for size in sizes[:-1]) and 0 < sizes[-1] <= 3000
    assert_rows_equal([row for r in responses for row in r.json()], expected)


def test_a_smaller_limit_and_another_format_page_the_same_answer(orders_pod, reference):
    expected = reference(ORDERS, {"min_sales": 50.0})
    responses = pages(orders_pod, "/get_data?limit=2900&format=csv&min_sales=50")
    assert len(responses) == -(-len(expected) // 2900)
    ids = []
    for response in responses:
        rows = list(csv.reader(io.StringIO(response.text, newline="")))
        assert rows[0] == ORDERS["columns"]  # every page is a whole CSV document
        ids += [int(row[0]) for row in rows[1:]]
    assert ids == [row["order_id"] for row in expected]


def test_without_limit_an_answer_is_cut_at_the_max_page_size(orders_pod):
    response = orders_pod.get("/get_data")
    assert len(response.json()) == 3000
    too_many = orders_pod.get("/get_data", params={"limit": "3001"})
    assert too_many.status_code == 400
    assert too_many.json() == {"error": "limit must be a whole number from 1 to 3000, got '3001'"}


# --- one snapshot for all pages -----------------------------------------------------------------

PAGED_SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True), NestedField(2, "note", StringType())
)
PAGED = pod_json(
    "paged",
    "shop.paged",
    "SELECT id, note FROM source ORDER BY id",
    columns=["id", "note"],
    read_columns=["id", "note"],
)
PAGED["max_page_size"] = 10
PAGED["freshness_seconds"] = 0  # a new first page must see the commit at once


def rows(ids: range, note: str) -> pa.Table:
    return pa.Table.from_pydict(
        {"id": list(ids), "note": [f"{note}{i}" for i in ids]}, schema=PAGED_SCHEMA.as_arrow()
    )


def test_pages_keep_reading_the_first_pages_snapshot_while_the_table_changes(
    tmp_path, catalog, pod_env
):
    table = catalog.create_table("shop.paged", schema=PAGED_SCHEMA)
    table.append(rows(range(1, 31), "a"))
    table.append(rows(range(31, 51), "b"))
    with serving(make_pod(tmp_path, PAGED), pod_env, tmp_path / "pod.log") as client:
        first = client.get("/get_data")
        assert [row["id"] for row in first.json()] == list(range(1, 11))
        # Commits after the first page: rows deleted, rows added.
        table = catalog.load_table("shop.paged")
        table.delete("id <= 15")
        table.append(rows(range(51, 61), "c"))
        rest = pages(client, first.headers["link"][1 : first.headers["link"].index(">")])
        ids = [row["id"] for r in [first, *rest] for row in r.json()]
        assert ids == list(range(1, 51))  # the first page's snapshot, whole and once
        fresh = pages(client, "/get_data")
        assert [row["id"] for r in fresh for row in r.json()] == list(range(16, 61))


def max_age(response) -> int:
    directive = response.headers["cache-control"]
    assert directive.startswith("max-age=")
    return int(directive.removeprefix("max-age="))


@pytest.mark.parametrize("url", ["/get_data?limit=5", "/get_data?format=ndjson", "/healthz"])
def test_head_under_uvicorn_is_get_without_the_body(orders_pod, url):
    got, head = orders_pod.get(url), orders_pod.head(url)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "vary"):
        assert head.headers.get(name) == got.headers.get(name)
    # max-age counts down what is left of the freshness (and starts again when the table is
    # reloaded between the two requests), so the two may differ, each within the freshness.
    assert ("cache-control" in head.headers) == ("cache-control" in got.headers)
    if "cache-control" in got.headers:
        assert 0 <= max_age(head) <= ORDERS["freshness_seconds"]
        assert 0 <= max_age(got) <= ORDERS["freshness_seconds"]
    assert ("link" in head.headers) == ("link" in got.headers)
    assert orders_pod.get(url).status_code == 200  # the connection is still in step


# --- a page larger than any look-ahead ----------------------------------------------------------

WIDE = pod_json(
    "wide-pages",
    "shop.wide",
    "SELECT id, note FROM source ORDER BY id",
    columns=["id", "note"],
    read_columns=["id", "note"],
)
WIDE_ROWS, WIDE_NOTE_BYTES = 20, 2**20  # a 20 MiB answer: past the 16 MiB the pod once looked at


@pytest.mark.parametrize("format", ["ndjson", "csv"])
def test_a_page_of_many_mebibytes_carries_a_token_only_when_rows_follow(
    tmp_path, catalog, pod_env, format
):
    if not catalog.table_exists("shop.wide"):
        table = catalog.create_table("shop.wide", schema=PAGED_SCHEMA)
        notes = [chr(ord("a") + i) * WIDE_NOTE_BYTES for i in range(WIDE_ROWS)]
        data = {"id": list(range(1, WIDE_ROWS + 1)), "note": notes}
        table.append(pa.Table.from_pydict(data, schema=PAGED_SCHEMA.as_arrow()))
    with serving(make_pod(tmp_path, WIDE), pod_env, tmp_path / "pod.log") as client:
        (whole,) = pages(client, f"/get_data?format={format}")
        assert len(whole.content) > WIDE_ROWS * WIDE_NOTE_BYTES
        first, last = pages(client, f"/get_data?format={format}&limit={WIDE_ROWS - 1}")
        assert len(first.content) > (WIDE_ROWS - 1) * WIDE_NOTE_BYTES
        assert WIDE_NOTE_BYTES < len(last.content) < 2 * WIDE_NOTE_BYTES
