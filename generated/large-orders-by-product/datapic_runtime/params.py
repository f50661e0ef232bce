"""Request parameters: query-string pairs turned into typed values, or a 400 naming the culprit.

A list parameter (`string[]`, ...) is given once per value (`?r=a&r=b`); the comma form
(`?r=a,b`) has already been split into such pairs by querystring.py, where `%2C` stays a comma
inside a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .config import ParameterSpec
from .errors import PodError
from .values import EXAMPLES, MAX_LIST_VALUES, from_text

_ECHO_LIMIT = 60


def parse_value(spec: ParameterSpec, text: str) -> Any:
    """One parameter's typed value (one value of a list parameter) from its query-string text."""
    try:
        return from_text(spec.element or spec.type, text)
    except ValueError:
        shown = text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "…"
        verb = "takes" if spec.element else "must be"
        raise PodError(
            400, f"parameter '{spec.name}' {verb} {EXAMPLES[spec.type]}, got {shown!r}"
        ) from None


def given_values(
    declared: Sequence[ParameterSpec], query: Iterable[tuple[str, str]]
) -> dict[str, list[str]]:
    """The request's parameter texts by name, several for a list parameter; unknown names and
    a repeated scalar parameter are a 400."""
    specs = {spec.name: spec for spec in declared}
    given: dict[str, list[str]] = {}
    for name, text in query:
        spec = specs.get(name)
        if spec is None:
            names = ", ".join(specs) or "none"
            raise PodError(400, f"unknown parameter '{name}' (this pod's parameters: {names})")
        texts = given.setdefault(name, [])
        if texts and not spec.element:
            raise PodError(400, f"parameter '{name}' is given more than once")
        if len(texts) == MAX_LIST_VALUES:
            raise PodError(
                400, f"parameter '{name}' takes at most {MAX_LIST_VALUES} values, got more"
            )
        texts.append(text)
    return given


def bind_parameters(
    declared: Sequence[ParameterSpec], query: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """Typed values for every declared parameter: given, else its default (None binds NULL).
    A list parameter's value is a tuple."""
    given = given_values(declared, query)
    values: dict[str, Any] = {}
    for spec in declared:
        if spec.name in given:
            typed = [parse_value(spec, text) for text in given[spec.name]]
            values[spec.name] = tuple(typed) if spec.element else typed[0]
        elif spec.required:
            raise PodError(400, f"missing required parameter '{spec.name}' ({spec.type})")
        else:
            values[spec.name] = spec.default
    return values
