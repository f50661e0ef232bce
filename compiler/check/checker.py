"""Stage 4b (`--check` only): a lowered pod against its table's current schema in the catalog.

Lowering has already proved the spec well formed; this stage knows the table, so it reports
what only the table can tell: columns it does not have (DP0502) and expressions whose types
cannot meet (DP0503): sum over a string, a date compared with an integer, LIKE on a number.

The rule is DuckDB's own: what DuckDB refuses when binding the pod's SQL, or fails on while
converting a typical row, is reported here, so it never reaches a deployment (the unit tests
hold this stage to DuckDB case by case). One deliberate exception: a parameter must have the
type family of what it is compared with (a string parameter against a date column is reported,
though DuckDB would cast it), because its declared type is what the pod's API promises callers
and what the runtime validates requests against.

Pure: the schema comes in as a value (check/catalog.py loads it), nothing is printed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator

from pyiceberg.schema import Schema
from pyiceberg.types import BinaryType, FixedType, IntegerType, LongType
from sqlglot import exp

from ..diagnostics import Code, Diagnostic, Span, error
from ..spec.ir import Column, Filter, Pod, Projection
from ..sql.aggregates import OUTPUT, parse_aggregate, parse_having, with_outputs
from ..sql.expressions import AGGREGATE_FUNCTIONS, parse_filter, parse_output
from ..sql.nodes import ARITHMETIC, COMPARISONS, function_name, operands, snippet
from ..sql.types import PARAMETER_KINDS, TIME, Kind, cast_kind
from .kinds import (
    AGGREGATE_ARGUMENTS,
    AGGREGATE_INTERPOLATES,
    AGGREGATE_RESULTS,
    FUNCTION_ARGUMENTS,
    FUNCTION_RESULTS,
    SAME_KIND,
    Typed,
    arguments,
    compatible,
    kind_of,
    kinds_text,
)
from .locations import Locator

_MAX_LISTED_COLUMNS = 12


def check(pod: Pod, schema: Schema, source_text: str | None = None) -> list[Diagnostic]:
    """Every unknown column and type mismatch of the pod against its table's schema.

    With the spec's text, problems inside a one-line filter or aggregate point at the column or
    operand concerned rather than at the start of the expression.
    """
    checker = _Checker(pod, schema, source_text)
    return checker.run()


def result_kind(pod: Pod, schema: Schema, tree: exp.Expression) -> str | None:
    """The kind (`number`, `date`, ...) `--check` gives what an expression computes over the
    table; None when it cannot tell."""
    kind = _Checker(pod, schema, None).typed(tree).kind
    return kind.value if kind is not None else None


class _Checker:
    """Walks one pod's columns and expressions, collecting diagnostics."""

    def __init__(self, pod: Pod, schema: Schema, source_text: str | None) -> None:
        self.pod = pod
        self.table = (
            f"the answer of upstream pod '{pod.upstream.resource}'"
            if pod.upstream is not None
            else pod.source.qualified_name
        )
        self.columns = {field.name: field.field_type for field in schema.fields}
        self.parameters = {p.name: p for p in pod.parameters}
        self.where = Locator(source_text)
        self.diagnostics: list[Diagnostic] = []

    def run(self) -> list[Diagnostic]:
        query = self.pod.query
        named = query.columns if isinstance(query, Projection) else query.group_by
        outputs: dict[str, exp.Expression] = {}
        for column in named:
            outputs[column.name] = exp.column(column.name)
            if column.expression is None:
                self.check_named_column(column)
                continue
            checked, _ = parse_output(column.expression, column.name, column.span)
            if checked:
                self.check_expression(checked.tree, column.expression, column.span)
                outputs[column.name] = checked.tree
        if not isinstance(query, Projection):
            for aggregate in query.aggregates:
                checked, _ = parse_aggregate(aggregate.expression, aggregate.name, aggregate.span)
                if checked:
                    self.check_expression(checked.tree, aggregate.expression, aggregate.span)
                    outputs[aggregate.name] = checked.tree
            # Output names in having stand for what computes them (lowering does the same).
            self.check_conditions(query.having, parse_having, outputs)
        self.check_conditions(self.pod.filters, parse_filter)
        for key in self.pod.order_by:
            # Only `select: "*"` sorts by what lowering could not know: a column of the table.
            if key.column not in query.output_names and key.column not in self.columns:
                span = self.where.word_span(key.span, key.column)
                self.fail(Code.UNKNOWN_COLUMN, self.unknown_column(key.column), span)
        return self.diagnostics

    def check_conditions(
        self,
        conditions: tuple[Filter, ...],
        parse: Callable,
        outputs: dict[str, exp.Expression] | None = None,
    ) -> None:
        """Filters or having conditions: each must be true/false, each node well typed."""
        for condition in conditions:
            checked, _ = parse(condition.text, condition.span, self.parameters)
            if checked:
                tree = with_outputs(checked.tree, outputs) if outputs else checked.tree
                self.check_condition(tree, condition.text, condition.span)
                self.check_expression(tree, condition.text, condition.span)

    # --- columns ------------------------------------------------------------------------------

    def check_named_column(self, column: Column) -> None:
        if column.name not in self.columns:
            span = self.where.word_span(column.span, column.name)
            self.fail(Code.UNKNOWN_COLUMN, self.unknown_column(column.name), span)

    def unknown_column(self, name: str) -> str:
        names = list(self.columns)
        message = f"column '{name}' does not exist in {self.table}"
        same = [n for n in names if n.lower() == name.lower()]
        close = difflib.get_close_matches(name, names, n=1)
        if same:
            return f"{message} (did you mean '{same[0]}'? column names are case-sensitive)"
        if close:
            return f"{message} (did you mean '{close[0]}'?)"
        shown = ", ".join(names[:_MAX_LISTED_COLUMNS])
        more = (
            f", and {len(names) - _MAX_LISTED_COLUMNS} more"
            if len(names) > _MAX_LISTED_COLUMNS
            else ""
        )
        return f"{message} (its columns: {shown}{more})"

    # --- expressions --------------------------------------------------------------------------

    def check_expression(self, tree: exp.Expression, text: str, span: Span) -> None:
        """Unknown columns once each, then every node's type rule, outermost first."""
        reported: set[str] = set()
        # An output's name in having stands for its expression, checked where it is defined.
        nodes = list(tree.walk(prune=lambda node: OUTPUT in node.meta))
        outputs = {id(node) for node in nodes if OUTPUT in node.meta}
        nodes = [node for node in nodes if id(node) not in outputs]
        for column in (node for node in nodes if isinstance(node, exp.Column)):
            if column.name not in self.columns and column.name not in reported:
                reported.add(column.name)
                where = self.where.inner_span(span, text, column)
                self.fail(Code.UNKNOWN_COLUMN, self.unknown_column(column.name), where)
        for node in nodes:
            for problem in self.node_problems(node):
                self.fail(
                    Code.COLUMN_TYPE_MISMATCH, problem, self.where.inner_span(span, text, node)
                )
        for clause in (node for node in nodes if isinstance(node, exp.Filter)):
            self.check_condition(clause.expression.this, text, span)  # FILTER (WHERE ...)

    def check_condition(self, tree: exp.Expression, text: str, span: Span) -> None:
        """Each operand of the filter's AND/OR/NOT must be something DuckDB reads as true/false."""
        node = tree.unnest()
        if isinstance(node, exp.And | exp.Or):
            self.check_condition(node.left, text, span)
            self.check_condition(node.right, text, span)
            return
        if isinstance(node, exp.Not):
            self.check_condition(node.this, text, span)
            return
        typed = self.typed(node)
        if typed.reads_table and typed.kind not in (None, Kind.BOOLEAN, Kind.NUMBER):
            message = f"{typed.what} is used as a condition; compare it with something"
            self.fail(Code.COLUMN_TYPE_MISMATCH, message, self.where.inner_span(span, text, node))

    def node_problems(self, node: exp.Expression) -> Iterator[str]:
        for types, rule in _RULES:
            if isinstance(node, types):
                yield from rule(self, node)

    def comparison_problems(self, node: exp.Expression) -> Iterator[str]:
        sides = [self.typed(o) for o in operands(node)]
        subject, others = sides[0], sides[1:]
        if isinstance(node, COMPARISONS):
            pairs = [(subject, others[0])]
        else:  # IN and BETWEEN: the subject against each value
            pairs = [(subject, other) for other in others]
        for left, right in pairs:
            problem = self.mismatch(left, right, "is compared with")
            if problem:
                yield problem

    def same_kind_problems(self, node: exp.Expression) -> Iterator[str]:
        typed = [self.typed(a) for a in arguments(node)]
        name = function_name(node)
        for index, later in enumerate(typed[1:], start=1):
            for earlier in typed[:index]:
                problem = self.mismatch(earlier, later, f"meets in {name}()")
                if problem:
                    yield problem
                    return

    def like_problems(self, node: exp.Expression) -> Iterator[str]:
        operator = _OPERATORS.get(type(node)) or node.key.upper()
        for index, operand in enumerate((node.this, node.expression)):
            typed = self.typed(operand)
            if typed.parameter is not None and index == 1:
                continue  # a pattern parameter's type is judged without the table (DP0306)
            if typed.kind not in (None, Kind.STRING, Kind.OTHER):
                yield f"{operator} needs strings, but {typed.what} is not one"

    def function_problems(self, node: exp.Expression) -> Iterator[str]:
        name, argument, allowed = FUNCTION_ARGUMENTS[type(node)]
        typed = self.typed(node.args.get(argument))
        # Binary is otherwise not judged, but octet_length's ENCODE takes text only.
        binary = isinstance(node, exp.ByteLength) and isinstance(
            typed.column_type, BinaryType | FixedType
        )
        if binary or typed.kind not in (None, Kind.OTHER, *allowed):
            yield f"{name}() needs {kinds_text(allowed)}, but {typed.what} is not one"

    def aggregate_problems(self, node: exp.Expression) -> Iterator[str]:
        name, allowed = AGGREGATE_ARGUMENTS[type(node)]
        if isinstance(node.parent, exp.WithinGroup):  # as the user wrote it
            name = name.replace("quantile", "percentile")
        typed = self.typed(_aggregated(node))
        if typed.kind is not None and typed.kind not in allowed:
            yield f"{name}() needs {kinds_text(allowed)}, but {typed.what} is not one"

    def arithmetic_problems(self, node: exp.Expression) -> Iterator[str]:
        operands = [self.typed(o) for o in (node.this, node.args.get("expression")) if o]
        kinds = {o.kind for o in operands}
        symbol = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}
        operator = symbol.get(type(node), "-")
        for operand in operands:
            kind = operand.kind
            if kind is None or kind is Kind.OTHER:
                continue
            if isinstance(node, exp.Add | exp.Sub):
                wrong = kind in (Kind.STRING, Kind.BOOLEAN) or (
                    kind is Kind.TIMESTAMP and Kind.NUMBER in kinds
                )
            else:
                wrong = kind is not Kind.NUMBER
            if wrong:
                yield f"arithmetic '{operator}' cannot take {operand.what}"
                return

    def mismatch(self, left: Typed, right: Typed, verb: str) -> str | None:
        """Why two operands cannot meet, if they cannot and the table is involved."""
        if not (left.reads_table or right.reads_table) or compatible(left, right):
            return None
        message = f"{left.what} {verb} {right.what}"
        for one, other in ((left, right), (right, left)):
            if one.parameter is not None and other.kind not in (None, Kind.OTHER):
                wanted = self.type_for(other) + ("[]" if one.parameter.type.is_list else "")
                return f"{message}: declare ':{one.parameter.name}' as {wanted}"
        return message

    @staticmethod
    def type_for(typed: Typed) -> str:
        """The parameter type matching an operand: integer for integer columns."""
        if isinstance(typed.column_type, IntegerType | LongType):
            return "type: integer"
        # The judged kinds are named as the parameter types are (string, number, date, ...).
        return f"type: {typed.kind.value}"

    # --- typing -------------------------------------------------------------------------------

    def typed(self, node: exp.Expression | None) -> Typed:
        """What an expression is, as far as it can be told from the schema and the spec."""
        if node is None:
            return Typed(None, "nothing")
        node = node.unnest()
        reads = any(c.name in self.columns for c in node.find_all(exp.Column))
        if isinstance(node, exp.Column):
            iceberg_type = self.columns.get(node.name)
            if iceberg_type is None:
                return Typed(None, f"column '{node.name}'")
            return Typed(
                kind_of(iceberg_type),
                f"column '{node.name}' ({iceberg_type})",
                reads_table=True,
                column_type=iceberg_type,
            )
        if isinstance(node, exp.Placeholder):
            parameter = self.parameters.get(node.name)
            if parameter is None:
                return Typed(None, f"parameter ':{node.name}'")
            kind = PARAMETER_KINDS[parameter.type]
            return Typed(kind, f"parameter ':{node.name}' ({parameter.type.value})", parameter)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return Typed(Kind.STRING, f"string {snippet(node, 40)}", text=node.this)
            return Typed(Kind.NUMBER, f"number {snippet(node, 40)}")
        if isinstance(node, exp.Boolean):
            return Typed(Kind.BOOLEAN, f"boolean {snippet(node, 40)}")
        kind = self.kind_of_expression(node)
        label = kind.value if kind else "unknown type"
        if OUTPUT in node.meta:  # an output's name in having
            return Typed(kind, f"output '{node.meta[OUTPUT]}' ({label})", reads_table=reads)
        return Typed(kind, f"'{snippet(node, 40)}' ({label})", reads_table=reads)

    def kind_of_expression(self, node: exp.Expression) -> Kind | None:
        if isinstance(node, exp.Cast):
            return cast_kind(node.to)
        if isinstance(node, (*COMPARISONS, exp.In, exp.Between, exp.Like, exp.ILike, exp.Is)):
            return Kind.BOOLEAN
        if isinstance(node, exp.And | exp.Or | exp.Not | exp.StartsWith):
            return Kind.BOOLEAN
        if type(node) in FUNCTION_RESULTS:
            result = FUNCTION_RESULTS[type(node)]
            if result is Kind.TIMESTAMP and self.typed(node.this).kind is Kind.DATE:
                return Kind.DATE  # DuckDB's date_trunc keeps a date a date
            return result
        if isinstance(node, exp.Filter | exp.WithinGroup):
            return self.typed(node.this).kind
        if isinstance(node, tuple(AGGREGATE_FUNCTIONS)):
            return self.aggregate_kind(node)
        if isinstance(node, SAME_KIND):
            kinds = [self.typed(a).kind for a in arguments(node)]
            return next((k for k in kinds if k is not None), None)
        if isinstance(node, exp.Neg):
            return self.typed(node.this).kind
        if isinstance(node, ARITHMETIC):
            kinds = {self.typed(o).kind for o in (node.this, node.args.get("expression")) if o}
            if kinds & TIME:
                return Kind.NUMBER if kinds <= TIME and isinstance(node, exp.Sub) else None
            return Kind.NUMBER if kinds == {Kind.NUMBER} else None
        return None

    def aggregate_kind(self, node: exp.Expression) -> Kind | None:
        """What an aggregate gives: a fixed kind, or one following what it aggregates."""
        if type(node) in AGGREGATE_RESULTS:
            return AGGREGATE_RESULTS[type(node)]
        argument = self.typed(_aggregated(node)).kind
        if isinstance(node, AGGREGATE_INTERPOLATES) and argument in (Kind.NUMBER, *TIME):
            return Kind.NUMBER if argument is Kind.NUMBER else Kind.TIMESTAMP
        return argument

    def fail(self, code: Code, message: str, span: Span) -> None:
        self.diagnostics.append(error(code, message, span))


# How a message names the string matchers that are functions.
_OPERATORS = {exp.StartsWith: "starts_with", exp.RegexpLike: "regexp_matches"}

_RULES: tuple[tuple[tuple[type[exp.Expression], ...], Callable], ...] = (
    ((*COMPARISONS, exp.In, exp.Between), _Checker.comparison_problems),
    (SAME_KIND, _Checker.same_kind_problems),
    ((exp.Like, exp.ILike, exp.StartsWith, exp.RegexpLike), _Checker.like_problems),
    (tuple(t for t in FUNCTION_ARGUMENTS if t is not exp.StartsWith), _Checker.function_problems),
    (tuple(AGGREGATE_ARGUMENTS), _Checker.aggregate_problems),
    (ARITHMETIC, _Checker.arithmetic_problems),
)


def _aggregated(call: exp.Expression) -> exp.Expression | None:
    """What an aggregate call aggregates: its first argument, or what a percentile orders
    WITHIN GROUP (its own argument is then the fraction)."""
    if isinstance(call.parent, exp.WithinGroup):
        return call.parent.expression.expressions[0].this
    return call.this
