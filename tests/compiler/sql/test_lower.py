"""Stage 4, lower: the IR to DuckDB SQL with bound parameters, read columns and pushdown."""

from __future__ import annotations

import dataclasses
import json

import duckdb
import pytest
import sqlglot
from factories import POD_VALIDATOR, parameter, pod, projection, reduction, write_spec

from compiler.diagnostics import Severity
from compiler.pipeline import compile_spec
from compiler.sql.lower import lower


def compiled(tmp_path, body: str) -> dict:
    result = compile_spec(write_spec(tmp_path, body))
    assert result.ok, [d.message for d in result.diagnostics]
    document = json.loads(result.files["pod.json"])
    POD_VALIDATOR.validate(document)
    return document


def sql_text(document: dict) -> str:
    """pod.json's SQL as the pod runs it (the file holds it one line per element)."""
    return "\n".join(document["sql"])


def one_line(sql: str) -> str:
    return " ".join(sql.split())


# spec fragment -> the SQL the pod runs (whitespace-normalised)
SQL = [
    ("select: [a, b]", "SELECT a, b FROM source"),
    ("select: a b", "SELECT a, b FROM source"),
    ("select: a, b", "SELECT a, b FROM source"),
    (
        "select: [order, Region, select, year, snake_case]",
        'SELECT "order", "Region", "select", year, snake_case FROM source',
    ),
    ("select: [a]\nfilters: a > 1", "SELECT a FROM source WHERE a > 1"),
    (
        "select: [a]\nfilters: [a > 1, b = 'x' OR c IS NULL]",
        "SELECT a FROM source WHERE a > 1 AND ( b = 'x' OR c IS NULL )",
    ),
    (
        "select: [a]\nfilters: [a = :p]\nparameters: [{name: p, type: integer}]",
        "SELECT a FROM source WHERE a = $p",
    ),
    (
        "select: [a]\nfilters: ['NOT :flag']\nparameters: [{name: flag, type: boolean}]",
        "SELECT a FROM source WHERE NOT $flag",
    ),
    ("select: [a]\norder_by: [a desc]\nlimit: 5", "SELECT a FROM source ORDER BY a DESC LIMIT 5"),
    ("select: [a, b]\norder_by: 'b, a desc'", "SELECT a, b FROM source ORDER BY b ASC, a DESC"),
    ("select: [Order]\norder_by: Order", 'SELECT "Order" FROM source ORDER BY "Order" ASC'),
    ("select: [a]\nlimit: 1", "SELECT a FROM source LIMIT 1"),
    (
        "aggregate: sales.sum()\ngroup_by: q",
        "SELECT q, SUM(sales) AS sales_sum FROM source GROUP BY q ORDER BY q ASC",
    ),
    ("aggregate: count()", "SELECT COUNT(*) AS count FROM source"),
    (
        "aggregate: [sales.avg(), id.count()]",
        "SELECT AVG(sales) AS sales_avg, COUNT(id) AS id_count FROM source",
    ),
    (
        "aggregate: {n: count(distinct c), s: sum(a * b)}\ngroup_by: [g, h]\norder_by: s desc",
        "SELECT g, h, COUNT(DISTINCT c) AS n, SUM(a * b) AS s FROM source GROUP BY g, h "
        "ORDER BY s DESC",
    ),
    (
        "aggregate: {Total: sum(x), order: count(*)}\ngroup_by: [Group]",
        'SELECT "Group", SUM(x) AS "Total", COUNT(*) AS "order" FROM source GROUP BY "Group" '
        'ORDER BY "Group" ASC',
    ),
    (
        "aggregate: {n: count(*)}\ngroup_by: g\nfilters: g <> 'x'\nlimit: 10",
        "SELECT g, COUNT(*) AS n FROM source WHERE g <> 'x' GROUP BY g ORDER BY g ASC LIMIT 10",
    ),
    (
        "select: [a]\nfilters: \"d >= DATE '2024-01-01' -- since 2024\"",
        "SELECT a FROM source WHERE d >= CAST('2024-01-01' AS DATE)",
    ),
    (
        "select: [a]\nfilters: |\n  a = 1 /* one */\n  AND b = 2",
        "SELECT a FROM source WHERE a = 1 AND b = 2",
    ),
]


