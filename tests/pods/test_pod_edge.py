"""What a browser and a thrifty client see of a pod over real HTTP (uvicorn on loopback): CORS
as pod.json's `cors` says (preflights, simple requests, credentials, exposed headers, Vary),
none without it; gzip and br answers decoded by independent decoders (the gzip module,
brotli.decompress) equal the identity answer byte for byte, whole and streamed, in JSON, CSV
and NDJSON, and the identity answer equals the reference."""

from __future__ import annotations

import contextlib
import gzip
import json

import brotli
import pytest
from podkit import assert_rows_equal, make_pod, param, pod_json, serving

pytestmark = pytest.mark.pod

ALLOWED = "http://app.localhost:8000"
OTHER = "http://evil.localhost:8000"
EXPOSED = {"x-next-page-token", "link", "etag", "retry-after"}


def orders(name: str, cors: dict | None) -> dict:
    pod = pod_json(
        name,
        "sales.orders",
        "SELECT order_id, country, product, sales FROM source WHERE sales >= $min_sales "
        "ORDER BY order_id",
        columns=["order_id", "country", "product", "sales"],
        read_columns=["order_id", "country", "product", "sales"],
        parameters=[param("min_sales", "number", 0)],
    )
    pod["max_page_size"] = 3000
    if cors is not None:
        pod["cors"] = {"allow_credentials": False, "max_age_seconds": 600, **cors}
    return pod


POD = orders("edge-orders", {"allow_origins": [ALLOWED, "https://app.example.com"]})
CREDENTIALS = orders("edge-credentials", {"allow_origins": [ALLOWED], "allow_credentials": True})
ANY = orders("edge-any", {"allow_origins": ["*"], "max_age_seconds": 5})
NONE = orders("edge-none", None)


@pytest.fixture(scope="module")
def pods(tmp_path_factory, pod_env):
    """name -> a client of that pod, each running."""
    work = tmp_path_factory.mktemp("edge")
    clients = {}
    with contextlib.ExitStack() as stack:
        for pod in (POD, CREDENTIALS, ANY, NONE):
            client = serving(make_pod(work, pod), pod_env, work / f"{pod['name']}.log")
            clients[pod["name"]] = stack.enter_context(client)
        yield clients


