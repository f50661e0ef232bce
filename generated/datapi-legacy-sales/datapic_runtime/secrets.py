"""Keeping secrets out of answers and logs: configured secret values are masked in any text."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

# Environment names that hold secrets: pyiceberg's PYICEBERG_CATALOG__<NAME>__CREDENTIAL,
# __TOKEN, __S3__SECRET_ACCESS_KEY, …, and the storage SDKs' own (AWS_SECRET_ACCESS_KEY, …).
_SECRET_NAME = re.compile(
    r"CREDENTIAL|TOKEN|SECRET|PASSWORD|PASSWD|KEY|SAS|SIGNATURE|CONNECTION_STRING", re.I
)
# Secret parts of an Azure connection string (AccountKey=…;SharedAccessSignature=…).
_CONNECTION_SECRET = re.compile(r"(?:AccountKey|SharedAccessSignature)=([^;]+)", re.I)
# Shorter values ("true", "1") would mask ordinary words in every message.
_MIN_LENGTH = 6
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


# Secrets the pod learns at run time (vended storage credentials, OAuth2 tokens).
_remembered: set[str] = set()
_remembered_lock = threading.Lock()


def remember(values: Iterable[str]) -> None:
    """Treat these values as secrets from now on (they came from the catalog, not the env)."""
    found = {v for v in values if isinstance(v, str)}
    found |= {part for value in found for part in _CONNECTION_SECRET.findall(value)}
    with _remembered_lock:
        _remembered.update(v for v in found if len(v) >= _MIN_LENGTH)


def secret_values() -> tuple[str, ...]:
    """Secret values found in the environment, longest first (so none is half-masked)."""
    values = {value for name, value in os.environ.items() if _SECRET_NAME.search(name)}
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


def redact(text: str) -> str:
    """`text` with every secret value, and any user:password@ in a URL, replaced by ***."""
    for value in secret_values():
        text = text.replace(value, "***")
    return _URL_USERINFO.sub(r"\1***@", text)
