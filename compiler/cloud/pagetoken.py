"""The key of a deployed pod's page tokens: a Secret Manager secret made once per service.

Without a key of its own, a pod keys its page tokens with its public pod.json alone, and anyone
could mint a token for a replaced snapshot. service.yaml therefore fills
DATAPIC_PAGE_TOKEN_SECRET from `<service>-page-token` (unless the spec maps that variable to a
secret of its own), and `datapic deploy` makes sure that secret exists before the build: it
creates it with one version of 32 random bytes, or leaves an existing one alone. Never a
rotation: a new key invalidates every page token in flight, so that stays the operator's act.
The value is generated here, sent once, and never printed, logged or returned.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from ..artifacts.render import PAGE_TOKEN_SECRET_ENV, page_token_secret
from .clients import Cloud

KEY_BYTES = 32
ACCESSOR = "roles/secretmanager.secretAccessor"


def managed_secret(service_document: Any, service: str) -> str | None:
    """The page-token secret `datapic deploy` owns for this service.yaml, or None when the pod
    takes the key from a secret of the spec's (or was compiled before there was one)."""
    try:
        containers = service_document["spec"]["template"]["spec"]["containers"]
        env = [item for c in containers for item in c.get("env") or ()]
    except (KeyError, TypeError, AttributeError):
        return None
    expected = page_token_secret(service)
    for item in env:
        if isinstance(item, dict) and item.get("name") == PAGE_TOKEN_SECRET_ENV:
            reference = (item.get("valueFrom") or {}).get("secretKeyRef") or {}
            return expected if reference.get("name") == expected else None
    return None


def new_key() -> bytes:
    """A fresh key: 32 random bytes as url-safe base64 text (the env var's value)."""
    return secrets.token_urlsafe(KEY_BYTES).encode("ascii")


def ensure(cloud: Cloud, secret: str, service: str, progress: Callable[[str], None]) -> None:
    """Create `secret` with one fresh version unless it exists; an existing one is kept."""
    created = not cloud.secret_exists(secret) and cloud.create_secret(
        secret, {"datapic-pod": service}
    )
    if created:
        cloud.add_secret_version(secret, new_key())
        progress(
            f"created secret {secret} (page-token key; the runtime service account needs "
            f"{ACCESSOR} on it)"
        )
    elif not cloud.secret_has_version(secret):
        # A first deploy stopped between creating the secret and adding its version.
        cloud.add_secret_version(secret, new_key())
        progress(f"secret {secret} had no version: added one")
    else:
        progress(f"secret {secret} exists (kept: rotating it ends every page token in flight)")
