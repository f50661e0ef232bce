"""Who is calling: the bearer token of a /get_data request verified (auth.spec's `jwt`), the
claims the pod requires checked, and the parameters the token fixes (`bind`) read from it.

Two ways to verify: an OIDC issuer (its discovery document names its JWKS; keys are cached,
fetched again when a token names a key id the pod does not know, at most once per
DATAPIC_JWKS_REFETCH_SECONDS so a flood of made-up key ids cannot hammer the issuer; one request
fetches while those whose key is known go on), or HS256
with a secret shared with the backend that signs the tokens (`secret_env`). Only the
algorithms of the key's own family are accepted: never `none`, never HS256 with a public key.
`exp` is required, and `exp`, `nbf` and `iat` are held to the clock with LEEWAY_SECONDS.

Answers: no or a bad token is a 401 with `WWW-Authenticate: Bearer`; a token without a
required claim, or whose claim cannot fix its parameter, is a 403. No message repeats the token
or says more than the kind of failure.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from .authspec import AuthSpec, Binding, JwtSpec, Requirement
from .config import ParameterSpec
from .errors import RETRY_AFTER_SECONDS, ConfigError, PodError
from .secrets import remember
from .values import EXAMPLES, from_text

log = logging.getLogger("datapic.pod")

LEEWAY_SECONDS = 60
REFETCH_ENV = "DATAPIC_JWKS_REFETCH_SECONDS"
_DEFAULT_REFETCH_SECONDS = 60.0
# Keys are fetched again after this long even when every token's key id is known.
KEYS_TTL_SECONDS = 3600.0
_FETCH_TIMEOUT = (3.0, 5.0)
# The longest one document of the issuer may take to arrive, however it trickles.
FETCH_DEADLINE_SECONDS = 10.0
_FAILURE_REST = 2.0
_MAX_DOCUMENT_BYTES = 1 << 20
# A longer Authorization header is no token this pod verifies.
_MAX_TOKEN_BYTES = 16 * 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TIME_CLAIMS = ("exp", "nbf", "iat")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$")
# Google writes either form in its ID tokens' iss (Google's OIDC documentation).
_GOOGLE = "https://accounts.google.com"
# HS256 keys shorter than the hash are guessable offline from one token (RFC 7518 3.2).
MIN_SECRET_BYTES = 32
# The signing algorithms of each key type (for EC, of each curve).
_RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC = {"P-256": ("ES256",), "P-384": ("ES384",), "P-521": ("ES512",)}
_OKP = ("EdDSA",)


# A verifying key of the issuer (a `cryptography` public key, built once per fetch) and the
# algorithms it may verify.
_Key = tuple[Any, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller: the token's `sub` ('' when it has none) and all its claims."""

    subject: str
    claims: Mapping[str, Any]


# --- the answers --------------------------------------------------------------------------------


def unauthorized(realm: str, error: str | None, message: str) -> PodError:
    """A 401: `error` is RFC 6750's code (None when no token was given at all)."""
    challenge = f'Bearer realm="{realm}"' + (f', error="{error}"' if error else "")
    return PodError(401, message, {"WWW-Authenticate": challenge})


def forbidden(realm: str, message: str) -> PodError:
    """A 403 for a valid token that may not have this answer."""
    challenge = f'Bearer realm="{realm}", error="insufficient_scope"'
    return PodError(403, message, {"WWW-Authenticate": challenge})


def _invalid(realm: str, message: str = "the bearer token is not valid") -> PodError:
    return unauthorized(realm, "invalid_token", message)


# --- keys ---------------------------------------------------------------------------------------


def _fetch_json(url: str, deadline_seconds: float = FETCH_DEADLINE_SECONDS) -> Any:
    """A JSON document over HTTP(S), bounded in size and in total time: the timeouts bound
    each wait for a byte, so an issuer sending a byte a second would otherwise hold the fetch
    for as long as it liked."""
    deadline = time.monotonic() + deadline_seconds
    with requests.get(url, timeout=_FETCH_TIMEOUT, stream=True, allow_redirects=False) as r:
        r.raise_for_status()
        content = bytearray()
        while len(content) <= _MAX_DOCUMENT_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: not read within {deadline_seconds:g} s")
            chunk = r.raw.read1(_MAX_DOCUMENT_BYTES + 1 - len(content), decode_content=True)
            if not chunk:
                break
            content += chunk
    if len(content) > _MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url}: document larger than {_MAX_DOCUMENT_BYTES} bytes")
    return json.loads(content)


