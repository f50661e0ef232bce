"""`Pod` against a real pod: every page read into one Arrow table equal to the reference,
batches page by page, parameters as the pod reads them, the pod's errors as typed exceptions."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal

import duckdb
import httpx
import pyarrow as pa
import pytest
from clientkit import ORDERS, PAGE_ROWS, orders_values
from gcp_fake import serving as google_stand_in
from lakehouse import open_catalog
from podkit import make_pod, pod_json, serving

from compiler.artifacts.emit import emit
from compiler.pipeline import compile_spec
from datapic.client import BadRequest, NotFound, Pod, PodError
from datapic.client.pod import next_token

pytestmark = pytest.mark.pod


def counting_http() -> tuple[httpx.Client, list[httpx.Request]]:
    """An httpx client that records every request it sends."""
    sent: list[httpx.Request] = []
    return httpx.Client(timeout=60, event_hooks={"request": [sent.append]}), sent


def test_get_data_reads_every_page_into_the_reference_table(orders_url, reference):
    expected = reference(ORDERS, orders_values(min_sales=100.0))
    assert expected.num_rows > 3 * PAGE_ROWS, "the answer must span several pages"
    http, sent = counting_http()
    with Pod(orders_url, http=http) as pod:
        table = pod.get_data(min_sales=100)
    assert table.schema.names == ORDERS["columns"]
    assert table.schema.types == expected.schema.types  # Arrow keeps the exact types
    assert table.to_pylist() == expected.to_pylist()
    assert len(sent) == -(-expected.num_rows // PAGE_ROWS)
    assert all(r.url.params["format"] == "arrow" for r in sent)
    assert [r.url.params.get("page_token") is None for r in sent] == [True] + [False] * (
        len(sent) - 1
    )


def test_iter_batches_asks_for_the_next_page_only_when_it_is_needed(orders_url, reference):
    expected = reference(ORDERS, orders_values())
    http, sent = counting_http()
    pod = Pod(orders_url, http=http, page_size=700)
    batches = pod.iter_batches()
    first = next(batches)
    assert len(sent) == 1 and 0 < first.num_rows <= 700
    rest = list(batches)
    assert len(sent) == -(-expected.num_rows // 700)
    assert pa.Table.from_batches([first, *rest]).to_pylist() == expected.to_pylist()


def test_parameters_of_every_type_reach_the_pod_as_it_parses_them(orders_url, reference):
    expected = reference(ORDERS, orders_values(min_sales=250.5, country="DE"))
    assert 0 < expected.num_rows < PAGE_ROWS
    pod = Pod(orders_url)
    assert pod.get_data(min_sales=Decimal("250.50"), country="DE").equals(expected)
    assert pod.get_data({"min_sales": 250.5, "country": "DE"}).equals(expected)
    assert pod.get_data(min_sales=250.5, country="DE", unused=None).num_rows == expected.num_rows


def test_an_empty_answer_keeps_its_schema(orders_url, reference):
    expected = reference(ORDERS, orders_values(country="nowhere"))
    table = Pod(orders_url).get_data(country="nowhere")
    assert table.num_rows == 0 and table.schema == expected.schema


def test_a_list_goes_as_repeated_values(orders_url):
    """A list is one query pair per value; this pod's `country` is a scalar, so the pod itself
    refuses the repetition (a list parameter would take them)."""
    with pytest.raises(BadRequest) as caught:
        Pod(orders_url).get_data(country=["DE", "FR"])
    assert caught.value.message == "parameter 'country' is given more than once"
    assert caught.value.status == 400


def test_a_bad_parameter_raises_bad_request_with_the_pods_message(orders_url):
    answer = httpx.get(f"{orders_url}/get_data", params={"min_sales": "lots"})
    with pytest.raises(BadRequest) as caught:
        Pod(orders_url).get_data(min_sales="lots")
    assert answer.status_code == 400
    assert caught.value.message == answer.json()["error"]
    assert str(caught.value) == f"400 from {orders_url}: {answer.json()['error']}"


def test_an_unknown_parameter_names_the_pods_parameters(orders_url):
    with pytest.raises(BadRequest, match=r"unknown parameter 'region' \(this pod's parameters"):
        Pod(orders_url).get_data(region="EMEA")


def test_a_missing_table_raises_not_found(tmp_path, pod_env):
    missing = pod_json("no-table", "sales.gone", "SELECT id FROM source", ["id"], ["id"])
    with serving(make_pod(tmp_path, missing), pod_env, tmp_path / "pod.log") as client:
        url = str(client.base_url).rstrip("/")
        expected = client.get("/get_data").json()["error"]
        with pytest.raises(NotFound) as caught:
            Pod(url).get_data()
    assert caught.value.message == expected and caught.value.status == 404


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"limit": 5}, "'limit' is set by the client"),
        ({"page_token": "x"}, "'page_token' is set by the client"),
        ({"country": []}, "an empty list cannot be sent"),
    ],
)
def test_what_cannot_be_sent_is_refused_before_any_request(values, problem):
    http, sent = counting_http()
    with pytest.raises(ValueError, match=problem):
        Pod("http://127.0.0.1:9", http=http).get_data(**values)
    assert sent == []


def test_a_value_of_no_parameter_type_is_a_type_error():
    with pytest.raises(TypeError, match="parameter 'day': cannot send a dict"):
        Pod("http://127.0.0.1:9").get_data(day={"y": 2024})


def test_dates_and_times_are_sent_in_iso_form():
    http, sent = counting_http()
    with pytest.raises(PodError):
        Pod("http://127.0.0.1:9", http=http, retries=0).get_data(
            day=dt.date(2024, 2, 29), at=dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC), ok=False
        )
    assert sent[0].url.params.multi_items()[:3] == [
        ("day", "2024-02-29"),
        ("at", "2024-01-01T12:00:00+00:00"),
        ("ok", "false"),
    ]


def test_a_server_that_is_no_pod_is_an_error_not_garbage():
    with google_stand_in() as other:
        other.on("GET", "/get_data", (200, [{"not": "arrow"}]))
        with pytest.raises(PodError, match="expected an Arrow answer, got application/json"):
            Pod(other.url).get_data()


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_dataframe_helpers_without_their_library_say_how_to_get_it(library, monkeypatch):
    monkeypatch.setitem(sys.modules, library, None)  # as when it is not installed
    http, sent = counting_http()
    with pytest.raises(ImportError, match=rf"to_{library}\(\) needs {library}.*pip install"):
        getattr(Pod("http://127.0.0.1:9", http=http), f"to_{library}")()
    assert sent == []  # refused before the answer is fetched


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"x-next-page-token": "abc"}, "abc"),
        ({"link": '</get_data?min_sales=1&page_token=d%2Be>; rel="next"'}, "d+e"),
        ({"link": '</other>; rel="prev"'}, None),
        ({}, None),
    ],
)
def test_the_next_page_comes_from_the_token_header_else_the_link(headers, token):
    """A proxy may drop the X- header; a long query's Link is left out (paging.py)."""
    assert next_token(httpx.Response(200, headers=headers)) == token


