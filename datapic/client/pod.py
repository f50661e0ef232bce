"""`Pod`: one pod's answers as Arrow, every page of them.

The client asks for `format=arrow` (each page is a whole Arrow IPC stream), follows the
continuation token of every page (`X-Next-Page-Token`, else the `page_token` of the
`Link: <…>; rel="next"` URL) with the same parameters, retries a 503 or 429 after its
`Retry-After` (retry.py), signs requests to private Cloud Run services (auth.py) and turns any
other failure into a typed `PodError` carrying the pod's message (errors.py).
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyarrow as pa

from .auth import signing
from .errors import Gone, PodConnectionError, PodError, error_for
from .params import query_pairs
from .retry import RETRY_STATUSES, RetryPolicy

ARROW = "application/vnd.apache.arrow.stream"
NEXT_PAGE_HEADER = "X-Next-Page-Token"
# Longest wait for one read of a page's body; an answer of many pages takes as long as it needs.
DEFAULT_TIMEOUT = 60.0


class Pod:
    """A client of one pod, by its base URL (`https://NAME-….run.app`, `http://127.0.0.1:8000`).

    Signing (auth.py): `token` (a string, or a function returning one) or google-auth
    `credentials` that mint ID tokens; else, unless `sign=False`, the environment's (service
    account key, metadata server) when one is found. Loopback URLs are signed only when given
    a token or credentials, or `sign=True` (which also makes a missing token an error).
    `page_size` asks for pages of that many rows (default: the pod's max_page_size).
    `http` is an httpx.Client to send through (proxies, TLS settings, event hooks).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | Callable[[], str] | None = None,
        credentials: Any | None = None,
        sign: bool | None = None,
        audience: str | None = None,
        page_size: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 5,
        max_retry_wait: float = 60.0,
        restart_when_gone: bool = True,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.endpoint = self.url if self.url.endswith("/get_data") else f"{self.url}/get_data"
        self.page_size = page_size
        self.restart_when_gone = restart_when_gone
        self.retry = RetryPolicy(retries=retries, max_wait=max_retry_wait)
        self._auth = signing(
            self.url, token=token, credentials=credentials, sign=sign, audience=audience
        )
        self._own_http = http is None
        self._http = http or httpx.Client(timeout=timeout)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Pod({self.url!r})"

    def __enter__(self) -> Pod:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (not those of an httpx.Client the caller gave)."""
        if self._own_http:
            self._http.close()

    # --- answers --------------------------------------------------------------------------------

    def get_data(self, params: Mapping[str, Any] | None = None, /, **values: Any) -> pa.Table:
        """The whole answer as one Arrow table, every page read. Parameters by keyword (or a
        mapping, for names that are no Python identifiers); a list gives a list parameter its
        values. An answer whose pages expired (410, the table changed meanwhile) starts again
        from the first page once."""
        pairs = query_pairs({**(params or {}), **values})
        try:
            return self._table(pairs)
        except Gone:
            if not self.restart_when_gone:
                raise
            return self._table(pairs)

    def iter_batches(
        self, params: Mapping[str, Any] | None = None, /, **values: Any
    ) -> Iterator[pa.RecordBatch]:
        """The answer's record batches as they arrive, page after page, for answers larger than
        memory. A 410 (a page expired) raises Gone: batches already handed out cannot be
        taken back, so starting again is the caller's choice."""
        pairs = query_pairs({**(params or {}), **values})
        for page in self._pages(pairs):
            yield from page

    def to_pandas(self, params: Mapping[str, Any] | None = None, /, **values: Any) -> Any:
        """The whole answer as a pandas DataFrame (needs pandas)."""
        _require("pandas", "to_pandas")
        return self.get_data(params, **values).to_pandas()

    def to_polars(self, params: Mapping[str, Any] | None = None, /, **values: Any) -> Any:
        """The whole answer as a polars DataFrame (needs polars)."""
        polars = _require("polars", "to_polars")
        return polars.from_arrow(self.get_data(params, **values))

    def _table(self, pairs: list[tuple[str, str]]) -> pa.Table:
        schema: pa.Schema | None = None
        batches: list[pa.RecordBatch] = []
        for page in self._pages(pairs):
            batches += page
            schema = schema or page.schema
        assert schema is not None  # an answer has at least one page
        return pa.Table.from_batches(batches, schema=schema)

    # --- pages ----------------------------------------------------------------------------------

    def _pages(self, pairs: list[tuple[str, str]]) -> Iterator[_Page]:
        """Every page of one answer, each read while the caller iterates it."""
        arguments = [*pairs, ("format", "arrow")]
        if self.page_size is not None:
            arguments.append(("limit", str(self.page_size)))
        token: str | None = None
        while True:
            page_arguments = arguments + ([("page_token", token)] if token else [])
            with self._open(page_arguments) as response:
                page = _Page(response)
                yield page
                page.drain()
                token = next_token(response)
            if token is None:
                return

    @contextlib.contextmanager
    def _open(self, arguments: list[tuple[str, str]]) -> Iterator[httpx.Response]:
        """The 200 response of one page, its body unread; retried as retry.py says."""
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            request = self._http.build_request(
                "GET", self.endpoint, params=arguments, headers={"Accept": ARROW}
            )
            try:
                response = self._send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                delay = self.retry.delay(attempt, None, waited)
                if delay is None:
                    raise PodConnectionError(_cannot_reach(exc, attempt), url=self.url) from None
            except httpx.HTTPError as exc:  # sent, but no answer came: not retried
                raise PodConnectionError(f"no answer: {exc!r}", url=self.url) from None
            else:
                if response.status_code == 200:
                    break
                body = response.read()
                response.close()
                delay = None
                if response.status_code in RETRY_STATUSES:
                    delay = self.retry.delay(attempt, response.headers.get("retry-after"), waited)
                if delay is None:
                    raise _failure(response, body, self.url, attempt)
            self._sleep(delay)
            waited += delay
        try:
            _check_arrow(response, self.url)
            yield response
        finally:
            response.close()

    def _send(self, request: httpx.Request) -> httpx.Response:
        if self._auth is None:
            return self._http.send(request, stream=True)
        return self._http.send(request, stream=True, auth=self._auth)


class _Page:
    """One page's record batches, read from the response as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._reader = _reading(response, lambda: pa.ipc.open_stream(_Body(response)))
        self.schema: pa.Schema = self._reader.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            batch = _reading(self._response, self._next_batch)
            if batch is None:
                return
            yield batch

    def _next_batch(self) -> pa.RecordBatch | None:
        try:
            return self._reader.read_next_batch()
        except StopIteration:
            return None

    def drain(self) -> None:
        """Read what the caller left unread (a page is whole before the next one is asked)."""
        for _ in self:
            pass


def _reading(response: httpx.Response, read: Callable[[], Any]) -> Any:
    """`read()`, a body that broke off part way a PodConnectionError."""
    try:
        return read()
    except (httpx.HTTPError, pa.ArrowInvalid, OSError) as exc:
        raise PodConnectionError(
            f"the answer broke off part way ({type(exc).__name__}: {exc}); ask again",
            url=str(response.url.copy_with(query=None)),
        ) from None


class _Body:
    """A streamed response body as the file object pyarrow reads an IPC stream from."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.iter_bytes()
        self._buffer = bytearray()
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def next_token(response: httpx.Response) -> str | None:
    """The next page's token: X-Next-Page-Token, else the page_token of Link rel="next"."""
    token = response.headers.get(NEXT_PAGE_HEADER)
    if token:
        return token
    link = response.links.get("next")
    if link and link.get("url"):
        tokens = parse_qs(urlsplit(link["url"]).query).get("page_token")
        if tokens:
            return tokens[0]
    return None


def _check_arrow(response: httpx.Response, url: str) -> None:
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != ARROW:
        raise PodError(
            f"expected an Arrow answer, got {media_type or 'no content type'} (is {url} a pod?)",
            status=response.status_code,
            url=url,
        )


def _failure(response: httpx.Response, body: bytes, url: str, attempts: int) -> PodError:
    error = error_for(response.status_code, body, url, response.reason_phrase)
    if response.status_code in RETRY_STATUSES and attempts > 1:
        error.message += f" (still, after {attempts} attempts)"
    return error


def _cannot_reach(exc: Exception, attempts: int) -> str:
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    return f"cannot reach the pod{tries}: {exc}"


def _require(module: str, method: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"Pod.{method}() needs {module}, which is not installed: pip install {module}"
        ) from None
