"""Checking a lowered pod against its table's schema (compiler/check/checker.py, kinds.py), and
loading that schema from a real catalog (compiler/check/catalog.py).

The schema comes from a real SQL catalog (SQLite) through the same `SchemaLookup` the CLI uses.
The type rules are held to an independent reference: DuckDB itself runs each case's compiled SQL
over a one-row table of that schema. A case labelled "mismatch" must be reported by the check
AND fail in DuckDB; "ok" must pass both; "strict" (parameters held to their declared type) must
be reported though DuckDB would cast.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from dataclasses import replace
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from factories import parameter, pod, projection, reduction, source, span
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)

from compiler.check.catalog import SchemaLookup
from compiler.check.checker import check, result_kind
from compiler.diagnostics import Code
from compiler.spec.datapi import Metastore
from compiler.spec.ir import Aggregate, Column, Filter, Projection, Reduction
from compiler.sql.aggregates import parse_aggregate
from compiler.sql.lower import lower

SCHEMA = Schema(
    NestedField(1, "name", StringType()),
    NestedField(2, "qty", IntegerType()),
    NestedField(3, "big", LongType()),
    NestedField(4, "price", DecimalType(10, 2)),
    NestedField(5, "day", DateType()),
    NestedField(6, "at", TimestampType()),
    NestedField(7, "paid", BooleanType()),
    NestedField(8, "ratio", DoubleType()),
)
# A typical row: the reference fails on what fails converting real data, not only on binding.
ROW = {
    "name": "EMEA",
    "qty": 5,
    "big": 10,
    "price": Decimal("12.50"),
    "day": dt.date(2024, 3, 1),
    "at": dt.datetime(2024, 3, 1, 10, 0),
    "paid": True,
    "ratio": 0.5,
}
PARAMETERS = {
    "s": (parameter("s", "string"), "2024-01-01"),
    "i": (parameter("i", "integer"), 5),
    "n": (parameter("n", "number"), 2.5),
    "b": (parameter("b", "boolean"), True),
    "d": (parameter("d", "date"), dt.date(2024, 1, 1)),
    "t": (parameter("t", "timestamp"), dt.datetime(2024, 1, 1, 8, 0)),
    # List parameters, bound as the runtime binds them (a tuple of typed values).
    "ls": (parameter("ls", "string[]"), ("EMEA", "2024-01-01")),
    "li": (parameter("li", "integer[]"), (5, 7)),
    "ln": (parameter("ln", "number[]"), (2.5, 5.0)),
    "lb": (parameter("lb", "boolean[]"), (True,)),
    "ld": (parameter("ld", "date[]"), (dt.date(2024, 3, 1),)),
    "lt": (parameter("lt", "timestamp[]"), (dt.datetime(2024, 3, 1, 10, 0),)),
    "le": (parameter("le", "integer[]"), ()),
}


@pytest.fixture(scope="module")
def catalog_env(tmp_path_factory) -> dict[str, str]:
    """A real SQL catalog holding sales.orders with SCHEMA (and sales.returns), as environment."""
    root = tmp_path_factory.mktemp("check-catalog")
    uri, warehouse = f"sqlite:///{root / 'catalog.db'}", (root / "warehouse").as_uri()
    (root / "warehouse").mkdir()
    catalog = SqlCatalog("default", uri=uri, warehouse=warehouse)
    catalog.create_namespace("sales")
    catalog.create_table("sales.orders", schema=SCHEMA)
    catalog.create_table("sales.returns", schema=SCHEMA)
    return {
        "PYICEBERG_CATALOG__DEFAULT__URI": uri,
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": warehouse,
    }


@pytest.fixture(scope="module")
def schema(catalog_env) -> Schema:
    """sales.orders' schema, as --check loads it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in catalog_env.items():
            patch.setenv(name, value)
        found, problems = SchemaLookup().schema(source())
    assert problems == [] and found is not None
    return found


# --- the type rules, against DuckDB -----------------------------------------------------------