@pytest.mark.parametrize(("body", "sql"), SQL)
def test_lowered_sql(tmp_path, body, sql):
    document = compiled(tmp_path, body)
    assert one_line(sql_text(document)) == sql
    # The emitted SQL re-parses to itself: what reviewers read is what DuckDB runs.
    reparsed = sqlglot.parse_one(sql_text(document), read="duckdb").sql("duckdb", pretty=True)
    assert reparsed == sql_text(document)


@pytest.mark.parametrize(("body", "sql"), SQL[:6])
def test_lowered_sql_runs_in_duckdb(tmp_path, body, sql):
    document = compiled(tmp_path, body)
    columns = {c: "1" for c in ("a", "b", "c", "order", "Region", "select", "year", "snake_case")}
    source = "SELECT " + ", ".join(f'{v} AS "{k}"' for k, v in columns.items())
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW source AS {source}")
    connection.execute(sql_text(document)).fetchall()


def test_sql_is_pretty_printed_one_clause_per_line(tmp_path):
    document = compiled(tmp_path, "select: [a, b]\nfilters: [a = 1]\norder_by: a\nlimit: 2")
    assert sql_text(document) == (
        "SELECT\n  a,\n  b\nFROM source\nWHERE\n  a = 1\nORDER BY\n  a ASC\nLIMIT 2"
    )


def test_request_values_never_enter_the_sql(tmp_path):
    body = (
        'select: [a]\nfilters: ["a = :p OR b LIKE :q", "c = :p", "d >= :since"]\n'
        "parameters:\n"
        '  - {name: p, type: string, default: "x\'; DROP TABLE t; --"}\n'
        "  - {name: q, type: string}\n"
        "  - {name: since, type: date, default: 2031-07-05}\n"
    )
    document = compiled(tmp_path, body)
    assert "DROP" not in sql_text(document) and "2031" not in sql_text(document)
    assert {"$p", "$q", "$since"} <= set(sql_text(document).replace("(", " ").split())
    assert ":p" not in sql_text(document)
    assert document["pushdown"] == [
        {"op": "eq", "column": "c", "value": {"parameter": "p"}},
        {"op": "ge", "column": "d", "value": {"parameter": "since"}},
    ]
    assert [p["default"] for p in document["parameters"]] == [
        "x'; DROP TABLE t; --",
        None,
        "2031-07-05",
    ]


def test_bound_parameters_run_in_duckdb(tmp_path):
    body = (
        "select: [a]\nfilters: [a = :p, 'NOT :flag']\n"
        "parameters: [{name: p, type: string}, {name: flag, type: boolean}]"
    )
    document = compiled(tmp_path, body)
    connection = duckdb.connect()
    connection.execute("CREATE VIEW source AS SELECT * FROM (VALUES ('x'), ('y')) AS t(a)")
    rows = connection.execute(sql_text(document), {"p": "x'; --", "flag": False}).fetchall()
    assert rows == []
    assert connection.execute(sql_text(document), {"p": "x", "flag": False}).fetchall() == [("x",)]


# pod -> the table columns it reads (sorted)
READ_COLUMNS = [
    (pod(projection("b", "a")), ("a", "b")),
    (pod(projection("a"), filters=("lower(c) = 'x' AND d IN (e, 1)",)), ("a", "c", "d", "e")),
    (pod(projection("a"), filters=('"Mixed" = 1',)), ("Mixed", "a")),
    (pod(reduction(("g",), n="count(*)")), ("g",)),
    (pod(reduction((), n="count(*)")), ()),
    (pod(reduction(("g",), s="sum(x * y)", m="max(lower(z))")), ("g", "x", "y", "z")),
    (
        pod(projection("a"), filters=("b = :p",), parameters=(parameter("p"),)),
        ("a", "b"),
    ),
]


