"""CORS: which web pages (origins) may read the pod's answers from a browser, as pod.json's
`cors` says; a pod without it sends no CORS header at all.

Hand-written rather than Starlette's CORSMiddleware, which (in 1.10) adds `Vary: Origin` only
to answers for an allowed origin: a shared cache could then keep the answer a curl got (no
Origin, no Access-Control-Allow-Origin) for max-age and hand it to the allowed page, which
the browser would refuse. Here every answer of a pod with a list of origins says
`Vary: Origin`. Its preflight refusals are plain text too; the pod's errors are JSON.

The pod only reads: GET and HEAD are the methods a page may use, with the headers its
clients send (Authorization for a bearer token, If-None-Match for revalidation). A page may
read the headers that paging, revalidation and back-off need.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import CorsSpec
from .serialize import error_json

ANY_ORIGIN = "*"
ALLOW_METHODS = ("GET", "HEAD")
# Lower case: Access-Control-Request-Headers lists them so (Fetch standard).
ALLOW_HEADERS = ("accept", "authorization", "if-none-match")
EXPOSE_HEADERS = ("X-Next-Page-Token", "Link", "ETag", "Retry-After")


class CorsMiddleware:
    """ASGI middleware answering preflights and marking answers for the allowed origins."""

    def __init__(self, app: ASGIApp, cors: CorsSpec) -> None:
        self.app = app
        self.cors = cors
        self.any_origin = ANY_ORIGIN in cors.allow_origins and not cors.allow_credentials
        self.origins = frozenset(cors.allow_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return
        allowed = origin is not None and self._allows(origin)

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._mark(MutableHeaders(scope=message), origin if allowed else None)
            await send(message)

        await self.app(scope, receive, marked)

    def _allows(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def _mark(self, headers: MutableHeaders, origin: str | None) -> None:
        """An actual answer's CORS headers: the origin's, or only Vary for any other."""
        if not self.any_origin:
            headers.add_vary_header("Origin")
        if origin is None:
            return
        headers["Access-Control-Allow-Origin"] = ANY_ORIGIN if self.any_origin else origin
        if self.cors.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSE_HEADERS)

    async def _preflight(self, origin: str, request: Headers, send: Send) -> None:
        """204 with what the page may do, or 403 saying what it may not (no CORS grant)."""
        method = request["access-control-request-method"]
        asked = _header_names(request.get("access-control-request-headers", ""))
        refused = [name for name in asked if name not in ALLOW_HEADERS]
        headers = {"Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
        if not self._allows(origin):
            problem = f"origin {origin!r} may not call this pod from a browser (cors)"
        elif method not in ALLOW_METHODS:
            problem = f"method {method!r} is not allowed; this pod answers GET and HEAD"
        elif refused:
            problem = f"header {refused[0]!r} is not allowed; allowed: {', '.join(ALLOW_HEADERS)}"
        else:
            headers.update(self._grant(origin))
            await _respond(send, 204, b"", headers)
            return
        headers["Content-Type"] = "application/json"
        await _respond(send, 403, error_json(problem), headers)

    def _grant(self, origin: str) -> dict[str, str]:
        grant = {
            "Access-Control-Allow-Origin": ANY_ORIGIN if self.any_origin else origin,
            "Access-Control-Allow-Methods": ", ".join(ALLOW_METHODS),
            "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
            "Access-Control-Max-Age": str(self.cors.max_age_seconds),
        }
        if self.cors.allow_credentials:
            grant["Access-Control-Allow-Credentials"] = "true"
        return grant


def _header_names(text: str) -> list[str]:
    return [name.strip().lower() for name in text.split(",") if name.strip()]


async def _respond(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def cors_middleware(cors: CorsSpec | None) -> Iterable[tuple[type, dict]]:
    """The middleware (class, options) a pod with a CORS policy runs; none without one."""
    return [] if cors is None else [(CorsMiddleware, {"cors": cors})]
