"""The pod's HTTP API: GET /get_data, GET /healthz, GET /openapi.json; errors as JSON."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from .config import load_config
from .errors import PodError
from .params import bind_parameters
from .query import QueryEngine
from .serialize import error_json, rows_to_json

log = logging.getLogger("datapic.pod")
JSON = "application/json"


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_json(message), status_code=status, media_type=JSON, headers=headers)


def create_app(pod_dir: Path) -> FastAPI:
    """The ASGI app serving the pod compiled into `pod_dir`."""
    config = load_config(pod_dir)
    openapi = json.loads((pod_dir / "openapi.json").read_text(encoding="utf-8"))
    engine = QueryEngine(config)
    # FastAPI's own docs are off: the compiled openapi.json is the pod's API description.
    app = FastAPI(title=config.name, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/get_data")
    def get_data(request: Request) -> Response:
        values = bind_parameters(config.parameters, request.query_params.multi_items())
        rows = engine.answer(values)
        return Response(rows_to_json(config.columns, rows), media_type=JSON)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.get("/openapi.json")
    def openapi_document() -> JSONResponse:
        return JSONResponse(openapi)

    @app.exception_handler(PodError)
    def pod_error(_: Request, exc: PodError) -> Response:
        return _error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    def http_error(_: Request, exc: HTTPException) -> Response:
        return _error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return _error_response(400, "invalid request")

    @app.exception_handler(Exception)
    def unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected %s in %s", type(exc).__name__, config.name)
        return _error_response(500, "internal error")

    return app
