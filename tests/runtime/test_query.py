"""datapic_runtime.query: answers equal to pyiceberg's, pruning, deletes, pages, caches,
freshness, retries, query slots and the sandboxed DuckDB; over real Iceberg tables."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datapic_runtime.answer import Page
from datapic_runtime.config import ParameterSpec, PodConfig, SourceSpec
from datapic_runtime.database import Database
from datapic_runtime.errors import PodError
from datapic_runtime.limits import Limits
from datapic_runtime.predicates import parse_predicate
from datapic_runtime.query import QueryEngine
from enginekit import delete_positions, make_sales
from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import PyArrowFileIO
from runtimekit import execute, whole


def config(sql: str = "SELECT id FROM source", **fields) -> PodConfig:
    """A pod over `t.nasty` in catalog `default`."""
    values = {
        "name": "p",
        "source": SourceSpec(catalog="default", namespace=("t",), table="nasty"),
        "columns": ("id",),
        "read_columns": ("id",),
        "parameters": (),
        "sql": sql,
    }
    return PodConfig(**{**values, **fields})


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_parquet('/tmp/*.parquet')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "COPY (SELECT 1) TO '/tmp/datapic-leak.csv'",
        "EXPORT DATABASE '/tmp/datapic-leak'",
        "ATTACH '/tmp/datapic-leak.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        "SET TimeZone = 'America/New_York'",
        "SET threads = 1",
        "SELECT getenv('HOME')",
    ],
)
def test_the_pods_duckdb_reaches_nothing_outside_its_data(nasty, sql):
    connection = Database(nasty, LIMITS).cursor()
    with pytest.raises(duckdb.Error):
        connection.execute(sql)
    assert not Path("/tmp/datapic-leak.csv").exists()


def test_registered_data_still_answers_in_utc(nasty):
    database = Database(nasty, LIMITS)
    connection = database.cursor()
    assert connection.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    answer = execute(
        "SELECT sum(a) AS s, count(*) AS n FROM source WHERE a > $m",
        pa.table({"a": [1, 2, 3]}),
        {"m": 1},
        database.cursor(),
    )
    assert whole(answer).to_pylist() == [{"s": 5, "n": 2}]
    # SUM over integers is DuckDB's HUGEINT (Arrow's decimal128(38, 0)): answered as int64.
    assert answer.schema.field("s").type == pa.int64()


def counting(factory):
    """`factory`, counting its calls in .calls."""

    @functools.wraps(factory)
    def wrapper(name):
        wrapper.calls += 1
        return factory(name)

    wrapper.calls = 0
    return wrapper


def test_the_catalog_is_created_once_and_each_answer_reads_the_current_snapshot(
    catalog_props, tmp_path
):
    # A private copy of the lakehouse: this test appends to it.
    root = Path(catalog_props["uri"].removeprefix("sqlite:///")).parent
    shutil.copytree(root, tmp_path / "lake")
    props = {**catalog_props, "uri": f"sqlite:///{tmp_path / 'lake' / 'catalog.db'}"}
    factory = counting(functools.partial(load_catalog, **props))
    engine = QueryEngine(config("SELECT count(*) AS n FROM source"), factory)
    assert whole(engine.answer({})).to_pylist() == [{"n": 9}]

    table = load_catalog("default", **props).load_table("t.nasty")
    table.append(table.scan(row_filter="id <= 2").to_arrow())
    assert whole(engine.answer({})).to_pylist() == [{"n": 11}]
    assert factory.calls == 1

    engine.catalog.forget()
    engine.answer({})
    assert factory.calls == 2


def test_a_catalog_that_failed_to_start_is_retried(catalog_props, tmp_path):
    later = tmp_path / "later"
    props = {**catalog_props, "uri": f"sqlite:///{later / 'catalog.db'}"}
    engine = QueryEngine(config(), functools.partial(load_catalog, **props))
    with pytest.raises(Exception, match="unable to open database file"):
        engine.answer({})
    later.mkdir()
    shutil.copy(Path(catalog_props["uri"].removeprefix("sqlite:///")), later / "catalog.db")
    assert whole(engine.answer({})).num_rows == 9


def test_an_unconfigured_catalog_is_a_500_saying_how_to_configure_it(monkeypatch):
    engine = QueryEngine(config(source=SourceSpec(catalog="nowhere", namespace=("t",), table="x")))
    with pytest.raises(PodError) as caught:
        engine.answer({})
    assert caught.value.status == 500
    assert "catalog 'nowhere' is not configured" in caught.value.message
    assert "PYICEBERG_CATALOG__NOWHERE__*" in caught.value.message


# --- the engine over an evolved, partitioned table ----------------------------------------------

LIMITS = Limits(
    cpus=2,
    memory_bytes=2**30,
    duckdb_threads=2,
    duckdb_memory_bytes=2**28,
    max_concurrent_queries=2,
    queue_seconds=0.05,
)
BY_REGION = (
    parse_predicate({"column": "region", "op": "eq", "value": {"parameter": "r"}}, ["r"], "t"),
)
REGION = ParameterSpec(name="r", type="string", required=False, default="EMEA")
SUMMARY = (
    "SELECT region, count(*) AS n, sum(total) AS total, sum(qty) AS qty, count(note) AS notes "
)
SUMMARY += "FROM source WHERE region = $r GROUP BY region"
ROWS = "SELECT id, total, qty, note FROM source WHERE region = $r ORDER BY id"


def sales_pod(sql: str = SUMMARY, **fields) -> PodConfig:
    """A pod over `e.sales` (see enginekit.make_sales) with parameter `r`, region pushed down."""
    values = {
        "name": "p",
        "source": SourceSpec(catalog="default", namespace=("e",), table="sales"),
        "columns": _output_columns(sql),
        "read_columns": ("id", "note", "qty", "region", "total"),
        "parameters": (REGION,),
        "sql": sql,
        "pushdown": BY_REGION,
        "freshness_seconds": 5,
    }
    return PodConfig(**{**values, **fields})


EMPTY_SALES = "(SELECT 1 AS id, NULL AS note, NULL AS qty, NULL AS region, NULL AS total)"


def _output_columns(sql: str) -> tuple[str, ...]:
    """The names of the query's output columns, as the compiler lists them in pod.json."""
    shaped = sql.replace("$r", "'x'").replace("source", EMPTY_SALES)
    return tuple(duckdb.connect().sql(shaped).columns)


