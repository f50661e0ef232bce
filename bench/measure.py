"""Timing, two ways; both shuffle the contenders' order every round (seeded, so every run uses
the same orders), so machine noise (other processes, CPU frequency, page cache) hits them alike
and none always follows the same neighbour.

- `round_robin`: every contender called once per round (a fixed order let `duckdb pruned`
  always run right after `duckdb` over the same files, warm from it). A contender may be
  capped to fewer samples (the naive approach).
- `in_bursts`: every contender called several times in a row per round, the first call of
  each burst kept apart. For a per-request overhead of a few milliseconds: a server process
  that sat idle while others ran (a 2 s naive scan, say) answers its next request up to 1 ms
  slower on this machine (its threads woken, its caches cold), a cost an in-process reference
  never pays. Within a burst each contender runs as it does under steady traffic."""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Timed(Protocol):
    """What the bench times: `run` fetches an answer (timed, up to its last byte); `rows`
    counts it after the clock has stopped (decoding a JSON body is the client's work, which
    an in-process DuckDB answer as Arrow does not pay either)."""

    def run(self) -> object: ...

    def rows(self, answer: object) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One timed thing: a label, what is timed, and at most how many samples it gets."""

    label: str
    timed: Timed
    samples: int

    def call(self) -> tuple[float, int]:
        """Milliseconds to fetch one answer, and its rows (counted untimed)."""
        before = time.perf_counter()
        answer = self.timed.run()
        ms = (time.perf_counter() - before) * 1000
        return ms, self.timed.rows(answer)


@dataclass(slots=True, kw_only=True)
class Samples:
    """Milliseconds per call, and the rows of each answer (they must not vary)."""

    ms: list[float] = field(default_factory=list)
    rows: set[int] = field(default_factory=set)

    def stats(self) -> dict:
        """Median, p95 (nearest rank), min and count."""
        ordered = sorted(self.ms)
        if not ordered:
            return {"n": 0}
        rank = max(1, math.ceil(0.95 * len(ordered)))
        return {
            "n": len(ordered),
            "median_ms": statistics.median(ordered),
            "p95_ms": ordered[rank - 1],
            "min_ms": ordered[0],
            "rows": sorted(self.rows),
        }


# Seeds the order of each round: the same orders in every run of the bench.
ORDER_SEED = 11


def round_robin(
    entries: Sequence[Entry], rounds: int, warmup: int, progress: Callable[[str], None]
) -> dict[str, Samples]:
    """Call every entry once per round, in a shuffled order, after `warmup` untimed rounds. An
    entry capped below `rounds` is spread evenly over the rounds, never bunched at the start or
    end."""
    for _ in range(warmup):
        for entry in entries:
            # A capped entry (the naive full scan) keeps nothing warm worth the long call.
            if entry.samples >= rounds:
                entry.call()
    results = {entry.label: Samples() for entry in entries}
    order = random.Random(ORDER_SEED)
    started = time.monotonic()
    for number in range(rounds):
        for entry in order.sample(list(entries), len(entries)):
            if not _due(number, rounds, entry.samples):
                continue
            ms, rows = entry.call()
            results[entry.label].ms.append(ms)
            results[entry.label].rows.add(rows)
        if (number + 1) % max(1, rounds // 5) == 0 or number + 1 == rounds:
            progress(f"  round {number + 1}/{rounds} ({time.monotonic() - started:.0f} s)")
    return results


@dataclass(slots=True, kw_only=True)
class Burst:
    """A contender's calls in bursts: the first call of each burst, and the others (warm)."""

    first: Samples = field(default_factory=Samples)
    warm: Samples = field(default_factory=Samples)


def in_bursts(
    entries: Sequence[Entry], rounds: int, burst: int, progress: Callable[[str], None]
) -> dict[str, Burst]:
    """Per round, `burst` calls in a row to each entry, the entries in a shuffled order; the
    first call of each burst goes to `first`, the other `burst - 1` to `warm`."""
    results = {entry.label: Burst() for entry in entries}
    order = random.Random(ORDER_SEED)
    started = time.monotonic()
    for number in range(rounds):
        for entry in order.sample(list(entries), len(entries)):
            for call in range(burst):
                ms, rows = entry.call()
                samples = results[entry.label].warm if call else results[entry.label].first
                samples.ms.append(ms)
                samples.rows.add(rows)
        if (number + 1) % max(1, rounds // 5) == 0 or number + 1 == rounds:
            progress(f"  round {number + 1}/{rounds} ({time.monotonic() - started:.0f} s)")
    return results


def _due(number: int, rounds: int, samples: int) -> bool:
    """Whether round `number` takes a sample of an entry capped to `samples` of `rounds`."""
    if samples >= rounds:
        return True
    # Sample k is taken in round floor(k * rounds / samples) + offset: evenly spread.
    offset = rounds // (2 * samples)
    return any(number == k * rounds // samples + offset for k in range(samples))
