"""What the container may use, and how many queries may run at once within it.

Cloud Run (and any cgroup-limited container) shows the host's CPUs and memory to os.cpu_count()
and /proc/meminfo; sizing DuckDB's threads and memory, and pyiceberg's thread pool, from those
would oversubscribe a 1-CPU, 512 MiB instance. The real limits come from the cgroup.
"""

from __future__ import annotations

import collections
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import PodError

CGROUP = Path("/sys/fs/cgroup")
# cgroup v1 writes "no limit" as a huge number (close to 2**63, rounded to pages).
_V1_UNLIMITED = 2**60
# DuckDB gets this share of the container's memory; the rest is Python, Arrow buffers of
# answers being sent, pyiceberg's planning and the result cache.
_DUCKDB_MEMORY_SHARE = 0.5
_DEFAULT_QUEUE_SECONDS = 10.0
# Requests at once that may hold a thread (waiting for a slot or running): above Cloud Run's
# largest usual containerConcurrency (80); more wait for a thread without holding one.
_DEFAULT_REQUEST_THREADS = 100
# How long after its snapshot stopped being the table's current one a page token still reads it.
_DEFAULT_PAGE_TOKEN_TTL_SECONDS = 15 * 60.0
# The result cache takes at most 64 MiB, and no more than an eighth of the container's memory.
_RESULT_CACHE_BYTES, _RESULT_CACHE_SHARE = 64 * 2**20, 8
# Answers waiting to be sent keep at most this much Arrow data in memory between them (the
# rest goes to temporary files): 128 MiB, and no more than an eighth of the container's memory.
_ANSWER_MEMORY_BYTES, _ANSWER_MEMORY_SHARE = 128 * 2**20, 8
# Answers spilled to temporary files, all together: on Cloud Run /tmp is memory too, so the
# files must fit beside everything else: a quarter of the container's memory.
_SPILL_SHARE = 4
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20}
_UNITS |= {"GIB": 2**30, "TB": 10**12, "TIB": 2**40}


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How the pod sizes its query engine; from the container and DATAPIC_* variables."""

    cpus: int  # CPUs the container may use (whole, at least 1)
    memory_bytes: int  # memory the container may use
    duckdb_threads: int
    duckdb_memory_bytes: int  # DuckDB's memory_limit, shared by the queries running at once
    max_concurrent_queries: int
    queue_seconds: float  # how long a request waits for a query slot before a 503
    result_cache_bytes: int = 64 * 2**20  # answers kept in memory (the result cache)
    # Arrow data of answers being sent held in memory, all requests together; beyond it an
    # answer is spilled to a temporary file (answer.SpooledAnswer).
    answer_memory_bytes: int = _ANSWER_MEMORY_BYTES
    # Arrow data of answers being sent held in temporary files, all requests together; an
    # answer that would go beyond it is a 503 (retry when other clients have read theirs).
    spill_bytes: int = 2**30
    request_threads: int = _DEFAULT_REQUEST_THREADS  # requests answered in threads at once
    # A page token's snapshot is readable while current and this long after it was replaced.
    page_token_ttl_seconds: float = _DEFAULT_PAGE_TOKEN_TTL_SECONDS

    @property
    def duckdb_memory_limit(self) -> str:
        """DuckDB's memory_limit setting."""
        return f"{max(1, self.duckdb_memory_bytes // 2**20)}MiB"


def container_cpus(root: Path = CGROUP) -> int:
    """CPUs this process may use: the cgroup quota, else the affinity mask, else cpu_count()."""
    visible = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    visible = visible or os.cpu_count() or 1
    quota = _cgroup_v2_cpus(root) or _cgroup_v1_cpus(root)
    return max(1, min(visible, math.ceil(quota))) if quota else visible


def _cgroup_v2_cpus(root: Path) -> float | None:
    text = _read(root / "cpu.max")  # "max 100000" or "200000 100000"
    if not text:
        return None
    quota, _, period = text.partition(" ")
    if quota == "max" or not period:
        return None
    return int(quota) / int(period)


def _cgroup_v1_cpus(root: Path) -> float | None:
    quota = _read(root / "cpu" / "cpu.cfs_quota_us")
    period = _read(root / "cpu" / "cpu.cfs_period_us")
    if not quota or not period or int(quota) <= 0:
        return None
    return int(quota) / int(period)


def container_memory(root: Path = CGROUP) -> int:
    """Bytes this process may use: the cgroup limit, else the machine's physical memory."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    v2 = _read(root / "memory.max")
    if v2 and v2 != "max":
        return min(int(v2), physical)
    v1 = _read(root / "memory" / "memory.limit_in_bytes")
    if v1 and int(v1) < _V1_UNLIMITED:
        return min(int(v1), physical)
    return physical


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None


def parse_bytes(text: str) -> int:
    """`2GB`, `512MiB`, `1000000` as bytes; ValueError otherwise."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]I?B|B)?", text.strip().upper().replace(" ", ""))
    if match is None:
        raise ValueError(f"not a size: {text!r} (examples: 512MiB, 2GB)")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


