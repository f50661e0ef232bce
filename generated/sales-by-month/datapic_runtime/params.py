"""Request parameters: query-string pairs turned into typed values, or a 400 naming the culprit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .config import ParameterSpec
from .errors import PodError
from .values import EXAMPLES, from_text

_ECHO_LIMIT = 60


def parse_value(spec: ParameterSpec, text: str) -> Any:
    """One parameter's typed value from its query-string text."""
    try:
        return from_text(spec.type, text)
    except ValueError:
        shown = text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "…"
        raise PodError(
            400, f"parameter '{spec.name}' must be {EXAMPLES[spec.type]}, got {shown!r}"
        ) from None


def given_values(
    declared: Sequence[ParameterSpec], query: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """The request's parameter texts by name; unknown or repeated names are a 400."""
    known = {spec.name for spec in declared}
    given: dict[str, str] = {}
    for name, text in query:
        if name not in known:
            names = ", ".join(spec.name for spec in declared) or "none"
            raise PodError(400, f"unknown parameter '{name}' (this pod's parameters: {names})")
        if name in given:
            raise PodError(400, f"parameter '{name}' is given more than once")
        given[name] = text
    return given


def bind_parameters(
    declared: Sequence[ParameterSpec], query: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """Typed values for every declared parameter: given, else its default (None binds NULL)."""
    given = given_values(declared, query)
    values: dict[str, Any] = {}
    for spec in declared:
        if spec.name in given:
            values[spec.name] = parse_value(spec, given[spec.name])
        elif spec.required:
            raise PodError(400, f"missing required parameter '{spec.name}' ({spec.type})")
        else:
            values[spec.name] = spec.default
    return values
