"""Giving memory back once the pod goes idle (issue 11: RSS after a load must come back within
10 % of its level after warm-up).

Under many clients a pod runs up to Limits.request_threads worker threads, and every allocator
keeps per-thread caches: DuckDB's jemalloc a tcache per thread, glibc its arenas. Nothing frees
them while the threads live, and AnyIO keeps idle workers until the next call into its pool
retires those idle for 10 s or more. So, once no request has been in flight for QUIET_SECONDS
(more than AnyIO's 10 s), `IdleRelease` makes one such call, whose only effect is that the idle
workers exit (their caches go back to their allocators), then hands what the allocators hold
unused back to the system (`release_memory`). Never on the hot path: at most once per quiet
spell, and only after requests.

The allocators themselves are set at start-up (`configure_allocators`): Arrow uses the system
allocator, whose free pages `malloc_trim` returns (its default, mimalloc, keeps freed pages in
per-thread heaps that outlive the threads' work); DuckDB purges its jemalloc arenas in
background threads (database.py), so what the exiting threads leave is returned within seconds.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
from collections.abc import Callable
from typing import Any

import anyio
import pyarrow as pa
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("datapic.pod")

# Seconds without a request in flight before memory is released: past AnyIO's MAX_IDLE_TIME
# (10 s), so every idle worker thread is retired by the one call made then.
QUIET_SECONDS = 12.0
# Time left for retired worker threads to exit before the allocators are trimmed.
EXIT_SECONDS = 1.0
# The operator's choice of Arrow allocator, which the pod leaves alone.
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def configure_allocators(env: dict | os._Environ = os.environ) -> None:
    """Arrow's buffers from the system allocator, unless the operator chose one."""
    if not env.get(ARROW_POOL_VARIABLE):
        pa.set_memory_pool(pa.system_memory_pool())


def _malloc_trim() -> Callable[[], Any] | None:
    """glibc's malloc_trim(0), or None where the C library has none (musl, macOS). Looked up
    in the process's own symbols: ctypes.util.find_library would run ldconfig."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


# Looked up at the first release, never at start-up (a cold start should not pay for it).
_TRIM: Callable[[], Any] | None | bool = False


def release_memory() -> None:
    """Hand back to the system what the allocators hold unused (run in a worker thread)."""
    global _TRIM
    pa.default_memory_pool().release_unused()
    if _TRIM is False:
        _TRIM = _malloc_trim()
    if callable(_TRIM):
        _TRIM()


def _retire_idle_workers() -> None:
    """Nothing: calling into AnyIO's pool is what retires its long-idle worker threads."""


class IdleRelease:
    """ASGI middleware counting the HTTP requests in flight; QUIET_SECONDS after the last one
    ends (and none began since), it retires the idle worker threads and calls `release`."""

    def __init__(
        self,
        app: ASGIApp,
        quiet_seconds: float = QUIET_SECONDS,
        release: Callable[[], None] = release_memory,
    ) -> None:
        self.app = app
        self.quiet_seconds = quiet_seconds
        self.release = release
        self.in_flight = 0
        self.requests = 0  # begun so far; a release waits for this to stop changing
        self.released_after = 0  # `requests` when memory was last released
        self._waiter: asyncio.Task | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        self.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0 and (self._waiter is None or self._waiter.done()):
                self._waiter = asyncio.get_running_loop().create_task(self._when_quiet())

    async def _when_quiet(self) -> None:
        """Wait until a whole quiet period passed with nothing in flight, then release."""
        seen = -1
        while seen != self.requests or self.in_flight:
            seen = self.requests
            await asyncio.sleep(self.quiet_seconds)
        if seen == self.released_after:
            return
        self.released_after = seen
        try:
            await anyio.to_thread.run_sync(_retire_idle_workers)
            await asyncio.sleep(EXIT_SECONDS)
            await anyio.to_thread.run_sync(self.release)
        except Exception as exc:  # noqa: BLE001 - freeing memory must never harm serving
            log.warning("releasing memory after a quiet spell failed: %s", type(exc).__name__)