FILTERS = [
    ("name = 'EMEA'", "ok"),
    ("qty > 5", "ok"),
    ("price >= 10.5", "ok"),
    ("day >= '2024-01-01'", "ok"),
    ("day >= DATE '2024-01-01'", "ok"),
    ("at > '2024-01-01 10:00:00'", "ok"),
    ("day = at", "ok"),
    ("paid", "ok"),
    ("NOT paid AND qty > 1", "ok"),
    ("qty", "ok"),
    ("paid = true", "ok"),
    ("paid = 1", "ok"),
    ("price = ratio", "ok"),
    ("qty = '5'", "ok"),
    ("name LIKE 'E%'", "ok"),
    ("name ILIKE :s", "ok"),
    ("starts_with(name, 'E')", "ok"),
    ("year(day) = 2024", "ok"),
    ("month(at) = 3", "ok"),
    ("lower(name) = 'emea'", "ok"),
    ("length(name) > 2", "ok"),
    ("abs(ratio) > 0", "ok"),
    ("round(price, 1) > 1", "ok"),
    ("day + 1 > day", "ok"),
    ("coalesce(name, 'x') = 'EMEA'", "ok"),
    ("qty IN (1, 5)", "ok"),
    ("day BETWEEN '2024-01-01' AND '2024-12-31'", "ok"),
    ("date_trunc('month', day) = DATE '2024-03-01'", "ok"),
    ("concat(name, qty) = 'EMEA5'", "ok"),
    ("name || qty = 'EMEA5'", "ok"),
    ("CAST(qty AS VARCHAR) = '5'", "ok"),
    ("qty + 1 > 2", "ok"),
    ("name IS NOT NULL", "ok"),
    ("name = :s", "ok"),
    ("qty > :i", "ok"),
    ("price > :n", "ok"),
    ("qty > :n", "ok"),
    ("ratio > :i", "ok"),
    ("day >= :d", "ok"),
    ("at >= :d", "ok"),
    ("day >= :t", "ok"),
    ("paid = :b", "ok"),
    ("qty IN (:i, 7)", "ok"),
    ("name IN :ls", "ok"),
    ("name NOT IN (:ls)", "ok"),
    ("(:ls IS NULL OR name IN :ls)", "ok"),
    ("qty IN :li", "ok"),
    ("big NOT IN :li", "ok"),
    ("qty IN :le", "ok"),
    ("price IN :ln", "ok"),
    ("qty IN :ln", "ok"),
    ("ratio IN :li", "ok"),
    ("day IN :ld", "ok"),
    ("at IN :lt", "ok"),
    ("at IN :ld", "ok"),
    ("day IN :lt", "ok"),
    ("paid IN :lb", "ok"),
    ("day = 5", "mismatch"),
    ("day = 20240101", "mismatch"),
    ("at > 5", "mismatch"),
    ("name = 5", "mismatch"),
    ("name = true", "mismatch"),
    ("name IN (1, 2)", "mismatch"),
    ("day IN (1, 2)", "mismatch"),
    ("day BETWEEN '2024-01-01' AND 5", "mismatch"),
    ("qty = 'x'", "mismatch"),
    ("day >= 'x'", "mismatch"),
    ("ratio = name", "mismatch"),
    ("qty LIKE '1%'", "mismatch"),
    ("day ILIKE '2024%'", "mismatch"),
    ("name LIKE 1", "mismatch"),
    ("starts_with(qty, '1')", "mismatch"),
    ("year(name) = 2024", "mismatch"),
    ("extract(year FROM name) = 1", "mismatch"),
    ("date_trunc('month', name) = '2024-01-01'", "mismatch"),
    ("lower(qty) = 'x'", "mismatch"),
    ("length(day) = 1", "mismatch"),
    ("abs(name) > 1", "mismatch"),
    ("round(name) = 1", "mismatch"),
    ("name + 1 > 2", "mismatch"),
    ("at + 1 > at", "mismatch"),
    ("day * 2 > 1", "mismatch"),
    ("paid + 1 > 1", "mismatch"),
    ("-name = 'x'", "mismatch"),
    ("coalesce(name, 1) = 'x'", "mismatch"),
    ("greatest(name, 1) = 'x'", "mismatch"),
    ("name", "mismatch"),
    ("day OR paid", "mismatch"),
    ("day = :i", "mismatch"),
    ("name = :i", "mismatch"),
    ("qty = :s", "mismatch"),
    ("at > :n", "mismatch"),
    ("name IN :li", "mismatch"),
    ("qty IN :ls", "mismatch"),
    ("day IN :li", "mismatch"),
    ("day IN :ln", "mismatch"),
    ("at IN :ln", "mismatch"),
    ("name NOT IN :ld", "mismatch"),
    ("day IN :ls", "mismatch"),
    ("paid IN :li", "strict"),
    ("qty IN :lb", "strict"),
    # issue 12's scalar functions and %
    ("octet_length(name) > 2", "ok"),
    ("hour(at) = 10 AND minute(at) = 0", "ok"),
    ("hour(day) = 0", "ok"),
    ("dayofweek(day) = 5", "ok"),
    ("strftime(day, '%Y') = '2024'", "ok"),
    ("strftime(at, :s) = '2024'", "ok"),
    ("regexp_matches(name, '^E')", "ok"),
    ("regexp_matches(name, :s)", "ok"),
    ("qty % 2 = 1", "ok"),
    ("price % 2 > 0", "ok"),
    ("octet_length(qty) > 1", "mismatch"),
    ("hour(name) = 1", "mismatch"),
    ("minute(qty) = 1", "mismatch"),
    ("dayofweek(qty) = 1", "mismatch"),
    ("strftime(name, '%Y') = 'x'", "mismatch"),
    ("regexp_matches(qty, '1')", "mismatch"),
    ("regexp_matches(name, 1)", "mismatch"),
    ("name % 2 = 1", "mismatch"),
    ("day % 2 = 1", "mismatch"),
    ("day >= :s", "strict"),
    ("at >= :s", "strict"),
    ("paid = :i", "strict"),
    ("qty = :b", "strict"),
]

