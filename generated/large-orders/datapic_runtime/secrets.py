"""Keeping secrets out of answers and logs: configured secret values are masked in any text."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

# Names of environment variables and catalog or FileIO properties that hold a secret:
# pyiceberg's PYICEBERG_CATALOG__<NAME>__CREDENTIAL, __TOKEN, s3.secret-access-key,
# adls.sas-token, header.Authorization …, and the storage SDKs' own (AWS_SECRET_ACCESS_KEY, …).
# Not the properties that only say when a credential lapses, which key it is or where a
# service answers (s3.session-token-expires-at-ms, s3.access-key-id, oauth2-server-uri): their
# values appear in ordinary messages.
SECRET_NAME = re.compile(
    r"^(?!.*(?:expires-at|expires-at-ms|key-id|-uri)$)"
    r".*(?:CREDENTIAL|TOKEN|SECRET|PASSWORD|PASSWD|KEY|SAS|SIGNATURE|AUTHORIZATION|"
    r"CONNECTION.?STRING)",
    re.IGNORECASE,
)
# Secret parts of an Azure connection string (AccountKey=…;SharedAccessSignature=…).
_CONNECTION_SECRET = re.compile(r"(?:AccountKey|SharedAccessSignature)=([^;]+)", re.I)
# Shorter values ("true", "1") would mask ordinary words in every message.
_MIN_LENGTH = 6
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


# Secrets the pod learns at run time (vended storage credentials, OAuth2 tokens).
_remembered: set[str] = set()
_remembered_lock = threading.Lock()
# secret_values() as last found, with what it was found from: the environment (a copy of its
# contents) and how often remember() had run. Every log line wants it, and reading the ~100
# variables through os.environ's mapping costs a tenth of a millisecond; comparing the copy
# with the environment costs a fraction of a microsecond, so a changed environment (tests set
# variables between apps) or a newly remembered secret is still seen at once.
_remembered_version = 0
_found: tuple[dict, int, tuple[str, ...]] | None = None


def remember(values: Iterable[str]) -> None:
    """Treat these values as secrets from now on (they came from the catalog, not the env)."""
    global _remembered_version
    found = {v for v in values if isinstance(v, str)}
    found |= {part for value in found for part in _CONNECTION_SECRET.findall(value)}
    with _remembered_lock:
        known = len(_remembered)
        _remembered.update(v for v in found if len(v) >= _MIN_LENGTH)
        if len(_remembered) != known:  # a table reload remembers the same values again
            _remembered_version += 1


def named_secrets(settings: Mapping[str, Any]) -> list[str]:
    """The values of `settings` (environment, catalog properties) whose names say they are secret.

    >>> named_secrets({"s3.secret-access-key": "wJalr", "s3.access-key-id": "AKIA", "uri": "x"})
    ['wJalr']
    """
    return [v for name, v in settings.items() if isinstance(v, str) and SECRET_NAME.search(name)]


def secret_values() -> tuple[str, ...]:
    """Secret values found in the environment, longest first (so none is half-masked)."""
    global _found
    environment, found = _environment(), _found
    with _remembered_lock:
        version = _remembered_version
    if found is not None and found[1] == version and found[0] == environment:
        return found[2]
    # Copied before the values are found: a change made meanwhile is seen by the next call.
    copied = dict(environment)
    values = _secret_values()
    _found = (copied, version, values)
    return values


def _environment() -> Mapping[Any, Any]:
    """The process environment's contents as a plain dict: os.environ's own (the raw bytes on
    POSIX), which compares in C; a copy where the platform keeps none."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environ)


def _secret_values() -> tuple[str, ...]:
    values = set(named_secrets(os.environ))
    values |= {part for value in list(values) for part in _CONNECTION_SECRET.findall(value)}
    with _remembered_lock:
        values |= _remembered
    # A `client_id:client_secret` credential: each part is a secret on its own too.
    values |= {
        part
        for value in list(values)
        if value.count(":") == 1 and "://" not in value
        for part in value.split(":")
    }
    # A catalog URI may carry a password (postgresql://user:password@host/db).
    for name, value in os.environ.items():
        if name.upper().startswith("PYICEBERG_") and "://" in value:
            password = _password(value)
            if password:
                values.add(password)
    return tuple(sorted((v for v in values if len(v) >= _MIN_LENGTH), key=len, reverse=True))


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret value, and any user:password@ in a URL, replaced by ***.
    `secrets`: secret_values() found once for several texts (it reads the environment)."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, "***")
    return _URL_USERINFO.sub(r"\1***@", text)
