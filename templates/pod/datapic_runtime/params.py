"""Request parameters: query-string text turned into typed values, or a 400 naming the culprit."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

from .config import ParameterSpec
from .errors import PodError

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))


_PARSERS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "integer": lambda text: int(text.strip()),
    "number": _number,
    "boolean": _boolean,
    "date": lambda text: dt.date.fromisoformat(text.strip()),
    "timestamp": _timestamp,
}

_EXAMPLES = {
    "integer": "a whole number such as 42",
    "number": "a number such as 12.5",
    "boolean": "true or false",
    "date": "a date such as 2024-01-31",
    "timestamp": "a timestamp such as 2024-01-31T12:00:00",
    "string": "text",
}


def parse_value(spec: ParameterSpec, text: str) -> Any:
    """One parameter's typed value from its query-string text."""
    try:
        return _PARSERS[spec.type](text)
    except (ValueError, OverflowError):
        raise PodError(
            400, f"parameter '{spec.name}' must be {_EXAMPLES[spec.type]}, got {text!r}"
        ) from None


def default_value(spec: ParameterSpec) -> Any:
    """A parameter's default as a typed value (JSON form in pod.json)."""
    if spec.default is None:
        return None
    if spec.type in ("date", "timestamp"):
        return parse_value(spec, spec.default)
    if spec.type == "number":
        return float(spec.default)
    return spec.default


def bind_parameters(
    declared: Sequence[ParameterSpec],
    query: Sequence[tuple[str, str]],
    reserved: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Typed values for every declared parameter, from the request's query-string pairs."""
    by_name = {spec.name: spec for spec in declared}
    given: dict[str, str] = {}
    for name, text in query:
        if name in reserved:
            continue
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise PodError(400, f"unknown parameter '{name}' (parameters: {known})")
        if name in given:
            raise PodError(400, f"parameter '{name}' is given more than once")
        given[name] = text
    values = {}
    for spec in declared:
        if spec.name in given:
            values[spec.name] = parse_value(spec, given[spec.name])
        elif spec.required:
            raise PodError(400, f"missing required parameter '{spec.name}' ({spec.type})")
        else:
            values[spec.name] = default_value(spec)
    return values
