"""Request parameters inside a filter: each declared, and each used as its declared type allows.

Judged without the table: only what a literal, a cast or a typed function shows is compared
with the parameter's declared family (`--check` compares it with columns too).
"""

from __future__ import annotations

from sqlglot import exp

from ..diagnostics import Code, Diagnostic, Span, did_you_mean, error
from ..spec.ir import Parameter
from .lists import list_problem
from .nodes import ARITHMETIC, COMPARISONS, at_node, operands, snippet
from .types import Kind, cast_kind, family, parameter_family


def placeholders(tree: exp.Expression) -> frozenset[str]:
    """The names of the `:name` parameters an expression uses."""
    return frozenset(p.name for p in tree.find_all(exp.Placeholder) if p.this)


def check_parameters(
    tree: exp.Expression, span: Span, parameters: dict[str, Parameter | None]
) -> list[Diagnostic]:
    """Every undeclared parameter, and every use contradicting its declared type (DP0306).

    A name mapped to None is declared, but with errors reported already: its uses are not judged.
    """
    problems = []
    first = {}
    for placeholder in tree.find_all(exp.Placeholder):
        first.setdefault(placeholder.name, placeholder)
    for name in sorted(placeholders(tree)):
        if name not in parameters:
            declared = ", ".join(sorted(parameters)) or "none"
            hint = did_you_mean(f":{name}", (f":{known}" for known in parameters))
            problems.append(
                error(
                    Code.UNDECLARED_PARAMETER,
                    f"parameter ':{name}' is not declared under parameters "
                    f"({hint}declared: {declared})",
                    at_node(span, first[name]),
                )
            )
    for placeholder in tree.find_all(exp.Placeholder):
        declared = parameters.get(placeholder.name)
        if declared is None:
            continue
        misplaced = list_problem(placeholder, declared, at_node(span, placeholder))
        if misplaced:
            problems.append(misplaced)
            continue
        mismatch = _usage_mismatch(placeholder, declared, parameters)
        if mismatch:
            problems.append(
                error(
                    Code.PARAMETER_TYPE_MISMATCH,
                    f"parameter ':{declared.name}' is declared {declared.type.value} "
                    f"but {mismatch}",
                    at_node(span, placeholder),
                )
            )
    return problems


def _usage_mismatch(
    placeholder: exp.Placeholder, declared: Parameter, parameters: dict[str, Parameter]
) -> str | None:
    """Why this use of a parameter contradicts its declared type, if it does."""
    parent = placeholder.parent
    while isinstance(parent, exp.Paren):
        parent = parent.parent
    family = parameter_family(declared.type)
    if (parent is None or isinstance(parent, exp.And | exp.Or | exp.Not)) and family != "boolean":
        return "is used as a condition"
    if isinstance(parent, exp.Like | exp.ILike) and family != "string":
        return "is used with LIKE, which needs a string"
    if isinstance(parent, exp.RegexpLike | exp.ByteLength) and family != "string":
        name = "regexp_matches" if isinstance(parent, exp.RegexpLike) else "octet_length"
        return f"is used with {name}, which needs a string"
    if isinstance(parent, ARITHMETIC) and family not in ("number", "time"):
        return "is used in arithmetic"
    if isinstance(parent, (*COMPARISONS, exp.In, exp.Between)):
        sides = [o.unnest() for o in operands(parent)]
        mine = next((i for i, o in enumerate(sides) if o is placeholder), -1)
        for index, other in enumerate(sides):
            other_family = _literal_family(other, parameters)
            if index == mine or not other_family or other_family == family:
                continue
            if isinstance(other, exp.Placeholder):
                # Two parameters that disagree: report it once, at the later one.
                if index < mine:
                    other_type = parameters[other.name].type.value
                    return f"is compared with parameter ':{other.name}' ({other_type})"
                continue
            return f"is compared with {other_family} {snippet(other, 60)}"
    return None


def _literal_family(node: exp.Expression, parameters: dict[str, Parameter]) -> str | None:
    """The type family of a literal-ish operand, when it can be told without the table."""
    node = node.unnest()
    if isinstance(node, exp.Placeholder) and parameters.get(node.name) is not None:
        return parameter_family(parameters[node.name].type)
    if isinstance(node, exp.Literal):
        return "string" if node.is_string else "number"
    if isinstance(node, exp.Boolean):
        return "boolean"
    if isinstance(node, exp.Cast):
        kind = cast_kind(node.to)
        # A cast to boolean is left to `--check`, which knows what is cast.
        return family(kind) if kind not in (None, Kind.BOOLEAN) else None
    if isinstance(node, exp.Lower | exp.Upper | exp.Trim | exp.Substring | exp.Concat):
        return "string"
    if isinstance(node, exp.Length | exp.Year | exp.Month | exp.Day | exp.Quarter | exp.Hour):
        return "number"
    if isinstance(node, exp.Minute | exp.DayOfWeek | exp.ByteLength):
        return "number"
    if isinstance(node, exp.TimeToStr):
        return "string"
    if isinstance(node, exp.CurrentDate | exp.CurrentTimestamp):
        return "time"
    return None
