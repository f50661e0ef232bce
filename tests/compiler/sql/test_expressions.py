"""Filters and aggregates: sqlglot parsing, the allow-list, and parameter type checks."""

from __future__ import annotations

import logging

import pytest
from factories import parameter, span

from compiler.sql.aggregates import parse_aggregate
from compiler.sql.expressions import column_names, parse_filter, parse_output

PARAMETERS = {
    p.name: p
    for p in (
        parameter("i", "integer"),
        parameter("n", "number", 1.5),
        parameter("s", "string"),
        parameter("b", "boolean", False),
        parameter("d", "date"),
        parameter("ts", "timestamp"),
        parameter("limit", "integer"),
    )
}
WHERE = span(7, 5)


def codes(text: str) -> list[str]:
    checked, problems = parse_filter(text, WHERE, PARAMETERS)
    assert (checked is None) == bool(problems)
    # located at the filter in the spec, and by offset at the token inside it
    assert all((p.span.line, p.span.column) == (7, 5) for p in problems)
    return [p.code.value for p in problems]


def messages(text: str) -> list[str]:
    _, problems = parse_filter(text, WHERE, PARAMETERS)
    return [p.message for p in problems]


# filter -> its SQL as lowered (DuckDB), for filters that are accepted
ACCEPTED = [
    ("a = 1", "a = 1"),
    ("a <> 'x' AND b >= 2.5", "a <> 'x' AND b >= 2.5"),
    ("a != 1", "a <> 1"),
    ("a = 1 OR NOT (b < 2)", "a = 1 OR NOT (b < 2)"),
    ("a IN (1, 2, 3)", "a IN (1, 2, 3)"),
    ("a NOT IN ('x', 'y')", "NOT a IN ('x', 'y')"),
    ("a IS NULL", "a IS NULL"),
    ("a IS NOT NULL", "NOT a IS NULL"),
    ("a BETWEEN 1 AND 3", "a BETWEEN 1 AND 3"),
    ("a LIKE 'ab%'", "a LIKE 'ab%'"),
    ("a NOT LIKE 'ab%'", "a NOT LIKE 'ab%'"),
    ("a ILIKE 'ab%'", "a ILIKE 'ab%'"),
    ("lower(region) = 'emea'", "LOWER(region) = 'emea'"),
    ("year(d) >= 2024 AND month(d) = 1", "YEAR(d) >= 2024 AND MONTH(d) = 1"),
    ("coalesce(a, 0) > abs(b)", "COALESCE(a, 0) > ABS(b)"),
    ("d >= DATE '2024-01-01'", "d >= CAST('2024-01-01' AS DATE)"),
    ("t < TIMESTAMP '2024-01-01 10:00'", "t < CAST('2024-01-01 10:00' AS TIMESTAMP)"),
    ("d > current_date - INTERVAL 7 DAY", "d > CURRENT_DATE - INTERVAL '7' DAY"),
    ("a::INT = 1", "CAST(a AS INT) = 1"),
    ("a + b * 2 > 10", "a + b * 2 > 10"),
    ("CASE WHEN a > 1 THEN 'x' END = 'x'", "CASE WHEN a > 1 THEN 'x' END = 'x'"),
    ("flag", "flag"),
    ("TRUE", "TRUE"),
    ("a = :i", "a = $i"),
    ("a = $i", "a = $i"),
    ("a LIKE :s", "a LIKE $s"),
    (":b", "$b"),
    ("NOT :b", "NOT $b"),
    ("(:b) AND a = 1", "($b) AND a = 1"),
    ("shipped IS NOT NULL OR :b", "NOT shipped IS NULL OR $b"),
    ("d BETWEEN :d AND :ts", "d BETWEEN $d AND $ts"),
    (":i = :n", "$i = $n"),
    ("a = :limit", "a = $limit"),
    ("a = 1 -- trailing comment", "a = 1"),
    ("a = 1 /* block */ AND b = 2", "a = 1 AND b = 2"),
    ("a = 1;", "a = 1"),
    ("a = ':i'", "a = ':i'"),
    # issue 12's scalar functions (octet_length counts bytes: lowering adds ENCODE for DuckDB)
    ("octet_length(name) > 3", "OCTET_LENGTH(name) > 3"),
    ("hour(t) >= 9 AND minute(t) < 30", "HOUR(t) >= 9 AND MINUTE(t) < 30"),
    ("dayofweek(d) IN (0, 6)", "DAYOFWEEK(d) IN (0, 6)"),
    ("strftime(d, '%Y-%m') = :s", "STRFTIME(d, '%Y-%m') = $s"),
    ("regexp_matches(name, '^a.*b$')", "REGEXP_MATCHES(name, '^a.*b$')"),
    ("regexp_matches(name, :s, 'i')", "REGEXP_MATCHES(name, $s, 'i')"),
    ("order_id % 3 = 0", "order_id % 3 = 0"),
]


