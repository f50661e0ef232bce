"""The text of the statement a request runs, kept per plan and page.

A plan (plan.py, kept per snapshot and row filter) answers request after request, and their
statements differ only by the values bound to them: building the text again reads every
planned file's entry (source.py) and copies the query around it, a tenth of a millisecond
for a few dozen files. So the text, the parameters naming the files and the statement's
shape are kept by plan (by identity: the plan cache hands out the same object) and page.

Not for a plan whose read registers Arrow tables with the request's own cursor (the rows
deletes remove, files pyiceberg reads): its statement names them, so it is built per cursor.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from .plan import Plan

# Statements kept (plans times pages): a pod has a handful of plans per snapshot.
DEFAULT_TEXTS = 256


@dataclass(frozen=True, slots=True)
class PlanStatement:
    """A request's statement but for its values: text, file parameters and shape."""

    sql: str
    params: Mapping[str, Any]  # the engine's own $parameters (file lists); never changed
    # The text without its page bounds and the types of the columns it reads: with the
    # values' types, what decides its output types (answer.Statements).
    unpaged: str
    columns: tuple[tuple[str, str], ...]


def reusable(plan: Plan) -> bool:
    """Whether `plan`'s statement names nothing but its parameters: no Arrow table registered
    with a cursor (source.read_planned registers them for deleted rows and pyiceberg's reads)."""
    return (
        bool(plan.files)
        and not plan.via_pyiceberg
        and not plan.equality_deletes
        and not any(file.task.has_deletes for file in plan.files)
    )


def column_types(plan: Plan) -> tuple[tuple[str, str], ...]:
    """The names and DuckDB types of the columns `plan` reads (the table's schema evolves)."""
    return tuple((c.name, str(c.duckdb_type)) for c in plan.columns)


class PlanTexts:
    """Statements of reusable plans, by plan and page bounds; thread-safe, bounded (emptied
    when full: each entry is rebuilt in microseconds by its next request)."""

    def __init__(self, max_entries: int = DEFAULT_TEXTS) -> None:
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[Plan, PlanStatement]] = {}
        self._lock = threading.Lock()

    def get(self, plan: Plan, page: Hashable) -> PlanStatement | None:
        """The statement kept for `plan` at `page`, if any."""
        entry = self._entries.get((id(plan), page))
        # The entry holds its plan, so no other plan can have its id while it is kept.
        return entry[1] if entry is not None and entry[0] is plan else None

    def put(self, plan: Plan, page: Hashable, statement: PlanStatement) -> None:
        """Keep `statement` for `plan` at `page` if the plan is reusable."""
        if not reusable(plan):
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[(id(plan), page)] = (plan, statement)

    def __len__(self) -> int:
        return len(self._entries)
