"""The OpenAPI 3.1 document of a pod, built as data from the IR (the runtime serves it as is)."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..spec.ir import MAX_LIST_VALUES, POD_ARGUMENTS, CompiledQuery, ParamType, Pod, SchemaLock
from .authdoc import AUTH_ERRORS, SCHEME, auth_description, bound_parameters, security_scheme
from .columntypes import arrow_type, json_schema

# An integer parameter is an int64 in the pod (datapic_runtime.values): a fuzzer, or a client
# generated from this document, must know that a larger one is refused.
_SCHEMAS: dict[ParamType, dict[str, Any]] = {
    ParamType.STRING: {"type": "string"},
    ParamType.INTEGER: {
        "type": "integer",
        "format": "int64",
        "minimum": -(2**63),
        "maximum": 2**63 - 1,
    },
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


def openapi(pod: Pod, query: CompiledQuery, lock: SchemaLock | None = None) -> dict[str, Any]:
    """The pod's API: GET /get_data with every parameter, GET /healthz, /readyz, /metrics."""
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": pod.name,
            # The generator's version, not the spec's hash: that lives once, in pod.json.
            "version": __version__,
            "description": _description(pod),
            "x-generator": f"datapic {__version__}",
        },
        "paths": {
            "/get_data": {"get": _get_data(pod, query, lock)},
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
            "/docs": {
                "get": {
                    "operationId": "docs",
                    "summary": "This pod's page for people: what it answers, its parameters "
                    "and columns, calls to copy, and a form that runs the query.",
                    "responses": {
                        "200": {
                            "description": "An HTML page (its script and style are "
                            "/docs/app.js and /docs/style.css).",
                            "content": {"text/html": {"schema": {"type": "string"}}},
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
    if pod.auth is not None:
        document["components"]["securitySchemes"] = {SCHEME: security_scheme(pod.auth)}
    return document


def _get_data(pod: Pod, query: CompiledQuery, lock: SchemaLock | None) -> dict[str, Any]:
    """GET /get_data: the spec's parameters and the pod's own arguments, a page of the answer;
    with auth, its security and the parameters tokens fix (not query arguments)."""
    bound = bound_parameters(pod)
    operation = {
        "operationId": "get_data",
        "summary": pod.short_description or f"Answer the {pod.name} query",
        "description": _GET_DATA,
        "parameters": [
            *(_parameter(p) for p in pod.parameters if p.name not in bound),
            *({"$ref": f"#/components/parameters/{name}"} for name in POD_ARGUMENTS),
        ],
        "responses": {
            "200": {
                "description": "One page of the answer, in the format asked for.",
                "headers": {
                    "ETag": _ETAG_HEADER,
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
                "content": _answer_content(query, lock),
                "links": {"next": _next_page_link(pod)},
            },
            "304": {
                "description": "Not modified: the request's If-None-Match names this answer's "
                "ETag (same data, parameter values, format and page); no body.",
                "headers": {"ETag": _ETAG_HEADER},
            },
            **{code: _error_response(text) for code, text in _ERRORS.items()},
        },
    }
    if pod.auth is not None:
        operation["description"] = f"{_GET_DATA} {auth_description(pod)}"
        operation["security"] = [{SCHEME: []}]
        operation["x-datapic-bound-parameters"] = bound
        errors = {**_ERRORS, **AUTH_ERRORS}
        operation["responses"].update(
            {code: _error_response(errors[code]) for code in sorted(errors)}
        )
    return operation


def _next_page_link(pod: Pod) -> dict[str, Any]:
    """The next page: the same request with the token the pod issued (the only valid tokens,
    since the pod signs them; a stateful client or fuzzer follows this link)."""
    bound = bound_parameters(pod)
    same = {p.name: f"$request.query.{p.name}" for p in pod.parameters if p.name not in bound}
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


_ETAG_HEADER = {
    "description": "A strong tag of this exact answer page (the pod, its data version, the "
    "parameter values, format, offset and limit): send it as If-None-Match to get a 304 while "
    "the answer is unchanged.",
    "schema": {"type": "string"},
}

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
    "file is damaged (a file missing or unreadable; the error says which); for a pod reading "
    "another pod, that upstream pod failed (the error names it).",
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


def _answer_content(query: CompiledQuery, lock: SchemaLock | None) -> dict[str, Any]:
    """The answer's media types, one per format; with a schema lock, each column's type in each
    (JSON Schema for JSON and NDJSON; Arrow types for Arrow IPC and Parquet)."""
    rows = _rows(query, lock)
    csv = "RFC 4180 with a header row; NULL is an empty field."
    binary: dict[str, Any] = dict(_BINARY)
    if lock is not None:
        csv += " Each value is the text of its JSON value, without JSON's string quotes."
        arrow = ", ".join(f"{name} {arrow_type(kind)}" for name, kind in lock.columns)
        binary["description"] = f"Columns (Arrow types): {arrow}."
    return {
        "application/json": {"schema": rows},
        "application/x-ndjson": {
            "schema": {**rows["items"], "description": "One such object per line."},
        },
        "text/csv": {"schema": {"type": "string", "description": csv}},
        "application/vnd.apache.arrow.stream": {"schema": binary},
        "application/vnd.apache.parquet": {"schema": binary},
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


def _rows(query: CompiledQuery, lock: SchemaLock | None) -> dict[str, Any]:
    """An array of row objects; each column typed by the lock, else any value."""
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
    types = dict(lock.columns) if lock is not None else {}
    properties = {name: _column(types.get(name)) for name in query.columns}
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": properties,
            "required": list(query.columns),
        },
    }


def _column(kind: str | None) -> dict[str, Any]:
    if kind is None:
        return {}
    return {**json_schema(kind), "description": f"Iceberg type {kind}"}


def _error_response(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": _ERROR}}}
