"""The pod's HTTP API: GET /get_data, GET /healthz, GET /readyz, GET /metrics, GET /openapi.json;
GET /docs (webdocs.py); every error as JSON.

/healthz is liveness (the process is up); /readyz is readiness (the table loads from the
catalog), which Cloud Run's startup probe asks. A pod whose catalog is not configured at all
does not start (`app_or_exit`): it could only answer 500s.

/get_data streams its answer (streaming.py). A page holds at most `limit` rows (default and
most: the pod's max_page_size); when more rows follow, the answer carries the next page's token
in the X-Next-Page-Token header and a `Link: <…>; rel="next"` header (unless its URL would be
longer than paging.MAX_LINK_BYTES), in every format (so the JSON body stays a plain array).
Each request is logged and counted once (requestlog.py).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from pyiceberg.catalog import Catalog, load_catalog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .answer import Page
from .callers import CallerTable
from .catalog import catalog_properties
from .config import PodConfig, UpstreamSpec, load_config
from .cors import cors_middleware
from .encoding import compression_middleware
from .errors import INTERNAL_ERROR, RETRY_AFTER_SECONDS, ConfigError, PodError, classify
from .etag import entity_tag, none_match, pod_fingerprint
from .formats import Format, choose_format
from .idle import IdleRelease, configure_allocators
from .metrics import METRICS_MEDIA_TYPE, Outcome, Telemetry
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
from .query import QueryEngine
from .querystring import query_items
from .requestlog import Exchange, setup_logging
from .serialize import error_json
from .streaming import AnswerBody, ClosingStreamingResponse, WholeResponse
from .webdocs import docs_routes

if TYPE_CHECKING:  # imported where a pod needs them: see _downstream_engine and _gate
    from .auth import Gate
    from .authspec import AuthSpec
    from .downstream import DownstreamEngine

log = logging.getLogger("datapic.pod")
JSON = "application/json"
ROUTES = "GET /get_data, GET /healthz, GET /readyz, GET /metrics, GET /openapi.json, GET /docs"
# Starlette answers HEAD wherever GET is allowed.
GET = ["GET"]
# Query-string arguments of the pod itself, never parameters of a spec.
RESERVED_ARGUMENTS = ("format", "limit", "page_token")
NEXT_PAGE_HEADER = "X-Next-Page-Token"
# The longest max-age sent: what RFC 9111 (1.2.2) has caches take for any larger value. The
# compiler bounds freshness_seconds too; this keeps a pod.json saying 1e308 (or inf) from
# sending a 309-digit header.
MAX_AGE_SECONDS = 2**31
# How long /readyz waits for the table: less than the startup probe's timeout (service.yaml), so
# the probe gets the reason. A load still under way goes on, and the next probe shares it.
READY_TIMEOUT_SECONDS = 1.5
# Threads /readyz may hold at once: a hung catalog holds each for its own timeout, and probes
# beyond these wait (and answer 503) instead of taking request threads.
READY_THREADS = 4


def app_or_exit(pod_dir: Path) -> Starlette:
    """`create_app`, or exit with one line saying what is wrong (no traceback): what app.py
    runs, so a pod that cannot serve refuses to start instead of answering 500s."""
    try:
        return create_app(pod_dir)
    except ConfigError as exc:
        raise SystemExit(f"datapic pod: {exc}") from None


def create_app(
    pod_dir: Path,
    catalog_factory: Callable[[str], Catalog] = load_catalog,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The ASGI app serving the pod compiled into `pod_dir` (pod.json and openapi.json);
    `clock` times the table's freshness (tests move it)."""
    setup_logging()
    configure_allocators()
    config = load_config(pod_dir)
    _check_reserved(config)
    openapi = _openapi_document(pod_dir)
    telemetry = Telemetry(config.name)
    auth = config.auth
    if config.upstream is not None:  # it reads another pod's answer, not a table
        engine = _downstream_engine(config, config.upstream, clock)
    else:
        if catalog_factory is load_catalog:  # tests hand in catalogs of their own
            _check_catalog_configured(config.source.catalog)
        engine = QueryEngine(
            config, catalog_factory, clock=clock, on_catalog_load=telemetry.catalog_loads.inc
        )
    get_data = _GetData(
        config,
        engine,
        PageTokens(token_key(_pod_json(pod_dir), os.environ.get(TOKEN_SECRET_ENV))),
        telemetry,
        gate=_gate(auth, config) if auth else None,
        callers=CallerTable(auth.limits, telemetry.registry) if auth else None,
        fingerprint=pod_fingerprint(_pod_json(pod_dir)),
    )
    # Starlette, not FastAPI: the pod validates its own arguments and serves its compiled
    # openapi.json, so FastAPI would add nothing but a tenth of a second to every cold start.
    routes = [*_routes(get_data, openapi), *docs_routes(pod_dir, GET)]
    # CORS outside compression: a refused preflight is answered before anything is encoded.
    middleware = [
        Middleware(cls, **options)
        for cls, options in (*cors_middleware(config.cors), *compression_middleware())
    ]
    app = Starlette(routes=routes, exception_handlers=_ERROR_HANDLERS, middleware=middleware)
    # No trailing-slash redirects: Starlette builds their Location from the Host header, so
    # anyone could have the pod send clients to a host of their choosing; /get_data/ is a 404.
    app.router.redirect_slashes = False
    app.add_middleware(IdleRelease)  # memory back to the system once the pod goes quiet
    return app