AGGREGATES = [
    ("sum(price)", "ok"),
    ("sum(qty)", "ok"),
    ("sum(paid)", "ok"),
    ("avg(ratio)", "ok"),
    ("avg(day)", "ok"),
    ("min(name)", "ok"),
    ("max(day)", "ok"),
    ("count(name)", "ok"),
    ("count(DISTINCT name)", "ok"),
    ("count(*)", "ok"),
    ("median(name)", "ok"),
    ("stddev(big)", "ok"),
    ("variance(price)", "ok"),
    ("sum(qty * price)", "ok"),
    ("sum(year(day))", "ok"),
    ("sum(name)", "mismatch"),
    ("sum(day)", "mismatch"),
    ("avg(name)", "mismatch"),
    ("avg(paid)", "mismatch"),
    ("stddev(name)", "mismatch"),
    ("variance(day)", "mismatch"),
    ("sum(length(qty))", "mismatch"),
    # issue 12's aggregates
    ("count(*) FILTER (WHERE paid)", "ok"),
    ("sum(qty) FILTER (WHERE name = 'EMEA' AND qty > 1)", "ok"),
    ("count_if(paid)", "ok"),
    ("count_if(qty > 1)", "ok"),
    ("approx_count_distinct(name)", "ok"),
    ("quantile_cont(ratio, 0.5)", "ok"),
    ("quantile_cont(day, 0.5)", "ok"),
    ("quantile_disc(name, 0.5)", "ok"),
    ("percentile_cont(0.5) WITHIN GROUP (ORDER BY price)", "ok"),
    ("percentile_disc(0.5) WITHIN GROUP (ORDER BY name DESC)", "ok"),
    ("median(day) FILTER (WHERE qty > 1)", "ok"),
    ("count_if(qty)", "mismatch"),
    ("count_if(name)", "mismatch"),
    ("quantile_cont(name, 0.5)", "mismatch"),
    ("quantile_cont(paid, 0.5)", "mismatch"),
    ("percentile_cont(0.5) WITHIN GROUP (ORDER BY name)", "mismatch"),
    ("count(*) FILTER (WHERE name)", "mismatch"),
    ("sum(qty) FILTER (WHERE day = 5)", "mismatch"),
]

