"""Stage 4: lower the IR to the query a pod runs: DuckDB SQL over a relation named `source`,
with bound `$name` parameters, plus the Iceberg pushdown and the columns to read."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlglot
from sqlglot import exp
from sqlglot.tokens import Tokenizer

from ..diagnostics import Code, Diagnostic, error
from ..spec.ir import CompiledQuery, Pod, Projection
from .expressions import Checked, column_names, parse_aggregate, parse_filter
from .lists import lowered
from .nodes import DIALECT
from .pushdown import pushdown

SOURCE_RELATION = "source"
_KEYWORDS = {k.upper() for k in Tokenizer.KEYWORDS}
# What sqlglot parses current_date, today(), current_timestamp, current_time... into.
_CLOCK = (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime, exp.Localtimestamp)


@dataclasses.dataclass(frozen=True, slots=True)
class _Outputs:
    """The SELECT list and GROUP BY of a pod's query, and the columns they read."""

    outputs: tuple[exp.Expression, ...]
    aggregates: tuple[exp.Expression, ...]
    group_by: tuple[exp.Expression, ...]
    read: frozenset[str]


def lower(pod: Pod) -> tuple[CompiledQuery | None, list[Diagnostic]]:
    """The compiled query of a pod, or the SQL problems in its spec."""
    conditions, diagnostics = _conditions(pod)
    outputs, problems = _outputs(pod)
    diagnostics += problems
    # A filter that did not parse may be the one using a parameter: judge usage only when all did.
    if len(conditions) == len(pod.filters):
        diagnostics += _unused_parameters(pod, conditions)
    if diagnostics:
        return None, diagnostics
    trees = [c.tree for c in conditions]
    read = set(outputs.read).union(*(column_names(tree) for tree in trees))
    parameters = {p.name: p for p in pod.parameters}
    executed = [lowered(tree, parameters) for tree in trees]  # list parameters as DuckDB lists
    return (
        CompiledQuery(
            sql=_printed(_select(pod, outputs, executed)),
            columns=pod.query.output_names,
            read_columns=tuple(sorted(read)),
            pushdown=tuple(_normalised(p) for p in pushdown(trees)),
            reads_the_clock=any(t.find(*_CLOCK) for t in (*trees, *outputs.aggregates)),
        ),
        [],
    )


def _conditions(pod: Pod) -> tuple[list[Checked], list[Diagnostic]]:
    """The pod's filters, parsed and checked; those with problems are left out."""
    parameters = {p.name: p for p in pod.parameters}
    conditions, diagnostics = [], []
    for f in pod.filters:
        checked, problems = parse_filter(f.text, f.span, parameters)
        diagnostics += problems
        if checked:
            conditions.append(checked)
    return conditions, diagnostics


def _outputs(pod: Pod) -> tuple[_Outputs, list[Diagnostic]]:
    """The selected columns, or the grouping columns then the aggregates, as sqlglot trees."""
    if isinstance(pod.query, Projection):
        names = [c.name for c in pod.query.columns]
        outputs = _Outputs(
            outputs=tuple(_column(n) for n in names),
            aggregates=(),
            group_by=(),
            read=frozenset(names),
        )
        return outputs, []
    group_by = [_column(c.name) for c in pod.query.group_by]
    selected, trees, read = list(group_by), [], {c.name for c in pod.query.group_by}
    diagnostics = []
    for aggregate in pod.query.aggregates:
        checked, problems = parse_aggregate(aggregate.expression, aggregate.name, aggregate.span)
        diagnostics += problems
        if checked:
            trees.append(checked.tree)
            selected.append(exp.alias_(checked.tree, _identifier(aggregate.name)))
            read.update(column_names(checked.tree))
    outputs = _Outputs(
        outputs=tuple(selected),
        aggregates=tuple(trees),
        group_by=tuple(group_by),
        read=frozenset(read),
    )
    return outputs, diagnostics


