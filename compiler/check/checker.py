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

Pure: the schema comes in as a value (compiler/catalog.py loads it), nothing is printed.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestampNanoType,
    TimestampType,
    TimestamptzNanoType,
    TimestamptzType,
)
from sqlglot import exp

from ..diagnostics import Code, Diagnostic, Span, error
from ..spec.ir import Column, Parameter, ParamType, Pod, Projection, Source
from ..sql.expressions import ARITHMETIC, COMPARISONS, DIALECT, parse_aggregate, parse_filter


class Kind(enum.Enum):
    """What a value is, as far as the checks care; OTHER (uuid, binary, nested…) is not judged."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    OTHER = "other"


TIME = frozenset({Kind.DATE, Kind.TIMESTAMP})

_ICEBERG_KINDS: tuple[tuple[tuple[type[IcebergType], ...], Kind], ...] = (
    ((StringType,), Kind.STRING),
    ((IntegerType, LongType, FloatType, DoubleType, DecimalType), Kind.NUMBER),
    ((BooleanType,), Kind.BOOLEAN),
    ((DateType,), Kind.DATE),
    ((TimestampType, TimestamptzType, TimestampNanoType, TimestamptzNanoType), Kind.TIMESTAMP),
)

_PARAMETER_KINDS = {
    ParamType.STRING: Kind.STRING,
    ParamType.INTEGER: Kind.NUMBER,
    ParamType.NUMBER: Kind.NUMBER,
    ParamType.BOOLEAN: Kind.BOOLEAN,
    ParamType.DATE: Kind.DATE,
    ParamType.TIMESTAMP: Kind.TIMESTAMP,
}

# What each aggregate accepts (DuckDB: sum takes booleans, avg takes dates; count, min, max
# and median take anything).
_AGGREGATE_ARGUMENTS: dict[type[exp.Expression], tuple[str, frozenset[Kind]]] = {
    exp.Sum: ("sum", frozenset({Kind.NUMBER, Kind.BOOLEAN})),
    exp.Avg: ("avg", frozenset({Kind.NUMBER, *TIME})),
    exp.Stddev: ("stddev", frozenset({Kind.NUMBER})),
    exp.Variance: ("variance", frozenset({Kind.NUMBER})),
}

# Scalar functions: the argument that must be of a kind, and the kinds it may be.
_FUNCTION_ARGUMENTS: dict[type[exp.Expression], tuple[str, str, frozenset[Kind]]] = {
    exp.Year: ("year", "this", TIME),
    exp.Quarter: ("quarter", "this", TIME),
    exp.Month: ("month", "this", TIME),
    exp.Day: ("day", "this", TIME),
    exp.Extract: ("extract", "expression", TIME),
    exp.DateTrunc: ("date_trunc", "this", TIME),
    exp.TimestampTrunc: ("date_trunc", "this", TIME),
    exp.Lower: ("lower", "this", frozenset({Kind.STRING})),
    exp.Upper: ("upper", "this", frozenset({Kind.STRING})),
    exp.Trim: ("trim", "this", frozenset({Kind.STRING})),
    exp.Length: ("length", "this", frozenset({Kind.STRING})),
    exp.Substring: ("substring", "this", frozenset({Kind.STRING})),
    exp.StartsWith: ("starts_with", "this", frozenset({Kind.STRING})),
    exp.Abs: ("abs", "this", frozenset({Kind.NUMBER})),
    exp.Ceil: ("ceil", "this", frozenset({Kind.NUMBER})),
    exp.Floor: ("floor", "this", frozenset({Kind.NUMBER})),
    exp.Round: ("round", "this", frozenset({Kind.NUMBER})),
}

# The kind of what a scalar function returns, where it does not depend on its arguments.
_FUNCTION_RESULTS: dict[type[exp.Expression], Kind] = {
    exp.Year: Kind.NUMBER,
    exp.Quarter: Kind.NUMBER,
    exp.Month: Kind.NUMBER,
    exp.Day: Kind.NUMBER,
    exp.Extract: Kind.NUMBER,
    exp.Length: Kind.NUMBER,
    exp.Abs: Kind.NUMBER,
    exp.Ceil: Kind.NUMBER,
    exp.Floor: Kind.NUMBER,
    exp.Round: Kind.NUMBER,
    exp.Lower: Kind.STRING,
    exp.Upper: Kind.STRING,
    exp.Trim: Kind.STRING,
    exp.Substring: Kind.STRING,
    exp.Concat: Kind.STRING,
    exp.DPipe: Kind.STRING,
    exp.CurrentDate: Kind.DATE,
    exp.CurrentTimestamp: Kind.TIMESTAMP,
    exp.TimestampTrunc: Kind.TIMESTAMP,
    exp.DateTrunc: Kind.TIMESTAMP,
}

# Functions whose arguments must be of one kind, as DuckDB combines them.
_SAME_KIND = (exp.Coalesce, exp.Greatest, exp.Least, exp.Nullif)

# The parameter type to declare for a value of each kind (integer columns say integer).
_TYPE_NAMES = {
    Kind.STRING: "string",
    Kind.NUMBER: "number",
    Kind.BOOLEAN: "boolean",
    Kind.DATE: "date",
    Kind.TIMESTAMP: "timestamp",
}

# Text DuckDB reads as a boolean.
_BOOLEAN_TEXT = {"true", "false", "t", "f", "yes", "no", "y", "n", "1", "0", "on", "off"}
_MAX_LISTED_COLUMNS = 12


@dataclass(frozen=True, slots=True)
class Typed:
    """An operand as the checks see it: its kind (None: unknown), how to name it in a message,
    whether it is a request parameter, its text if it is a string literal, and whether it
    reads a table column (only problems involving the table are this stage's to report)."""

    kind: Kind | None
    what: str
    parameter: Parameter | None = None
    text: str | None = None
    reads_table: bool = False
    column_type: IcebergType | None = None


def kind_of(iceberg_type: IcebergType) -> Kind:
    """The checks' kind of an Iceberg column type.

    >>> kind_of(DecimalType(10, 2)).value
    'number'
    """
    for types, kind in _ICEBERG_KINDS:
        if isinstance(iceberg_type, types):
            return kind
    return Kind.OTHER


def check(pod: Pod, schema: Schema, source_text: str | None = None) -> list[Diagnostic]:
    """Every unknown column and type mismatch of the pod against its table's schema.

    With the spec's text, problems inside a one-line filter or aggregate point at the column or
    operand concerned rather than at the start of the expression.
    """
    checker = _Checker(pod, schema, source_text)
    return checker.run()


class _Checker:
    """Walks one pod's columns and expressions, collecting diagnostics."""

    def __init__(self, pod: Pod, schema: Schema, source_text: str | None) -> None:
        self.pod = pod
        self.table = _table_name(pod.source)
        self.columns = {field.name: field.field_type for field in schema.fields}
        self.parameters = {p.name: p for p in pod.parameters}
        self.lines = source_text.splitlines() if source_text else []
        self.diagnostics: list[Diagnostic] = []

    def run(self) -> list[Diagnostic]:
        query = self.pod.query
        named = query.columns if isinstance(query, Projection) else query.group_by
        for column in named:
            self.check_named_column(column)
        if not isinstance(query, Projection):
            for aggregate in query.aggregates:
                checked, _ = parse_aggregate(aggregate.expression, aggregate.name, aggregate.span)
                if checked:
                    self.check_expression(checked.tree, aggregate.expression, aggregate.span)
        for condition in self.pod.filters:
            checked, _ = parse_filter(condition.text, condition.span, self.parameters)
            if checked:
                self.check_condition(checked.tree, condition.text, condition.span)
                self.check_expression(checked.tree, condition.text, condition.span)
        return self.diagnostics

    # --- columns ------------------------------------------------------------------------------

    def check_named_column(self, column: Column) -> None:
        if column.name not in self.columns:
            span = self.word_span(column.span, column.name)
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
        for column in tree.find_all(exp.Column):
            if column.name not in self.columns and column.name not in reported:
                reported.add(column.name)
                where = self.inner_span(span, text, column)
                self.fail(Code.UNKNOWN_COLUMN, self.unknown_column(column.name), where)
        for node in tree.walk():
            for problem in self.node_problems(node):
                self.fail(Code.COLUMN_TYPE_MISMATCH, problem, self.inner_span(span, text, node))

    def check_condition(self, tree: exp.Expression, text: str, span: Span) -> None:
        """Each operand of the filter's AND/OR/NOT must be something DuckDB reads as true/false."""
        node = _unparen(tree)
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
            self.fail(Code.COLUMN_TYPE_MISMATCH, message, self.inner_span(span, text, node))

    def node_problems(self, node: exp.Expression) -> Iterator[str]:
        for types, rule in _RULES:
            if isinstance(node, types):
                yield from rule(self, node)

    def comparison_problems(self, node: exp.Expression) -> Iterator[str]:
        operands = [self.typed(o) for o in _operands(node)]
        subject, others = operands[0], operands[1:]
        if isinstance(node, COMPARISONS):
            pairs = [(subject, others[0])]
        else:  # IN and BETWEEN: the subject against each value
            pairs = [(subject, other) for other in others]
        for left, right in pairs:
            problem = self.mismatch(left, right, "is compared with")
            if problem:
                yield problem

    def same_kind_problems(self, node: exp.Expression) -> Iterator[str]:
        arguments = [self.typed(a) for a in _arguments(node)]
        name = _function_name(node)
        for index, later in enumerate(arguments[1:], start=1):
            for earlier in arguments[:index]:
                problem = self.mismatch(earlier, later, f"meets in {name}()")
                if problem:
                    yield problem
                    return

    def like_problems(self, node: exp.Expression) -> Iterator[str]:
        operator = "starts_with" if isinstance(node, exp.StartsWith) else node.key.upper()
        for index, operand in enumerate((node.this, node.expression)):
            typed = self.typed(operand)
            if typed.parameter is not None and index == 1:
                continue  # a pattern parameter's type is judged without the table (DP0306)
            if typed.kind not in (None, Kind.STRING, Kind.OTHER):
                yield f"{operator} needs strings, but {typed.what} is not one"

    def function_problems(self, node: exp.Expression) -> Iterator[str]:
        name, argument, allowed = _FUNCTION_ARGUMENTS[type(node)]
        typed = self.typed(node.args.get(argument))
        if typed.kind is not None and typed.kind is not Kind.OTHER and typed.kind not in allowed:
            yield f"{name}() needs {_kinds(allowed)}, but {typed.what} is not one"

    def aggregate_problems(self, node: exp.Expression) -> Iterator[str]:
        name, allowed = _AGGREGATE_ARGUMENTS[type(node)]
        typed = self.typed(node.this)
        if typed.kind is not None and typed.kind not in allowed:
            yield f"{name}() needs {_kinds(allowed)}, but {typed.what} is not one"

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
        if not (left.reads_table or right.reads_table) or _compatible(left, right):
            return None
        message = f"{left.what} {verb} {right.what}"
        for one, other in ((left, right), (right, left)):
            if one.parameter is not None and other.kind not in (None, Kind.OTHER):
                return f"{message}: declare ':{one.parameter.name}' as {self.type_for(other)}"
        return message

    @staticmethod
    def type_for(typed: Typed) -> str:
        """The parameter type matching an operand: integer for integer columns."""
        if isinstance(typed.column_type, IntegerType | LongType):
            return "type: integer"
        return f"type: {_TYPE_NAMES[typed.kind]}"

    # --- typing -------------------------------------------------------------------------------

    def typed(self, node: exp.Expression | None) -> Typed:
        """What an expression is, as far as it can be told from the schema and the spec."""
        if node is None:
            return Typed(None, "nothing")
        node = _unparen(node)
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
            kind = _PARAMETER_KINDS[parameter.type]
            return Typed(kind, f"parameter ':{node.name}' ({parameter.type.value})", parameter)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return Typed(Kind.STRING, f"string {_sql(node)}", text=node.this)
            return Typed(Kind.NUMBER, f"number {_sql(node)}")
        if isinstance(node, exp.Boolean):
            return Typed(Kind.BOOLEAN, f"boolean {_sql(node)}")
        kind = self.kind_of_expression(node)
        label = kind.value if kind else "unknown type"
        return Typed(kind, f"'{_sql(node)}' ({label})", reads_table=reads)

    def kind_of_expression(self, node: exp.Expression) -> Kind | None:
        if isinstance(node, exp.Cast):
            return _cast_kind(node.to)
        if isinstance(node, (*COMPARISONS, exp.In, exp.Between, exp.Like, exp.ILike, exp.Is)):
            return Kind.BOOLEAN
        if isinstance(node, exp.And | exp.Or | exp.Not | exp.StartsWith):
            return Kind.BOOLEAN
        if type(node) in _FUNCTION_RESULTS:
            result = _FUNCTION_RESULTS[type(node)]
            if result is Kind.TIMESTAMP and self.typed(node.this).kind is Kind.DATE:
                return Kind.DATE  # DuckDB's date_trunc keeps a date a date
            return result
        if isinstance(node, _SAME_KIND):
            kinds = [self.typed(a).kind for a in _arguments(node)]
            return next((k for k in kinds if k is not None), None)
        if isinstance(node, exp.Neg):
            return self.typed(node.this).kind
        if isinstance(node, ARITHMETIC):
            kinds = {self.typed(o).kind for o in (node.this, node.args.get("expression")) if o}
            if kinds & TIME:
                return Kind.NUMBER if kinds <= TIME and isinstance(node, exp.Sub) else None
            return Kind.NUMBER if kinds == {Kind.NUMBER} else None
        return None

    # --- locations ----------------------------------------------------------------------------

    def inner_span(self, span: Span, text: str, node: exp.Expression) -> Span:
        """Where `node` stands inside a one-line expression written verbatim at `span`."""
        start = _start_offset(node)
        base = self.verbatim_column(span, text)
        if start is not None and base is not None:
            return Span(file=span.file, line=span.line, column=base + start)
        # Rewritten text (dataPi's `sales.sum()` is sum(sales)): the column's name on the line.
        column = next(node.find_all(exp.Column), None)
        return (
            self.word_span(span, column.name) if column is not None and "\n" not in text else span
        )

    def verbatim_column(self, span: Span, text: str) -> int | None:
        """The 1-based column where `text` starts on the span's line, if it stands there as is
        (plain or quoted scalar); None for multi-line or escaped text."""
        if "\n" in text or not 1 <= span.line <= len(self.lines):
            return None
        line, start = self.lines[span.line - 1], span.column - 1
        if line[start : start + len(text)] == text:
            return span.column
        if (
            line[start : start + 1] in ("'", '"')
            and line[start + 1 : start + 1 + len(text)] == text
        ):
            return span.column + 1
        return None

    def word_span(self, span: Span, name: str) -> Span:
        """A column name's own position on the span's line (dataPi's `select: a b c` gives all
        three one span)."""
        if not 1 <= span.line <= len(self.lines):
            return span
        line = self.lines[span.line - 1]
        match = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)").search(line, span.column - 1)
        if match is None:
            return span
        return Span(file=span.file, line=span.line, column=match.start() + 1)

    def fail(self, code: Code, message: str, span: Span) -> None:
        self.diagnostics.append(error(code, message, span))


