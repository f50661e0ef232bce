"""`datapic docs build` and `datapic docs serve`: the static site of every pod in generated/,
clicked through in headless Chromium (the search filters the index, a link opens the pod's
page), and its files byte for byte those of the pods' own renderer."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import httpx
import pytest
from browserkit import chromium_page, shot
from click.testing import CliRunner
from factories import ROOT

from compiler.cli import main
from compiler.docs.page import IN_POD, pod_page
from compiler.docs.serve import site_server
from compiler.docs.site import SiteProblem, load_pods, site_files

GENERATED = ROOT / "generated"


def pod_names() -> list[str]:
    return sorted(p.parent.name for p in GENERATED.glob("*/pod.json"))


@pytest.fixture
def site(tmp_path) -> Path:
    out = tmp_path / "site"
    result = CliRunner().invoke(
        main,
        ["docs", "build", "--pods", str(GENERATED), "-o", str(out), "--base-url", "http://h:1"],
    )
    assert result.exit_code == 0, result.output
    return out


def test_build_writes_an_index_and_a_page_per_pod(site):
    names = pod_names()
    assert len(names) >= 2
    assert sorted(p.stem for p in (site / "pods").glob("*.html")) == names
    index = (site / "index.html").read_text()
    assert all(f'href="pods/{name}.html"' in index for name in names)
    # The pods' own app.js and style.css, not copies that could drift.
    for asset in ("app.js", "style.css"):
        assert (site / "assets" / asset).read_bytes() == (
            ROOT / "templates" / "pod" / "docs" / asset
        ).read_bytes()
    page = (site / "pods" / f"{names[0]}.html").read_text()
    assert f'value="http://h:1/{names[0]}/"' in page  # the form's pod URL, from --base-url


def test_a_pod_page_is_the_pods_own_page_with_the_sites_links():
    pods = load_pods(GENERATED)
    files = site_files(pods)
    for docs in pods:
        own = (GENERATED / docs.name / "docs" / "index.html").read_text()
        assert own.endswith(pod_page(docs, IN_POD))  # after its provenance comment
        site_page = files[f"pods/{docs.name}.html"].decode()
        # Same sections; only the links, the policy and the URL field differ.
        assert site_page.count("<tr>") == own.count("<tr>")


def test_dependencies_link_both_ways(tmp_path):
    for name in ("up", "down"):
        shutil.copytree(GENERATED / pod_names()[0], tmp_path / name)
        pod_json = tmp_path / name / "pod.json"
        document = json.loads(pod_json.read_text())
        document["name"] = name
        if name == "down":
            document["depends_on"] = [{"resource": "up"}]
        pod_json.write_text(json.dumps(document))
    files = site_files(load_pods(tmp_path))
    assert 'href="up.html" class="depends-on"' in files["pods/down.html"].decode()
    assert 'href="down.html" class="used-by"' in files["pods/up.html"].decode()


def test_a_folder_without_pods_is_a_clear_error(tmp_path):
    with pytest.raises(SiteProblem, match="holds no compiled pod"):
        load_pods(tmp_path)
    result = CliRunner().invoke(main, ["docs", "build", "--pods", str(tmp_path)])
    assert result.exit_code == 1
    assert "holds no compiled pod (run `datapic compile` first)" in result.output


def test_search_filters_the_index_and_a_link_opens_the_pod(site, tmp_path):
    names = pod_names()
    target = next(p for p in load_pods(GENERATED) if p.columns)
    column = target.columns[-1].name
    # What the search must find, worked out here from the pods' own documents.
    matching = [p.name for p in load_pods(GENERATED) if any(c.name == column for c in p.columns)]
    with site_server(site, 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            headers = httpx.get(url).headers
            assert "default-src 'self'" in headers["content-security-policy"]
            with chromium_page() as page:
                page.goto(url)
                visible = page.locator("#pods li:visible a")
                assert visible.all_inner_texts() == names
                page.fill("#search", column.upper())
                assert visible.all_inner_texts() == matching
                shot(page, tmp_path, "site-search")
                page.fill("#search", "no pod is called this")
                assert visible.count() == 0
                page.fill("#search", "")
                page.click(f"text={target.name}")
                page.wait_for_url(f"**/pods/{target.name}.html")
                assert page.inner_text("#pod-name") == target.name
                assert page.inner_text("#description") == target.description
                shot(page, tmp_path, "site-pod")
                # The form calls the URL typed in (here a closed port), and says so.
                page.fill("#pod-url", "http://127.0.0.1:9/")
                assert page.get_attribute("#pod-docs", "href") == "http://127.0.0.1:9/docs"
                page.click("#run")
                page.wait_for_selector("#error:not([hidden])")
                assert page.inner_text("#error").startswith(
                    "Could not reach the pod at http://127.0.0.1:9"
                )
                page.click("#to-index")
                page.wait_for_url(f"{url}index.html")
        finally:
            server.shutdown()


def test_the_example_pod_reading_a_pod_links_to_it_and_back():
    """generated/ as compiled: pod.json's `upstream` is what links the two pages."""
    files = site_files(load_pods(GENERATED))
    down = files["pods/large-orders-by-product.html"].decode()
    assert 'href="large-orders.html" class="depends-on"' in down
    assert 'href="large-orders-by-product.html" class="used-by"' in (
        files["pods/large-orders.html"].decode()
    )
