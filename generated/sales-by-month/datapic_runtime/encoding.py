"""gzip and br: textual answers (JSON, NDJSON, CSV, the docs page) compressed when the client's
Accept-Encoding allows it.

- Which coding: the highest q among br, gzip and identity (ties in that order; identity, when
  not named, comes last); `*` stands for the codings not named, q=0 refuses one. With no
  Accept-Encoding the answer is identity.
- A whole answer (one with a Content-Length) is compressed from MIN_BYTES on, and gets the
  compressed length; below that only when the client refused identity. When nothing it accepts
  is left (`identity;q=0` alone), it gets identity all the same: refusing the answer would
  help nobody, and RFC 9110 (12.5.3) lets a server send it.
- A streamed answer is compressed as it streams, each chunk flushed (a slow client sees rows
  as they come, and nothing is held whole).
- Arrow and Parquet are left alone: binary, already compact (Parquet compresses its pages),
  and their readers want the bytes as written.
- HEAD says what GET would (Content-Encoding, Vary, ETag, and the encoded Content-Length of
  a whole answer, whose body the pod hands on for HEAD too: Starlette does, and the server
  drops it); a HEAD whose body did not come along gets no Content-Length once encoded.
- Never a 304, a 204 or an answer that has a Content-Encoding already.
- An encoded answer is another representation, so its ETag gets the coding inside the quotes
  (`"abc"` -> `"abc-gzip"`); an If-None-Match naming such a tag is handed on without the
  suffix, and a 304 for it gives back the tag the client holds (for `*`: the coding the
  client would get now).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterable

import anyio
import brotli
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIN_BYTES = 1024
# Chunks at least this large are compressed in a worker thread, not on the event loop.
THREAD_BYTES = 64 * 1024
GZIP_LEVEL = 6
# Brotli's quality 4: about gzip -6's size for JSON answers at less CPU (10,000 orders rows,
# one run: 6.8x in 12 ms against 7.2x in 20 ms); higher qualities cost several times the CPU.
BROTLI_QUALITY = 4
CODINGS = ("br", "gzip")  # preferred first when the client weighs them alike
_TEXTUAL = ("application/json", "application/x-ndjson")
_Q = re.compile(r"^\s*q\s*=\s*(0(\.\d{0,3})?|1(\.0{0,3})?)\s*$", re.IGNORECASE)
_SUFFIX = re.compile(r'-(br|gzip)"$')


def choose_coding(accept_encoding: str | None) -> tuple[str | None, bool]:
    """(the coding to use for a large answer, None for identity; whether identity is
    acceptable, which decides small ones).

    >>> choose_coding("gzip, br;q=0.5")
    ('gzip', True)
    >>> choose_coding("gzip;q=0, identity;q=0")
    (None, False)
    """
    weights = _weights(accept_encoding or "")
    star = weights.get("*")
    q = {c: weights.get(c, star if star is not None else 0.0) for c in CODINGS}
    # Unnamed (and no `*`), identity is acceptable but wanted least: a client that names a
    # coding at any q prefers it.
    identity = weights.get("identity", star)
    acceptable = identity is None or identity > 0
    best = max(CODINGS, key=lambda c: q[c])  # max keeps the first of equals: br
    if q[best] <= 0 or (identity is not None and q[best] < identity):
        return None, acceptable
    return best, acceptable


def _weights(header: str) -> dict[str, float]:
    """Each named coding's q (a malformed q drops its element, as if unnamed)."""
    weights: dict[str, float] = {}
    for element in header.split(","):
        name, *params = element.split(";")
        name = name.strip().lower()
        if name == "x-gzip":
            name = "gzip"
        if not name:
            continue
        q = 1.0
        for param in params:
            match = _Q.match(param)
            if match is None:
                break
            q = float(match.group(1))
        else:
            weights[name] = max(q, weights.get(name, 0.0))
    return weights


def compressible(headers: Headers, status: int) -> bool:
    """Whether an answer with these headers may be encoded at all."""
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    textual = media_type.startswith("text/") or media_type in _TEXTUAL
    return textual and status not in (204, 304) and "content-encoding" not in headers


def encode_whole(coding: str, body: bytes) -> bytes:
    """A whole body in `coding` (gzip without a timestamp: same bytes for the same answer)."""
    if coding == "br":
        return brotli.compress(body, quality=BROTLI_QUALITY)
    return gzip.compress(body, GZIP_LEVEL, mtime=0)


def stream_encoder(coding: str) -> tuple[Callable[[bytes], bytes], Callable[[], bytes]]:
    """(encode one chunk and flush it, end the stream) for a streamed body in `coding`."""
    if coding == "br":
        compressor = brotli.Compressor(quality=BROTLI_QUALITY)
        return (lambda chunk: compressor.process(chunk) + compressor.flush()), compressor.finish
    deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: the gzip container
    return (lambda chunk: deflate.compress(chunk) + deflate.flush(zlib.Z_SYNC_FLUSH)), deflate.flush


