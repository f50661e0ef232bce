"""The OpenAPI 3.1 document of a pod, built as data from the IR (the runtime serves it as is)."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..spec.ir import MAX_LIST_VALUES, POD_ARGUMENTS, CompiledQuery, ParamType, Pod

_SCHEMAS: dict[ParamType, dict[str, str]] = {
    ParamType.STRING: {"type": "string"},
    ParamType.INTEGER: {"type": "integer"},
    ParamType.NUMBER: {"type": "number"},
    ParamType.BOOLEAN: {"type": "boolean"},
    ParamType.DATE: {"type": "string", "format": "date"},
    ParamType.TIMESTAMP: {"type": "string", "format": "date-time"},
}

_ERROR = {"$ref": "#/components/schemas/Error"}

# The answer formats the runtime serves (templates/pod/datapic_runtime/formats.py), in its order.
_FORMATS = ("json", "ndjson", "csv", "arrow", "parquet")
_BINARY = {"type": "string", "format": "binary"}
_NEXT_PAGE_HEADER = "X-Next-Page-Token"


def openapi(pod: Pod, query: CompiledQuery) -> dict[str, Any]:
    """The pod's API: GET /get_data with every parameter, GET /healthz, /readyz, /metrics."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": pod.name,
            # The generator's version, not the spec's hash: that lives once, in pod.json.
            "version": __version__,
            "description": _description(pod),
            "x-generator": f"datapic {__version__}",
        },
        "paths": {
            "/get_data": {"get": _get_data(pod, query)},
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness: 200 while the process is up.",
                    "responses": {"200": {"description": "The pod is up."}},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness: 200 once the pod's table loads from its catalog.",
                    "responses": {
                        "200": {"description": "The table loads: the pod can answer."},
                        "503": _error_response(
                            "Not ready: the catalog cannot be reached, refuses the pod or "
                            "lacks the table (the error says which)."
                        ),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics of this pod process (text format).",
                    "responses": {
                        "200": {
                            "description": "Requests, latency, rows, bytes, files, cache.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "parameters": _pod_arguments(pod),
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                }
            },
        },
    }


def _get_data(pod: Pod, query: CompiledQuery) -> dict[str, Any]:
    """GET /get_data: the spec's parameters and the pod's own arguments, a page of the answer."""
    return {
        "operationId": "get_data",
        "summary": pod.short_description or f"Answer the {pod.name} query",
        "description": _GET_DATA,
        "parameters": [
            *(_parameter(p) for p in pod.parameters),
            *({"$ref": f"#/components/parameters/{name}"} for name in POD_ARGUMENTS),
        ],
        "responses": {
            "200": {
                "description": "One page of the answer, in the format asked for.",
                "headers": {
                    _NEXT_PAGE_HEADER: {
                        "description": "Present when more rows follow: the page_token of the "
                        "next page.",
                        "schema": {"type": "string"},
                    },
                    "Link": {
                        "description": "Present when more rows follow: <URL of the next "
                        'page>; rel="next". Left out when that URL would be longer than 4096 '
                        "bytes (it repeats the request's arguments): add page_token to the "
                        "request instead.",
                        "schema": {"type": "string"},
                    },
                },
                "content": _answer_content(query),
                "links": {"next": _next_page_link(pod)},
            },
            **{code: _error_response(text) for code, text in _ERRORS.items()},
        },
    }


def _next_page_link(pod: Pod) -> dict[str, Any]:
    """The next page: the same request with the token the pod issued (the only valid tokens,
    since the pod signs them; a stateful client or fuzzer follows this link)."""
    same = {p.name: f"$request.query.{p.name}" for p in pod.parameters}
    return {
        "operationId": "get_data",
        "description": "The next page of the same answer, present when more rows follow.",
        "parameters": {
            **same,
            "format": "$request.query.format",
            "limit": "$request.query.limit",
            "page_token": f"$response.header.{_NEXT_PAGE_HEADER}",
        },
    }


# A page token as the pod writes it: 50 bytes (version, flags, snapshot id, offset, parameter
# digest, MAC) in unpadded URL-safe base64 (tests/compiler/artifacts/test_openapi.py holds it
# to the runtime's paging.py).
PAGE_TOKEN_PATTERN = "^[A-Za-z0-9_-]{67}$"


