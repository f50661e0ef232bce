"""The two measured queries as datapic specs, compiled with the real CLI into pods, and the same
compiled SQL in the forms the other contenders run (bound DuckDB parameters, SQL literals)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlglot
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Not,
    NotEqualTo,
    NotIn,
    NotNull,
    Or,
    StartsWith,
)
from sqlglot import exp
from table import customer_name, table_name

REGION = "EMEA"


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One query: its spec (minus the table) and the request values it is measured with."""

    key: str
    title: str
    spec: dict[str, Any]
    args: dict[str, str]
    # The table it reads, when not the measured table of a scale (`table_name`).
    table: str | None = None

    def spec_for(self, scale: int, cached: bool = False) -> dict[str, Any]:
        """The spec over the table at `scale` (or its own table); the result cache off unless
        `cached`."""
        namespace, table = (self.table or table_name(scale)).split(".")
        suffix = "" if scale == 1 else f"-x{scale}"
        return {
            "resource_name": f"bench-{self.key}{suffix}{'-cached' if cached else ''}",
            "short_description": self.title,
            "depends_on": [{"namespace": namespace, "table": table}],
            **self.spec,
            # Off for the measured pods, so every request really queries the table.
            "result_cache": cached,
        }


def cases() -> list[Case]:
    """The reduction and the selective projection, with their request values."""
    reduction = Case(
        key="reduction",
        title="Orders, units, revenue and mean discount by category and month of one region",
        spec={
            "operation_type": "REDUCTION",
            "aggregate": {
                "orders": "count(*)",
                "units": "sum(quantity)",
                "revenue": "sum(quantity * unit_price)",
                "avg_discount": "avg(discount)",
            },
            "group_by": ["category", "order_month"],
            "filters": ["region = :region"],
            "parameters": [{"name": "region", "type": "string", "default": REGION}],
        },
        args={"region": REGION},
    )
    projection = Case(
        key="projection",
        title="One customer's orders in a date range, in its region",
        spec={
            "operation_type": "PROJECTION",
            "select": [
                "order_id",
                "order_date",
                "customer",
                "country",
                "product",
                "category",
                "quantity",
                "unit_price",
                "discount",
                "shipped_at",
            ],
            "filters": [
                "region = :region",
                "customer = :customer",
                "order_date BETWEEN :since AND :until",
            ],
            "parameters": [
                {"name": "region", "type": "string"},
                {"name": "customer", "type": "string"},
                {"name": "since", "type": "date"},
                {"name": "until", "type": "date"},
            ],
            "order_by": ["order_date", "order_id"],
        },
        args={
            "region": REGION,
            # Customer 7 exists at every size (a region has at least 10 customers).
            "customer": customer_name(REGION, 7),
            "since": "2024-01-01",
            "until": "2024-06-30",
        },
    )
    return [reduction, projection]


def large_case() -> Case:
    """Issue 11: a projection whose answer is several MB (one region's orders of a quarter,
    every column, up to 100,000 rows a page), so slow and stalled readers hold big answers."""
    projection = next(case for case in cases() if case.key == "projection")
    spec = {
        **projection.spec,
        "filters": ["region = :region", "order_date BETWEEN :since AND :until"],
        "parameters": [p for p in projection.spec["parameters"] if p["name"] != "customer"],
        "order_by": ["order_id"],
        "max_page_size": 100_000,
    }
    args = {"region": REGION, "since": "2024-01-01", "until": "2024-03-31"}
    return Case(key="large", title="One region's orders of a quarter", spec=spec, args=args)


def fresh_case(seconds: float) -> Case:
    """Issue 11: the reduction with a short freshness, so a load run spans several periods
    and the pod's count of catalog loads per period can be read."""
    reduction = next(case for case in cases() if case.key == "reduction")
    spec = {**reduction.spec, "freshness_seconds": seconds}
    return replace(
        reduction, key="fresh", title=f"{reduction.title}, freshness {seconds:g} s", spec=spec
    )


