"""Parsing and checking the SQL fragments of a spec (filters and aggregates) with sqlglot.

Everything is allow-listed by node type: anything not listed (subqueries, table functions,
DDL, window functions, unknown functions) is rejected, because a filter is spliced into the
pod's SQL and must not be able to read files, call extensions or change state. Parameter
values never enter SQL text: `:name` becomes a bound DuckDB placeholder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from ..diagnostics import Code, Diagnostic, Span, did_you_mean, error
from ..spec.ir import Parameter
from .lists import in_problem
from .nodes import (
    ARITHMETIC,
    COMPARISONS,
    CONNECTIVES,
    PREDICATES,
    at_node,
    function_name,
    snippet,
)
from .parameters import check_parameters, placeholders
from .parsing import parse_one
from .types import cast_problem, literal_problem

# Whole statements (and subqueries) are never part of a filter or aggregate, whatever their kind.
_STATEMENTS = (
    exp.Query,
    exp.Subquery,
    exp.Exists,
    exp.Command,
    exp.DDL,
    exp.DML,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
)

# Scalar functions a filter or aggregate argument may call, by sqlglot node type.
SCALAR_FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Abs: "abs",
    exp.Ceil: "ceil",
    exp.Floor: "floor",
    exp.Round: "round",
    exp.Lower: "lower",
    exp.Upper: "upper",
    exp.Trim: "trim",
    exp.Length: "length",
    exp.Substring: "substring",
    exp.Concat: "concat",
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
    exp.Greatest: "greatest",
    exp.Least: "least",
    exp.Year: "year",
    exp.Quarter: "quarter",
    exp.Month: "month",
    exp.Day: "day",
    exp.DateTrunc: "date_trunc",
    exp.TimestampTrunc: "date_trunc",
    exp.Extract: "extract",
    exp.Hour: "hour",
    exp.Minute: "minute",
    exp.DayOfWeek: "dayofweek",
    # strftime: DuckDB's own formatting, the same text whatever the host's locale.
    exp.TimeToStr: "strftime",
    exp.StartsWith: "starts_with",
    exp.ByteLength: "octet_length",
    # DuckDB matches with RE2: time linear in the text, patterns bounded in memory.
    exp.RegexpLike: "regexp_matches",
    exp.CurrentDate: "current_date",
    exp.CurrentTimestamp: "current_timestamp",
    exp.Cast: "cast",
}

AGGREGATE_FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Sum: "sum",
    exp.Count: "count",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
    exp.Median: "median",
    exp.Stddev: "stddev",
    exp.Variance: "variance",
    exp.CountIf: "count_if",
    exp.ApproxDistinct: "approx_count_distinct",
    exp.PercentileCont: "quantile_cont",
    exp.PercentileDisc: "quantile_disc",
}

# The SQL standard's percentiles, written `percentile_cont(0.5) WITHIN GROUP (ORDER BY x)`.
PERCENTILES = (exp.PercentileCont, exp.PercentileDisc)

# Structural nodes allowed anywhere in a checked expression.
_STRUCTURAL = (
    *COMPARISONS,
    *CONNECTIVES,
    *ARITHMETIC,
    exp.Paren,
    exp.In,
    exp.Is,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Placeholder,
    exp.DataType,
    exp.Interval,
    exp.Case,
    exp.If,
    exp.DPipe,
)


@dataclass(frozen=True, slots=True)
class Checked:
    """A parsed, allow-listed expression and the placeholders it uses."""

    tree: exp.Expression
    parameters: frozenset[str]


def parse_filter(
    text: str, span: Span, parameters: dict[str, Parameter]
) -> tuple[Checked | None, list[Diagnostic]]:
    """Parse one filter: a single boolean scalar condition over columns and parameters."""
    return parse_condition(text, span, parameters, "filter", aggregates=False)


def parse_condition(
    text: str, span: Span, parameters: dict[str, Parameter], what: str, *, aggregates: bool
) -> tuple[Checked | None, list[Diagnostic]]:
    """Parse one condition (a filter, or with aggregates allowed, a having condition)."""
    tree, problems = parse_one(text, span, what)
    if tree is None:
        return None, problems
    problems = list(disallowed(tree, span, text, allow_aggregates=aggregates))
    if not problems and not _is_condition(tree, parameters):
        problems.append(
            error(
                Code.NOT_A_CONDITION,
                f"{what} '{text.strip()}' is not a condition (a comparison, IN, BETWEEN, LIKE, "
                "IS NULL, or AND/OR/NOT of those)",
                span,
            )
        )
    problems += check_parameters(tree, span, parameters)
    if problems:
        return None, problems
    return Checked(tree=without_comments(tree), parameters=placeholders(tree)), []


def parse_output(text: str, name: str, span: Span) -> tuple[Checked | None, list[Diagnostic]]:
    """Parse one computed output of select or group_by: a scalar expression over columns."""
    what = f"computed column '{name}'"
    tree, problems = parse_one(text, span, what)
    if tree is None:
        return None, problems
    found = tree.find(*AGGREGATE_FUNCTIONS)
    if found is not None:
        return None, [
            error(
                Code.CONSTRUCT_NOT_ALLOWED,
                f"{what} is computed row by row; the aggregate {function_name(found)}() "
                "belongs under aggregate",
                span,
            )
        ]
    problems = list(disallowed(tree, span, text, allow_aggregates=False))
    parameter = next((p for p in tree.find_all(exp.Placeholder) if p.this), None)
    if not problems and parameter:
        problems.append(
            error(
                Code.CONSTRUCT_NOT_ALLOWED,
                f"{what} uses a parameter; parameters belong in filters and having",
                at_node(span, parameter),
            )
        )
    if problems:
        return None, problems
    return Checked(tree=without_comments(tree), parameters=frozenset()), []


def aggregate_call(tree: exp.Expression) -> exp.Expression | None:
    """The aggregate function an aggregate expression calls, under its FILTER or WITHIN GROUP;
    None when the expression is not one aggregate call.

    >>> import sqlglot
    >>> aggregate_call(sqlglot.parse_one("count(*) FILTER (WHERE a)")).sql()
    'COUNT(*)'
    """
    if isinstance(tree, exp.Filter):
        tree = tree.this
    if isinstance(tree, exp.WithinGroup):
        tree = tree.this
    return tree if type(tree) in AGGREGATE_FUNCTIONS else None


def column_names(tree: exp.Expression) -> set[str]:
    """Names of the table columns an expression reads."""
    return {c.name for c in tree.find_all(exp.Column)}


def disallowed(
    tree: exp.Expression, span: Span, text: str, *, allow_aggregates: bool
) -> Iterator[Diagnostic]:
    """Every node outside the allow-list, once each, outermost first. The whole expression is
    quoted as the user wrote it (sqlglot prints some forms rewritten)."""
    allowed_functions = dict(SCALAR_FUNCTIONS)
    if allow_aggregates:
        allowed_functions.update(AGGREGATE_FUNCTIONS)
    skip: set[int] = set()
    for node in tree.walk():
        if id(node) in skip:
            continue
        shown = _shown(text) if node is tree else snippet(node, 60)
        problem = _node_problem(node, allowed_functions, allow_aggregates, shown)
        if problem:
            skip.update(id(n) for n in node.walk())
            code, message = problem
            # A statement's first token is a keyword sqlglot keeps no place for: the filter's.
            yield error(
                code, message, span if code is Code.NOT_ONE_EXPRESSION else at_node(span, node)
            )


def _shown(text: str) -> str:
    r"""An expression as the user wrote it, on one line and cut to 60 characters for a message.

    >>> _shown("percentile_cont(0.5)\n  WITHIN GROUP (ORDER BY sales)")
    'percentile_cont(0.5) WITHIN GROUP (ORDER BY sales)'
    """
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _aggregate_clause(node: exp.Expression) -> bool:
    """Whether a node is part of an aggregate's own syntax: FILTER (WHERE ...) around an
    aggregate, or a percentile's WITHIN GROUP (ORDER BY ...)."""
    if isinstance(node, exp.Filter):
        return aggregate_call(node) is not None
    if isinstance(node, exp.Where):
        return isinstance(node.parent, exp.Filter)
    if isinstance(node, exp.WithinGroup):
        return isinstance(node.this, PERCENTILES)
    if isinstance(node, exp.Order):
        return isinstance(node.parent, exp.WithinGroup)
    return isinstance(node, exp.Ordered) and isinstance(node.parent, exp.Order)


