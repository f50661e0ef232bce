"""datapic_runtime.etag: one tag per representation, and If-None-Match compared as RFC 9110
says (weakly, `*`, lists); the pod's 304s are tested over HTTP in tests/pods/test_pod_etag.py."""

from __future__ import annotations

import datetime as dt

import pytest
from datapic_runtime.etag import entity_tag, none_match, pod_fingerprint

BASE = {
    "pod": pod_fingerprint(b'{"name": "p"}'),
    "version": 42,
    "values": {"region": "EMEA", "since": dt.date(2024, 1, 1), "products": ("a", "b")},
    "format_name": "json",
    "offset": 0,
    "limit": 100,
}


def tag(**changes) -> str:
    arguments = {**BASE, **changes}
    return entity_tag(
        arguments["pod"],
        arguments["version"],
        arguments["values"],
        arguments["format_name"],
        arguments["offset"],
        arguments["limit"],
    )


def test_a_tag_is_strong_quoted_and_stable():
    assert tag() == tag()
    assert tag().startswith('"') and tag().endswith('"') and not tag().startswith("W/")
    # The order values come in does not matter: the same values are the same answer.
    assert tag(values=dict(reversed(list(BASE["values"].items())))) == tag()


@pytest.mark.parametrize(
    "change",
    [
        {"pod": pod_fingerprint(b'{"name": "q"}')},
        {"version": 43},
        {"version": None},
        {"values": {**BASE["values"], "region": "AMER"}},
        {"values": {**BASE["values"], "since": "2024-01-01"}},  # a value's type counts
        {"values": {**BASE["values"], "products": ("b", "a")}},
        {"format_name": "csv"},
        {"offset": 100},
        {"limit": 99},
    ],
)
def test_anything_that_changes_the_bytes_changes_the_tag(change):
    assert tag(**change) != tag()


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ('"x",W/"abc" ', True),
        ("*", True),
        (" * ", True),
        ('"x"', False),
        ('"abc-gzip"', False),
        ("abc", False),  # not a quoted tag
        ('"a,b", "c"', False),
        ("", False),
        (None, False),
    ],
)
def test_if_none_match(header, matches):
    assert none_match(header, '"abc"') is matches


def test_a_quoted_comma_stays_in_its_tag():
    assert none_match('"x", "a,b"', '"a,b"')
