"""compiler.artifacts.openapi: the pod's own arguments, answer formats and paging headers are
documented, and agree with what the runtime serves."""

from __future__ import annotations

import dataclasses
import pathlib
import re
from urllib.parse import quote, urlencode

import pytest
from datapic_runtime import formats, server, values
from datapic_runtime.querystring import query_items
from factories import parameter, pod, projection
from jsonschema import Draft202012Validator, FormatChecker

from compiler.artifacts.openapi import POD_ARGUMENTS, openapi
from compiler.spec.ir import Auth, Jwt, SchemaLock
from compiler.sql.lower import lower


def document(max_page_size: int = 10_000, auth: Auth | None = None) -> dict:
    the_pod = dataclasses.replace(
        pod(projection("a"), filters=("a = :c",), parameters=(parameter("c", "string"),)),
        max_page_size=max_page_size,
        auth=auth,
    )
    query, problems = lower(the_pod)
    assert problems == []
    return openapi(the_pod, query)


def test_the_pod_arguments_are_the_runtimes_reserved_ones_each_documented():
    doc = document(max_page_size=250)
    assert POD_ARGUMENTS == server.RESERVED_ARGUMENTS
    get = doc["paths"]["/get_data"]["get"]
    refs = [p["$ref"] for p in get["parameters"] if "$ref" in p]
    assert refs == [f"#/components/parameters/{name}" for name in POD_ARGUMENTS]
    arguments = doc["components"]["parameters"]
    assert [arguments[name]["name"] for name in POD_ARGUMENTS] == list(POD_ARGUMENTS)
    assert arguments["format"]["schema"]["enum"] == list(formats.FORMATS)
    limit = arguments["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 250, 250)
    assert [p["name"] for p in get["parameters"] if "name" in p] == ["c"]


def test_every_served_media_type_and_the_paging_headers_are_documented():
    ok = document()["paths"]["/get_data"]["get"]["responses"]["200"]
    assert list(ok["content"]) == [f.accepts[0] for f in formats.FORMATS.values()]
    assert set(ok["headers"]) == {server.NEXT_PAGE_HEADER, "Link", "ETag"}
    responses = document()["paths"]["/get_data"]["get"]["responses"]
    assert set(responses["304"]["headers"]) == {"ETag"}
    assert "406" in responses and "400" in responses
    assert "/metrics" in document()["paths"]


def test_every_status_the_runtime_raises_is_documented():
    import datapic_runtime

    runtime = pathlib.Path(datapic_runtime.__file__).parent
    raised = {
        code
        for module in runtime.glob("*.py")
        for code in re.findall(r"PodError\(\s*(\d{3})", module.read_text())
    }
    assert {"400", "410", "422", "501", "502"} <= raised  # the search finds what it looks for
    # A pod's callers are asked who they are only with an auth block (auth.py, callers.py).
    auth = {code for name in ("auth.py", "callers.py") for code in _raised(runtime / name)}
    assert auth == {"401", "403", "429", "503"}
    responses = document()["paths"]["/get_data"]["get"]["responses"]
    assert raised - {"401", "429"} <= set(responses)
    with_auth = document(auth=Auth(jwt=Jwt(secret_env="S")))
    assert raised <= set(with_auth["paths"]["/get_data"]["get"]["responses"])


def _raised(module) -> set[str]:
    """The statuses a runtime module answers with (PodError or its helpers)."""
    text = module.read_text()
    return set(re.findall(r"PodError\(\s*(\d{3})", text))


def test_the_document_is_the_same_on_every_build():
    assert document() == document()
    assert document(5) != document(6)


def test_the_page_token_form_is_the_runtimes_and_the_link_repeats_the_request():
    import re

    from datapic_runtime.paging import PageTokens, Position

    from compiler.artifacts.openapi import PAGE_TOKEN_PATTERN

    doc = document()
    schema = doc["components"]["parameters"]["page_token"]["schema"]
    assert schema["pattern"] == PAGE_TOKEN_PATTERN
    tokens = PageTokens(b"k" * 32)
    for position in (Position(None, 0), Position(2**62, 2**62), Position(-(2**63), 7)):
        assert re.fullmatch(PAGE_TOKEN_PATTERN, tokens.issue(position, {"c": "x"}))
    link = doc["paths"]["/get_data"]["get"]["responses"]["200"]["links"]["next"]
    assert link["operationId"] == "get_data"
    assert link["parameters"] == {
        "c": "$request.query.c",
        "format": "$request.query.format",
        "limit": "$request.query.limit",
        "page_token": "$response.header.X-Next-Page-Token",
    }


def test_a_list_parameter_is_an_exploded_form_array_with_its_comma_form_described():
    the_pod = pod(
        projection("a"),
        filters=("a IN :regions", "b IN :days"),
        parameters=(
            parameter("regions", "string[]", ("EMEA", "a,b")),
            parameter("days", "date[]"),
        ),
    )
    query, problems = lower(the_pod)
    assert problems == []
    regions, days = openapi(the_pod, query)["paths"]["/get_data"]["get"]["parameters"][:2]
    assert regions["schema"] == {
        "type": "array",
        "items": {"type": "string"},
        "maxItems": values.MAX_LIST_VALUES,
        "default": ["EMEA", "a,b"],
    }
    assert (regions["style"], regions["explode"], regions["required"]) == ("form", True, False)
    assert "regions=a&regions=b" in regions["description"]
    assert "regions=a,b" in regions["description"] and "%2C" in regions["description"]
    assert days["schema"]["items"] == {"type": "string", "format": "date"}
    assert days["required"] is True


def test_what_the_document_says_of_lists_is_how_the_runtime_reads_them():
    wanted = ["EMEA", "a,b", "c d"]
    # An exploded form array as URL encoders write it: one argument per value, `,` as %2C.
    exploded = urlencode([("r", v) for v in wanted]).encode()
    assert query_items(exploded, {"r"}) == [("r", v) for v in wanted]
    # The comma form the description gives, with the comma inside a value percent-encoded.
    commas = ("r=" + ",".join(quote(v, safe="") for v in wanted)).encode()
    assert query_items(commas, {"r"}) == [("r", v) for v in wanted]


# README, "Types in answers": each type's JSON form, as the pod writes it, and forms it never
# writes for that type.
TYPE_TABLE = [
    ("boolean", [True, None], ["true", 1]),
    ("int", [7], [7.5, "7"]),
    ("long", [9007199254740993], ["9007199254740993", 1.5]),
    ("double", [2.0, 0.1, None], ["2.0"]),
    ("decimal(12, 2)", ["12.30", "-0.50"], [12.3, "12.3", "12.300"]),
    ("decimal(38, 0)", ["12"], ["12.0"]),
    ("date", ["2024-02-29"], ["2024-02-30", "2024-02-29T00:00:00"]),
    ("time", ["12:30:01", "12:30:01.000005"], ["12:30", 1]),
    ("timestamp", ["2024-01-01T12:00:00", "2024-01-01T12:00:00.000001"], ["2024-01-01"]),
    ("timestamptz", ["2024-01-01T12:00:00+00:00"], ["2024-01-01T12:00:00", "noon"]),
    ("timestamp_ns", ["2024-01-01T12:00:00.123456789"], ["2024-01-01T12:00:00.123456"]),
    ("timestamptz_ns", ["2024-01-01T12:00:00.123456789+00:00"], ["2024-01-01T12:00:00.123"]),
    ("string", ["EMEA"], [1]),
    ("uuid", ["12345678-1234-5678-1234-567812345678"], ["1234"]),
    ("binary", ["YWI="], [1]),
    ("fixed[2]", ["YWI="], [1]),
    ("struct<1: a: optional int>", [{"a": 1}], [[1]]),
    ("list<string>", [["a"]], [{"a": 1}]),
    ("map<string, long>", [[["k", 1]]], [{"k": 1}]),
]


@pytest.mark.parametrize(("kind", "written", "never"), TYPE_TABLE)
def test_a_locked_column_is_typed_as_the_pod_answers_it(kind, written, never):
    the_pod = pod(projection("a"))
    query, _ = lower(the_pod)
    lock = SchemaLock(table_columns=(("a", kind),), columns=(("a", kind),))
    content = openapi(the_pod, query, lock)["paths"]["/get_data"]["get"]["responses"]["200"]
    schema = content["content"]["application/json"]["schema"]
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    for value in [*written, None]:
        assert validator.is_valid([{"a": value}]), (kind, value)
    for value in never:
        assert not validator.is_valid([{"a": value}]), (kind, value)


def test_without_a_lock_the_answer_columns_are_untyped():
    items = document()["paths"]["/get_data"]["get"]["responses"]["200"]["content"]
    assert items["application/json"]["schema"]["items"]["properties"] == {"a": {}}


def test_an_integer_parameter_is_declared_with_the_runtimes_int64_range():
    from datapic_runtime import values

    the_pod = pod(projection("a"), filters=("a = :n",), parameters=(parameter("n", "integer"),))
    query, problems = lower(the_pod)
    assert problems == []
    (declared,) = openapi(the_pod, query)["paths"]["/get_data"]["get"]["parameters"][:1]
    schema = declared["schema"]
    assert (schema["minimum"], schema["maximum"]) == values._INT64
