"""ETag and If-None-Match: a client (or a downstream pod) that has an answer asks whether it
still holds, and gets a 304 with no body when it does.

The tag is strong: it names one exact representation, from everything that decides its bytes:
the compiled pod (pod.json, whose spec hash changes with the spec), the data version (the table
snapshot, or for a pod reading another pod the upstream answer it read), the final parameter
values (after any binding: hash the values the query runs with, never the query string), the
format, and the page (offset and limit). Comparison follows RFC 9110 13.1.2: `*` matches any
current representation, a list matches if one member does, and If-None-Match compares weakly
(`W/"x"` matches `"x"`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def pod_fingerprint(pod_json: bytes) -> str:
    """What identifies the compiled pod in its tags: a hash of its pod.json."""
    return hashlib.sha256(pod_json).hexdigest()


def entity_tag(
    pod: str,
    version: int | str | None,
    values: Mapping[str, Any],
    format_name: str,
    offset: int,
    limit: int,
) -> str:
    """The strong ETag (quoted) of one answer page.

    >>> entity_tag("p", 1, {"a": 1}, "json", 0, 10) == entity_tag("p", 1, {"a": 1}, "json", 0, 10)
    True
    >>> entity_tag("p", 1, {"a": 1}, "json", 0, 10) == entity_tag("p", 1, {"a": 1.0}, "json", 0, 10)
    False
    """
    # Each value's type is part of it (1, 1.0 and True differ), as in the result cache's key.
    typed = sorted((name, type(value).__name__, repr(value)) for name, value in values.items())
    text = repr((pod, repr(version), typed, format_name, offset, limit))
    # A compressed representation is another representation: the encoder must suffix this tag
    # (e.g. `"…-gzip"`) when it compresses the body.
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'


def none_match(header: str | None, etag: str) -> bool:
    """Whether If-None-Match `header` matches `etag` (weak comparison): then the answer is 304.

    >>> none_match('W/"a", "b"', '"b"'), none_match("*", '"b"'), none_match('"a"', '"b"')
    (True, True, False)
    >>> none_match(None, '"b"'), none_match('W/"b"', '"b"')
    (False, True)
    """
    if header is None:
        return False
    if header.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(tag) == wanted for tag in _tags(header))


def _tags(header: str) -> list[str]:
    """The entity tags of a list header; a quoted tag may hold a comma."""
    tags, current, quoted = [], [], False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            tags.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    tags.append("".join(current).strip())
    return [tag for tag in tags if tag]


def _opaque(tag: str) -> str:
    """A tag without its weakness indicator (W/)."""
    return tag[2:] if tag.startswith("W/") else tag
