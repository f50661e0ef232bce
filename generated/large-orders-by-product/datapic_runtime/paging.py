"""Pages of an answer: the `limit` argument and the continuation token of the next page.

A token holds the table snapshot the first page was read at, the offset of the next page and a
digest of the parameter values, followed by an HMAC of those. Nothing in it is secret: the MAC
stops a corrupted or hand-edited token, the digest stops replaying a token with other parameter
values, and the snapshot keeps every page of one answer consistent while the table changes.

The MAC key is the same on every instance of a pod (Cloud Run runs many): it is derived from
pod.json, so a token is valid for exactly the pod that issued it and a redeployed query rejects
the old one. With DATAPIC_PAGE_TOKEN_SECRET set (the same value on every instance, e.g. from
Secret Manager), the key also holds that secret, and clients can no longer mint tokens of their
own. Without it anyone can; what keeps a minted token from reading an old snapshot (rows deleted
since) is the engine: a pinned snapshot is read only while current and for
DATAPIC_PAGE_TOKEN_TTL_SECONDS after a commit replaced it (query.py), then the page is a 410.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .errors import PodError

TOKEN_SECRET_ENV = "DATAPIC_PAGE_TOKEN_SECRET"
_VERSION = 1
# version, has-snapshot flag, snapshot id, offset, parameter digest (16 bytes)
_PAYLOAD = struct.Struct(">BBqQ16s")
_MAC_BYTES = 16
_TOKEN_BYTES = _PAYLOAD.size + _MAC_BYTES
_RESTART = "start again without page_token"
# Offsets stay well inside DuckDB's BIGINT, whatever a hand-made token says.
_MAX_OFFSET = 2**62
# The longest next-page URL sent in a Link header. It repeats the request's arguments, which
# may be long: proxies and clients refuse header lines past 8 to 16 KiB (a 100 KB query
# would make the answer unreadable). A longer one is left out; X-Next-Page-Token still says
# what to add to the request.
MAX_LINK_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page starts: the pinned snapshot (None on a first page) and the row offset."""

    snapshot_id: int | None
    offset: int


FIRST_PAGE = Position(None, 0)


def token_key(pod_json: bytes, secret: str | None = None) -> bytes:
    """The MAC key of a pod's tokens: its pod.json, and the operator's secret if configured."""
    digest = hashlib.sha256(b"datapic page token\0" + pod_json)
    if secret:
        digest.update(b"\0" + secret.encode("utf-8"))
    return digest.digest()


def values_digest(values: Mapping[str, Any]) -> bytes:
    """A digest of typed parameter values (so "04" and "4" for an integer are the same)."""
    canonical = "\x1e".join(
        f"{name}\x1f{type(value).__name__}\x1f{value!r}" for name, value in sorted(values.items())
    )
    return hashlib.sha256(canonical.encode("utf-8")).digest()[:16]


class PageTokens:
    """Issues and checks continuation tokens for one pod."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, position: Position, values: Mapping[str, Any]) -> str:
        """The token of the page at `position` for these parameter values."""
        snapshot = position.snapshot_id
        payload = _PAYLOAD.pack(
            _VERSION,
            snapshot is not None,
            snapshot if snapshot is not None else 0,
            position.offset,
            values_digest(values),
        )
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode("ascii")

    def read(self, token: str, values: Mapping[str, Any]) -> Position:
        """The position a token continues at; 400 for a malformed, forged or foreign token."""
        raw = _decode(token)
        payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise PodError(400, f"page_token was not issued by this pod's query; {_RESTART}")
        version, has_snapshot, snapshot, offset, digest = _PAYLOAD.unpack(payload)
        if version != _VERSION or has_snapshot not in (0, 1) or offset > _MAX_OFFSET:
            raise PodError(400, f"page_token is malformed; {_RESTART}")
        if not hmac.compare_digest(digest, values_digest(values)):
            raise PodError(
                400,
                "page_token belongs to other parameter values: give the same parameters as for "
                f"the first page, or {_RESTART}",
            )
        return Position(snapshot if has_snapshot else None, offset)


def _decode(token: str) -> bytes:
    text = token.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _TOKEN_BYTES:
        raise PodError(400, f"page_token is malformed; {_RESTART}")
    return raw


def parse_limit(text: str | None, max_page_size: int) -> int:
    """The page size asked for: 1 to the pod's max_page_size, which is also the default."""
    if text is None:
        return max_page_size
    value = text.strip()
    # Leading zeros off and the length checked before int(): it refuses a text of more than
    # 4300 digits with a ValueError (a 500), however small the number.
    significant = value.lstrip("0") or "0"
    if (
        not value.isascii()
        or not value.isdigit()
        or len(significant) > len(str(max_page_size))
        or not 1 <= int(significant) <= max_page_size
    ):
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise PodError(
            400, f"limit must be a whole number from 1 to {max_page_size}, got {shown!r}"
        )
    return int(significant)


def next_link(path: str, query: Iterable[tuple[str, str]], token: str) -> str | None:
    """The URL of the next page: the same arguments, page_token replaced (relative: no host
    header is trusted); None when longer than MAX_LINK_BYTES."""
    kept = [(name, value) for name, value in query if name != "page_token"]
    link = f"{path}?{urlencode([*kept, ('page_token', token)])}"
    return link if len(link) <= MAX_LINK_BYTES else None
