"""Helpers of the pod tests: pod directories rendered by the compiler from a pod.json written
in the test, running them under uvicorn, and the reference's SQL and JSON forms.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from podrun import running_pod

from compiler.artifacts.emit import emit
from compiler.artifacts.render import GENERATOR, render
from compiler.spec.ir import (
    Aggregate,
    Auth,
    CallerLimits,
    ClaimBinding,
    ClaimRequirement,
    Column,
    CompiledQuery,
    Cors,
    Jwt,
    Parameter,
    ParamType,
    Pod,
    Projection,
    Provenance,
    Reduction,
    Source,
)

ROOT = Path(__file__).resolve().parents[2]

POD_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schemas" / "pod.schema.json").read_text())
)


# --- pods ---------------------------------------------------------------------------------------


def make_pod(tmp_path: Path, pod_json: dict) -> Path:
    """The pod directory `datapic compile` would write for this pod.json, in `tmp_path`.

    The test's pod.json stands for a compiled query (its SQL may be DuckDB no spec compiles
    to); the compiler's own render and emit write the directory from it: runtime, pod.json,
    openapi.json and the deploy files.
    """
    POD_SCHEMA.validate(pod_json)  # a hand-written pod must keep to the compiler's contract
    pod, query = _compiled(pod_json)
    files = render(pod, query)
    # Rendered back, the document is the test's own: the pod runs the query the test reads.
    assert json.loads(files["pod.json"]) == pod_json
    pod_dir = tmp_path / pod_json["name"]
    emit(files, pod_dir)
    return pod_dir


def _compiled(pod_json: dict) -> tuple[Pod, CompiledQuery]:
    """The IR and compiled query a pod.json stands for (what lowering would have produced)."""
    columns = tuple(Column(name=name) for name in pod_json["columns"])
    if pod_json["operation"] == "PROJECTION":
        shape: Projection | Reduction = Projection(columns=columns)
    else:  # the SQL is given: the aggregates' expressions are never read again
        aggregates = tuple(Aggregate(name=c.name, expression=c.name) for c in columns)
        shape = Reduction(group_by=(), aggregates=aggregates)
    source = pod_json["source"]
    pod = Pod(
        name=pod_json["name"],
        short_description=pod_json["description"],
        long_description="",
        source=Source(
            catalog=source["catalog"], namespace=tuple(source["namespace"]), table=source["table"]
        ),
        query=shape,
        filters=(),
        parameters=tuple(
            Parameter(
                name=p["name"],
                type=ParamType(p["type"]),
                required=p["required"],
                default=p["default"],
                description=p["description"],
            )
            for p in pod_json["parameters"]
        ),
        order_by=(),
        limit=None,
        freshness_seconds=pod_json["freshness_seconds"],
        max_page_size=pod_json["max_page_size"],
        result_cache=pod_json["result_cache"],
        deploy=False,
        provenance=Provenance(
            spec_path=pod_json["spec"]["path"], spec_sha256=pod_json["spec"]["sha256"]
        ),
        auth=_auth(pod_json.get("auth")),
        cors=_cors(pod_json.get("cors")),
    )
    query = CompiledQuery(
        sql="\n".join(pod_json["sql"]),
        columns=tuple(pod_json["columns"]),
        read_columns=tuple(pod_json["read_columns"]),
        pushdown=tuple(pod_json["pushdown"]),
    )
    return pod, query


def _auth(raw: dict | None) -> Auth | None:
    """The IR of a pod.json's auth block (render writes it back as it was)."""
    if raw is None:
        return None
    return Auth(
        jwt=Jwt(**raw["jwt"]),
        require=tuple(
            ClaimRequirement(claim=tuple(r["claim"]), value=r["value"]) for r in raw["require"]
        ),
        bind=tuple(
            ClaimBinding(parameter=b["parameter"], claim=tuple(b["claim"])) for b in raw["bind"]
        ),
        limits=CallerLimits(**raw["limits"]),
    )


def _cors(raw: dict | None) -> Cors | None:
    if raw is None:
        return None
    return Cors(**{**raw, "allow_origins": tuple(raw["allow_origins"])})


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
        "format_version": 2,
        "freshness_seconds": 5,
        "max_page_size": 10000,
        "result_cache": False,
        "generator": GENERATOR,
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
