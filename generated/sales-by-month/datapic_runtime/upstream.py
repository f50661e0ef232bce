"""Reading another pod's answer over HTTP, for a pod that reads a pod (`depends_on: - resource`).

The upstream's URL comes from the environment variable pod.json names
(`DATAPIC_UPSTREAM_<NAME>_URL`; on Cloud Run, service.yaml sets it from the upstream service's
URL). Its answer is read as Arrow (`format=arrow`), page after page (X-Next-Page-Token), with
the parameters both pods declare passed through as query arguments. A kept answer is
revalidated with If-None-Match: a 304 says it still holds, at the cost of no query upstream.

Every call is bounded: a connect timeout, a timeout on each read and a deadline for the whole
answer (all its pages), and a byte limit on what is kept. Whatever goes wrong (down, refusing,
too slow, too large, not Arrow) is a PodError naming the upstream, never its body or the token.

On Cloud Run the upstream is private: the call carries a Google ID token whose audience is the
upstream's URL (google-auth's fetch_id_token: the metadata server there, a service account key
in GOOGLE_APPLICATION_CREDENTIALS elsewhere). Tokens are sent to https URLs only, unless
DATAPIC_UPSTREAM_ID_TOKEN says `always` (or `never`): a local upstream on http needs none.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import requests

from .config import UpstreamSpec
from .errors import ConfigError, PodError

ID_TOKEN_ENV = "DATAPIC_UPSTREAM_ID_TOKEN"  # auto (https only) | always | never
TIMEOUT_ENV = "DATAPIC_UPSTREAM_TIMEOUT_SECONDS"
CONNECT_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 30.0
NEXT_PAGE_HEADER = "X-Next-Page-Token"
ARROW = "application/vnd.apache.arrow.stream"
# A token is renewed this long before it expires (google-auth's own margin is similar).
TOKEN_MARGIN_SECONDS = 300
_CHUNK = 1 << 16


def upstream_url(spec: UpstreamSpec, env: Mapping[str, str] = os.environ) -> str:
    """The upstream's base URL; ConfigError (the pod refuses to start) when it is not set."""
    url = env.get(spec.env, "").strip().rstrip("/")
    if not url:
        raise ConfigError(
            f"upstream pod '{spec.resource}' is not configured: set {spec.env} to its base URL "
            "(on Cloud Run, the URL of its service)"
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{spec.env}: expected an http:// or https:// URL")
    return url


def query_text(type_name: str, value: Any) -> list[str]:
    """A typed value as the upstream's query string takes it (one text per list value).

    >>> query_text("boolean", True), query_text("date[]", (dt.date(2024, 1, 2),))
    (['true'], ['2024-01-02'])
    """
    if value is None:
        return []
    if isinstance(value, tuple):
        return [t for v in value for t in query_text(type_name.removesuffix("[]"), v)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, dt.date):  # dates and timestamps (a datetime is a date)
        return [value.isoformat()]
    return [repr(value) if isinstance(value, float) else str(value)]


@dataclass(frozen=True, slots=True)
class Fetched:
    """An upstream answer read whole, or None for a 304 (the kept answer still holds)."""

    table: pa.Table | None
    etag: str | None
    nbytes: int = 0


class UpstreamClient:
    """Calls one upstream pod: its answer for given values, or 304 for a still valid tag."""

    def __init__(
        self,
        spec: UpstreamSpec,
        url: str,
        types: Mapping[str, str],
        max_bytes: int,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        self.spec, self.url, self.types, self.max_bytes = spec, url, types, max_bytes
        self.timeout = float(env.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECONDS))
        mode = env.get(ID_TOKEN_ENV, "auto").strip().lower()
        signed = mode == "always" or (mode == "auto" and url.startswith("https://"))
        self.tokens = IdTokens(url, self.failure) if signed else None
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or .netrc credentials from the environment

    def failure(self, what: str, status: int = 502) -> PodError:
        """A PodError naming the upstream (never its body, URL or token)."""
        return PodError(status, f"upstream pod '{self.spec.resource}' {what}")

    def fetch(self, values: Mapping[str, Any], etag: str | None = None) -> Fetched:
        """Every page of the upstream's answer for `values` (its passed-through parameters), or
        Fetched(None, etag) when the upstream says `etag` still holds."""
        arguments = [
            (name, text)
            for name in self.spec.parameters
            for text in query_text(self.types[name], values.get(name))
        ]
        deadline = time.monotonic() + self.timeout
        arguments.append(("format", "arrow"))
        response = self._get(arguments, etag, deadline)
        if response.status_code == 304 and etag is not None:
            response.close()
            return Fetched(None, etag)
        first_tag = response.headers.get("ETag")
        tables, nbytes = [], 0
        while True:
            body = self._body(response, deadline, self.max_bytes - nbytes)
            nbytes += len(body)
            tables.append(self._arrow(body))
            token = response.headers.get(NEXT_PAGE_HEADER)
            if not token:
                break
            response = self._get([*arguments, ("page_token", token)], None, deadline)
        try:
            table = pa.concat_tables(tables)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise self.failure("answered pages of differing columns") from None
        return Fetched(table, first_tag, table.nbytes)

    def _get(
        self, arguments: list[tuple[str, str]], etag: str | None, deadline: float
    ) -> requests.Response:
        headers = {"Accept": ARROW}
        if etag is not None:
            headers["If-None-Match"] = etag
        if self.tokens is not None:
            headers["Authorization"] = f"Bearer {self.tokens.token()}"
        left = deadline - time.monotonic()
        if left <= 0:
            raise self.failure(f"did not answer within {self.timeout:g} s")
        try:
            response = self.session.get(
                f"{self.url}/get_data",
                params=arguments,
                headers=headers,
                timeout=(min(CONNECT_SECONDS, left), left),
                stream=True,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise self.failure(f"did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise self.failure(f"cannot be reached ({type(exc).__name__})") from None
        if response.status_code in (200, 304):
            return response
        response.close()
        raise self._refused(response.status_code)

    def _refused(self, status: int) -> PodError:
        """What an upstream's error status means for this pod's caller."""
        if status == 400:
            # The caller's values, passed through, are what the upstream refused.
            passed = ", ".join(self.spec.parameters) or "none"
            return self.failure(
                f"refused the parameter values passed through to it ({passed})", status=400
            )
        if status in (401, 403):
            return self.failure(
                f"refused this pod's call (HTTP {status}): this pod's service account needs "
                "roles/run.invoker on it"
            )
        return self.failure(f"answered HTTP {status}")

    def _body(self, response: requests.Response, deadline: float, room: int) -> bytes:
        """The response's body, within the deadline and `room` bytes: a watchdog closes the
        connection at the deadline, so an upstream trickling its bytes cannot hold it longer
        (each read's own timeout alone would not bound the whole)."""
        chunks, size = [], 0
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, [response])
        watchdog.start()
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > room:
                    raise self.failure(f"answered more than {self.max_bytes} bytes")
                chunks.append(chunk)
        except PodError:
            raise
        except Exception as exc:  # noqa: BLE001 - a read cut by the watchdog fails variously
            if time.monotonic() >= deadline:
                raise self.failure(f"did not answer within {self.timeout:g} s") from None
            raise self.failure(f"broke off its answer ({type(exc).__name__})") from None
        finally:
            watchdog.cancel()
            response.close()
        if time.monotonic() >= deadline:  # closed by the watchdog: the body may be cut short
            raise self.failure(f"did not answer within {self.timeout:g} s")
        return b"".join(chunks)

    def _arrow(self, body: bytes) -> pa.Table:
        try:
            return pa.ipc.open_stream(pa.BufferReader(body)).read_all()
        except (pa.ArrowException, OSError, ValueError):
            raise self.failure("answered something that is not an Arrow stream") from None


class IdTokens:
    """Google ID tokens for one audience, kept until shortly before they expire."""

    def __init__(self, audience: str, failure: Callable[[str], PodError]) -> None:
        self.audience, self.failure = audience, failure
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid ID token for the audience (fetched when none is kept or it nears expiry)."""
        with self._lock:
            if self._token is None or time.time() >= self._renew_at:
                self._token = self._fetch()
                self._renew_at = _expiry(self._token) - TOKEN_MARGIN_SECONDS
            return self._token

    def _fetch(self) -> str:
        # Imported here: only pods that sign pay for google-auth's import.
        import google.auth.exceptions
        import google.auth.transport.requests
        from google.oauth2 import id_token

        try:
            request = google.auth.transport.requests.Request()
            return id_token.fetch_id_token(request, self.audience)
        except (google.auth.exceptions.GoogleAuthError, ValueError, OSError) as exc:
            raise self.failure(f"cannot be called: no ID token ({type(exc).__name__})") from None


def _cut(response: requests.Response) -> None:
    """End a response's connection from another thread: shutting the socket down wakes a read
    blocked on it (closing it would not)."""
    # http.client keeps the socket in the response's file object once the headers are read
    # (the connection's own `sock` is then None); private attributes, so each step may fail.
    buffered = getattr(getattr(response.raw, "_fp", None), "fp", None)
    sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    sock = sock or getattr(getattr(response.raw, "connection", None), "sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the read has ended anyway
    response.close()


def _expiry(token: str) -> float:
    """A JWT's `exp` (not verified: the token is ours, only its lifetime is read); now if none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return time.time()
