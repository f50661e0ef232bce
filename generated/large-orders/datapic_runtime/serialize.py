"""Rows as JSON values: the JSON answer is an array of row objects, keys in the column order.

Dates and times are ISO 8601 text, decimals are text (a JSON number would lose digits in most
clients), NULL is null, and so are NaN and infinities, which JSON cannot write. Integers are
numbers; only a 128-bit one beyond 64 bits (an enormous SUM) is written as text.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

_INT_RANGE = (-(2**63), 2**64 - 1)  # what orjson writes as a JSON number


def _duration(months: int, days: int, nanoseconds: int) -> str:
    """An ISO 8601 duration such as P1M2DT3.5S."""
    date = (f"{months}M" if months else "") + (f"{days}D" if days else "")
    seconds = (Decimal(nanoseconds) / 1_000_000_000).normalize()
    time = f"T{format(seconds, 'f')}S" if nanoseconds else ""
    return f"P{date}{time}" if date or time else "PT0S"


def json_default(value: Any) -> Any:
    """The JSON form of a value orjson cannot write itself (orjson's `default` hook)."""
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation such as 0E-10
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.timedelta):
        return _duration(0, value.days, (value.seconds * 10**6 + value.microseconds) * 1000)
    if isinstance(value, pa.MonthDayNano):
        return _duration(value.months, value.days, value.nanoseconds)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _whole(value: Decimal | None) -> int | str | None:
    """A 128-bit integer as a JSON number, or as text beyond the 64 bits JSON writers handle."""
    if value is None:
        return None
    number = int(value)
    return number if _INT_RANGE[0] <= number <= _INT_RANGE[1] else str(number)


def _column_values(column: pa.Array | pa.ChunkedArray, wide_integer: bool) -> list[Any]:
    values = column.to_pylist()
    # A 128-bit integer (SUM of integers) reaches Arrow as decimal128(38, 0): still a number.
    return [_whole(v) for v in values] if wide_integer else values


def row_objects(
    columns: Sequence[str], data: pa.Table | pa.RecordBatch, wide_integers: Collection[int] = ()
) -> list[dict[str, Any]]:
    """One dict per row of `data`, keys named by `columns` position by position."""
    if data.num_columns != len(columns):
        raise ValueError(f"the query gave {data.num_columns} columns, pod.json {len(columns)}")
    values = [_column_values(data.column(i), i in wide_integers) for i in range(len(columns))]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def rows_json(
    columns: Sequence[str], data: pa.Table | pa.RecordBatch, wide_integers: Collection[int] = ()
) -> bytes:
    """`[{"col": value, …}, …]` for the rows of `data`, named by `columns` position by position."""
    return orjson.dumps(row_objects(columns, data, wide_integers), default=json_default)


def error_json(message: str) -> bytes:
    """The body of every error answer."""
    return orjson.dumps({"error": message})