LISTED = """\
resource_name: client-listed
depends_on: [{namespace: sales, table: orders}]
select: [order_id, country]
filters:
  - country IN :countries
parameters:
  - {name: countries, type: "string[]", default: [DE]}
order_by: [order_id]
"""


@pytest.fixture(scope="module")
def listed_url(tmp_path_factory, pod_env):
    """A pod compiled from a spec with a list parameter, over sales.orders."""
    work = tmp_path_factory.mktemp("client-listed")
    (work / "listed.yaml").write_text(LISTED)
    result = compile_spec(work / "listed.yaml")
    assert result.ok, [d.message for d in result.diagnostics]
    emit(result.files, work / "pod")
    with serving(work / "pod", pod_env, work / "pod.log") as client:
        yield str(client.base_url).rstrip("/")


def listed_reference(lakehouse, where: str) -> list[dict]:
    """The rows of a written-out IN list over pyiceberg's full read."""
    connection = duckdb.connect()
    source = open_catalog(lakehouse).load_table("sales.orders").scan().to_arrow()
    connection.register("source", source)
    sql = f"SELECT order_id, country FROM source WHERE {where} ORDER BY order_id"
    return [{"order_id": i, "country": c} for i, c in connection.execute(sql).fetchall()]


def test_a_list_parameter_takes_a_list_tuple_or_set(listed_url, lakehouse):
    expected = listed_reference(lakehouse, "country IN ('FR', 'IT')")
    assert expected
    pod = Pod(listed_url)
    assert pod.get_data(countries=["FR", "IT"]).to_pylist() == expected
    assert pod.get_data(countries=("IT", "FR")).to_pylist() == expected
    assert pod.get_data(countries={"FR", "IT"}).to_pylist() == expected
    default = listed_reference(lakehouse, "country IN ('DE')")
    assert pod.get_data().to_pylist() == default  # None or left out: the pod's default


def test_a_comma_inside_a_list_value_stays_in_the_value(listed_url):
    """The pod splits a literal comma (`?countries=FR,IT`); the client encodes one (%2C)."""
    assert Pod(listed_url).get_data(countries=["FR,IT"]).num_rows == 0
