"""Pods that read pods, for real: an upstream pod over a real Iceberg table and downstream pods
reading its Arrow answer, all compiled from specs by the real compiler and run under uvicorn
on loopback.

The reference is independent of both pods: DuckDB over pyiceberg's full read of the table,
with the test's own SQL for what the two pods compute together. What the upstream was asked
is read from its own /metrics (requests by status and format), never from timing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import httpx
import pyarrow.compute as pc
import pytest
from idtokens import METADATA_CALLER, Gate, Issuer
from podkit import assert_rows_equal, json_form, serving
from podrun import free_port
from prometheus_client.parser import text_string_to_metric_families

from compiler.artifacts.emit import emit
from compiler.lakehouse import orders
from compiler.pipeline import compile_specs

pytestmark = pytest.mark.pod

TABLE = "shop.upstream_orders"
PAGE = 100  # the upstream's page size: a country's orders take several pages

UPSTREAM = f"""\
resource_name: up-orders
short_description: Orders of one country
depends_on:
  - namespace: shop
    table: upstream_orders
select: [order_id, country, product, quantity, sales]
filters:
  - country = :country
  - sales >= :min_sales
parameters:
  - name: country
    type: string
  - name: min_sales
    type: number
    default: 0
order_by: [order_id]
max_page_size: {PAGE}
freshness_seconds: 0
"""


def downstream(name: str, freshness: float) -> str:
    """A reduction over up-orders; `country` is passed through, `min_quantity` filters here."""
    return f"""\
resource_name: {name}
short_description: Orders per product
depends_on:
  - resource: up-orders
aggregate:
  orders: count(*)
  quantity: sum(quantity)
  total_sales: sum(sales)
group_by: [product]
filters:
  - quantity >= :min_quantity
parameters:
  - name: country
    type: string
  - name: min_quantity
    type: integer
    default: 1
freshness_seconds: {freshness}
"""


@pytest.fixture(scope="module")
def table(catalog):
    """The upstream's own table (other tests' commits never reach it)."""
    if not catalog.table_exists(TABLE):
        rows = orders(3000)
        created = catalog.create_table(TABLE, schema=rows.schema)
        created.append(rows)
    return catalog.load_table(TABLE)


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> Path:
    """The three specs: an upstream and two downstreams of different freshness."""
    folder = tmp_path_factory.mktemp("specs")
    texts = {
        "down-sticky": downstream("down-sticky", 3600),
        "down-fresh": downstream("down-fresh", 1),
        "up-orders": UPSTREAM,
    }
    for name, text in texts.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


@pytest.fixture(scope="module")
def pods(specs, tmp_path_factory) -> Path:
    """The three pods, compiled together (the downstreams listed first: upstreams compile
    first all the same)."""
    texts = ("down-sticky", "down-fresh", "up-orders")
    out = tmp_path_factory.mktemp("generated")
    results = compile_specs([specs / f"{name}.yaml" for name in texts], output=out)
    assert all(r.ok for r in results), [d.message for r in results for d in r.diagnostics]
    for result in results:
        emit(result.files, out / result.pod.name)
    return out


@pytest.fixture(scope="module")
def upstream(pods, pod_env, table, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("logs") / "up.log"
    with serving(pods / "up-orders", pod_env, log) as client:
        yield str(client.base_url).rstrip("/")


def reference(catalog, country: str, min_quantity: int) -> list[dict]:
    """What the two pods answer together, straight from the table."""
    rows = catalog.load_table(TABLE).scan().to_arrow()
    connection = duckdb.connect()
    connection.register("orders", rows)
    result = connection.execute(
        "SELECT product, count(*) AS orders, sum(quantity) AS quantity, sum(sales) AS total_sales"
        " FROM orders WHERE country = ? AND sales >= 0 AND quantity >= ?"
        " GROUP BY product ORDER BY product",
        [country, min_quantity],
    )
    names = [d[0] for d in result.description]
    return [dict(zip(names, map(json_form, row), strict=True)) for row in result.fetchall()]


def arrow_requests(url: str, status: int) -> int:
    """The upstream's count of Arrow /get_data answers of `status`, from its /metrics."""
    text = httpx.get(f"{url}/metrics").text
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "datapic_requests_total"
            and sample.labels == {"status": str(status), "format": "arrow"}
        )
    )


