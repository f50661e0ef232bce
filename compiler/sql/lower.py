"""Stage 4: lower the IR to the query a pod runs: DuckDB SQL over a relation named `source`,
with bound `$name` parameters, plus the Iceberg pushdown and the columns to read."""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlglot
from sqlglot import exp
from sqlglot.tokens import Tokenizer

from ..diagnostics import Code, Diagnostic, error, has_errors, warning
from ..spec.ir import Column, CompiledQuery, Parameter, Pod, Projection, Reduction
from .aggregates import output_references, parse_aggregate, parse_having, with_outputs
from .expressions import Checked, column_names, parse_filter, parse_output
from .lists import lowered
from .nodes import DIALECT
from .pushdown import pushdown

SOURCE_RELATION = "source"
_KEYWORDS = {k.upper() for k in Tokenizer.KEYWORDS}
# What sqlglot parses current_date, today(), current_timestamp, current_time... into.
_CLOCK = (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime, exp.Localtimestamp)


@dataclasses.dataclass(frozen=True, slots=True)
class _Outputs:
    """The SELECT list, GROUP BY and HAVING of a pod's query, the columns they read, and every
    expression they compute (whether one reads the clock matters to the result cache)."""

    outputs: tuple[exp.Expression, ...]
    group_by: tuple[exp.Expression, ...] = ()
    having: tuple[Checked, ...] = ()
    read: frozenset[str] = frozenset()
    computed: tuple[exp.Expression, ...] = ()


def lower(pod: Pod) -> tuple[CompiledQuery | None, list[Diagnostic]]:
    """The compiled query of a pod, or the SQL problems in its spec."""
    conditions, diagnostics = _conditions(pod)
    outputs, problems = _outputs(pod)
    diagnostics += problems
    # A condition that did not parse may be the one using a parameter: judge usage only when
    # all did.
    having = pod.query.having if isinstance(pod.query, Reduction) else ()
    if len(conditions) == len(pod.filters) and len(outputs.having) == len(having):
        diagnostics += _unused_parameters(pod, [*conditions, *outputs.having])
    every = isinstance(pod.query, Projection) and pod.query.all_columns
    if has_errors(diagnostics) or not (pod.query.output_names or every):
        # (A pod without outputs comes from a spec whose select or aggregate was refused.)
        return None, diagnostics
    trees = [c.tree for c in conditions]
    read = set(outputs.read).union(*(column_names(tree) for tree in trees))
    parameters = {p.name: p for p in pod.parameters}
    # List parameters as DuckDB lists, in the filters and in HAVING alike.
    executed = [lowered(tree, parameters) for tree in trees]
    having_executed = [lowered(c.tree, parameters) for c in outputs.having]
    every_column = isinstance(pod.query, Projection) and pod.query.all_columns
    return (
        CompiledQuery(
            sql=_printed(_select(pod, outputs, executed, having_executed)),
            columns=pod.query.output_names,
            read_columns=() if every_column else tuple(sorted(read)),
            pushdown=tuple(_normalised(p) for p in pushdown(trees)),
            all_columns=every_column,
            reads_the_clock=any(t.find(*_CLOCK) for t in (*trees, *outputs.computed)),
        ),
        diagnostics,
    )


def _conditions(pod: Pod) -> tuple[list[Checked], list[Diagnostic]]:
    """The pod's filters, parsed and checked; those with problems are left out."""
    parameters = _declared(pod)
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
        if pod.query.all_columns:
            return _Outputs(outputs=(exp.Star(),)), []
        named, diagnostics = _named_outputs(pod.query.columns)
        outputs = _Outputs(
            outputs=named.selected, read=frozenset(named.read), computed=named.computed
        )
        return outputs, diagnostics
    named, diagnostics = _named_outputs(pod.query.group_by)
    selected, computed, read = list(named.selected), list(named.computed), set(named.read)
    by_name = dict(named.by_name)
    for aggregate in pod.query.aggregates:
        checked, problems = parse_aggregate(aggregate.expression, aggregate.name, aggregate.span)
        diagnostics += problems
        if checked:
            computed.append(checked.tree)
            selected.append(exp.alias_(checked.tree, _identifier(aggregate.name)))
            read.update(column_names(checked.tree))
            by_name[aggregate.name] = checked.tree
    having, problems = _having(pod, by_name)
    diagnostics += problems
    for condition in having:
        computed.append(condition.tree)
        read.update(column_names(condition.tree))
    outputs = _Outputs(
        outputs=tuple(selected),
        group_by=tuple(named.by_name.values()),
        having=tuple(having),
        read=frozenset(read),
        computed=tuple(computed),
    )
    return outputs, diagnostics


