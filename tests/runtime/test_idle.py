"""idle.py: once no request has been in flight for a quiet period, the pod retires AnyIO's idle
worker threads (their allocator caches with them) and releases unused memory; never while a
request is in flight. Driven through the ASGI interface with a real AnyIO worker pool; the
waits are on events with generous bounds, nothing asserts on durations."""

from __future__ import annotations

import asyncio
import threading

import anyio
import pyarrow as pa
import pytest
from anyio._backends._asyncio import WorkerThread
from datapic_runtime import idle
from datapic_runtime.idle import IdleRelease, configure_allocators, release_memory

QUIET = 0.05
WAIT = 30.0  # a bound for waits that end far sooner; never a measured duration


class _App:
    """An ASGI app answering 200; a request to /hold waits until `held` is set. Each request
    runs a function in a worker thread, which records its thread."""

    def __init__(self, workers: int = 1) -> None:
        self.held = asyncio.Event()
        self.threads: set[threading.Thread] = set()
        self._barrier = threading.Barrier(workers)

    def _work(self) -> None:
        self.threads.add(threading.current_thread())
        self._barrier.wait(WAIT)  # all at once: each request gets a worker thread of its own

    async def __call__(self, scope, receive, send) -> None:
        if scope["path"] == "/hold":
            await self.held.wait()
        else:
            await anyio.to_thread.run_sync(self._work)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _request(app, path: str = "/get_data") -> None:
    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(_message):
        return None

    await app({"type": "http", "path": path, "method": "GET"}, receive, send)


class _Releases:
    def __init__(self) -> None:
        self.count = 0
        self.done = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.done.set()


def test_memory_is_released_once_after_the_last_request_ends(monkeypatch):
    monkeypatch.setattr(idle, "EXIT_SECONDS", 0.0)
    released = _Releases()

    async def main():
        app = IdleRelease(_App(), quiet_seconds=QUIET, release=released)
        for _ in range(3):
            await _request(app)
        await asyncio.wait_for(asyncio.to_thread(released.done.wait, WAIT), WAIT)
        await asyncio.sleep(QUIET * 4)  # more quiet periods: nothing new to release

    asyncio.run(main())
    assert released.count == 1


def test_nothing_is_released_while_a_request_is_in_flight(monkeypatch):
    monkeypatch.setattr(idle, "EXIT_SECONDS", 0.0)
    released = _Releases()

    async def main():
        inner = _App()
        app = IdleRelease(inner, quiet_seconds=QUIET, release=released)
        await _request(app)  # the pod is quiet after this one: the wait for quiet begins
        holding = asyncio.create_task(_request(app, "/hold"))
        await _request(app)  # ends while /hold is still in flight
        await asyncio.sleep(QUIET * 10)
        in_flight = released.count
        inner.held.set()
        await holding
        await asyncio.wait_for(asyncio.to_thread(released.done.wait, WAIT), WAIT)
        return in_flight

    assert asyncio.run(main()) == 0
    assert released.count == 1


def test_idle_worker_threads_are_retired(monkeypatch):
    """The call made when quiet retires every worker idle past AnyIO's limit (10 s in a pod,
    shortened here): their threads end, and with them their allocators' per-thread caches."""
    monkeypatch.setattr(WorkerThread, "MAX_IDLE_TIME", QUIET)
    monkeypatch.setattr(idle, "EXIT_SECONDS", 0.0)
    released = _Releases()
    workers = 6

    async def main():
        inner = _App(workers)
        app = IdleRelease(inner, quiet_seconds=QUIET * 2, release=released)
        await asyncio.gather(*(_request(app) for _ in range(workers)))
        await asyncio.wait_for(asyncio.to_thread(released.done.wait, WAIT), WAIT)
        return inner.threads

    threads = asyncio.run(main())
    assert len(threads) == workers
    for thread in threads:
        thread.join(WAIT)
    assert not [t for t in threads if t.is_alive()]


def test_release_memory_trims_and_releases(monkeypatch):
    calls = []
    monkeypatch.setattr(idle, "_TRIM", lambda: calls.append("trim"))
    release_memory()
    assert calls == ["trim"]
    assert idle._malloc_trim() is not None  # glibc, where the pods run


@pytest.mark.parametrize(("env", "backend"), [({}, "system"), (idle.ARROW_POOL_VARIABLE, None)])
def test_arrow_uses_the_system_allocator_unless_the_operator_chose(env, backend):
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.mimalloc_memory_pool())
        configure_allocators({env: "mimalloc"} if isinstance(env, str) else env)
        assert pa.default_memory_pool().backend_name == (backend or "mimalloc")
    finally:
        pa.set_memory_pool(before)