def load_limits(env: Mapping[str, str] = os.environ, root: Path = CGROUP) -> Limits:
    """The limits for this container, each overridable by its DATAPIC_* variable."""
    cpus = container_cpus(root)
    memory = container_memory(root)
    threads = _positive(env, "DATAPIC_DUCKDB_THREADS", cpus)
    duckdb_memory = int(memory * _DUCKDB_MEMORY_SHARE)
    if env.get("DATAPIC_QUERY_MEMORY_LIMIT"):
        duckdb_memory = parse_bytes(env["DATAPIC_QUERY_MEMORY_LIMIT"])
    return Limits(
        cpus=cpus,
        memory_bytes=memory,
        duckdb_threads=threads,
        duckdb_memory_bytes=duckdb_memory,
        max_concurrent_queries=_positive(env, "DATAPIC_MAX_CONCURRENT_QUERIES", cpus),
        queue_seconds=float(env.get("DATAPIC_QUERY_QUEUE_SECONDS") or _DEFAULT_QUEUE_SECONDS),
        result_cache_bytes=parse_bytes(env["DATAPIC_RESULT_CACHE_BYTES"])
        if env.get("DATAPIC_RESULT_CACHE_BYTES")
        else min(_RESULT_CACHE_BYTES, memory // _RESULT_CACHE_SHARE),
        answer_memory_bytes=parse_bytes(env["DATAPIC_ANSWER_MEMORY_BYTES"])
        if env.get("DATAPIC_ANSWER_MEMORY_BYTES")
        else min(_ANSWER_MEMORY_BYTES, memory // _ANSWER_MEMORY_SHARE),
        spill_bytes=parse_bytes(env["DATAPIC_SPILL_BYTES"])
        if env.get("DATAPIC_SPILL_BYTES")
        else memory // _SPILL_SHARE,
        request_threads=_positive(env, "DATAPIC_REQUEST_THREADS", _DEFAULT_REQUEST_THREADS),
        page_token_ttl_seconds=float(
            env.get("DATAPIC_PAGE_TOKEN_TTL_SECONDS") or _DEFAULT_PAGE_TOKEN_TTL_SECONDS
        ),
    )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    value = int(text)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {text!r}")
    return value


def size_pyiceberg_pool(cpus: int, env: dict = os.environ) -> None:
    """Give pyiceberg's shared thread pool the container's CPUs, not min(32, host CPUs + 4),
    unless the operator configured max-workers (PYICEBERG_MAX_WORKERS or .pyiceberg.yaml)."""
    from pyiceberg.utils.config import Config

    if Config().get_int("max-workers") is None:
        env["PYICEBERG_MAX_WORKERS"] = str(cpus)


class QuerySlots:
    """At most `size` queries at once; a request that waits longer than `timeout` gets a 503.

    A slot covers running the query, up to the answer read whole (answer.SpooledAnswer), never
    its transfer: clients that read slowly, or not at all, cannot hold the engine.

    Waiting requests get slots in the order they asked: a freed slot goes to the longest
    waiting one, never to a request that asks just then. With a semaphore, arrivals took freed
    slots ahead of waiters, so under many clients a few waited past the timeout (503s) while
    most were served in a fraction of it.
    """

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self._free = size
        self._waiting: collections.deque[threading.Event] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> Slot:
        """A held slot, released by its release() (once; later calls do nothing)."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return Slot(self._hand_on)
            turn = threading.Event()
            self._waiting.append(turn)
        if not turn.wait(self.timeout):
            with self._lock:
                if not turn.is_set():  # not handed a slot while the wait ended
                    self._waiting.remove(turn)
                    raise PodError(
                        503,
                        f"the pod is busy ({self.size} queries running); retry shortly",
                        {"Retry-After": "1"},
                    )
        return Slot(self._hand_on)

    def _hand_on(self) -> None:
        """A freed slot: to the longest waiting request, else back to the free ones."""
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


class Slot:
    """One running query's claim on a QuerySlots; release() may come from any thread."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the slot back (idempotent: streams may be closed and exhausted both)."""
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()


class MemoryBudget:
    """Bytes shared by whoever holds memory for a while (answers waiting to be sent): take()
    claims some if they are free, give() returns them; never blocks."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> bool:
        """Claim `nbytes` if that keeps within the budget; False (nothing claimed) otherwise."""
        with self._lock:
            if self.used + nbytes > self.size:
                return False
            self.used += nbytes
            return True

    def give(self, nbytes: int) -> None:
        """Return `nbytes` taken earlier."""
        with self._lock:
            self.used = max(0, self.used - nbytes)
