"""The log side of a request: what is learnt while answering it (for its log line and the
metrics), failures logged without secrets, and the format of the pod's log lines on stderr."""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable

import orjson

from .answer import ScanStats
from .config import PodConfig
from .errors import INTERNAL_ERROR, PodError, classify, first_line
from .metrics import RequestRecord, Telemetry, shown_parameters
from .secrets import redact

log = logging.getLogger("datapic.pod")


class Exchange:
    """What is learnt about one request while it is answered, for its log line and metrics."""

    def __init__(self, config: PodConfig, telemetry: Telemetry, route: str) -> None:
        self.config, self.telemetry, self.route = config, telemetry, route
        self.started = time.perf_counter()
        self.given: dict[str, str] = {}
        self.format: str | None = None
        self.limit: int | None = None
        self.offset = 0
        self.more = False
        self.snapshot_id: int | None = None
        self.stats: ScanStats | None = None
        self.rows = 0
        self.bytes_sent = 0
        self.first_byte_ms: float | None = None
        # The verified caller's token subject (never the token), for the log line.
        self.subject: str | None = None
        self._ends: list[Callable[[], None]] = []
        telemetry.started()

    def on_end(self, action: Callable[[], None]) -> None:
        """Run `action` when the request ends, however it ends (a caller's query count)."""
        self._ends.append(action)

    def elapsed_ms(self) -> float:
        """Milliseconds since the request arrived."""
        return (time.perf_counter() - self.started) * 1000

    def sent(self, chunk: bytes) -> None:
        """Count `chunk` as sent (the first one also times the first byte)."""
        if self.first_byte_ms is None:
            self.first_byte_ms = self.elapsed_ms()
        self.bytes_sent += len(chunk)

    def failure(self, exc: Exception) -> PodError:
        """The PodError for `exc`; a 5xx is logged without secrets (with its traceback when
        unexpected). The request's own log line carries every status."""
        config = self.config
        error = classify(
            exc, catalog=config.source.catalog, table=config.source.display, given=self.given
        )
        if error.status < 500:
            return error
        if error.message is INTERNAL_ERROR:
            trace = "".join(traceback.format_exception(exc)).rstrip()
            log.error("%s: %s\n%s", config.name, INTERNAL_ERROR, redact(trace))
        else:
            # One line, no traceback: the failure is known. What raised it (DuckDB naming the
            # missing file, say) tells the operator where to look.
            detail = f"{type(exc).__name__}: {first_line(exc)}"
            cause = exc.__cause__
            if cause is not None:
                detail += f"; from {type(cause).__name__}: {first_line(cause)}"
            log.error("%s: %d %s (%s)", config.name, error.status, error.message, redact(detail))
        return error

    def end(self, status: int, outcome: str, error: str | None = None) -> None:
        """Log and count the request (called exactly once per request)."""
        declared = {p.name for p in self.config.parameters} if self.given else set()
        for action in self._ends:
            action()
        self.telemetry.finished(
            RequestRecord(
                pod=self.config.name,
                route=self.route,
                status=status,
                outcome=outcome,
                parameters=shown_parameters(self.given, declared),
                format=self.format,
                limit=self.limit,
                offset=self.offset,
                next_page=self.more,
                snapshot_id=self.snapshot_id,
                stats=self.stats,
                rows=self.rows,
                bytes_sent=self.bytes_sent,
                ms=self.elapsed_ms(),
                first_byte_ms=self.first_byte_ms,
                error=error,
                subject=self.subject,
            )
        )


class PodLogFormat(logging.Formatter):
    """A request's line as one JSON object (structured logging on Cloud Run); other lines as
    `ERROR:    datapic.pod: message`, aligned with uvicorn's own."""

    def format(self, record: logging.LogRecord) -> str:
        """One log line for `record`."""
        fields = getattr(record, "request", None)
        if fields is not None:
            line = {"severity": record.levelname, "message": record.getMessage(), **fields}
            return orjson.dumps(line, default=str).decode()
        return f"{record.levelname + ':':<9} {record.name}: {super().format(record)}"


def setup_logging() -> None:
    """Send the pod's log lines to stderr next to uvicorn's, unless logging is configured."""
    logger = logging.getLogger("datapic")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PodLogFormat())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