class Clock:
    """time.monotonic for the engine, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lake(tmp_path):
    """A catalog factory over a private lakehouse holding `e.sales`, and its catalog."""
    props = {"uri": f"sqlite:///{tmp_path / 'c.db'}", "warehouse": tmp_path.as_uri()}
    catalog = SqlCatalog("default", **props)
    catalog.create_namespace("e")
    make_sales(catalog, "e.sales")
    return functools.partial(SqlCatalog, **props), catalog


def reference(catalog, sql: str, values: dict) -> list[dict]:
    """The answer from pyiceberg's own full read of the table, queried by a plain DuckDB."""
    connection = duckdb.connect()
    connection.register("source", catalog.load_table("e.sales").scan().to_arrow())
    return connection.sql(sql, params=values).to_arrow_table().to_pylist()


def engine(factory, config: PodConfig, **kwargs) -> QueryEngine:
    return QueryEngine(config, factory, limits=kwargs.pop("limits", LIMITS), **kwargs)


@pytest.mark.parametrize("region", ["EMEA", "APAC", "nowhere"])
@pytest.mark.parametrize("sql", [SUMMARY, ROWS])
def test_answers_equal_pyiceberg_over_renamed_added_and_widened_columns(lake, sql, region):
    factory, catalog = lake
    answer = engine(factory, sales_pod(sql)).answer({"r": region})
    rows = whole(answer).to_pylist()
    assert rows == reference(catalog, sql, {"r": region})
    assert region == "nowhere" or rows  # the test would notice an empty answer
    assert answer.stats.files_pruned == (6 if region == "nowhere" else 4)
    assert answer.stats.files_planned == (0 if region == "nowhere" else 2)


