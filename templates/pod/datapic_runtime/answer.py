"""What the engine answers: a page asked for, the answer as a stream of Arrow batches, and what
answering cost."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

# DuckDB types that Arrow carries as decimal128(38, 0) but that are integers (SUM of INTEGER).
_WIDE_INTEGERS = {"HUGEINT", "UHUGEINT"}


@dataclass(frozen=True, slots=True)
class Page:
    """A slice of an answer: rows [offset, offset + limit) of the answer at `snapshot_id`.

    Pinning the snapshot keeps the pages of one answer consistent while the table changes.
    """

    offset: int
    limit: int
    snapshot_id: int | None = None


@dataclass(frozen=True, slots=True)
class ScanStats:
    """What answering cost: for the request log line and /metrics."""

    files_planned: int = 0  # data files the scan kept after pruning
    files_pruned: int = 0  # data files of the snapshot that pruning ruled out
    bytes_planned: int = 0  # on-storage size of the kept files
    cache: str = "off"  # "hit", "miss" or "off" (result cache)


@dataclass(frozen=True, slots=True)
class Answer:
    """A query's result as a stream of Arrow batches, and where it came from.

    `batches` may hold a DuckDB cursor and a query slot: consume it to the end or call `close()`.
    """

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    # Columns that Arrow carries as decimal128(38, 0) but are integers (SUM of INTEGER).
    wide_integers: frozenset[int]
    snapshot_id: int | None
    stats: ScanStats = ScanStats()
    # How old the table state it was read from is: of the freshness bound, caches may only
    # keep it for what is left.
    state_age_seconds: float = 0.0

    def close(self) -> None:
        """Release what the stream holds, when a client stops reading early."""
        close = getattr(self.batches, "close", None)
        if close is not None:
            close()


def wide_integers(relation: duckdb.DuckDBPyRelation) -> frozenset[int]:
    """The columns of `relation` that Arrow carries as decimal128(38, 0) but are integers."""
    return frozenset(i for i, t in enumerate(relation.types) if str(t) in _WIDE_INTEGERS)


class BatchStream:
    """An answer's batches straight from DuckDB; releases its cursor and slot when exhausted,
    closed or collected, and offers the complete answer to the result cache if it is small."""

    def __init__(
        self,
        reader: pa.RecordBatchReader,
        release: Callable[[], None],
        keep: Callable[[list[pa.RecordBatch]], None] | None = None,
        keep_limit: int = 0,
    ) -> None:
        self._reader = reader
        self._release: Callable[[], None] | None = release
        self._keep = keep
        self._keep_limit = keep_limit
        self._kept: list[pa.RecordBatch] | None = [] if keep else None
        self._kept_bytes = 0
        self._lock = threading.Lock()
        self._ahead: list[pa.RecordBatch] = []

    def prefetch(self) -> None:
        """Read the first batch now, so that reading failures surface before streaming starts."""
        try:
            self._ahead.append(self._reader.read_next_batch())
        except StopIteration:
            self._finish()
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        if self._ahead:
            batch = self._ahead.pop()
        elif self._release is None:
            raise StopIteration
        else:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                self._finish()
                raise
            except BaseException:
                self.close()
                raise
        self._remember(batch)
        return batch

    def _remember(self, batch: pa.RecordBatch) -> None:
        if self._kept is None:
            return
        self._kept_bytes += batch.nbytes
        if self._kept_bytes > self._keep_limit:
            self._kept = None  # too big to cache: stop holding it
        else:
            self._kept.append(batch)

    def _finish(self) -> None:
        kept = self._kept
        self.close()
        if kept is not None and self._keep is not None and not self._ahead:
            self._keep(kept)

    def close(self) -> None:
        """Release the cursor and the query slot (once)."""
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()

    def __del__(self) -> None:
        # A stream dropped unread (a client gone) must still give back its query slot.
        with contextlib.suppress(Exception):
            self.close()
