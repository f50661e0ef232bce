"""The static docs site (`datapic docs build`, served as `datapic docs serve` does) calling live
pods from a real browser (headless Chromium): a pod whose `cors` allows the site's origin and
checks tokens (HS256) answers the form with the token typed in (so the preflight must allow
Authorization) and the table equals the reference; without the token the page shows the
pod's 401 (its error readable across origins); a pod that does not list the origin shows an
error naming it. The token never reaches the pod's log nor a URL."""

from __future__ import annotations

import threading

import pytest
from browserkit import cell_text, chromium_page, shot, table_rows
from click.testing import CliRunner
from oidckit import hs256
from podkit import make_pod, param, pod_json, serving

from compiler.cli import main
from compiler.docs.serve import site_server

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.pod

COLUMNS = ["order_id", "country", "product", "sales"]
SECRET = "an HS256 secret of more than 32 bytes, for the docs site"
TOKEN = hs256(SECRET, sub="reader")
AUTH = {
    "jwt": {"secret_env": "EDGE_JWT_SECRET"},
    "require": [],
    "bind": [],
    "limits": {"requests_per_minute": 0, "concurrent_queries": 0},
}
MIN_SALES = 55000


def orders(name: str, origins: list[str]) -> dict:
    pod = pod_json(
        name,
        "sales.orders",
        "SELECT order_id, country, product, sales FROM source WHERE sales >= $min_sales "
        "ORDER BY order_id",
        columns=COLUMNS,
        read_columns=COLUMNS,
        parameters=[param("min_sales", "number", 0)],
    )
    pod["cors"] = {"allow_origins": origins, "allow_credentials": False, "max_age_seconds": 0}
    return pod


@pytest.fixture(scope="module")
def site(tmp_path_factory, pod_env):
    """(the site's URL, {pod name: (its URL, its pod.json, its log)}): the site served on one
    loopback port, the pods on others, one allowing the site's origin and one not."""
    work = tmp_path_factory.mktemp("docs-site")
    server = site_server(work / "site", 0)  # bound first: its origin goes into a pod's cors
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    pods = [orders("allowed", [origin]), orders("refused", ["http://app.localhost:8000"])]
    pods[0]["auth"] = AUTH
    dirs = [make_pod(work / "pods", pod) for pod in pods]
    result = CliRunner().invoke(
        main, ["docs", "build", "--pods", str(work / "pods"), "-o", str(work / "site")]
    )
    assert result.exit_code == 0, result.output
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with (
            serving(
                dirs[0], {**pod_env, "EDGE_JWT_SECRET": SECRET}, work / "allowed.log"
            ) as allowed,
            serving(dirs[1], pod_env, work / "refused.log") as refused,
        ):
            yield (
                origin,
                {
                    "allowed": (str(allowed.base_url).rstrip("/"), pods[0], work / "allowed.log"),
                    "refused": (str(refused.base_url).rstrip("/"), pods[1], work / "refused.log"),
                },
            )
    finally:
        server.shutdown()
        server.server_close()


def run_form(page, site_url: str, name: str, pod_url: str, token: str = TOKEN) -> None:
    page.goto(f"{site_url}/pods/{name}.html")
    page.fill("#pod-url", pod_url)
    page.fill("#param-min_sales", str(MIN_SALES))
    page.fill("#limit", "1000")
    page.fill("#token", token)
    page.click("#run")


def test_the_site_reads_a_pod_that_allows_its_origin(site, reference, tmp_path):
    site_url, pods = site
    pod_url, pod, log = pods["allowed"]
    expected = reference(pod, {"min_sales": MIN_SALES})
    assert 0 < len(expected) < 1000
    with chromium_page() as page:
        sent = []
        page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
        run_form(page, site_url, "allowed", pod_url)
        expect(page.locator("#status")).to_have_text(f"{len(expected)} rows")
        shot(page, tmp_path, "site-live-pod")
        header, rows = table_rows(page)
        assert page.locator("#error").is_hidden()
    assert header == COLUMNS
    assert rows == [[cell_text(row[c]) for c in COLUMNS] for row in expected]
    calls = [(url, auth) for url, auth in sent if url.startswith(pod_url)]
    assert calls and all(auth == f"Bearer {TOKEN}" for _, auth in calls)
    assert all(TOKEN not in url for url, _ in sent)
    assert TOKEN not in log.read_text()


def test_a_pod_that_does_not_allow_the_origin_is_a_clear_error(site, tmp_path):
    site_url, pods = site
    pod_url, _, _ = pods["refused"]
    with chromium_page() as page:
        run_form(page, site_url, "refused", pod_url)
        page.wait_for_selector("#error:not([hidden])")
        shot(page, tmp_path, "site-refused-pod")
        shown = page.inner_text("#error")
        assert page.locator("#answer").is_hidden()
    assert shown.startswith(f"Could not reach the pod at {pod_url}, or it does not let")
    assert f"this page's origin ({site_url})" in shown
    assert "cors: allow_origins must list it" in shown


def test_without_its_token_the_page_shows_the_pods_401(site, tmp_path):
    site_url, pods = site
    pod_url, _, _ = pods["allowed"]
    with chromium_page() as page:
        page.goto(f"{site_url}/pods/allowed.html")
        assert "$TOKEN" in page.inner_text("#calls")  # the pod has auth: its calls say so
        run_form(page, site_url, "allowed", pod_url, token="")
        page.wait_for_selector("#error:not([hidden])")
        shot(page, tmp_path, "site-no-token")
        shown = page.inner_text("#error")
    assert shown.startswith("Error 401: ")
