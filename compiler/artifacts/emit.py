"""Stage 6: write a rendered pod to OUT/<name>/, replacing what was there, byte for byte.

The pod directory belongs to the generator: files it no longer produces are removed, so a
renamed template never leaves a stale file behind. The new tree is written beside the old one
and swapped in, so an interrupted compile never leaves a half-written pod.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path


def emit(files: Mapping[str, bytes], pod_dir: Path) -> None:
    """Replace `pod_dir` with exactly `files` (relative '/'-separated path -> content).

    Raises OSError when the output cannot be written; the staging tree is then removed again.
    """
    pod_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = pod_dir.with_name(f".{pod_dir.name}.tmp")
    old = pod_dir.with_name(f".{pod_dir.name}.old")
    for leftover in (staging, old):
        _remove(leftover)
    try:
        _write_tree(files, staging)
        if _exists(pod_dir):
            pod_dir.rename(old)
        staging.rename(pod_dir)
    except OSError:
        _remove(staging)
        if _exists(old) and not _exists(pod_dir):
            old.rename(pod_dir)  # put the previous pod (or file) back where it was
        raise
    _remove(old)


def _write_tree(files: Mapping[str, bytes], root: Path) -> None:
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(0o644)


def _exists(path: Path) -> bool:
    """Whether anything stands at `path`, a dangling symlink included."""
    return path.is_symlink() or path.exists()


def _remove(path: Path) -> None:
    """Remove whatever is at `path`: rmtree only a real directory (never through a symlink)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif _exists(path):
        path.unlink()
