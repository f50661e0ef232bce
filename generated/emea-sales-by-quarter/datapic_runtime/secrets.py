"""Keeping secrets out of answers and logs: any configured secret value is masked in text."""

from __future__ import annotations

import os
import re

# pyiceberg properties that hold secrets, as they appear in PYICEBERG_CATALOG__<NAME>__<PROP>.
_SECRET_PROPERTY = re.compile(
    r"(CREDENTIAL|TOKEN|SECRET|PASSWORD|KEY|SAS|CONNECTION.STRING)", re.IGNORECASE
)


def secret_values() -> tuple[str, ...]:
    """Values of the environment's secret-bearing catalog settings (longest first)."""
    values = {
        value
        for name, value in os.environ.items()
        if name.upper().startswith("PYICEBERG_") and _SECRET_PROPERTY.search(name) and value
    }
    # Parts of a `client_id:client_secret` credential are secrets on their own too.
    values |= {part for value in list(values) for part in value.split(":") if len(part) >= 4}
    return tuple(sorted(values, key=len, reverse=True))


_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


def redact(text: str) -> str:
    """`text` with every secret value, and any user:password in a URL, replaced by ***."""
    for value in secret_values():
        text = text.replace(value, "***")
    return _URL_USERINFO.sub(r"\1***@", text)
