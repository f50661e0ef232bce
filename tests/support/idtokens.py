"""A loopback Google token issuer, and a Cloud Run-like gate in front of a real pod.

`Issuer` plays the two places google-auth gets an ID token from: a service account's token
endpoint (its key file's `token_uri`: a JWT-bearer assertion signed with the account's key in,
an ID token for the assertion's `target_audience` out, or an access token without one) and
the metadata server (`GCE_METADATA_HOST`: the ping and the identity endpoint). Tokens are
RS256 JWTs signed with the issuer's own key; assertions are checked against the service
account's public key with PyJWT, independently of google-auth.

`Gate` stands where Cloud Run's front end stands: it lets a request through to the pod only
with `Authorization: Bearer <an ID token of the issuer for the gate's own URL>` (403 without a
token, as Cloud Run answers, 401 with a bad one), checked with PyJWT, and forwards the pod's
answer unchanged.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://accounts.google.com"
CALLER = "caller@test-proj.iam.gserviceaccount.com"
METADATA_CALLER = "pod-runner@test-proj.iam.gserviceaccount.com"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    handler.send_response(status)
    handler.send_header("content-type", kind)
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@dataclass
class Issuer:
    """The token issuer; `url` once started. `issued` lists (subject, audience) per ID token."""

    url: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=_key)
    account_key: rsa.RSAPrivateKey = field(default_factory=_key)
    issued: list[tuple[str, str]] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)

    def service_account_file(self, directory: Path) -> Path:
        """A service-account key file whose token endpoint is this issuer."""
        path = directory / "service-account.json"
        info = {
            "type": "service_account",
            "project_id": "test-proj",
            "private_key_id": "key-1",
            "private_key": _pem(self.account_key),
            "client_email": CALLER,
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }
        path.write_text(json.dumps(info))
        return path

    def id_token(self, subject: str, audience: str, lifetime: int = 3600) -> str:
        """An ID token as Google issues them (RS256, iss, aud, sub, email, iat, exp)."""
        now = int(time.time())
        self.issued.append((subject, audience))
        claims = {"iss": ISSUER, "aud": audience, "sub": subject, "email": subject}
        claims |= {"iat": now, "exp": now + lifetime}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "issuer-1"})

    def verify(self, token: str, audience: str) -> dict:
        """The token's claims if this issuer signed it for `audience`; PyJWT raises otherwise."""
        return jwt.decode(
            token, self.key.public_key(), algorithms=["RS256"], audience=audience, issuer=ISSUER
        )

    def exchange(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        """The service-account token endpoint: a signed assertion in, a token out."""
        if form.get("grant_type") != [JWT_BEARER]:
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode(
                form["assertion"][0],
                self.account_key.public_key(),
                algorithms=["RS256"],
                # google-auth names Google's endpoint whatever the key file's token_uri says.
                audience=GOOGLE_TOKEN_ENDPOINT,
            )
        except (jwt.InvalidTokenError, KeyError) as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}
        if "target_audience" in claims:
            return 200, {"id_token": self.id_token(claims["iss"], claims["target_audience"])}
        token = f"access-{uuid.uuid4().hex}"
        self.access_tokens.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    @contextmanager
    def running(self) -> Iterator[Issuer]:
        """Serve on 127.0.0.1 until the block ends."""
        with _serve(_issuer_handler(self)) as url:
            self.url = url
            yield self


def _issuer_handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            status, answer = issuer.exchange(form)
            _reply(self, status, json.dumps(answer).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if self.headers.get("Metadata-Flavor") != "Google":
                _reply(self, 403, b"missing Metadata-Flavor", "text/plain")
                return
            if url.path == "/":  # google-auth's ping: is this a metadata server?
                self.send_response(200)
                self.send_header("Metadata-Flavor", "Google")
                self.send_header("content-length", "0")
                self.end_headers()
                return
            account = "/computeMetadata/v1/instance/service-accounts/default/"
            if url.path == account:  # who the instance runs as, asked before any token
                info = {"email": METADATA_CALLER, "aliases": ["default"], "scopes": []}
                _reply(self, 200, json.dumps(info).encode(), "application/json")
                return
            if url.path != account + "identity":
                _reply(self, 404, b"not found", "text/plain")
                return
            (audience,) = parse_qs(url.query)["audience"]
            token = issuer.id_token(METADATA_CALLER, audience).encode()
            self.send_response(200)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(token)))
            self.end_headers()
            self.wfile.write(token)

        def log_message(self, *args) -> None:
            pass

    return Handler


# --- the gate -----------------------------------------------------------------------------------

# The pod's answer headers a caller reads; hop-by-hop ones are the gate's own.
_FORWARDED = ("content-type", "x-next-page-token", "link", "retry-after", "cache-control", "etag")
_FORBIDDEN = (
    b"<html><head><title>403 Forbidden</title></head><body><h1>Error: Forbidden</h1>"
    b"<h2>Your client does not have permission to get URL <code>/get_data</code> from this "
    b"server.</h2></body></html>"
)


@dataclass
class Gate:
    """Cloud Run's IAM check in front of a real pod; `callers` lists each admitted subject."""

    issuer: Issuer
    pod_url: str
    url: str = ""
    callers: list[str] = field(default_factory=list)

    def admit(self, authorization: str | None) -> int | None:
        """None to let the request through, else the status Cloud Run would answer."""
        if not authorization or not authorization.startswith("Bearer "):
            return 403
        try:
            claims = self.issuer.verify(authorization.removeprefix("Bearer "), self.url)
        except jwt.InvalidTokenError:
            return 401
        self.callers.append(claims["email"])
        return None

    @contextmanager
    def running(self) -> Iterator[Gate]:
        """Serve on 127.0.0.1 until the block ends."""
        with (
            httpx.Client(base_url=self.pod_url, timeout=60) as client,
            _serve(_gate_handler(self, client)) as url,
        ):
            self.url = url
            yield self


def _gate_handler(gate: Gate, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            refused = gate.admit(self.headers.get("Authorization"))
            if refused == 403:
                _reply(self, 403, _FORBIDDEN, "text/html; charset=UTF-8")
                return
            if refused == 401:
                _reply(self, 401, b"<html>401 Unauthorized</html>", "text/html")
                return
            answer = client.get(self.path, headers={"accept": self.headers.get("accept", "")})
            self.send_response(answer.status_code)
            for name in _FORWARDED:
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *args) -> None:
            pass

    return Handler