HAVING = [
    ("total > 1", "ok"),
    ("count(*) > :i", "ok"),
    ("max(day) >= :d", "ok"),
    ("sum(price) > 10.5 AND name = 'EMEA'", "ok"),
    ("count_if(paid) FILTER (WHERE qty > 1) >= 0", "ok"),
    ("total > 'x'", "mismatch"),
    ("max(day) > 5", "mismatch"),
    ("min(name) > :i", "mismatch"),
    ("quantile_cont(day, 0.5) > 3", "mismatch"),
    ("name", "mismatch"),
    ("count_if(paid) = :d", "mismatch"),
]

# computed output (group_by name: expression) -> whether it fits the table
COMPUTED = [
    ("hour(at)", "ok"),
    ("date_trunc('month', day)", "ok"),
    ("strftime(day, '%Y-%m')", "ok"),
    ("qty % 3", "ok"),
    ("month(name)", "mismatch"),
    ("name * 2", "mismatch"),
]


def filtered_pod(text: str):
    used = set(re.findall(r"(?<![\w:]):([a-z]\w*)", text))
    return pod(
        projection("name"),
        filters=(text,),
        parameters=tuple(PARAMETERS[n][0] for n in sorted(used)),
    )


@pytest.fixture(scope="module")
def one_row():
    """DuckDB with `source`: one typical row of SCHEMA (shared: connecting costs ~50 ms)."""
    connection = duckdb.connect()
    connection.register("source", pa.Table.from_pylist([ROW], schema=SCHEMA.as_arrow()))
    yield connection
    connection.close()


def duckdb_fails(connection, the_pod) -> bool:
    """Whether DuckDB refuses the pod's compiled SQL over one typical row of SCHEMA."""
    query, problems = lower(the_pod)
    assert query is not None, problems
    values = {p.name: PARAMETERS[p.name][1] for p in the_pod.parameters}
    try:
        connection.execute(query.sql, values).fetchall()
    except duckdb.Error:
        return True
    return False


def mismatches(the_pod, schema) -> list[str]:
    found = check(the_pod, schema)
    assert {d.code for d in found} <= {Code.COLUMN_TYPE_MISMATCH}, found
    return [d.message for d in found]


@pytest.mark.parametrize(("text", "label"), FILTERS, ids=[t for t, _ in FILTERS])
def test_filter_types_agree_with_duckdb(schema, one_row, text, label):
    the_pod = filtered_pod(text)
    assert bool(mismatches(the_pod, schema)) == (label != "ok")
    assert duckdb_fails(one_row, the_pod) == (label == "mismatch")


@pytest.mark.parametrize(("text", "label"), AGGREGATES, ids=[t for t, _ in AGGREGATES])
def test_aggregate_types_agree_with_duckdb(schema, one_row, text, label):
    the_pod = pod(reduction(("name",), total=text))
    assert bool(mismatches(the_pod, schema)) == (label != "ok")
    assert duckdb_fails(one_row, the_pod) == (label == "mismatch")


@pytest.mark.parametrize(("text", "label"), HAVING, ids=[t for t, _ in HAVING])
def test_having_types_agree_with_duckdb(schema, one_row, text, label):
    used = set(re.findall(r"(?<![\w:]):([a-z]\w*)", text))
    the_pod = pod(
        reduction(("name",), total="sum(qty)"),
        parameters=tuple(PARAMETERS[n][0] for n in sorted(used)),
    )
    the_pod = _with(the_pod, query=replace(the_pod.query, having=(Filter(text=text),)))
    assert bool(mismatches(the_pod, schema)) == (label != "ok")
    assert duckdb_fails(one_row, the_pod) == (label == "mismatch")


@pytest.mark.parametrize(("text", "label"), COMPUTED, ids=[t for t, _ in COMPUTED])
def test_computed_output_types_agree_with_duckdb(schema, one_row, text, label):
    group_by = (Column(name="name"), Column(name="computed", expression=text))
    the_pod = pod(
        Reduction(group_by=group_by, aggregates=(Aggregate(name="n", expression="count(*)"),))
    )
    assert bool(mismatches(the_pod, schema)) == (label != "ok")
    assert duckdb_fails(one_row, the_pod) == (label == "mismatch")
    projected = pod(Projection(columns=(Column(name="computed", expression=text),)))
    assert bool(mismatches(projected, schema)) == (label != "ok")
    assert duckdb_fails(one_row, projected) == (label == "mismatch")


