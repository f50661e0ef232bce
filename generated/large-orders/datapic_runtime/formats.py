"""Answer formats: choosing one (the `format` argument, else the Accept header) and encoding
Arrow batches into body chunks as they arrive, so no answer is ever held whole as text.

- json: an array of row objects (serialize.py's value forms: decimals as text, ISO 8601).
- ndjson: one such object per line.
- csv: RFC 4180 with a header row and CRLF line ends; NULL is an empty field, an empty string
  is `""`; numbers, decimals, dates and timestamps in JSON's text forms (so NaN and infinities
  are empty fields too), booleans true/false.
- arrow: an Arrow IPC stream; parquet: a Parquet file. Both keep DuckDB's Arrow types (integer
  sums arrive as int64, answer.py), under the pod's column names.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import PodError
from .serialize import (
    as_text,
    concatenated,
    float_text,
    joined,
    json_default,
    json_objects,
    replaced,
    temporal_text,
    text_scalar,
)

# Rows encoded at once (all encoders work on whole columns): bounds each chunk's memory whatever
# the size of the batches the engine hands over, and is big enough to amortize each step.
JSON_SLICE_ROWS = 65536
CSV_SLICE_ROWS = 65536

# An encoder's arguments: the pod's column names, the answer's Arrow schema and its batches; it
# yields the body's chunks.
Names = Sequence[str]
Batches = Iterable[pa.RecordBatch]
Chunks = Iterator[bytes]
Encoder = Callable[[Names, pa.Schema, Batches], Chunks]


@dataclass(frozen=True, slots=True)
class Format:
    """An answer format: its `format` argument value, Content-Type and the encoder."""

    name: str
    media_type: str
    # Media types an Accept header may name to choose this format (the first is canonical).
    accepts: tuple[str, ...]
    encode: Encoder


def _slices(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


# --- JSON and NDJSON ----------------------------------------------------------------------------


def encode_json(columns: Names, schema: pa.Schema, batches: Batches) -> Chunks:
    """`[{…},{…}]`, byte for byte what serialize.rows_json writes for the whole answer."""
    _check_columns(columns, schema)
    separator = b"["
    for batch in batches:
        for part in _slices(batch, JSON_SLICE_ROWS):
            if part.num_rows:
                yield separator + json_objects(columns, part)[:-1]
                separator = b","
    yield b"[]" if separator == b"[" else b"]"


def encode_ndjson(columns: Names, schema: pa.Schema, batches: Batches) -> Chunks:
    """One JSON object per row, each line ended by a newline (no array around them)."""
    _check_columns(columns, schema)
    for batch in batches:
        for part in _slices(batch, JSON_SLICE_ROWS):
            if part.num_rows:
                yield json_objects(columns, part, end="\n")


# --- CSV ----------------------------------------------------------------------------------------

_NEEDS_QUOTES = '[,"\r\n]'
# Every byte a field holds unquoted (UTF-8's multi-byte sequences included).
_PLAIN_BYTES = bytes(b for b in range(256) if b not in b',"\r\n')
_EQUAL = pc.get_function("equal")
_IF_ELSE = pc.get_function("if_else")
_OR = pc.get_function("or")
_MATCH = pc.get_function("match_substring_regex")
_NEEDS_QUOTES_OPTIONS = pc.MatchSubstringOptions(_NEEDS_QUOTES)
# Joins a line's fields: NULL is the empty field.
_JOIN = pc.get_function("binary_join_element_wise")
_NULL_AS_EMPTY = pc.JoinOptions("replace", "")


def _quoted_where_needed(text: pa.Array) -> pa.Array:
    """Text fields quoted when RFC 4180 needs it, and empty strings quoted to differ from NULL."""
    empty = _EQUAL.call([text, text_scalar("")])
    if not concatenated(text).translate(None, _PLAIN_BYTES):  # the rule: only "" to quote
        return _IF_ELSE.call([empty, text_scalar('""'), text])
    needs = _OR.call([_MATCH.call([text], _NEEDS_QUOTES_OPTIONS), empty])
    quoted = joined('"', replaced(text, '"', '""'), '"')
    return _IF_ELSE.call([needs, quoted, text])


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
        return _quoted_where_needed(as_text(column))
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
        return as_text(column)
    texts = pa.array([_python_text(v) for v in column.to_pylist()], pa.string())
    return _quoted_where_needed(texts)


def _csv_lines(batch: pa.RecordBatch) -> bytes:
    """The batch's CRLF-ended lines, in one join: commas between the fields, NULL empty."""
    parts: list[Any] = []
    for column in batch.columns:
        parts += [_csv_text(column), text_scalar(",")]
    parts[-1] = text_scalar("\r\n")
    return concatenated(_JOIN.call([*parts, text_scalar("")], _NULL_AS_EMPTY))


def encode_csv(columns: Names, schema: pa.Schema, batches: Batches) -> Chunks:
    """A header row of the pod's column names, then one CRLF-ended line per row."""
    _check_columns(columns, schema)
    header = _quoted_where_needed(pa.array(list(columns), pa.string())).to_pylist()
    yield (",".join(header) + "\r\n").encode("utf-8")
    for batch in batches:
        for part in _slices(batch, CSV_SLICE_ROWS):
            if part.num_rows:
                yield _csv_lines(part)


