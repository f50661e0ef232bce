"""Polls the files a spec's pod depends on and calls back when one changed.

Polling (twice a second by default) rather than OS notifications: it needs no extra package,
behaves alike on every platform and on network or container mounts, and a few stat calls per
spec cost nothing next to a recompile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ..spec.datapi import DATAPI_CONFIG
from ..spec.project import DATAPIC_CONFIG, project_root

Signature = tuple[tuple[str, int, int], ...]


def watched_files(spec: Path) -> list[Path]:
    """The spec, the Markdown beside it (its long_description) and its project's config."""
    files = [spec, *sorted(spec.parent.glob("*.md"))]
    root = project_root(spec)
    if root is not None:
        files += [root / DATAPIC_CONFIG, root / DATAPI_CONFIG]
    return files


def signature(files: Iterable[Path]) -> Signature:
    """What changes when any of the files is written, created or removed."""
    found = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            found.append((str(path), -1, -1))
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class SpecWatcher(threading.Thread):
    """Calls `changed(spec)` (in this thread) after any watched file of the spec changes."""

    def __init__(
        self, specs: Iterable[Path], changed: Callable[[Path], None], interval: float = 0.5
    ) -> None:
        super().__init__(name="datapic-serve-watch", daemon=True)
        self.changed = changed
        self.interval = interval
        self._seen = {spec: signature(watched_files(spec)) for spec in specs}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            for spec, seen in list(self._seen.items()):
                now = signature(watched_files(spec))
                if now != seen:
                    self._seen[spec] = now
                    self.changed(spec)

    def stop(self) -> None:
        """Stop polling (the thread ends within one interval)."""
        self._halt.set()