@dataclasses.dataclass(frozen=True, slots=True)
class _Named:
    """Outputs of select or group_by: the SELECT items, each output's expression by name, the
    columns they read and the expressions they compute."""

    selected: tuple[exp.Expression, ...]
    by_name: dict[str, exp.Expression]
    read: frozenset[str]
    computed: tuple[exp.Expression, ...]


def _named_outputs(columns: tuple[Column, ...]) -> tuple[_Named, list[Diagnostic]]:
    """Table columns as themselves, computed ones (`name: expression`) aliased to their name."""
    selected, by_name, read, computed, diagnostics = [], {}, set(), [], []
    for column in columns:
        if column.expression is None:
            selected.append(_column(column.name))
            by_name[column.name] = _column(column.name)
            read.add(column.name)
            continue
        checked, problems = parse_output(column.expression, column.name, column.span)
        diagnostics += problems
        if checked:
            selected.append(exp.alias_(checked.tree, _identifier(column.name)))
            by_name[column.name] = checked.tree.copy()
            read.update(column_names(checked.tree))
            computed.append(checked.tree)
    named = _Named(
        selected=tuple(selected), by_name=by_name, read=frozenset(read), computed=tuple(computed)
    )
    return named, diagnostics


def _having(pod: Pod, by_name: dict[str, exp.Expression]) -> tuple[list[Checked], list[Diagnostic]]:
    """The having conditions, parsed, with the output names they use replaced by what computes
    those outputs (an output may share a table column's name, and SQL would read the column)."""
    parameters = _declared(pod)
    conditions, diagnostics = [], []
    for condition in pod.query.having:
        checked, problems = parse_having(condition.text, condition.span, parameters)
        if checked:
            unknown = sorted({c.name for c in output_references(checked.tree)} - set(by_name))
            problems += [
                error(
                    Code.UNKNOWN_OUTPUT_COLUMN,
                    f"having: '{name}' is not an output column; name a grouping column or an "
                    f"aggregate's output, or aggregate it as in sum({name}) "
                    f"(outputs: {', '.join(by_name)})",
                    condition.span,
                )
                for name in unknown
            ]
        diagnostics += problems
        if checked and not problems:
            tree = with_outputs(checked.tree, by_name)
            conditions.append(Checked(tree=tree, parameters=checked.parameters))
    return conditions, diagnostics


def _declared(pod: Pod) -> dict[str, Parameter | None]:
    """The declared parameters by name; one declared with errors (reported already) maps to
    None: known, but its uses are not judged (see check_parameters)."""
    return {**dict.fromkeys(pod.unchecked_parameters), **{p.name: p for p in pod.parameters}}


def _unused_parameters(pod: Pod, conditions: list[Checked]) -> list[Diagnostic]:
    """A declared parameter no filter or having condition uses: a warning, since the pod still
    answers correctly, but the caller could never affect the answer with it."""
    if pod.upstream is not None and not pod.upstream.env:
        return []  # an upstream not resolved (reported): which parameters it takes is unknown
    used = set().union(*(c.parameters for c in conditions))
    # A parameter passed through to the pod this one reads affects the answer there.
    used |= set(pod.upstream.parameters if pod.upstream is not None else ())
    return [
        warning(
            Code.UNUSED_PARAMETER,
            f"parameter '{parameter.name}' is declared but no filter uses it "
            f"(refer to it as :{parameter.name})",
            parameter.span,
        )
        for parameter in pod.parameters
        if parameter.name not in used
    ]


def _select(
    pod: Pod,
    outputs: _Outputs,
    conditions: list[exp.Expression],
    having: list[exp.Expression],
) -> exp.Select:
    """The SELECT over the `source` relation, in the clause order DuckDB reads."""
    select = exp.select(*outputs.outputs).from_(SOURCE_RELATION)
    if conditions:
        select = select.where(exp.and_(*conditions))
    if outputs.group_by:
        select = select.group_by(*outputs.group_by)
    if having:
        select = select.having(exp.and_(*having))
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
    sql = _duckdb_forms(select).sql(dialect=DIALECT, pretty=True)
    try:
        return sqlglot.parse_one(sql, read=DIALECT).sql(dialect=DIALECT, pretty=True)
    except sqlglot.errors.SqlglotError:
        # sqlglot's tokenizer misreads some valid DuckDB it printed itself: `$q AND s = ''`
        # looks like the start of a $q$-quoted string. The first print is already correct.
        return sql


def _duckdb_forms(select: exp.Select) -> exp.Select:
    """The query with functions DuckDB spells differently: octet_length counts a string's
    bytes once the string is encoded (DuckDB's octet_length takes a BLOB)."""
    return select.transform(
        lambda node: (
            exp.ByteLength(this=exp.Encode(this=node.this.copy()))
            if isinstance(node, exp.ByteLength) and not isinstance(node.this, exp.Encode)
            else node
        )
    )


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
