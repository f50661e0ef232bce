"""A loopback OIDC issuer: discovery document and JWKS over real HTTP, keys generated here
(RSA and EC, with `cryptography`), rotated on demand, and tokens signed with PyJWT.

`Issuer.rotate()` adds a new key that signs from then on and drops the old one from the JWKS,
as an issuer rotating its keys does; `fetches` counts the JWKS requests the pod made;
`Issuer.trickling()` has the JWKS sent a byte at a time until the block ends.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "orders-api"


@dataclass(frozen=True)
class Key:
    """A signing key: its id, algorithm, private key and public JWK."""

    kid: str
    alg: str
    private: Any
    jwk: dict

    @property
    def public_pem(self) -> bytes:
        """The public key in PEM, as an HS/RS confusion attack would use it for a secret."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_key(alg: str = "RS256") -> Key:
    """A fresh RSA (RS256) or EC P-256 (ES256) key with a random kid."""
    private = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg.startswith("RS")
        else ec.generate_private_key(ec.SECP256R1())
    )
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(private.public_key()))
    kid = uuid.uuid4().hex[:12]
    return Key(kid=kid, alg=alg, private=private, jwk={**jwk, "kid": kid, "use": "sig"})


class Issuer:
    """An OIDC issuer on 127.0.0.1 serving its discovery document and JWKS."""

    def __init__(self, alg: str = "RS256") -> None:
        self.keys = [new_key(alg)]
        self.fetches = 0
        self.lock = threading.Lock()
        # trickle: set while JWKS answers trickle; trickled: set once one has begun to.
        self.trickle, self.trickled = threading.Event(), threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": outer.url, "jwks_uri": f"{outer.url}/jwks"}
                elif self.path == "/jwks":
                    with outer.lock:
                        outer.fetches += 1
                        body = {"keys": [k.jwk for k in outer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.path == "/jwks" and outer.trickle.is_set():
                    self._trickle(data)
                else:
                    self.wfile.write(data)

            def _trickle(self, data: bytes) -> None:
                """A byte every 0.1 s (each within any read timeout); the rest at once when
                the trickle ends."""
                outer.trickled.set()
                for sent, byte in enumerate(data):
                    if not outer.trickle.is_set():
                        self.wfile.write(data[sent:])
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()

    @property
    def key(self) -> Key:
        """The key that signs now."""
        return self.keys[-1]

    def rotate(self, alg: str = "RS256") -> Key:
        """A new signing key; the old ones leave the JWKS. Returns the key that left."""
        old = self.key
        with self.lock:
            self.keys = [new_key(alg)]
        return old

    def token(self, key: Key | None = None, headers: dict | None = None, **claims: Any) -> str:
        """A token of this issuer: iss, aud, sub, iat and exp (an hour) unless given."""
        key = key or self.key
        now = int(time.time())
        payload = {"iss": self.url, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 3600}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, key.private, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})}
        )

    @contextmanager
    def trickling(self) -> Iterator[None]:
        """JWKS answers trickle for the block's length (then send the rest at once)."""
        self.trickled.clear()
        self.trickle.set()
        try:
            yield
        finally:
            self.trickle.clear()

    def close(self) -> None:
        self.trickle.clear()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_issuer(alg: str = "RS256") -> Iterator[Issuer]:
    """An Issuer for the block's length."""
    issuer = Issuer(alg)
    try:
        yield issuer
    finally:
        issuer.close()


def hs256(secret: str, **claims: Any) -> str:
    """An HS256 token with an hour's life (claims given as None are left out)."""
    now = int(time.time())
    payload = {"sub": "alice", "iat": now, "exp": now + 3600, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


def unsigned(**claims: Any) -> str:
    """An `alg: none` token (no signature at all)."""
    now = int(time.time())
    payload = {"sub": "mallory", "iat": now, "exp": now + 3600, **claims}
    return jwt.encode(payload, None, algorithm="none")