def _algorithms(jwk: Mapping[str, Any]) -> tuple[str, ...]:
    """The signing algorithms a JWK may verify: its family's, narrowed to its `alg` if given."""
    kty = jwk.get("kty")
    family = _RSA if kty == "RSA" else _EC.get(jwk.get("crv"), ()) if kty == "EC" else ()
    family = _OKP if kty == "OKP" else family
    alg = jwk.get("alg")
    return tuple(a for a in family if alg is None or a == alg)


class KeySet:
    """The signing keys of one OIDC issuer: discovery, then its jwks_uri, cached."""

    def __init__(
        self,
        issuer: str,
        fetch: Callable[[str], Any] = _fetch_json,
        clock: Callable[[], float] = time.monotonic,
        refetch_seconds: float | None = None,
    ) -> None:
        self.issuer = issuer
        self._fetch, self._clock = fetch, clock
        if refetch_seconds is None:
            refetch_seconds = float(os.environ.get(REFETCH_ENV, _DEFAULT_REFETCH_SECONDS))
        self._refetch_seconds = refetch_seconds
        self._keys: dict[str | None, _Key] = {}
        self._fetched_at: float | None = None
        self._refetched_at: float | None = None
        # After a failed fetch the issuer is left alone for a while: requests neither wait for
        # its timeouts one after another nor hammer it while it is down.
        self._failed_at: float | None = None
        self._lock = threading.Lock()  # the state above; never held while fetching
        self._fetching = threading.Lock()  # one fetch at a time
        self._attempts = 0  # fetches ended, so a request that waited for one does not repeat it

    def key(self, kid: str | None, realm: str) -> _Key:
        """The JWK with this key id and its algorithms; 401 if the issuer has none such.

        The keys are fetched outside the lock, by one request at a time: a request whose key
        is known uses it while another fetches, so a slow or down issuer (or a caller sending
        made-up key ids to make the pod fetch) never holds up callers the pod can verify."""
        with self._lock:
            wanted, attempt = self._wants_fetch(kid, self._clock()), self._attempts
            found = self._lookup(kid)
        if wanted:
            self._fetch_once(attempt, wait=found is None)
            with self._lock:
                found = self._lookup(kid)
        if self._fetched_at is None:
            raise PodError(
                503,
                "the token issuer cannot be reached; retry later",
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
        if found is None:
            raise _invalid(realm)
        return found

    def _wants_fetch(self, kid: str | None, now: float) -> bool:
        """Whether this request should have the keys fetched (under the lock)."""
        stale = self._fetched_at is None or now - self._fetched_at >= KEYS_TTL_SECONDS
        resting = self._failed_at is not None and now - self._failed_at < _FAILURE_REST
        unknown = self._lookup(kid) is None
        return not resting and (stale or (unknown and self._may_refetch(now)))

    def _lookup(self, kid: str | None) -> _Key | None:
        found = self._keys.get(kid)
        if found is None and kid is None and len(self._keys) == 1:
            found = next(iter(self._keys.values()))
        return found

    def _may_refetch(self, now: float) -> bool:
        """Whether an unknown key id may fetch the keys again (once per refetch interval)."""
        if self._refetched_at is not None and now - self._refetched_at < self._refetch_seconds:
            return False
        self._refetched_at = now
        return True

    def _fetch_once(self, attempt: int, wait: bool) -> None:
        """Fetch the keys unless another request is (`wait`: for its outcome) or has since
        `attempt`; on failure keep the ones known (tokens they sign still verify)."""
        if not self._fetching.acquire(blocking=wait):
            return
        try:
            if self._attempts != attempt:  # fetched (or failed) while this request waited
                return
            try:
                keys, failed = self._load(), False
            except Exception as exc:  # noqa: BLE001 - any failure of the issuer is the same to callers
                log.warning("keys of issuer %s not fetched (%s)", self.issuer, type(exc).__name__)
                keys, failed = None, True
            with self._lock:
                now, self._attempts = self._clock(), self._attempts + 1
                if failed:
                    self._failed_at = now
                else:
                    self._keys, self._fetched_at, self._failed_at = keys, now, None
        finally:
            self._fetching.release()

    def _load(self) -> dict[str | None, _Key]:
        base = self.issuer.rstrip("/")
        discovery = self._fetch(f"{base}/.well-known/openid-configuration")
        if discovery.get("issuer", "").rstrip("/") != base:
            raise ValueError("the discovery document names another issuer")
        jwks_uri = discovery["jwks_uri"]
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", f"{base}/")):
            raise ValueError("jwks_uri is neither https nor under the issuer")
        keys: dict[str | None, _Key] = {}
        for jwk in self._fetch(jwks_uri).get("keys", []):
            usable = isinstance(jwk, dict) and jwk.get("use", "sig") == "sig"
            algorithms = _algorithms(jwk) if usable else ()
            if algorithms:
                try:
                    keys[jwk.get("kid")] = (jwt.PyJWK(jwk, algorithm=algorithms[0]).key, algorithms)
                except jwt.PyJWTError:  # a key this PyJWT cannot read verifies nothing
                    continue
        return keys


# --- verifying ----------------------------------------------------------------------------------


class Verifier:
    """Verifies one pod's bearer tokens as its `jwt` block says."""

    def __init__(self, spec: JwtSpec, realm: str, keys: KeySet | None = None) -> None:
        self.spec, self.realm = spec, realm
        self._secret: bytes | None = None
        self._keys = keys
        if spec.secret_env is not None:
            self._secret = _secret(spec.secret_env)
        elif keys is None:
            self._keys = KeySet(spec.issuer or "")

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of `token`; 401 for any token this pod does not accept."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid(self.realm, "the bearer token is malformed") from None
        alg = header.get("alg")
        if self._secret is not None:
            key: Any = self._secret
            allowed: Sequence[str] = ("HS256",)
        else:
            kid = header.get("kid")
            key, allowed = self._keys.key(kid if isinstance(kid, str) else None, self.realm)
        if alg not in allowed:
            raise _invalid(self.realm)
        return self._decode(token, key, alg)

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        spec = self.spec
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=spec.audience,
                leeway=LEEWAY_SECONDS,
                options={
                    "require": ["exp"] + (["iss"] if spec.issuer else []),
                    "verify_aud": spec.audience is not None,
                    "verify_iss": False,  # below: a trailing slash, Google's two forms
                },
            )
        except jwt.ExpiredSignatureError:
            raise _invalid(self.realm, "the bearer token has expired") from None
        except jwt.PyJWTError:
            raise _invalid(self.realm) from None
        if spec.issuer is not None and not same_issuer(claims.get("iss"), spec.issuer):
            raise _invalid(self.realm)
        if not all(_numeric_date(claims, name) for name in _TIME_CLAIMS):
            raise _invalid(self.realm)
        return claims


