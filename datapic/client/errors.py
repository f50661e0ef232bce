"""What a pod's failure becomes in the client: a `PodError` subclass by HTTP status, carrying
the pod's own `{"error": …}` message."""

from __future__ import annotations

import json

# What a body that is no pod's JSON error (a proxy's HTML page) may add to a message.
_TEXT_LIMIT = 200


class PodError(Exception):
    """A pod (or what stands in front of it) refused or failed a request."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url

    def __str__(self) -> str:
        if self.status is None:
            return f"{self.url}: {self.message}" if self.url else self.message
        where = f" from {self.url}" if self.url else ""
        return f"{self.status}{where}: {self.message}"


class BadRequest(PodError):
    """400: a missing, unknown or mistyped parameter (the message names it)."""


class Unauthorized(PodError):
    """401: the identity token was refused (expired, or for another audience)."""


class Forbidden(PodError):
    """403: the caller may not invoke the service, or the pod's catalog refused the pod."""


class NotFound(PodError):
    """404: no such pod route, or the pod's table is missing."""


class NotAcceptable(PodError):
    """406: the pod cannot answer in Arrow (an older pod)."""


class Gone(PodError):
    """410: a page token whose table snapshot has expired: the answer must start again."""


class Unprocessable(PodError):
    """422: an answer that does not fit its type (an integer sum beyond int64, …)."""


class ServerError(PodError):
    """5xx: the pod failed (501 for a table feature it does not serve, 502 for its catalog)."""


class Unavailable(ServerError):
    """503 or 429 still, after the client's bounded retries (Retry-After honoured)."""


class PodConnectionError(PodError):
    """No answer: the pod could not be reached, or an answer broke off part way."""


_BY_STATUS: dict[int, type[PodError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    406: NotAcceptable,
    410: Gone,
    422: Unprocessable,
    429: Unavailable,
    503: Unavailable,
}

# Cloud Run answers these itself, before any pod runs: say what the caller can do about it.
_HINTS = {
    401: "the ID token was refused: is its audience the service URL?",
    403: (
        "a private Cloud Run service needs an ID token of a caller with roles/run.invoker "
        "(see datapic.client.Pod's token and credentials arguments)"
    ),
}


def error_class(status: int) -> type[PodError]:
    """The PodError subclass of an HTTP status.

    >>> error_class(410).__name__, error_class(502).__name__, error_class(418).__name__
    ('Gone', 'ServerError', 'PodError')
    """
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else PodError


def error_message(status: int, body: bytes, reason: str = "") -> str:
    """The pod's `error` message, else the body's first line, else the status's reason.

    >>> error_message(400, b'{"error": "unknown parameter \\'x\\'"}')
    "unknown parameter 'x'"
    >>> error_message(502, b"<html>\\n<title>Bad gateway</title>", "Bad Gateway")
    '<html>'
    """
    message = _pod_message(body)
    if message is None:
        text = body.decode("utf-8", "replace").strip()
        first = text.splitlines()[0] if text else ""
        message = first[:_TEXT_LIMIT] + ("…" if len(first) > _TEXT_LIMIT else "") or reason
        if status in _HINTS:
            message = f"{message or reason}; {_HINTS[status]}"
    return message or f"HTTP {status}"


def _pod_message(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):  # Google's APIs: {"error": {"code": …, "message": …}}
        error = error.get("message")
    return error if isinstance(error, str) else None


def error_for(status: int, body: bytes, url: str, reason: str = "") -> PodError:
    """The exception a pod's error answer raises."""
    return error_class(status)(error_message(status, body, reason), status=status, url=url)
