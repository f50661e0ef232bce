"""The docs page renderer: a spec's text is always text of the page (never markup), the calls
shown are runnable, column types come from the schema lock, then openapi.json, and every URL
of the page is relative (a pod mounted under /<name>/ by `datapic serve` keeps working)."""

from __future__ import annotations

import dataclasses
import html.parser
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from factories import parameter, pod, projection

from compiler.artifacts.render import render
from compiler.docs.model import pod_docs
from compiler.docs.page import IN_POD, URL_PLACEHOLDER, PageLinks, calls, pod_page
from compiler.sql.lower import lower

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Page(html.parser.HTMLParser):
    """What a browser's parser finds in a page: its elements' tags, attributes and text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def documents(the_pod=None):
    """pod.json and openapi.json of a compiled pod, as the renderer reads them."""
    the_pod = the_pod or pod(
        projection("a", "b"),
        filters=("a = :region", "b IN :codes", "(:flag IS NULL OR :flag)"),
        parameters=(
            parameter("region", "string", "EMEA"),
            parameter("codes", "integer[]", (1, 2)),
            parameter("flag", "boolean", None, required=False),
        ),
    )
    query, problems = lower(the_pod)
    assert problems == [], problems
    files = render(the_pod, query)
    return json.loads(files["pod.json"]), json.loads(files["openapi.json"]), files


def hostile_documents():
    pod_doc, openapi, _ = documents()
    pod_doc["description"] = HOSTILE
    pod_doc["long_description"] = f"Some **bold** text.\n\n{HOSTILE}\n\n[link](javascript:alert(1))"
    pod_doc["parameters"][0]["description"] = HOSTILE
    pod_doc["parameters"][0]["default"] = HOSTILE
    pod_doc["spec"]["path"] = HOSTILE
    return pod_doc, openapi


@pytest.mark.parametrize("links", [IN_POD, PageLinks(assets="../", policy="", index="i.html")])
def test_markup_in_a_spec_renders_inert(links):
    page = _Page(pod_page(pod_docs(*hostile_documents()), links))
    tags = [tag for tag, _ in page.tags]
    # Only the page's own script (its src a file beside it); no element the spec wrote.
    assert [attrs["src"] for tag, attrs in page.tags if tag == "script"] == [
        f"{links.assets}app.js"
    ]
    assert "img" not in tags
    assert not [attrs for _, attrs in page.tags if any(k.startswith("on") for k in attrs)]
    assert not [a for t, a in page.tags if t == "a" and "javascript" in a.get("href", "")]
    # The text is still there, as text, and the Markdown around it is rendered.
    assert "".join(page.text).count(HOSTILE) >= 4
    assert "strong" in tags


def test_the_page_lists_parameters_columns_and_the_long_description():
    pod_doc, openapi, files = documents()
    pod_doc["long_description"] = "A *long* description."
    text = pod_page(pod_docs(pod_doc, openapi))
    assert "<em>long</em>" in text
    for name in ("region", "codes", "flag", "a", "b"):
        assert f"<code>{name}</code>" in text
    # The compiled pod's own page is this page: same documents, same renderer.
    assert files["docs/index.html"].decode().endswith(pod_page(pod_docs(*documents()[:2])))


def test_column_types_from_the_lock_then_openapi_then_none():
    pod_doc, openapi, _ = documents()
    row = openapi["paths"]["/get_data"]["get"]["responses"]["200"]["content"]
    row["application/json"]["schema"]["items"]["properties"]["b"] = {
        "type": ["integer", "null"],
        "format": "int64",
    }
    assert [c.type for c in pod_docs(pod_doc, openapi).columns] == ["", "integer (int64)"]
    pod_doc["schema_lock"] = {"table_columns": {}, "columns": {"a": "string", "b": "long"}}
    assert [c.type for c in pod_docs(pod_doc, openapi).columns] == ["string", "long"]


def test_the_calls_carry_the_example_values():
    docs = pod_docs(*documents()[:2])
    shown = calls(docs)
    url = shown["curl"].removeprefix("curl '").removesuffix("'")
    # A list goes repeated: an encoded comma would be one value.
    assert parse_qsl(urlsplit(url).query) == [("region", "EMEA"), ("codes", "1"), ("codes", "2")]
    assert 'get_data(region="EMEA", codes=[1, 2])' in shown["Python"]
    assert all(code.count(URL_PLACEHOLDER) == 1 for code in shown.values())


def test_every_url_of_the_page_is_relative():
    page = _Page(pod_page(pod_docs(*documents()[:2])))
    urls = [a[k] for _, a in page.tags for k in ("href", "src", "action") if k in a]
    assert urls and all(not u.startswith(("/", "http:", "https:")) for u in urls if u != "data:,")


def test_dependencies_link_to_their_pages_in_the_site():
    pod_doc, openapi, _ = documents()
    pod_doc["depends_on"] = [{"resource": "upstream"}, {"namespace": "s", "table": "t"}]
    docs = pod_docs(pod_doc, openapi)
    assert docs.depends_on == ("upstream",)
    links = PageLinks(assets="", policy="", index="", pods={"upstream": "upstream.html"})
    page = _Page(pod_page(docs, links))
    assert ("a", {"href": "upstream.html", "class": "depends-on"}) in page.tags
    assert "upstream" not in pod_page(dataclasses.replace(docs, depends_on=()), links)


@pytest.mark.parametrize("auth", [None, {"jwt": {"issuer": "https://login.example.com/"}}])
def test_a_pod_with_auth_shows_a_token_placeholder_in_every_call(auth):
    pod_doc, openapi, _ = documents()
    if auth is not None:
        pod_doc["auth"] = auth  # the auth block's shape is not read: only its presence
    shown = calls(pod_docs(pod_doc, openapi))
    needs = bool(auth)
    assert all(("TOKEN" in code) == needs for code in shown.values())
    if needs:
        assert shown["curl"].startswith('curl -H "Authorization: Bearer $TOKEN" ')
        assert 'token=os.environ["TOKEN"]' in shown["Python"]
        assert "Authorization: `Bearer ${TOKEN}`" in shown["JavaScript"]
    assert all(code.count(URL_PLACEHOLDER) == 1 for code in shown.values())


def test_the_token_field_is_never_sent_by_a_form_nor_remembered():
    page = _Page(pod_page(pod_docs(*documents()[:2])))
    (token,) = [attrs for tag, attrs in page.tags if tag == "input" and attrs.get("id") == "token"]
    # No name: no form submission could carry it; a password input the browser should not
    # offer to remember or fill in.
    assert "name" not in token
    assert token["type"] == "password" and token["autocomplete"] == "off"
