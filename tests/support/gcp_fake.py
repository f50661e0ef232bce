"""A stand-in for the Cloud Build, Cloud Storage and Cloud Run REST endpoints on 127.0.0.1.

Tests script its answers per route (method + path pattern) and read back every request it
received, exactly as the Google clients sent it.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        """The body parsed as JSON."""
        return json.loads(self.body)

    def multipart(self) -> tuple[dict, bytes]:
        """A Cloud Storage multipart upload: its metadata and its data."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        metadata, data = (part.get_payload(decode=True) for part in message.iter_parts())
        return json.loads(metadata), data


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    answers: list[tuple[int, object]]


def google_error(code: int, message: str, status: str) -> tuple[int, dict]:
    """An error answer shaped like Google's JSON errors."""
    return code, {"error": {"code": code, "message": message, "status": status}}


FORBIDDEN = google_error(403, "The caller does not have permission", "PERMISSION_DENIED")
NOT_FOUND = google_error(404, "Requested entity was not found.", "NOT_FOUND")
INTERNAL = google_error(500, "Internal error encountered.", "INTERNAL")


@dataclass
class FakeGoogle:
    """The server; `url` is its base, to pass as the clients' api_endpoint."""

    routes: list[Route] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def on(self, method: str, pattern: str, *answers: tuple[int, object]) -> None:
        """Answer requests to `pattern` (a regex over the path) with `answers` in turn; the
        last answer repeats."""
        self.routes.append(Route(method, re.compile(pattern + "$"), list(answers)))

    def answer(self, method: str, path: str) -> tuple[int, object]:
        for route in self.routes:
            if route.method == method and route.pattern.match(path):
                return route.answers.pop(0) if len(route.answers) > 1 else route.answers[0]
        return google_error(404, f"no fake route for {method} {path}", "NOT_FOUND")

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request received, in order."""
        return [(r.method, r.path) for r in self.requests]


def _handler(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.requests.append(
                Request(
                    method=self.command,
                    path=url.path,
                    query=parse_qs(url.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
            )
            status, payload = fake.answer(self.command, url.path)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *args) -> None:
            pass

    return Handler


class serving:
    """Context manager running a FakeGoogle on an ephemeral loopback port."""

    def __init__(self) -> None:
        self.fake = FakeGoogle()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.fake))
        self.fake.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeGoogle:
        self.thread.start()
        return self.fake

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
