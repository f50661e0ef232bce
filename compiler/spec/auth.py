"""A spec's `auth:` block over datapic.yaml's: the pod's checked `Auth`, or None.

The spec's keys win over the project's key by key: `jwt` whole, `require` claim by claim and
`limits` limit by limit (a spec that adds a requirement keeps the project's: `hd: example.com`
must not fall away because a spec asks for `email_verified` too); `bind` is the spec's own;
`auth: false` turns a project's auth off for one pod. Checked here, at their lines:
the jwt form (DP0701), an issuer that is not https (DP0702: plain http only for a loopback
issuer, as tests and local issuers run), a secret_env that is no env name, is set in plain
env or is not mapped to a Secret Manager secret (DP0703), claim paths (DP0704), and bound
parameters (DP0705 undeclared, DP0706 list parameters, which no single claim value fixes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..diagnostics import Code, Diagnostic, Span, error, warning
from .ir import Auth, CallerLimits, ClaimBinding, ClaimRequirement, Deployment, Jwt, Parameter
from .load import Document
from .project import ProjectDefaults

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEGMENT = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"([^"\\]+)"|'([^'\\]+)')\s*\]""")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_claim_path(text: str) -> tuple[str, ...] | None:
    """The keys of a claims path, or None when it is not one.

    >>> parse_claim_path("claims.a.b"), parse_claim_path('claims["https://x.com/r"]')
    (('a', 'b'), ('https://x.com/r',))
    >>> parse_claim_path("claims"), parse_claim_path("token.region")
    (None, None)
    """
    text = text.strip()
    if not text.startswith("claims"):
        return None
    keys: list[str] = []
    position = len("claims")
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            return None
        keys.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    return tuple(keys) or None


class _Reader:
    """Reads one merged auth block; each key is located in the spec or in datapic.yaml."""

    def __init__(self, document: Document, defaults: ProjectDefaults, block: Mapping) -> None:
        self.doc, self.defaults, self.block = document, defaults, block
        self.diagnostics: list[Diagnostic] = []

    def span(self, *path: str) -> Span:
        merged = path[0] in ("require", "limits") and len(path) > 1
        # A merged key's entry stands in the spec only if the spec wrote that entry.
        if path[0] in self.block and (not merged or path[1] in self.block[path[0]]):
            return self.doc.span(("auth", *path))
        return self.defaults.auth_spans.get(path[0], self.doc.span(("auth",)))

    def fail(self, code: Code, message: str, *path: str) -> None:
        self.diagnostics.append(error(code, message, self.span(*path)))

    def warn(self, code: Code, message: str, *path: str) -> None:
        self.diagnostics.append(warning(code, message, self.span(*path)))

    def jwt(self, raw: Mapping[str, Any], deployment: Deployment) -> Jwt:
        issuer, audience, secret_env = (raw.get(k) for k in ("issuer", "audience", "secret_env"))
        if (issuer is None) == (secret_env is None):
            self.fail(
                Code.AUTH_JWT_FORM,
                "auth.jwt: give either issuer (OIDC, with audience) or secret_env (HS256)",
                "jwt",
            )
        elif secret_env is None and audience is None:
            self.fail(Code.AUTH_JWT_FORM, "auth.jwt: an OIDC issuer needs an audience", "jwt")
        if issuer is not None:
            self.issuer(issuer)
        if secret_env is not None:
            self.secret_env(secret_env, deployment)
            if audience is None:
                self.warn(
                    Code.SHARED_SECRET_WITHOUT_AUDIENCE,
                    f"auth.jwt: without an audience, every pod verifying with {secret_env} "
                    "accepts the tokens signed for any other of them; set audience (the aud "
                    "claim your backend signs) so each pod takes only its own",
                    "jwt",
                )
        return Jwt(issuer=issuer, audience=audience, secret_env=secret_env, span=self.span("jwt"))

    def issuer(self, issuer: str) -> None:
        parts = urlsplit(issuer)
        loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if (parts.scheme != "https" and not loopback) or not parts.hostname:
            self.fail(
                Code.AUTH_ISSUER_NOT_HTTPS,
                f"auth.jwt.issuer {issuer!r}: an issuer's keys are fetched over https (plain "
                "http only from 127.0.0.1 or localhost)",
                "jwt",
                "issuer",
            )
        elif parts.query or parts.fragment:
            self.fail(
                Code.AUTH_ISSUER_NOT_HTTPS,
                f"auth.jwt.issuer {issuer!r}: an issuer URL has no query or fragment",
                "jwt",
                "issuer",
            )

    def secret_env(self, name: str, deployment: Deployment) -> None:
        where = ("jwt", "secret_env")
        if not _ENV_NAME.match(name):
            message = f"auth.jwt.secret_env {name!r} is not an environment variable name"
            self.fail(Code.AUTH_SECRET_ENV, message, *where)
        elif name in dict(deployment.env):
            message = (
                f"auth.jwt.secret_env {name} is set in plain text under deploy.env: the shared "
                "secret comes from Secret Manager, under deploy.secrets"
            )
            self.fail(Code.AUTH_SECRET_ENV, message, *where)
        elif deployment.enabled and name not in {s.env for s in deployment.secrets}:
            message = (
                f"auth.jwt.secret_env {name} is not mapped to a Secret Manager secret: add "
                f"deploy.secrets: {{{name}: SECRET_NAME}} (or deploy: false)"
            )
            self.fail(Code.AUTH_SECRET_ENV, message, *where)

    def require(self, raw: Mapping[str, Any]) -> tuple[ClaimRequirement, ...]:
        found = []
        for claim, value in raw.items():
            path = parse_claim_path(claim) if claim.startswith("claims") else (claim,)
            if path is None:
                self.fail(Code.BAD_CLAIM_PATH, _bad_path("auth.require", claim), "require", claim)
                continue
            span = self.span("require", claim)
            found.append(ClaimRequirement(claim=path, value=value, span=span))
        return tuple(found)

    def bind(
        self, raw: Mapping[str, Any], parameters: tuple[Parameter, ...]
    ) -> tuple[ClaimBinding, ...]:
        declared = {p.name: p for p in parameters}
        found = []
        for name, text in raw.items():
            path = parse_claim_path(text)
            parameter = declared.get(name)
            if path is None:
                self.fail(Code.BAD_CLAIM_PATH, _bad_path(f"auth.bind.{name}", text), "bind", name)
            elif parameter is None:
                message = f"auth.bind: '{name}' is not a declared parameter"
                self.fail(Code.BIND_UNDECLARED_PARAMETER, message, "bind", name)
            elif parameter.type.is_list:
                message = (
                    f"auth.bind: parameter '{name}' is a list ({parameter.type.value}); a claim "
                    "fixes one value: bind a scalar parameter"
                )
                self.fail(Code.BIND_LIST_PARAMETER, message, "bind", name)
            else:
                found.append(ClaimBinding(parameter=name, claim=path, span=self.span("bind", name)))
        return tuple(found)


