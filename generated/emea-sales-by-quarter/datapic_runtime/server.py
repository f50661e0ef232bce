"""The pod's HTTP API: GET /get_data, GET /healthz, GET /metrics, GET /openapi.json; every error
as JSON.

/get_data streams its answer: the body is encoded batch by batch as the engine produces it, so
no answer is held whole. A page holds at most `limit` rows (default and most: the pod's
max_page_size); when more rows follow, the answer carries the next page's token in the
X-Next-Page-Token header and a `Link: <…>; rel="next"` header, in every format (so the JSON body
stays a plain array). To know whether more rows follow before the headers go out, the pod asks
the engine for limit + 1 rows and looks ahead up to LOOKAHEAD_BYTES of Arrow data; a page bigger
than that is streamed with a token whose page may turn out empty. A small answer the look-ahead
read whole (under WHOLE_BODY_BYTES) is encoded at once and sent with a Content-Length.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import orjson
import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pyiceberg.catalog import Catalog, load_catalog
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from .config import PodConfig, load_config
from .errors import INTERNAL_ERROR, ConfigError, PodError, classify
from .formats import Format, choose_format
from .metrics import METRICS_MEDIA_TYPE, Outcome, RequestRecord, Telemetry, shown_parameters
from .paging import (
    FIRST_PAGE,
    TOKEN_SECRET_ENV,
    PageTokens,
    Position,
    next_link,
    parse_limit,
    token_key,
)
from .params import bind_parameters
from .query import Answer, Page, QueryEngine, ScanStats
from .secrets import redact
from .serialize import error_json

log = logging.getLogger("datapic.pod")
JSON = "application/json"
ROUTES = "GET /get_data, GET /healthz, GET /metrics, GET /openapi.json"
# Query-string arguments of the pod itself, never parameters of a spec.
RESERVED_ARGUMENTS = ("format", "limit", "page_token")
# Arrow data a request may buffer to learn whether a next page exists before its headers.
LOOKAHEAD_BYTES = 16 * 2**20
# Arrow data under which a whole answer is sent in one piece: streaming it would only add a
# worker-thread hop per chunk to the many small answers (reductions, selective projections).
WHOLE_BODY_BYTES = 2**20
NEXT_PAGE_HEADER = "X-Next-Page-Token"


def create_app(
    pod_dir: Path,
    catalog_factory: Callable[[str], Catalog] = load_catalog,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The ASGI app serving the pod compiled into `pod_dir` (pod.json and openapi.json);
    `clock` times the table's freshness (tests move it)."""
    _setup_logging()
    config = load_config(pod_dir)
    _check_reserved(config)
    openapi = _openapi_document(pod_dir)
    engine = QueryEngine(config, catalog_factory, clock=clock)
    tokens = PageTokens(token_key(_pod_json(pod_dir), os.environ.get(TOKEN_SECRET_ENV)))
    telemetry = Telemetry(config.name)
    # FastAPI's generated docs are off: the compiled openapi.json is the pod's API description.
    app = FastAPI(title=config.name, openapi_url=None, docs_url=None, redoc_url=None)

    # The catalog, the scan, DuckDB and the wait for a query slot block, so a request is answered
    # in a worker thread - but one of its own limiter, not AnyIO's default one, which sends the
    # streamed answers' bodies. With a single limiter, requests waiting for a slot could take
    # every thread, and the answer holding the slot could never send its body to free the slot:
    # all would stall until the queue timeout (mass 503s). Now a streamed body always gets a
    # thread: its query runs back to back with the waiting ones.
    request_threads = anyio.CapacityLimiter(engine.limits.request_threads)

    @app.get("/get_data")
    async def get_data(request: Request) -> Response:
        return await anyio.to_thread.run_sync(
            answer_request,
            request.url.path,
            request.query_params.multi_items(),
            request.headers.get("accept"),
            limiter=request_threads,
        )

    def answer_request(path: str, query: list[tuple[str, str]], accept: str | None) -> Response:
        exchange = _Exchange(config, telemetry, path)
        try:
            asked = _read_request(config, tokens, query, accept, exchange)
            answer = engine.answer(asked.values, asked.page)
            try:
                exchange.snapshot_id, exchange.stats = answer.snapshot_id, answer.stats
                body = _Body(answer, asked, exchange)
                whole = body.read_whole() if body.whole else None
            except BaseException:
                answer.close()
                raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a clean JSON error
            error = _failure(exc, config, exchange.given)
            exchange.end(error.status, Outcome.REJECTED, error.message)
            raise error from None
        headers = _cache_headers(config.freshness_seconds, answer.state_age_seconds)
        if body.more:
            token = tokens.issue(
                Position(answer.snapshot_id, asked.page.offset + asked.limit), asked.values
            )
            headers[NEXT_PAGE_HEADER] = token
            headers["Link"] = f'<{next_link(path, query, token)}>; rel="next"'
        if whole is not None:
            return Response(whole, media_type=asked.format.media_type, headers=headers)
        return _ClosingStreamingResponse(body, media_type=asked.format.media_type, headers=headers)

    # Async on purpose: a probe must answer even while every threadpool worker runs a query.
    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(telemetry.exposition(), media_type=METRICS_MEDIA_TYPE)

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return Response(openapi, media_type=JSON)

    _install_error_handlers(app)
    return app