# Partition values that writers percent-encode in directory names (pyiceberg, like Iceberg
# Java, writes `region=c%3Ad/`) and keep encoded in the manifests' file paths: the directory is
# named with the `%3A` itself, so the path must be read as written, never decoded. The
# warehouse's own name has an `=` that its file URI encodes (`w%3D1`), as pyiceberg writes it.
ESCAPED_REGIONS = ("c:d", "e%f", "g/h", "x=y", "a b", "EMEA")


def test_partition_values_escaped_in_file_paths_are_read_where_they_were_written(tmp_path):
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import DoubleType, LongType, NestedField, StringType

    warehouse = tmp_path / "w=1"
    warehouse.mkdir()
    props = {"uri": f"sqlite:///{tmp_path / 'c.db'}", "warehouse": warehouse.as_uri()}
    catalog = SqlCatalog("default", **props)
    catalog.create_namespace("e")
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "region", StringType()),
        NestedField(3, "total", DoubleType()),
        NestedField(4, "qty", LongType()),
        NestedField(5, "note", StringType()),
    )
    spec = PartitionSpec(PartitionField(2, 1000, IdentityTransform(), "region"))
    table = catalog.create_table("e.sales", schema=schema, partition_spec=spec)
    ids = range(len(ESCAPED_REGIONS) * 3)
    rows = {
        "id": list(ids),
        "region": [ESCAPED_REGIONS[i % len(ESCAPED_REGIONS)] for i in ids],
        "total": [i * 1.5 for i in ids],
        "qty": list(ids),
        "note": [f"n{i}" for i in ids],
    }
    table.append(pa.Table.from_pydict(rows, schema=schema.as_arrow()))
    paths = [task.file.file_path for task in table.scan().plan_files()]
    assert sum("%" in path.removeprefix(warehouse.as_uri()) for path in paths) == 4
    pod = engine(functools.partial(SqlCatalog, **props), sales_pod(ROWS))
    for region in ESCAPED_REGIONS:
        answer = whole(pod.answer({"r": region})).to_pylist()
        assert len(answer) == 3 and answer == reference(catalog, ROWS, {"r": region})


def test_files_of_pruned_partitions_are_never_opened(lake):
    factory, catalog = lake
    table = catalog.load_table("e.sales")
    expected = reference(catalog, ROWS, {"r": "APAC"})
    for task in table.scan(row_filter="region != 'APAC'").plan_files():
        Path(task.file.file_path.removeprefix("file://")).unlink()
    answer = engine(factory, sales_pod(ROWS)).answer({"r": "APAC"})
    assert whole(answer).to_pylist() == expected


def test_positional_deletes_are_applied_by_reading_those_files_with_pyiceberg(lake):
    factory, catalog = lake
    table = catalog.load_table("e.sales")
    before = reference(catalog, ROWS, {"r": "EMEA"})
    files = [t.file for t in table.scan(row_filter="region == 'EMEA'").plan_files()]
    delete_positions(table, files[0], [0, 3])
    expected = reference(catalog, ROWS, {"r": "EMEA"})
    assert len(expected) == len(before) - 2  # pyiceberg applied them
    for sql in (ROWS, SUMMARY):
        answer = engine(factory, sales_pod(sql)).answer({"r": "EMEA"})
        assert whole(answer).to_pylist() == reference(catalog, sql, {"r": "EMEA"})