_ERRORS = {
    "400": "A parameter is missing, unknown, or not of its type; or a bad format, limit or "
    "page_token.",
    "403": "The pod's principal may not read the table.",
    "404": "The table does not exist (or is hidden from the pod's principal).",
    "406": "No format named by the Accept header is served (and no format argument given).",
    "410": "The page_token's snapshot was replaced too long ago, or no longer exists; start "
    "again from the first page.",
    "422": "A result outgrew its type: an integer sum beyond int64 (the column is named), or "
    "a decimal sum beyond 38 digits.",
    "500": "The query failed inside the pod.",
    "501": "The table uses an Iceberg feature pods do not serve (the error names it).",
    "502": "The catalog rejected the pod's credentials, or the table or a SQLite catalog's "
    "file is damaged (a file missing or unreadable; the error says which).",
    "503": "The catalog or storage cannot be reached; retry after the Retry-After delay.",
}


_GET_DATA = (
    "The query's answer for the given parameters. Its format comes from the `format` argument, "
    "else from the Accept header; JSON (an array of row objects) by default. An answer longer "
    "than `limit` rows comes in pages: each but the last carries the next page's token in the "
    'X-Next-Page-Token header and a Link header with rel="next"; ask again with the same '
    "parameters and `page_token`. All pages of one answer read the same table snapshot."
)


def _pod_arguments(pod: Pod) -> dict[str, Any]:
    """The format, limit and page_token query arguments every pod takes."""
    return {
        "format": {
            "name": "format",
            "in": "query",
            "required": False,
            "description": "Answer format; overrides the Accept header.",
            "schema": {"type": "string", "enum": list(_FORMATS), "default": "json"},
        },
        "limit": {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "Most rows in this page.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": pod.max_page_size,
                "default": pod.max_page_size,
            },
        },
        "page_token": {
            "name": "page_token",
            "in": "query",
            "required": False,
            "description": "The X-Next-Page-Token of the previous page (opaque; the pod signs "
            "the tokens it issues, and refuses others with a 400).",
            "schema": {"type": "string", "pattern": PAGE_TOKEN_PATTERN},
        },
    }


def _answer_content(query: CompiledQuery) -> dict[str, Any]:
    """The answer's media types, one per format."""
    row = _rows(query)["items"]
    return {
        "application/json": {"schema": _rows(query)},
        "application/x-ndjson": {
            "schema": {**row, "description": "One such object per line."},
        },
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "RFC 4180 with a header row; NULL is an empty field.",
            }
        },
        "application/vnd.apache.arrow.stream": {"schema": _BINARY},
        "application/vnd.apache.parquet": {"schema": _BINARY},
    }


def _description(pod: Pod) -> str:
    source = ".".join((*pod.source.namespace, pod.source.table))
    lines = [pod.short_description, "", f"{pod.operation.value} over `{source}`."]
    return "\n".join(line for line in lines if line is not None).strip()


def _parameter(parameter) -> dict[str, Any]:
    schema = dict(_SCHEMAS[parameter.type.element])
    description = parameter.description
    if parameter.type.is_list:
        schema = {"type": "array", "items": schema, "maxItems": MAX_LIST_VALUES}
        description = " ".join(filter(None, (description, _list_usage(parameter.name))))
    if not parameter.required:
        default = parameter.default
        schema["default"] = list(default) if isinstance(default, tuple) else default
    result: dict[str, Any] = {
        "name": parameter.name,
        "in": "query",
        "required": parameter.required,
        "schema": schema,
    }
    if parameter.type.is_list:
        # OpenAPI's own form of repeated arguments; the comma form is the description's.
        result |= {"style": "form", "explode": True}
    if description:
        result["description"] = description
    return result


def _list_usage(name: str) -> str:
    """How a query string gives a list parameter's values (the runtime's querystring.py)."""
    return (
        f"Several values: repeat the argument ({name}=a&{name}=b) or separate them with "
        f"commas ({name}=a,b); a comma inside a value is sent percent-encoded (%2C), as URL "
        f"encoders do. At most {MAX_LIST_VALUES} values."
    )


def _rows(query: CompiledQuery) -> dict[str, Any]:
    if query.all_columns:
        return {
            "type": "array",
            "items": {
                "type": "object",
                "description": "Every column of the table, in the table's order, as its schema "
                'is when the pod answers (the spec says select: "*"; compile with --check '
                "to list them here).",
            },
        }
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
