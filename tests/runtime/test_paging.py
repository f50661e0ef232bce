"""datapic_runtime.paging: continuation tokens that cannot be forged by accident, replayed with
other parameter values or carried to another pod; the limit argument; the next page's URL."""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import pytest
from datapic_runtime.errors import PodError
from datapic_runtime.paging import (
    MAX_LINK_BYTES,
    PageTokens,
    Position,
    next_link,
    parse_limit,
    token_key,
    values_digest,
)

VALUES = {"region": "EMEA", "since": dt.date(2024, 1, 1), "min": 5, "ratio": 0.5, "flag": None}
TOKENS = PageTokens(token_key(b'{"name": "pod-a"}'))


def rejected(tokens: PageTokens, token: str, values=VALUES) -> str:
    with pytest.raises(PodError) as caught:
        tokens.read(token, values)
    assert caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize(
    "position",
    [Position(None, 0), Position(5_432_109_876_543_210_987, 10_000), Position(-1, 2**40)],
)
def test_a_token_gives_back_its_position(position):
    token = TOKENS.issue(position, VALUES)
    assert token.isascii() and "=" not in token and "+" not in token and "/" not in token
    assert TOKENS.read(token, dict(VALUES)) == position


def test_a_changed_byte_anywhere_is_rejected():
    token = TOKENS.issue(Position(42, 100), VALUES)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for index in range(len(raw)):
        changed = bytearray(raw)
        changed[index] ^= 0x01
        forged = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
        assert "not issued by this pod's query" in rejected(TOKENS, forged)


@pytest.mark.parametrize("token", ["", "x", "!!!!", "a" * 66, "a" * 200, "ünï"])
def test_malformed_tokens_are_rejected(token):
    assert rejected(TOKENS, token) == "page_token is malformed; start again without page_token"


def test_a_token_is_bound_to_the_parameter_values():
    token = TOKENS.issue(Position(1, 10), VALUES)
    for other in ({**VALUES, "region": "APAC"}, {**VALUES, "flag": False}, {**VALUES, "min": 6}):
        assert "belongs to other parameter values" in rejected(TOKENS, token, other)
    assert values_digest({"a": 1}) != values_digest({"a": "1"})  # typed: 1 is not "1"


def test_a_token_is_bound_to_the_pod_and_to_the_operators_secret():
    token = TOKENS.issue(Position(1, 10), VALUES)
    other_pod = PageTokens(token_key(b'{"name": "pod-b"}'))
    assert "not issued by this pod's query" in rejected(other_pod, token)
    with_secret = PageTokens(token_key(b'{"name": "pod-a"}', "operator-secret"))
    assert "not issued by this pod's query" in rejected(with_secret, token)
    # Another instance of the same pod (same pod.json, same secret) accepts it.
    again = PageTokens(token_key(b'{"name": "pod-a"}', "operator-secret"))
    assert again.read(with_secret.issue(Position(7, 3), VALUES), VALUES) == Position(7, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, 500), ("1", 1), ("500", 500), (" 20 ", 20), ("007", 7), ("0" * 5000 + "7", 7)],
)
def test_limit_defaults_to_and_is_bounded_by_the_max_page_size(text, expected):
    assert parse_limit(text, 500) == expected


@pytest.mark.parametrize(
    "text", ["0", "501", "-1", "1.5", "ten", "", "१२", "9" * 40, "9" * 5000, "0" * 5000 + "501"]
)
def test_a_bad_limit_is_a_400_naming_the_range(text):
    with pytest.raises(PodError) as caught:
        parse_limit(text, 500)
    assert caught.value.status == 400
    assert caught.value.message.startswith("limit must be a whole number from 1 to 500, got ")


def test_a_next_link_longer_than_its_cap_is_left_out():
    token = "T" * 40
    fits = [("q", "x" * (MAX_LINK_BYTES - len(f"/get_data?q=&page_token={token}")))]
    assert len(next_link("/get_data", fits, token)) == MAX_LINK_BYTES
    assert next_link("/get_data", [("q", fits[0][1] + "x")], token) is None
    assert next_link("/get_data", [("q", "x" * 100_000)], token) is None


def test_the_next_link_keeps_every_argument_but_the_token():
    query = [("region", "a b&c"), ("limit", "5"), ("page_token", "OLD"), ("format", "csv")]
    link = next_link("/get_data", query, "NEW-token_1")
    parts = urlsplit(link)
    assert parts.path == "/get_data" and not parts.netloc
    assert parse_qsl(parts.query) == [
        ("region", "a b&c"),
        ("limit", "5"),
        ("format", "csv"),
        ("page_token", "NEW-token_1"),
    ]
