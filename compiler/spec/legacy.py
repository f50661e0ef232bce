"""dataPi's legacy spellings, read into the mapping form the rest of the compiler knows.

`select: sales q region` (names in one string) and Malloy-style aggregates (`sales.sum()`).
"""

from __future__ import annotations

import re

# `sales.sum()` is named sales_sum, `count()` is named count.
_LEGACY_AGGREGATE = re.compile(
    r"^\s*(?:(?P<column>[A-Za-z_]\w*)\.)?(?P<func>[A-Za-z_]\w*)\(\s*\)\s*$"
)
_LEGACY_FUNCTIONS = {"sum", "avg", "min", "max", "count"}


def split_names(text: str) -> list[str]:
    """dataPi's `sales q region` (or `sales, q, region`) as a list of names.

    >>> split_names("sales, q region")
    ['sales', 'q', 'region']
    """
    return [part for part in re.split(r"[\s,]+", text) if part]


def legacy_aggregate(text: str) -> tuple[str, str] | str:
    """A Malloy-style aggregate as (name, SQL expression), or why it is not one.

    >>> legacy_aggregate("sales.sum()"), legacy_aggregate("count()")
    (('sales_sum', 'sum(sales)'), ('count', 'count(*)'))
    >>> legacy_aggregate("sum()")
    "'sum()' needs a column: column.sum()"
    """
    match = _LEGACY_AGGREGATE.match(text)
    func = match and match["func"].lower()
    if not match or func not in _LEGACY_FUNCTIONS:
        return (
            f"aggregate '{text}' is not of the form column.function() "
            f"with function one of {', '.join(sorted(_LEGACY_FUNCTIONS))}, or count(); "
            "use the mapping form (name: sum(column)) for anything else"
        )
    column = match["column"]
    if column is None:
        if func != "count":
            return f"'{text}' needs a column: column.{func}()"
        return "count", "count(*)"
    return f"{column}_{func}", f"{func}({column})"
