"""Keeping secrets out of answers and logs: configured secret values are masked in any text."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

# Environment names that hold secrets: pyiceberg's PYICEBERG_CATALOG__<NAME>__CREDENTIAL,
# __TOKEN, __S3__SECRET_ACCESS_KEY, …, and the storage SDKs' own (AWS_SECRET_ACCESS_KEY, …).
_SECRET_NAME = re.compile(r"CREDENTIAL|TOKEN|SECRET|PASSWORD|PASSWD|KEY|SAS|SIGNATURE", re.I)
# Shorter values ("true", "1") would mask ordinary words in every message.
_MIN_LENGTH = 6
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


def secret_values() -> tuple[str, ...]:
    """Secret values found in the environment, longest first (so none is half-masked)."""
    values = {value for name, value in os.environ.items() if _SECRET_NAME.search(name)}
    # A `client_id:client_secret` credential: each part is a secret on its own too.
    values |= {part for value in list(values) for part in value.split(":")}
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
