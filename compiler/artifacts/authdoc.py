"""What a pod's `auth` block puts in its documents: pod.json's `auth` (the runtime's
authspec.py reads it) and openapi.json's security scheme, the bound parameters (not query
arguments) and the 401, 403 and 429 answers."""

from __future__ import annotations

import json
import re
from typing import Any

from ..spec.ir import Auth, Pod

SCHEME = "bearer"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def claim_text(path: tuple[str, ...]) -> str:
    """A claim path as a spec writes it.

    >>> claim_text(("a", "b")), claim_text(("https://x.com/r",))
    ('claims.a.b', 'claims["https://x.com/r"]')
    """
    return "claims" + "".join(f".{k}" if _NAME.match(k) else f"[{json.dumps(k)}]" for k in path)


def auth_document(auth: Auth) -> dict[str, Any]:
    """pod.json's `auth` (schemas/pod.schema.json)."""
    jwt = {
        key: value
        for key, value in (
            ("issuer", auth.jwt.issuer),
            ("audience", auth.jwt.audience),
            ("secret_env", auth.jwt.secret_env),
        )
        if value is not None
    }
    return {
        "jwt": jwt,
        "require": [{"claim": list(r.claim), "value": r.value} for r in auth.require],
        "bind": [{"parameter": b.parameter, "claim": list(b.claim)} for b in auth.bind],
        "limits": {
            "requests_per_minute": auth.limits.requests_per_minute,
            "concurrent_queries": auth.limits.concurrent_queries,
        },
    }


def bound_parameters(pod: Pod) -> dict[str, str]:
    """The parameters tokens fix, in spec order: name -> claim path."""
    if pod.auth is None:
        return {}
    return {b.parameter: claim_text(b.claim) for b in pod.auth.bind}


def security_scheme(auth: Auth) -> dict[str, Any]:
    """OpenID Connect discovery for an issuer; a plain JWT bearer for HS256 tokens."""
    jwt = auth.jwt
    if jwt.secret_env is None and jwt.issuer is not None:
        return {
            "type": "openIdConnect",
            "openIdConnectUrl": f"{jwt.issuer.rstrip('/')}/.well-known/openid-configuration",
            "description": f"An ID or access token of {jwt.issuer} for audience "
            f"{jwt.audience}, verified by the pod itself.",
        }
    return {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An HS256 JWT signed with the secret the pod shares with your backend, "
        "verified by the pod itself.",
    }


def auth_description(pod: Pod) -> str:
    """What /get_data's description says about callers: who verifies, what is required,
    which claims fix which parameters."""
    auth = pod.auth
    assert auth is not None
    lines = [
        "Callers send `Authorization: Bearer <token>`; the pod verifies it (401 without a "
        "valid one)."
    ]
    for r in auth.require:
        lines.append(f"The token's {claim_text(r.claim)} must hold {r.value!r} (else 403).")
    for name, claim in bound_parameters(pod).items():
        lines.append(
            f"Parameter `{name}` is fixed by the token's {claim} and is not a query argument "
            "(giving it is a 403)."
        )
    limits = auth.limits
    if limits.requests_per_minute or limits.concurrent_queries:
        lines.append(
            "Each caller (token subject) may send "
            + (
                f"{limits.requests_per_minute} requests a minute"
                if limits.requests_per_minute
                else "any number of requests"
            )
            + (
                f" and run {limits.concurrent_queries} queries at once"
                if limits.concurrent_queries
                else ""
            )
            + " per instance (else 429 with Retry-After)."
        )
    return " ".join(lines)


def who_authenticates(pod: Pod) -> str:
    """One sentence for service.yaml and the README: which layer decides who may call."""
    auth, public = pod.auth, pod.deployment.public
    if auth is None:
        if public:
            return "Nobody authenticates callers: the pod is public and has no auth block."
        return "Cloud Run authenticates callers (IAM: roles/run.invoker); the pod does not."
    kind = (
        f"ID or access tokens of {auth.jwt.issuer}"
        if auth.jwt.secret_env is None
        else f"HS256 tokens signed with the secret in {auth.jwt.secret_env}"
    )
    gate = (
        "Cloud Run lets anyone reach it (public)"
        if public
        else "Cloud Run first requires roles/run.invoker (IAM)"
    )
    return f"The pod authenticates callers itself: {kind} (Authorization: Bearer). {gate}."


AUTH_ERRORS = {
    "401": "No bearer token, or one the pod does not accept (signature, issuer, audience, "
    "expiry); WWW-Authenticate says which kind of failure.",
    "403": "The caller's token lacks a claim this pod requires, lacks or has a bad value for a "
    "claim that fixes a parameter, or the request gives a parameter the token fixes (the "
    "error names it); or the pod's principal may not read the table.",
    "429": "The caller (token subject) sent too many requests or runs too many queries at "
    "once; retry after the Retry-After delay.",
}
