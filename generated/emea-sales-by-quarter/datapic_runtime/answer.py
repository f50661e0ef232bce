"""What the engine answers: a page asked for, the answer as a stream of Arrow batches, and what
answering cost."""

from __future__ import annotations

import collections
import contextlib
import tempfile
import threading
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .errors import PodError, int64_overflow
from .limits import MemoryBudget

# DuckDB's 128-bit integers: SUM of integers gives one, which Arrow would carry as
# decimal128(38, 0) and pandas or polars read as Decimal objects.
_WIDE_INTEGERS = {"HUGEINT", "UHUGEINT"}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Statement shapes whose narrowed text is kept (a pod has a handful: one per kind of plan).
_NARROWED_SHAPES = 256
# DuckDB's one step from a statement and its values to Arrow batches, which its relations use:
# the public DB-API path (execute, then to_arrow_reader) reads the rows back through a second
# statement, ~0.5 ms a request, and warns about that copy; the relation API binds twice. The
# pod pins its DuckDB (requirements.txt) and a test checks this step is there; a DuckDB
# without it gets the DB-API path, its warning ignored.
try:
    from duckdb._seam import submit as _submit
except ImportError:  # pragma: no cover - another DuckDB than the pinned one
    _submit = None
warnings.filterwarnings(
    "ignore", message="Arrow output on a DB-API result makes an extra copy", category=UserWarning
)


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

    `batches` may hold memory of the answer budget and a temporary file: consume it to the end
    or call `close()`.
    """

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    rows: int  # in all: every answer is read whole before its first byte is sent
    snapshot_id: int | None
    stats: ScanStats = ScanStats()
    # How old the table state it was read from is: of the freshness bound, caches may only
    # keep it for what is left.
    state_age_seconds: float = 0.0
    nbytes: int | None = None  # Arrow bytes of all the batches, when known

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


class Statements:
    """Runs the engine's statements, each parsed and bound once per request. Which of a
    statement's columns are 128-bit integers (narrowed as `int64_results` narrows them) is
    worked out by binding the first statement of each shape, then kept; the narrowing itself
    is done on the Arrow batches, not by a SELECT around the statement, which DuckDB would
    have to plan again on every request. The caller's shape must hold all that decides the
    output types: the statement's text but for its page bounds (file lists and values are
    parameters), the types of the columns the plan reads and those of the values."""

    def __init__(self, max_shapes: int = _NARROWED_SHAPES) -> None:
        self.max_shapes = max_shapes
        self._wide: dict[Hashable, tuple[tuple[int, str], ...]] = {}
        self._lock = threading.Lock()

    def run(
        self,
        cursor: duckdb.DuckDBPyConnection,
        sql: str,
        params: Mapping[str, object],
        shape: Hashable,
        columns: Sequence[str],
        batch_rows: int,
    ) -> pa.RecordBatchReader:
        """The answer of `sql` with its 128-bit integer columns narrowed, as Arrow batches;
        `columns` are the pod's names of its output columns (empty: DuckDB's own)."""
        with self._lock:
            wide = self._wide.get(shape)
        if wide is None:
            wide = wide_columns(cursor.sql(sql, params=dict(params) or None), columns)
            with self._lock:
                if len(self._wide) >= self.max_shapes:
                    self._wide.clear()
                self._wide[shape] = wide
        reader = arrow_answer(cursor, sql, dict(params) or None, batch_rows)
        return narrowed(reader, wide) if wide else reader


def arrow_answer(
    cursor: duckdb.DuckDBPyConnection,
    sql: str,
    params: dict[str, object] | None,
    batch_rows: int,
) -> pa.RecordBatchReader:
    """`sql`'s answer with `params` bound, as Arrow batches of at most `batch_rows` rows. Read
    whole before it is returned (a page, bounded by max_page_size), as `execute` reads it:
    DuckDB's failures then keep their types, which a streamed reader turns into OSError."""
    if _submit is None:
        cursor.execute(sql, params)
        return cursor.to_arrow_reader(batch_rows)
    table = _submit(cursor, sql, params, "arrow", batch_rows).arrow_table()
    return table.to_reader(max_chunksize=batch_rows)


def wide_columns(
    relation: duckdb.DuckDBPyRelation, columns: Sequence[str]
) -> tuple[tuple[int, str], ...]:
    """The positions of `relation`'s 128-bit integer columns, with the names an overflow error
    gives them (the pod's, from `columns`, else DuckDB's)."""
    names = columns or relation.columns
    kinds = (str(t) for t in relation.types)
    return tuple((i, names[i]) for i, kind in enumerate(kinds) if kind in _WIDE_INTEGERS)