@pytest.mark.parametrize(("text", "sql"), ACCEPTED)
def test_accepted_filters(text, sql):
    checked, problems = parse_filter(text, WHERE, PARAMETERS)
    assert problems == []
    assert checked.tree.sql(dialect="duckdb") == sql


def test_placeholders_are_collected():
    checked, _ = parse_filter("a = :i OR (b LIKE :s AND :b) OR c = ':d'", WHERE, PARAMETERS)
    assert checked.parameters == frozenset({"i", "s", "b"})


def test_comments_never_reach_the_sql():
    checked, _ = parse_filter("a = 1 /* DROP TABLE x */ -- ; DELETE", WHERE, PARAMETERS)
    assert "DROP" not in checked.tree.sql() and "DELETE" not in checked.tree.sql()


# filter -> diagnostic codes
REJECTED = [
    pytest.param("a = (", ["DP0301"], id="incomplete"),
    pytest.param("a = 1 AND", ["DP0301"], id="dangling-and"),
    pytest.param("'unterminated", ["DP0301"], id="unterminated-string"),
    pytest.param("a = 1 /* open", ["DP0301"], id="unterminated-comment"),
    pytest.param("a = 1 ORDER BY a", ["DP0301"], id="trailing-clause"),
    pytest.param("a = 1; DROP TABLE x", ["DP0302"], id="second-statement"),
    pytest.param("a = 1; b = 2", ["DP0302"], id="two-conditions"),
    pytest.param("   ", ["DP0302"], id="blank"),
    pytest.param("a IN (SELECT a FROM secrets)", ["DP0302"], id="in-subquery"),
    pytest.param("a = (SELECT 1)", ["DP0302"], id="scalar-subquery"),
    pytest.param("EXISTS (SELECT 1)", ["DP0302"], id="exists"),
    pytest.param("a = 1 UNION SELECT 1", ["DP0302"], id="union"),
    pytest.param("SELECT * FROM read_csv('/etc/passwd')", ["DP0302"], id="select"),
    pytest.param("CREATE TABLE x (a INT)", ["DP0302"], id="create"),
    pytest.param("DROP TABLE orders", ["DP0302"], id="drop"),
    pytest.param("ALTER TABLE x ADD COLUMN y INT", ["DP0302"], id="alter"),
    pytest.param("TRUNCATE orders", ["DP0302"], id="truncate"),
    pytest.param("INSERT INTO x VALUES (1)", ["DP0302"], id="insert"),
    pytest.param("UPDATE x SET a = 1", ["DP0302"], id="update"),
    pytest.param("DELETE FROM x", ["DP0302"], id="delete"),
    pytest.param("COPY x TO '/tmp/x'", ["DP0302"], id="copy"),
    pytest.param("ATTACH 'other.db'", ["DP0302"], id="attach"),
    pytest.param("INSTALL httpfs", ["DP0302"], id="install"),
    pytest.param("LOAD httpfs", ["DP0302"], id="load"),
    pytest.param("SET enable_external_access = true", ["DP0302"], id="set"),
    pytest.param("PRAGMA version", ["DP0302"], id="pragma"),
    pytest.param("CALL f()", ["DP0302"], id="call"),
    pytest.param("read_csv('/etc/passwd') IS NOT NULL", ["DP0304"], id="read-csv"),
    pytest.param("read_parquet('s3://x') IS NULL", ["DP0304"], id="read-parquet"),
    pytest.param("getenv('HOME') = a", ["DP0304"], id="getenv"),
    pytest.param("md5(a) = 'x'", ["DP0304"], id="md5"),
    pytest.param("octet_length(a, b) = 1", ["DP0304"], id="octet-length-two-arguments"),
    pytest.param("regexp_replace(a, 'x', 'y') = 'z'", ["DP0304"], id="regexp-replace"),
    pytest.param("count_if(a) > 1", ["DP0304"], id="aggregate-count-if-in-filter"),
    pytest.param(":i % 2 = 0 AND :s % 2 = 1", ["DP0306"], id="string-modulo"),
    pytest.param("sum(a) > 1", ["DP0304"], id="aggregate-in-filter"),
    pytest.param("a = [1]", ["DP0304"], id="list"),
    pytest.param("t.region = 'EMEA'", ["DP0303"], id="table-qualified"),
    pytest.param("db.t.region = 'EMEA'", ["DP0303"], id="db-qualified"),
    pytest.param("row_number() OVER () = 1", ["DP0303"], id="window"),
    pytest.param("sum(a) OVER (PARTITION BY b) > 1", ["DP0303"], id="aggregate-window"),
    pytest.param("a = ?", ["DP0303"], id="positional-placeholder"),
    pytest.param("* = 1", ["DP0303"], id="star"),
    pytest.param("a[1] = 1", ["DP0303"], id="subscript"),
    pytest.param("a = 1 AS x", ["DP0303"], id="alias"),
    pytest.param("a LIKE 'x!%' ESCAPE '!'", ["DP0303"], id="escape"),
    pytest.param("a + 1", ["DP0308"], id="arithmetic"),
    pytest.param("1", ["DP0308"], id="number"),
    pytest.param("NULL", ["DP0308"], id="null"),
    pytest.param("lower(a)", ["DP0308"], id="function"),
    pytest.param("a = :nope", ["DP0305"], id="undeclared"),
    pytest.param("a = :I", ["DP0305"], id="names-are-case-sensitive"),
    pytest.param("a = :i OR b = :x OR c = :y", ["DP0305", "DP0305"], id="two-undeclared"),
    pytest.param("a LIKE :i", ["DP0306"], id="like-integer"),
    pytest.param(":i ILIKE 'x%'", ["DP0306"], id="ilike-integer"),
    pytest.param(":i = 'ten'", ["DP0306"], id="integer-vs-string"),
    pytest.param(":s = 10", ["DP0306"], id="string-vs-number"),
    pytest.param(":d = 1", ["DP0306"], id="date-vs-number"),
    pytest.param(":b = 1", ["DP0306"], id="boolean-vs-number"),
    pytest.param(":i = TRUE", ["DP0306"], id="integer-vs-boolean"),
    pytest.param(":i IN (1, 'x')", ["DP0306"], id="in-list"),
    pytest.param(":i BETWEEN 1 AND 'z'", ["DP0306"], id="between"),
    pytest.param(":i = lower(a)", ["DP0306"], id="integer-vs-string-function"),
    pytest.param(":s = CAST(a AS INT)", ["DP0306"], id="string-vs-cast"),
    pytest.param(":i = :s", ["DP0306"], id="parameter-vs-parameter"),
    pytest.param(":s + 1 = a", ["DP0306"], id="string-arithmetic"),
    pytest.param("a = -:s", ["DP0306"], id="string-negated"),
    pytest.param(":i", ["DP0306"], id="integer-as-condition"),
    pytest.param("(:s)", ["DP0306"], id="string-in-parentheses-as-condition"),
    pytest.param("NOT :s", ["DP0306"], id="string-negated-as-condition"),
    pytest.param("a = 1 AND :i", ["DP0306"], id="integer-in-and"),
    pytest.param("a = 1 OR :s", ["DP0306"], id="string-in-or"),
    pytest.param(":nope", ["DP0305"], id="undeclared-as-condition"),
    pytest.param(
        "read_csv('x') = 1 AND t.a = :nope",
        ["DP0304", "DP0303", "DP0305"],
        id="several-problems-in-one-filter",
    ),
]


