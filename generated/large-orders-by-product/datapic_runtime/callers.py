"""Per-caller limits (auth.limits): a request rate and a count of queries at once for each
token subject, so one caller cannot starve the others. Each instance keeps its own table (Cloud
Run runs several: the pod-wide rate is the instances' sum), bounded to MAX_SUBJECTS subjects,
the least recently seen idle one forgotten first.

Over either limit the request is a 429 with Retry-After, counted in
datapic_caller_limited_total{reason}.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from .authspec import CallerLimits
from .errors import PodError

MAX_SUBJECTS = 10_000


@dataclass(slots=True)
class _Subject:
    """One subject's bucket (tokens left, when last refilled) and its requests under way."""

    tokens: float
    refilled: float
    running: int = 0


class CallerTable:
    """Admits a subject's request within its rate and concurrency; `enter` returns the
    function that ends it."""

    def __init__(
        self,
        limits: CallerLimits,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_subjects: int = MAX_SUBJECTS,
    ) -> None:
        self.limits, self._clock, self._max = limits, clock, max_subjects
        self._subjects: OrderedDict[str, _Subject] = OrderedDict()
        self._lock = threading.Lock()
        self.limited = Counter(
            "datapic_caller_limited",
            "Requests refused with 429: a caller over its rate or its queries at once.",
            ["reason"],
            registry=registry,
        )

    def __len__(self) -> int:
        return len(self._subjects)

    def enter(self, subject: str) -> Callable[[], None]:
        """Count a request of `subject` as under way; a 429 PodError when over a limit."""
        rate, most = self.limits.requests_per_minute, self.limits.concurrent_queries
        with self._lock:
            now = self._clock()
            entry = self._entry(subject, now)
            if rate:
                entry.tokens = min(rate, entry.tokens + (now - entry.refilled) * rate / 60)
                entry.refilled = now
                if entry.tokens < 1:
                    wait = math.ceil((1 - entry.tokens) * 60 / rate)
                    raise self._refuse("rate", f"more than {rate} requests a minute", wait)
            if most and entry.running >= most:
                raise self._refuse("concurrency", f"more than {most} queries at once", 1)
            if rate:
                entry.tokens -= 1
            entry.running += 1
        return _Release(self, entry)

    def _entry(self, subject: str, now: float) -> _Subject:
        entry = self._subjects.get(subject)
        if entry is None:
            entry = _Subject(tokens=float(self.limits.requests_per_minute), refilled=now)
            self._subjects[subject] = entry
            self._forget(keep=subject)
        self._subjects.move_to_end(subject)
        return entry

    def _forget(self, keep: str) -> None:
        """Drop the least recently seen idle subjects beyond the table's bound. A subject with
        queries under way stays: forgetting it would let it past its concurrency limit."""
        excess = len(self._subjects) - self._max
        for name in list(self._subjects):
            if excess <= 0:
                return
            if name != keep and self._subjects[name].running == 0:
                del self._subjects[name]
                excess -= 1

    def _refuse(self, reason: str, what: str, seconds: int) -> PodError:
        self.limited.labels(reason=reason).inc()
        return PodError(429, f"this caller sent {what}; retry later", {"Retry-After": str(seconds)})

    def _leave(self, entry: _Subject) -> None:
        with self._lock:
            entry.running -= 1


class _Release:
    """Ends one admitted request (idempotent: an answer may end on several paths)."""

    def __init__(self, table: CallerTable, entry: _Subject) -> None:
        self._table, self._entry, self._done = table, entry, False

    def __call__(self) -> None:
        if not self._done:
            self._done = True
            self._table._leave(self._entry)  # noqa: SLF001 - the table's own helper
