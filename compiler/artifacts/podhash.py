"""The hash of a pod's compiled form: what `datapic status` compares with Cloud Run's label.

It covers every file of the pod directory, so any change that reaches the image or the
service shows. service.yaml carries the hash itself as a label; for hashing, that label's
value is replaced by a fixed placeholder, so the hash can be computed before it is written and
recomputed from the files in Git.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

LABEL = "datapic-compiled-hash"
# 40 hex digits: Cloud Run label values stop at 63 characters, and 160 bits is plenty.
LENGTH = 40
PLACEHOLDER = "0" * LENGTH
SERVICE_FILE = "service.yaml"
_LABEL_LINE = re.compile(rb"^(\s*" + LABEL.encode() + rb': ")([0-9a-f]{40})(")', re.MULTILINE)
# What may stand in a pod directory without being part of the pod: caches and local settings
# that may hold credentials (the pod's .gcloudignore and .dockerignore list them too). The one
# list both the hash (status, image tag) and the upload (deploy) leave out, so a local .env never
# makes a pod look stale nor changes its image tag.
LOCAL_ONLY = (".venv", "__pycache__", "*.pyc", ".env", ".env.*", ".pyiceberg.yaml")


def compiled_hash(files: Mapping[str, bytes]) -> str:
    """The hash of a pod's files (relative '/'-separated path -> content).

    >>> compiled_hash({"a.txt": b"x"}) == compiled_hash({"a.txt": b"x"})
    True
    """
    digest = hashlib.sha256()
    for path in sorted(files):
        content = files[path]
        if path == SERVICE_FILE:
            content = _LABEL_LINE.sub(rb"\g<1>" + PLACEHOLDER.encode() + rb"\g<3>", content)
        digest.update(f"{len(path)}:{path}:{len(content)}:".encode())
        digest.update(content)
    return digest.hexdigest()[:LENGTH]


def stamp(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """`files` with the placeholder label in service.yaml replaced by the pod's hash."""
    stamped = dict(files)
    if SERVICE_FILE in stamped:
        value = compiled_hash(files).encode()
        stamped[SERVICE_FILE] = _LABEL_LINE.sub(
            rb"\g<1>" + value + rb"\g<3>", stamped[SERVICE_FILE]
        )
    return stamped


def recorded_hash(service_yaml: bytes) -> str | None:
    """The hash written in a service.yaml's label, if any."""
    match = _LABEL_LINE.search(service_yaml)
    return match[2].decode() if match else None


def pod_files(pod_dir: Path) -> dict[str, bytes]:
    """The files of a pod directory on disk, as render() produced them (no LOCAL_ONLY file)."""
    return {
        relative: path.read_bytes()
        for path in sorted(pod_dir.rglob("*"))
        if path.is_file() and not is_local_only(relative := path.relative_to(pod_dir).as_posix())
    }


def is_local_only(relative: str, patterns: tuple[str, ...] = LOCAL_ONLY) -> bool:
    """Whether a pod-relative path, or a folder it is in, matches one of `patterns`.

    >>> is_local_only(".env.prod"), is_local_only("datapic_runtime/__pycache__/x.py")
    (True, True)
    >>> is_local_only("app.py")
    False
    """
    return any(fnmatch.fnmatch(part, p) for part in relative.split("/") for p in patterns)
