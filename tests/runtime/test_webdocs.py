"""GET /docs and its two files: served byte for byte from the pod directory, under a policy
that allows the pod's own origin only; a pod directory without a page serves none."""

from __future__ import annotations

import pytest
from datapic_runtime.errors import ConfigError
from datapic_runtime.webdocs import POLICY
from runtimekit import make_client

from compiler.docs.page import NO_FRAMING, POD_POLICY

FILES = {
    "/docs": ("index.html", b"<!DOCTYPE html><title>page</title>\n", "text/html"),
    "/docs/app.js": ("app.js", b'"use strict";\n', "text/javascript"),
    "/docs/style.css": ("style.css", b"body {}\n", "text/css"),
}


def test_the_page_and_its_files_with_a_strict_policy(tmp_path, catalog_props):
    (tmp_path / "docs").mkdir()
    for name, content, _ in FILES.values():
        (tmp_path / "docs" / name).write_bytes(content)
    client = make_client(tmp_path, catalog_props)
    for route, (_, content, media_type) in FILES.items():
        for method in (client.get, client.head):
            response = method(route)
            assert response.status_code == 200, route
            assert response.headers["content-type"].startswith(media_type)
            assert response.headers["content-security-policy"] == POLICY
            assert response.headers["x-content-type-options"] == "nosniff"
        assert client.get(route).content == content


def test_the_policy_is_the_pages_own_plus_no_framing():
    # The runtime and the compiler never import each other: this keeps the two equal.
    assert POLICY == POD_POLICY + NO_FRAMING
    assert "default-src 'self'" in POLICY and "unsafe" not in POLICY


def test_without_a_page_docs_is_a_json_404(tmp_path, catalog_props):
    response = make_client(tmp_path, catalog_props).get("/docs")
    assert response.status_code == 404
    assert "GET /docs" in response.json()["error"]  # the routes a pod serves, named


def test_a_page_without_its_script_fails_at_start_up(tmp_path, catalog_props):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_bytes(b"<!DOCTYPE html>\n")
    with pytest.raises(ConfigError, match="app.js: cannot read"):
        make_client(tmp_path, catalog_props)
