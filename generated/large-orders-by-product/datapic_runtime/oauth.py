"""The HTTP of an Iceberg REST catalog (Apache Polaris and others): requests with a timeout,
and OAuth2 client credentials. Imported only when the pod's catalog is a REST one (catalog.py).

`ClientCredentials` fetches a token and fetches the next one *before* the current one expires:
pyiceberg's legacy flow only reacts to a 401, and its `auth` block cannot be set from the
environment. It is registered with pyiceberg as the auth manager type AUTH_TYPE.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from pyiceberg.catalog.rest.auth import AuthManager, AuthManagerFactory
from pyiceberg.exceptions import OAuthError

from .catalog import DEFAULT_TIMEOUT, timeout_seconds
from .secrets import remember

AUTH_TYPE = "datapic-client-credentials"
# An OAuth2 token is renewed this long before it expires, or at half its life if shorter.
TOKEN_MARGIN_SECONDS = 300.0
# Lifetime assumed for a token whose response says nothing (RFC 6749 makes expires_in optional).
DEFAULT_TOKEN_SECONDS = 3600.0


class BoundedSession(requests.Session):
    """A requests session whose every request has a timeout unless given one."""

    def request(self, method, url, **kwargs):  # noqa: ANN001, ANN201 - requests' signature
        kwargs.setdefault("timeout", timeout_seconds())
        return super().request(method, url, **kwargs)


class ClientCredentials(AuthManager):
    """OAuth2 client-credentials tokens, renewed ahead of expiry; thread-safe.

    Sends the client id and secret in the form body, as Polaris and pyiceberg's legacy flow
    do. `clock` is injectable so tests can move time forward instead of waiting an hour.
    """

    def __init__(
        self,
        token_url: str,
        credential: str,
        scope: str | None = None,
        extra: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        client_id, _, client_secret = credential.partition(":")
        if not client_secret:
            client_id, client_secret = None, credential
        self._token_url = token_url
        self._form = {"grant_type": "client_credentials", "client_secret": client_secret}
        if client_id:
            self._form["client_id"] = client_id
        if scope:
            self._form["scope"] = scope
        self._form.update(extra or {})
        self._timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._renew_at = -math.inf
        self._lock = threading.Lock()
        self.fetched = 0  # tokens fetched so far (for tests and logs)

    def auth_header(self) -> str:
        """The Authorization header's value, with a token fetched now if none is valid."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._fetch()
            return f"Bearer {self._token}"

    def invalidate(self) -> None:
        """Forget the token (the catalog refused it): the next request fetches a new one."""
        with self._lock:
            self._token = None

    @property
    def renew_at(self) -> float:
        """When (on `clock`) the current token will be replaced."""
        return self._renew_at

    def _fetch(self) -> None:
        started = self._clock()
        response = requests.post(self._token_url, data=self._form, timeout=self._timeout)
        if response.status_code != 200:
            raise OAuthError(_oauth_error(response))
        answer = response.json()
        token = answer["access_token"]
        remember((token,))
        lifetime = _token_lifetime(answer, token)
        self._token = token
        self._renew_at = started + max(lifetime - TOKEN_MARGIN_SECONDS, lifetime / 2)
        self.fetched += 1


AuthManagerFactory.register(AUTH_TYPE, ClientCredentials)


def _oauth_error(response: requests.Response) -> str:
    """`invalid_client: …` from an OAuth2 error answer; never the request (it holds secrets)."""
    try:
        body = response.json()
        return f"{body.get('error', response.status_code)}: {body.get('error_description', '')}"
    except ValueError:
        return f"HTTP {response.status_code} from the token endpoint"


def _token_lifetime(answer: Mapping[str, Any], token: str) -> float:
    """Seconds the token lives: `expires_in`, else the JWT's exp - iat, else one hour."""
    if isinstance(answer.get("expires_in"), int | float) and answer["expires_in"] > 0:
        return float(answer["expires_in"])
    claims = _jwt_claims(token)
    if isinstance(claims.get("exp"), int | float) and isinstance(claims.get("iat"), int | float):
        return max(float(claims["exp"] - claims["iat"]), 0.0)
    return DEFAULT_TOKEN_SECONDS


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}
