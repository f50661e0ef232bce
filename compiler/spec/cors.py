"""A spec's `cors:` block over the project's: which browser origins may read a pod's answers.

The spec's block (or `cors: false`) replaces the project's whole, so a spec never inherits
half a policy. Checked here, located: each origin must be written as a browser sends it in
its Origin header (`https://app.example.com`, lower case, no default port, no path), since
the pod compares the two as text and any other spelling would silently never match; and `*`
stands alone and never with credentials (browsers refuse that pair, and it would hand every
site a logged-in user's answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..diagnostics import Code, Diagnostic, error
from .ir import Cors
from .load import Document, JsonPath

ANY_ORIGIN = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def read_cors(
    document: Document, path: JsonPath, invalid: frozenset[JsonPath] = frozenset()
) -> tuple[Cors | None, list[Diagnostic]]:
    """The checked policy of the block at `path` (None when absent or false), or its problems.
    A block the schema refused (`invalid` holds its path or one in it) is left to the schema."""
    block = document.data.get(path[0]) if len(path) == 1 else None
    if not isinstance(block, Mapping) or any(p[: len(path)] == path for p in invalid):
        return None, []
    origins = block.get("allow_origins", [])
    credentials = block.get("allow_credentials", False)
    found = [
        error(Code.INVALID_CORS_ORIGIN, f"cors.allow_origins[{i}]: {problem}", where)
        for i, origin in enumerate(origins)
        if (problem := origin_problem(origin, len(origins)))
        for where in [document.span((*path, "allow_origins", i))]
    ]
    if credentials and ANY_ORIGIN in origins:
        message = (
            'cors: allow_credentials: true cannot go with allow_origins "*" (browsers refuse '
            "the pair, and it would let any site read a signed-in user's answers); list the "
            "origins that may call the pod"
        )
        where = document.span((*path, "allow_origins", origins.index(ANY_ORIGIN)))
        found.append(error(Code.CORS_WILDCARD_WITH_CREDENTIALS, message, where))
    if found:
        return None, found
    cors = Cors(
        allow_origins=tuple(dict.fromkeys(origins)),
        allow_credentials=credentials,
        max_age_seconds=block.get("max_age_seconds", 600),
    )
    return cors, []


def origin_problem(origin: Any, count: int = 1) -> str | None:
    """What is wrong with one allowed origin, or None.

    >>> origin_problem("https://app.example.com:8443")
    >>> origin_problem("https://App.example.com/")
    "write it as a browser sends it in Origin: 'https://app.example.com'"
    """
    if origin == ANY_ORIGIN:
        return None if count == 1 else '"*" allows every origin: list no other with it'
    if not isinstance(origin, str):
        return "expected text"
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError as exc:
        return f"{origin!r} is not an origin ({exc})"
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return f"{origin!r} is not an origin: expected http(s)://host[:port]"
    if any(c.isspace() or not c.isprintable() for c in origin):
        return f"{origin!r} holds white space or a control character"
    if not origin.isascii():
        return f"{origin!r}: write the host in its ASCII (punycode) form, as browsers send it"
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return f"{origin!r} is not an origin: no user, query or fragment"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    canonical = f"{parts.scheme}://{host}"
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        canonical += f":{port}"
    if origin != canonical:
        return f"write it as a browser sends it in Origin: {canonical!r}"
    return None


def resolve_cors(
    document: Document, project: Cors | None, invalid: frozenset[JsonPath] = frozenset()
) -> tuple[Cors | None, list[Diagnostic]]:
    """The pod's policy: the spec's own block (false: none), else the project's."""
    if "cors" not in document.data or any(p[:1] == ("cors",) for p in invalid):
        return (project if "cors" not in document.data else None), []
    return read_cors(document, ("cors",), invalid)