def test_pages_are_disjoint_complete_and_pinned_to_their_snapshot(lake, caplog):
    factory, catalog = lake
    # No ORDER BY at all, and ties on qty: the engine must still give one stable order.
    sql = "SELECT qty % 3 AS k, note FROM source WHERE region = $r"
    pod = engine(factory, sales_pod(sql, freshness_seconds=0))
    first = pod.answer({"r": "EMEA"}, Page(0, 15))
    snapshot = first.snapshot_id
    rows = whole(first).to_pylist()
    table = catalog.load_table("e.sales")
    table.append(table.scan(row_filter="region == 'EMEA'").to_arrow())  # doubles EMEA
    offset = 15
    while True:
        page = whole(pod.answer({"r": "EMEA"}, Page(offset, 15, snapshot))).to_pylist()
        if not page:
            break
        rows += page
        offset += 15
    with_snapshot = duckdb.connect()
    with_snapshot.register("source", table.scan(snapshot_id=snapshot).to_arrow())
    expected = with_snapshot.sql(sql + " ORDER BY ALL", params={"r": "EMEA"}).fetchall()
    # Each row once, none skipped: the order is total (here: by every column).
    assert [tuple(r.values()) for r in rows] == expected
    assert len(rows) == 40
    assert whole(pod.answer({"r": "EMEA"}, Page(0, 100))).num_rows == 80  # unpinned: new
    # The pod's own sandboxed DuckDB re-printed the query with its tie-breakers: no fallback.
    assert "fall back" not in caplog.text


def test_kept_statement_texts_answer_each_plan_and_page_with_its_own_rows(lake):
    # A statement's text is kept per plan and page (texts.py): requests of other regions
    # (other files) and pages, in any order and repeated, each get the rows of their own.
    factory, catalog = lake
    pod = engine(factory, sales_pod(ROWS))
    expected = {r: reference(catalog, ROWS, {"r": r}) for r in ("EMEA", "APAC")}
    asked = [("EMEA", 0), ("APAC", 0), ("EMEA", 7), ("EMEA", 0), ("APAC", 14), ("APAC", None)]
    for region, offset in [*asked, *reversed(asked)]:
        page = None if offset is None else Page(offset, 7)
        rows = whole(pod.answer({"r": region}, page)).to_pylist()
        wanted = expected[region] if page is None else expected[region][offset : offset + 7]
        assert rows == wanted and rows, (region, offset)


def test_plans_with_deleted_rows_build_their_statement_for_each_cursor(lake):
    # Their statement names the deleted rows registered with the request's own cursor: a text
    # kept from an earlier request would name a table the next cursor does not have.
    factory, catalog = lake
    table = catalog.load_table("e.sales")
    files = [t.file for t in table.scan(row_filter="region == 'EMEA'").plan_files()]
    delete_positions(table, files[0], [0, 3])
    pod = engine(factory, sales_pod(ROWS))
    for page in (None, None, Page(0, 100), Page(0, 100)):
        rows = whole(pod.answer({"r": "EMEA"}, page)).to_pylist()
        assert rows == reference(catalog, ROWS, {"r": "EMEA"})


def test_a_page_of_a_vanished_snapshot_is_a_410(lake):
    factory, _ = lake
    with pytest.raises(PodError) as caught:
        engine(factory, sales_pod()).answer({"r": "EMEA"}, Page(0, 10, 123456789))
    assert caught.value.status == 410


def test_a_token_reads_its_snapshot_across_a_commit_until_the_ttl_after_it_was_replaced(lake):
    factory, catalog = lake
    wall = Clock()
    pod = engine(factory, sales_pod(ROWS, freshness_seconds=0), wall_clock=wall)
    first = pod.answer({"r": "EMEA"}, Page(0, 5))
    before = catalog.load_table("e.sales").scan(snapshot_id=first.snapshot_id).to_arrow()
    catalog.load_table("e.sales").delete("region == 'EMEA'")  # the commit replacing it
    wall.now = time.time()  # no earlier than that commit
    assert whole(pod.answer({"r": "EMEA"})).num_rows == 0
    wall.now += LIMITS.page_token_ttl_seconds - 5  # a token issued just before: still good
    pinned = whole(pod.answer({"r": "EMEA"}, Page(0, 100, first.snapshot_id)))
    connection = duckdb.connect()
    connection.register("before", before)
    emea = connection.sql("SELECT * FROM before WHERE region = 'EMEA'").fetchall()
    assert pinned.num_rows == len(emea) > 0  # the deleted rows, as the pinned snapshot held them
    wall.now += 5  # the snapshot was replaced a TTL ago: a token for it, forged or not, is done
    with pytest.raises(PodError) as caught:
        pod.answer({"r": "EMEA"}, Page(0, 100, first.snapshot_id))
    assert caught.value.status == 410
    assert caught.value.message == "page expired; start again without page_token"


