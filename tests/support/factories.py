"""Small factories for the compiler's tests: IR objects with sensible defaults, and spec files.

Each factory takes only what a test wants to vary; everything else is a fixed, valid default,
so a test reads as the one thing it is about.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from compiler.diagnostics import Span
from compiler.spec.ir import (
    Aggregate,
    Column,
    Filter,
    OrderKey,
    Parameter,
    ParamType,
    Pod,
    Projection,
    Provenance,
    Reduction,
    Source,
)

ROOT = Path(__file__).resolve().parents[2]
POD_SCHEMA = json.loads((ROOT / "schemas" / "pod.schema.json").read_text(encoding="utf-8"))
POD_VALIDATOR = Draft202012Validator(POD_SCHEMA)
SPEC_SCHEMA_PATH = ROOT / "schemas" / "spec.schema.json"

# The two lines every spec needs; tests append the part they are about.
HEADER = "resource_name: t\ndepends_on: [{namespace: sales, table: orders}]\n"
SHA = "0" * 64


def span(line: int = 1, column: int = 1, file: str = "spec.yaml") -> Span:
    """A location in a spec."""
    return Span(file=file, line=line, column=column)


def source(table: str = "orders", namespace: str = "sales", catalog: str = "default") -> Source:
    """The table a pod reads."""
    return Source(catalog=catalog, namespace=tuple(namespace.split(".")), table=table)


def projection(*names: str) -> Projection:
    """select: names."""
    return Projection(columns=tuple(Column(name=n) for n in names or ("a",)))


def reduction(group_by: tuple[str, ...] = (), **aggregates: str) -> Reduction:
    """aggregate: {name: expression, ...} + group_by."""
    return Reduction(
        group_by=tuple(Column(name=n) for n in group_by),
        aggregates=tuple(Aggregate(name=n, expression=e) for n, e in aggregates.items()),
    )


def parameter(
    name: str = "p", type: str = "string", default: Any = None, *, required: bool | None = None
) -> Parameter:
    """A request parameter; required unless a default is given (or `required` says so)."""
    return Parameter(
        name=name,
        type=ParamType(type),
        required=default is None if required is None else required,
        default=default,
    )


def pod(
    query: Projection | Reduction | None = None,
    *,
    filters: tuple[str, ...] = (),
    parameters: tuple[Parameter, ...] = (),
    order_by: tuple[str, ...] = (),
    limit: int | None = None,
    name: str = "t",
) -> Pod:
    """A whole pod; `order_by` items are 'column' or 'column desc'."""
    return Pod(
        name=name,
        short_description="",
        long_description="",
        source=source(),
        query=query or projection(),
        filters=tuple(Filter(text=t, span=span(10 + i)) for i, t in enumerate(filters)),
        parameters=parameters,
        order_by=tuple(
            OrderKey(column=k.split()[0], descending=k.endswith(" desc")) for k in order_by
        ),
        limit=limit,
        freshness_seconds=5,
        max_page_size=10_000,
        result_cache=False,
        deploy=True,
        provenance=Provenance(spec_path="specs/t.yaml", spec_sha256=SHA),
    )


def write_spec(folder: Path, body: str, *, name: str = "spec.yaml", header: bool = True) -> Path:
    """A spec file in `folder`: HEADER (unless header=False) followed by `body`."""
    path = folder / name
    path.write_text((HEADER if header else "") + body, encoding="utf-8")
    return path
