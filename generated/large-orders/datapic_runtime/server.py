"""The pod's HTTP API: GET /get_data, GET /healthz, GET /openapi.json; every error as JSON."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pyiceberg.catalog import Catalog, load_catalog
from starlette.exceptions import HTTPException

from .config import PodConfig, load_config
from .errors import INTERNAL_ERROR, ConfigError, PodError, classify
from .params import bind_parameters
from .query import QueryEngine
from .secrets import redact
from .serialize import error_json, rows_json

log = logging.getLogger("datapic.pod")
JSON = "application/json"
ROUTES = "GET /get_data, GET /healthz, GET /openapi.json"


def create_app(pod_dir: Path, catalog_factory: Callable[[str], Catalog] = load_catalog) -> FastAPI:
    """The ASGI app serving the pod compiled into `pod_dir` (pod.json and openapi.json)."""
    _setup_logging()
    config = load_config(pod_dir)
    openapi = _openapi_document(pod_dir)
    engine = QueryEngine(config, catalog_factory)
    # FastAPI's generated docs are off: the compiled openapi.json is the pod's API description.
    app = FastAPI(title=config.name, openapi_url=None, docs_url=None, redoc_url=None)
    # Answers may be as old as the pod's declared freshness, so caches may keep them that long.
    cached = {"Cache-Control": f"max-age={int(config.freshness_seconds)}"}

    @app.get("/get_data")
    def get_data(request: Request) -> Response:
        # Sync on purpose: the catalog, the scan and DuckDB block, so this runs in the threadpool.
        query = request.query_params.multi_items()
        try:
            values = bind_parameters(config.parameters, query)
            answer = engine.answer(values)
            body = rows_json(config.columns, answer.to_table(), answer.wide_integers)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a clean JSON error
            raise _failure(exc, config, dict(query)) from None
        return Response(body, media_type=JSON, headers=cached)

    # Async on purpose: a probe must answer even while every threadpool worker runs a query.
    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return Response(openapi, media_type=JSON)

    _install_error_handlers(app)
    return app


def _openapi_document(pod_dir: Path) -> bytes:
    """openapi.json's bytes, served verbatim; checked once so a broken file fails at start-up."""
    path = pod_dir / "openapi.json"
    try:
        document = path.read_bytes()
        json.loads(document)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    return document


def _failure(exc: Exception, config: PodConfig, given: Mapping[str, str]) -> PodError:
    """The PodError for `exc`, logged without secrets (with its traceback when unexpected)."""
    source = config.source
    error = classify(exc, catalog=source.catalog, table=source.display, given=given)
    if error.status < 500:
        log.info("%s: %d %s", config.name, error.status, error.message)
    elif error.message is INTERNAL_ERROR:
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


class _UvicornLike(logging.Formatter):
    """`ERROR:    datapic.pod: message`, aligned with uvicorn's own lines."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname + ':':<9} {record.name}: {super().format(record)}"


def _setup_logging() -> None:
    """Send the pod's log lines to stderr next to uvicorn's, unless logging is configured."""
    logger = logging.getLogger("datapic")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UvicornLike())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