# expression -> the kind `--check` gives its result; DuckDB's own result type must agree
RESULT_KINDS = [
    ("count(*) FILTER (WHERE paid)", "number"),
    ("count_if(paid)", "number"),
    ("approx_count_distinct(name)", "number"),
    ("quantile_cont(ratio, 0.5)", "number"),
    ("quantile_cont(price, 0.5)", "number"),
    ("quantile_cont(day, 0.5)", "timestamp"),
    ("quantile_disc(name, 0.5)", "string"),
    ("percentile_disc(0.5) WITHIN GROUP (ORDER BY day)", "date"),
    ("percentile_cont(0.5) WITHIN GROUP (ORDER BY qty)", "number"),
    ("median(qty)", "number"),
    ("median(day)", "timestamp"),
    ("median(name)", "string"),
    ("avg(day)", "timestamp"),
    ("min(day) FILTER (WHERE paid)", "date"),
    ("sum(qty)", "number"),
    ("max(hour(at))", "number"),
    ("max(minute(at))", "number"),
    ("max(dayofweek(day))", "number"),
    ("max(octet_length(name))", "number"),
    ("max(strftime(day, '%Y'))", "string"),
    ("bool_and_of(regexp_matches(name, 'E'))", "boolean"),
    ("max(qty % 2)", "number"),
]
_DUCKDB_KINDS = {
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
}


@pytest.mark.parametrize(("text", "kind"), RESULT_KINDS, ids=[t for t, _ in RESULT_KINDS])
def test_result_kinds_agree_with_duckdb(schema, one_row, text, kind):
    """The kind --check gives a result, against the type DuckDB gives the compiled SQL's."""
    if text.startswith("bool_and_of("):  # a scalar's kind, read outside any aggregate
        text = text.removeprefix("bool_and_of(").removesuffix(")")
        tree = sqlglot.parse_one(text, read="duckdb")
        the_pod = pod(Projection(columns=(Column(name="x", expression=text),)))
    else:
        checked, problems = parse_aggregate(text, "x", span())
        assert checked is not None, problems
        tree, the_pod = checked.tree, pod(reduction((), x=text))
    query, problems = lower(the_pod)
    assert query is not None, problems
    duckdb_type = one_row.execute(f"SELECT typeof(x) FROM ({query.sql})").fetchone()[0]
    assert _DUCKDB_KINDS.get(duckdb_type.split("(")[0], "number") == kind
    assert result_kind(the_pod, schema, tree) == kind


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("day = 20240101", "column 'day' (date) is compared with number 20240101"),
        (
            "day >= :i",
            "column 'day' (date) is compared with parameter ':i' (integer): "
            "declare ':i' as type: date",
        ),
        (
            "qty = :s",
            "column 'qty' (int) is compared with parameter ':s' (string): "
            "declare ':s' as type: integer",
        ),
        (
            ":s < price",
            "parameter ':s' (string) is compared with column 'price' (decimal(10, 2)): "
            "declare ':s' as type: number",
        ),
        ("qty LIKE '1%'", "LIKE needs strings, but column 'qty' (int) is not one"),
        ("year(name) = 1", "year() needs date or timestamp, but column 'name' (string) is not one"),
        ("name", "column 'name' (string) is used as a condition; compare it with something"),
        ("name + 1 > 2", "arithmetic '+' cannot take column 'name' (string)"),
        ("coalesce(name, 1) = 'x'", "column 'name' (string) meets in coalesce() number 1"),
    ],
)
def test_mismatch_messages(schema, text, message):
    assert mismatches(filtered_pod(text), schema) == [message]


def test_sum_over_a_string_names_the_function_and_the_column(schema):
    the_pod = pod(reduction((), total="sum(name)"))
    assert mismatches(the_pod, schema) == [
        "sum() needs number or boolean, but column 'name' (string) is not one"
    ]


def test_a_literal_against_a_parameter_is_left_to_lowering(schema):
    """':i = 5' does not involve the table: nothing here to say (lowering judges literals)."""
    assert check(filtered_pod("qty = :i AND :i = 5"), schema) == []