def _node_problem(
    node: exp.Expression, functions: dict, allow_aggregates: bool, shown: str
) -> tuple[Code, str] | None:
    """Why a node is not allowed, if it is not; `shown` is how a message quotes it."""
    if isinstance(node, _STATEMENTS):
        return (
            Code.NOT_ONE_EXPRESSION,
            f"'{shown}' is a statement or subquery, not allowed",
        )
    if isinstance(node, exp.Column) and (node.table or node.args.get("db")):
        return Code.CONSTRUCT_NOT_ALLOWED, f"column '{shown}': use the bare column name"
    if isinstance(node, exp.Star):
        if allow_aggregates and isinstance(node.parent, exp.Count):
            return None
        return Code.CONSTRUCT_NOT_ALLOWED, "'*' is not allowed here"
    if isinstance(node, exp.Distinct) and allow_aggregates and isinstance(node.parent, exp.Count):
        return None
    if allow_aggregates and _aggregate_clause(node):
        return None
    if isinstance(node, exp.Var) and isinstance(node.parent, exp.Interval | exp.Extract):
        return None
    if isinstance(node, exp.Var) and isinstance(node.parent, exp.DateTrunc | exp.TimestampTrunc):
        return None
    if isinstance(node, exp.Placeholder) and not node.this:
        return Code.CONSTRUCT_NOT_ALLOWED, "positional placeholders are not allowed; use :name"
    if isinstance(node, exp.Literal) and (problem := literal_problem(node)):
        return Code.NUMBER_OUT_OF_RANGE, problem
    if isinstance(node, exp.Cast) and (problem := cast_problem(node)):
        return Code.CONSTRUCT_NOT_ALLOWED, problem
    if isinstance(node, exp.In) and (problem := in_problem(node)):
        return Code.IN_NEEDS_A_LIST, problem
    if type(node) in functions or isinstance(node, _STRUCTURAL):
        return None
    if isinstance(node, exp.Dot):
        return Code.CONSTRUCT_NOT_ALLOWED, (
            f"'{shown}' is dataPi's list form; in this mapping form write function(column)"
        )
    if isinstance(node, exp.Func):
        name = function_name(node)
        known = sorted(set(functions.values()))
        message = f"function '{name}' is not allowed ({did_you_mean(name, known)}allowed: "
        return Code.FUNCTION_NOT_ALLOWED, f"{message}{', '.join(known)})"
    return (
        Code.CONSTRUCT_NOT_ALLOWED,
        f"'{shown}' ({type(node).__name__}) is not allowed",
    )


def _is_condition(tree: exp.Expression, parameters: dict[str, Parameter]) -> bool:
    """Whether the expression is boolean-valued at the top (so it can stand in WHERE)."""
    if isinstance(tree, exp.Paren):
        return _is_condition(tree.this, parameters)
    if isinstance(tree, exp.And | exp.Or):
        return _is_condition(tree.left, parameters) and _is_condition(tree.right, parameters)
    if isinstance(tree, exp.Not):
        return _is_condition(tree.this, parameters)
    if isinstance(tree, exp.Placeholder):
        # Whether its declared type fits is the parameter check's to say (DP0306), once.
        return True
    return isinstance(tree, (*PREDICATES, exp.Boolean, exp.Column))


def without_comments(tree: exp.Expression) -> exp.Expression:
    """A copy without SQL comments, so the compiled SQL holds only what it executes.

    (`:name` placeholders need no rewriting: sqlglot renders them as DuckDB's `$name`.)
    """
    tree = tree.copy()
    for node in tree.walk():
        node.comments = None
    return tree