def _downstream_engine(
    config: PodConfig, upstream: UpstreamSpec, clock: Callable[[], float]
) -> DownstreamEngine:
    """The engine of a pod that reads another pod's answer. Imported here, not at start-up:
    its HTTP client (requests) costs a pod over a table a few hundredths of a second."""
    from .downstream import DownstreamEngine, check_upstream_configured

    return DownstreamEngine(config, check_upstream_configured(upstream), clock=clock)


def _gate(auth: AuthSpec, config: PodConfig) -> Gate:
    """The JWT gate of a pod with an auth block. Imported here, not at start-up: `jwt` and
    `requests` take most of a tenth of a second, which a pod without auth never needs."""
    from .auth import Gate

    return Gate(auth, config.parameters, config.name)


def _routes(get_data: _GetData, openapi: bytes) -> list[Route]:
    """The pod's GET routes (Starlette answers HEAD on each too)."""
    # The catalog, the scan, DuckDB and the wait for a query slot block, so a request is answered
    # in a worker thread - but one of its own limiter, not AnyIO's default one, which sends the
    # streamed answers' bodies. With a single limiter, requests waiting for a slot could take
    # every thread, and the answer holding the slot could never send its body to free the slot:
    # all would stall until the queue timeout (mass 503s). Now a streamed body always gets a
    # thread: its query runs back to back with the waiting ones.
    request_threads = anyio.CapacityLimiter(get_data.engine.limits.request_threads)
    lists = frozenset(p.name for p in get_data.config.parameters if p.element)

    async def get_data_route(request: Request) -> Response:
        scope = request.scope
        accept, authorization, if_none_match = _answer_headers(scope["headers"])
        return await anyio.to_thread.run_sync(
            get_data.answer,
            scope["path"],  # Starlette's request.url would parse the whole URL for it
            query_items(scope["query_string"], lists),
            accept,
            scope["method"] == "HEAD",
            authorization,
            if_none_match,
            limiter=request_threads,
        )

    # Async on purpose: a probe must answer even while every threadpool worker runs a query.
    async def healthz(_: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    probe_threads = anyio.CapacityLimiter(READY_THREADS)

    async def readyz(_: Request) -> Response:
        return await _readiness(get_data, probe_threads)

    async def metrics(_: Request) -> Response:
        return Response(get_data.telemetry.exposition(), media_type=METRICS_MEDIA_TYPE)

    async def openapi_json(_: Request) -> Response:
        return Response(openapi, media_type=JSON)

    return [
        Route("/get_data", get_data_route, methods=GET),
        Route("/healthz", healthz, methods=GET),
        Route("/readyz", readyz, methods=GET),
        Route("/metrics", metrics, methods=GET),
        Route("/openapi.json", openapi_json, methods=GET),
    ]


def _answer_headers(
    raw: Sequence[tuple[bytes, bytes]],
) -> tuple[str | None, str | None, str | None]:
    """Accept, Authorization and If-None-Match from the ASGI headers (names come lowercased),
    in one pass: what a request costs before its query starts is paid on every request. The
    first Accept and If-None-Match count, as Starlette's Headers.get would take them. Several
    Authorization headers read as one (RFC 9110 5.3), which is no bearer token: never the
    first one, when a proxy in front may have checked the last."""
    accept = if_none_match = None
    authorization: list[str] = []
    for name, value in raw:
        if name == b"accept" and accept is None:
            accept = value.decode("latin-1")
        elif name == b"authorization":
            authorization.append(value.decode("latin-1"))
        elif name == b"if-none-match" and if_none_match is None:
            if_none_match = value.decode("latin-1")
    return accept, ", ".join(authorization) or None, if_none_match


# --- one request --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _GetData:
    """GET /get_data of one pod: what answering needs, built once at start-up."""

    config: PodConfig
    engine: QueryEngine | DownstreamEngine
    tokens: PageTokens
    telemetry: Telemetry
    gate: Gate | None = None  # the pod's auth block (auth.py); None: no caller is asked who
    callers: CallerTable | None = None
    fingerprint: str = ""  # of pod.json, in every ETag

    def answer(
        self,
        path: str,
        query: list[tuple[str, str]],
        accept: str | None,
        head: bool = False,
        authorization: str | None = None,
        if_none_match: str | None = None,
    ) -> Response:
        """One request's answer (in a worker thread); every failure a PodError. `head`: the
        headers GET would send (the query runs as far as they need), without the body; a 304
        when `if_none_match` holds the answer's ETag (found before the query runs)."""
        exchange = Exchange(self.config, self.telemetry, path)
        try:
            bound = self._admit(authorization, query, exchange)
            asked = _read_request(self.config, self.tokens, query, accept, exchange, bound)
            if if_none_match is not None:
                unchanged = self._not_modified(asked, if_none_match, exchange)
                if unchanged is not None:
                    return unchanged
            answer = self.engine.answer(asked.values, asked.page)
            try:
                exchange.snapshot_id, exchange.stats = answer.snapshot_id, answer.stats
                body = AnswerBody(answer, asked.format, asked.limit, exchange)
                whole = body.read_whole() if body.whole else None
            except BaseException:
                answer.close()
                raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a clean JSON error
            error = exchange.failure(exc)
            exchange.end(error.status, Outcome.REJECTED, error.message)
            raise error from None
        headers = _cache_headers(self.config.freshness_seconds, answer.state_age_seconds)
        headers["ETag"] = self._etag(asked, answer.snapshot_id)
        if body.more:
            position = Position(answer.snapshot_id, asked.page.offset + asked.limit)
            token = self.tokens.issue(position, asked.values)
            headers[NEXT_PAGE_HEADER] = token
            link = next_link(path, query, token)
            if link is not None:
                headers["Link"] = f'<{link}>; rel="next"'
        if head:
            return _head(body, whole, asked.format.media_type, headers)
        if whole is not None:
            return WholeResponse(body, whole, media_type=asked.format.media_type, headers=headers)
        return ClosingStreamingResponse(body, media_type=asked.format.media_type, headers=headers)

    def _admit(
        self, authorization: str | None, query: list[tuple[str, str]], exchange: Exchange
    ) -> dict[str, Any]:
        """The caller's bound parameter values once its token is verified (401, 403) and it
        is within its limits (429; its count ends with the request)."""
        if self.gate is None:
            return {}
        caller = self.gate.admit(authorization)
        exchange.subject = caller.subject
        self.gate.authorize(caller)
        bound = self.gate.bound_values(caller, query)
        if self.callers is not None:
            exchange.on_end(self.callers.enter(caller.subject))
        return bound

    def _etag(self, asked: _Asked, version: int | None) -> str:
        """The answer's ETag: pod, data version, final values, format and page."""
        page = asked.page
        return entity_tag(
            self.fingerprint, version, asked.values, asked.format.name, page.offset, asked.limit
        )

    def _not_modified(
        self, asked: _Asked, if_none_match: str, exchange: Exchange
    ) -> Response | None:
        """A 304 when the answer the request would get has a tag `if_none_match` lists: the
        data version is found without running the query (the table's current snapshot, or
        the upstream's answer as revalidated), so an unchanged answer costs no query."""
        try:
            version, age = self.engine.version(asked.values, asked.page)
        except PodError as exc:
            if exc.status == 410:  # a page's snapshot: answering reloads the table for it
                return None
            raise  # anything else fails the request as answering would (not twice over)
        etag = self._etag(asked, version)
        if not none_match(if_none_match, etag):
            return None
        exchange.snapshot_id = version
        exchange.end(304, Outcome.COMPLETE)
        headers = {**_cache_headers(self.config.freshness_seconds, age), "ETag": etag}
        return Response(status_code=304, headers=headers)


def _head(body: AnswerBody, whole: bytes | None, media_type: str, headers: dict) -> Response:
    """GET's headers without its body: a whole answer's length, none for one GET streams. The
    whole body goes along (the server drops it), so encoding.py can give its encoded length."""
    body.end_unsent()
    response = Response(whole or b"", media_type=media_type, headers=headers)
    if whole is None:
        del response.headers["content-length"]
    return response


@dataclass(frozen=True, slots=True)
class _Asked:
    """What a /get_data request asks for, checked: typed values, format, page."""

    values: Mapping[str, Any]
    format: Format
    limit: int
    page: Page  # limit + 1 rows: the extra one says whether a next page exists


def _read_request(
    config: PodConfig,
    tokens: PageTokens,
    query: Sequence[tuple[str, str]],
    accept: str | None,
    exchange: Exchange,
    bound: Mapping[str, Any] | None = None,
) -> _Asked:
    """The request's parameters, format and page, or the PodError (400, 406) saying what's wrong.
    `bound`: the values the caller's token fixes; they join the values the result cache and
    page tokens key on, so callers of different bindings never share an answer or a page."""
    reserved: dict[str, str] = {}
    parameters: list[tuple[str, str]] = []
    for name, text in query:
        if name not in RESERVED_ARGUMENTS:
            parameters.append((name, text))
        elif name in reserved:
            raise PodError(400, f"argument '{name}' is given more than once")
        else:
            reserved[name] = text
    exchange.given = _shown(parameters)
    chosen = choose_format(reserved.get("format"), accept)
    exchange.format = chosen.name
    limit = parse_limit(reserved.get("limit"), config.max_page_size)
    exchange.limit = limit
    bound = bound or {}
    declared = [p for p in config.parameters if p.name not in bound]
    values = {**bind_parameters(declared, parameters), **bound}
    position = FIRST_PAGE
    if "page_token" in reserved:
        position = tokens.read(reserved["page_token"], values)
    exchange.offset = position.offset
    return _Asked(values, chosen, limit, Page(position.offset, limit + 1, position.snapshot_id))


def _shown(parameters: list[tuple[str, str]]) -> dict[str, str]:
    """Each parameter's text for the request log, a list parameter's values joined by commas."""
    texts: dict[str, list[str]] = {}
    for name, text in parameters:
        texts.setdefault(name, []).append(text)
    return {name: ",".join(values) for name, values in texts.items()}


def _cache_headers(freshness_seconds: float, state_age_seconds: float) -> dict[str, str]:
    """An answer may be as old as the pod's declared freshness: caches may keep it for what is
    left of that once the table state it was read from is already `state_age_seconds` old (not
    the whole freshness again). The representation depends on Accept."""
    left = min(freshness_seconds - state_age_seconds, MAX_AGE_SECONDS)
    seconds = round(left) if left > 0 else 0  # NaN is no freshness either
    return {"Cache-Control": f"max-age={seconds}", "Vary": "Accept"}


async def _readiness(get_data: _GetData, limiter: anyio.CapacityLimiter) -> Response:
    """200 once the pod's table loads from its catalog; else 503 saying why (never a secret)."""
    source = get_data.config.source
    retry = {"Retry-After": RETRY_AFTER_SECONDS}
    try:
        with anyio.fail_after(READY_TIMEOUT_SECONDS):
            snapshot = await anyio.to_thread.run_sync(
                get_data.engine.ready, abandon_on_cancel=True, limiter=limiter
            )
    except TimeoutError:
        reason = f"catalog '{source.catalog}' did not answer within {READY_TIMEOUT_SECONDS:g} s"
        return _error(503, f"not ready: {reason}", retry)
    except Exception as exc:  # noqa: BLE001 - every failure is a reason not to be ready
        error = classify(exc, catalog=source.catalog, table=source.display)
        log.warning("not ready: %s (%s)", error.message, type(exc).__name__)
        return _error(503, f"not ready: {error.message}", retry)
    body = {"status": "ready", "table": source.display, "snapshot_id": snapshot}
    return Response(json.dumps(body, separators=(",", ":")).encode(), media_type=JSON)


# --- start-up -----------------------------------------------------------------------------------


def _check_catalog_configured(name: str) -> None:
    """A ConfigError when pyiceberg has no property at all for the pod's catalog."""
    if catalog_properties(name):
        return
    prefix = f"PYICEBERG_CATALOG__{name.upper()}__"
    raise ConfigError(
        f"catalog '{name}' is not configured: set {prefix}URI (and {prefix}TYPE, "
        f"{prefix}WAREHOUSE, … as the catalog needs) or write them in .pyiceberg.yaml "
        "(read from $PYICEBERG_HOME, the home directory or the working directory)"
    )


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


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_json(message), status_code=status, media_type=JSON, headers=headers)


async def _pod_error(_: Request, exc: PodError) -> Response:
    return _error(exc.status, exc.message, exc.headers)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """JSON for unknown routes and wrong methods too."""
    if exc.status_code == 404:
        message = f"no such route {request.url.path!r}; this pod serves {ROUTES}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed; this pod serves {ROUTES}"
    else:
        message = str(exc.detail)
    return _error(exc.status_code, message, exc.headers)


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.error("unexpected %s outside a query", type(exc).__name__)
    return _error(500, INTERNAL_ERROR)


_ERROR_HANDLERS = {PodError: _pod_error, HTTPException: _http_error, Exception: _unexpected}