# --- unknown columns --------------------------------------------------------------------------


def unknown(the_pod, schema) -> list[str]:
    found = check(the_pod, schema)
    assert {d.code for d in found} <= {Code.UNKNOWN_COLUMN}, found
    return [d.message for d in found]


def test_unknown_columns_everywhere_they_can_be_named(schema):
    the_pod = pod(
        reduction(("region",), total="sum(amount)"),
        filters=("colour = 'red' AND colour <> 'blue'", "qty > 1"),
        order_by=("region",),
    )
    assert unknown(the_pod, schema) == [
        "column 'region' does not exist in sales.orders (its columns: name, qty, big, price, day, "
        "at, paid, ratio)",
        "column 'amount' does not exist in sales.orders (its columns: name, qty, big, price, day, "
        "at, paid, ratio)",
        "column 'colour' does not exist in sales.orders (its columns: name, qty, big, price, day, "
        "at, paid, ratio)",
    ]


def test_unknown_selected_column_with_the_near_names(schema):
    the_pod = pod(projection("name", "Qty", "prize"))
    assert unknown(the_pod, schema) == [
        "column 'Qty' does not exist in sales.orders (did you mean 'qty'? column names are "
        "case-sensitive)",
        "column 'prize' does not exist in sales.orders (did you mean 'price'?)",
    ]


def test_an_unknown_column_is_not_also_a_type_mismatch(schema):
    the_pod = pod(reduction((), total="sum(nope)"), filters=("nope = 5",))
    assert [d.code for d in check(the_pod, schema)] == [Code.UNKNOWN_COLUMN] * 2


def test_a_spec_that_fits_its_table_has_nothing_to_report(schema):
    the_pod = pod(
        reduction(("name", "day"), total="sum(price)", n="count(*)"),
        filters=("day >= :d AND name IN ('EMEA', 'APAC')", "paid"),
        parameters=(PARAMETERS["d"][0],),
        order_by=("total desc",),
    )
    assert check(the_pod, schema) == []


def test_every_iceberg_type_checked_here_has_a_kind(schema):
    from compiler.check.kinds import kind_of
    from compiler.sql.types import Kind

    kinds = {f.name: kind_of(f.field_type) for f in schema.fields}
    assert kinds == {
        "name": Kind.STRING,
        "qty": Kind.NUMBER,
        "big": Kind.NUMBER,
        "price": Kind.NUMBER,
        "day": Kind.DATE,
        "at": Kind.TIMESTAMP,
        "paid": Kind.BOOLEAN,
        "ratio": Kind.NUMBER,
    }


# --- where problems are reported --------------------------------------------------------------


def located(the_pod, schema, text: str) -> list[tuple[int, int]]:
    return [(d.span.line, d.span.column) for d in check(the_pod, schema, text)]


def test_a_problem_inside_a_one_line_filter_points_at_its_operand(schema):
    text = "filters:\n  - qty > 1 AND colour = 'x'\n  - \"day = 5\"\n"
    the_pod = pod(projection("name"))
    the_pod = _with(
        the_pod,
        filters=(
            Filter(text="qty > 1 AND colour = 'x'", span=span(2, 5)),
            Filter(text="day = 5", span=span(3, 5)),
        ),
    )
    assert located(the_pod, schema, text) == [(2, 17), (3, 6)]


def test_a_multi_line_filter_is_reported_at_its_start(schema):
    text = "filters:\n  - >-\n    qty > 1 AND\n    day = 5\n"
    the_pod = _with(
        pod(projection("name")), filters=(Filter(text="qty > 1 AND day = 5", span=span(2, 5)),)
    )
    assert located(the_pod, schema, text) == [(2, 5)]


def test_datapi_one_string_select_points_at_each_name(schema):
    text = "select: name regoin qty\n"
    columns = tuple(Column(name=n, span=span(1, 9)) for n in ("name", "regoin", "qty"))
    the_pod = _with(pod(), query=Projection(columns=columns))
    assert located(the_pod, schema, text) == [(1, 14)]