def _numeric_date(claims: Mapping[str, Any], name: str) -> bool:
    """Whether the claim, if present, is a finite JSON number (RFC 7519 2: NumericDate): PyJWT
    reads the text `"exp": "9999999999"` as the number, which no issuer means."""
    if name not in claims:
        return True
    value = claims[name]
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def same_issuer(claimed: Any, issuer: str) -> bool:
    """Whether a token's `iss` names the configured issuer (a trailing slash aside; Google's
    ID tokens may say `accounts.google.com` without the scheme).

    >>> same_issuer("accounts.google.com", "https://accounts.google.com")
    True
    >>> same_issuer("https://login.example.com", "https://login.example.com/")
    True
    >>> same_issuer("login.example.com", "https://login.example.com")
    False
    """
    if not isinstance(claimed, str):
        return False
    if issuer.rstrip("/") == _GOOGLE and claimed == "accounts.google.com":
        return True
    return claimed.rstrip("/") == issuer.rstrip("/")


def _secret(name: str) -> bytes:
    """The HS256 secret from the environment: at start-up, so a pod without it does not serve."""
    value = os.environ.get(name, "")
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        state = "is not set" if not value else f"is shorter than {MIN_SECRET_BYTES} bytes"
        raise ConfigError(f"auth.jwt.secret_env: environment variable {name} {state}")
    remember([value])
    return value.encode("utf-8")