@pytest.mark.parametrize(("the_pod", "columns"), READ_COLUMNS)
def test_read_columns(the_pod, columns):
    query, problems = lower(the_pod)
    assert problems == []
    assert query.read_columns == columns


def test_output_columns_in_declared_order():
    query, _ = lower(pod(reduction(("g", "h"), z="count(*)", a="sum(x)")))
    assert query.columns == ("g", "h", "z", "a")
    query, _ = lower(pod(projection("z", "a", "m")))
    assert query.columns == ("z", "a", "m")


def test_reduction_sorts_by_its_groups_unless_told_otherwise():
    sql = lower(pod(reduction(("g",), n="count(*)"), order_by=("n desc",)))[0].sql
    assert one_line(sql).endswith("GROUP BY g ORDER BY n DESC")


# pod -> diagnostics (code, line) from lowering; filter i stands at line 10 + i
PROBLEMS = [
    (pod(filters=("a = (",)), [("DP0301", 10)]),
    (pod(filters=("a = 1", "read_csv('x') = 1")), [("DP0304", 11)]),
    (pod(reduction(n="sales")), [("DP0309", 1)]),
    (
        pod(filters=("a = :q",), parameters=(parameter("p"),)),
        [("DP0305", 10)],  # unused p is not judged while a filter fails
    ),
    (
        pod(reduction(n="sales"), parameters=(parameter("p"),)),
        [("DP0309", 1), ("DP0307", 1)],  # a bad aggregate does not hide an unused parameter
    ),
    (
        pod(filters=("a = (", "b = :p", "t.c = 1"), parameters=(parameter("p", "integer"),)),
        [("DP0301", 10), ("DP0303", 12)],
    ),
]


@pytest.mark.parametrize(("the_pod", "expected"), PROBLEMS)
def test_problems(the_pod, expected):
    query, problems = lower(the_pod)
    assert query is None
    assert [(p.code.value, p.span.line) for p in problems] == expected


def test_an_unused_parameter_is_a_warning_and_the_pod_still_lowers():
    query, [problem] = lower(pod(parameters=(parameter("region"),)))
    assert query is not None and problem.code.value == "DP0307"
    assert problem.severity is Severity.WARNING
    assert problem.message == (
        "parameter 'region' is declared but no filter uses it (refer to it as :region)"
    )


def test_every_lowered_pod_fits_the_pod_schema(tmp_path):
    for index, (body, _) in enumerate(SQL):
        folder = tmp_path / str(index)
        folder.mkdir()
        compiled(folder, body)


def test_between_symmetric_is_expanded_and_still_re_parses_to_itself(tmp_path):
    document = compiled(tmp_path, "select: [a]\nfilters: a BETWEEN SYMMETRIC 3 AND 1")
    assert one_line(sql_text(document)) == (
        "SELECT a FROM source WHERE ( a BETWEEN 3 AND 1 OR a BETWEEN 1 AND 3 )"
    )
    reparsed = sqlglot.parse_one(sql_text(document), read="duckdb").sql("duckdb", pretty=True)
    assert reparsed == sql_text(document)


def test_a_parameter_before_an_empty_string_literal_compiles_and_runs(tmp_path):
    # sqlglot's tokenizer reads `$q AND s = ''` as the start of a $q$-quoted string and fails
    # to re-parse what it printed; found by hypothesis. DuckDB reads it correctly.
    body = "select: [s]\nfilters: \"s = :q OR s = ''\"\nparameters: [{name: q, type: string}]"
    document = compiled(tmp_path, body)
    connection = duckdb.connect()
    connection.execute("CREATE VIEW source AS SELECT * FROM (VALUES ('x'), (''), ('y')) AS t(s)")
    rows = connection.execute(sql_text(document) + " ORDER BY s", {"q": "x"}).fetchall()
    assert rows == [("",), ("x",)]