@pytest.mark.parametrize(("text", "expected"), REJECTED)
def test_rejected_filters(text, expected):
    assert codes(text) == expected


# filter -> the exact message (messages are part of the product)
MESSAGES = [
    ("a = 1; DROP TABLE x", "filter must be exactly one expression, found 2 statements"),
    ("DROP TABLE x", "'DROP TABLE x' is a statement or subquery, not allowed"),
    ("a = (", "filter: invalid SQL: the expression is incomplete"),
    ("a IN (1,", "filter: invalid SQL: Expecting ) at ','"),
    (
        "a > 1 ORDER BY a",
        "filter: invalid SQL: Invalid expression / Unexpected token at 'ORDER BY'",
    ),
    ("a = 'open", "filter: invalid SQL: a quote or comment is not closed"),
    ("a = 1 /* open", "filter: invalid SQL: a quote or comment is not closed"),
    ("t.a = 1", "column 't.a': use the bare column name"),
    ("row_number() OVER () = 1", "'ROW_NUMBER() OVER ()' (Window) is not allowed"),
    ("a = ?", "positional placeholders are not allowed; use :name"),
    (
        "a = :nope",
        "parameter ':nope' is not declared under parameters (declared: b, d, i, limit, n, s, ts)",
    ),
    (
        "a LIKE :i",
        "parameter ':i' is declared integer but is used with LIKE, which needs a string",
    ),
    (":i = 'ten'", "parameter ':i' is declared integer but is compared with string 'ten'"),
    (":s = 10", "parameter ':s' is declared string but is compared with number 10"),
    (
        ":i = :s",
        "parameter ':s' is declared string but is compared with parameter ':i' (integer)",
    ),
    ("a = 1 AND :i", "parameter ':i' is declared integer but is used as a condition"),
    (":d", "parameter ':d' is declared date but is used as a condition"),
    (":s || 'x' = a", None),
    (
        "a + 1",
        "filter 'a + 1' is not a condition "
        "(a comparison, IN, BETWEEN, LIKE, IS NULL, or AND/OR/NOT of those)",
    ),
]