# --- the gate -----------------------------------------------------------------------------------


class Gate:
    """Admits /get_data callers: their token verified, required claims held, bound values."""

    def __init__(
        self, spec: AuthSpec, parameters: Sequence[ParameterSpec], realm: str, **kwargs: Any
    ) -> None:
        self.spec, self.realm = spec, realm
        self.verifier = Verifier(spec.jwt, realm, **kwargs)
        self._parameters = {p.name: p for p in parameters}

    def admit(self, authorization: str | None) -> Caller:
        """The verified caller of a request with this Authorization header; else a 401."""
        claims = self.verifier.claims(_bearer(authorization, self.realm))
        subject = claims.get("sub")
        return Caller(subject if isinstance(subject, str) else "", claims)

    def authorize(self, caller: Caller) -> None:
        """A 403 unless the caller's claims hold everything the pod requires."""
        for requirement in self.spec.require:
            if not _holds(claim_at(caller.claims, requirement.path), requirement):
                raise forbidden(
                    self.realm,
                    f"the token's claim {path_text(requirement.path)} does not hold "
                    f"{requirement.value!r}, which this pod requires",
                )

    def bound_values(self, caller: Caller, given: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """The bound parameters' typed values from the caller's claims; 403 when the query
        string gives one of them, or a claim is missing or not of its parameter's type."""
        for name, _ in given:
            binding = self._binding(name)
            if binding is not None:
                raise forbidden(
                    self.realm,
                    f"parameter '{name}' is fixed by the caller's token "
                    f"({path_text(binding.path)}) and cannot be given",
                )
        return {b.parameter: self._value(b, caller.claims) for b in self.spec.bind}

    def _binding(self, name: str) -> Binding | None:
        return next((b for b in self.spec.bind if b.parameter == name), None)

    def _value(self, binding: Binding, claims: Mapping[str, Any]) -> Any:
        spec = self._parameters[binding.parameter]
        claim = claim_at(claims, binding.path)
        where = path_text(binding.path)
        if claim is _MISSING:
            raise forbidden(self.realm, f"the token has no claim {where} (it fixes '{spec.name}')")
        try:
            return from_text(spec.type, _claim_text(claim))
        except ValueError:
            raise forbidden(
                self.realm,
                f"parameter '{spec.name}' is fixed by the token's claim {where}, which is not "
                f"{EXAMPLES[spec.type]}",
            ) from None


def _bearer(authorization: str | None, realm: str) -> str:
    if authorization is None:
        raise unauthorized(realm, None, "this pod needs a bearer token (Authorization: Bearer …)")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or len(token) > _MAX_TOKEN_BYTES or not _TOKEN.match(token):
        raise unauthorized(realm, "invalid_request", "the Authorization header is no bearer token")
    return token


_MISSING = object()


def claim_at(claims: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The claim at `path` (keys into nested objects), or _MISSING."""
    value: Any = claims
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
    return value


def path_text(path: Sequence[str]) -> str:
    """A claim path as the spec writes it: `claims.region`, `claims["https://x/y"]`."""
    parts = [f".{key}" if _NAME.fullmatch(key) else f"[{json.dumps(key)}]" for key in path]
    return "claims" + "".join(parts)


def _holds(claim: Any, requirement: Requirement) -> bool:
    """Whether a claim is, or contains, the required value (a scope string word by word)."""
    wanted = requirement.value
    if claim is _MISSING:
        return False
    if isinstance(claim, list):
        return any(_equal(item, wanted) for item in claim)
    if isinstance(claim, str) and isinstance(wanted, str):
        return claim == wanted or wanted in claim.split()
    return _equal(claim, wanted)


def _equal(claim: Any, wanted: Any) -> bool:
    return isinstance(claim, bool) is isinstance(wanted, bool) and claim == wanted


def _claim_text(claim: Any) -> str:
    """A scalar claim as query-string text, for its parameter's own grammar."""
    if isinstance(claim, bool):
        return "true" if claim else "false"
    if isinstance(claim, int | float | str):
        return str(claim)
    raise ValueError("not a scalar")