CLOCK_REDUCTION = "aggregate: {n: count(*)}\ngroup_by: [region]\n"


@pytest.mark.parametrize(
    "clock",
    [
        'filters: ["day = current_date"]\n',
        'filters: ["day = today()"]\n',
        'filters: ["ts > current_timestamp - INTERVAL 1 HOUR"]\n',
        'aggregate: {n: count(*), recent: "sum(CASE WHEN day = current_date THEN 1 END)"}\n',
    ],
)
def test_a_reduction_reading_the_clock_does_not_cache_by_default(tmp_path, clock):
    assert compiled(tmp_path, CLOCK_REDUCTION)["result_cache"] is True
    body = CLOCK_REDUCTION if clock.startswith("filters") else "group_by: [region]\n"
    assert compiled(tmp_path, body + clock)["result_cache"] is False


def test_result_cache_true_with_the_clock_is_a_located_error(tmp_path):
    text = CLOCK_REDUCTION + 'filters: ["day = current_date"]\nresult_cache: true\n'
    result = compile_spec(write_spec(tmp_path, text))
    assert not result.ok
    ((code, line, column, message),) = [
        (d.code.value, d.span.line, d.span.column, d.message) for d in result.diagnostics
    ]
    assert (code, line, column) == ("DP0203", 6, 15)
    assert message.startswith("result_cache: true is not supported when a filter or aggregate")
    text = text.replace("result_cache: true", "result_cache: false")
    assert compiled(tmp_path, text)["result_cache"] is False


# --- computed outputs, having, select "*" (issue 12) ----------------------------------------------

COMPUTED = [
    (
        "aggregate: {n: count(*)}\ngroup_by: [region, {month: \"date_trunc('month', d)\"}]",
        "SELECT region, DATE_TRUNC('MONTH', d) AS month, COUNT(*) AS n FROM source "
        "GROUP BY region, DATE_TRUNC('MONTH', d) ORDER BY region ASC, month ASC",
    ),
    (
        # An output may take a table column's name: GROUP BY keeps the expression, ORDER BY
        # names the output (DuckDB sorts by the SELECT list's alias first).
        "aggregate: {n: count(*)}\ngroup_by: [{d: year(d)}]\norder_by: [d desc]",
        "SELECT YEAR(d) AS d, COUNT(*) AS n FROM source GROUP BY YEAR(d) ORDER BY d DESC",
    ),
    (
        'select: [a, {net: "a - coalesce(b, 0)"}, {bytes: octet_length(c)}]\norder_by: [net]',
        "SELECT a, a - COALESCE(b, 0) AS net, OCTET_LENGTH(ENCODE(c)) AS bytes FROM source "
        "ORDER BY net ASC",
    ),
    (
        "aggregate: {n: count(*), total: sum(a)}\ngroup_by: [g]\nhaving: [n > 1, 'sum(b) < total']",
        "SELECT g, COUNT(*) AS n, SUM(a) AS total FROM source GROUP BY g "
        "HAVING COUNT(*) > 1 AND SUM(b) < SUM(a) ORDER BY g ASC",
    ),
    (
        # `a` is an aggregate's name and a table column: in having the name means the output.
        "aggregate: {a: sum(a)}\ngroup_by: [{m: a % 2}]\nhaving: 'a > 2 AND m = 1'",
        "SELECT a % 2 AS m, SUM(a) AS a FROM source GROUP BY a % 2 "
        "HAVING SUM(a) > 2 AND a % 2 = 1 ORDER BY m ASC",
    ),
    (
        'select: "*"\nfilters: a > 1\norder_by: [b]',
        "SELECT * FROM source WHERE a > 1 ORDER BY b ASC",
    ),
]


