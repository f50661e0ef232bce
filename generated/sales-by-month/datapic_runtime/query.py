"""Answering the pod's query: the catalog says where the data is, DuckDB computes the answer.

Per request: a fresh-enough table (reloaded after `freshness_seconds`, or when its storage
credentials lapse), the snapshot to answer from, a result-cache lookup, a query slot, the
planned files (cached per snapshot and row filter), then one DuckDB cursor reading those files
(source.py), and the answer read whole as Arrow batches (answer.SpooledAnswer).

The query slot covers running the query and nothing after: the answer is read to its end while
the slot is held, then the slot and cursor are released before the first byte is sent. A client
that reads slowly, or never, holds only its own answer: in memory within a budget shared by all
answers in transfer (Limits.answer_memory_bytes, an eighth of the container's memory at most),
beyond it in an anonymous temporary file. An answer is one page (at most max_page_size + 1 rows),
which bounds each file; on Cloud Run /tmp is itself memory, so the files of all answers together
are bounded too (Limits.spill_bytes, a quarter of the container's memory): past it, a 503. The
alternative, streaming from DuckDB under a separate transfer limit, would keep a cursor, its
memory and a thread's work tied to the network's pace, and its limit would still fill up with
stalled clients.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.table import Table

from .answer import Answer, Page, ScanStats, SpooledAnswer, Statements
from .cache import CachedAnswer, ResultCache, answer_key
from .catalog import CatalogClient
from .config import PodConfig
from .database import Database
from .errors import PodError, storage_denied
from .limits import Limits, MemoryBudget, QuerySlots, Slot, load_limits, size_pyiceberg_pool
from .ordering import PagedQuery, paged_query
from .plan import Plan, PlanCache, snapshot_of
from .source import parameter_prefix, read_planned, with_source
from .texts import PlanStatement, PlanTexts, column_types

log = logging.getLogger("datapic.pod")

# Rows per Arrow batch of an answer: small enough to stream, large enough to be cheap.
BATCH_ROWS = 65_536
# While the table is being reloaded, other requests answer from the current state until it is
# this many freshness periods past its bound (then they wait for the reload).
FRESHNESS_GRACE = 1.0
# Plans whose files a table state's database is known to allow (as many as the plan cache).
_COVERED_PLANS = 128
# How DuckDB says a file it was asked to read does not exist.
_MISSING_FILE = "No files found that match"


@dataclass
class _TableState:
    """The table as last loaded, and the DuckDB database that reads its files."""

    table: Table
    loaded_at: float
    valid_until: float
    database: Database | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Plans (by id, held so the id stays theirs) whose files the database was found to
    # allow: checking every file's prefix again costs tens of microseconds a request.
    covered: dict[int, Plan] = field(default_factory=dict)
    # The table's current snapshot (pyiceberg looks it up in the metadata each time).
    current_snapshot_id: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.current_snapshot_id = snapshot_of(self.table, None)

    def snapshot_id(self, pinned: int | None) -> int | None:
        """The snapshot to answer from: `pinned` if the table still has it, else the current."""
        return self.current_snapshot_id if pinned is None else snapshot_of(self.table, pinned)

    @property
    def storage_key(self) -> tuple:
        """What the database depends on: where the files are and how storage is reached."""
        return (self.table.location(), tuple(sorted(self.table.io.properties.items())))

    def database_for(self, plan: Plan, limits: Limits) -> Database:
        """A database allowed to read every file of `plan` (rebuilt if one lies elsewhere)."""
        with self.lock:
            if self.covered.get(id(plan)) is plan and self.database is not None:
                return self.database
            if self.database is None or not self.database.covers(plan.duckdb_files):
                previous = self.database.prefixes if self.database else ()
                self.database = Database(self.table, limits, plan.duckdb_files, previous)
                self.covered.clear()  # a new database: what it allows is checked again
            if len(self.covered) >= _COVERED_PLANS:
                self.covered.clear()
            self.covered[id(plan)] = plan
            return self.database


class _Reload:
    """A reload of the table in flight: its outcome, shared with the requests that wait."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.state: _TableState | None = None
        self.error: BaseException | None = None

    def outcome(self) -> _TableState:
        """The reloaded state once the reload ended, or its error raised."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.state is not None
        return self.state


def _usable(state: _TableState, now: float, age: float) -> bool:
    """Whether `state` may answer at `now`: younger than `age`, its storage access valid."""
    return now - state.loaded_at < age and now < state.valid_until


def _worth_a_reload(exc: BaseException) -> bool:
    """Whether a freshly loaded table may answer where this state failed: storage refused its
    credentials (vended ones lapse, pyiceberg never renews them), or the sandbox of a stale
    database refused a planned file outside its allowed directories."""
    return storage_denied(exc) or isinstance(exc, duckdb.PermissionException)


class QueryEngine:
    """Per-process state of a pod: the catalog client and what is cached between requests."""

    def __init__(
        self,
        config: PodConfig,
        catalog_factory: Callable[[str], Catalog] = load_catalog,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_catalog_load: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.catalog = CatalogClient(
            config.source.catalog, catalog_factory, on_load=on_catalog_load
        )
        self.limits = limits or load_limits()
        size_pyiceberg_pool(self.limits.cpus)
        self.slots = QuerySlots(self.limits.max_concurrent_queries, self.limits.queue_seconds)
        self.answer_memory = MemoryBudget(self.limits.answer_memory_bytes)
        self.spill_space = MemoryBudget(self.limits.spill_bytes)
        self.plans = PlanCache()
        self.results = (
            ResultCache(max_bytes=self.limits.result_cache_bytes) if config.result_cache else None
        )
        self._paged: dict[int, PagedQuery] = {}  # by output column count, see _paged_query
        self._statements = Statements()
        self._texts = PlanTexts()
        self._prefix = parameter_prefix(p.name for p in config.parameters)
        self._clock = clock
        self._wall_clock = wall_clock  # compared with the table's commit times
        self._state: _TableState | None = None
        self._reload: _Reload | None = None  # the reload in flight, if any
        self._lock = threading.Lock()
        self._unknown_snapshot_reload_at: float | None = None

    def answer(self, values: Mapping[str, Any], page: Page | None = None) -> Answer:
        """The query's answer for these typed parameter values, or one page of it."""
        state = None
        try:
            state = self._fresh_state()
            return self._answer(values, page, state)
        except Exception as exc:
            if not _worth_a_reload(exc):
                raise
            log.warning("storage refused access (%s): reloading the table", type(exc).__name__)
            return self._answer(values, page, self._fresh_state(stale=state))

    def version(self, values: Mapping[str, Any], page: Page | None) -> tuple[int | None, float]:
        """The snapshot this request would be answered from and the state's age, without
        answering it (for its ETag): the pinned one of a page token, else the current one."""
        state = self._fresh_state()
        return state.snapshot_id(page.snapshot_id if page else None), self._age(state)

    def ready(self) -> int | None:
        """The current snapshot's id once the table loads from the catalog (within the
        freshness, as a request would find it); raises what loading it raised."""
        return self._fresh_state().current_snapshot_id

    def _fresh_state(self, stale: _TableState | None = None) -> _TableState:
        """The table state, reloaded if stale, its credentials lapse, or it is `stale` (storage
        refused it, or it lacks a snapshot asked for).

        One reload at a time (single flight): a request that finds the table stale while
        another reloads it answers from the current state if that is within FRESHNESS_GRACE
        freshness periods (its credentials still valid), else waits for that reload and shares
        its table or its error. So a pod asks the catalog about once per freshness period
        however many requests it serves, and a catalog that hangs holds one request for its
        timeout, plus those that have no state recent enough to answer from.
        """
        now = self._clock()
        freshness = self.config.freshness_seconds
        with self._lock:
            state, reload = self._state, self._reload
            # A state may answer for this long: longer while another request reloads the table.
            bound = freshness * (1 + FRESHNESS_GRACE) if reload is not None else freshness
            if state is not None and stale is None and _usable(state, now, bound):
                return state
            if state is not None and stale is not None and state is not stale:
                return state  # reloaded since the request found it wanting
            mine = reload is None
            if mine:
                self._reload = reload = _Reload()
        if mine:
            return self._reload_table(reload, now, stale)
        return reload.outcome()

    def _reload_table(self, reload: _Reload, now: float, stale: _TableState | None) -> _TableState:
        """Load the table (the one reload in flight), publish it and hand it to the waiters."""
        try:
            table = self.catalog.load_table(self.config.source.identifier)
            fresh = _TableState(table, now, self.catalog.valid_until(table))
            with self._lock:
                current = self._state
                keep = current is not None and current is not stale
                if keep and current.storage_key == fresh.storage_key:
                    fresh.database = current.database  # same files and credentials: keep DuckDB
                self._state = fresh
            reload.state = fresh
            return fresh
        except BaseException as exc:
            reload.error = exc
            raise
        finally:
            with self._lock:
                self._reload = None
            reload.done.set()

    def _answer(self, values: Mapping[str, Any], page: Page | None, state: _TableState) -> Answer:
        pinned = page.snapshot_id if page is not None else None
        if pinned is not None:
            state = self._state_knowing(pinned, state)
        snapshot_id = state.snapshot_id(pinned)
        if pinned is not None:
            self._check_not_expired(state.table, pinned)
        if pinned is None and page is not None:
            page = Page(page.offset, page.limit, snapshot_id)
        key = None
        if self.results is not None:
            key = answer_key(snapshot_id, values, page)
            cached = self.results.get(key)
            if cached is not None:
                return Answer(
                    cached.schema,
                    iter(cached.batches),
                    sum(batch.num_rows for batch in cached.batches),
                    snapshot_id,
                    ScanStats(cache="hit"),
                    self._age(state),
                    cached.nbytes,
                )
        return self._run(values, page, state, snapshot_id, key, self.slots.acquire())

    def _state_knowing(self, snapshot_id: int, state: _TableState) -> _TableState:
        """A state whose table has `snapshot_id` if a reload finds it: another instance may have
        issued the token from a newer table. Tokens are not secret, so one naming an unknown
        snapshot reloads the table at most once per freshness period, not once per request."""
        if state.table.snapshot_by_id(snapshot_id) is not None:
            return state
        now = self._clock()
        with self._lock:
            last = self._unknown_snapshot_reload_at
            if last is not None and now - last < self.config.freshness_seconds:
                return state
            self._unknown_snapshot_reload_at = now
        return self._fresh_state(stale=state)

    def _check_not_expired(self, table: Table, snapshot_id: int) -> None:
        """410 unless `snapshot_id` is current or was replaced less than the page tokens' TTL
        ago. Anyone can mint a token (its key comes from pod.json, public unless
        DATAPIC_PAGE_TOKEN_SECRET is set): without this, one pinning an old snapshot would read
        rows deleted long since, for as long as the table keeps that snapshot."""
        replaced_at = replaced_at_ms(table, snapshot_id)
        if replaced_at is None:
            return
        age = self._wall_clock() - replaced_at / 1000
        if age >= self.limits.page_token_ttl_seconds:
            raise PodError(410, "page expired; start again without page_token")

    def _run(
        self,
        values: Mapping[str, Any],
        page: Page | None,
        state: _TableState,
        snapshot_id: int | None,
        key: Any,
        slot: Slot,
    ) -> Answer:
        try:
            plan = self.plans.plan(state.table, self.config, values, snapshot_id)
            spooled = self._read(state, plan, values, page)
        finally:
            slot.release()  # the answer is read whole: its transfer holds no slot
        if self.results is not None and not spooled.spilled:
            entry = CachedAnswer(spooled.schema, tuple(spooled.batches), spooled.nbytes)
            self.results.put(key, entry)  # kept only if small (ResultCache.largest)
        stats = ScanStats(
            files_planned=plan.files_planned,
            files_pruned=plan.files_pruned,
            bytes_planned=plan.bytes_planned,
            cache="miss" if self.results is not None else "off",
        )
        rows, nbytes = spooled.rows, spooled.nbytes
        return Answer(spooled.schema, spooled, rows, snapshot_id, stats, self._age(state), nbytes)

    def _read(
        self, state: _TableState, plan: Plan, values: Mapping[str, Any], page: Page | None
    ) -> SpooledAnswer:
        """The answer of one DuckDB cursor over `plan`'s files, read to its end."""
        cursor = state.database_for(plan, self.limits).cursor()
        try:
            with _missing_file_is_not_an_outage():
                statement = self._statement(cursor, state.table, plan, page)
                reader = self._statements.run(
                    cursor,
                    statement.sql,
                    {**statement.params, **values},
                    (statement.unpaged, statement.columns, _value_types(values)),
                    self.config.columns,
                    BATCH_ROWS,
                )
                try:
                    return SpooledAnswer(reader, self.answer_memory, self.spill_space)
                finally:
                    reader.close()
        finally:
            cursor.close()

    def _paged_query(self, cursor: duckdb.DuckDBPyConnection, column_count: int) -> PagedQuery:
        """The query prepared for pages of `column_count` output columns (a pod answering
        every column has as many as its table), by the first such request's cursor
        (ordering.py). Requests that race to prepare it all get the same text: none waits."""
        paged = self._paged.get(column_count)
        if paged is None:
            paged = paged_query(self.config.sql, column_count, cursor)
            self._paged[column_count] = paged
        return paged

    def _age(self, state: _TableState) -> float:
        return max(0.0, self._clock() - state.loaded_at)

    def _statement(
        self, cursor: duckdb.DuckDBPyConnection, table: Table, plan: Plan, page: Page | None
    ) -> PlanStatement:
        """The query over `source` (the planned files) for `page`, the parameters that name
        those files, and the query's text without its page bounds (its output types do not
        depend on them); kept for the plan's next requests (texts.py)."""
        bounds = None if page is None else (page.offset, page.limit)
        kept = self._texts.get(plan, bounds)
        if kept is not None:
            return kept
        source, params = read_planned(cursor, table, plan, self._prefix)
        if page is None:
            sql = unpaged = with_source(source, self.config.sql)
        else:
            count = len(self.config.columns)
            if self.config.all_columns:  # as many columns as the plan reads
                count = sum(c.read_by_query for c in plan.columns)
            paged = self._paged_query(cursor, count)
            sql = with_source(source, paged.sql(page.offset, page.limit))
            unpaged = with_source(source, paged.ordered_sql)
        statement = PlanStatement(sql, params, unpaged, column_types(plan))
        self._texts.put(plan, bounds, statement)
        return statement


def _value_types(values: Mapping[str, Any]) -> tuple:
    """With the statement's text and its columns' types, what decides its output types: the
    types of the values (a missing one is NULL)."""
    return tuple((name, type(value).__name__) for name, value in values.items())


def replaced_at_ms(table: Table, snapshot_id: int) -> float | None:
    """When `snapshot_id` last stopped being the table's current snapshot (commit time of the
    snapshot-log entry after its last one), None while it is current; -inf if it never was."""
    current = table.current_snapshot()
    if current is not None and current.snapshot_id == snapshot_id:
        return None
    entries = table.metadata.snapshot_log
    replaced = -math.inf
    for entry, following in zip(entries, entries[1:], strict=False):
        if entry.snapshot_id == snapshot_id:
            replaced = following.timestamp_ms
    return replaced


@contextlib.contextmanager
def _missing_file_is_not_an_outage() -> Iterator[None]:
    """DuckDB reports a missing file as an IOException, which reads as "storage unreachable"
    (503, retry); a file the table lists but storage lacks is a broken table, not an outage."""
    try:
        yield
    except duckdb.IOException as exc:
        if _MISSING_FILE in str(exc):
            raise FileNotFoundError(errno.ENOENT, "a planned data file is missing") from exc
        raise
