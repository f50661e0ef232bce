"""Bearer tokens verified against a real OIDC issuer on loopback (discovery, JWKS over HTTP) and
an HS256 secret: each kind of bad token refused with a 401 that repeats nothing of it, claims
required (403), parameters bound to claims and typed (403 naming parameter or claim).

The reference is PyJWT signing with keys `cryptography` generated here; what the pod accepts
must be exactly the tokens the issuer signed for its audience and still valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from datapic_runtime.auth import LEEWAY_SECONDS, Gate, KeySet, Verifier, path_text
from datapic_runtime.auth import _fetch_json as fetch_json
from datapic_runtime.authspec import AuthSpec, Binding, JwtSpec, Requirement
from datapic_runtime.config import ParameterSpec
from datapic_runtime.errors import ConfigError, PodError
from oidckit import AUDIENCE, hs256, new_key, running_issuer, unsigned

SECRET = "s" * 40


def now() -> int:
    """The clock as tokens write it (at the test's own time: the module loads long before)."""
    return int(time.time())


@pytest.fixture
def issuer():
    with running_issuer() as issuer:
        yield issuer


def oidc(issuer, refetch_seconds: float = 60.0) -> Verifier:
    spec = JwtSpec(issuer=issuer.url, audience=AUDIENCE)
    return Verifier(spec, "pod", KeySet(issuer.url, refetch_seconds=refetch_seconds))


def refused(verifier: Verifier, token: str, status: int = 401) -> PodError:
    with pytest.raises(PodError) as caught:
        verifier.claims(token)
    error = caught.value
    assert error.status == status
    assert token not in error.message and token[-20:] not in error.message
    if status == 401:
        assert error.headers["WWW-Authenticate"].startswith('Bearer realm="pod"')
    return error


def test_a_token_of_the_issuer_for_the_audience_is_accepted_with_its_claims(issuer):
    claims = oidc(issuer).claims(issuer.token(region="EMEA"))
    assert (claims["sub"], claims["region"], claims["iss"]) == ("alice", "EMEA", issuer.url)


def test_an_ec_issuer_signs_es256_tokens_the_pod_accepts():
    with running_issuer("ES256") as issuer:
        assert oidc(issuer).claims(issuer.token())["sub"] == "alice"


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": -LEEWAY_SECONDS - 5},  # expired beyond the leeway (seconds from now)
        {"nbf": LEEWAY_SECONDS + 60},  # not yet valid
        {"iat": LEEWAY_SECONDS + 60},  # issued in the future
        {"aud": "another-api"},
        {"aud": None},
        {"iss": "https://evil.example.com"},
        {"iss": None},
        {"exp": None},  # a token that never expires is not accepted
    ],
    ids=["expired", "nbf", "iat", "audience", "no-aud", "issuer", "no-iss", "no-exp"],
)
def test_tokens_outside_their_claims_are_refused(issuer, claims):
    timed = {"exp", "nbf", "iat"}
    claims = {k: now() + v if k in timed and v is not None else v for k, v in claims.items()}
    refused(oidc(issuer), issuer.token(**claims))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(now() + 600)},
        {"exp": float("inf")},  # never expires
        {"nbf": float("nan")},  # comparisons with NaN are all false: no bound
        {"nbf": str(now())},
        {"iat": str(now())},
    ],
    ids=["exp-text", "exp-inf", "nbf-nan", "nbf-text", "iat-text"],
)
def test_time_claims_that_are_no_finite_number_are_refused(issuer, claims):
    refused(oidc(issuer), issuer.token(**claims))


def test_time_claims_may_be_fractional(issuer):
    token = issuer.token(exp=now() + 600.5, nbf=now() - 0.5, iat=now() - 0.25)
    assert oidc(issuer).claims(token)["sub"] == "alice"


def test_a_token_expired_within_the_leeway_is_still_accepted(issuer):
    assert oidc(issuer).claims(issuer.token(exp=now() - 5))["sub"] == "alice"


def test_alg_none_and_hs256_signed_with_the_public_key_are_refused(issuer):
    verifier = oidc(issuer)
    refused(verifier, unsigned(iss=issuer.url, aud=AUDIENCE))
    # HS/RS confusion: the public key's PEM as an HMAC secret, with the real kid.
    payload = {"iss": issuer.url, "aud": AUDIENCE, "sub": "mallory", "exp": now() + 600}
    header = {"kid": issuer.key.kid, "alg": "HS256"}
    segments = [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode())]
    signing = ".".join(segments).encode()
    mac = hmac.new(issuer.key.public_pem, signing, hashlib.sha256).digest()
    refused(verifier, ".".join([*segments, _b64(mac)]))


