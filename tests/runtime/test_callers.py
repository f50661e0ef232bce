"""Per-caller limits on a clock the test moves: the rate's bucket, queries at once, the bounded
table of subjects, and the 429s counted by reason."""

from __future__ import annotations

import pytest
from datapic_runtime.authspec import CallerLimits
from datapic_runtime.callers import CallerTable
from datapic_runtime.errors import PodError
from prometheus_client import CollectorRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(table: CallerTable, subject: str) -> PodError:
    with pytest.raises(PodError) as caught:
        table.enter(subject)
    assert caught.value.status == 429
    return caught.value


def test_a_caller_gets_its_rate_then_429_with_retry_after_and_refills():
    clock, registry = Clock(), CollectorRegistry()
    table = CallerTable(CallerLimits(requests_per_minute=3), registry, clock=clock)
    for _ in range(3):
        table.enter("alice")()
    error = refused(table, "alice")
    assert error.headers["Retry-After"] == "20"  # a token every 60/3 seconds
    table.enter("bob")()  # another caller is not held back
    clock.now += 20
    table.enter("alice")()
    refused(table, "alice")
    assert registry.get_sample_value("datapic_caller_limited_total", {"reason": "rate"}) == 2


def test_queries_at_once_are_counted_until_each_ends():
    registry = CollectorRegistry()
    table = CallerTable(CallerLimits(concurrent_queries=2), registry, clock=Clock())
    first, second = table.enter("alice"), table.enter("alice")
    error = refused(table, "alice")
    assert error.headers["Retry-After"] == "1"
    table.enter("bob")()
    first()
    first()  # ending twice frees one slot, not two
    third = table.enter("alice")
    refused(table, "alice")
    second(), third()
    labels = {"reason": "concurrency"}
    assert registry.get_sample_value("datapic_caller_limited_total", labels) == 2


def test_no_limits_admit_everyone():
    table = CallerTable(CallerLimits(), clock=Clock())
    held = [table.enter("alice") for _ in range(1000)]
    assert len(held) == 1000


def test_the_table_forgets_the_least_recent_idle_subjects_but_never_a_busy_one():
    clock = Clock()
    table = CallerTable(
        CallerLimits(requests_per_minute=1, concurrent_queries=1), clock=clock, max_subjects=3
    )
    busy = table.enter("busy")
    for name in ("a", "b", "c", "d", "e"):
        table.enter(name)()
    assert len(table) == 3
    refused(table, "busy")  # still known: its query still counts
    refused(table, "e")  # the most recent stays
    table.enter("a")  # forgotten, so a fresh bucket
    busy()
