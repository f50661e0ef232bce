"""datapic_runtime.limits: CPUs and memory from the container's cgroup, query slots."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from datapic_runtime.errors import PodError
from datapic_runtime.limits import (
    MemoryBudget,
    QuerySlots,
    container_cpus,
    container_memory,
    load_limits,
    parse_bytes,
    size_pyiceberg_pool,
)

PHYSICAL = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
VISIBLE = len(os.sched_getaffinity(0))


def cgroup(root: Path, files: dict[str, str]) -> Path:
    """A cgroup file tree as the kernel shows it in a container."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "100000 100000"}, 1),  # Cloud Run, 1 vCPU
        ({"cpu.max": "150000 100000"}, 2),  # 1.5 CPUs: DuckDB threads are whole
        ({"cpu.max": "max 100000"}, VISIBLE),
        ({"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, VISIBLE),
        ({}, VISIBLE),
    ],
)
def test_cpus_come_from_the_cgroup_quota(tmp_path, files, cpus):
    assert container_cpus(cgroup(tmp_path, files)) == min(cpus, VISIBLE)


@pytest.mark.parametrize(
    ("files", "memory"),
    [
        ({"memory.max": str(512 * 2**20)}, 512 * 2**20),
        ({"memory.max": "max"}, PHYSICAL),
        ({"memory/memory.limit_in_bytes": str(2**30)}, 2**30),
        ({"memory/memory.limit_in_bytes": "9223372036854771712"}, PHYSICAL),  # v1: no limit
        ({}, PHYSICAL),
    ],
)
def test_memory_comes_from_the_cgroup_limit(tmp_path, files, memory):
    assert container_memory(cgroup(tmp_path, files)) == memory


def test_duckdb_and_the_query_slots_are_sized_from_the_container(tmp_path):
    root = cgroup(tmp_path, {"cpu.max": "100000 100000", "memory.max": str(2**30)})
    limits = load_limits({}, root)
    assert (limits.cpus, limits.duckdb_threads, limits.max_concurrent_queries) == (1, 1, 1)
    assert limits.duckdb_memory_bytes == 2**29 and limits.duckdb_memory_limit == "512MiB"
    assert limits.result_cache_bytes == 64 * 2**20  # at most an eighth of memory
    assert limits.answer_memory_bytes == 2**27  # answers in transfer: an eighth of memory too
    assert limits.spill_bytes == 2**28  # their temporary files: a quarter


def test_operators_override_each_limit(tmp_path):
    root = cgroup(tmp_path, {"cpu.max": "100000 100000", "memory.max": str(2**30)})
    env = {
        "DATAPIC_DUCKDB_THREADS": "3",
        "DATAPIC_MAX_CONCURRENT_QUERIES": "8",
        "DATAPIC_QUERY_MEMORY_LIMIT": "300MiB",
        "DATAPIC_QUERY_QUEUE_SECONDS": "2.5",
        "DATAPIC_RESULT_CACHE_BYTES": "1MiB",
        "DATAPIC_REQUEST_THREADS": "120",
        "DATAPIC_ANSWER_MEMORY_BYTES": "2MiB",
        "DATAPIC_SPILL_BYTES": "3MiB",
    }
    limits = load_limits(env, root)
    assert limits.request_threads == 120 and load_limits({}, root).request_threads == 100
    assert (limits.duckdb_threads, limits.max_concurrent_queries) == (3, 8)
    assert limits.duckdb_memory_bytes == 300 * 2**20 and limits.queue_seconds == 2.5
    assert limits.result_cache_bytes == 2**20 and limits.answer_memory_bytes == 2 * 2**20
    assert limits.spill_bytes == 3 * 2**20
    with pytest.raises(ValueError, match="DATAPIC_MAX_CONCURRENT_QUERIES"):
        load_limits({"DATAPIC_MAX_CONCURRENT_QUERIES": "0"}, root)


@pytest.mark.parametrize(
    ("text", "size"),
    [("512MiB", 512 * 2**20), ("2GB", 2 * 10**9), ("1.5GiB", 3 * 2**29), ("1000", 1000)],
)
def test_sizes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["lots", "5 parsecs", "MB"])
def test_bad_sizes(text):
    with pytest.raises(ValueError, match="not a size"):
        parse_bytes(text)


def test_pyiceberg_gets_the_containers_cpus_unless_configured(monkeypatch):
    env: dict[str, str] = {}
    monkeypatch.delenv("PYICEBERG_MAX_WORKERS", raising=False)
    size_pyiceberg_pool(3, env)
    assert env == {"PYICEBERG_MAX_WORKERS": "3"}
    monkeypatch.setenv("PYICEBERG_MAX_WORKERS", "7")
    env = {}
    size_pyiceberg_pool(3, env)
    assert env == {}


def test_a_slot_frees_once_however_often_it_is_released():
    slots = QuerySlots(1, timeout=0.01)
    slot = slots.acquire()
    with pytest.raises(PodError) as caught:
        slots.acquire()
    assert caught.value.status == 503 and caught.value.headers == {"Retry-After": "1"}
    released = threading.Thread(target=slot.release)
    released.start()
    released.join()
    slot.release()  # a second release must not free a second slot
    slots.acquire()
    with pytest.raises(PodError):
        slots.acquire()


def _waiting_for(
    slots: QuerySlots, order: list[str], name: str, hold: threading.Event | None = None
) -> threading.Thread:
    """A thread that waits for a slot, records its name once it has one, and frees it (once
    `hold` is set, if given)."""

    def run() -> None:
        slot = slots.acquire()
        order.append(name)
        if hold is not None:
            hold.wait()
        slot.release()

    thread = threading.Thread(target=run)
    waiting = len(slots._waiting)
    thread.start()
    while len(slots._waiting) == waiting:  # queued before the next one starts
        time.sleep(0.001)
    return thread


def test_freed_slots_go_to_the_longest_waiting_requests_first():
    slots = QuerySlots(1, timeout=30)
    held = slots.acquire()
    order: list[str] = []
    threads = [_waiting_for(slots, order, name) for name in "abcde"]
    held.release()
    for thread in threads:
        thread.join()
    assert order == list("abcde")


def test_a_request_arriving_as_a_slot_frees_waits_behind_those_already_waiting():
    slots = QuerySlots(1, timeout=0.2)
    held = slots.acquire()
    order: list[str] = []
    done = threading.Event()
    waiter = _waiting_for(slots, order, "waiter", hold=done)
    held.release()  # handed to the waiter, not left for whoever asks next
    with pytest.raises(PodError) as caught:
        slots.acquire()
    done.set()
    waiter.join()
    assert order == ["waiter"] and caught.value.status == 503
    slots.acquire()  # the waiter's slot came back


def test_a_memory_budget_grants_what_fits_and_takes_back_what_is_given():
    budget = MemoryBudget(100)
    assert budget.take(60) and not budget.take(41) and budget.take(40)
    assert budget.used == 100
    budget.give(60)
    assert budget.take(50) and budget.used == 90