_RULES: tuple[tuple[tuple[type[exp.Expression], ...], Callable], ...] = (
    ((*COMPARISONS, exp.In, exp.Between), _Checker.comparison_problems),
    (_SAME_KIND, _Checker.same_kind_problems),
    ((exp.Like, exp.ILike, exp.StartsWith), _Checker.like_problems),
    (tuple(t for t in _FUNCTION_ARGUMENTS if t is not exp.StartsWith), _Checker.function_problems),
    (tuple(_AGGREGATE_ARGUMENTS), _Checker.aggregate_problems),
    (ARITHMETIC, _Checker.arithmetic_problems),
)


def _compatible(left: Typed, right: Typed) -> bool:
    """Whether DuckDB compares the two without error, parameters held to their family."""
    if None in (left.kind, right.kind) or Kind.OTHER in (left.kind, right.kind):
        return True
    if left.parameter is not None or right.parameter is not None:
        return _family(left.kind) == _family(right.kind)
    if _family(left.kind) == _family(right.kind):
        return True
    for one, other in ((left, right), (right, left)):
        if one.text is not None:  # a string literal is cast to the other side's type
            return _text_fits(one.text, other.kind)
    return {left.kind, right.kind} == {Kind.NUMBER, Kind.BOOLEAN}


def _family(kind: Kind) -> str:
    return "time" if kind in TIME else kind.value


