"""The schema lock in pod.json: its JSON form, and the previous one, kept when compiling
without `--check` a spec that did not change.

`--check` finds the types (compiler/check/lock.py); without it no catalog is asked, so the lock
the pod directory already holds is carried over as long as it still describes the same query:
the spec's hash and the columns read and answered are those of the new compile. Anything else
(a changed spec, no pod yet, a pod.json from elsewhere) drops it: openapi.json then leaves the
answer's columns untyped, as before any `--check`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..spec.ir import CompiledQuery, Pod, SchemaLock

# pod.json's key for the lock (optional: a pod compiled without --check has none).
KEY = "schema_lock"


def lock_document(lock: SchemaLock) -> dict[str, dict[str, str]]:
    """The lock as pod.json holds it: one `name: type` line per column, so a changed type is a
    one-line diff."""
    return {"table_columns": dict(lock.table_columns), "columns": dict(lock.columns)}


def previous_lock(pod_json: Path, pod: Pod, query: CompiledQuery) -> SchemaLock | None:
    """The lock in an existing pod.json, if it was compiled from this very spec into the same
    columns; None otherwise (also when the file is missing or not a pod.json)."""
    try:
        document = json.loads(pod_json.read_text(encoding="utf-8"))
        return _same_query_lock(document, pod, query)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _same_query_lock(document: Any, pod: Pod, query: CompiledQuery) -> SchemaLock | None:
    if document["spec"]["sha256"] != pod.provenance.spec_sha256:
        return None
    if KEY not in document:
        return None
    read, answered = document[KEY]["table_columns"], document[KEY]["columns"]
    # The query may differ from the same spec's (project settings, another datapic): then the
    # lock may not describe its columns.
    if sorted(read) != sorted(query.read_columns) or sorted(answered) != sorted(query.columns):
        return None
    if not all(isinstance(t, str) for t in (*read.values(), *answered.values())):
        return None
    return SchemaLock(
        table_columns=tuple((name, read[name]) for name in query.read_columns),
        columns=tuple((name, answered[name]) for name in query.columns),
    )
