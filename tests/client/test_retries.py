"""A busy or changing pod, for real: a 503 is retried after its Retry-After until the pod
recovers or the bounds run out; a page whose snapshot expired (410) restarts the answer once."""

from __future__ import annotations

import shutil

import httpx
import pyarrow as pa
import pytest
from lakehouse import catalog_env, open_catalog
from podkit import make_pod, pod_json, serving
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from datapic.client import Gone, Pod, Unavailable

pytestmark = pytest.mark.pod

EVENTS = pod_json(
    "client-events",
    "shop.events",
    "SELECT id, label FROM source ORDER BY id",
    columns=["id", "label"],
    read_columns=["id", "label"],
)
EVENTS["max_page_size"] = 100
EVENTS["freshness_seconds"] = 0  # every request sees the catalog's current table
SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True), NestedField(2, "label", StringType())
)


def rows(first: int, last: int) -> pa.Table:
    ids = list(range(first, last + 1))
    return pa.Table.from_pydict({"id": ids, "label": [f"e{i}" for i in ids]}, SCHEMA.as_arrow())


@pytest.fixture
def events(tmp_path):
    """A catalog of its own (the test changes it) with shop.events: 250 rows, 3 pages."""
    root = tmp_path / "lakehouse"
    (root / "warehouse").mkdir(parents=True)
    catalog = open_catalog(root)
    catalog.create_namespace("shop")
    catalog.create_table("shop.events", schema=SCHEMA).append(rows(1, 250))
    return root


def test_a_503_is_retried_after_its_retry_after_until_the_pod_recovers(tmp_path, events):
    # The pod's catalog file is not there yet: every request is a 503 with Retry-After.
    later = tmp_path / "later"
    env = catalog_env(events) | {"PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{later}/catalog.db"}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:  # the catalog comes back while the client waits
            later.mkdir()
            shutil.copy(events / "catalog.db", later / "catalog.db")

    with serving(make_pod(tmp_path, EVENTS), env, tmp_path / "pod.log") as client:
        url = str(client.base_url).rstrip("/")
        retry_after = float(client.get("/get_data").headers["retry-after"])
        table = Pod(url, sleep=sleep).get_data()
    assert slept == [retry_after, retry_after]
    assert table.to_pylist() == rows(1, 250).to_pylist()


def test_a_503_that_lasts_raises_unavailable_within_the_bounds(tmp_path, events):
    env = catalog_env(events) | {"PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{tmp_path}/no.db"}
    with serving(make_pod(tmp_path, EVENTS), env, tmp_path / "pod.log") as client:
        url = str(client.base_url).rstrip("/")
        answer = client.get("/get_data")
        retry_after = float(answer.headers["retry-after"])
        by_attempts, by_time = [], []
        with pytest.raises(Unavailable) as caught:
            Pod(url, retries=3, sleep=by_attempts.append).get_data()
        with pytest.raises(Unavailable):
            Pod(url, max_retry_wait=2.5 * retry_after, sleep=by_time.append).get_data()
    assert by_attempts == [retry_after] * 3
    assert by_time == [retry_after] * 2
    assert caught.value.status == 503
    assert caught.value.message == f"{answer.json()['error']} (still, after 4 attempts)"


def test_an_expired_page_restarts_the_answer_once(tmp_path, events):
    """The table changes between page 1 and page 2; with a token TTL of 0 the pod answers 410
    for page 2 and get_data starts again, reading the new snapshot whole."""
    table = open_catalog(events).load_table("shop.events")
    env = catalog_env(events) | {"DATAPIC_PAGE_TOKEN_TTL_SECONDS": "0"}
    pages: list[int] = []

    def commit_after_the_first_page(response) -> None:
        pages.append(response.status_code)
        if len(pages) == 1:
            table.append(rows(251, 260))

    with serving(make_pod(tmp_path, EVENTS), env, tmp_path / "pod.log") as client:
        url = str(client.base_url).rstrip("/")
        http = httpx.Client(timeout=60, event_hooks={"response": [commit_after_the_first_page]})
        answer = Pod(url, http=http).get_data()
        assert pages == [200, 410, 200, 200, 200]
        assert answer.to_pylist() == rows(1, 260).to_pylist()

        pages.clear()
        table.append(rows(261, 270))  # the hook commits again after the next first page
        batches = Pod(url, http=http).iter_batches()
        assert next(batches).num_rows == 100
        with pytest.raises(Gone, match="page expired; start again without page_token"):
            next(batches)
        pages.clear()
        with pytest.raises(Gone):
            Pod(url, http=http, restart_when_gone=False).get_data()