# --- Arrow IPC and Parquet ----------------------------------------------------------------------


class _Chunks:
    """A write-only file that keeps what is written until the encoder hands it on."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def drain(self) -> bytes:
        """Everything written since the last drain."""
        chunk, self.parts = b"".join(self.parts), []
        return chunk


def named_schema(columns: Sequence[str], schema: pa.Schema) -> pa.Schema:
    """`schema` with the pod's column names (the SQL's own names may differ)."""
    _check_columns(columns, schema)
    return pa.schema(
        [field.with_name(name) for name, field in zip(columns, schema, strict=True)],
        metadata=schema.metadata,
    )


def encode_arrow(columns: Names, schema: pa.Schema, batches: Batches) -> Chunks:
    """An Arrow IPC stream: the schema, one message per batch, the end-of-stream marker."""
    yield from _file_chunks(pa.ipc.new_stream, named_schema(columns, schema), batches)


def encode_parquet(columns: Names, schema: pa.Schema, batches: Batches) -> Chunks:
    """A Parquet file, one row group per batch; the footer, written last, ends it."""
    # An empty batch would be an empty row group: skipped.
    rows = (batch for batch in batches if batch.num_rows)
    yield from _file_chunks(pq.ParquetWriter, named_schema(columns, schema), rows)


def _file_chunks(writer_class: Callable[..., Any], named: pa.Schema, batches: Batches) -> Chunks:
    """What `writer_class` writes for `batches` under the `named` schema, handed on batch by
    batch (the file's head first, its end last)."""
    sink = _Chunks()
    with writer_class(sink, named) as writer:
        yield sink.drain()
        for batch in batches:
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=named))
            yield sink.drain()
    yield sink.drain()


def _check_columns(columns: Sequence[str], schema: pa.Schema) -> None:
    if len(schema) != len(columns):
        raise ValueError(f"the query gave {len(schema)} columns, pod.json {len(columns)}")


# --- choosing one -------------------------------------------------------------------------------

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("json", "application/json", ("application/json",), encode_json),
        Format(
            "ndjson",
            "application/x-ndjson",
            ("application/x-ndjson", "application/ndjson", "application/jsonl"),
            encode_ndjson,
        ),
        Format("csv", "text/csv; charset=utf-8; header=present", ("text/csv",), encode_csv),
        Format(
            "arrow",
            "application/vnd.apache.arrow.stream",
            ("application/vnd.apache.arrow.stream",),
            encode_arrow,
        ),
        Format(
            "parquet",
            "application/vnd.apache.parquet",
            ("application/vnd.apache.parquet", "application/x-parquet"),
            encode_parquet,
        ),
    )
}
DEFAULT_FORMAT = FORMATS["json"]


def choose_format(format_argument: str | None, accept: str | None) -> Format:
    """The `format` argument's format if given (400 if unknown), else the Accept header's (406)."""
    names = ", ".join(FORMATS)
    if format_argument is not None:
        chosen = FORMATS.get(format_argument.strip().lower())
        if chosen is None:
            shown = format_argument[:40]
            raise PodError(400, f"format must be one of {names}, got {shown!r}")
        return chosen
    chosen = negotiate(accept)
    if chosen is None:
        types = ", ".join(f.accepts[0] for f in FORMATS.values())
        raise PodError(
            406,
            f"none of the Accept header's media types is served; this pod answers {types}"
            f" (or use the format argument: {names})",
        )
    return chosen


def _media_ranges(accept: str) -> Iterator[tuple[str, float]]:
    """(media range, q) pairs of an Accept header; a malformed q counts as 0 (not acceptable)."""
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        yield media.lower(), q


def _specificity(media_range: str, media_type: str) -> int:
    """How closely a media range names a type: 2 exactly, 1 by type/*, 0 by */*, -1 not at all."""
    if media_range == media_type:
        return 2
    if media_range == "*/*":
        return 0
    kind, _, sub = media_range.partition("/")
    return 1 if sub == "*" and media_type.startswith(kind + "/") else -1


def negotiate(accept: str | None) -> Format | None:
    """The format an Accept header prefers (JSON when it names none or any); None: none served.

    Each format takes the q of the most specific range naming it (RFC 9110 12.5.1); the highest
    q wins, then the more specific match, then the order of FORMATS (JSON first).
    """
    if accept is None or not accept.strip():
        return DEFAULT_FORMAT
    ranges = list(_media_ranges(accept))
    best: tuple[float, int] | None = None
    chosen = None
    for candidate in FORMATS.values():
        matches = [
            (_specificity(media_range, media_type), q)
            for media_range, q in ranges
            for media_type in candidate.accepts
            if _specificity(media_range, media_type) >= 0
        ]
        if not matches:
            continue
        specificity, q = max(matches, key=lambda match: match[0])
        if q > 0 and (best is None or (q, specificity) > best):
            best, chosen = (q, specificity), candidate
    return chosen