def _unused_parameters(pod: Pod, conditions: list[Checked]) -> list[Diagnostic]:
    """A declared parameter no filter uses (the caller could never affect the answer)."""
    used = set().union(*(c.parameters for c in conditions))
    return [
        error(
            Code.UNUSED_PARAMETER,
            f"parameter '{parameter.name}' is declared but no filter uses it "
            f"(refer to it as :{parameter.name})",
            parameter.span,
        )
        for parameter in pod.parameters
        if parameter.name not in used
    ]


def _select(pod: Pod, outputs: _Outputs, conditions: list[exp.Expression]) -> exp.Select:
    """The SELECT over the `source` relation, in the clause order DuckDB reads."""
    select = exp.select(*outputs.outputs).from_(SOURCE_RELATION)
    if conditions:
        select = select.where(exp.and_(*conditions))
    if outputs.group_by:
        select = select.group_by(*outputs.group_by)
    if pod.order_by:
        select = select.order_by(
            *(exp.Ordered(this=_column(k.column), desc=k.descending) for k in pod.order_by)
        )
    if pod.limit is not None:
        select = select.limit(pod.limit)
    return select


def clock_safe_cache(pod: Pod, query: CompiledQuery) -> tuple[Pod, list[Diagnostic]]:
    """The pod with its result cache off when its answer depends on the clock.

    The cache is keyed by table snapshot and parameters, so `day = current_date` would keep
    serving yesterday's answer: such a pod does not cache by default, and a spec asking for
    the cache explicitly is refused.
    """
    if not (query.reads_the_clock and pod.result_cache):
        return pod, []
    if pod.result_cache_set_at is not None:
        return pod, [
            error(
                Code.NOT_SUPPORTED,
                "result_cache: true is not supported when a filter or aggregate reads the clock "
                "(current_date, current_timestamp): cached answers would go stale without a "
                "new snapshot; remove result_cache or set it to false",
                pod.result_cache_set_at,
            )
        ]
    return dataclasses.replace(pod, result_cache=False), []


def _printed(select: exp.Select) -> str:
    """Pretty DuckDB SQL that re-parses to itself. sqlglot rewrites some constructs while
    printing (BETWEEN SYMMETRIC becomes two BETWEENs), and only a second pass prints the
    rewritten tree the way a reader of the file would get it back."""
    sql = select.sql(dialect=DIALECT, pretty=True)
    try:
        return sqlglot.parse_one(sql, read=DIALECT).sql(dialect=DIALECT, pretty=True)
    except sqlglot.errors.SqlglotError:
        # sqlglot's tokenizer misreads some valid DuckDB it printed itself: `$q AND s = ''`
        # looks like the start of a $q$-quoted string. The first print is already correct.
        return sql


def _identifier(name: str) -> exp.Identifier:
    """An identifier, quoted only where DuckDB needs it (keywords, upper case, odd characters)."""
    plain = name.isidentifier() and name == name.lower() and name.upper() not in _KEYWORDS
    return exp.to_identifier(name, quoted=not plain)


def _column(name: str) -> exp.Column:
    return exp.Column(this=_identifier(name))


def _normalised(predicate: dict) -> dict:
    """Timestamp literals in ISO 8601 form, which is what Iceberg literal binding accepts."""
    if "args" in predicate:
        return {**predicate, "args": [_normalised(a) for a in predicate["args"]]}
    if "arg" in predicate:
        return {**predicate, "arg": _normalised(predicate["arg"])}
    if "value" in predicate:
        return {**predicate, "value": _normalised_value(predicate["value"])}
    if "values" in predicate:
        return {**predicate, "values": [_normalised_value(v) for v in predicate["values"]]}
    return predicate


def _normalised_value(value: dict) -> dict:
    if value.get("type") != "timestamp":
        return value
    try:
        return {**value, "literal": dt.datetime.fromisoformat(value["literal"]).isoformat()}
    except ValueError:
        return value
