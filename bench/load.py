"""Issue 11: a pod under load. N normal clients call it in a loop for a fixed time, once alone
and once beside slow clients (reading the answer at 64 KB/s) and stalled ones (sending the
request, never reading); their p99 should stay within 2x, with no errors. Threads and raw
sockets, so a slow reader really holds the pod's send buffer."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from servers import HttpClient, Request

CHUNK = 4096


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


def measure_load(args, compiled: dict, pods: dict) -> dict:
    """Both rows of issue 11 on the running 1x pods: slow clients on the projection (answered
    as CSV), many clients on the uncached reduction."""
    key = ("projection", 1, False)
    projection = Request(method="GET", path=compiled[key].path + "&format=csv")
    load = Load(clients=args.load_clients, seconds=args.load_seconds)
    found = {"slow_clients": slow_clients(pods[key].port, projection, load)}
    key = ("reduction", 1, False)
    reduction = Request(method="GET", path=compiled[key].path)
    found["many_clients"] = many_clients(
        pods[key].port, reduction, args.many_clients, args.load_seconds
    )
    # The pod exposes no count of its catalog requests (no metric, no log line), so catalog
    # requests per freshness period are not measured here.
    found["many_clients"]["catalog_requests_per_period"] = None
    return found
