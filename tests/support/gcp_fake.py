"""A stand-in for the Cloud Build, Cloud Storage, Cloud Run and Secret Manager REST endpoints on
127.0.0.1.

Tests script its answers per route (method + path pattern) and read back every request it
received, exactly as the Google clients sent it. An answer is a (status, payload) pair, or a
function of the request returning one; `SecretManager` is such a function with state, holding
secrets and their versions as Secret Manager would.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
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


Answer = tuple[int, object] | Callable[[Request], tuple[int, object]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    answers: list[Answer]


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

    def on(self, method: str, pattern: str, *answers: Answer) -> None:
        """Answer requests to `pattern` (a regex over the path) with `answers` in turn; the
        last answer repeats."""
        self.routes.append(Route(method, re.compile(pattern + "$"), list(answers)))

    def answer(self, request: Request) -> tuple[int, object]:
        method, path = request.method, request.path
        for route in self.routes:
            if route.method == method and route.pattern.match(path):
                answer = route.answers.pop(0) if len(route.answers) > 1 else route.answers[0]
                return answer(request) if callable(answer) else answer
        return google_error(404, f"no fake route for {method} {path}", "NOT_FOUND")

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request received, in order."""
        return [(r.method, r.path) for r in self.requests]


@dataclass
class SecretManager:
    """Secret Manager's secrets of one project: metadata and version payloads, kept in memory.

    `install` routes the four calls `datapic deploy` makes to it (get a secret, create one,
    add a version, list versions). Routes are matched in the order added: a test's error
    answers go in before `install`.
    """

    project: str
    secrets: dict[str, dict] = field(default_factory=dict)
    versions: dict[str, list[bytes]] = field(default_factory=dict)

    def install(self, fake: FakeGoogle) -> None:
        """Answer the Secret Manager calls for `project` on `fake`."""
        base = rf"/v1/projects/{self.project}/secrets"
        fake.on("GET", base + r"/[\w-]+", self._get)
        fake.on("POST", base, self._create)
        fake.on("POST", base + r"/[\w-]+:addVersion", self._add_version)
        fake.on("GET", base + r"/[\w-]+/versions", self._list_versions)

    def _name(self, secret: str) -> str:
        return f"projects/{self.project}/secrets/{secret}"

    def _get(self, request: Request) -> tuple[int, object]:
        secret = request.path.rsplit("/", 1)[1]
        if secret not in self.secrets:
            return google_error(404, f"Secret [{self._name(secret)}] not found.", "NOT_FOUND")
        return 200, self.secrets[secret]

    def _create(self, request: Request) -> tuple[int, object]:
        (secret,) = request.query["secretId"]
        if secret in self.secrets:
            message = f"Secret [{self._name(secret)}] already exists."
            return google_error(409, message, "ALREADY_EXISTS")
        self.secrets[secret] = {"name": self._name(secret), **request.json()}
        self.versions[secret] = []
        return 200, self.secrets[secret]

    def _add_version(self, request: Request) -> tuple[int, object]:
        secret = request.path.rsplit("/", 1)[1].removesuffix(":addVersion")
        if secret not in self.secrets:
            return google_error(404, f"Secret [{self._name(secret)}] not found.", "NOT_FOUND")
        self.versions[secret].append(base64.b64decode(request.json()["payload"]["data"]))
        number = len(self.versions[secret])
        return 200, {"name": f"{self._name(secret)}/versions/{number}", "state": "ENABLED"}

    def _list_versions(self, request: Request) -> tuple[int, object]:
        secret = request.path.split("/")[-2]
        if secret not in self.secrets:
            return google_error(404, f"Secret [{self._name(secret)}] not found.", "NOT_FOUND")
        numbers = range(len(self.versions[secret]), 0, -1)
        listed = [{"name": f"{self._name(secret)}/versions/{n}"} for n in numbers]
        return 200, {"versions": listed[:1]} if listed else {}


def _handler(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            fake.requests.append(request)
            status, payload = fake.answer(request)
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
