"""The JSON, NDJSON and CSV encodings as datapic_runtime wrote them before their per-call
overhead was cut (serialize.py and formats.py at d034595, copied unchanged but for imports): the
byte-for-byte reference of tests/runtime/test_serialize_differential.py. Never edit it to make
that test pass: a difference is a change of what pods answer.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
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


# Zones whose wall-clock time is UTC: Python writes their timestamps with +00:00.
_UTC_ZONES = {"UTC", "Etc/UTC", "+00:00", "Z"}


# A zero fraction of a second as Arrow writes each timestamp unit (as many digits as the unit).
_ZERO_FRACTIONS = {"s": None, "ms": ".000", "us": ".000000", "ns": ".000000000"}


def _iso(text: pa.Array, utc: bool, unit: str = "us") -> pa.Array:
    """Arrow's `YYYY-MM-DD HH:MM:SS.ffffff` as Python's isoformat() writes it (nine fractional
    digits for nanoseconds, which Python's datetime cannot hold)."""
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    # No fraction when it is zero (the unit's digits always follow the only dot); plain
    # substring replacement, as Arrow's regex functions cost ten times more.
    zero = _ZERO_FRACTIONS[unit]
    if zero is not None:
        text = pc.replace_substring(text, zero, "")
    return pc.binary_join_element_wise(text, "+00:00", "") if utc else text


def decimal_text(column: pa.Array) -> pa.Array:
    """Exact decimal text: Arrow writes small ones as 1E-10 or 0E-10, those batches go by Python."""
    text = column.cast(pa.string())
    if not pc.any(pc.match_substring(text, "E")).as_py():
        return text
    return pa.array(
        [None if v is None else format(v, "f") for v in column.to_pylist()], pa.string()
    )


def temporal_text(column: pa.Array) -> pa.Array | None:
    """Dates, times, decimals and timestamps as the text JSON carries, computed by Arrow (Python
    objects for them cost microseconds a value); None for any other type."""
    kind = column.type
    if pa.types.is_decimal(kind):
        return decimal_text(column)
    if pa.types.is_date32(kind):
        return column.cast(pa.string())
    if pa.types.is_time64(kind) and kind.unit == "us":
        return pc.replace_substring(column.cast(pa.string()), ".000000", "")
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return _iso(column.cast(pa.string()), utc=False, unit=kind.unit)
        if kind.tz in _UTC_ZONES:  # the same instants, read as UTC wall-clock time
            wall_clock = column.view(pa.timestamp(kind.unit))
            return _iso(wall_clock.cast(pa.string()), utc=True, unit=kind.unit)
    return None


def concatenated(text: pa.Array) -> bytes:
    """The values of a string array without NULLs, back to back: Arrow already keeps them so in
    one buffer, so that buffer is the answer (no Python string per value)."""
    if len(text) == 0:
        return b""
    _, offsets, data = text.buffers()
    bounds = pa.Array.from_buffers(pa.int32(), len(text) + 1, [None, offsets], offset=text.offset)
    return data[bounds[0].as_py() : bounds[-1].as_py()].to_pybytes()


# What orjson writes for the characters JSON must escape in a string.
_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)} | {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _json_string(text: pa.Array) -> pa.Array:
    """JSON string literals, escaped as orjson escapes them (non-ASCII stays as it is)."""
    if pc.any(pc.match_substring_regex(text, r'[\x00-\x1f"\\]')).as_py():
        text = pc.replace_substring(text, "\\", "\\\\")
        text = pc.replace_substring(text, '"', '\\"')
        if pc.any(pc.match_substring_regex(text, r"[\x00-\x1f]")).as_py():
            for char, escaped in _ESCAPES.items():
                text = pc.replace_substring(text, char, escaped)
    return pc.binary_join_element_wise('"', text, '"', "")


def float_text(column: pa.Array) -> pa.Array:
    """Shortest text that reads back as the same value in the column's own width (a float32's
    0.1 is 0.1, not its double 0.10000000149011612); NaN and infinities are null (JSON has
    neither), and a whole number keeps a `.0` (-0.0 too) so it still reads as a float."""
    if pa.types.is_float16(column.type):
        column = column.cast(pa.float32())
    text = column.cast(pa.string())  # Arrow writes the shortest round trip of the type
    finite = pc.is_finite(column)
    whole = pc.invert(pc.or_(pc.match_substring(text, "."), pc.match_substring(text, "e")))
    text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    return pc.if_else(finite, text, pa.scalar(None, pa.string()))


def _json_by_python(values: list[Any]) -> pa.Array:
    return pa.array(
        [None if v is None else orjson.dumps(v, default=json_default).decode() for v in values],
        pa.string(),
    )


def json_values(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each value of a column as JSON text ("null" for NULL), computed by Arrow where it can:
    Python objects cost microseconds a value, and answers can hold millions."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind):
        return json_values(column.dictionary_decode())
    if pa.types.is_null(kind):
        text = pa.nulls(len(column), pa.string())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _json_string(column.cast(pa.string()))
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        text = column.cast(pa.string())
    elif pa.types.is_floating(kind):
        text = float_text(column)
    else:
        temporal = temporal_text(column)
        if temporal is not None:
            text = pc.binary_join_element_wise('"', temporal, '"', "")
        else:
            text = _json_by_python(column.to_pylist())
    return pc.fill_null(text, "null")


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
    parts: list[Any] = []
    for i, name in enumerate(columns):
        parts.append(("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":")
        parts.append(json_values(data.column(i)))
    parts.append("}" + end)
    return concatenated(pc.binary_join_element_wise(*parts, ""))


def rows_json(columns: Sequence[str], data: pa.Table | pa.RecordBatch) -> bytes:
    """`[{"col": value, …}, …]` for the rows of `data`, named by `columns` position by position."""
    return b"[" + json_objects(columns, data)[:-1] + b"]"


def error_json(message: str) -> bytes:
    """The body of every error answer."""
    return orjson.dumps({"error": message})


# --- JSON, NDJSON and CSV (formats.py) ---


def encode_json(
    columns: Sequence[str], schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> Iterator[bytes]:
    """`[{…},{…}]`, byte for byte what serialize.rows_json writes for the whole answer."""
    separator = b"["
    for batch in batches:
        for part in _slices(batch, 65536):
            if part.num_rows:
                yield separator + json_objects(columns, part)[:-1]
                separator = b","
    yield b"[]" if separator == b"[" else b"]"


def encode_ndjson(
    columns: Sequence[str], schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> Iterator[bytes]:
    """One JSON object per row, each line ended by a newline (no array around them)."""
    for batch in batches:
        for part in _slices(batch, 65536):
            if part.num_rows:
                yield json_objects(columns, part, end="\n")


_NEEDS_QUOTES = '[,"\r\n]'


def _quoted_where_needed(text: pa.Array) -> pa.Array:
    """Text fields quoted when RFC 4180 needs it, and empty strings quoted to differ from NULL."""
    needs = pc.or_(pc.match_substring_regex(text, _NEEDS_QUOTES), pc.equal(text, ""))
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, text)


def _python_text(value: Any) -> str | None:
    """Values Arrow cannot cast to text (binary, intervals, nested) in their JSON form."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=json_default).decode()
    form = json_default(value)
    return form if isinstance(form, str) else orjson.dumps(form).decode()


def _csv_text(column: pa.Array) -> pa.Array:
    """A column as CSV fields (NULL stays null): numbers plain, text quoted where needed."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _csv_text(column.dictionary_decode())
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _quoted_where_needed(column.cast(pa.string()))
    text = temporal_text(column)
    if text is not None:
        return text
    if pa.types.is_floating(kind):
        return float_text(column)  # as JSON writes it: NaN and infinities are empty, like null
    if (
        pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_date(kind)
        or pa.types.is_time(kind)
        or pa.types.is_timestamp(kind)  # units and zones JSON's forms do not cover
    ):
        return column.cast(pa.string())
    texts = pa.array([_python_text(v) for v in column.to_pylist()], pa.string())
    return _quoted_where_needed(texts)


def _csv_lines(batch: pa.RecordBatch) -> bytes:
    fields = [pc.fill_null(_csv_text(column), "") for column in batch.columns]
    return concatenated(
        pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, ","), "\r\n", "")
    )


def encode_csv(
    columns: Sequence[str], schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> Iterator[bytes]:
    """A header row of the pod's column names, then one CRLF-ended line per row."""
    header = _quoted_where_needed(pa.array(list(columns), pa.string())).to_pylist()
    yield (",".join(header) + "\r\n").encode("utf-8")
    for batch in batches:
        for part in _slices(batch, 65536):
            if part.num_rows:
                yield _csv_lines(part)


def _slices(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)