def eqdeletes_case(table: str) -> Case:
    """The reduction over `table`, the table with equality deletes (issue 9)."""
    reduction = next(case for case in cases() if case.key == "reduction")
    return replace(
        reduction,
        key="eqdeletes",
        title=f"{reduction.title}, over a table with equality deletes",
        table=table,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Compiled:
    """A compiled pod of one case: its directory and what its pod.json says."""

    case: Case
    pod_dir: Path
    sql: str
    types: dict[str, str] = field(default_factory=dict)
    # pod.json's pushdown: the row filter the pod hands to Iceberg's planning.
    pushdown: tuple = ()

    @property
    def path(self) -> str:
        """GET /get_data with the case's values in the query string."""
        return "/get_data?" + urllib.parse.urlencode(self.case.args)

    def duckdb_values(self) -> dict[str, Any]:
        """The case's values typed as the pod binds them, for DuckDB's $name parameters."""
        return {name: _typed(self.types[name], text) for name, text in self.case.args.items()}

    def row_filter(self) -> BooleanExpression:
        """The pod's pushdown with the case's values, as a pyiceberg row filter."""
        values = {name: _iceberg_value(v) for name, v in self.duckdb_values().items()}
        return And(AlwaysTrue(), *(_predicate(p, values) for p in self.pushdown))

    def literal_sql(self, table: str) -> str:
        """The compiled SQL with the values written in as literals, over `table` (for ROAPI)."""
        tree = sqlglot.parse_one(self.sql, read="duckdb")
        values = self.duckdb_values()
        for placeholder in list(tree.find_all(exp.Placeholder)):
            placeholder.replace(_literal(values[placeholder.name]))
        for source in tree.find_all(exp.Table):
            if source.name == "source":
                source.replace(exp.to_table(table))
        return tree.sql(dialect="postgres")


def compile_pods(specs: dict[str, dict[str, Any]], out: Path) -> None:
    """Write each spec as `out/specs/NAME.yaml` and compile them all with the datapic CLI."""
    spec_dir = out / "specs"
    spec_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, spec in specs.items():
        path = spec_dir / f"{name}.yaml"
        # JSON is YAML: the spec file is exactly what a developer could have written.
        path.write_text(json.dumps(spec, indent=2) + "\n")
        paths.append(str(path))
    command = [str(Path(sys.executable).parent / "datapic"), "compile", *paths, "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"bench: datapic compile failed:\n{result.stdout}{result.stderr}")


def load_compiled(case: Case, pod_dir: Path) -> Compiled:
    """The compiled form of `case` in `pod_dir`, read from its pod.json."""
    pod = json.loads((pod_dir / "pod.json").read_text())
    types = {p["name"]: p["type"] for p in pod["parameters"]}
    sql = "\n".join(pod["sql"])
    return Compiled(
        case=case, pod_dir=pod_dir, sql=sql, types=types, pushdown=tuple(pod["pushdown"])
    )


_COMPARISONS = {
    "eq": EqualTo,
    "ne": NotEqualTo,
    "lt": LessThan,
    "le": LessThanOrEqual,
    "gt": GreaterThan,
    "ge": GreaterThanOrEqual,
    "starts_with": StartsWith,
}


def _predicate(node: dict, values: dict[str, Any]) -> BooleanExpression:
    """One pod.json pushdown predicate (schemas/pod.schema.json) as a pyiceberg expression."""
    op = node["op"]
    if op in ("and", "or"):
        parts = [_predicate(arg, values) for arg in node["args"]]
        return And(*parts) if op == "and" else Or(*parts)
    if op == "not":
        return Not(_predicate(node["arg"], values))
    if op in ("is_null", "not_null"):
        return (IsNull if op == "is_null" else NotNull)(node["column"])
    if op in ("in", "not_in"):
        listed = {_value(v, values) for v in node["values"]}
        return (In if op == "in" else NotIn)(node["column"], listed)
    return _COMPARISONS[op](node["column"], _value(node["value"], values))


def _value(node: dict, values: dict[str, Any]) -> Any:
    return values[node["parameter"]] if "parameter" in node else node["literal"]


def _iceberg_value(value: Any) -> Any:
    """Dates and timestamps as ISO text, which pyiceberg binds to the column's type."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _typed(kind: str, text: str) -> Any:
    converters = {
        "string": str,
        "integer": int,
        "number": float,
        "boolean": lambda t: t.lower() == "true",
        "date": dt.date.fromisoformat,
        "timestamp": dt.datetime.fromisoformat,
    }
    return converters[kind](text)


def _literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))
