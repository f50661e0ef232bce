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
    """Replace `pod_dir` with exactly `files` (relative '/'-separated path -> content)."""
    pod_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = pod_dir.with_name(f".{pod_dir.name}.tmp")
    old = pod_dir.with_name(f".{pod_dir.name}.old")
    for leftover in (staging, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    for relative, content in files.items():
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(0o644)
    if pod_dir.exists():
        pod_dir.rename(old)
    staging.rename(pod_dir)
    if old.exists():
        shutil.rmtree(old)
