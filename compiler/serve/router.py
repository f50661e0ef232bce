"""One ASGI app in front of several pods: `/<name>/…` goes to pod `name`, as its own app would
see it mounted there (root_path `/<name>`, the path unchanged, as Starlette's Mount does)."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


class PodRouter:
    """Routes each request to the pod named by its first path segment; `GET /` lists them.

    `set` and `remove` may be called from another thread (the spec watcher): a request already
    inside a pod's app finishes there, the next one goes to the new app.
    """

    def __init__(self) -> None:
        self._apps: dict[str, ASGIApp] = {}
        self._lock = threading.Lock()

    def set(self, name: str, app: ASGIApp) -> None:
        """Serve `app` under /name/ from the next request on."""
        with self._lock:
            self._apps = {**self._apps, name: app}

    def remove(self, name: str) -> None:
        """Stop routing to pod `name`."""
        with self._lock:
            self._apps = {key: app for key, app in self._apps.items() if key != name}

    def names(self) -> list[str]:
        """The pods served, sorted."""
        return sorted(self._apps)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        path = scope["path"]
        name = path[1:].split("/", 1)[0]
        app = self._apps.get(name)
        if app is None or scope["type"] != "http":
            await self._not_a_pod(scope, send, path)
            return
        root = scope.get("root_path", "") + "/" + name
        await app({**scope, "root_path": root}, receive, send)

    async def _not_a_pod(self, scope: Scope, send: Callable, path: str) -> None:
        if scope["type"] != "http":
            return
        names = self.names()
        if path == "/":
            status, body = 200, {"pods": [f"/{name}/" for name in names]}
        else:
            served = ", ".join(f"/{name}/" for name in names) or "none"
            status, body = 404, {"error": f"no pod serves {path}; pods: {served}"}
        data = json.dumps(body).encode("utf-8")
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


async def _lifespan(receive: Callable, send: Callable) -> None:
    """The pods need no start-up or shutdown step: acknowledge both."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
