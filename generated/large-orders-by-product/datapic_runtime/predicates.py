"""pod.json's pushdown predicates as typed, immutable values, checked once at start-up."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .values import TYPES, from_json

COMPARISON_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "starts_with")
MEMBERSHIP_OPS = ("in", "not_in")
NULL_OPS = ("is_null", "not_null")
JUNCTION_OPS = ("and", "or")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterRef:
    """A request parameter, bound to its value at request time."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal:
    """A constant written into the pod by the compiler, already typed."""

    value: Any
    type: str


Value = Literal | ParameterRef


@dataclass(frozen=True, slots=True, kw_only=True)
class _OnColumn:
    """A test of one column's values (what Comparison, Membership and NullCheck share)."""

    op: str
    column: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison(_OnColumn):
    """`column <op> value`, op one of COMPARISON_OPS."""

    value: Value


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership(_OnColumn):
    """`column [NOT] IN (values…)`."""

    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class NullCheck(_OnColumn):
    """`column IS [NOT] NULL`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Junction:
    """`args[0] AND/OR args[1] …`."""

    op: str
    args: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Negation:
    """`NOT arg`."""

    arg: Predicate


Predicate = Comparison | Membership | NullCheck | Junction | Negation


def parse_predicate(node: Any, parameters: Collection[str], where: str) -> Predicate:
    """The typed predicate of one pushdown JSON node; ConfigError (naming `where`) if malformed."""
    try:
        return _predicate(node, parameters, where)
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: malformed predicate ({type(exc).__name__}: {exc})") from None


def _predicate(node: dict, parameters: Collection[str], where: str) -> Predicate:
    op = node["op"]
    if op in COMPARISON_OPS:
        value = _value(node["value"], parameters, f"{where}.value")
        return Comparison(op=op, column=_column(node), value=value)
    if op in MEMBERSHIP_OPS:
        values = tuple(
            _value(v, parameters, f"{where}.values[{i}]") for i, v in enumerate(node["values"])
        )
        if not values:
            raise ConfigError(f"{where}: '{op}' needs at least one value")
        return Membership(op=op, column=_column(node), values=values)
    if op in NULL_OPS:
        return NullCheck(op=op, column=_column(node))
    if op in JUNCTION_OPS:
        args = tuple(
            _predicate(arg, parameters, f"{where}.args[{i}]") for i, arg in enumerate(node["args"])
        )
        if len(args) < 2:
            raise ConfigError(f"{where}: '{op}' needs at least two arguments")
        return Junction(op=op, args=args)
    if op == "not":
        return Negation(arg=_predicate(node["arg"], parameters, f"{where}.arg"))
    raise ConfigError(f"{where}: unknown predicate op {op!r}")


def _column(node: dict) -> str:
    column = node["column"]
    if not isinstance(column, str) or not column:
        raise ValueError(f"column must be a name, got {column!r}")
    return column


def _value(node: dict, parameters: Collection[str], where: str) -> Value:
    if "parameter" in node:
        if node["parameter"] not in parameters:
            raise ConfigError(f"{where}: undeclared parameter {node['parameter']!r}")
        return ParameterRef(name=node["parameter"])
    type_name, raw = node["type"], node["literal"]
    if type_name not in TYPES:
        raise ConfigError(f"{where}: unknown type {type_name!r}")
    if type_name == "number" and isinstance(raw, int) and not isinstance(raw, bool):
        # A whole number stays an int: as a float it could lose digits and push a wrong bound.
        return Literal(value=raw, type=type_name)
    try:
        return Literal(value=from_json(type_name, raw), type=type_name)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
