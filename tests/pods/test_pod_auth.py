"""Pods with `auth:` compiled from real specs and run for real over the test lakehouse, their
callers' tokens issued by a real OIDC issuer on loopback (tests/support/oidckit.py) or signed
with an HS256 secret.

References: the issuer's own keys (PyJWT) for what is a valid token, and pyiceberg's full read
of the table queried by a plain DuckDB for the rows each caller may see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from oidckit import AUDIENCE, hs256, new_key, running_issuer, unsigned
from podkit import make_pod, pod_json, serving
from podrun import running_pod

from compiler.artifacts.emit import emit
from compiler.pipeline import compile_spec

pytestmark = pytest.mark.pod

SPEC = """\
resource_name: my-orders
depends_on: [{{namespace: sales, table: orders}}]
select: [order_id, region, product, sales]
filters: [region = :region, product = :product]
parameters:
  - {{name: region, type: string}}
  - {{name: product, type: string, default: laptop}}
order_by: [order_id]
result_cache: true
freshness_seconds: 60
auth:
  jwt: {{issuer: "{issuer}", audience: {audience}}}
  require: {{scope: "orders:read"}}
  bind:
    region: 'claims["https://example.com/region"]'
  limits: {{requests_per_minute: 0, concurrent_queries: 0}}
deploy: false
"""
REGION_CLAIM = "https://example.com/region"
PRODUCTS = ["laptop", "phone", "tablet", "dock"]
SECRET = "an HS256 secret of more than 32 bytes, for tests"


def compiled(work: Path, spec: str) -> Path:
    """The pod directory `datapic compile` writes for the spec."""
    path = work / "spec.yaml"
    path.write_text(spec)
    result = compile_spec(path)
    assert result.ok, [d.message for d in result.diagnostics]
    emit(result.files, work / result.pod.name)
    return work / result.pod.name


@pytest.fixture(scope="module")
def oidc_pod(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("auth")
    with running_issuer() as issuer:
        pod_dir = compiled(work, SPEC.format(issuer=issuer.url, audience=AUDIENCE))
        # Every unknown key id may fetch the keys again: the rotation test needs one refetch
        # whatever ran before (the bound on refetches is tests/runtime/test_auth.py's).
        env = {**pod_env, "DATAPIC_JWKS_REFETCH_SECONDS": "0"}
        with (
            running_pod(pod_dir, env, timeout=60, log_path=work / "pod.log") as url,
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            yield client, issuer, work / "pod.log"


@pytest.fixture(scope="module")
def orders(catalog):
    """The reference: pyiceberg's own full read of the table."""
    return catalog.load_table("sales.orders").scan().to_arrow()


def expected(orders, region: str, product: str) -> list[int]:
    connection = duckdb.connect()
    connection.register("t", orders)
    sql = "SELECT order_id FROM t WHERE region = ? AND product = ? ORDER BY order_id"
    return [row[0] for row in connection.execute(sql, [region, product]).fetchall()]


def token_for(issuer, region: str, **claims) -> str:
    return issuer.token(**{REGION_CLAIM: region, "scope": "orders:read", **claims})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_callers_rows_are_those_of_its_claim(oidc_pod, orders):
    client, issuer, _ = oidc_pod
    response = client.get(
        "/get_data", params={"product": "phone"}, headers=bearer(token_for(issuer, "APAC"))
    )
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [r["order_id"] for r in rows] == expected(orders, "APAC", "phone")
    assert {r["region"] for r in rows} == {"APAC"}


def _parts(token: str) -> list[str]:
    """The token and its non-empty segments longer than a word: none may be echoed."""
    return [token, *(part for part in token.split(".") if len(part) > 8)]


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims[REGION_CLAIM] = "EMEA"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _confused(issuer) -> str:
    """HS256 signed with the issuer's RSA public key (PEM) as the secret, under its kid."""
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.key.kid}
    payload = {"iss": issuer.url, "aud": AUDIENCE, "sub": "m", "exp": 2**31, REGION_CLAIM: "EMEA"}
    parts = [
        base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=").decode()
        for p in (header, payload)
    ]
    mac = hmac.new(issuer.key.public_pem, ".".join(parts).encode(), hashlib.sha256).digest()
    return ".".join([*parts, base64.urlsafe_b64encode(mac).rstrip(b"=").decode()])


def test_every_bad_token_is_a_json_401_or_403_and_nothing_leaks(oidc_pod):
    client, issuer, log = oidc_pod
    good = {REGION_CLAIM: "AMER", "scope": "orders:read"}
    bad = {
        "expired": issuer.token(**good, exp=1_000_000_000),
        "not yet valid": issuer.token(**good, nbf=2**31),
        "wrong audience": issuer.token(**good, aud="billing-api"),
        "wrong issuer": issuer.token(**good, iss="https://login.example.com"),
        "alg none": unsigned(**good, iss=issuer.url, aud=AUDIENCE),
        "hs/rs confusion": _confused(issuer),
        "tampered": _tampered(issuer.token(**good)),
        "unknown kid": issuer.token(key=new_key(), **good),
        "garbage header": "eyJub3QganNvbg.eyJzdWIiOiJ4In0.c2ln",
    }
    sent = []
    for name, token in bad.items():
        response = client.get("/get_data", headers=bearer(token))
        assert response.status_code == 401, name
        assert set(response.json()) == {"error"}, name
        assert response.headers["www-authenticate"].startswith("Bearer "), name
        assert not any(part in response.text for part in _parts(token))
        sent.append(token)
    forbidden = {
        "missing scope": issuer.token(**{REGION_CLAIM: "AMER"}),
        "missing region": issuer.token(scope="orders:read"),
    }
    for name, token in forbidden.items():
        response = client.get("/get_data", headers=bearer(token))
        assert response.status_code == 403, name
        assert "claims.scope" in response.text or REGION_CLAIM in response.text, name
        sent.append(token)
    assert client.get("/get_data").status_code == 401
    text = log.read_text()
    key = issuer.key.jwk
    secrets = [key["n"], *issuer.key.public_pem.decode().splitlines()[1:-1]]
    for secret in [*(part for token in sent for part in _parts(token)), *secrets]:
        assert secret not in text
    assert "Traceback" not in text


def test_a_bound_parameter_in_the_query_string_is_a_403_naming_it(oidc_pod):
    client, issuer, _ = oidc_pod
    response = client.get(
        "/get_data", params={"region": "EMEA"}, headers=bearer(token_for(issuer, "AMER"))
    )
    assert response.status_code == 403
    assert "'region'" in response.json()["error"]


def test_keys_rotate_without_a_restart(oidc_pod):
    client, issuer, _ = oidc_pod
    old = token_for(issuer, "AMER")
    assert client.get("/get_data", headers=bearer(old)).status_code == 200
    issuer.rotate()
    assert client.get("/get_data", headers=bearer(token_for(issuer, "AMER"))).status_code == 200
    assert client.get("/get_data", headers=bearer(old)).status_code == 401


def test_health_and_documents_stay_open(oidc_pod):
    client, _, _ = oidc_pod
    for route in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert client.get(route).status_code == 200, route


def test_two_callers_hammering_never_see_each_others_rows(oidc_pod, orders):
    client, issuer, log = oidc_pod
    callers = {
        "EMEA": token_for(issuer, "EMEA", sub="emea-app"),
        "LATAM": token_for(issuer, "LATAM", sub="latam-app"),
    }
    reference = {(r, p): expected(orders, r, p) for r in callers for p in PRODUCTS}
    jobs = [(region, PRODUCTS[i % len(PRODUCTS)]) for i in range(120) for region in callers]
    seen = Counter()
    lock = threading.Lock()

    def ask(job: tuple[str, str]) -> tuple[str, str, list[int]]:
        region, product = job
        response = client.get(
            "/get_data", params={"product": product}, headers=bearer(callers[region])
        )
        assert response.status_code == 200, response.text
        rows = response.json()
        assert {r["region"] for r in rows} <= {region}
        with lock:
            seen[region] += len(rows)
        return region, product, [r["order_id"] for r in rows]

    with ThreadPoolExecutor(8) as pool:
        for region, product, ids in pool.map(ask, jobs):
            assert ids == reference[region, product]
    for region in callers:
        assert seen[region] == sum(len(reference[region, PRODUCTS[i % 4]]) for i in range(120))
    # The result cache answered some of them: callers shared it, each within its binding.
    hits = re.search(
        r'datapic_result_cache_total\{result="hit"\} (\S+)', client.get("/metrics").text
    )
    assert hits is not None and float(hits.group(1)) > 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert {line.get("subject") for line in lines if line.get("status") == 200} >= {
        "emea-app",
        "latam-app",
    }


def test_a_page_token_issued_to_one_caller_gives_another_no_rows(oidc_pod, orders):
    client, issuer, _ = oidc_pod
    emea, amer = token_for(issuer, "EMEA", sub="a"), token_for(issuer, "AMER", sub="b")
    first = client.get("/get_data", params={"limit": 5}, headers=bearer(emea))
    page_token = first.headers["x-next-page-token"]
    stolen = client.get(
        "/get_data", params={"limit": 5, "page_token": page_token}, headers=bearer(amer)
    )
    assert stolen.status_code == 400
    assert "page_token" in stolen.json()["error"]
    second = client.get(
        "/get_data", params={"limit": 5, "page_token": page_token}, headers=bearer(emea)
    )
    assert [r["order_id"] for r in first.json() + second.json()] == expected(
        orders, "EMEA", "laptop"
    )[:10]


def test_the_contract_declares_the_scheme_and_leaves_bound_parameters_out(oidc_pod):
    client, issuer, _ = oidc_pod
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme["openIdConnectUrl"] == f"{issuer.url}/.well-known/openid-configuration"
    operation = document["paths"]["/get_data"]["get"]
    assert operation["security"] == [{"bearer": []}]
    assert "region" not in {p.get("name") for p in operation["parameters"]}
    assert operation["x-datapic-bound-parameters"] == {"region": f'claims["{REGION_CLAIM}"]'}
    assert {"401", "403", "429"} <= set(operation["responses"])


def test_the_pod_holds_to_its_openapi_document_with_a_valid_token(oidc_pod):
    client, issuer, log = oidc_pod
    schema = schemathesis.openapi.from_url(f"{client.base_url}/openapi.json")
    token = token_for(issuer, "APAC")
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().path == "/get_data")

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case) -> None:
        case.headers = {**(case.headers or {}), **bearer(token)}
        response = case.call()
        assert response.status_code < 500, response.text
        forged = "page_token" in (case.query or {})
        if not forged:
            assert response.status_code in (200, 400, 406), response.text

    check()
    assert "Traceback" not in log.read_text()


# --- HS256, and per-caller limits -------------------------------------------------------------

HS_SPEC = """\
resource_name: hs-orders
depends_on: [{namespace: sales, table: orders}]
select: [order_id, region]
filters: [region = :region]
parameters: [{name: region, type: string}]
order_by: [order_id]
auth:
  jwt: {secret_env: ORDERS_JWT_SECRET}
  bind: {region: claims.region}
  limits: {requests_per_minute: 2, concurrent_queries: 0}
deploy: false
"""


def test_an_hs256_pod_accepts_its_secrets_tokens_and_limits_each_caller(tmp_path, pod_env, orders):
    pod_dir = compiled(tmp_path, HS_SPEC)
    env = {**pod_env, "ORDERS_JWT_SECRET": SECRET}
    with running_pod(pod_dir, env, timeout=60, log_path=tmp_path / "pod.log") as url:
        client = httpx.Client(base_url=url, timeout=60)
        alice = bearer(hs256(SECRET, region="LATAM", sub="alice"))
        response = client.get("/get_data", headers=alice)
        assert response.status_code == 200
        ids = [r["order_id"] for r in response.json()]
        assert ids == sorted(
            set().union(
                *(
                    expected(orders, "LATAM", p)
                    for p in ["laptop", "phone", "tablet", "monitor", "keyboard", "headset", "dock"]
                )
            )
        )
        wrong = client.get("/get_data", headers=bearer(hs256("x" * 40, region="LATAM")))
        assert wrong.status_code == 401
        # Two requests a minute each: alice's third is a 429, bob still has his.
        assert client.get("/get_data", headers=alice).status_code == 200
        limited = client.get("/get_data", headers=alice)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert set(limited.json()) == {"error"}
        bob = bearer(hs256(SECRET, region="AMER", sub="bob"))
        assert client.get("/get_data", headers=bob).status_code == 200
        metrics = client.get("/metrics").text
        assert 'datapic_caller_limited_total{reason="rate"} 1.0' in metrics
    assert SECRET not in (tmp_path / "pod.log").read_text()