def preflight(client, origin: str, method="GET", headers="authorization, if-none-match"):
    return client.options(
        "/get_data",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def vary(response) -> set[str]:
    """The Vary names of a response (or of its headers)."""
    headers = getattr(response, "headers", response)
    return {v.strip().lower() for v in headers.get("vary", "").split(",")}


# --- CORS ---------------------------------------------------------------------------------------


def test_a_preflight_from_an_allowed_origin_is_granted(pods):
    response = preflight(pods["edge-orders"], ALLOWED)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert set(response.headers["access-control-allow-methods"].split(", ")) == {"GET", "HEAD"}
    allowed = set(response.headers["access-control-allow-headers"].split(", "))
    assert {"authorization", "if-none-match"} <= allowed
    assert response.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in response.headers
    assert "origin" in vary(response)


@pytest.mark.parametrize(
    ("origin", "method", "headers", "says"),
    [
        (OTHER, "GET", "authorization", f"origin '{OTHER}'"),
        (ALLOWED + "/", "GET", "", "origin"),  # not the origin as listed
        (ALLOWED, "DELETE", "", "method 'DELETE'"),
        (ALLOWED, "GET", "x-api-key", "header 'x-api-key'"),
    ],
)
def test_a_refused_preflight_grants_nothing_and_says_why(pods, origin, method, headers, says):
    response = preflight(pods["edge-orders"], origin, method, headers)
    assert response.status_code == 403
    assert says in response.json()["error"]
    assert not [h for h in response.headers if h.startswith("access-control-")]


def test_an_allowed_origin_reads_the_answer_and_the_paging_headers(pods, reference):
    response = pods["edge-orders"].get(
        "/get_data", params={"min_sales": 100, "limit": 5}, headers={"Origin": ALLOWED}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = response.headers["access-control-expose-headers"].lower().split(", ")
    assert set(exposed) == EXPOSED
    assert "x-next-page-token" in response.headers
    assert {"origin", "accept", "accept-encoding"} <= vary(response)
    assert_rows_equal(response.json(), reference(POD, {"min_sales": 100.0})[:5])


@pytest.mark.parametrize("origin", [OTHER, None])
def test_another_origin_gets_no_grant_but_the_answer_varies_on_origin(pods, origin):
    headers = {"Origin": origin} if origin else {}
    for path in ("/get_data?limit=2", "/no-such-route"):
        response = pods["edge-orders"].get(path, headers=headers)
        assert not [h for h in response.headers if h.startswith("access-control-")]
        # A shared cache must not hand this answer to the allowed origin.
        assert "origin" in vary(response)


def test_an_error_is_readable_by_the_allowed_page(pods):
    response = pods["edge-orders"].get(
        "/get_data", params={"min_sales": "lots"}, headers={"Origin": ALLOWED}
    )
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == ALLOWED


def test_credentials_are_allowed_only_where_the_spec_says(pods):
    response = pods["edge-credentials"].get("/get_data?limit=1", headers={"Origin": ALLOWED})
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"
    assert (
        preflight(pods["edge-credentials"], ALLOWED).headers["access-control-allow-credentials"]
        == "true"
    )


def test_any_origin_gets_a_star(pods):
    response = pods["edge-any"].get("/get_data?limit=1", headers={"Origin": OTHER})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    granted = preflight(pods["edge-any"], OTHER)
    assert granted.status_code == 204
    assert granted.headers["access-control-allow-origin"] == "*"
    assert granted.headers["access-control-max-age"] == "5"


def test_a_pod_without_cors_sends_no_cors_header(pods):
    response = pods["edge-none"].get("/get_data?limit=1", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert not [h for h in response.headers if h.startswith("access-control-")]
    assert "origin" not in vary(response)
    refused = preflight(pods["edge-none"], ALLOWED)
    assert refused.status_code == 405  # as before: OPTIONS is no method of the pod
    assert not [h for h in refused.headers if h.startswith("access-control-")]


# --- compression --------------------------------------------------------------------------------

DECODE = {"gzip": gzip.decompress, "br": brotli.decompress}
# A whole answer (the last page, small in Arrow terms) and a streamed one (more pages follow).
WHOLE = "/get_data?min_sales=45000"
STREAMED = "/get_data?min_sales=0&limit=3000"


def raw(client, url: str, accept_encoding: str, method="GET"):
    """(headers, the body's bytes as sent, undecoded)."""
    with client.stream(method, url, headers={"Accept-Encoding": accept_encoding}) as response:
        assert response.status_code == 200
        return response.headers, b"".join(response.iter_raw())


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson"])
@pytest.mark.parametrize("url", [WHOLE, STREAMED])
def test_gzip_and_br_decode_to_the_identity_answer(pods, fmt, url):
    client = pods["edge-orders"]
    url = f"{url}&format={fmt}"
    plain_headers, plain = raw(client, url, "identity")
    assert "content-encoding" not in plain_headers
    assert len(plain) > 1024
    whole = "content-length" in plain_headers
    assert whole == (url.startswith(WHOLE)), (dict(plain_headers), len(plain))
    for coding, decode in DECODE.items():
        headers, body = raw(client, url, f"{coding}, identity;q=0.5")
        assert headers["content-encoding"] == coding
        assert decode(body) == plain
        assert len(body) < len(plain) / 2
        assert "accept-encoding" in vary(headers)
        assert headers["content-type"] == plain_headers["content-type"]
        if whole:
            assert headers["content-length"] == str(len(body))
            head, empty = raw(client, url, f"{coding}, identity;q=0.5", method="HEAD")
            assert empty == b"" and head["content-length"] == str(len(body))
            assert head["content-encoding"] == coding
        else:
            assert "content-length" not in headers
            assert "x-next-page-token" in headers


def test_the_identity_answer_is_the_reference(pods, reference):
    client = pods["edge-orders"]

    _, body = raw(client, WHOLE, "identity")
    assert_rows_equal(json.loads(body), reference(POD, {"min_sales": 45000.0}))


@pytest.mark.parametrize(
    "accept_encoding", ["gzip;q=0, br;q=0", "identity", "deflate", "br;q=0.5, identity", ""]
)
def test_codings_refused_or_outweighed_give_identity(pods, accept_encoding):
    headers, body = raw(pods["edge-orders"], WHOLE, accept_encoding)
    assert "content-encoding" not in headers
    assert headers["content-length"] == str(len(body))
    assert body.startswith(b"[{")


def test_arrow_and_parquet_are_never_encoded(pods):
    for fmt, magic in (("arrow", b"\xff\xff\xff\xff"), ("parquet", b"PAR1")):
        headers, body = raw(pods["edge-orders"], f"{WHOLE}&format={fmt}", "gzip, br")
        assert "content-encoding" not in headers
        assert body.startswith(magic)


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_the_pods_etag_names_the_coding_and_revalidates(pods, coding):
    client = pods["edge-orders"]
    plain, _ = raw(client, WHOLE, "identity")
    encoded, _ = raw(client, WHOLE, coding)
    tag = plain["etag"]
    assert tag.startswith('"') and tag.endswith('"')
    assert encoded["etag"] == tag[:-1] + f'-{coding}"'
    for accept, held in (("identity", tag), (coding, encoded["etag"])):
        again = client.get(WHOLE, headers={"Accept-Encoding": accept, "If-None-Match": held})
        assert again.status_code == 304, again.text
        assert again.headers["etag"] == held and again.content == b""
        assert "content-encoding" not in again.headers
        assert "accept-encoding" in vary(again)