@pytest.mark.parametrize(("text", "message"), MESSAGES)
def test_messages(text, message):
    assert messages(text) == ([message] if message else [])


def test_read_csv_message_lists_the_allowed_functions():
    [message] = messages("read_csv('/etc/passwd') IS NOT NULL")
    assert message.startswith("function 'read_csv' is not allowed (allowed: abs, cast, ceil, ")
    assert "lower" in message and "sum" not in message  # aggregates are not scalar functions


def test_sqlglot_never_prints(capsys, caplog):
    # sqlglot logs a warning when it falls back to a raw Command; stages never print.
    with caplog.at_level(logging.WARNING):
        codes("CALL f()")
    assert capsys.readouterr().err == ""
    assert not [r for r in caplog.records if r.name == "sqlglot"]
    assert logging.getLogger("sqlglot").level == logging.NOTSET  # restored


def test_parameters_of_the_right_family_are_accepted():
    ok = [":i = 1", ":n = 2.5", ":s = 'x'", ":b = TRUE", ":d = DATE '2024-01-01'", ":i = :n"]
    ok += [":ts > current_timestamp", ":d = CAST('2024-01-01' AS DATE)", ":s = lower(a)"]
    ok += [":s IS NULL", ":i IN (1, 2)", ":i + 1 > a", "a = :i * :n"]
    assert {text: codes(text) for text in ok} == {text: [] for text in ok}


# aggregate expression -> lowered SQL, or diagnostic codes
AGGREGATES = [
    ("sum(sales)", "SUM(sales)"),
    ("count(*)", "COUNT(*)"),
    ("count(DISTINCT customer)", "COUNT(DISTINCT customer)"),
    ("avg(price * quantity)", "AVG(price * quantity)"),
    ("max(lower(region))", "MAX(LOWER(region))"),
    ("min(d)", "MIN(d)"),
    ("median(x)", "MEDIAN(x)"),
    ("stddev(x)", "STDDEV(x)"),
    ("sum(coalesce(a, 0)) -- total", "SUM(COALESCE(a, 0))"),
    ("sales", ["DP0309"]),
    ("sum(a) + 1", ["DP0309"]),
    ("sum(max(a))", ["DP0309"]),
    ("sum(:i)", ["DP0303"]),
    ("sum(read_parquet('x'))", ["DP0304"]),
    ("string_agg(a, ',')", ["DP0304"]),
    ("sales.sum()", ["DP0303"]),
    ("sum(t.a)", ["DP0303"]),
    ("sum(a) OVER ()", ["DP0303"]),
    ("sum(DISTINCT a)", ["DP0303"]),
    ("sum(a) WITHIN GROUP (ORDER BY a)", ["DP0303"]),
    ("sum((SELECT 1))", ["DP0302"]),
    ("sum(a); DROP TABLE x", ["DP0302"]),
    ("sum(", ["DP0301"]),
]


@pytest.mark.parametrize(("text", "expected"), AGGREGATES)
def test_aggregates(text, expected):
    checked, problems = parse_aggregate(text, "total", WHERE)
    if isinstance(expected, str):
        assert problems == [] and checked.tree.sql(dialect="duckdb") == expected
    else:
        assert checked is None and [p.code.value for p in problems] == expected


def test_column_names():
    checked, _ = parse_filter("lower(a) = 'x' AND (b IN (c, 1) OR :i > d)", WHERE, PARAMETERS)
    assert column_names(checked.tree) == {"a", "b", "c", "d"}
    checked, _ = parse_aggregate("count(*)", "n", WHERE)
    assert column_names(checked.tree) == set()