def tagged(etag: str, coding: str) -> str:
    """The ETag of the encoded representation: the coding inside the quotes."""
    return etag[:-1] + f'-{coding}"' if etag.endswith('"') else f'"{etag}-{coding}"'


def _untagged(if_none_match: str) -> tuple[str, dict[str, str | None]]:
    """If-None-Match with our suffixes removed, and the coding each tag named (None: none),
    by its opaque part (weak or strong alike)."""
    held: dict[str, str | None] = {}
    plain = []
    for tag in (t.strip() for t in if_none_match.split(",")):
        suffix = _SUFFIX.search(tag)
        bare = _SUFFIX.sub('"', tag)
        held[bare.removeprefix("W/")] = suffix.group(1) if suffix else None
        plain.append(bare)
    return ", ".join(plain), held


async def _run(function: Callable[[bytes], bytes], data: bytes) -> bytes:
    if len(data) < THREAD_BYTES:
        return function(data)
    return await anyio.to_thread.run_sync(function, data)


class CompressionMiddleware:
    """ASGI middleware encoding answers as the module says."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Headers(scope=scope)
        coding, identity_ok = choose_coding(request.get("accept-encoding"))
        originals: dict[str, str] = {}
        if "if-none-match" in request:
            plain, originals = _untagged(request["if-none-match"])
            raw = [(k, v) for k, v in scope["headers"] if k != b"if-none-match"]
            scope = {**scope, "headers": [*raw, (b"if-none-match", plain.encode("latin-1"))]}
        exchange = _Exchange(send, coding, identity_ok, originals, scope["method"] == "HEAD")
        await self.app(scope, receive, exchange.send)


class _Exchange:
    """One answer on its way out: holds its start until the body shows how to send it."""

    def __init__(
        self, send: Send, coding: str | None, identity_ok: bool, originals: dict, head: bool
    ) -> None:
        self._send, self._coding, self._identity_ok = send, coding, identity_ok
        self._originals, self._head = originals, head
        self._start: Message | None = None
        self._encode: Callable[[bytes], bytes] | None = None
        self._end: Callable[[], bytes] | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._start = message
        elif kind == "http.response.body" and self._start is not None:
            start, self._start = self._start, None
            await self._begin(start, message)
        elif kind == "http.response.body" and self._encode is not None:
            await self._continue(message)
        else:
            await self._send(message)

    async def _begin(self, start: Message, message: Message) -> None:
        headers = MutableHeaders(scope=start)
        status = start["status"]
        if status == 304:  # the Vary and ETag the full answer would have had (RFC 9110, 15.4.5)
            headers.add_vary_header("Accept-Encoding")
            self._tag_not_modified(headers)
        if not compressible(headers, status):
            await self._send(start)
            await self._send(message)
            return
        headers.add_vary_header("Accept-Encoding")
        coding = self._coding_for(headers)
        if coding is None:
            await self._send(start)
            await self._send(message)
            return
        headers["Content-Encoding"] = coding
        if "etag" in headers:
            headers["ETag"] = tagged(headers["etag"], coding)
        body, more = message.get("body", b""), message.get("more_body", False)
        if self._head:  # the body comes along as for GET (the server drops it)
            length = headers.get("content-length")
            if body and length == str(len(body)):
                encoded = await _run(lambda data: encode_whole(coding, data), body)
                headers["Content-Length"] = str(len(encoded))
            elif length is not None:
                del headers["content-length"]
            body = b""
        elif "content-length" in headers and not more:
            body = await _run(lambda data: encode_whole(coding, data), body)
            headers["Content-Length"] = str(len(body))
        else:
            if "content-length" in headers:
                del headers["content-length"]
            self._encode, self._end = stream_encoder(coding)
            body = await _run(self._encode, body) + (b"" if more else self._end())
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    def _tag_not_modified(self, headers: MutableHeaders) -> None:
        """A 304's ETag: of the representation the client holds (the coding its matching tag
        named), or for `*`, of the one it would get now."""
        etag = headers.get("etag")
        if etag is None:
            return
        key = etag.removeprefix("W/")
        coding = self._originals.get(key, self._coding)
        if coding is not None:
            headers["ETag"] = tagged(etag, coding)

    def _coding_for(self, headers: MutableHeaders) -> str | None:
        """The coding of this answer: a small whole one only if identity is refused."""
        best = self._coding
        length = headers.get("content-length")
        if best is None or length is None or int(length) >= MIN_BYTES or not self._identity_ok:
            return best
        return None

    async def _continue(self, message: Message) -> None:
        assert self._encode is not None and self._end is not None
        body = await _run(self._encode, message.get("body", b""))
        more = message.get("more_body", False)
        if not more:
            body += self._end()
        await self._send({"type": "http.response.body", "body": body, "more_body": more})


def compression_middleware() -> Iterable[tuple[type, dict]]:
    """The middleware every pod runs (class, options)."""
    return [(CompressionMiddleware, {})]