def test_a_problem_in_an_aggregate_points_into_it(schema):
    text = "aggregate:\n  total: sum(name)\n"
    aggregate = Aggregate(name="total", expression="sum(name)", span=span(2, 10))
    the_pod = _with(pod(), query=Reduction(group_by=(), aggregates=(aggregate,)))
    assert located(the_pod, schema, text) == [(2, 10)]


def _with(the_pod, **changes):
    import dataclasses

    return dataclasses.replace(the_pod, **changes)


# --- loading the schema from a catalog --------------------------------------------------------


@pytest.fixture
def env(monkeypatch, catalog_env):
    for name, value in catalog_env.items():
        monkeypatch.setenv(name, value)
    return catalog_env


def problem(found) -> tuple[str, str]:
    schema, problems = found
    assert schema is None and len(problems) == 1
    return problems[0].code.value, problems[0].message


def test_the_schema_is_the_tables_current_one(env, tmp_path):
    catalog = SqlCatalog("default", uri=env["PYICEBERG_CATALOG__DEFAULT__URI"])
    table = catalog.load_table("sales.returns")
    with table.update_schema() as update:
        update.add_column("reason", StringType())
    found, problems = SchemaLookup().schema(source("returns"))
    assert problems == [] and found.find_field("reason").field_type == StringType()


def test_a_missing_table_names_its_nearest_neighbour(env):
    assert problem(SchemaLookup().schema(source("order"))) == (
        "DP0501",
        "table 'sales.order' does not exist in catalog 'default' (did you mean 'orders'?)",
    )
    assert problem(SchemaLookup().schema(source("zzz"))) == (
        "DP0501",
        "table 'sales.zzz' does not exist in catalog 'default' (its tables: orders, returns)",
    )


def test_a_missing_namespace(env):
    assert problem(SchemaLookup().schema(source(namespace="marketing"))) == (
        "DP0501",
        "namespace 'marketing' does not exist in catalog 'default'",
    )


def test_a_catalog_without_settings_says_how_to_give_them(monkeypatch, tmp_path):
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code, message = problem(SchemaLookup().schema(source(catalog="lake")))
    assert code == "DP0504"
    assert message.startswith("catalog 'lake' is not configured")
    assert "PYICEBERG_CATALOG__LAKE__URI" in message and "config.yml" in message


def test_pyiceberg_yaml_is_read(monkeypatch, tmp_path):
    uri, warehouse = f"sqlite:///{tmp_path / 'lake.db'}", tmp_path.as_uri()
    catalog = SqlCatalog("lake", uri=uri, warehouse=warehouse)
    catalog.create_namespace("sales")
    catalog.create_table("sales.orders", schema=SCHEMA)
    (tmp_path / ".pyiceberg.yaml").write_text(
        f"catalog:\n  lake:\n    uri: {uri}\n    warehouse: {warehouse}\n"
    )
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    found, problems = SchemaLookup().schema(source(catalog="lake"))
    assert problems == [] and found == SCHEMA


def test_a_malformed_pyiceberg_yaml_is_a_diagnostic(monkeypatch, tmp_path):
    (tmp_path / ".pyiceberg.yaml").write_text("catalog:\n  lake: just-a-string\n")
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    code, message = problem(SchemaLookup().schema(source(catalog="lake")))
    assert code == "DP0504" and message.startswith("pyiceberg configuration of catalog 'lake': ")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_catalog_is_one_line_without_the_secret(monkeypatch):
    port = closed_port()
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__CREDENTIAL", "client:s3cr3t-value")
    code, message = problem(SchemaLookup().schema(source()))
    assert (code, message) == (
        "DP0504",
        f"catalog 'default' (from pyiceberg configuration) cannot be reached at "
        f"http://127.0.0.1:{port}: connection refused",
    )