@pytest.mark.parametrize(
    "text",
    [
        "(" * 42 + "a = 1" + ")" * 42,  # RecursionError in sqlglot's parser
        "NOT " * 100 + "a = 1",
        "NOT " * 5000 + "a = 1",
        " OR ".join(["a = 1"] * 70),  # parses, but every later stage recurses over it
        "a = " + "(" * 300 + "1" + ")" * 300,
    ],
)
def test_nesting_too_deep_is_a_located_error(text):
    assert codes(text) == ["DP0310"]


def test_nesting_a_person_writes_is_accepted():
    assert codes("(" * 20 + "a = 1" + ")" * 20) == []
    assert codes(" OR ".join(["a = 1"] * 40)) == []


def test_deep_aggregates_are_a_located_error():
    checked, problems = parse_aggregate("sum(" + "(" * 300 + "a" + ")" * 300 + ")", "s", span())
    assert checked is None and [p.code.value for p in problems] == ["DP0310"]


# Filters that compiled into pods that fail every request (issue 11, item 12).
@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a = " + "9" * 39, "DP0311"),
        ("a = 1." + "1" * 38, "DP0311"),
        ("a < -" + "1" * 40, "DP0311"),
        ("CAST(region AS MAP(VARCHAR, VARCHAR)) IS NULL", "DP0303"),
        ("CAST(region AS STRUCT(a INT)) IS NULL", "DP0303"),
        ("CAST(region AS INT[]) IS NULL", "DP0303"),
        ("TRY_CAST(region AS MAP(VARCHAR, VARCHAR)) IS NULL", "DP0303"),
    ],
)
def test_values_a_pod_cannot_carry_are_refused(text, code):
    assert codes(text) == [code]


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "9" * 38,
        "a = 0.000" + "1" * 38,
        "a = 1.5e999",
        "CAST(a AS VARCHAR) = 'x'",
        "CAST(a AS DATE) > DATE '2024-01-01'",
    ],
)
def test_values_a_pod_can_carry_are_accepted(text):
    assert codes(text) == []


# computed output (select or group_by `name: expression`) -> its SQL, or diagnostic codes
OUTPUTS = [
    ("date_trunc('month', order_date)", "DATE_TRUNC('MONTH', order_date)"),
    ("year(d) * 100 + month(d)", "YEAR(d) * 100 + MONTH(d)"),
    ("quarter(d)", "QUARTER(d)"),
    ("hour(shipped_at)", "HOUR(shipped_at)"),
    ("CAST(sales AS DOUBLE) / quantity", "CAST(sales AS DOUBLE) / quantity"),
    ("sales", "sales"),
    ("region = 'EMEA' -- a boolean output", "region = 'EMEA'"),
    ("sum(sales)", ["DP0303"]),
    ("count_if(a > 1) + 1", ["DP0303"]),
    ("a + :i", ["DP0303"]),
    ("*", ["DP0303"]),
    ("read_csv('x')", ["DP0304"]),
    ("(SELECT 1)", ["DP0302"]),
    ("a +", ["DP0301"]),
]


@pytest.mark.parametrize(("text", "expected"), OUTPUTS)
def test_computed_outputs(text, expected):
    checked, problems = parse_output(text, "month", WHERE)
    if isinstance(expected, str):
        assert problems == [] and checked.tree.sql(dialect="duckdb") == expected
    else:
        assert checked is None and [p.code.value for p in problems] == expected
        assert all((p.span.line, p.span.column) == (7, 5) for p in problems)


def test_a_computed_output_names_itself_in_its_messages():
    _, [problem] = parse_output("sum(sales)", "month", WHERE)
    assert problem.message == (
        "computed column 'month' is computed row by row; the aggregate sum() belongs under "
        "aggregate"
    )
    _, [problem] = parse_output("a + :i", "month", WHERE)
    assert problem.message == (
        "computed column 'month' uses a parameter; parameters belong in filters and having"
    )


# filter -> where its problems point: the offending token's offset inside the filter's text
TOKEN_OFFSETS = [
    ("region = :regon", [9]),
    ("a = 1 AND foo(b) = 2", [10]),
    ("a = 1 AND t.b = 2", [10]),
    ("region LIKE :n", [12]),
    ("a = (", [4]),
    ("a = 1\n  ORDER BY a", [8]),
    ("a = 1 AND (SELECT 1) = 1", [None]),  # a statement: the filter itself
]


@pytest.mark.parametrize(("text", "offsets"), TOKEN_OFFSETS)
def test_problems_point_at_their_token(text, offsets):
    _, problems = parse_filter(text, WHERE, PARAMETERS)
    assert [p.span.offset for p in problems] == offsets
