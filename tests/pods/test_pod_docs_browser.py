"""A pod's /docs page in a real browser (headless Chromium): the form runs the query against
the running pod, the answer table (every page, through "More") equals the reference, a bad
value shows the pod's own error message, and a spec's markup in the description stays text."""

from __future__ import annotations

import re

import httpx
import pytest
from browserkit import cell_text, chromium_page, shot, table_rows
from podkit import json_form, make_pod, param, pod_json, serving

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = pytest.mark.pod

COLUMNS = ["order_id", "order_date", "country", "product", "quantity", "sales"]
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
POD = {
    **pod_json(
        "orders-docs",
        "sales.orders",
        "SELECT order_id, order_date, country, product, quantity, sales\n"
        "FROM source\n"
        "WHERE country = $country AND quantity <= $max_quantity\n"
        "ORDER BY order_id",
        columns=COLUMNS,
        read_columns=COLUMNS,
        parameters=[
            param("country", "string", "DE"),
            param("max_quantity", "integer", 10),
        ],
    ),
    "description": f"Orders of one country {HOSTILE}",
}
PAGE_ROWS = 25


@pytest.fixture(scope="module")
def pod(tmp_path_factory, pod_env):
    """The running pod and its base URL."""
    work = tmp_path_factory.mktemp("docs")
    pod_dir = make_pod(work, POD)
    with serving(pod_dir, pod_env, work / "pod.log") as client:
        yield client, str(client.base_url).rstrip("/")


def test_the_form_shows_every_page_of_the_answer(pod, reference, tmp_path):
    client, url = pod
    response = client.get("/docs")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expected = reference(POD, {"country": "FR", "max_quantity": 2})
    assert len(expected) > 2 * PAGE_ROWS  # the answer needs "More" at least twice
    with chromium_page() as page:
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/docs")
        shot(page, tmp_path, "docs-page")
        page.fill("#param-country", "FR")
        page.fill("#param-max_quantity", "2")
        page.fill("#limit", str(PAGE_ROWS))
        page.click("#run")
        clicks = 0
        while True:
            # Status functions would need eval, which the page's CSP refuses: wait on the text.
            shown = min((clicks + 1) * PAGE_ROWS, len(expected))
            expect(page.locator("#status")).to_have_text(re.compile(rf"^{shown} rows"))
            if page.locator("#more").is_hidden():
                break
            page.click("#more")
            clicks += 1
        shot(page, tmp_path, "docs-answer")
        header, rows = table_rows(page)
        assert page.evaluate("window.pwned") is None  # the description's markup never ran
        assert page.locator("#description").inner_text() == POD["description"]
    assert clicks == (len(expected) - 1) // PAGE_ROWS
    assert header == COLUMNS
    assert rows == [[cell_text(row[c]) for c in COLUMNS] for row in expected]
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_an_error_shows_the_pods_message(pod, tmp_path):
    client, url = pod
    message = client.get("/get_data", params={"country": "FR", "max_quantity": "many"})
    assert message.status_code == 400
    with chromium_page() as page:
        page.goto(f"{url}/docs")
        page.fill("#param-country", "FR")
        page.fill("#param-max_quantity", "many")
        page.click("#run")
        page.wait_for_selector("#error:not([hidden])")
        shot(page, tmp_path, "docs-error")
        shown = page.inner_text("#error")
        assert page.locator("#answer").is_hidden()
    assert shown == f"Error 400: {message.json()['error']}"


def test_the_calls_run_as_copied(pod, reference):
    _, url = pod
    with chromium_page() as page:
        page.goto(f"{url}/docs")
        expect(page.locator(".pod-url").first).to_have_text(url)
        curl, python = page.locator("#calls pre").all_inner_texts()[:2]
    command = curl.removeprefix("curl '").removesuffix("'")
    assert command.startswith(f"{url}/get_data?")
    answer = httpx.get(command, timeout=60)  # the copied call, as a user would run it
    assert answer.status_code == 200, answer.text
    # The Python call, with the client SDK, up to (not including) its print.
    scope: dict = {}
    exec(python.rsplit("\n", 1)[0], scope)  # noqa: S102 - the page's own example, run as copied
    assert scope["table"].column_names == COLUMNS
    rows = [{k: json_form(v) for k, v in row.items()} for row in scope["table"].to_pylist()]
    assert rows == answer.json() == reference(POD, {"country": "DE", "max_quantity": 10})
    assert rows