def test_a_token_of_an_unknown_snapshot_reloads_the_table_once_per_freshness_period(lake):
    factory, _ = lake
    loads = []

    def counting_loads(name):
        catalog = factory(name)
        load = catalog.load_table
        catalog.load_table = lambda identifier: loads.append(identifier) or load(identifier)
        return catalog

    clock = Clock()
    pod = engine(counting_loads, sales_pod(), clock=clock)
    pod.answer({"r": "EMEA"})
    assert len(loads) == 1
    for _ in range(5):
        with pytest.raises(PodError) as caught:
            pod.answer({"r": "EMEA"}, Page(0, 10, 123456789))
        assert caught.value.status == 410
    assert len(loads) == 2  # one reload: another instance might have had a newer table
    clock.now += 5
    with pytest.raises(PodError):
        pod.answer({"r": "EMEA"}, Page(0, 10, 123456789))
    assert len(loads) == 4  # the stale table's reload, then one for the unknown snapshot


def test_the_result_cache_answers_repeats_until_the_snapshot_changes(lake):
    factory, catalog = lake
    pod = engine(factory, sales_pod(result_cache=True, freshness_seconds=0))
    first = pod.answer({"r": "EMEA"})
    assert first.stats.cache == "miss"
    rows = whole(first).to_pylist()
    again = pod.answer({"r": "EMEA"})
    assert again.stats.cache == "hit" and whole(again).to_pylist() == rows
    assert pod.answer({"r": "APAC"}).stats.cache == "miss"
    table = catalog.load_table("e.sales")
    table.append(table.scan(row_filter="region == 'EMEA'").to_arrow())
    after = pod.answer({"r": "EMEA"})
    assert after.stats.cache == "miss"
    assert whole(after).to_pylist() == reference(catalog, SUMMARY, {"r": "EMEA"}) != rows
    assert engine(factory, sales_pod()).answer({"r": "EMEA"}).stats.cache == "off"


@pytest.mark.parametrize("freshness", [0, 5])
def test_a_commit_shows_once_the_freshness_bound_has_passed(lake, freshness):
    factory, catalog = lake
    clock = Clock()
    pod = engine(factory, sales_pod(freshness_seconds=freshness), clock=clock)
    before = whole(pod.answer({"r": "EMEA"})).to_pylist()
    table = catalog.load_table("e.sales")
    table.append(table.scan(row_filter="region == 'EMEA'").to_arrow())
    after = reference(catalog, SUMMARY, {"r": "EMEA"})
    assert after != before
    clock.now += freshness - 0.001 if freshness else 0
    if freshness:
        assert whole(pod.answer({"r": "EMEA"})).to_pylist() == before  # within the bound
        clock.now += 0.001
    assert whole(pod.answer({"r": "EMEA"})).to_pylist() == after


def test_credentials_that_lapse_reload_the_table(lake):
    factory, catalog = lake

    pod = engine(factory, sales_pod(freshness_seconds=3600))
    pod.catalog.valid_until = lambda table: 0  # already lapsed: reload on every request
    before = whole(pod.answer({"r": "EMEA"})).to_pylist()
    table = catalog.load_table("e.sales")
    table.append(table.scan(row_filter="region == 'EMEA'").to_arrow())
    assert whole(pod.answer({"r": "EMEA"})).to_pylist() != before


class Gated:
    """A catalog factory whose load_table counts its calls and, once `gate` is cleared, waits
    for it to be set again (a catalog that hangs), then fails if `failure` is set."""

    def __init__(self, factory) -> None:
        self.factory = factory
        self.loads = 0
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()
        self.failure: Exception | None = None

    def __call__(self, name):
        catalog = self.factory(name)
        load = catalog.load_table

        def load_table(identifier):
            self.loads += 1
            self.waiting.set()
            assert self.gate.wait(10)
            if self.failure is not None:
                raise self.failure
            return load(identifier)

        catalog.load_table = load_table
        return catalog


