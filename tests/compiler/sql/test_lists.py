"""List parameters in filters: where they may stand, the SQL they lower to, and that the SQL
answers as a hand-written IN list does (DuckDB is the reference)."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
import sqlglot
from factories import POD_VALIDATOR, parameter, pod, projection, span, write_spec

from compiler.pipeline import compile_spec
from compiler.sql.expressions import parse_filter
from compiler.sql.lower import lower

PARAMETERS = {
    p.name: p
    for p in (
        parameter("region", "string"),
        parameter("regions", "string[]"),
        parameter("ids", "integer[]"),
        parameter("days", "date[]"),
    )
}
WHERE = span(7, 5)


def problems(text: str) -> list[tuple[str, str]]:
    _, found = parse_filter(text, WHERE, PARAMETERS)
    # located at the filter in the spec (and by offset at the token inside it)
    assert all((p.span.line, p.span.column) == (WHERE.line, WHERE.column) for p in found)
    return [(p.code.value, p.message) for p in found]


def uses(text: str, name: str) -> bool:
    return re.search(rf":{name}\b", text) is not None


def lowered_sql(*filters: str) -> str:
    used = sorted({n for n in PARAMETERS if any(uses(f, n) for f in filters)})
    query, found = lower(
        pod(projection("a"), filters=filters, parameters=tuple(PARAMETERS[n] for n in used))
    )
    assert query is not None, found
    return query.sql


# filter -> its WHERE clause as the pod runs it
LOWERED = [
    ("region IN :regions", "ARRAY_CONTAINS($regions, region)"),
    ("region IN (:regions)", "ARRAY_CONTAINS($regions, region)"),
    ("region IN ((:regions))", "ARRAY_CONTAINS($regions, region)"),
    ("region NOT IN :regions", "NOT ARRAY_CONTAINS($regions, region)"),
    ("NOT region IN :regions", "NOT ARRAY_CONTAINS($regions, region)"),
    ("lower(region) IN :regions", "ARRAY_CONTAINS($regions, LOWER(region))"),
    (
        "(:days IS NULL OR day IN :days)",
        "( $days IS NULL OR ARRAY_CONTAINS($days, day) )",
    ),
    (
        "id IN :ids AND region IN (:region, 'x')",
        "ARRAY_CONTAINS($ids, id) AND region IN ($region, 'x')",
    ),
]


@pytest.mark.parametrize(("text", "where"), LOWERED, ids=[t for t, _ in LOWERED])
def test_a_list_membership_lowers_to_list_contains(text, where):
    assert problems(text) == []
    sql = lowered_sql(text)
    assert " ".join(sql.split()) == f"SELECT a FROM source WHERE {where}"
    # What reviewers read is what DuckDB runs: the SQL re-parses to itself.
    assert sqlglot.parse_one(sql, read="duckdb").sql("duckdb", pretty=True) == sql


# filter -> (code, message): a list where only one value goes, or IN without a list
REFUSED = [
    (
        "region IN :region",
        "DP0312",
        "`region IN :region` needs a list, but ':region' is declared string; for any of several "
        "values declare type: string[], for one value write `region = :region`",
    ),
    (
        "region NOT IN :region",
        "DP0312",
        "`region IN :region` needs a list, but ':region' is declared string; for any of several "
        "values declare type: string[], for one value write `region = :region`",
    ),
    (
        "region IN 'EMEA'",
        "DP0312",
        "`region IN 'EMEA'`: IN takes a parenthesised list of values, as in `x IN ('a', 'b')`, "
        "or a list parameter, as in `x IN :name` with type: string[] (integer[], date[], ...)",
    ),
    (
        "region IN other",
        "DP0312",
        "`region IN other`: IN takes a parenthesised list of values, as in `x IN ('a', 'b')`, "
        "or a list parameter, as in `x IN :name` with type: string[] (integer[], date[], ...)",
    ),
    (
        "region = :regions",
        "DP0313",
        "list parameter ':regions' (string[]) can only be used as `column IN :regions` (or NOT "
        "IN, or `:regions IS NULL`), not in `region = :regions`",
    ),
    (
        "region LIKE :regions",
        "DP0313",
        "list parameter ':regions' (string[]) can only be used as `column IN :regions` (or NOT "
        "IN, or `:regions IS NULL`), not in `region LIKE :regions`",
    ),
    (
        "id IN (:ids, 3)",
        "DP0313",
        "list parameter ':ids' (integer[]) must be the whole IN list: `x IN :ids`",
    ),
    (
        ":regions IN ('EMEA')",
        "DP0313",
        "list parameter ':regions' (string[]) can only be used as `column IN :regions` (or NOT "
        "IN, or `:regions IS NULL`), not in `:regions IN ('EMEA')`",
    ),
    (
        ":days",
        "DP0313",
        "list parameter ':days' (date[]) can only be used as `column IN :days` (or NOT IN, or "
        "`:days IS NULL`), not in `:days`",
    ),
    (
        "DATE '2024-01-01' IN :regions",
        "DP0306",
        "parameter ':regions' is declared string[] but is compared with time "
        "CAST('2024-01-01' AS DATE)",
    ),
]


@pytest.mark.parametrize(("text", "code", "message"), REFUSED, ids=[t for t, *_ in REFUSED])
def test_a_list_where_it_has_no_meaning_is_a_located_error(text, code, message):
    assert problems(text) == [(code, message)]


# --- the lowered SQL answers as the IN list a person would write -------------------------------

ROWS = [("EMEA", 1), ("AMER", 2), ("LATAM", 3), ("APAC", 4), (None, 5), ("a,b", 6)]


@pytest.fixture(scope="module")
def connection():
    connection = duckdb.connect()
    values = ", ".join(f"({'NULL' if r is None else repr(r)}, {i})" for r, i in ROWS)
    connection.execute(f"CREATE VIEW source AS SELECT * FROM (VALUES {values}) AS t(region, id)")
    yield connection
    connection.close()


def reference(connection, where: str) -> list:
    return connection.execute(f"SELECT id FROM source WHERE {where} ORDER BY id").fetchall()


def answer(connection, text: str, values: dict) -> list:
    used = {name: value for name, value in values.items() if uses(text, name)}
    query, found = lower(
        pod(
            projection("id"),
            filters=(text,),
            parameters=tuple(PARAMETERS[n] for n in used),
            order_by=("id",),
        )
    )
    assert query is not None, found
    return connection.execute(query.sql, used).fetchall()


# (filter, the request's list, the reference's WHERE written by hand)
ANSWERS = [
    ("region IN :regions", ("EMEA", "APAC"), "region IN ('EMEA', 'APAC')"),
    # The substring trap: `region IN 'LATAMERICA'` would answer LATAM and AMER.
    ("region IN :regions", ("LATAMERICA",), "region IN ('LATAMERICA')"),
    ("region IN :regions", ("a,b",), "region IN ('a,b')"),
    ("region IN :regions", (), "FALSE"),
    ("region NOT IN :regions", ("EMEA",), "region NOT IN ('EMEA')"),
    # NULL is in no list and out of none, as with a written NOT IN list.
    ("region NOT IN :regions", (), "region IS NOT NULL"),
    ("region IN :regions", None, "FALSE"),
    ("(:regions IS NULL OR region IN :regions)", None, "TRUE"),
    ("(:regions IS NULL OR region IN :regions)", ("AMER",), "region = 'AMER'"),
    ("id IN :ids", (2, 6, 99), "id IN (2, 6, 99)"),
]


@pytest.mark.parametrize(("text", "values", "where"), ANSWERS)
def test_the_lowered_sql_answers_like_a_written_in_list(connection, text, values, where):
    expected = reference(connection, where)
    got = answer(connection, text, {"regions": values, "ids": values})
    assert got == expected


def test_a_compiled_list_parameter_keeps_to_the_pod_contract(tmp_path):
    result = compile_spec(
        write_spec(
            tmp_path,
            "select: [a]\nfilters: [a IN :r, 'b NOT IN :d']\nparameters:\n"
            '  - {name: r, type: "string[]", default: [EMEA, "x,y"]}\n'
            '  - {name: d, type: "date[]"}\n',
        )
    )
    assert result.ok, [d.message for d in result.diagnostics]
    document = json.loads(result.files["pod.json"])
    POD_VALIDATOR.validate(document)
    assert [(p["type"], p["default"]) for p in document["parameters"]] == [
        ("string[]", ["EMEA", "x,y"]),
        ("date[]", None),
    ]
    assert document["pushdown"] == [
        {"op": "in", "column": "a", "values": [{"parameter": "r"}]},
        {"op": "not_in", "column": "b", "values": [{"parameter": "d"}]},
    ]
