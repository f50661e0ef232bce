"""Helpers of the pod tests: pod directories written by hand (as `datapic compile` lays them
out), running them under uvicorn, and the reference's SQL and JSON forms.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import shutil
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from podrun import running_pod

ROOT = Path(__file__).resolve().parents[2]

POD_TEMPLATE = ROOT / "templates" / "pod"
POD_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schemas" / "pod.schema.json").read_text())
)


# --- pods ---------------------------------------------------------------------------------------


def make_pod(tmp_path: Path, pod_json: dict) -> Path:
    """A pod directory as `datapic compile` lays it out: the runtime, pod.json, openapi.json."""
    POD_SCHEMA.validate(pod_json)  # a hand-written pod must keep to the compiler's contract
    pod_dir = tmp_path / pod_json["name"]
    shutil.copytree(POD_TEMPLATE, pod_dir, ignore=shutil.ignore_patterns("__pycache__"))
    (pod_dir / "pod.json").write_text(json.dumps(pod_json, indent=2, sort_keys=True) + "\n")
    (pod_dir / "openapi.json").write_text(json.dumps(openapi(pod_json), indent=2) + "\n")
    return pod_dir


def pod_json(
    name: str,
    table: str,
    sql: str,
    columns: list[str],
    read_columns: list[str],
    parameters: list[dict] = (),
    pushdown: list[dict] = (),
) -> dict:
    """A complete pod.json; the fields no test looks at get fixed values."""
    namespace, table_name = table.split(".")
    return {
        "columns": columns,
        "description": f"test pod {name}",
        "format_version": 1,
        "freshness_seconds": 5,
        "max_page_size": 10000,
        "result_cache": False,
        "generator": "datapic 0.1.0",
        "name": name,
        "operation": "PROJECTION",
        "parameters": list(parameters),
        "pushdown": list(pushdown),
        "read_columns": sorted(read_columns),
        "source": {"catalog": "default", "namespace": [namespace], "table": table_name},
        "spec": {"path": f"tests/{name}.yaml", "sha256": "0" * 64},
        "sql": sql.split("\n"),  # one line per element, as the compiler writes it
    }


def param(name: str, type_name: str, default: Any = None, required: bool = False) -> dict:
    """A pod.json parameter."""
    return {
        "default": default,
        "description": "",
        "name": name,
        "required": required,
        "type": type_name,
    }


def ref(name: str) -> dict:
    """A pushdown value bound to a parameter."""
    return {"parameter": name}


def lit(value: Any, type_name: str) -> dict:
    """A pushdown literal."""
    return {"literal": value, "type": type_name}


def openapi(pod: dict) -> dict:
    """A minimal OpenAPI 3.1 document for the pod (the compiler writes the full one)."""
    parameters = [
        {"name": p["name"], "in": "query", "required": p["required"], "schema": {"type": "string"}}
        for p in pod["parameters"]
    ]
    operation = {"parameters": parameters, "responses": {"200": {"description": "rows"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": pod["name"], "version": "0"},
        "paths": {"/get_data": {"get": operation}},
    }


@contextlib.contextmanager
def serving(pod_dir: Path, env: Mapping[str, str], log: Path) -> Iterator[httpx.Client]:
    """The pod under uvicorn on 127.0.0.1 (as its Dockerfile starts it), and a client for it."""
    with (
        running_pod(pod_dir, dict(env), timeout=60, log_path=log) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


# --- the reference ------------------------------------------------------------------------------

_SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


def sql_literal(type_name: str, value: Any) -> str:
    """`value` as a DuckDB literal of the parameter's declared type."""
    if value is None:
        return f"CAST(NULL AS {_SQL_TYPES[type_name]})"
    if type_name == "string":
        return "'" + value.replace("'", "''") + "'"
    if type_name == "boolean":
        return "TRUE" if value else "FALSE"
    if type_name == "timestamp" and value.tzinfo is not None:
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    text = repr(value) if type_name == "number" else str(value)
    return f"CAST('{text}' AS {_SQL_TYPES[type_name]})"


def substitute(pod: dict, values: Mapping[str, Any]) -> str:
    """The pod's SQL with every $parameter replaced by its value as a typed literal."""
    types = {p["name"]: p["type"] for p in pod["parameters"]}
    assert set(values) == set(types), "the test must give every parameter's expected value"

    def literal(match: re.Match) -> str:
        return sql_literal(types[match.group(1)], values[match.group(1)])

    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)\b", literal, "\n".join(pod["sql"]))


def json_form(value: Any) -> Any:
    """A value as the pod contract writes it: exact decimals as text, ISO 8601, NaN as null."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def assert_rows_equal(answer: list[dict], expected: list[dict]) -> None:
    """Same rows, same order, same keys in the same order; floats equal up to rounding."""
    assert len(answer) == len(expected), (answer[:5], expected[:5])
    for got, want in zip(answer, expected, strict=True):
        assert list(got) == list(want)
        for key, value in want.items():
            if isinstance(value, float) and isinstance(got[key], float | int):
                assert math.isclose(got[key], value, rel_tol=1e-12, abs_tol=1e-9), (key, got, want)
            else:
                assert got[key] == value, (key, got, want)
