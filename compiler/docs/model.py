"""What a pod's docs page shows, read from the pod's own pod.json and openapi.json.

The page is built from the compiled pod, not from the spec: `datapic compile` renders it from
the documents it is about to write, and `datapic docs build` from the same documents in
`generated/`, so both show the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .markdown import markdown_html

# A value to try for a parameter without a default, by type (what the form is prefilled with).
_EXAMPLES = {
    "string": "text",
    "integer": "42",
    "number": "12.5",
    "boolean": "true",
    "date": "2024-01-31",
    "timestamp": "2024-01-31T12:00:00",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterDoc:
    """One request parameter as the page lists it; values as query-string text."""

    name: str
    type: str
    required: bool
    default: str | None  # None: no default
    example: str
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnDoc:
    """One answer column and its type ("" when the pod does not know it)."""

    name: str
    type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PodDocs:
    """Everything a pod's page shows."""

    name: str
    description: str
    long_description_html: str  # rendered and sanitized (markdown.py)
    operation: str
    table: str
    spec_path: str
    parameters: tuple[ParameterDoc, ...]
    columns: tuple[ColumnDoc, ...]
    depends_on: tuple[str, ...]  # the pods this one reads (their resource names)
    max_page_size: int
    # Whether callers need a bearer token: pod.json's `auth` block, read defensively (any
    # value but absent, null or false means yes) so the page does not depend on its shape.
    auth: bool = False


def pod_docs(pod: Mapping[str, Any], openapi: Mapping[str, Any]) -> PodDocs:
    """The page's content from a pod's pod.json and openapi.json documents."""
    source = pod["source"]
    return PodDocs(
        name=pod["name"],
        description=pod["description"],
        long_description_html=markdown_html(pod.get("long_description", "")),
        operation=pod["operation"],
        table=".".join((*source["namespace"], source["table"])),
        spec_path=pod["spec"]["path"],
        # A parameter a token's claim fixes (auth.bind) is no query argument: not in the form.
        parameters=tuple(_parameter(p) for p in pod["parameters"] if p["name"] not in _bound(pod)),
        columns=tuple(
            ColumnDoc(name=name, type=kind)
            for name, kind in zip(pod["columns"], column_types(pod, openapi), strict=True)
        ),
        depends_on=tuple(sorted(_upstreams(pod))),
        max_page_size=pod["max_page_size"],
        auth=pod.get("auth") not in (None, False),
    )


def _bound(pod: Mapping[str, Any]) -> set[str]:
    """The parameters the caller's token fixes (pod.json's auth.bind)."""
    return {b["parameter"] for b in pod.get("auth", {}).get("bind", [])}


def column_types(pod: Mapping[str, Any], openapi: Mapping[str, Any]) -> list[str]:
    """Each answer column's type: the schema lock's (Iceberg types, written by `compile
    --check`) when pod.json holds one, else the JSON type openapi.json gives, else ""."""
    locked = pod.get("schema_lock", {}).get("columns", {})
    described = _row_properties(openapi)
    return [locked.get(name) or _json_type(described.get(name, {})) for name in pod["columns"]]


def _row_properties(openapi: Mapping[str, Any]) -> Mapping[str, Any]:
    """The properties of one row of /get_data's JSON answer, as openapi.json describes them."""
    try:
        content = openapi["paths"]["/get_data"]["get"]["responses"]["200"]["content"]
        return content["application/json"]["schema"]["items"].get("properties", {})
    except (KeyError, TypeError):
        return {}


def _json_type(schema: Mapping[str, Any]) -> str:
    """A JSON Schema's type as one word ("integer", "string (date)"); "" when it has none."""
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else [k for k in kinds if k != "null"]
    if not kinds:
        return ""
    text = " | ".join(kinds)
    return f"{text} ({schema['format']})" if "format" in schema else text


def _parameter(raw: Mapping[str, Any]) -> ParameterDoc:
    default = raw.get("default")
    has_default = not raw["required"] and default is not None
    element = raw["type"].removesuffix("[]")
    return ParameterDoc(
        name=raw["name"],
        type=raw["type"],
        required=raw["required"],
        default=query_text(default) if has_default else None,
        example=query_text(default) if has_default else _EXAMPLES.get(element, ""),
        description=raw.get("description", ""),
    )


def query_text(value: Any) -> str:
    """A parameter value as a query string writes it (a list: comma-separated).

    >>> query_text(True), query_text(["EMEA", "AMER"]), query_text(2.5)
    ('true', 'EMEA,AMER', '2.5')
    """
    if isinstance(value, list):
        return ",".join(query_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _upstreams(pod: Mapping[str, Any]) -> list[str]:
    """The pods this one reads: pod.json's `upstream` (a spec's `depends_on: - resource:`), and
    `depends_on` entries naming a `resource` in a pod.json written by hand."""
    found = [item["resource"] for item in pod.get("depends_on", []) if "resource" in item]
    upstream = pod.get("upstream")
    if isinstance(upstream, Mapping) and isinstance(upstream.get("resource"), str):
        found.append(upstream["resource"])
    return found