@pytest.mark.parametrize(("body", "sql"), COMPUTED)
def test_computed_outputs_having_and_every_column(tmp_path, body, sql):
    test_lowered_sql(tmp_path, body, sql)


@pytest.mark.parametrize(("body", "sql"), COMPUTED)
def test_computed_outputs_run_in_duckdb_and_answer_like_hand_written_sql(tmp_path, body, sql):
    """The compiled SQL over a small table answers what the test's own SQL answers."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE VIEW source AS SELECT i AS a, i * 3 % 7 AS b, 'é' || i AS c, "
        "DATE '2024-01-30' + CAST(i * 5 AS INTEGER) AS d, i % 3 AS g, i % 2 = 0 AS region "
        "FROM range(40) AS t(i)"
    )
    document = compiled(tmp_path, body)
    assert connection.execute(sql_text(document)).fetchall() == connection.execute(sql).fetchall()


def test_every_column_is_left_to_the_pod_without_check(tmp_path):
    document = compiled(tmp_path, "select: \"*\"\nfilters: region = 'EMEA'")
    assert document["all_columns"] is True
    assert (document["columns"], document["read_columns"]) == ([], [])
    assert document["pushdown"] == [
        {"op": "eq", "column": "region", "value": {"literal": "EMEA", "type": "string"}}
    ]
    assert "all_columns" not in compiled(tmp_path, "select: [a]")


def test_computed_outputs_and_having_read_their_columns(tmp_path):
    document = compiled(
        tmp_path,
        "aggregate: {n: count(*) FILTER (WHERE f)}\ngroup_by: [{m: month(d)}]\n"
        "having: 'sum(x) > 0'\nfilters: g = 1",
    )
    assert document["read_columns"] == ["d", "f", "g", "x"]
    assert document["columns"] == ["m", "n"]


def test_having_parameters_are_bound_and_count_as_used(tmp_path):
    document = compiled(
        tmp_path,
        "aggregate: {n: count(*)}\ngroup_by: [g]\nhaving: n >= :least\n"
        "parameters: [{name: least, type: integer, default: 2}]",
    )
    assert one_line(sql_text(document)).endswith("HAVING COUNT(*) >= $least ORDER BY g ASC")
    assert document["pushdown"] == []  # a having condition never prunes files


@pytest.mark.parametrize(
    "clock",
    [
        'group_by: [{age: "current_date - d"}]\n',
        'having: ["max(d) > current_date - 7"]\ngroup_by: [region]\n',
    ],
)
def test_computed_outputs_and_having_reading_the_clock_do_not_cache(tmp_path, clock):
    assert compiled(tmp_path, "aggregate: {n: count(*)}\n" + clock)["result_cache"] is False


def test_a_list_parameter_in_having_is_bound_as_a_duckdb_list(tmp_path):
    document = compiled(
        tmp_path,
        "aggregate: {n: count(*)}\ngroup_by: [g]\nhaving: g IN :gs\n"
        "parameters: [{name: gs, type: 'integer[]', default: [0, 2]}]",
    )
    sql = one_line(sql_text(document))
    assert sql.endswith("HAVING ARRAY_CONTAINS($gs, g) ORDER BY g ASC")
    connection = duckdb.connect()
    connection.execute("CREATE VIEW source AS SELECT i % 3 AS g FROM range(9) AS t(i)")
    assert connection.execute(sql, {"gs": [0, 2]}).fetchall() == [(0, 3), (2, 3)]


def test_a_parameter_declared_with_errors_is_neither_undeclared_nor_judged():
    """Its declaration's error was reported already (validate): no follow-on errors."""
    the_pod = dataclasses.replace(
        pod(filters=("a = :region", "b LIKE :region", "c = :regon")),
        unchecked_parameters=frozenset({"region"}),
    )
    _, problems = lower(the_pod)
    assert [(p.code.value, p.span.line) for p in problems] == [("DP0305", 12)]