def test_a_catalog_that_never_answers_is_abandoned_after_the_timeout(monkeypatch):
    """A listening socket that accepts and says nothing: the bounded wait, then one message;
    the next spec over the same catalog does not wait again."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
        monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", uri)
        lookup = SchemaLookup(timeout=0.5)
        first = problem(lookup.schema(source()))
        assert first == ("DP0504", f"catalog 'default' did not answer within 0.5 s at {uri}")
        assert problem(lookup.schema(source("returns"))) == first
        assert lookup._catalogs and len(lookup._catalogs) == 1


def test_a_misconfigured_catalog(monkeypatch):
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", "ftp://example.invalid/x")
    code, message = problem(SchemaLookup().schema(source()))
    assert code == "DP0504" and message.startswith(
        "catalog 'default' (from pyiceberg configuration) is misconfigured: Could not infer"
    )


def metastore(uri: str, credential: str | None = None) -> Metastore:
    return Metastore(
        uri=uri, warehouse="lake", credential=credential, spans={"metastore_uri": span(2, 16)}
    )


def test_config_yml_is_the_fallback_and_its_secret_stays_out_of_messages(monkeypatch, tmp_path):
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    port = closed_port()
    found = SchemaLookup().schema(source(), metastore(f"http://127.0.0.1:{port}", "id:SECRET99"))
    code, message = problem(found)
    assert message == (
        f"catalog 'default' (from config.yml) cannot be reached at http://127.0.0.1:{port}: "
        "connection refused"
    )
    assert "SECRET99" not in message


def test_config_yml_credential_from_an_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("POLARIS_CREDENTIAL", raising=False)
    where = metastore("http://127.0.0.1:1", "${POLARIS_CREDENTIAL}")
    _, problems = SchemaLookup().schema(source(), where)
    assert [(p.code.value, p.message, p.span) for p in problems] == [
        (
            "DP0504",
            "config.yml's metastore_credentials names ${POLARIS_CREDENTIAL}, which is not set "
            "in the environment",
            span(2, 16),
        )
    ]
    monkeypatch.setenv("POLARIS_CREDENTIAL", "id:from-env")
    settings = SchemaLookup().settings("default", where)
    assert settings.origin == "config.yml"
    assert dict(settings.properties) == {
        "uri": "http://127.0.0.1:1",
        "scope": "PRINCIPAL_ROLE:ALL",
        "warehouse": "lake",
        "credential": "id:from-env",
    }


def test_secrets_in_a_message_are_masked():
    from compiler.check.settings import CatalogSettings
    from compiler.secrets import redacted

    settings = CatalogSettings(
        name="c",
        origin="config.yml",
        properties={
            "uri": "https://u:p@h/x",
            "credential": "client-id:the-secret",
            "s3.secret-access-key": "KEY123",
        },
    )
    message = "bad client-id:the-secret at https://u:p@h/x with KEY123 and the-secret"
    assert redacted(message, settings.secrets) == "bad *** at https://h/x with *** and ***"
    assert settings.uri == "https://h/x"


def test_url_encoded_secrets_and_bearer_tokens_are_masked():
    from compiler.check.settings import CatalogSettings
    from compiler.secrets import redacted

    settings = CatalogSettings(
        name="c",
        origin="config.yml",
        properties={"uri": "https://h/x", "credential": "client id:s3cr/t+x=y"},
    )
    message = (
        "POST client_secret=s3cr%2Ft%2Bx%3Dy (also s3cr/t%2Bx%3Dy, client+id%3As3cr%2Ft%2Bx%3Dy) "
        "refused; header was Authorization: Bearer eyJhbGciOi.abc.def; bearer xyz"
    )
    assert redacted(message, settings.secrets) == (
        "POST client_secret=*** (also ***, ***) refused; header was Authorization: Bearer *** "
        "bearer ***"
    )


def test_octet_length_of_binary_is_reported_as_duckdb_refuses_it():
    """octet_length counts a text's bytes (lowered to OCTET_LENGTH(ENCODE(x))), which DuckDB
    refuses for a BLOB; binary columns are otherwise not judged."""
    binary = Schema(NestedField(1, "b", BinaryType()), NestedField(2, "s", StringType()))
    connection = duckdb.connect()
    connection.register("source", pa.table({"b": [b"ab"], "s": ["ab"]}))
    for column, fails in (("b", True), ("s", False)):
        the_pod = pod(projection("s"), filters=(f"octet_length({column}) = 2",))
        found = [d.message for d in check(the_pod, binary)]
        assert found == (
            ["octet_length() needs string, but column 'b' (binary) is not one"] if fails else []
        )
        assert duckdb_fails(connection, the_pod) == fails