def _text_fits(text: str, kind: Kind) -> bool:
    """Whether DuckDB can cast this string literal to `kind`.

    >>> _text_fits("2024-01-01", Kind.DATE), _text_fits("20240101x", Kind.DATE)
    (True, False)
    """
    text = text.strip()
    try:
        if kind is Kind.NUMBER:
            float(text)
        elif kind in TIME:
            dt.datetime.fromisoformat(text)
        elif kind is Kind.BOOLEAN:
            return text.lower() in _BOOLEAN_TEXT
    except ValueError:
        return False
    return True


def _cast_kind(to: exp.DataType) -> Kind | None:
    this = to.this
    if this in exp.DataType.TEXT_TYPES:
        return Kind.STRING
    if this in exp.DataType.NUMERIC_TYPES:
        return Kind.NUMBER
    if this == exp.DataType.Type.BOOLEAN:
        return Kind.BOOLEAN
    if this == exp.DataType.Type.DATE:
        return Kind.DATE
    if this in exp.DataType.TEMPORAL_TYPES:
        return Kind.TIMESTAMP
    return None


def _kinds(allowed: frozenset[Kind]) -> str:
    order = [Kind.NUMBER, Kind.STRING, Kind.BOOLEAN, Kind.DATE, Kind.TIMESTAMP]
    names = [k.value for k in order if k in allowed]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _operands(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.In):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    return [node.left, node.right]


def _arguments(node: exp.Expression) -> list[exp.Expression]:
    found = [node.this, node.args.get("expression"), *node.expressions]
    return [a for a in found if a is not None]


def _function_name(node: exp.Expression) -> str:
    return node.sql_name().lower() if isinstance(node, exp.Func) else node.key


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _start_offset(node: exp.Expression) -> int | None:
    """0-based offset of the node's first token in the text sqlglot parsed, if it kept one."""
    starts = [
        n.meta["start"]
        for n in node.walk()
        if isinstance(n.meta, dict) and isinstance(n.meta.get("start"), int)
    ]
    return min(starts) if starts else None


def _sql(node: exp.Expression) -> str:
    text = node.sql(dialect=DIALECT)
    return text if len(text) <= 40 else text[:37] + "..."


def _table_name(source: Source) -> str:
    return ".".join((*source.namespace, source.table))
