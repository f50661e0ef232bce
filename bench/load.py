"""Issue 11: a pod under load. N normal clients call it in a loop for a fixed time, once alone
and once beside slow clients (reading the answer at 64 KB/s) and stalled ones (sending the
request, never reading); their p99 should stay within 2x, with no errors; on a small answer and
on one of several MB. Then many clients on a pod with a short freshness, counting the table
loads it sends its catalog (its /metrics). Threads and raw sockets, so a slow reader really
holds the pod's send buffer."""

from __future__ import annotations

import math
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from servers import HttpClient, Request, metric

if TYPE_CHECKING:
    from capacity import Settling

CHUNK = 4096
CATALOG_LOADS = "datapic_catalog_loads_total"
# The pods of issue 11's rows besides the 1x measured ones (keys as in run.py).
FRESH = ("fresh", 1, False)
LARGE = ("large", 1, False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """How many clients of each kind, and for how long."""

    clients: int = 50
    slow: int = 5
    stalled: int = 2
    slow_bytes_per_s: int = 64 * 1024
    seconds: float = 10.0


def _normal(port: int, request: Request, until: float, out: list, errors: list) -> None:
    client = HttpClient(port, 60.0)
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            status, _ = client.send(request)
        except OSError as error:
            errors.append(repr(error))
            client.close()
            continue
        if status != 200:
            errors.append(f"status {status}")
        else:
            out.append(time.perf_counter() - started)
    client.close()


def _raw(port: int, request: Request) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60.0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
    sock.sendall(
        f"{request.method} {request.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    return sock


def _slow(port: int, request: Request, until: float, rate: int, stop: threading.Event) -> None:
    """Whole answers read CHUNK bytes at a time at `rate` bytes/s, again until `until`."""
    while time.monotonic() < until and not stop.is_set():
        with _raw(port, request) as sock:
            while not stop.is_set() and sock.recv(CHUNK):
                time.sleep(CHUNK / rate)


def _stalled(port: int, request: Request, stop: threading.Event) -> None:
    """Sends the request and never reads, until the run is over."""
    with _raw(port, request):
        stop.wait()


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_load(port: int, request: Request, load: Load, disturbed: bool) -> dict:
    """Normal clients for `load.seconds`, with the slow and stalled ones when `disturbed`:
    their latencies (p50, p99 ms), answers and errors."""
    until = time.monotonic() + load.seconds
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_normal, args=(port, request, until, latencies, errors))
        for _ in range(load.clients - (load.slow + load.stalled if disturbed else 0))
    ]
    others = []
    if disturbed:
        others += [
            threading.Thread(
                target=_slow, args=(port, request, until, load.slow_bytes_per_s, stop), daemon=True
            )
            for _ in range(load.slow)
        ]
        others += [
            threading.Thread(target=_stalled, args=(port, request, stop), daemon=True)
            for _ in range(load.stalled)
        ]
    for thread in others + threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    for thread in others:
        thread.join(timeout=5.0)
    return {
        "clients": len(threads),
        "answers": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_ms": _ms(percentile(latencies, 0.5)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def slow_clients(port: int, request: Request, load: Load) -> dict:
    """Issue 11's first row: the normal clients alone, then beside the slow and stalled ones."""
    alone = run_load(port, request, load, disturbed=False)
    beside = run_load(port, request, load, disturbed=True)
    ratio = None
    if alone["p99_ms"] and beside["p99_ms"]:
        ratio = beside["p99_ms"] / alone["p99_ms"]
    return {"alone": alone, "beside_slow": beside, "p99_ratio": ratio}


def many_clients(port: int, request: Request, clients: int, seconds: float) -> dict:
    """Issue 11's second row: `clients` normal clients on the (uncached) reduction pod."""
    return run_load(port, request, Load(clients=clients, seconds=seconds), disturbed=False)


def catalog_loads(port: int, request: Request, load: Load, freshness: float) -> dict:
    """`load.clients` clients on a pod whose freshness is `freshness` seconds, and the table
    loads it sent to its catalog meanwhile (its /metrics): per freshness period begun, at most
    one is ideal (the first request of the run finds the table stale: it counts as the first)."""
    before = metric(port, CATALOG_LOADS)
    started = time.monotonic()
    run = run_load(port, request, load, disturbed=False)
    elapsed = time.monotonic() - started
    after = metric(port, CATALOG_LOADS)
    loads = None if before is None or after is None else after - before
    periods = math.floor(elapsed / freshness) + 1
    per_period = None if loads is None else loads / periods
    return {
        **run,
        "freshness_s": freshness,
        "seconds": elapsed,
        "catalog_loads": loads,
        "periods": periods,
        "loads_per_period": per_period,
    }


def answer_bytes(port: int, request: Request) -> int:
    """The size of one whole answer to `request`."""
    client = HttpClient(port, 60.0)
    try:
        status, body = client.send(request)
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"answered {status}: {body[:300]!r}")
    return len(body)


def measure_load(args, compiled: dict, pods: dict, memory: Settling | None) -> dict:
    """Issue 11's rows on the running 1x pods: slow clients on the projection and on the
    large projection (both answered as CSV), many clients on the uncached reduction with a
    short freshness (errors and catalog loads), while the memory pod settles."""
    found: dict = {}
    for name, key in (("slow_clients", ("projection", 1, False)), ("large_answer", LARGE)):
        request = Request(method="GET", path=compiled[key].path + "&format=csv")
        clients = args.load_clients if key != LARGE else args.large_clients
        load = Load(clients=clients, seconds=args.load_seconds)
        found[name] = slow_clients(pods[key].port, request, load)
        found[name]["answer_bytes"] = answer_bytes(pods[key].port, request)
    request = Request(method="GET", path=compiled[FRESH].path)
    load = Load(clients=args.many_clients, seconds=args.load_seconds)
    found["many_clients"] = catalog_loads(pods[FRESH].port, request, load, args.fresh_seconds)
    if memory is not None:
        found["memory"] = memory.finish()
    return found
