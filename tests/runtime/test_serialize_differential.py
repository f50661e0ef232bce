"""datapic_runtime.serialize and formats' JSON, NDJSON and CSV encoders against the encoders they
replaced (tests/support/serializekit.py), byte for byte, over generated batches of every Arrow
type a pod can answer: nulls anywhere, sliced and empty batches, all-null columns, chunked tables.

Speed work in the encoders (skipped steps when a column allows it) must never change a byte:
each case runs through both, and an error in one must be the same error in the other.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import serializekit as reference
from datapic_runtime import formats, serialize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Characters that JSON or CSV must escape or quote, and text that trips up gates looking at bytes.
SPECIAL_TEXT = ['"', "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", ",", "E", "n", ".000000"]
TEXT = st.lists(
    st.one_of(
        st.sampled_from(SPECIAL_TEXT),
        st.characters(codec="utf-8"),
        st.sampled_from("aé✓日🚀\u2028"),
    ),
    max_size=8,
).map("".join)
FLOATS = [0.0, -0.0, 1.0, -2.0, 0.1, 1e15, 1e16, 1e20, 1e300, 5e-324, 1e-7, 123456789.0]
SPECIAL_FLOATS = st.sampled_from([*FLOATS, float("nan"), float("inf"), float("-inf")])
# First and last second of years 1 to 9999, the range Python's datetime and Arrow's text share.
SECONDS = (-62135596800, 253402300799)
UNIT_FACTOR = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
UTC_ZONES = [None, "UTC", "Etc/UTC", "+00:00", "Z"]
OTHER_ZONES = ["Europe/Berlin", "+05:30"]


def integers(kind: pa.DataType) -> st.SearchStrategy[int]:
    bits = kind.bit_width
    if pa.types.is_signed_integer(kind):
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return st.integers(0, 2**bits - 1)


def decimals(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    """Every digit count up to the precision: tiny values are where Arrow writes 1E-10."""
    limit = 10**precision - 1
    small = st.integers(-999, 999)
    return st.one_of(small, st.integers(-limit, limit)).map(lambda n: Decimal(f"{n}E-{scale}"))


def instants(unit: str, seconds: tuple[int, int] = SECONDS) -> st.SearchStrategy[int]:
    """Timestamps in `unit`: any instant, or a whole second (Arrow writes a zero fraction)."""
    factor = UNIT_FACTOR[unit]
    low, high = seconds
    if unit == "ns":  # int64 nanoseconds reach years 1677 to 2262 only
        low, high = -(2**63) // factor + 1, (2**63 - 1) // factor - 1
    whole = st.integers(low, high).map(lambda s: s * factor)
    # Python's datetime holds microseconds: other nanoseconds make the Python path refuse.
    micros = st.integers(low * factor // 1000, high * factor // 1000).map(lambda us: us * 1000)
    return st.one_of(st.integers(low * factor, high * factor), whole, micros)


def timestamp_columns() -> list[tuple[pa.DataType, st.SearchStrategy[Any], pa.DataType]]:
    """(type, values, storage): values are built as `storage` and viewed as the type."""
    return [
        (pa.timestamp(unit, tz=zone), instants(unit), pa.int64())
        for unit in UNIT_FACTOR
        for zone in UTC_ZONES
    ] + [
        # Python writes these: years 1900 to 2099, so that local time is a datetime too.
        (pa.timestamp(unit, tz=zone), instants(unit, (-2208988800, 4102444799)), pa.int64())
        for unit in UNIT_FACTOR
        for zone in OTHER_ZONES
    ]


def column_kinds() -> list[tuple[pa.DataType, st.SearchStrategy[Any], pa.DataType | None]]:
    """(Arrow type, value strategy, storage type to build it from if not the type itself)."""
    ints = [pa.int8(), pa.int16(), pa.int32(), pa.int64()]
    ints += [pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]
    kinds: list[tuple[pa.DataType, st.SearchStrategy[Any], pa.DataType | None]] = [
        (kind, integers(kind), None) for kind in ints
    ]
    kinds += [
        (pa.bool_(), st.booleans(), None),
        (pa.float64(), st.one_of(st.floats(), SPECIAL_FLOATS), None),
        (pa.float32(), st.one_of(st.floats(width=32), SPECIAL_FLOATS), None),
        (pa.float16(), st.one_of(st.floats(width=16), SPECIAL_FLOATS), None),
        *[
            (pa.decimal128(p, s), decimals(p, s), None)
            for p, s in [(12, 2), (38, 10), (38, 0), (20, 10), (5, 2), (9, 9), (38, 37)]
        ],
        (pa.decimal256(50, 20), decimals(50, 20), None),
        (pa.date32(), st.dates(), None),
        (pa.date64(), st.dates(), None),
        (pa.time32("s"), st.integers(0, 86399), pa.int32()),
        (pa.time32("ms"), st.integers(0, 86399999), pa.int32()),
        (
            pa.time64("us"),
            st.one_of(st.integers(0, 86399).map(lambda s: s * 10**6), st.integers(0, 86399999999)),
            pa.int64(),
        ),
        (
            pa.time64("ns"),
            st.one_of(
                st.integers(0, 86399999999).map(lambda us: us * 1000),
                st.integers(0, 86399999999999),
            ),
            pa.int64(),
        ),
        *timestamp_columns(),
        *[
            (pa.duration(unit), st.integers(-(10**9), 10**9).map(lambda n: n * 1000), pa.int64())
            for unit in UNIT_FACTOR
        ],
        (
            pa.month_day_nano_interval(),
            st.tuples(st.integers(-99, 99), st.integers(-99, 99), st.integers(-(10**15), 10**15)),
            None,
        ),
        (pa.string(), TEXT, None),
        (pa.large_string(), TEXT, None),
        (pa.string_view(), TEXT, None),
        (pa.binary(), st.binary(max_size=8), None),
        (pa.large_binary(), st.binary(max_size=8), None),
        (pa.list_(pa.float64()), st.lists(st.one_of(st.none(), SPECIAL_FLOATS), max_size=3), None),
        (
            pa.struct([("k", pa.date32()), ("s", pa.string())]),
            st.fixed_dictionaries({"k": st.one_of(st.none(), st.dates()), "s": TEXT}),
            None,
        ),
        (
            pa.map_(pa.string(), pa.int32()),
            st.lists(st.tuples(TEXT, integers(pa.int32())), max_size=2),
            None,
        ),
    ]
    return kinds


KINDS = column_kinds()


@st.composite
def columns(draw: st.DrawFn, rows: int) -> pa.Array:
    """One column of `rows` values of a drawn type: nulls anywhere, sometimes all, or none."""
    kind, values, storage = draw(st.sampled_from(KINDS + [(pa.null(), st.none(), None)]))
    nulls = draw(st.sampled_from(["none", "some", "all"]))
    if nulls == "all" or kind == pa.null():
        drawn: list[Any] = [None] * rows
    elif nulls == "none":
        drawn = draw(st.lists(values, min_size=rows, max_size=rows))
    else:
        drawn = draw(st.lists(st.one_of(st.none(), values), min_size=rows, max_size=rows))
    if storage is not None:
        return pa.array(drawn, storage).view(kind)
    column = pa.array(drawn, kind)
    if pa.types.is_string(kind) and draw(st.booleans()):
        return column.dictionary_encode()
    return column


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[str], pa.RecordBatch]:
    """A batch of drawn columns under drawn names, sliced somewhere (or not)."""
    rows = draw(st.integers(0, 24))
    count = draw(st.integers(1, 5))
    data = [draw(columns(rows)) for _ in range(count)]
    names = draw(st.lists(TEXT, min_size=count, max_size=count))
    batch = pa.record_batch(data, names=[f"c{i}" for i in range(count)])
    start = draw(st.integers(0, min(3, rows)))
    length = rows - start - draw(st.integers(0, min(3, rows - start)))
    return names, batch.slice(start, length)


def outcome(write: Callable[[], bytes]) -> tuple[str, Any]:
    """The bytes written, or the kind of error raised (both sides must agree on either)."""
    try:
        return "bytes", write()
    except Exception as error:  # noqa: BLE001 - any error must be the same on both sides
        return "error", type(error).__name__


def encoded(encoder: Callable[..., Any], names: list[str], parts: list[pa.RecordBatch]) -> bytes:
    return b"".join(encoder(names, parts[0].schema, parts))


CHECKED = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@CHECKED
@given(case=batches(), end=st.sampled_from([",", "\n"]))
def test_json_objects_write_the_same_bytes_as_before(case, end):
    names, batch = case
    expected = outcome(lambda: reference.json_objects(names, batch, end))
    assert outcome(lambda: serialize.json_objects(names, batch, end)) == expected
    assert outcome(lambda: serialize.rows_json(names, batch)) == outcome(
        lambda: reference.rows_json(names, batch)
    )


@CHECKED
@given(case=batches(), cut=st.integers(0, 24))
def test_every_text_format_writes_the_same_bytes_as_before(case, cut):
    """JSON, NDJSON and CSV over a batch split in two, and over a table of chunks."""
    names, batch = case
    parts = [batch.slice(0, cut), batch.slice(cut)]
    for name in ("json", "ndjson", "csv"):
        new, old = formats.FORMATS[name].encode, getattr(reference, f"encode_{name}")
        assert outcome(lambda: encoded(new, names, parts)) == outcome(  # noqa: B023
            lambda: encoded(old, names, parts)  # noqa: B023
        ), name
    table = pa.Table.from_batches(parts)
    assert outcome(lambda: serialize.rows_json(names, table)) == outcome(
        lambda: reference.rows_json(names, table)
    )


def big_batch(rows: int) -> pa.RecordBatch:
    """A large answer with what each step looks for somewhere in it: whole and non-finite floats,
    text to escape, zero fractions, tiny decimals, and nulls."""
    rng = np.random.default_rng(11)
    floats = np.round(rng.normal(size=rows) * 10.0 ** rng.integers(0, 4, rows)) / 100
    floats[rng.integers(0, rows, 50)] = np.nan
    floats[rng.integers(0, rows, 50)] = np.inf
    mask = rng.random(rows) < 0.05
    seconds = rng.integers(0, 2 * 10**9, rows)
    micros = seconds * 10**6 + np.where(rng.random(rows) < 0.5, 0, rng.integers(0, 10**6, rows))
    words = np.array(["plain", 'say "hi"', "back\\slash", "tab\there", "ctl\x01", "ünï", ""])
    cents = rng.integers(-(10**6), 10**6, rows)
    return pa.record_batch(
        {
            "f": pa.array(floats, mask=mask),
            "f32": pa.array(floats.astype(np.float32)),
            "t": pa.array(words[rng.integers(0, len(words), rows)], mask=mask),
            "ts": pa.array(micros, pa.int64()).view(pa.timestamp("us")),
            "tz": pa.array(micros, pa.int64(), mask=mask).view(pa.timestamp("us", "UTC")),
            "d": pa.array([Decimal(f"{c}E-10") for c in cents], pa.decimal128(20, 10)),
            "i": pa.array(seconds, mask=mask),
            "day": pa.array(seconds // 86400, pa.int32()).view(pa.date32()),
        }
    )


def test_large_answers_in_several_slices_write_the_same_bytes_as_before():
    batch = big_batch(70_000)
    names = batch.schema.names
    for name in ("json", "ndjson", "csv"):
        new, old = formats.FORMATS[name].encode, getattr(reference, f"encode_{name}")
        assert encoded(new, names, [batch]) == encoded(old, names, [batch]), name
    part = batch.slice(12_345, 40_000)
    assert serialize.json_objects(names, part) == reference.json_objects(names, part)
