"""Signing requests to private Cloud Run services: a Google ID token whose audience is the
service URL, in `Authorization: Bearer …`.

Where the token comes from, first match wins: a token (or a function returning one) the caller
gives; google-auth credentials the caller gives that mint ID tokens (service-account,
impersonated or metadata-server IDTokenCredentials); else the environment, as google-auth
finds it (`GOOGLE_APPLICATION_CREDENTIALS` naming a service-account or impersonation key, or
the metadata server on Cloud Run, GKE, Compute Engine). User credentials from `gcloud auth
application-default login` cannot mint ID tokens: pass
`token=lambda: subprocess.check_output(["gcloud", "auth", "print-identity-token"], text=True)`.

google-auth is imported only when a token is needed: a client of public or local pods never
loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import PodError

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class CredentialsError(PodError):
    """No ID token could be had for a pod that must be called signed."""


def audience_of(url: str) -> str:
    """The audience Cloud Run expects: the service URL, scheme and host, without a path.

    >>> audience_of("https://emea-sales-123.europe-west1.run.app/get_data?x=1")
    'https://emea-sales-123.europe-west1.run.app'
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine (a pod served locally, never signed by default)."""
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


class _GoogleIdTokens:
    """ID tokens for one audience from google-auth credentials, renewed when expired."""

    def __init__(self, audience: str, credentials: Any | None, required: bool) -> None:
        self._audience = audience
        self._credentials = credentials
        self._required = required
        self._looked_up = credentials is not None
        self._lock = threading.Lock()

    def token(self, renew: bool = False) -> str | None:
        from google.auth import exceptions
        from google.auth.transport.requests import Request

        with self._lock:
            request = Request()
            try:
                if not self._looked_up:
                    self._credentials = self._from_environment(request)
                    self._looked_up = True
                if self._credentials is None:
                    return None
                if renew or not self._credentials.valid:
                    self._credentials.refresh(request)
            except exceptions.GoogleAuthError as exc:
                raise CredentialsError(
                    f"no ID token for {self._audience}: {_one_line(exc)}"
                ) from None
            return self._credentials.token

    def _from_environment(self, request: Any) -> Any | None:
        from google.auth import exceptions
        from google.oauth2 import id_token

        try:
            return id_token.fetch_id_token_credentials(self._audience, request=request)
        except exceptions.DefaultCredentialsError as exc:
            if self._required:
                raise CredentialsError(
                    f"no Google credentials that can mint an ID token ({_one_line(exc)}): set "
                    "GOOGLE_APPLICATION_CREDENTIALS to a service-account key, run on Google "
                    "Cloud, or pass token="
                ) from None
            return None


class _GivenToken:
    """A token the caller gave, or a function the caller gave that returns one."""

    def __init__(self, token: str | Callable[[], str]) -> None:
        self._token = token

    def token(self, renew: bool = False) -> str | None:
        value = self._token() if callable(self._token) else self._token
        return value.strip() if value else None


class IdTokenAuth(httpx.Auth):
    """httpx auth that sends `Authorization: Bearer <ID token>`; a 401 renews it once."""

    def __init__(self, source: _GoogleIdTokens | _GivenToken) -> None:
        self._source = source

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._source.token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and token:
            renewed = self._source.token(renew=True)
            if renewed and renewed != token:
                request.headers["Authorization"] = f"Bearer {renewed}"
                yield request


def signing(
    url: str,
    *,
    token: str | Callable[[], str] | None,
    credentials: Any | None,
    sign: bool | None,
    audience: str | None,
) -> httpx.Auth | None:
    """The auth for calling `url`: None when requests go unsigned.

    `sign`: True requires a token, False never signs, None signs when a token source is given
    or found, except for loopback URLs (local pods), where it signs only when given one.
    """
    if sign is False:
        return None
    if token is not None:
        return IdTokenAuth(_GivenToken(token))
    target = audience or audience_of(url)
    if credentials is not None:
        if hasattr(credentials, "with_target_audience"):  # IDTokenCredentials of any kind
            credentials = credentials.with_target_audience(target)
        return IdTokenAuth(_GoogleIdTokens(target, credentials, required=True))
    if sign is None and is_loopback(url):
        return None
    return IdTokenAuth(_GoogleIdTokens(target, None, required=bool(sign)))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
