"""The client against a pod that verifies its callers' tokens itself (auth: in the spec): the
caller's token is sent, the rows are those its claim fixes (every page), and the pod's
401 and 403 become the client's Unauthorized and Forbidden."""

from __future__ import annotations

import pytest
from clientkit import ORDERS
from oidckit import hs256
from podkit import make_pod, serving

from datapic.client import Pod
from datapic.client.errors import Forbidden, Unauthorized

SECRET = "a shared HS256 secret of more than 32 bytes"
BOUND = {
    **ORDERS,
    "name": "client-bound-orders",
    "max_page_size": 50,
    "auth": {
        "jwt": {"secret_env": "ORDERS_JWT_SECRET"},
        "require": [],
        "bind": [{"parameter": "country", "claim": ["country"]}],
        "limits": {"requests_per_minute": 0, "concurrent_queries": 0},
    },
}


@pytest.fixture(scope="module")
def bound_url(tmp_path_factory, pod_env) -> str:
    work = tmp_path_factory.mktemp("client-bound")
    env = {**pod_env, "ORDERS_JWT_SECRET": SECRET}
    with serving(make_pod(work, BOUND), env, work / "pod.log") as client:
        yield str(client.base_url).rstrip("/")


def test_a_token_s_claim_fixes_the_rows_on_every_page(bound_url, reference):
    token = hs256(SECRET, country="DE")
    answer = Pod(bound_url, token=token).get_data(min_sales=100)
    expected = reference(BOUND, {"min_sales": 100, "country": "DE"})
    assert answer.num_rows > BOUND["max_page_size"]  # several pages, each with the token
    assert answer.equals(expected)


def test_no_token_and_a_bound_parameter_are_refused(bound_url):
    with pytest.raises(Unauthorized):
        Pod(bound_url, sign=False).get_data()
    with pytest.raises(Forbidden, match="'country'"):
        Pod(bound_url, token=hs256(SECRET, country="DE")).get_data(country="FR")