def _bad_path(where: str, text: str) -> str:
    return (
        f"{where}: {text!r} is not a claims path (write claims.NAME, claims.a.b or "
        'claims["https://example.com/NAME"])'
    )


def _merged(project: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's auth block over the project's: `require` and `limits` one level deeper.

    >>> _merged({"require": {"hd": "x.com"}, "limits": {"a": 1}}, {"require": {"v": True}})
    {'require': {'hd': 'x.com', 'v': True}, 'limits': {'a': 1}}
    """
    block = {**project, **own}
    for key in ("require", "limits"):
        if key in project and key in own:
            block[key] = {**project[key], **own[key]}
    return block


def resolve_auth(
    document: Document,
    defaults: ProjectDefaults,
    parameters: tuple[Parameter, ...],
    deployment: Deployment,
) -> tuple[Auth | None, list[Diagnostic]]:
    """The pod's Auth (None without one) and the block's problems."""
    own = document.data.get("auth", {})
    if own is False:
        return None, []
    block = _merged(defaults.auth, own)
    if not block and "auth" not in document.data:
        return None, []
    reader = _Reader(document, defaults, own)
    # `auth: {}` with no project block would otherwise compile to a pod that trusts everyone.
    if "jwt" not in block:
        message = "auth: says nothing of how tokens are verified (jwt)"
        reader.fail(Code.AUTH_JWT_FORM, message, "bind")
        return None, reader.diagnostics
    limits = block.get("limits", {})
    auth = Auth(
        jwt=reader.jwt(block["jwt"], deployment),
        require=reader.require(block.get("require", {})),
        bind=reader.bind(own.get("bind", {}), parameters),
        limits=CallerLimits(**limits),
        span=document.span(("auth",)) if own else reader.span("jwt"),
    )
    return auth, reader.diagnostics
