"""Polls the files a spec's pod depends on, and folders of specs, and calls back on changes.

Polling (twice a second by default) rather than OS notifications: it needs no extra package,
behaves alike on every platform and on network or container mounts, and a few stat calls per
spec cost nothing next to a recompile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ..spec.datapi import DATAPI_CONFIG
from ..spec.project import DATAPIC_CONFIG, project_root, specs_in

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


class SpecEvents(Protocol):
    """What a watcher reports, each call made in the watcher's thread."""

    def reload(self, spec: Path) -> None: ...  # a watched file of the spec changed
    def added(self, spec: Path) -> None: ...  # a new spec in a watched folder
    def removed(self, spec: Path) -> None: ...  # a spec gone from a watched folder


class SpecWatcher(threading.Thread):
    """Polls the specs named and the folders of specs named; tells `events` what changed."""

    def __init__(
        self,
        specs: Iterable[Path],
        folders: Iterable[Path],
        events: SpecEvents,
        interval: float = 0.5,
    ) -> None:
        super().__init__(name="datapic-serve-watch", daemon=True)
        self.events = events
        self.interval = interval
        self.folders = list(folders)
        self._seen = {spec: signature(watched_files(spec)) for spec in specs}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self._follow_folders()
            for spec, seen in list(self._seen.items()):
                now = signature(watched_files(spec))
                if now != seen and not self._left_its_folder(spec):
                    self._seen[spec] = now
                    self.events.reload(spec)

    def _follow_folders(self) -> None:
        """Start watching a spec saved into a watched folder; stop on one deleted from it."""
        present = {spec for folder in self.folders for spec in _specs_or_none(folder)}
        for spec in sorted(present - self._seen.keys()):
            self._seen[spec] = signature(watched_files(spec))
            self.events.added(spec)
        for spec in sorted(self._seen.keys() - present):
            if self._left_its_folder(spec):
                del self._seen[spec]
                self.events.removed(spec)

    def _left_its_folder(self, spec: Path) -> bool:
        """A spec deleted from a watched folder since this round listed it: the next round
        reports it removed, rather than this one reporting a failed reload first."""
        return spec.parent in self.folders and not spec.exists()

    def stop(self) -> None:
        """Stop polling (the thread ends within one interval)."""
        self._halt.set()


def _specs_or_none(folder: Path) -> list[Path]:
    """The folder's specs; none while it cannot be listed (renamed, or being replaced)."""
    try:
        return specs_in(folder)
    except OSError:
        return []