QUEUEING = dataclasses.replace(LIMITS, queue_seconds=10)


def requests_meanwhile(pod, gated: Gated, count: int) -> tuple[list, concurrent.futures.Future]:
    """`count` requests at once while one reload hangs: the answers (or errors) of those that
    came back before it ended, and the future of the one that started the reload."""
    gated.gate.clear()
    gated.waiting.clear()
    with concurrent.futures.ThreadPoolExecutor(count + 1) as pool:
        first = pool.submit(pod.answer, {"r": "EMEA"})
        assert gated.waiting.wait(10)
        others = [pool.submit(pod.answer, {"r": "EMEA"}) for _ in range(count)]
        concurrent.futures.wait(others, timeout=1)
        early = [f for f in others if f.done()]
        gated.gate.set()
        results = [f.exception() or whole(f.result()).num_rows for f in others]
        first.exception()
    return (early, results), first


def test_requests_that_find_the_table_stale_share_one_reload_and_answer_meanwhile(lake):
    factory, _ = lake
    gated, clock = Gated(factory), Clock()
    pod = engine(gated, sales_pod(ROWS), clock=clock, limits=QUEUEING)
    whole(pod.answer({"r": "EMEA"}))
    clock.now += 5  # stale, within the grace: the others answer from the current table
    (early, results), first = requests_meanwhile(pod, gated, 20)
    assert len(early) == 20 and results == [40] * 20 and whole(first.result()).num_rows == 40
    assert gated.loads == 2


def test_requests_beyond_the_grace_wait_for_the_reload_under_way_and_share_its_error(lake):
    factory, _ = lake
    gated, clock = Gated(factory), Clock()
    pod = engine(gated, sales_pod(ROWS), clock=clock, limits=QUEUEING)
    whole(pod.answer({"r": "EMEA"}))
    clock.now += 10  # two freshness periods: too old to answer from
    (early, results), first = requests_meanwhile(pod, gated, 20)
    assert early == [] and results == [40] * 20 and gated.loads == 2
    gated.failure = PodError(503, "the catalog did not answer")
    clock.now += 10
    (early, results), first = requests_meanwhile(pod, gated, 20)
    assert early == [] and gated.loads == 3  # one request to the hung catalog, not 21
    assert [getattr(r, "status", r) for r in results] == [503] * 20
    gated.failure = None
    assert whole(pod.answer({"r": "EMEA"})).num_rows == 40 and gated.loads == 4


class RefusingIO(PyArrowFileIO):
    """Storage that refuses every read, as S3 does once vended credentials expire."""

    def new_input(self, location):
        raise PermissionError(13, "AccessDenied")


def test_storage_refusing_access_reloads_the_table_once_and_retries(lake, monkeypatch):
    factory, catalog = lake
    loads = []

    def refusing_first(name):
        catalog = factory(name)
        load = catalog.load_table

        def load_table(identifier):
            table = load(identifier)
            loads.append(identifier)
            if len(loads) == 1:
                table.io = RefusingIO(table.io.properties)
            return table

        catalog.load_table = load_table
        return catalog

    pod = engine(refusing_first, sales_pod())
    assert whole(pod.answer({"r": "EMEA"})).to_pylist() == reference(
        catalog, SUMMARY, {"r": "EMEA"}
    )
    assert len(loads) == 2


ONE_SLOT = Limits(
    cpus=1,
    memory_bytes=2**30,
    duckdb_threads=1,
    duckdb_memory_bytes=2**28,
    max_concurrent_queries=1,
    queue_seconds=0.01,
)


def test_a_request_waiting_too_long_for_a_query_slot_is_a_503(lake):
    factory, _ = lake
    pod = engine(factory, sales_pod(ROWS), limits=ONE_SLOT)
    running = pod.slots.acquire()  # a query running elsewhere holds the only slot
    with pytest.raises(PodError) as caught:
        pod.answer({"r": "EMEA"})
    assert caught.value.status == 503 and caught.value.headers["Retry-After"]
    running.release()
    assert whole(pod.answer({"r": "EMEA"})).num_rows == 40


def test_answers_nobody_reads_hold_no_query_slot(lake):
    factory, _ = lake
    pod = engine(factory, sales_pod(ROWS), limits=ONE_SLOT)
    unread = [pod.answer({"r": "EMEA"}) for _ in range(3)]  # one slot, three answers pending
    assert whole(pod.answer({"r": "EMEA"})).num_rows == 40
    assert [whole(answer).num_rows for answer in unread] == [40, 40, 40]


BIG = "SELECT s.id, s.note, r.i FROM source s, range(2000) r(i) WHERE s.region = $r ORDER BY ALL"


@pytest.mark.parametrize("budget", [0, 2**20, 2**30])
def test_answers_beyond_the_memory_budget_spill_to_a_file_and_read_back_whole(lake, budget):
    factory, catalog = lake
    limits = dataclasses.replace(ONE_SLOT, answer_memory_bytes=budget)
    pod = engine(factory, sales_pod(BIG, read_columns=("id", "note", "region")), limits=limits)
    first, second = pod.answer({"r": "EMEA"}), pod.answer({"r": "EMEA"})
    assert pod.answer_memory.used <= budget
    spilled = first.batches.spilled
    assert spilled == (budget < 2**30) and second.batches.spilled == spilled
    assert whole(first).to_pylist() == reference(catalog, BIG, {"r": "EMEA"})
    first.close()
    second.close()  # unread: its memory goes back as well
    assert pod.answer_memory.used == 0


def test_answers_beyond_the_spill_space_are_503s_until_clients_read_theirs(lake):
    factory, catalog = lake
    limits = dataclasses.replace(ONE_SLOT, answer_memory_bytes=0, spill_bytes=3 * 2**20)
    pod = engine(factory, sales_pod(BIG, read_columns=("id", "note", "region")), limits=limits)
    unread = pod.answer({"r": "EMEA"})  # about 2 MiB of Arrow data, all in a file
    assert unread.batches.spilled and 0 < pod.spill_space.used <= 3 * 2**20
    with pytest.raises(PodError) as refused:
        pod.answer({"r": "EMEA"})
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "5"}
    assert "have not read yet" in refused.value.message
    assert whole(unread).to_pylist() == reference(catalog, BIG, {"r": "EMEA"})
    assert pod.spill_space.used == 0
    assert whole(pod.answer({"r": "EMEA"})).num_rows == unread.rows


def test_an_answer_dropped_unread_gives_its_memory_back_at_once(lake):
    factory, _ = lake
    pod = engine(factory, sales_pod(BIG, read_columns=("id", "note", "region")), limits=ONE_SLOT)
    answer = pod.answer({"r": "EMEA"})
    next(answer.batches)
    assert pod.answer_memory.used > 0  # 80,000 rows: a second batch waits in memory
    del answer  # a client gone without the body being closed: no cycle keeps it
    assert pod.answer_memory.used == 0


def test_a_spilled_answers_file_is_gone_once_it_is_closed(lake, monkeypatch, tmp_path):
    factory, _ = lake
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spill"))
    (tmp_path / "spill").mkdir()
    limits = dataclasses.replace(ONE_SLOT, answer_memory_bytes=0)
    pod = engine(factory, sales_pod(BIG, read_columns=("id", "note", "region")), limits=limits)
    answer = pod.answer({"r": "EMEA"})
    file = answer.batches._file
    assert answer.batches.spilled and list((tmp_path / "spill").iterdir()) == []  # anonymous
    next(answer.batches)
    answer.close()
    assert file.closed


def test_the_engines_duckdb_reads_its_table_and_nothing_else(lake, tmp_path):
    _, catalog = lake
    table = catalog.load_table("e.sales")
    database = Database(table, LIMITS)
    python_frame_variable = pa.table({"secret": [1]})  # noqa: F841
    cursor = database.cursor()
    inside = [t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()]
    assert cursor.execute("SELECT count(*) FROM read_parquet($f)", {"f": inside}).fetchone()
    for sql in (
        "SELECT * FROM read_csv('/etc/passwd')",
        f"COPY (SELECT 1) TO '{tmp_path}/leak.csv'",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET threads = 64",
        "SELECT * FROM python_frame_variable",  # no scans of the caller's Python variables
    ):
        with pytest.raises(duckdb.Error):
            cursor.execute(sql)
    assert cursor.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)


def _object_cache_bytes(pod: QueryEngine) -> int:
    connection = pod._state.database.connection
    found = connection.execute(
        "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'OBJECT_CACHE'"
    ).fetchone()
    return found[0] if found else 0


def _footer_bytes(catalog, region: str) -> int:
    """The Parquet footers' lengths of a region's files (the 4 bytes before the final PAR1)."""
    table = catalog.load_table("e.sales")
    total = 0
    for task in table.scan(row_filter=f"region == '{region}'").plan_files():
        tail = Path(task.file.file_path.removeprefix("file://")).read_bytes()[-8:]
        total += int.from_bytes(tail[:4], "little")
    return total


def test_the_footers_of_the_files_read_stay_cached_between_requests(lake):
    factory, catalog = lake
    pod = engine(factory, sales_pod())
    pod.answer({"r": "APAC"})
    cached = _object_cache_bytes(pod)
    assert cached >= _footer_bytes(catalog, "APAC")  # the two files' parsed footers
    pod.answer({"r": "APAC"})
    assert _object_cache_bytes(pod) == cached  # read from the cache, not parsed again
    pod.answer({"r": "EMEA"})
    assert _object_cache_bytes(pod) >= cached + _footer_bytes(catalog, "EMEA")


def test_a_data_file_rewritten_in_place_is_read_again_not_by_its_cached_footer(lake):
    # Iceberg never rewrites a data file, but a damaged table may: DuckDB checks each cached
    # footer against the file's modification time, so the pod reads what the file now holds.
    factory, catalog = lake
    pod = engine(factory, sales_pod(ROWS))
    before = whole(pod.answer({"r": "EMEA"})).to_pylist()
    scan = catalog.load_table("e.sales").scan(row_filter="region == 'EMEA'")
    task = next(iter(scan.plan_files()))
    path = Path(task.file.file_path.removeprefix("file://"))
    rows = pq.read_table(path)  # the file's own schema, field ids included
    doubled = pc.multiply(rows.column("qty"), 2).cast(rows.schema.field("qty").type)
    field = rows.schema.field("qty")  # with its field id
    pq.write_table(rows.set_column(rows.schema.get_field_index("qty"), field, doubled), path)
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))
    after = whole(pod.answer({"r": "EMEA"})).to_pylist()
    assert after == reference(catalog, ROWS, {"r": "EMEA"}) != before


def test_data_files_outside_the_table_location_are_read_from_the_first_request(lake, tmp_path):
    # The sandbox allows the table's location; files written while write.data.path pointed
    # elsewhere must widen it before the first query, not after a failed one.
    factory, catalog = lake
    elsewhere = tmp_path / "elsewhere"
    with catalog.load_table("e.sales").transaction() as tx:
        tx.set_properties({"write.data.path": elsewhere.as_uri()})
    table = catalog.load_table("e.sales")
    more = {"id": [500, 501], "region": ["EMEA", "EMEA"], "total": [1.5, 2.5], "qty": [1, 2]}
    table.append(pa.Table.from_pydict({**more, "note": ["x", None]}, table.schema().as_arrow()))
    with catalog.load_table("e.sales").transaction() as tx:
        tx.remove_properties("write.data.path")
    files = [t.file.file_path for t in catalog.load_table("e.sales").scan().plan_files()]
    assert any(str(elsewhere) in path for path in files)

    answer = engine(factory, sales_pod(ROWS)).answer({"r": "EMEA"})
    rows = whole(answer).to_pylist()
    assert rows == reference(catalog, ROWS, {"r": "EMEA"})
    assert {500, 501} <= {row["id"] for row in rows}
