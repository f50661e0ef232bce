"""Aggregates with FILTER, percentiles and the other issue 12 aggregates, and `having`
conditions: one case per line, the SQL as sqlglot prints it for DuckDB, or the codes."""

from __future__ import annotations

import pytest
import sqlglot
from factories import parameter, span

from compiler.sql.aggregates import output_references, parse_aggregate, parse_having, with_outputs

WHERE = span(9, 7)
PARAMETERS = {p.name: p for p in (parameter("n", "integer", 1), parameter("s", "string"))}

AGGREGATES = [
    ("count(*) FILTER (WHERE discount IS NULL)", "COUNT(*) FILTER(WHERE discount IS NULL)"),
    ("sum(sales) FILTER (WHERE region = 'EMEA')", "SUM(sales) FILTER(WHERE region = 'EMEA')"),
    ("count(DISTINCT a) FILTER (WHERE b > 1)", "COUNT(DISTINCT a) FILTER(WHERE b > 1)"),
    ("avg(a) FILTER (WHERE a > 1)", "AVG(a) FILTER(WHERE a > 1)"),
    ("count_if(quantity > 10)", "COUNT_IF(quantity > 10)"),
    ("approx_count_distinct(customer)", "APPROX_COUNT_DISTINCT(customer)"),
    ("quantile_cont(sales, 0.5)", "QUANTILE_CONT(sales, 0.5)"),
    ("quantile_disc(sales, 0.9)", "QUANTILE_DISC(sales, 0.9)"),
    ("quantile_cont(sales, 1)", "QUANTILE_CONT(sales, 1)"),
    ("median(discount) FILTER (WHERE discount > 0)", "MEDIAN(discount) FILTER(WHERE discount > 0)"),
    # The standard's form: DuckDB runs sqlglot's rewriting of it with the same answer.
    (
        "percentile_cont(0.25) WITHIN GROUP (ORDER BY sales)",
        "QUANTILE_CONT(sales, 0.25 ORDER BY sales)",
    ),
    (
        "percentile_disc(0.5) WITHIN GROUP (ORDER BY sales DESC)",
        "QUANTILE_DISC(sales, 0.5 ORDER BY sales DESC)",
    ),
    ("quantile_cont(sales, 1.5)", ["DP0314"]),
    ("quantile_cont(sales, -0.1)", ["DP0314"]),
    ("quantile_cont(sales)", ["DP0314"]),
    ("quantile_disc(sales, 'half')", ["DP0314"]),
    ("quantile_cont(sales, [0.5, 0.9])", ["DP0304"]),  # a list of quantiles: not a scalar
    ("percentile_cont(0.5)", ["DP0314"]),
    ("percentile_cont(0.5) WITHIN GROUP (ORDER BY a, b)", ["DP0314"]),
    ("percentile_cont(0.5) WITHIN GROUP (ORDER BY sum(a))", ["DP0309"]),
    ("sum(a) FILTER (WHERE sum(b) > 1)", ["DP0309"]),
    ("count(*) FILTER (WHERE a IN (SELECT 1))", ["DP0302"]),
    ("count(*) FILTER (WHERE a = :n)", ["DP0303"]),
    ("count(*) FILTER (WHERE read_csv('x') IS NULL)", ["DP0304"]),
    ("count_if(count(*) > 1)", ["DP0309"]),
    ("sum(a) FILTER (WHERE a > 1) + 1", ["DP0309"]),
]


@pytest.mark.parametrize(("text", "expected"), AGGREGATES)
def test_aggregates(text, expected):
    checked, problems = parse_aggregate(text, "total", WHERE)
    if isinstance(expected, str):
        assert problems == [] and checked.tree.sql(dialect="duckdb") == expected
    else:
        assert checked is None and [p.code.value for p in problems] == expected
        assert all((p.span.line, p.span.column) == (WHERE.line, WHERE.column) for p in problems)


def test_the_sql_of_every_accepted_aggregate_reparses_to_itself():
    for text, expected in AGGREGATES:
        if isinstance(expected, str):
            again = sqlglot.parse_one(expected, read="duckdb").sql(dialect="duckdb")
            assert again == expected, text


def test_a_rejected_percentile_is_quoted_as_written_not_as_sqlglot_rewrote_it():
    _, [problem] = parse_aggregate(
        "percentile_cont(0.5)  WITHIN GROUP (ORDER BY sales) OVER ()", "p50", WHERE
    )
    assert problem.message == (
        "'percentile_cont(0.5) WITHIN GROUP (ORDER BY sales) OVER ()' (Window) is not allowed"
    )
    _, [problem] = parse_aggregate("quantile_cont(sales, 2)", "p50", WHERE)
    assert problem.message == (
        "aggregate 'p50': the fraction of quantile_cont must be a number from 0 to 1 "
        "(0.5 is the median)"
    )
    _, [problem] = parse_aggregate("percentile_disc(0.5)", "p50", WHERE)
    assert problem.message == (
        "aggregate 'p50': percentile_disc(fraction) needs WITHIN GROUP (ORDER BY column)"
    )


HAVING = [
    ("orders > 10", "orders > 10"),
    ("total >= :n AND region <> :s", "total >= $n AND region <> $s"),
    ("sum(sales) > 100", "SUM(sales) > 100"),
    ("count(*) FILTER (WHERE discount IS NULL) > 0", "COUNT(*) FILTER(WHERE discount IS NULL) > 0"),
    ("count_if(quantity > 10) * 2 > orders", "COUNT_IF(quantity > 10) * 2 > orders"),
    ("orders + 1", ["DP0308"]),
    ("sum(count(*)) > 1", ["DP0309"]),
    ("orders > :nope", ["DP0305"]),
    ("orders > (SELECT 1)", ["DP0302"]),
    ("total > :s", []),  # a parameter against an aggregate's name: --check judges it
    ("region LIKE :n", ["DP0306"]),
]


@pytest.mark.parametrize(("text", "expected"), HAVING)
def test_having(text, expected):
    checked, problems = parse_having(text, WHERE, PARAMETERS)
    if isinstance(expected, str):
        assert problems == [] and checked.tree.sql(dialect="duckdb") == expected
    elif expected == []:
        assert problems == [] and checked is not None
    else:
        assert checked is None and [p.code.value for p in problems] == expected


def test_output_names_in_having_stand_for_what_computes_them():
    checked, _ = parse_having(
        "sales > 10 AND sum(sales) > 1 AND month = 3 AND count(*) FILTER (WHERE month = 1) > 0",
        WHERE,
        PARAMETERS,
    )
    assert sorted(c.name for c in output_references(checked.tree)) == ["month", "sales"]
    by_name = {
        "sales": sqlglot.parse_one("sum(sales)", read="duckdb"),
        "month": sqlglot.parse_one("month(order_date)", read="duckdb"),
    }
    assert with_outputs(checked.tree, by_name).sql(dialect="duckdb") == (
        "SUM(sales) > 10 AND SUM(sales) > 1 AND MONTH(order_date) = 3 "
        "AND COUNT(*) FILTER(WHERE month = 1) > 0"
    )
