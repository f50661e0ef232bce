"""Typed values of the six parameter types and their list forms (`string[]`, ...), from
query-string text or from pod.json's JSON form. A list's value is a tuple (hashable: it keys the
result cache, and DuckDB binds it as a list)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

TYPES = ("string", "integer", "number", "boolean", "date", "timestamp")
LIST_TYPES = tuple(f"{t}[]" for t in TYPES)
# The most values one list parameter takes (the compiler's MAX_LIST_VALUES): a list is a
# filter's IN list, and each value is a term of the Iceberg pushdown.
MAX_LIST_VALUES = 1000

# Strict ASCII grammars: Python's int(), float() and fromisoformat() also accept "1_000",
# non-ASCII digits, "infinity", "2024-W05-3" and "20240131", none of which a client means.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_INT64 = (-(2**63), 2**63 - 1)

EXAMPLES = {
    "string": "text",
    "integer": "a whole number such as 42",
    "number": "a number such as 12.5",
    "boolean": "true or false",
    "date": "a date such as 2024-01-31",
    "timestamp": "a timestamp such as 2024-01-31T12:00:00",
    "string[]": "text values",
    "integer[]": "whole numbers such as 42",
    "number[]": "numbers such as 12.5",
    "boolean[]": "true or false values",
    "date[]": "dates such as 2024-01-31",
    "timestamp[]": "timestamps such as 2024-01-31T12:00:00",
}


def element_type(type_name: str) -> str | None:
    """The type of one value of a list type; None for a scalar type.

    >>> element_type("date[]"), element_type("date")
    ('date', None)
    """
    return type_name.removesuffix("[]") if type_name.endswith("[]") else None


def _match(pattern: re.Pattern[str], text: str) -> str:
    if not pattern.fullmatch(text):
        raise ValueError(text)
    return text


def _integer(text: str) -> int:
    value = int(_match(_INTEGER, text.strip()))
    # DuckDB would bind a larger Python int as HUGEINT and fail later with a vaguer error.
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(text)
    return value


def _number(text: str) -> float:
    value = float(_match(_NUMBER, text.strip()))
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _boolean(text: str) -> bool:
    try:
        return _BOOLEANS[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(_match(_DATE, text.strip()))


def _timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(_match(_TIMESTAMP, text.strip()))


_FROM_TEXT: dict[str, Callable[[str], Any]] = {
    "string": str,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
}


def from_text(type_name: str, text: str) -> Any:
    """The typed value of query-string `text`; ValueError when it is not one."""
    return _FROM_TEXT[type_name](text)


def from_json(type_name: str, value: Any) -> Any:
    """The typed value of a pod.json default or literal (None stays None); ValueError if wrong."""
    if value is None:
        return None
    element = element_type(type_name)
    if element is not None:
        if not isinstance(value, list) or len(value) > MAX_LIST_VALUES:
            raise ValueError(f"{value!r} is not a list of at most {MAX_LIST_VALUES} values")
        return tuple(_json_element(element, v) for v in value)
    if type_name in ("string", "date", "timestamp"):
        if isinstance(value, str):
            return from_text(type_name, value)
    elif type_name == "boolean":
        if isinstance(value, bool):
            return value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if type_name == "number" and math.isfinite(value):
            return float(value)
        if type_name == "integer" and isinstance(value, int):
            return from_text("integer", str(value))
    raise ValueError(f"{value!r} is not a valid {type_name}")


def _json_element(type_name: str, value: Any) -> Any:
    if value is None:
        raise ValueError(f"a {type_name}[] holds no null")
    return from_json(type_name, value)
