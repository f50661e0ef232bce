"""Rows as JSON values: the JSON answer is an array of row objects, keys in the column order.

Dates and times are ISO 8601 text, decimals are text (a JSON number would lose digits in most
clients), NULL is null, and so are NaN and infinities, which JSON cannot write; a float is the
shortest text of its own width (float32 0.1 is 0.1). Integers are numbers (int64 at most: the
engine narrows 128-bit sums, answer.py).

Arrow computes each column's text, and one join writes the rows with the keys between them.
Each compute call costs microseconds however few the rows, so a call is skipped where the
column's own bytes show it would change nothing (tests/runtime/test_serialize_differential.py
holds the bytes to the encoders this replaced).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import struct
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc


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


# Arrow compute functions called directly with options built once: pyarrow's wrappers (pc.cast,
# pc.binary_join_element_wise, ...) cost microseconds a call in Python, which small answers feel.
_CAST = pc.get_function("cast")
_TO_STRING = pc.CastOptions(pa.string())
_JOIN = pc.get_function("binary_join_element_wise")
_JOIN_NULL = pc.JoinOptions()  # a NULL value makes the joined value NULL
_JOIN_NULL_AS_JSON = pc.JoinOptions("replace", "null")
_REPLACE = pc.get_function("replace_substring")
_IF_ELSE = pc.get_function("if_else")
_MATCH = pc.get_function("match_substring")
_HAS_POINT = pc.MatchSubstringOptions(".")
_HAS_EXPONENT = pc.MatchSubstringOptions("e")
_OR = pc.get_function("or")
_IS_FINITE = pc.get_function("is_finite")
_TO_FLOAT32 = pc.CastOptions(pa.float32())
_NULL_TEXT = pa.scalar(None, pa.string())
_OFFSET = struct.Struct("=i")


@functools.lru_cache(maxsize=4096)
def text_scalar(text: str) -> pa.Scalar:
    """Constant text as an Arrow scalar (made once: the pod's keys and separators repeat)."""
    return pa.scalar(text, pa.string())


@functools.lru_cache(maxsize=64)
def _replace_options(pattern: str, replacement: str, most: int) -> pc.ReplaceSubstringOptions:
    return pc.ReplaceSubstringOptions(pattern, replacement, max_replacements=most)


def replaced(text: pa.Array, pattern: str, replacement: str, most: int = -1) -> pa.Array:
    """`pattern` replaced by `replacement` in each value (at most `most` times, -1: all)."""
    return _REPLACE.call([text], _replace_options(pattern, replacement, most))


def joined(*parts: pa.Array | str) -> pa.Array:
    """The parts back to back, value by value; NULL where any value is NULL."""
    args = [text_scalar(p) if isinstance(p, str) else p for p in parts]
    return _JOIN.call([*args, text_scalar("")], _JOIN_NULL)


def as_text(column: pa.Array) -> pa.Array:
    """Arrow's own text of each value (`cast`, skipped for what already is text)."""
    return column if column.type == pa.string() else _CAST.call([column], _TO_STRING)


def concatenated(text: pa.Array) -> bytes:
    """The values of a string array back to back (a NULL's slot holds none in what Arrow
    computes): Arrow already keeps them so in one buffer, so that buffer is an answer's body (no
    Python string per value), and what cheap questions about a whole column are asked of."""
    if len(text) == 0:
        return b""
    _, offsets, data = text.buffers()
    if data is None:
        return b""
    first, last = 4 * text.offset, 4 * (text.offset + len(text))  # int32 offsets, native order
    start, stop = _OFFSET.unpack_from(offsets, first)[0], _OFFSET.unpack_from(offsets, last)[0]
    return data[start:stop].to_pybytes()


# Zones whose wall-clock time is UTC: Python writes their timestamps with +00:00.
_UTC_ZONES = {"UTC", "Etc/UTC", "+00:00", "Z"}


# A zero fraction of a second as Arrow writes each timestamp unit (as many digits as the unit).
_ZERO_FRACTIONS = {"s": None, "ms": ".000", "us": ".000000", "ns": ".000000000"}


def _iso(text: pa.Array, unit: str) -> pa.Array:
    """Arrow's `YYYY-MM-DD HH:MM:SS.ffffff` as Python's isoformat() writes it (nine fractional
    digits for nanoseconds, which Python's datetime cannot hold), without any zone."""
    text = replaced(text, " ", "T", 1)
    # No fraction when it is zero (the unit's digits always follow the only dot); plain
    # substring replacement, as Arrow's regex functions cost ten times more.
    zero = _ZERO_FRACTIONS[unit]
    if zero is not None and zero.encode() in concatenated(text):
        text = replaced(text, zero, "")
    return text


def decimal_text(column: pa.Array) -> pa.Array:
    """Exact decimal text: Arrow writes small ones as 1E-10 or 0E-10, those batches go by Python."""
    text = as_text(column)
    if b"E" not in concatenated(text):
        return text
    return pa.array(
        [None if v is None else format(v, "f") for v in column.to_pylist()], pa.string()
    )


def _temporal(column: pa.Array) -> tuple[pa.Array, str] | None:
    """Dates, times, decimals and timestamps as (text, zone suffix) computed by Arrow (Python
    objects for them cost microseconds a value); None for any other type."""
    kind = column.type
    if pa.types.is_decimal(kind):
        return decimal_text(column), ""
    if pa.types.is_date32(kind):
        return as_text(column), ""
    if pa.types.is_time64(kind) and kind.unit == "us":
        text = as_text(column)
        if b".000000" in concatenated(text):
            text = replaced(text, ".000000", "")
        return text, ""
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return _iso(as_text(column), kind.unit), ""
        if kind.tz in _UTC_ZONES:  # the same instants, read as UTC wall-clock time
            wall_clock = column.view(pa.timestamp(kind.unit))
            return _iso(as_text(wall_clock), kind.unit), "+00:00"
    return None


def temporal_text(column: pa.Array) -> pa.Array | None:
    """Dates, times, decimals and timestamps as the text JSON carries, computed by Arrow (Python
    objects for them cost microseconds a value); None for any other type."""
    temporal = _temporal(column)
    if temporal is None:
        return None
    text, zone = temporal
    return joined(text, zone) if zone else text


# What orjson writes for the characters JSON must escape in a string.
_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)} | {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
# Every byte a JSON string holds as it is (UTF-8's multi-byte sequences included).
_PLAIN_BYTES = bytes(b for b in range(256) if b >= 0x20 and b not in b'"\\')


def _escaped(text: pa.Array) -> pa.Array:
    """The values as the inside of JSON string literals, escaped as orjson escapes them
    (non-ASCII stays as it is); untouched when nothing needs it, which is the rule."""
    special = concatenated(text).translate(None, _PLAIN_BYTES)
    if not special:
        return text
    if b"\\" in special:  # first: the other escapes add backslashes
        text = replaced(text, "\\", "\\\\")
    if b'"' in special:
        text = replaced(text, '"', '\\"')
    for char, escaped in _ESCAPES.items():
        if char.encode() in special:
            text = replaced(text, char, escaped)
    return text


def _float_checks(column: pa.Array, text: pa.Array) -> pa.Array:
    """`text` with `.0` after whole numbers and NULL for NaN and infinities (see float_text)."""
    point = _OR.call([_MATCH.call([text], _HAS_POINT), _MATCH.call([text], _HAS_EXPONENT)])
    text = _IF_ELSE.call([point, text, joined(text, ".0")])
    return _IF_ELSE.call([_IS_FINITE.call([column]), text, _NULL_TEXT])


def float_text(column: pa.Array) -> pa.Array:
    """Shortest text that reads back as the same value in the column's own width (a float32's
    0.1 is 0.1, not its double 0.10000000149011612); NaN and infinities are null (JSON has
    neither), and a whole number keeps a `.0` (-0.0 too) so it still reads as a float."""
    if pa.types.is_float16(column.type):
        column = _CAST.call([column], _TO_FLOAT32)
    text = as_text(column)  # Arrow writes the shortest round trip of the type
    # Nothing to change when every value has a point: each has one at most, and neither `nan`,
    # `inf` nor a whole number has one. Counted in the text, which holds nothing but the values
    # (a NULL's slot is empty in what cast writes).
    if concatenated(text).count(b".") != len(text) - text.null_count:
        return _float_checks(column, text)
    return text


def _json_by_python(values: list[Any]) -> pa.Array:
    return pa.array(
        [None if v is None else orjson.dumps(v, default=json_default).decode() for v in values],
        pa.string(),
    )


def json_parts(column: pa.Array | pa.ChunkedArray) -> tuple[str, pa.Array, str]:
    """(before, text, after): each value's JSON is `before + text + after`, NULL is null. The
    constant parts stay apart so json_objects can write them with the keys around them."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind):
        return json_parts(column.dictionary_decode())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return '"', _escaped(as_text(column)), '"'
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return "", as_text(column), ""
    if pa.types.is_floating(kind):
        return "", float_text(column), ""
    if pa.types.is_null(kind):
        return "", pa.nulls(len(column), pa.string()), ""
    temporal = _temporal(column)
    if temporal is not None:
        text, zone = temporal
        return '"', text, zone + '"'
    return "", _json_by_python(column.to_pylist()), ""


@functools.lru_cache(maxsize=1024)
def _key(name: str) -> str:
    return orjson.dumps(name).decode() + ":"


def json_objects(
    columns: Sequence[str],
    data: pa.Table | pa.RecordBatch,
    end: str = ",",
) -> bytes:
    """`{"col":value,…}` for each row of `data`, keys named by `columns` position by position,
    each followed by `end`."""
    if data.num_columns != len(columns):
        raise ValueError(f"the query gave {data.num_columns} columns, pod.json {len(columns)}")
    if data.num_rows == 0:
        return b""
    # One join writes every row: the keys, and the quotes of a column without NULLs, are
    # constant text between the columns' values; NULL is written as null by the join itself.
    parts: list[Any] = []
    closing = ""  # what ends the previous column's values: a quote, a zone
    for i, name in enumerate(columns):
        before, text, after = json_parts(data.column(i))
        if text.null_count and (before or after):
            text, before, after = joined(before, text, after), "", ""
        opening = "{" if i == 0 else closing + ","
        parts += [text_scalar(opening + _key(name) + before), text]
        closing = after
    parts += [text_scalar(closing + "}" + end), text_scalar("")]
    return concatenated(_JOIN.call(parts, _JOIN_NULL_AS_JSON))


def rows_json(columns: Sequence[str], data: pa.Table | pa.RecordBatch) -> bytes:
    """`[{"col": value, …}, …]` for the rows of `data`, named by `columns` position by position."""
    return b"[" + json_objects(columns, data)[:-1] + b"]"


def error_json(message: str) -> bytes:
    """The body of every error answer."""
    return orjson.dumps({"error": message})