def country_rows(catalog, country: str) -> int:
    rows = catalog.load_table(TABLE).scan(row_filter=f"country = '{country}'").to_arrow()
    return rows.num_rows


def down_env(pod_env: dict, url: str) -> dict:
    return {**pod_env, "DATAPIC_UPSTREAM_UP_ORDERS_URL": url}


def test_the_downstream_reads_every_page_and_passes_parameters(
    pods, upstream, pod_env, catalog, tmp_path
):
    before = arrow_requests(upstream, 200)
    with serving(pods / "down-sticky", down_env(pod_env, upstream), tmp_path / "d.log") as client:
        for country, min_quantity in (("DE", 1), ("DE", 10), ("JP", 5)):
            params = {"country": country, "min_quantity": min_quantity}
            answer = client.get("/get_data", params=params)
            assert answer.status_code == 200, answer.text
            assert_rows_equal(answer.json(), reference(catalog, country, min_quantity))
    # Every page of DE's and JP's upstream answers was read once (DE's kept for the second
    # request: within freshness the upstream is not asked again).
    pages = sum(-(-country_rows(catalog, c) // PAGE) for c in ("DE", "JP"))
    assert pages > 4
    assert arrow_requests(upstream, 200) - before == pages


def test_after_freshness_it_revalidates_and_sees_a_commit(
    pods, upstream, pod_env, catalog, table, tmp_path
):
    with serving(pods / "down-fresh", down_env(pod_env, upstream), tmp_path / "d.log") as client:
        first = client.get("/get_data", params={"country": "FR"})
        assert first.status_code == 200, first.text
        not_modified = arrow_requests(upstream, 304)
        time.sleep(1.2)  # past the downstream's freshness (1 s): it must ask again
        again = client.get("/get_data", params={"country": "FR"})
        assert again.json() == first.json()
        assert arrow_requests(upstream, 304) == not_modified + 1  # revalidated, not re-read
        rows = orders(3000)
        catalog.load_table(TABLE).append(rows.filter(pc.equal(rows["country"], "FR")).slice(0, 50))
        time.sleep(1.2)
        after = client.get("/get_data", params={"country": "FR"})
        assert after.status_code == 200, after.text
        assert_rows_equal(after.json(), reference(catalog, "FR", 1))
        assert after.json() != first.json()
        assert after.headers["etag"] != first.headers["etag"]


class _Fake:
    """A loopback server answering /get_data with a fixed status and body, or never."""

    def __init__(
        self, status: int = 200, body: bytes = b"", hang: bool = False, trickle: bool = False
    ) -> None:
        self.status, self.body, self.hang, self.trickle = status, body, hang, trickle
        self.release = threading.Event()

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if fake.hang:
                    fake.release.wait(60)
                    return
                if fake.trickle:  # a byte at a time, each well within a read timeout
                    self.send_response(200)
                    self.send_header("content-length", str(1 << 20))
                    self.end_headers()
                    while not fake.release.wait(0.2):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    return
                self.send_response(fake.status)
                self.send_header("content-length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body)

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            self.release.set()
            server.shutdown()
            server.server_close()


def _closed_port_url() -> str:
    port = free_port()
    with socket.socket() as probe:  # nobody listens there (free_port just checked)
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("down", 502, "cannot be reached"),
        ("garbage", 502, "not an Arrow stream"),
        ("refusing", 502, "refused this pod's call (HTTP 403)"),
        ("bad-values", 400, "refused the parameter values passed through to it (country)"),
        ("hanging", 502, "did not answer within 2 s"),
        ("trickling", 502, "did not answer within 2 s"),
        ("failing", 502, "answered HTTP 500"),
    ],
)
def test_an_upstream_failure_is_an_error_naming_it(pods, pod_env, tmp_path, case, status, says):
    fakes = {
        "garbage": _Fake(200, b"secret-body-text, not arrow"),
        "refusing": _Fake(403, b"secret-body-text"),
        "bad-values": _Fake(400, b'{"error":"secret-body-text"}'),
        "hanging": _Fake(hang=True),
        "trickling": _Fake(trickle=True),
        "failing": _Fake(500, b"secret-body-text"),
    }
    env = {**pod_env, "DATAPIC_UPSTREAM_TIMEOUT_SECONDS": "2"}
    with contextlib.ExitStack() as stack:
        url = _closed_port_url() if case == "down" else stack.enter_context(fakes[case].running())
        down = serving(pods / "down-fresh", down_env(env, url), tmp_path / "d.log")
        client = stack.enter_context(down)
        # A bounded client: the pod must answer well within it, never hang.
        answer = client.get("/get_data", params={"country": "DE"}, timeout=30)
        # Asked whether an answer still holds, it cannot say yes either.
        star = {"if-none-match": "*"}
        again = client.get("/get_data", params={"country": "DE"}, headers=star, timeout=30)
    assert again.status_code == status and again.json() == answer.json()
    assert answer.status_code == status
    assert answer.json()["error"].startswith("upstream pod 'up-orders' ")
    assert says in answer.json()["error"]
    assert "secret-body-text" not in answer.text


def test_the_upstream_killed_is_a_502(pods, pod_env, table, tmp_path):
    with contextlib.ExitStack() as upstream_running:
        up = upstream_running.enter_context(
            serving(pods / "up-orders", pod_env, tmp_path / "u.log")
        )
        url = str(up.base_url).rstrip("/")
        with serving(pods / "down-fresh", down_env(pod_env, url), tmp_path / "d.log") as client:
            assert client.get("/get_data", params={"country": "DE"}).status_code == 200
            upstream_running.close()  # the upstream process is stopped
            time.sleep(1.2)  # past the downstream's freshness: it must ask the upstream
            answer = client.get("/get_data", params={"country": "DE"}, timeout=30)
    assert answer.status_code == 502
    assert answer.json()["error"].startswith("upstream pod 'up-orders' cannot be reached")


def test_without_the_upstream_url_the_pod_refuses_to_start(pods, pod_env):
    done = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=pods / "down-fresh",
        env={**pod_env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "datapic pod: upstream pod 'up-orders' is not configured: set "
        "DATAPIC_UPSTREAM_UP_ORDERS_URL to its base URL (on Cloud Run, the URL of its service)"
    )


def test_calls_carry_an_id_token_for_the_upstream_url(pods, upstream, pod_env, catalog, tmp_path):
    """On Cloud Run the metadata server gives the ID token: here a loopback stand-in, and a
    gate admitting only its tokens for the gate's own URL, as Cloud Run's front end does."""
    with Issuer().running() as issuer, Gate(issuer, upstream).running() as gate:
        host = issuer.url.removeprefix("http://")
        env = down_env(pod_env, gate.url) | {
            "DATAPIC_UPSTREAM_ID_TOKEN": "always",  # a loopback http URL: signed only if asked
            "GCE_METADATA_HOST": host,
            "GCE_METADATA_IP": host,
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
            "GOOGLE_APPLICATION_CREDENTIALS": "",
        }
        with serving(pods / "down-sticky", env, tmp_path / "d.log") as client:
            answer = client.get("/get_data", params={"country": "GB"})
            assert answer.status_code == 200, answer.text
            assert_rows_equal(answer.json(), reference(catalog, "GB", 1))
        pages = -(-country_rows(catalog, "GB") // PAGE)
        assert gate.callers == [METADATA_CALLER] * pages
        # One token for the upstream's URL (its audience), kept for every page.
        assert issuer.issued == [(METADATA_CALLER, gate.url)]


def test_datapic_serve_serves_a_pod_reading_a_pod(specs, pod_env, table, catalog, tmp_path):
    """`datapic serve` builds the upstream first whatever the order given, and the downstream
    calls it on the same server, under /up-orders/."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DATAPIC_UPSTREAM_")}}
    env |= {**pod_env, "HOME": str(tmp_path)}
    targets = [str(specs / "down-sticky.yaml"), str(specs / "up-orders.yaml")]
    datapic = str(Path(sys.executable).parent / "datapic")
    process = subprocess.Popen(
        [datapic, "serve", "--port", "0", *targets],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    # A bound against a hang (not a measurement): the server is stopped, its output ends.
    watchdog = threading.Timer(120, os.killpg, [process.pid, signal.SIGKILL])
    watchdog.start()
    try:
        lines = iter(process.stdout.readline, "")
        found = next(line for line in lines if "/down-sticky/get_data" in line)
        url = found.strip()
        answer = httpx.get(url, params={"country": "ES", "min_quantity": 3}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert_rows_equal(answer.json(), reference(catalog, "ES", 3))
    finally:
        watchdog.cancel()
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
