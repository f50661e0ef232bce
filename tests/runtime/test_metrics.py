"""datapic_runtime.metrics through the real app: /metrics read by prometheus_client's own parser,
and the one JSON log line per /get_data request."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import threading

import anyio
import pytest
from datapic_runtime.answer import ScanStats
from datapic_runtime.metrics import RequestRecord, log_fields
from datapic_runtime.requestlog import PodLogFormat
from prometheus_client.parser import text_string_to_metric_families
from pyiceberg.catalog import load_catalog
from runtimekit import make_client

SECRET = "p4ss-w0rd-in-a-value"


@pytest.fixture
def client(tmp_path, catalog_props):
    return make_client(tmp_path, catalog_props)


def samples(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def request_lines(caplog) -> list[dict]:
    return [r.request for r in caplog.records if hasattr(r, "request")]


def test_metrics_count_requests_rows_and_bytes(client):
    ok = client.get("/get_data", params={"label": "EMEA"})
    csv = client.get("/get_data", params={"format": "csv", "limit": "3"})
    bad = client.get("/get_data", params={"min_id": "x"})
    assert (ok.status_code, csv.status_code, bad.status_code) == (200, 200, 400)
    got = samples(client)
    assert got[("datapic_requests_total", (("format", "json"), ("status", "200")))] == 1
    assert got[("datapic_requests_total", (("format", "csv"), ("status", "200")))] == 1
    assert got[("datapic_requests_total", (("format", "json"), ("status", "400")))] == 1
    assert got[("datapic_rows_sent_total", ())] == 2 + 3
    assert got[("datapic_bytes_sent_total", ())] == len(ok.content) + len(csv.content)
    assert got[("datapic_request_duration_seconds_count", ())] == 3
    assert got[("datapic_requests_in_flight", ())] == 0
    assert got[("datapic_pod_info", (("pod", "nasty-rows"),))] == 1
    for name in ("datapic_files_scanned_total", "datapic_files_pruned_total"):
        assert (name, ()) in got


def test_one_json_log_line_per_request_with_what_it_cost(client, nasty, caplog):
    with caplog.at_level(logging.INFO, logger="datapic"):
        body = client.get("/get_data", params={"label": "EMEA", "limit": "1"})
        client.get("/get_data", params={"min_id": "x"})
        client.get("/healthz")
    first, second = request_lines(caplog)  # /healthz logs nothing of its own
    assert first["pod"] == "nasty-rows" and first["route"] == "/get_data"
    assert (first["status"], first["outcome"], first["format"]) == (200, "complete", "json")
    assert first["parameters"] == {"label": "EMEA"}
    assert (first["rows"], first["bytes_sent"]) == (1, len(body.content))
    assert (first["limit"], first["offset"], first["next_page"]) == (1, 0, True)
    assert first["snapshot_id"] == nasty.current_snapshot().snapshot_id
    assert first["ms"] >= first["first_byte_ms"] > 0
    assert {"files_planned", "files_pruned", "bytes_planned", "cache"} <= set(first)
    assert second["status"] == 400 and second["outcome"] == "rejected"
    assert second["error"] == "parameter 'min_id' must be a whole number such as 42, got 'x'"
    assert second["parameters"] == {"min_id": "x"}


def test_a_whole_answer_is_sent_before_its_request_is_logged_and_counted(client, caplog):
    """The client does not wait for its request's log line and metrics: they come once the
    last byte went out (and, ended on the event loop, before the server takes another
    request: /metrics asked right after an answer counts it)."""
    seen_at_body: list[tuple[int, float]] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            counted = samples(client)[("datapic_request_duration_seconds_count", ())]
            seen_at_body.append((len(request_lines(caplog)), counted))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/get_data",
        "raw_path": b"/get_data",
        "root_path": "",
        "query_string": b"label=EMEA",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    with caplog.at_level(logging.INFO, logger="datapic"):
        anyio.run(client.app, scope, receive, send)
    assert seen_at_body == [(0, 0)]  # one whole body; nothing logged or counted yet
    [line] = request_lines(caplog)
    assert (line["status"], line["outcome"], line["rows"]) == (200, "complete", 2)
    assert samples(client)[("datapic_request_duration_seconds_count", ())] == 1


def test_the_log_line_is_one_json_object_without_secrets(client, caplog, monkeypatch):
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__PASSWORD", SECRET)
    with caplog.at_level(logging.INFO, logger="datapic"):
        client.get("/get_data", params={"label": SECRET, "unknown": "x"})
        client.get("/get_data", params={"label": "y" * 500})
    secret, long = (r for r in caplog.records if hasattr(r, "request"))
    line = PodLogFormat().format(secret)
    assert "\n" not in line and SECRET not in line
    parsed = json.loads(line)
    assert parsed["severity"] == "INFO" and parsed["message"] == "GET /get_data 400 rejected"
    assert parsed["parameters"] == {"label": "***"}  # undeclared names are not echoed
    assert len(long.request["parameters"]["label"]) < 200


@pytest.mark.parametrize(
    ("stats", "subject"), [(ScanStats(3, 5, 4096, "miss"), "alice"), (None, None)]
)
def test_the_log_line_holds_every_field_of_the_record_in_its_order(stats, subject):
    # Written out field by field: a field added to RequestRecord must reach the line too. The
    # reference is the record as dataclasses.asdict gives it, the stats flattened at the end.
    record = RequestRecord(
        pod="p", route="/get_data", status=200, outcome="complete", parameters={"a": "1"},
        format="csv", limit=10, offset=20, next_page=True, snapshot_id=7, stats=stats, rows=3,
        bytes_sent=99, ms=1.26, first_byte_ms=0.94, error="e", subject=subject,
    )  # fmt: skip
    reference = dataclasses.asdict(record)
    reference.update(ms=1.3, first_byte_ms=0.9)
    if subject is None:
        del reference["subject"]
    del reference["stats"]
    reference.update(dataclasses.asdict(stats or ScanStats()))
    assert list(log_fields(record).items()) == list(reference.items())


class GatedCatalog:
    """A catalog factory whose load_table counts its calls (the reference for the metric) and,
    while `gate` is clear, waits for it: a slow catalog, so requests pile up behind a reload."""

    def __init__(self, catalog_props) -> None:
        self.factory = functools.partial(load_catalog, **catalog_props)
        self.loads = 0
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def __call__(self, name):
        catalog = self.factory(name)
        load = catalog.load_table

        def load_table(identifier):
            self.loads += 1
            self.waiting.set()
            assert self.gate.wait(10)
            return load(identifier)

        catalog.load_table = load_table
        return catalog


class Clock:
    """time.monotonic for the app, moved by the test."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_catalog_loads_count_one_per_stale_period_however_many_requests_find_it(
    tmp_path, catalog_props
):
    gated, clock = GatedCatalog(catalog_props), Clock()
    client = make_client(tmp_path, catalog_props, clock, gated, freshness_seconds=5)
    loads = "datapic_catalog_loads_total", ()
    with client:  # one event loop for every request, as under uvicorn
        assert client.get("/get_data").status_code == 200
        assert samples(client)[loads] == gated.loads == 1
        clock.now += 2.5  # within the freshness period: no load
        assert client.get("/get_data").status_code == 200
        assert samples(client)[loads] == 1
        # Beyond the grace: every request waits for the one reload, none loads on its own.
        clock.now += 20
        gated.gate.clear()
        gated.waiting.clear()
        statuses: list[int] = []

        def call() -> None:
            statuses.append(client.get("/get_data").status_code)

        threads = [threading.Thread(target=call) for _ in range(12)]
        threads[0].start()
        assert gated.waiting.wait(10)
        for thread in threads[1:]:
            thread.start()
        gated.gate.set()
        for thread in threads:
            thread.join(30)
        assert statuses == [200] * 12
        assert samples(client)[loads] == gated.loads == 2