def narrowed(reader: pa.RecordBatchReader, wide: Sequence[tuple[int, str]]) -> pa.RecordBatchReader:
    """`reader`'s batches with the `wide` columns (DuckDB gives them as decimal128(38, 0)) as
    int64; a value beyond int64 fails the answer with a 422 naming the column, never a
    silently different type."""
    schema = reader.schema
    for position, _ in wide:
        schema = schema.set(position, schema.field(position).with_type(pa.int64()))

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            arrays = batch.columns
            for position, column in wide:
                try:
                    arrays[position] = arrays[position].cast(pa.int64())
                except pa.ArrowInvalid:
                    raise PodError(422, int64_overflow(column)) from None
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


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


class SpooledAnswer:
    """An answer read whole from DuckDB, so that its query slot and cursor are free before the
    first byte is sent: batches stay in memory while the pod's answer budget allows, the rest
    goes to an anonymous temporary Arrow IPC stream file, read back as the client takes it.

    Iterated once; `close()` (or the end of the iteration, or collection) gives the memory
    back to the budget and deletes the file.
    """

    def __init__(
        self, reader: pa.RecordBatchReader, budget: MemoryBudget, spill: MemoryBudget
    ) -> None:
        self.schema = reader.schema
        self.batches: collections.deque[pa.RecordBatch] = collections.deque()  # head, in memory
        # Their sizes: RecordBatch.nbytes walks every buffer (tens of microseconds a batch).
        self._sizes: collections.deque[int] = collections.deque()
        self.nbytes = 0  # Arrow bytes of the whole answer
        self.rows = 0  # rows of the whole answer
        self._budget, self._spill = budget, spill
        self._held = 0  # bytes taken from the budget
        self._spilled_bytes = 0  # bytes taken from the spill budget
        self._file: Any = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._spilled: pa.RecordBatchStreamReader | None = None  # the file, read back
        self._lock = threading.Lock()
        self._closed = False
        try:
            for batch in reader:
                self._add(batch)
            if self._writer is not None:
                self._writer.close()
                self._file.seek(0)
        except BaseException:
            self.close()
            raise

    @property
    def spilled(self) -> bool:
        """Whether part of the answer lies in the temporary file."""
        return self._file is not None

    def _add(self, batch: pa.RecordBatch) -> None:
        size = batch.nbytes
        self.nbytes += size
        self.rows += batch.num_rows
        if self._writer is None and self._budget.take(size):
            self._held += size
            self.batches.append(batch)
            self._sizes.append(size)
            return
        if not self._spill.take(size):
            raise PodError(
                503,
                "the pod holds too many large answers that clients have not read yet; "
                "retry shortly",
                {"Retry-After": "5"},
            )
        self._spilled_bytes += size
        if self._writer is None:  # over budget: this batch and every later one go to disk
            self._file = tempfile.TemporaryFile(prefix="datapic-answer-")  # noqa: SIM115 - close()
            self._writer = pa.ipc.new_stream(self._file, self.schema)
        self._writer.write_batch(batch)

    def _give_back(self, nbytes: int) -> None:
        with self._lock:
            nbytes = min(nbytes, self._held)
            self._held -= nbytes
        self._budget.give(nbytes)

    def __iter__(self) -> SpooledAnswer:
        return self

    def __next__(self) -> pa.RecordBatch:
        # No generator: it would hold the answer in a reference cycle, and an answer dropped
        # unread would keep its memory and file until the cycle collector ran.
        if self.batches:
            batch = self.batches.popleft()
            sizes = self._sizes  # emptied by a close() meanwhile: nothing is held any more
            self._give_back(sizes.popleft() if sizes else 0)
            return batch
        if self._spilled is None and self._file is not None and not self._closed:
            self._spilled = pa.ipc.open_stream(self._file)
        if self._spilled is not None and not self._closed:
            try:
                return self._spilled.read_next_batch()
            except StopIteration:
                pass
        self.close()
        raise StopIteration

    def close(self) -> None:
        """Give back the memory and delete the file (once)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            held, self._held = self._held, 0
            spilled, self._spilled_bytes = self._spilled_bytes, 0
            file, self._file = self._file, None
        self.batches, self._sizes = collections.deque(), collections.deque()
        self._budget.give(held)
        self._spill.give(spilled)
        if file is not None:
            with contextlib.suppress(Exception):
                file.close()

    def __del__(self) -> None:
        # An answer dropped unread (a client gone) must still give back its memory.
        with contextlib.suppress(Exception):
            self.close()
