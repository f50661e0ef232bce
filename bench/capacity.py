"""Issue 11: what a pod costs under load. Memory: the projection pod's peak RSS under many
clients against twice its idle RSS plus the query memory it was configured with, and its RSS a
while after the load against its level after warm-up. Throughput: answers per CPU-second of the
server process, the pod against ROAPI with the same clients, in alternating slices."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from load import Load, run_load
from servers import HttpClient, Request, Server

MIB = 2**20
# The memory row's pod is started with these (a Cloud Run instance of 512 MiB would get about
# this much); the bound counts both, since DuckDB and the answers being sent may hold them.
QUERY_MEMORY_MIB = 256
ANSWER_MEMORY_MIB = 64
MEMORY_ENV = {
    "DATAPIC_QUERY_MEMORY_LIMIT": f"{QUERY_MEMORY_MIB}MiB",
    "DATAPIC_ANSWER_MEMORY_BYTES": str(ANSWER_MEMORY_MIB * MIB),
}
# Sequential requests before the idle level is read: every code path and buffer touched once.
WARM_REQUESTS = 20
SAMPLE_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Settling:
    """The memory row, measured but for the RSS after the load: `finish` waits out the rest
    of the settle time (other rows may run meanwhile, on other processes) and reads it."""

    server: Server
    found: dict
    until: float

    def finish(self) -> dict:
        """The row with `settled_rss_mb` and its ratio to the post-warm-up level."""
        time.sleep(max(0.0, self.until - time.monotonic()))
        settled = self.server.rss_mb()
        idle = self.found["idle_rss_mb"]
        return {
            **self.found,
            "settled_rss_mb": settled,
            "settled/idle": settled / idle if settled and idle else None,
        }


def memory_under_load(
    server: Server, request: Request, clients: int, seconds: float, settle: float
) -> Settling:
    """Warm the pod, read its idle RSS, run `clients` for `seconds` while its RSS is sampled
    (and its VmHWM restarted, where Linux allows), then leave it `settle` seconds idle."""
    client = HttpClient(server.port, 60.0)
    for _ in range(WARM_REQUESTS):
        status, body = client.send(request)
        if status != 200:
            raise RuntimeError(f"memory pod answered {status}: {body[:300]!r}")
    client.close()
    idle = server.rss_mb()
    peak_reset = server.reset_peak_rss()
    samples: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(server, samples, stop), daemon=True)
    sampler.start()
    run = run_load(server.port, request, Load(clients=clients, seconds=seconds), disturbed=False)
    stop.set()
    sampler.join()
    peak = max([*samples, server.peak_rss_mb() or 0.0] if peak_reset else samples or [0.0])
    configured = QUERY_MEMORY_MIB + ANSWER_MEMORY_MIB
    bound = 2 * idle + configured if idle else None  # RSS figures are in MiB too
    found = {
        "clients": clients,
        "answers": run["answers"],
        "errors": run["errors"],
        "first_errors": run["first_errors"],
        "idle_rss_mb": idle,
        "peak_rss_mb": peak,
        "peak_from": "VmHWM and samples" if peak_reset else "samples",
        "configured_mb": configured,
        "bound_mb": bound,
        "peak/bound": peak / bound if bound else None,
        "after_load_rss_mb": server.rss_mb(),
        "settle_seconds": settle,
    }
    return Settling(server, found, time.monotonic() + settle)


def _sample(server: Server, samples: list[float], stop: threading.Event) -> None:
    while not stop.wait(SAMPLE_SECONDS):
        rss = server.rss_mb()
        if rss is not None:
            samples.append(rss)


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    """One server of the throughput row and the request its clients send."""

    name: str
    server: Server
    request: Request


def throughput(
    contenders: list[Served],
    clients: int,
    seconds: float,
    slices: int,
    progress: Callable[[str], None],
) -> dict:
    """Each contender gets `clients` clients for `seconds`, `slices` times, in alternating
    order; answers per CPU-second its process used (utime + stime from /proc, every thread),
    so other work on a shared machine does not count against it."""
    totals = {c.name: {"answers": 0, "errors": 0, "cpu_s": 0.0, "wall_s": 0.0} for c in contenders}
    for number in range(slices):
        order = contenders if number % 2 == 0 else contenders[::-1]
        for contender in order:
            cpu = contender.server.cpu_seconds()
            started = time.monotonic()
            run = run_load(
                contender.server.port,
                contender.request,
                Load(clients=clients, seconds=seconds),
                disturbed=False,
            )
            total = totals[contender.name]
            total["wall_s"] += time.monotonic() - started
            total["cpu_s"] += contender.server.cpu_seconds() - cpu
            total["answers"] += run["answers"]
            total["errors"] += run["errors"]
        progress(f"  throughput slice {number + 1}/{slices}")
    for total in totals.values():
        total["per_s"] = total["answers"] / total["wall_s"] if total["wall_s"] else None
        total["cores_used"] = total["cpu_s"] / total["wall_s"] if total["wall_s"] else None
        total["per_cpu_s"] = total["answers"] / total["cpu_s"] if total["cpu_s"] else None
    return {"clients": clients, "seconds": seconds, "slices": slices, "by": totals}