def test_a_tampered_payload_an_unknown_kid_and_garbage_are_refused(issuer):
    verifier = oidc(issuer)
    header, payload, signature = issuer.token(region="EMEA").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = _b64(json.dumps({**claims, "region": "US"}).encode())
    refused(verifier, f"{header}.{forged}.{signature}")
    refused(verifier, issuer.token(key=new_key()))  # signed by a key the issuer never had
    error = refused(verifier, "abc.def.ghi")
    assert "malformed" in error.message


def test_rotated_keys_new_kid_accepted_old_refused_without_a_new_verifier(issuer):
    verifier = oidc(issuer)
    old_token = issuer.token()
    assert verifier.claims(old_token)["sub"] == "alice"
    issuer.rotate()
    assert verifier.claims(issuer.token(sub="bob"))["sub"] == "bob"
    refused(verifier, old_token)


def test_a_flood_of_unknown_kids_fetches_the_keys_once(issuer):
    verifier = oidc(issuer, refetch_seconds=3600)
    verifier.claims(issuer.token())
    assert issuer.fetches == 1
    for _ in range(30):
        refused(verifier, issuer.token(key=new_key()))
    assert issuer.fetches == 2  # one refetch for the first unknown kid, none after


def test_an_unreachable_issuer_is_a_503_not_a_401():
    with running_issuer() as issuer:
        url, token = issuer.url, issuer.token()
    spec = JwtSpec(issuer=url, audience=AUDIENCE)
    verifier = Verifier(spec, "pod", KeySet(url, refetch_seconds=0))
    error = refused(verifier, token, 503)
    assert "Retry-After" in error.headers


def test_hs256_with_the_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("ORDERS_JWT_SECRET", SECRET)
    verifier = Verifier(JwtSpec(secret_env="ORDERS_JWT_SECRET"), "pod")
    assert verifier.claims(hs256(SECRET, region="EMEA"))["region"] == "EMEA"
    refused(verifier, hs256("t" * 40))
    refused(verifier, hs256(SECRET, exp=now() - 3600))
    key = new_key()  # an RS256 token on an HS256 pod
    refused(verifier, jwt.encode({"sub": "x", "exp": now() + 60}, key.private, algorithm="RS256"))


def test_hs256_checks_the_audience_when_the_spec_names_one(monkeypatch):
    monkeypatch.setenv("ORDERS_JWT_SECRET", SECRET)
    verifier = Verifier(JwtSpec(secret_env="ORDERS_JWT_SECRET", audience="a"), "pod")
    assert verifier.claims(hs256(SECRET, aud="a"))["sub"] == "alice"
    refused(verifier, hs256(SECRET, aud="b"))
    refused(verifier, hs256(SECRET))


@pytest.mark.parametrize("value", [None, "short"])
def test_a_missing_or_short_secret_stops_the_pod_at_start(monkeypatch, value):
    monkeypatch.delenv("ORDERS_JWT_SECRET", raising=False)
    if value:
        monkeypatch.setenv("ORDERS_JWT_SECRET", value)
    with pytest.raises(ConfigError, match="ORDERS_JWT_SECRET"):
        Verifier(JwtSpec(secret_env="ORDERS_JWT_SECRET"), "pod")


# --- the gate: headers, required claims, bound parameters --------------------------------------

PARAMETERS = (
    ParameterSpec(name="region", type="string", required=True),
    ParameterSpec(name="tenant", type="integer", required=True),
    ParameterSpec(name="since", type="date", required=False),
)


@pytest.fixture
def gate(monkeypatch):
    monkeypatch.setenv("ORDERS_JWT_SECRET", SECRET)
    spec = AuthSpec(
        jwt=JwtSpec(secret_env="ORDERS_JWT_SECRET"),
        require=(Requirement(path=("scope",), value="orders:read"),),
        bind=(
            Binding(parameter="region", path=("https://example.com/region",)),
            Binding(parameter="tenant", path=("org", "id")),
        ),
    )
    return Gate(spec, PARAMETERS, "pod")


def admitted(gate: Gate, **claims):
    caller = gate.admit(f"Bearer {hs256(SECRET, **claims)}")
    gate.authorize(caller)
    return caller


def test_missing_and_malformed_headers_are_401s(gate):
    for header, code in [
        (None, None),
        ("Basic dXNlcjpwdw==", "invalid_request"),
        ("Bearer", "invalid_request"),
        # Two Authorization headers, as the server reads them (joined, RFC 9110 5.3).
        (f"Bearer {hs256(SECRET)}, Bearer {hs256(SECRET)}", "invalid_request"),
    ]:
        with pytest.raises(PodError) as caught:
            gate.admit(header)
        challenge = caught.value.headers["WWW-Authenticate"]
        assert caught.value.status == 401
        assert (f'error="{code}"' in challenge) if code else ("error=" not in challenge)


