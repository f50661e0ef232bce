"""Aggregates and `having`: the aggregate calls a reduction may make, checked one by one, and
the conditions on groups, whose output names stand for what computes them.

Parsing and the allow-list are expressions.py's; this module adds what only aggregates have:
one call per output (with FILTER, or a percentile WITHIN GROUP), no nesting, fractions
from 0 to 1.
"""

from __future__ import annotations

from sqlglot import exp

from ..diagnostics import Code, Diagnostic, Span, error
from ..spec.ir import Parameter
from .expressions import (
    AGGREGATE_FUNCTIONS,
    PERCENTILES,
    Checked,
    aggregate_call,
    disallowed,
    parse_condition,
    parse_one,
    without_comments,
)
from .nodes import at_node


def parse_having(
    text: str, span: Span, parameters: dict[str, Parameter]
) -> tuple[Checked | None, list[Diagnostic]]:
    """Parse one `having` condition: like a filter, but it may call aggregates (lowering
    resolves the output names it uses)."""
    checked, problems = parse_condition(text, span, parameters, "having", aggregates=True)
    if checked is not None:
        problems = _nested_aggregates(checked.tree, None, f"having '{text.strip()}'", span)
    return (None if problems else checked), problems


def parse_aggregate(text: str, name: str, span: Span) -> tuple[Checked | None, list[Diagnostic]]:
    """Parse one aggregate: an allow-listed aggregate over a scalar expression of columns,
    optionally with FILTER (WHERE ...), or a percentile WITHIN GROUP (ORDER BY ...)."""
    tree, problems = parse_one(text, span, f"aggregate '{name}'")
    if tree is None:
        return None, problems
    problems = list(disallowed(tree, span, text, allow_aggregates=True))
    call = aggregate_call(tree)
    if not problems and call is None:
        problems.append(
            error(
                Code.NOT_AN_AGGREGATE,
                f"aggregate '{name}' must be one aggregate call "
                f"({', '.join(sorted(set(AGGREGATE_FUNCTIONS.values())))}), got '{text.strip()}'",
                span,
            )
        )
    if not problems:
        problems += _nested_aggregates(tree, call, f"aggregate '{name}'", span)
    if not problems:
        problems += _percentile_problems(tree, call, name, span)
    parameter = next((p for p in tree.find_all(exp.Placeholder) if p.this), None)
    if not problems and parameter:
        problems.append(
            error(
                Code.CONSTRUCT_NOT_ALLOWED,
                f"aggregate '{name}' uses a parameter; parameters belong in filters and having",
                at_node(span, parameter),
            )
        )
    if problems:
        return None, problems
    return Checked(tree=without_comments(tree), parameters=frozenset()), []


def _nested_aggregates(
    tree: exp.Expression, call: exp.Expression | None, what: str, span: Span
) -> list[Diagnostic]:
    """An aggregate inside another aggregate's arguments or FILTER, which SQL refuses."""
    for node in tree.find_all(*AGGREGATE_FUNCTIONS):
        # Inside another's arguments, its FILTER (WHERE ...) or its WITHIN GROUP (ORDER BY ...).
        inside = node.find_ancestor(*AGGREGATE_FUNCTIONS, exp.Where, exp.Order) is not None
        if inside or (call is not None and node is not call):
            return [error(Code.NOT_AN_AGGREGATE, f"{what} nests aggregates", at_node(span, node))]
    return []


def _percentile_problems(
    tree: exp.Expression, call: exp.Expression, name: str, span: Span
) -> list[Diagnostic]:
    """A percentile's fraction must be a number from 0 to 1, and the standard's form must say
    WITHIN GROUP what it orders (DuckDB's quantile_cont(x, f) says it in its arguments)."""
    if not isinstance(call, PERCENTILES):
        return []
    within = isinstance(call.parent, exp.WithinGroup)
    fraction = call.this if within else call.args.get("expression")
    if not within and call.args.get("expression") is None and _is_fraction(call.this):
        return [
            error(
                Code.BAD_AGGREGATE_ARGUMENT,
                f"aggregate '{name}': {_percentile_name(call, 'percentile')}(fraction) needs "
                "WITHIN GROUP (ORDER BY column)",
                span,
            )
        ]
    if within and len(tree.find(exp.Order).expressions) != 1:
        return [
            error(
                Code.BAD_AGGREGATE_ARGUMENT,
                f"aggregate '{name}': WITHIN GROUP orders by exactly one expression",
                span,
            )
        ]
    if not _is_fraction(fraction):
        spelt = _percentile_name(call, "percentile" if within else "quantile")
        return [
            error(
                Code.BAD_AGGREGATE_ARGUMENT,
                f"aggregate '{name}': the fraction of {spelt} must be a number from 0 to 1 "
                "(0.5 is the median)",
                span,
            )
        ]
    return []


def _percentile_name(call: exp.Expression, prefix: str) -> str:
    """percentile_cont or quantile_disc…: the two spellings sqlglot parses into one node."""
    return f"{prefix}_{'cont' if isinstance(call, exp.PercentileCont) else 'disc'}"


def _is_fraction(node: exp.Expression | None) -> bool:
    """Whether a node is a number literal from 0 to 1."""
    if not isinstance(node, exp.Literal) or node.is_string:
        return False
    try:
        return 0 <= float(node.this) <= 1
    except ValueError:
        return False


def output_references(tree: exp.Expression) -> list[exp.Column]:
    """The columns of a having condition outside any aggregate call: names of outputs."""
    return [c for c in tree.find_all(exp.Column) if _outside_aggregate(c)]


def _outside_aggregate(column: exp.Expression) -> bool:
    return column.find_ancestor(*AGGREGATE_FUNCTIONS, exp.Filter, exp.WithinGroup) is None


# Meta key on what an output's name was replaced by in a having condition: the output's name.
OUTPUT = "datapic_output"


def with_outputs(tree: exp.Expression, by_name: dict[str, exp.Expression]) -> exp.Expression:
    """A having condition with the output names it uses replaced by what computes them (an
    output may share a table column's name, which SQL would read instead). The copies forget
    where they stood in their own text."""

    def replaced(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Column) and node.name in by_name and _outside_aggregate(node)):
            return node
        copy = by_name[node.name].copy()
        for inner in copy.walk():
            if isinstance(inner.meta, dict):
                inner.meta.pop("start", None)
        copy.meta[OUTPUT] = node.name  # the name it stands for, for messages
        return copy

    return tree.copy().transform(replaced)
