"""What the engine answers: a page asked for, the answer as a stream of Arrow batches, and what
answering cost."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from .errors import int64_overflow

# DuckDB's 128-bit integers: SUM of integers gives one, which Arrow would carry as
# decimal128(38, 0) and pandas or polars read as Decimal objects.
_WIDE_INTEGERS = {"HUGEINT", "UHUGEINT"}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


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


def int64_results(
    relation: duckdb.DuckDBPyRelation, columns: Sequence[str]
) -> duckdb.DuckDBPyRelation:
    """`relation` with its 128-bit integer columns narrowed to BIGINT, so that an integer result
    is an int64 in every format; a value beyond int64 fails the query with a message naming the
    column (by its name in `columns`, the pod's), never a silently different type."""
    types = [str(t) for t in relation.types]
    if not _WIDE_INTEGERS.intersection(types):
        return relation
    outputs = [
        _narrowed(position, columns[position - 1]) if kind in _WIDE_INTEGERS else f"#{position}"
        for position, kind in enumerate(types, start=1)
    ]
    aliases = (_quoted_identifier(name) for name in relation.columns)
    return relation.project(", ".join(f"{o} AS {a}" for o, a in zip(outputs, aliases, strict=True)))


def _narrowed(position: int, column: str) -> str:
    """The position-th column as BIGINT; DuckDB's own failed cast would name neither the pod's
    column nor what overflowed."""
    message = "'" + int64_overflow(column).replace("'", "''") + "'"
    return (
        f"CASE WHEN #{position} NOT BETWEEN {_INT64_MIN} AND {_INT64_MAX}"
        f" THEN error({message}) ELSE CAST(#{position} AS BIGINT) END"
    )


def _quoted_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
