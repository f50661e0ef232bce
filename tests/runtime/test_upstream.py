"""datapic_runtime.upstream's pure parts: the URL's variable, values as query text, a token's
lifetime. Calling a real upstream pod (pages, 304s, failures, ID tokens) is tested with two
real pods in tests/pods/test_pod_upstream.py."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from datapic_runtime.config import UpstreamSpec
from datapic_runtime.errors import ConfigError
from datapic_runtime.upstream import _expiry, query_text, upstream_url
from datapic_runtime.values import from_text

SPEC = UpstreamSpec(resource="emea-sales", env="DATAPIC_UPSTREAM_EMEA_SALES_URL", parameters=())


def test_the_url_comes_from_its_variable():
    env = {SPEC.env: " https://emea-sales-abc.a.run.app/ "}
    assert upstream_url(SPEC, env) == "https://emea-sales-abc.a.run.app"


@pytest.mark.parametrize("env", [{}, {SPEC.env: ""}, {SPEC.env: "  "}])
def test_without_the_url_the_pod_does_not_start(env):
    with pytest.raises(ConfigError, match="upstream pod 'emea-sales' is not configured: set "):
        upstream_url(SPEC, env)


def test_only_http_urls():
    with pytest.raises(ConfigError, match="expected an http"):
        upstream_url(SPEC, {SPEC.env: "file:///etc/passwd"})


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("string", "o'hara, & co"),
        ("integer", -(2**63)),
        ("number", 0.1),
        ("number", 1e300),
        ("boolean", False),
        ("date", dt.date(2024, 2, 29)),
        ("timestamp", dt.datetime(2024, 1, 1, 12, 0, 0, 1)),
        ("timestamp", dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
    ],
)
def test_a_value_passed_on_reads_back_as_itself(type_name, value):
    """The upstream parses the text with the same grammar: the value arrives unchanged."""
    (text,) = query_text(type_name, value)
    assert from_text(type_name, text) == value


def test_a_list_is_one_text_per_value_and_none_is_left_out():
    assert query_text("integer[]", (1, 2)) == ["1", "2"]
    assert query_text("string", None) == []


def _jwt(claims: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"e30.{body}.c2ln"


def test_a_tokens_expiry_is_read_from_it():
    assert _expiry(_jwt({"exp": 2_000_000_000})) == 2_000_000_000
    # Unreadable: treated as expired, so it is fetched again next time.
    assert _expiry("not a token") <= _expiry(_jwt({"exp": 4_000_000_000}))
