"""Many requests at once on a pod with one query slot: they queue and run back to back.

Waiting for the slot must never starve the answers being streamed of the threads that send
them (or every request would stall until the queue timeout and fail with 503s).
"""

from __future__ import annotations

import concurrent.futures
import threading

import httpx
import pytest
from podkit import make_pod, pod_json, serving

pytestmark = pytest.mark.pod

REQUESTS = 60
ORDERS = pod_json(
    "queued-orders",
    "sales.orders",
    "SELECT order_id, country, sales FROM source ORDER BY order_id",
    columns=["order_id", "country", "sales"],
    read_columns=["order_id", "country", "sales"],
)


def test_requests_beyond_the_worker_threads_queue_for_one_slot_and_all_succeed(tmp_path, pod_env):
    env = {**pod_env, "DATAPIC_MAX_CONCURRENT_QUERIES": "1", "DATAPIC_QUERY_QUEUE_SECONDS": "20"}
    with serving(make_pod(tmp_path, ORDERS), env, tmp_path / "pod.log") as client:
        url = f"{str(client.base_url).rstrip('/')}/get_data?limit=1000"
        first = client.get(url)
        # limit=1000 of 20,000 rows: a next page exists, so every answer is streamed.
        assert first.status_code == 200 and "x-next-page-token" in first.headers
        assert first.headers.get("transfer-encoding") == "chunked"

        # All requests leave together, so that more of them wait than AnyIO has threads (40).
        start = threading.Barrier(REQUESTS)
        many = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=REQUESTS))

        def fetch(_: int) -> tuple[int, int]:
            start.wait()
            response = many.get(url)
            return response.status_code, len(response.content)

        with concurrent.futures.ThreadPoolExecutor(REQUESTS) as pool:
            results = list(pool.map(fetch, range(REQUESTS)))
        many.close()
    statuses = [status for status, _ in results]
    assert statuses == [200] * REQUESTS, {s: statuses.count(s) for s in set(statuses)}
    assert {size for _, size in results} == {len(first.content)}