# --- one request --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Asked:
    """What a /get_data request asks for, checked: typed values, format, page."""

    values: Mapping[str, Any]
    format: Format
    limit: int
    page: Page  # limit + 1 rows: the extra one says whether a next page exists


class _Exchange:
    """What is learnt about one request while it is answered, for its log line and metrics."""

    def __init__(self, config: PodConfig, telemetry: Telemetry, route: str) -> None:
        self.config, self.telemetry, self.route = config, telemetry, route
        self.started = time.perf_counter()
        self.given: dict[str, str] = {}
        self.format: str | None = None
        self.limit: int | None = None
        self.offset = 0
        self.more = False
        self.snapshot_id: int | None = None
        self.stats: ScanStats | None = None
        self.rows = 0
        self.bytes_sent = 0
        self.first_byte_ms: float | None = None
        telemetry.started()

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def sent(self, chunk: bytes) -> None:
        if self.first_byte_ms is None:
            self.first_byte_ms = self.elapsed_ms()
        self.bytes_sent += len(chunk)

    def end(self, status: int, outcome: str, error: str | None = None) -> None:
        """Log and count the request (called exactly once per request)."""
        declared = {p.name for p in self.config.parameters}
        self.telemetry.finished(
            RequestRecord(
                pod=self.config.name,
                route=self.route,
                status=status,
                outcome=outcome,
                parameters=shown_parameters(self.given, declared),
                format=self.format,
                limit=self.limit,
                offset=self.offset,
                next_page=self.more,
                snapshot_id=self.snapshot_id,
                stats=self.stats,
                rows=self.rows,
                bytes_sent=self.bytes_sent,
                ms=self.elapsed_ms(),
                first_byte_ms=self.first_byte_ms,
                error=error,
            )
        )


def _read_request(
    config: PodConfig,
    tokens: PageTokens,
    query: Sequence[tuple[str, str]],
    accept: str | None,
    exchange: _Exchange,
) -> _Asked:
    """The request's parameters, format and page, or the PodError (400, 406) saying what's wrong."""
    reserved: dict[str, str] = {}
    parameters: list[tuple[str, str]] = []
    for name, text in query:
        if name not in RESERVED_ARGUMENTS:
            parameters.append((name, text))
        elif name in reserved:
            raise PodError(400, f"argument '{name}' is given more than once")
        else:
            reserved[name] = text
    exchange.given = {name: text for name, text in parameters}
    chosen = choose_format(reserved.get("format"), accept)
    exchange.format = chosen.name
    limit = parse_limit(reserved.get("limit"), config.max_page_size)
    exchange.limit = limit
    values = bind_parameters(config.parameters, parameters)
    position = FIRST_PAGE
    if "page_token" in reserved:
        position = tokens.read(reserved["page_token"], values)
    exchange.offset = position.offset
    return _Asked(values, chosen, limit, Page(position.offset, limit + 1, position.snapshot_id))


