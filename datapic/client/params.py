"""A pod's parameters as query-string pairs: Python values in the text forms a pod parses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

# Arguments of /get_data that are not the pod's parameters: the client sets them itself.
RESERVED = ("format", "limit", "page_token")


def query_pairs(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, text) pairs for a pod's query string; a list gives one pair per value (a list
    parameter), None leaves the parameter out (the pod's default applies).

    >>> query_pairs({"country": "DE", "min_sales": 100, "paid": True, "since": None})
    [('country', 'DE'), ('min_sales', '100'), ('paid', 'true')]
    >>> query_pairs({"region": ["EMEA", "APAC"], "day": dt.date(2024, 2, 29)})
    [('region', 'EMEA'), ('region', 'APAC'), ('day', '2024-02-29')]
    """
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        if name in RESERVED:
            raise ValueError(
                f"'{name}' is set by the client, not a pod parameter (page size: Pod(page_size=…))"
            )
        if value is None:
            continue
        if isinstance(value, list | tuple | set | frozenset):
            items = sorted(value) if isinstance(value, set | frozenset) else list(value)
            if not items:
                raise ValueError(
                    f"parameter '{name}': an empty list cannot be sent (leave it out for the "
                    "pod's default)"
                )
            pairs += [(name, text(name, item)) for item in items]
        else:
            pairs.append((name, text(name, value)))
    return pairs


def text(name: str, value: Any) -> str:
    """One value's query-string text.

    >>> text("x", 0.1), text("x", Decimal("12.30")), text("x", dt.datetime(2024, 1, 1, 12))
    ('0.1', '12.30', '2024-01-01T12:00:00')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    raise TypeError(
        f"parameter '{name}': cannot send a {type(value).__name__} (give str, int, float, "
        "bool, Decimal, date, datetime or a list of those)"
    )
