"""A pod that reads another pod: its query runs in DuckDB over the upstream's answer.

The upstream's answer is kept per passed-through parameter values (upstream.py reads it):
within the pod's freshness_seconds it is reused without a call; after, it is revalidated with
its ETag, and a 304 keeps it another freshness period. The kept answers share the result
cache's byte budget (least recently used out first). The data version of an answer (in its
ETag, its page tokens and the result cache's key) is the upstream's ETag, so a commit upstream
is a new version here once this pod's freshness has passed.

Pages of one answer are read from one upstream version: a page token naming a version no longer
kept is a 410 (start again), as for a table snapshot that expired.
"""

from __future__ import annotations

import collections
import hashlib
import re
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .answer import Answer, Page, ScanStats, SpooledAnswer, int64_results
from .cache import CachedAnswer, ResultCache, answer_key
from .config import PodConfig, UpstreamSpec
from .database import TIME_ZONE
from .errors import PodError
from .limits import Limits, MemoryBudget, QuerySlots, load_limits
from .ordering import PagedQuery, paged_query
from .query import BATCH_ROWS
from .upstream import UpstreamClient, upstream_url

check_upstream_configured: Callable[[UpstreamSpec], str] = upstream_url
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Kept:
    """An upstream answer as read, the ETag it came with and when it was last confirmed."""

    table: pa.Table
    etag: str | None
    version: int
    checked_at: float


def version_of(etag: str | None, table: pa.Table) -> int:
    """A data version (63-bit, as snapshot ids are) from the upstream's ETag, else its rows."""
    digest = hashlib.sha256((etag or "").encode())
    if etag is None:  # an upstream without ETags: the answer itself is the version
        for batch in table.to_batches():
            for column in batch.columns:
                for buffer in column.buffers():
                    if buffer is not None:
                        digest.update(buffer)
    return int.from_bytes(digest.digest()[:8], "big") >> 1