def _cache_headers(freshness_seconds: float, state_age_seconds: float) -> dict[str, str]:
    """An answer may be as old as the pod's declared freshness: caches may keep it for what is
    left of that once the table state it was read from is already `state_age_seconds` old (not
    the whole freshness again). The representation depends on Accept."""
    left = max(0, round(freshness_seconds - state_age_seconds))
    return {"Cache-Control": f"max-age={left}", "Vary": "Accept"}


class _AnswerBroken(Exception):
    """An answer failed after its first bytes went out: the connection must be cut, so the
    client cannot take a truncated body for a whole one (details are in the pod's log)."""


class _Body:
    """The body of one answer: its first chunk is encoded here, before any header goes out, so
    that errors up to then are clean JSON answers; the rest is encoded while it is sent.

    Iterated once (in the threadpool). Whatever ends it - the last byte, a failure, the client
    going away, or a response never sent - `close()` releases the engine's cursor and logs the
    request, once.
    """

    def __init__(self, answer: Answer, asked: _Asked, exchange: _Exchange) -> None:
        self._answer, self._exchange = answer, exchange
        self.ended = False
        self._generator: Iterator[bytes] | None = None
        batches = iter(answer.batches)
        head, self.more, size = _look_ahead(batches, asked.limit)
        exchange.more = self.more
        # The answer ended within the look-ahead, and it is small: no need to stream it.
        self.whole = not self.more and size < WHOLE_BODY_BYTES
        rows = self._page_rows(head, batches, asked.limit)
        columns = exchange.config.columns
        self._chunks = asked.format.encode(columns, answer.schema, rows, answer.wide_integers)
        try:
            self._first = next(self._chunks)
        except pa.ArrowNotImplementedError as exc:
            raise PodError(
                406,
                f"this answer cannot be written as {asked.format.name} ({_line(exc)}); "
                "ask for another format",
            ) from None

    def _page_rows(
        self, head: collections.deque[pa.RecordBatch], rest: Iterator[pa.RecordBatch], limit: int
    ) -> Iterator[pa.RecordBatch]:
        """The page's batches: the looked-ahead ones, then the stream, cut after `limit` rows."""
        left = limit
        while left > 0:
            if head:
                batch = head.popleft()  # popped: a sent batch is not kept alive by the deque
            else:
                batch = next(rest, None)
                if batch is None:
                    return
            if batch.num_rows > left:
                batch = batch.slice(0, left)
            left -= batch.num_rows
            self._exchange.rows += batch.num_rows
            yield batch

    def read_whole(self) -> bytes:
        """The whole body at once (for a `whole` answer): a failure is still a clean error."""
        content = self._first + b"".join(self._chunks)
        self._exchange.sent(content)
        self._end(Outcome.COMPLETE, None)
        return content

    def __iter__(self) -> Iterator[bytes]:
        self._generator = self._generate()
        return self._generator

    def _generate(self) -> Iterator[bytes]:
        outcome, error = Outcome.DISCONNECTED, None  # unless the loop below gets to its end
        try:
            self._exchange.sent(self._first)
            yield self._first
            for chunk in self._chunks:
                if chunk:
                    self._exchange.sent(chunk)
                    yield chunk
            outcome = Outcome.COMPLETE
        except Exception as exc:
            failure = _failure(exc, self._exchange.config, self._exchange.given)
            outcome, error = Outcome.FAILED, failure.message
            raise _AnswerBroken(f"answer cut after {self._exchange.bytes_sent} bytes") from None
        finally:
            self._end(outcome, error)

    def _end(self, outcome: str, error: str | None) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self._chunks.close()
        finally:
            self._answer.close()
            self._exchange.end(200, outcome, error)

    def close(self) -> None:
        """End the answer wherever it stands (idempotent)."""
        if self._generator is not None:
            try:
                self._generator.close()
            except ValueError:  # still running in a worker thread: it ends itself
                return
        self._end(Outcome.DISCONNECTED, None)


def _look_ahead(
    batches: Iterator[pa.RecordBatch], limit: int
) -> tuple[collections.deque[pa.RecordBatch], bool, int]:
    """Batches read ahead, whether rows follow the page's `limit` (True, unchecked, when the
    page is larger than LOOKAHEAD_BYTES: it is streamed, not held), and their Arrow size."""
    head: collections.deque[pa.RecordBatch] = collections.deque()
    rows = size = 0
    for batch in batches:
        head.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows > limit or size >= LOOKAHEAD_BYTES:
            return head, True, size
    return head, False, size


class _ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that always ends its body, also when the client went away (Starlette
    then cancels the sending task and leaves the iterator as it stands)."""

    def __init__(self, body: _Body, **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._body.ended:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._body.close)


# --- start-up -----------------------------------------------------------------------------------


def _check_reserved(config: PodConfig) -> None:
    clash = [p.name for p in config.parameters if p.name in RESERVED_ARGUMENTS]
    if clash:
        raise ConfigError(
            f"pod.json: parameter '{clash[0]}' has the name of a pod argument "
            f"({', '.join(RESERVED_ARGUMENTS)}); rename it in the spec"
        )


def _pod_json(pod_dir: Path) -> bytes:
    """pod.json's bytes (load_config has read and checked them already)."""
    return (pod_dir / "pod.json").read_bytes()


def _openapi_document(pod_dir: Path) -> bytes:
    """openapi.json's bytes, served verbatim; checked once so a broken file fails at start-up."""
    path = pod_dir / "openapi.json"
    try:
        document = path.read_bytes()
        json.loads(document)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    return document


# --- errors -------------------------------------------------------------------------------------


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _failure(exc: Exception, config: PodConfig, given: Mapping[str, str]) -> PodError:
    """The PodError for `exc`; a 5xx is logged without secrets (with its traceback when
    unexpected). The request's own log line carries every status."""
    source = config.source
    error = classify(exc, catalog=source.catalog, table=source.display, given=given)
    if error.status < 500:
        return error
    if error.message is INTERNAL_ERROR:
        trace = "".join(traceback.format_exception(exc)).rstrip()
        log.error("%s: %s\n%s", config.name, INTERNAL_ERROR, redact(trace))
    else:
        cause = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        log.error(
            "%s: %d %s (%s: %s)",
            config.name,
            error.status,
            error.message,
            type(exc).__name__,
            cause,
        )
    return error


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_json(message), status_code=status, media_type=JSON, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """JSON error bodies for everything, including unknown routes and wrong methods."""

    @app.exception_handler(PodError)
    async def pod_error(_: Request, exc: PodError) -> Response:
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            message = f"no such route {request.url.path!r}; this pod serves {ROUTES}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed; this pod serves {ROUTES}"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return _error(400, "invalid request")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected %s outside a query", type(exc).__name__)
        return _error(500, INTERNAL_ERROR)


# --- logging ------------------------------------------------------------------------------------


class _PodLogFormat(logging.Formatter):
    """A request's line as one JSON object (structured logging on Cloud Run); other lines as
    `ERROR:    datapic.pod: message`, aligned with uvicorn's own."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "request", None)
        if fields is not None:
            line = {"severity": record.levelname, "message": record.getMessage(), **fields}
            return orjson.dumps(line, default=str).decode()
        return f"{record.levelname + ':':<9} {record.name}: {super().format(record)}"


def _setup_logging() -> None:
    """Send the pod's log lines to stderr next to uvicorn's, unless logging is configured."""
    logger = logging.getLogger("datapic")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PodLogFormat())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