@pytest.mark.parametrize(
    ("scope", "ok"),
    [
        ("orders:read", True),
        ("profile orders:read email", True),
        (["orders:write", "orders:read"], True),
        ("orders:read:all", False),
        ("orders:write", False),
        (None, False),
    ],
)
def test_a_required_claim_must_hold_the_value(gate, scope, ok):
    if ok:
        assert admitted(gate, scope=scope).subject == "alice"
        return
    with pytest.raises(PodError) as caught:
        admitted(gate, scope=scope)
    assert caught.value.status == 403
    assert "claims.scope" in caught.value.message


def test_bound_values_come_from_the_claims_typed(gate):
    caller = admitted(
        gate, scope="orders:read", **{"https://example.com/region": "EMEA"}, org={"id": "42"}
    )
    assert gate.bound_values(caller, [("since", "2024-01-01")]) == {"region": "EMEA", "tenant": 42}


@pytest.mark.parametrize(
    ("claims", "named"),
    [
        ({"org": {"id": 1}}, 'claims["https://example.com/region"]'),  # the claim is missing
        ({"https://example.com/region": "EMEA", "org": {"id": "x1"}}, "'tenant'"),  # bad type
        ({"https://example.com/region": "EMEA", "org": {"id": [1]}}, "'tenant'"),
        ({"https://example.com/region": {"a": 1}, "org": {"id": 1}}, "'region'"),
        ({"https://example.com/region": "EMEA", "org": 5}, "claims.org.id"),
    ],
)
def test_a_missing_or_mistyped_claim_is_a_403_naming_it(gate, claims, named):
    caller = admitted(gate, scope="orders:read", **claims)
    with pytest.raises(PodError) as caught:
        gate.bound_values(caller, [])
    assert caught.value.status == 403
    assert named in caught.value.message


def test_a_bound_parameter_in_the_query_string_is_a_403_naming_it(gate):
    caller = admitted(
        gate, scope="orders:read", **{"https://example.com/region": "EMEA"}, org={"id": 1}
    )
    with pytest.raises(PodError) as caught:
        gate.bound_values(caller, [("limit", "5"), ("tenant", "2")])
    assert caught.value.status == 403
    assert "'tenant'" in caught.value.message


def test_claim_paths_read_as_the_spec_writes_them():
    assert path_text(("a", "b")) == "claims.a.b"
    assert path_text(("https://x.com/r",)) == 'claims["https://x.com/r"]'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_down_issuer_is_asked_again_only_after_a_rest_and_known_keys_still_verify(issuer):
    now, calls = [0.0], []

    def fetch(url: str):
        calls.append(url)
        return fetch_json(url)

    keys = KeySet(issuer.url, fetch=fetch, clock=lambda: now[0], refetch_seconds=0)
    verifier = Verifier(JwtSpec(issuer=issuer.url, audience=AUDIENCE), "pod", keys)
    token = issuer.token()
    assert verifier.claims(token)["sub"] == "alice"
    issuer.close()  # the issuer goes down
    fetched = len(calls)
    refused(verifier, issuer.token(key=new_key()))  # an unknown kid: one failed fetch
    assert len(calls) == fetched + 1
    for _ in range(5):  # while it rests, no request waits for the issuer's timeouts
        refused(verifier, issuer.token(key=new_key()))
        assert verifier.claims(token)["sub"] == "alice"  # the known key still verifies
    assert len(calls) == fetched + 1
    now[0] += 10
    refused(verifier, issuer.token(key=new_key()))
    assert len(calls) == fetched + 2


def test_a_trickling_document_is_given_up_at_its_deadline(issuer):
    # Each byte comes well within the read timeout: only a deadline on the whole fetch ends it.
    with issuer.trickling(), pytest.raises(TimeoutError):
        fetch_json(f"{issuer.url}/jwks", deadline_seconds=1.0)


def test_a_known_key_verifies_while_another_request_fetches_from_a_slow_issuer(issuer):
    now = [0.0]
    keys = KeySet(issuer.url, clock=lambda: now[0], refetch_seconds=0)
    verifier = Verifier(JwtSpec(issuer=issuer.url, audience=AUDIENCE), "pod", keys)
    token = issuer.token()
    assert verifier.claims(token)["sub"] == "alice"
    now[0] += 7200  # the keys are due to be fetched again, and the issuer has become slow
    order: list[str] = []
    with ThreadPoolExecutor(2) as pool, issuer.trickling():
        fetching = pool.submit(lambda: (verifier.claims(token), order.append("fetcher")))
        assert issuer.trickled.wait(30)
        waiting = pool.submit(lambda: (verifier.claims(token), order.append("other")))
        waiting.result(timeout=60)
    fetching.result(timeout=60)
    # The other request did not wait for the fetch: it ended while the fetch went on.
    assert order == ["other", "fetcher"]
