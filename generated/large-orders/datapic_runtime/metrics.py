"""What the pod tells its operator: one structured log line per /get_data request, and the
Prometheus metrics served at GET /metrics.

The log line is one JSON object (Cloud Logging reads `severity` and `message` from it) with the
pod, route, status, parameter values as the client sent them (redacted, shortened), format, page,
snapshot, files planned and pruned, rows, bytes sent, milliseconds and the result cache outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from .answer import ScanStats
from .secrets import redact, secret_values

log = logging.getLogger("datapic.pod")

METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST
# Seconds: from a cached reduction (a few ms) to a long streamed projection.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# A logged parameter value is cut here: the line must stay one readable line.
_VALUE_LIMIT = 120
_NO_STATS = ScanStats()


class Outcome:
    """How a request ended (the log line's `outcome`)."""

    COMPLETE = "complete"  # the whole body was sent
    REJECTED = "rejected"  # an error answer before any body byte
    DISCONNECTED = "disconnected"  # the client went away mid-body
    FAILED = "failed"  # the answer broke mid-body: the connection was cut


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRecord:
    """Everything known about one finished /get_data request."""

    pod: str
    route: str
    status: int
    outcome: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    format: str | None = None
    limit: int | None = None
    offset: int = 0
    next_page: bool = False
    snapshot_id: int | None = None
    stats: ScanStats | None = None
    rows: int = 0
    bytes_sent: int = 0
    ms: float = 0.0
    first_byte_ms: float | None = None
    error: str | None = None
    subject: str | None = None  # the caller's token `sub` on a pod with auth


def shown_parameters(given: Mapping[str, str], declared: set[str]) -> dict[str, str]:
    """The declared parameters' texts as the client sent them, redacted and shortened."""
    shown: dict[str, str] = {}
    if not given:
        return shown
    secrets = secret_values()  # once per request, not per parameter
    for name, text in given.items():
        if name in declared:
            value = redact(text, secrets)
            shown[name] = value if len(value) <= _VALUE_LIMIT else value[:_VALUE_LIMIT] + "…"
    return shown


def log_fields(record: RequestRecord) -> dict[str, Any]:
    """The JSON object of the request's log line: the record's fields in their order (the
    scan's stats last, flattened), written out rather than by dataclasses.asdict, whose deep
    copies cost a tenth of a millisecond on every request."""
    stats = record.stats or _NO_STATS
    fields: dict[str, Any] = {
        "pod": record.pod,
        "route": record.route,
        "status": record.status,
        "outcome": record.outcome,
        "parameters": dict(record.parameters),
        "format": record.format,
        "limit": record.limit,
        "offset": record.offset,
        "next_page": record.next_page,
        "snapshot_id": record.snapshot_id,
        "rows": record.rows,
        "bytes_sent": record.bytes_sent,
        "ms": round(record.ms, 1),
        "first_byte_ms": None if record.first_byte_ms is None else round(record.first_byte_ms, 1),
        "error": record.error,
    }
    if record.subject is not None:  # only pods with auth have callers to name
        fields["subject"] = record.subject
    fields["files_planned"] = stats.files_planned
    fields["files_pruned"] = stats.files_pruned
    fields["bytes_planned"] = stats.bytes_planned
    fields["cache"] = stats.cache
    return fields


class Telemetry:
    """The pod's metrics registry and request log (one per app, so tests can run several)."""

    def __init__(self, pod: str) -> None:
        self.pod = pod
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)  # memory and CPU of the pod process
        info = Gauge("datapic_pod_info", "The pod this process serves.", ["pod"], registry=registry)
        info.labels(pod=pod).set(1)
        self.requests = Counter(
            "datapic_requests",
            "Answered /get_data requests by status and answer format.",
            ["status", "format"],
            registry=registry,
        )
        self._request_counters: dict[tuple[int, str | None], Counter] = {}
        self.latency = Histogram(
            "datapic_request_duration_seconds",
            "Time from the request to the last body byte (or the error answer).",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "datapic_requests_in_flight",
            "/get_data requests being answered, streaming included.",
            registry=registry,
        )
        self.rows = Counter("datapic_rows_sent", "Rows sent in answers.", registry=registry)
        self.bytes = Counter("datapic_bytes_sent", "Answer body bytes sent.", registry=registry)
        self.files_scanned = Counter(
            "datapic_files_scanned", "Data files read after pruning.", registry=registry
        )
        self.files_pruned = Counter(
            "datapic_files_pruned", "Data files pruning ruled out.", registry=registry
        )
        self.bytes_scanned = Counter(
            "datapic_data_bytes_scanned",
            "On-storage size of the data files read.",
            registry=registry,
        )
        self.cache = Counter(
            "datapic_result_cache",
            "Result cache lookups by result (hit or miss).",
            ["result"],
            registry=registry,
        )
        # Single-flight reloads (query.py) keep this near one per freshness period however
        # many requests the pod serves; more means retries, credential renewals or a bug.
        self.catalog_loads = Counter(
            "datapic_catalog_loads",
            "Table loads sent to the catalog (the first, then about one per freshness period).",
            registry=registry,
        )
        self.aborted = Counter(
            "datapic_streams_aborted",
            "Answers cut mid-body, by reason (disconnected or failed).",
            ["reason"],
            registry=registry,
        )

    def started(self) -> None:
        """A /get_data request began."""
        self.in_flight.inc()

    def finished(self, record: RequestRecord) -> None:
        """A /get_data request ended (every started one ends here once): count it and log it."""
        self.in_flight.dec()
        self._requests(record.status, record.format).inc()
        self.latency.observe(record.ms / 1000)
        self.rows.inc(record.rows)
        self.bytes.inc(record.bytes_sent)
        if record.stats is not None:
            self.files_scanned.inc(record.stats.files_planned)
            self.files_pruned.inc(record.stats.files_pruned)
            self.bytes_scanned.inc(record.stats.bytes_planned)
            if record.stats.cache in ("hit", "miss"):
                self.cache.labels(result=record.stats.cache).inc()
        if record.outcome in (Outcome.DISCONNECTED, Outcome.FAILED):
            self.aborted.labels(reason=record.outcome).inc()
        failed = record.status >= 500 or record.outcome == Outcome.FAILED
        level = logging.ERROR if failed else logging.INFO
        message = f"GET {record.route} {record.status} {record.outcome}"
        log.log(level, message, extra={"request": log_fields(record)})

    def _requests(self, status: int, format: str | None) -> Counter:
        """The request counter of this status and format (the labelled child, found once:
        statuses and formats are a handful)."""
        counter = self._request_counters.get((status, format))
        if counter is None:
            counter = self.requests.labels(status=str(status), format=format or "none")
            self._request_counters[(status, format)] = counter
        return counter

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
