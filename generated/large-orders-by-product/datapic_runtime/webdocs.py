"""GET /docs: the pod's page for people (docs/index.html, rendered by the compiler) and the
two files it loads (docs/app.js, docs/style.css), served as they are.

The page loads nothing from elsewhere and runs no inline script, so its Content-Security-Policy
allows the pod's own origin only: a spec's text, or an answer's data, can never run as script.
Every URL in the page is relative, so it works wherever the pod is mounted (`datapic serve`
puts pods under /<name>/).
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import ConfigError

log = logging.getLogger("datapic.pod")
# The page's own <meta> policy (compiler/docs/page.py POD_POLICY), and no framing (which a
# <meta> cannot say).
POLICY = (
    "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# Route -> (file under the pod directory, media type).
FILES = {
    "/docs": ("docs/index.html", "text/html; charset=utf-8"),
    "/docs/app.js": ("docs/app.js", "text/javascript; charset=utf-8"),
    "/docs/style.css": ("docs/style.css", "text/css; charset=utf-8"),
}
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page changes only with the pod: a short cache, revalidated after a deploy.
    "Cache-Control": "max-age=300",
}


def docs_routes(pod_dir: Path, methods: list[str]) -> list[Route]:
    """The routes serving the docs files of `pod_dir`, read once at start-up. A pod directory
    without a docs page (one written by hand, as some tests do) serves none; one with a page
    but not its files fails to start."""
    if not (pod_dir / FILES["/docs"][0]).is_file():
        log.warning("no docs page in %s: GET /docs is not served", pod_dir.name)
        return []
    return [
        Route(route, _handler(_read(pod_dir / name), media_type), methods=methods)
        for route, (name, media_type) in FILES.items()
    ]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def _handler(content: bytes, media_type: str):
    async def serve_file(_: Request) -> Response:
        return Response(content, media_type=media_type, headers=HEADERS)

    return serve_file