def test_an_hs256_pod_without_its_secret_does_not_start(tmp_path, pod_env):
    pod_dir = compiled(tmp_path, HS_SPEC)
    with (
        pytest.raises(RuntimeError),
        running_pod(pod_dir, pod_env, timeout=30, log_path=tmp_path / "pod.log"),
    ):
        pass
    assert "ORDERS_JWT_SECRET is not set" in (tmp_path / "pod.log").read_text()


BIG = {
    **pod_json(
        "big-orders",
        "sales.orders",
        "SELECT order_id, country, sales, r.i FROM source, range(100) r(i) ORDER BY ALL",
        columns=["order_id", "country", "sales", "i"],
        read_columns=["order_id", "country", "sales"],
    ),
    "max_page_size": 2_000_000,
    "auth": {
        "jwt": {"secret_env": "ORDERS_JWT_SECRET"},
        "require": [],
        "bind": [],
        "limits": {"requests_per_minute": 0, "concurrent_queries": 1},
    },
}


def test_a_caller_at_its_queries_at_once_gets_429_until_one_ends(tmp_path, pod_env):
    env = {**pod_env, "ORDERS_JWT_SECRET": SECRET}
    alice = f"Authorization: Bearer {hs256(SECRET, sub='alice')}\r\n".encode()
    with serving(make_pod(tmp_path, BIG), env, tmp_path / "pod.log") as client:
        host, port = str(client.base_url).removeprefix("http://").rstrip("/").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        # A 50 MB answer alice never reads: its sending blocks, and it stays under way.
        sock.sendall(b"GET /get_data?format=csv HTTP/1.1\r\nHost: pod\r\n" + alice + b"\r\n")
        sock.settimeout(120)
        assert sock.recv(1, socket.MSG_PEEK) == b"H"
        headers = {"Authorization": alice.decode().split(": ", 1)[1].strip()}
        refused = client.get("/get_data", params={"limit": 1}, headers=headers)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        bob = bearer(hs256(SECRET, sub="bob"))
        assert client.get("/get_data", params={"limit": 1}, headers=bob).status_code == 200
        sock.close()  # alice's answer ends when the pod notices: then she may ask again
        deadline = time.monotonic() + 60
        while client.get("/get_data", params={"limit": 1}, headers=headers).status_code == 429:
            assert time.monotonic() < deadline, "alice's ended answer still counts"
            time.sleep(0.2)
        metrics = client.get("/metrics").text
        assert 'datapic_caller_limited_total{reason="concurrency"}' in metrics


def test_a_made_up_key_id_and_a_slow_issuer_hold_up_no_caller_the_pod_can_verify(oidc_pod):
    client, issuer, _ = oidc_pod
    token = token_for(issuer, "AMER")
    assert client.get("/get_data", headers=bearer(token)).status_code == 200  # its key known
    # A hostile caller's made-up key id makes the pod fetch the keys, from an issuer that has
    # become slow: the fetch goes on while the known caller is answered.
    made_up = issuer.token(headers={"kid": "made-up"}, scope="orders:read")
    order: list[str] = []
    with ThreadPoolExecutor(2) as pool, issuer.trickling():
        hostile = pool.submit(client.get, "/get_data", headers=bearer(made_up))
        assert issuer.trickled.wait(30)
        response = client.get("/get_data", headers=bearer(token))
        order.append("known" if not hostile.done() else "after the fetch")
    assert response.status_code == 200
    assert hostile.result().status_code == 401
    assert order == ["known"]


def test_several_authorization_headers_are_no_token_whichever_comes_first(oidc_pod):
    client, issuer, _ = oidc_pod
    valid, other = token_for(issuer, "AMER"), token_for(issuer, "EMEA", sub="other")
    for headers in (
        [("Authorization", f"Bearer {valid}"), ("Authorization", "Bearer x.y.z")],
        [("Authorization", "Bearer x.y.z"), ("Authorization", f"Bearer {valid}")],
        [("Authorization", f"Bearer {valid}"), ("Authorization", f"Bearer {other}")],
    ):
        response = client.send(client.build_request("GET", "/get_data", headers=headers))
        assert response.status_code == 401, headers
        assert 'error="invalid_request"' in response.headers["www-authenticate"]
