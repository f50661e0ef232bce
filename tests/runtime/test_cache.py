"""datapic_runtime.cache: the bounded, least-recently-used result cache."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
from datapic_runtime.cache import CachedAnswer, ResultCache, answer_key


def entry(nbytes: int) -> CachedAnswer:
    batch = pa.record_batch({"a": [1]})
    return CachedAnswer(batch.schema, (batch,), nbytes)


def test_the_least_recently_used_answer_leaves_first():
    cache = ResultCache(max_entries=2, max_bytes=1000)
    cache.put("a", entry(10))
    cache.put("b", entry(10))
    assert cache.get("a") is not None  # now "b" is the least recently used
    cache.put("c", entry(10))
    assert cache.get("b") is None and cache.get("a") and cache.get("c")
    assert len(cache) == 2


def test_bytes_are_bounded_and_huge_answers_are_not_kept():
    cache = ResultCache(max_entries=100, max_bytes=1000)
    for key in "abcdef":
        cache.put(key, entry(200))
    held = sum(e.nbytes for e in map(cache.get, "abcdef") if e is not None)
    assert held <= 1000 and cache.get("a") is None and cache.get("f")
    cache.put("huge", entry(cache.largest + 1))
    assert cache.get("huge") is None


def test_keys_tell_apart_snapshots_values_types_and_pages():
    values = {"since": dt.date(2024, 1, 1), "min": Decimal("1.5"), "r": "EMEA"}
    key = answer_key(1, values, None)
    assert key == answer_key(1, dict(reversed(list(values.items()))), None)
    assert key != answer_key(2, values, None)
    assert key != answer_key(1, {**values, "r": "APAC"}, None)
    assert key != answer_key(1, values, (0, 10))
    assert answer_key(1, {"x": 1}, None) != answer_key(1, {"x": True}, None)
    assert answer_key(1, {"x": 1}, None) != answer_key(1, {"x": 1.0}, None)
