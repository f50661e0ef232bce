"""When to ask a pod again: a 503 (the pod's catalog or query slots are busy) or a 429 (Cloud
Run has no instance free) after the answer's `Retry-After`, and a connection that could not be
opened, within a bounded number of attempts and a bounded total wait."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRY_STATUSES = (429, 503)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """At most `retries` more attempts per request, sleeping at most `max_wait` seconds in all."""

    retries: int = 5
    max_wait: float = 60.0
    # Without a Retry-After: 0.5 s, 1 s, 2 s, … up to this.
    max_backoff: float = 8.0

    def delay(self, attempt: int, retry_after: str | None, waited: float) -> float | None:
        """Seconds to sleep after attempt number `attempt` (from 1) failed, before the next
        one; None to give up.

        >>> policy = RetryPolicy(retries=3, max_wait=10)
        >>> policy.delay(1, "5", 0), policy.delay(1, None, 0), policy.delay(2, None, 0)
        (5.0, 0.5, 1.0)
        >>> policy.delay(4, "1", 0), policy.delay(1, "5", 6)  # out of attempts / of time
        (None, None)
        """
        if attempt > self.retries:
            return None
        wait = seconds_after(retry_after)
        if wait is None:
            wait = min(0.5 * 2 ** (attempt - 1), self.max_backoff)
        return wait if waited + wait <= self.max_wait else None


def seconds_after(header: str | None, now: dt.datetime | None = None) -> float | None:
    """A Retry-After header's wait in seconds (delay-seconds or an HTTP date), None if absent
    or unreadable.

    >>> seconds_after("5"), seconds_after(" 0 "), seconds_after("soon"), seconds_after(None)
    (5.0, 0.0, None, None)
    >>> at = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    >>> seconds_after("Thu, 01 Jan 2026 12:00:30 GMT", now=at)
    30.0
    """
    if header is None:
        return None
    value = header.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())
