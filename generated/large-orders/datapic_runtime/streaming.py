"""The body of a /get_data answer, encoded batch by batch as it is sent, so no encoded answer
is held whole (the engine has read the Arrow answer whole by then, in memory within a budget
or in a temporary file, and freed its query slot: see query.py).

The pod asks the engine for limit + 1 rows, so whether more rows follow the page is known
from the answer's row count before the headers go out, however large the page. A last page
whose Arrow data is under WHOLE_BODY_BYTES is encoded at once and sent with a Content-Length;
any other page is streamed.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import anyio
import pyarrow as pa
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .answer import Answer
from .errors import PodError, first_line
from .formats import Format
from .metrics import Outcome
from .requestlog import Exchange

# Arrow data under which a whole answer is sent in one piece: streaming it would only add a
# worker-thread hop per chunk to the many small answers (reductions, selective projections).
WHOLE_BODY_BYTES = 2**20


class AnswerBroken(Exception):
    """An answer failed after its first bytes went out: the connection must be cut, so the
    client cannot take a truncated body for a whole one (details are in the pod's log)."""


class AnswerBody:
    """The body of one answer: its first chunk is encoded here, before any header goes out, so
    that errors up to then are clean JSON answers; the rest is encoded while it is sent.

    Iterated once (in the threadpool), or read whole (`read_whole`, then `end`). Whatever ends
    it - the last byte, a failure, the client going away, or a response never sent - releases
    the engine's answer and logs the request, once. `more` says whether rows follow the page,
    `whole` that it is small enough to be read whole.
    """

    def __init__(self, answer: Answer, format: Format, limit: int, exchange: Exchange) -> None:
        self._answer, self._exchange = answer, exchange
        self.ended = False
        self._generator: Iterator[bytes] | None = None
        batches = iter(answer.batches)
        self.more = answer.rows > limit
        exchange.more = self.more
        # A small last page goes whole, with a Content-Length; the others are streamed.
        head, size = (
            (collections.deque(), 0)
            if self.more
            else _look_ahead(batches, answer.rows, answer.nbytes)
        )
        self.whole = not self.more and size < WHOLE_BODY_BYTES
        rows = self._page_rows(head, batches, limit)
        # A pod answering every column (`select: "*"`) names them as the table does now.
        columns = exchange.config.columns or tuple(answer.schema.names)
        self._chunks = format.encode(columns, answer.schema, rows)
        try:
            # An encoder may yield nothing at all (ndjson for no rows): an empty body, not a
            # StopIteration escaping into the server.
            self._first = next(self._chunks, b"")
        except pa.ArrowNotImplementedError as exc:
            raise PodError(
                406,
                f"this answer cannot be written as {format.name} "
                f"({first_line(exc) or type(exc).__name__}); ask for another format",
            ) from None

    def _page_rows(
        self, head: collections.deque[pa.RecordBatch], rest: Iterator[pa.RecordBatch], limit: int
    ) -> Iterator[pa.RecordBatch]:
        """The page's batches: the looked-ahead ones, then the stream, cut after `limit` rows."""
        left = limit
        while left > 0:
            if head:
                batch = head.popleft()  # popped: a sent batch is not kept alive by the deque
            else:
                batch = next(rest, None)
                if batch is None:
                    return
            if batch.num_rows > left:
                batch = batch.slice(0, left)
            left -= batch.num_rows
            self._exchange.rows += batch.num_rows
            yield batch

    def read_whole(self) -> bytes:
        """The whole body at once (for a `whole` answer): a failure is still a clean error. The
        answer is released here; the request ends with `end`, once the body has gone out."""
        content = self._first + b"".join(self._chunks)
        self._exchange.sent(content)
        self._release()
        return content

    def __iter__(self) -> Iterator[bytes]:
        self._generator = self._generate()
        return self._generator

    def _generate(self) -> Iterator[bytes]:
        outcome, error = Outcome.DISCONNECTED, None  # unless the loop below gets to its end
        try:
            self._exchange.sent(self._first)
            yield self._first
            for chunk in self._chunks:
                if chunk:
                    self._exchange.sent(chunk)
                    yield chunk
            outcome = Outcome.COMPLETE
        except Exception as exc:
            outcome, error = Outcome.FAILED, self._exchange.failure(exc).message
            raise AnswerBroken(f"answer cut after {self._exchange.bytes_sent} bytes") from None
        finally:
            self._end(outcome, error)

    def _release(self) -> None:
        try:
            self._chunks.close()
        finally:
            self._answer.close()

    def _end(self, outcome: str, error: str | None) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self._release()
        finally:
            self._exchange.end(200, outcome, error)

    def end(self, outcome: str) -> None:
        """End a body read whole: it went out (`Outcome.COMPLETE`), or sending it was cut."""
        self._end(outcome, None)

    def end_unsent(self) -> None:
        """End an answer whose body is not sent (HEAD): all that was asked went out."""
        self._end(Outcome.COMPLETE, None)

    def close(self) -> None:
        """End the answer wherever it stands (idempotent)."""
        if self._generator is not None:
            try:
                self._generator.close()
            except ValueError:  # still running in a worker thread: it ends itself
                return
        self._end(Outcome.DISCONNECTED, None)


def _look_ahead(
    batches: Iterator[pa.RecordBatch], rows: int, total: int | None = None
) -> tuple[collections.deque[pa.RecordBatch], int]:
    """The batches holding the page's first `rows` rows, read while their Arrow size stays
    under WHOLE_BODY_BYTES, and that size (WHOLE_BODY_BYTES or more: the page is streamed).
    `total`: the Arrow size of all the batches, if known; under WHOLE_BODY_BYTES, so is every
    part of it, and no batch is measured (RecordBatch.nbytes walks its buffers)."""
    head: collections.deque[pa.RecordBatch] = collections.deque()
    small = total is not None and total < WHOLE_BODY_BYTES
    seen = size = 0
    for batch in batches:
        head.append(batch)
        seen += batch.num_rows
        if not small:
            size += batch.nbytes
        if seen >= rows or size >= WHOLE_BODY_BYTES:
            break
    return head, total if small else size


class WholeResponse(Response):
    """A body read whole, sent with its Content-Length; its request ends (its log line and
    metrics) once the body has gone out, so the client does not wait for them, and the time
    logged runs to the last byte, as for a streamed answer. Ended on the event loop, with no
    await after the send: the server takes the connection's next request only after this, so
    /metrics asked right after an answer always counts it (and a hop to a thread would cost
    more than ending takes)."""

    def __init__(self, body: AnswerBody, content: bytes, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = Outcome.DISCONNECTED
        try:
            await super().__call__(scope, receive, send)
            outcome = Outcome.COMPLETE
        finally:
            self._body.end(outcome)


class ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that always ends its body, also when the client went away (Starlette
    then cancels the sending task and leaves the iterator as it stands)."""

    def __init__(self, body: AnswerBody, **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._body.ended:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._body.close)