class _Flight:
    """A call to the upstream in flight for some values: its outcome, shared with the requests
    that wait for it (single flight, as for the table's reloads in query.py)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.kept: Kept | None = None
        self.error: BaseException | None = None

    def outcome(self) -> Kept:
        """The kept answer once the call ended (bounded by the client's timeouts), or its error
        raised."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.kept is not None
        return self.kept


class UpstreamAnswers:
    """The kept upstream answers, by passed-through values; one call at a time per values,
    whose outcome every request waiting for those values shares (so a slow upstream holds
    them for one timeout, not one each)."""

    def __init__(
        self, client: UpstreamClient, freshness: float, max_bytes: int, clock: Callable[[], float]
    ) -> None:
        self.client, self.freshness, self.max_bytes = client, freshness, max_bytes
        self.clock = clock
        self._kept: collections.OrderedDict[Hashable, Kept] = collections.OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._lock = threading.Lock()

    def get(self, values: Mapping[str, Any]) -> Kept:
        """The upstream's answer for `values`: kept while fresh, else revalidated or read."""
        key = answer_key(None, {n: values.get(n) for n in self.client.spec.parameters}, None)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                if self.clock() - kept.checked_at < self.freshness:
                    return kept
            flight = self._flights.get(key)
            mine = flight is None
            if mine:
                flight = self._flights[key] = _Flight()
        if not mine:
            return flight.outcome()
        try:
            flight.kept = self._refreshed(key, kept, values)
            return flight.kept
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def _refreshed(self, key: Hashable, kept: Kept | None, values: Mapping[str, Any]) -> Kept:
        """`kept` confirmed by a 304, or the upstream's answer read again; kept either way."""
        fetched = self.client.fetch(values, kept.etag if kept else None)
        now = self.clock()
        if fetched.table is None and kept is not None:  # 304: still the same answer
            fresh = Kept(kept.table, kept.etag, kept.version, now)
        else:
            fresh = Kept(fetched.table, fetched.etag, version_of(fetched.etag, fetched.table), now)
        with self._lock:
            self._kept[key] = fresh
            self._kept.move_to_end(key)
            # The least recently used out until the budget holds; the newest always stays.
            while len(self._kept) > 1 and self._bytes() > self.max_bytes:
                self._kept.popitem(last=False)
        return fresh

    def _bytes(self) -> int:
        return sum(kept.table.nbytes for kept in self._kept.values())


class DownstreamEngine:
    """Answers a downstream pod's query: the QueryEngine's interface, over the upstream."""

    def __init__(
        self,
        config: PodConfig,
        url: str,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.limits = limits or load_limits()
        self.slots = QuerySlots(self.limits.max_concurrent_queries, self.limits.queue_seconds)
        self.answer_memory = MemoryBudget(self.limits.answer_memory_bytes)
        self.spill_space = MemoryBudget(self.limits.spill_bytes)
        types = {p.name: p.type for p in config.parameters}
        budget = self.limits.result_cache_bytes
        client = UpstreamClient(config.upstream, url, types, max_bytes=budget)
        self.upstream = UpstreamAnswers(client, config.freshness_seconds, budget, clock)
        self.results = ResultCache(max_bytes=budget) if config.result_cache else None
        self._used = set(_PARAMETER.findall(config.sql)) & set(types)
        self._clock = clock
        self._connection = _database(self.limits)
        self._paged: PagedQuery | None = None
        self._paged_count = 0

    def version(self, values: Mapping[str, Any], page: Page | None) -> tuple[int, float]:
        """The upstream answer's version this request would be answered from, and its age."""
        kept = self.upstream.get(values)
        return kept.version, max(0.0, self._clock() - kept.checked_at)

    def ready(self) -> None:
        """Ready once started: the upstream is asked when a request needs it, not by probes."""
        return None

    def answer(self, values: Mapping[str, Any], page: Page | None = None) -> Answer:
        """The query's answer for these typed values over the upstream's answer for them."""
        kept = self.upstream.get(values)
        if page is not None and page.snapshot_id not in (None, kept.version):
            raise PodError(410, "page expired: the upstream's answer changed; start again")
        if page is not None:
            page = Page(page.offset, page.limit, kept.version)
        key = answer_key(kept.version, values, page)
        age = max(0.0, self._clock() - kept.checked_at)
        cached = self.results.get(key) if self.results is not None else None
        if cached is not None:
            rows = sum(batch.num_rows for batch in cached.batches)
            stats = ScanStats(cache="hit")
            return Answer(cached.schema, iter(cached.batches), rows, kept.version, stats, age)
        slot = self.slots.acquire()
        try:
            spooled = self._read(kept.table, values, page)
        finally:
            slot.release()
        if self.results is not None and not spooled.spilled:
            entry = CachedAnswer(spooled.schema, tuple(spooled.batches), spooled.nbytes)
            self.results.put(key, entry)
        stats = ScanStats(cache="miss" if self.results is not None else "off")
        return Answer(spooled.schema, spooled, spooled.rows, kept.version, stats, age)

    def _read(self, table: pa.Table, values: Mapping[str, Any], page: Page | None) -> SpooledAnswer:
        cursor = self._connection.cursor()
        try:
            cursor.register("source", table)
            sql = self.config.sql
            if page is not None:
                # `select: "*"` over an upstream answering every column: as many as it has.
                count = len(self.config.columns) or table.num_columns
                if self._paged is None or self._paged_count != count:
                    self._paged = paged_query(sql, count, cursor)
                    self._paged_count = count
                sql = self._paged.sql(page.offset, page.limit)
            params = {name: value for name, value in values.items() if name in self._used}
            relation = cursor.sql(sql, params=params or None)
            relation = int64_results(relation, self.config.columns or relation.columns)
            reader = relation.to_arrow_reader(BATCH_ROWS)
            try:
                return SpooledAnswer(reader, self.answer_memory, self.spill_space)
            finally:
                reader.close()
        finally:
            cursor.close()


def _database(limits: Limits) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads no file, network or extension: only registered Arrow."""
    connection = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    connection.execute(f"SET GLOBAL TimeZone = '{TIME_ZONE}'")
    connection.execute(f"SET GLOBAL threads = {int(limits.duckdb_threads)}")
    connection.execute(f"SET GLOBAL memory_limit = '{limits.duckdb_memory_limit}'")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection
