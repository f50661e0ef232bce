"""`--check`: a spec compared with its table's live schema in the Iceberg catalog.

Owns loading schemas through pyiceberg (catalog.py, with settings.py and problems.py) and
judging a lowered pod against one (checker.py, kinds.py, locations.py) and what of the table
its pod would refuse to serve (features.py, the runtime's rules), and the pod's schema lock: the
types it reads and answers (lock.py, which asks DuckDB). Needs pyiceberg and DuckDB, the `check`
extra: nothing outside this package imports pyiceberg, and this module itself does not, so
compiling works without a catalog or pyiceberg. Must not change the IR or the compiled query:
it only adds DP05xx diagnostics and the lock (the pipeline, not this package, turns
`select: "*"` into the schema's columns before the check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import SchemaLookup

# How long --check waits for each answer of the catalog (pyiceberg's REST client has no limit).
DEFAULT_TIMEOUT_SECONDS = 20.0


class MissingExtra(Exception):
    """`--check` without pyiceberg installed, as one line for the user."""


def schema_lookup(
    timeout: float = DEFAULT_TIMEOUT_SECONDS, progress: Callable[[str], None] | None = None
) -> SchemaLookup:
    """The schema lookup for one run; MissingExtra when the `check` extra is not installed.
    `progress` is told what the lookup waits for when the catalog is slow to answer."""
    try:
        from .catalog import SchemaLookup
    except ModuleNotFoundError as exc:
        package = (exc.name or "").partition(".")[0]
        if package == __name__.partition(".")[0]:
            raise  # a module of ours missing is a bug, not a missing extra
        raise MissingExtra(
            f"--check needs pyiceberg, which is not installed ({package}): "
            "pip install 'datapic[check]'"
        ) from None
    return SchemaLookup(timeout=timeout, progress=progress)
