"""`datapic docs serve`: the static site on 127.0.0.1, with the same Content-Security-Policy
its pages carry in <meta> (a header also covers what a meta tag cannot: framing)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .page import NO_FRAMING, SITE_POLICY


class _SiteHandler(SimpleHTTPRequestHandler):
    """Files of the site, with the site's policy, no directory listings, and no access log."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", SITE_POLICY + NO_FRAMING)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def list_directory(self, path):  # noqa: ANN001 - the base class's signature
        self.send_error(404, "no such page")
        return None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


def site_server(site: Path, port: int) -> ThreadingHTTPServer:
    """A server of `site` on 127.0.0.1:`port` (0: any free one), bound but not yet serving."""
    handler = functools.partial(_SiteHandler, directory=str(site))
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve_site(site: Path, port: int, echo: Callable[[str], None]) -> None:
    """Serve `site` until interrupted."""
    with site_server(site, port) as server:
        echo(f"serving {site} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    echo("stopped")
