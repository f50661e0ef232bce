"""Answers kept in memory: an identical request under an unchanged snapshot is not recomputed.

Keyed by (snapshot id, parameter values, page): a commit gives a new snapshot id, so a stale
entry is never served; it only ages out. Bounded by entries and bytes, least recently used
first out; an answer larger than a share of the budget is not kept at all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

DEFAULT_ENTRIES = 256
DEFAULT_BYTES = 64 * 2**20
# One answer may take at most this share of the budget, so a few big answers cannot evict
# every small one.
_LARGEST_SHARE = 4


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete answer, as it was streamed the first time."""

    schema: pa.Schema
    batches: tuple[pa.RecordBatch, ...]
    nbytes: int


def answer_key(snapshot_id: int | None, values: Mapping[str, Any], page: Any) -> Hashable:
    """The cache key of a request; each value's type is part of it (1, 1.0 and True differ)."""
    typed = tuple(sorted((name, type(v).__name__, v) for name, v in values.items()))
    return (snapshot_id, typed, page)


class ResultCache:
    """A thread-safe LRU of complete answers, bounded by count and by Arrow bytes."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, CachedAnswer] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def largest(self) -> int:
        """The size in bytes beyond which an answer is not kept."""
        return self.max_bytes // _LARGEST_SHARE

    def get(self, key: Hashable) -> CachedAnswer | None:
        """The answer stored under `key`, now the most recently used; None if absent."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: CachedAnswer) -> None:
        """Keep `entry`, evicting the least recently used until the bounds hold."""
        if entry.nbytes > self.largest or self.max_entries < 1:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous.nbytes
            self._entries[key] = entry
            self._bytes += entry.nbytes
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
