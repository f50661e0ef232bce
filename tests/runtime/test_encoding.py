"""gzip and br (encoding.py), through the middleware called as an ASGI app: the bodies are
decoded with independent decoders (the gzip module, brotli.decompress) and must equal the
identity answer byte for byte. The pod's own answers, over HTTP: tests/pods/test_pod_edge.py.

An ETag on an encoded answer is tested here with an app of the test's own (main's /get_data
sends none yet)."""

from __future__ import annotations

import gzip
import json
import zlib

import anyio
import brotli
import pytest
from datapic_runtime.encoding import MIN_BYTES, CompressionMiddleware, choose_coding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

BIG = json.dumps([{"order_id": i, "country": "DE", "sales": i * 1.5} for i in range(500)]).encode()
SMALL = b'{"error":"no"}'
CHUNKS = [f"{i},row {i},{i * 2.5}\n".encode() * 40 for i in range(20)]
DECODE = {"gzip": gzip.decompress, "br": brotli.decompress}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, (None, True)),
        ("", (None, True)),
        ("gzip", ("gzip", True)),
        ("gzip, deflate, br", ("br", True)),
        ("br;q=0.5, gzip", ("gzip", True)),
        ("GZIP;Q=0.8, br;q=0", ("gzip", True)),
        ("x-gzip", ("gzip", True)),
        ("gzip;q=0", (None, True)),
        ("*", ("br", True)),
        ("*;q=0", (None, False)),
        ("*;q=0, gzip", ("gzip", False)),
        ("br;q=0.5, identity", (None, True)),  # identity weighs more
        ("gzip, identity;q=0", ("gzip", False)),
        ("identity;q=0", (None, False)),  # nothing acceptable: identity all the same
        ("gzip;q=2", (None, True)),  # a malformed q drops its element
        ("gzip;q=0.001", ("gzip", True)),
        ("deflate, compress", (None, True)),
    ],
)
def test_the_coding_follows_the_q_values(header, expected):
    assert choose_coding(header) == expected


async def _whole(request: Request) -> Response:
    kind = request.path_params["kind"]
    body = {"big": BIG, "small": SMALL}.get(kind, BIG)
    media = "application/vnd.apache.arrow.stream" if kind == "arrow" else "application/json"
    etag = '"v1"'
    held = request.headers.get("if-none-match", "")
    if etag.strip('"') in held or held == "*":
        return Response(status_code=304, headers={"ETag": etag})
    status = 400 if request.query_params.get("error") else 200
    return Response(body, status_code=status, media_type=media, headers={"ETag": etag})


async def _stream(request: Request) -> Response:
    async def chunks():
        for chunk in CHUNKS:
            yield chunk

    return StreamingResponse(chunks(), media_type="text/csv", headers={"ETag": 'W/"s"'})


APP = CompressionMiddleware(Starlette(routes=[Route("/stream", _stream), Route("/{kind}", _whole)]))


def call(path, accept_encoding=None, method="GET", app=APP, **headers):
    """(status, headers, body messages) of one request, as the server would send them."""
    sent = []
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    if accept_encoding is not None:
        raw.append((b"accept-encoding", accept_encoding.encode()))
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": raw,
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "root_path": "",
    }

    requested = []

    async def receive():
        if requested:  # the client stays connected
            await anyio.sleep_forever()
        requested.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    anyio.run(app, scope, receive, send)
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, [m["body"] for m in sent[1:] if "body" in m]


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_whole_answer_is_encoded_with_its_length_and_tag(coding):
    status, headers, bodies = call("/big", coding)
    body = b"".join(bodies)
    assert status == 200
    assert headers["content-encoding"] == coding
    assert headers["content-length"] == str(len(body))
    assert DECODE[coding](body) == BIG
    assert len(body) < len(BIG) / 4
    assert headers["etag"] == f'"v1-{coding}"'
    assert "Accept-Encoding" in headers["vary"]


def test_identity_keeps_the_answer_and_its_tag():
    status, headers, bodies = call("/big", "gzip;q=0")
    assert (status, b"".join(bodies), headers["etag"]) == (200, BIG, '"v1"')
    assert "content-encoding" not in headers
    assert headers["content-length"] == str(len(BIG))
    assert "Accept-Encoding" in headers["vary"]  # another client would get gzip


def test_small_answers_and_errors_stay_identity_unless_identity_is_refused():
    assert len(SMALL) < MIN_BYTES
    _, headers, bodies = call("/small?error=1", "gzip, br")
    assert "content-encoding" not in headers and b"".join(bodies) == SMALL
    _, headers, bodies = call("/small", "gzip, identity;q=0")
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(b"".join(bodies)) == SMALL
    _, headers, bodies = call("/small", "identity;q=0")  # nothing acceptable: identity
    assert "content-encoding" not in headers and b"".join(bodies) == SMALL


def test_a_large_error_is_encoded_too():
    status, headers, bodies = call("/big?error=1", "br")
    assert status == 400 and brotli.decompress(b"".join(bodies)) == BIG


def test_arrow_is_never_encoded():
    _, headers, bodies = call("/arrow", "gzip, br")
    assert "content-encoding" not in headers and b"".join(bodies) == BIG
    assert "vary" not in headers


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_streamed_answer_is_encoded_chunk_by_chunk(coding):
    _, headers, bodies = call("/stream", coding)
    assert headers["content-encoding"] == coding
    assert "content-length" not in headers
    assert headers["etag"] == f'W/"s-{coding}"'
    assert DECODE[coding](b"".join(bodies)) == b"".join(CHUNKS)
    # Each chunk is flushed as it comes: the bytes sent so far decode to the chunks so far.
    assert len(bodies) >= len(CHUNKS)
    decoder = zlib.decompressobj(31) if coding == "gzip" else brotli.Decompressor()
    decode = decoder.decompress if coding == "gzip" else decoder.process
    seen = b""
    for index, body in enumerate(bodies[: len(CHUNKS)]):
        seen += decode(body)
        assert seen == b"".join(CHUNKS[: index + 1])


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_head_says_what_get_would(coding):
    _, get, _ = call("/big", coding)
    _, head, bodies = call("/big", coding, method="HEAD")
    assert b"".join(bodies) == b""
    for name in ("content-encoding", "etag", "vary", "content-type", "content-length"):
        assert head[name] == get[name]
    _, head, _ = call("/stream", coding, method="HEAD")
    assert head["content-encoding"] == coding


def test_a_304_is_never_encoded_and_keeps_the_clients_tag():
    _, headers, _ = call("/big", "gzip")
    status, again, bodies = call("/big", "gzip", if_none_match=headers["etag"])
    assert status == 304 and b"".join(bodies) == b""
    assert again["etag"] == '"v1-gzip"' and "content-encoding" not in again
    assert "Accept-Encoding" in again["vary"]
    status, _, _ = call("/big", "gzip", if_none_match='"v0-gzip"')
    assert status == 200
    # The tag the client holds, weak or strong, encoded or not; for `*`, the one it would get.
    for held, expected in (('W/"v1-br"', '"v1-br"'), ('"v1"', '"v1"'), ("*", '"v1-gzip"')):
        status, again, _ = call("/star", "gzip", if_none_match=held)
        assert (status, again["etag"]) == (304, expected), held
