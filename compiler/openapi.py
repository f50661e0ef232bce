"""The OpenAPI 3.1 document of a pod, built as data from the IR (the runtime serves it as is)."""

from __future__ import annotations

from typing import Any

from . import __version__
from .ir import CompiledQuery, ParamType, Pod

_SCHEMAS: dict[ParamType, dict[str, str]] = {
    ParamType.STRING: {"type": "string"},
    ParamType.INTEGER: {"type": "integer"},
    ParamType.NUMBER: {"type": "number"},
    ParamType.BOOLEAN: {"type": "boolean"},
    ParamType.DATE: {"type": "string", "format": "date"},
    ParamType.TIMESTAMP: {"type": "string", "format": "date-time"},
}

_ERROR = {"$ref": "#/components/schemas/Error"}


def openapi(pod: Pod, query: CompiledQuery) -> dict[str, Any]:
    """The pod's API: GET /get_data with every parameter, GET /healthz."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": pod.name,
            "version": pod.provenance.spec_sha256[:12],
            "description": _description(pod),
            "x-generator": f"datapic {__version__}",
        },
        "paths": {
            "/get_data": {
                "get": {
                    "operationId": "get_data",
                    "summary": pod.short_description or f"Answer the {pod.name} query",
                    "parameters": [_parameter(p) for p in pod.parameters],
                    "responses": {
                        "200": {
                            "description": "One JSON object per row, keys in column order.",
                            "content": {"application/json": {"schema": _rows(query)}},
                        },
                        **{code: _error_response(text) for code, text in _ERRORS.items()},
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness: 200 while the process is up.",
                    "responses": {"200": {"description": "The pod is up."}},
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                }
            }
        },
    }


_ERRORS = {
    "400": "A parameter is missing, unknown, or not of its type.",
    "403": "The pod's principal may not read the table.",
    "404": "The table does not exist (or is hidden from the pod's principal).",
    "500": "The query failed inside the pod.",
    "502": "The catalog rejected the pod's credentials.",
    "503": "The catalog or storage cannot be reached; retry after the Retry-After delay.",
}


def _description(pod: Pod) -> str:
    source = ".".join((*pod.source.namespace, pod.source.table))
    lines = [pod.short_description, "", f"{pod.operation.value} over `{source}`."]
    return "\n".join(line for line in lines if line is not None).strip()


def _parameter(parameter) -> dict[str, Any]:
    schema = dict(_SCHEMAS[parameter.type])
    if not parameter.required:
        schema["default"] = parameter.default
    result: dict[str, Any] = {
        "name": parameter.name,
        "in": "query",
        "required": parameter.required,
        "schema": schema,
    }
    if parameter.description:
        result["description"] = parameter.description
    return result


def _rows(query: CompiledQuery) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {name: {} for name in query.columns},
            "required": list(query.columns),
        },
    }


def _error_response(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": _ERROR}}}
