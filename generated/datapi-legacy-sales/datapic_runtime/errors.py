"""The one exception type request handling raises: a status and a message safe for clients."""

from __future__ import annotations


class PodError(Exception):
    """An answer other than 200: `message` goes to the client, so it must never hold a secret."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
