"""Which page-token secret `datapic deploy` owns, read from a pod's service.yaml."""

from __future__ import annotations

import base64

import pytest

from compiler.cloud.pagetoken import managed_secret, new_key


def _service(*env: dict) -> dict:
    return {"spec": {"template": {"spec": {"containers": [{"name": "pod", "env": list(env)}]}}}}


def _from_secret(name: str, secret: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": "latest"}}}


@pytest.mark.parametrize(
    ("document", "owned"),
    [
        (_service(_from_secret("DATAPIC_PAGE_TOKEN_SECRET", "orders-page-token")), True),
        # The spec's own secret: the operator's to create and rotate.
        (_service(_from_secret("DATAPIC_PAGE_TOKEN_SECRET", "team-key")), False),
        (_service(_from_secret("OTHER", "orders-page-token")), False),
        # A pod compiled before service.yaml named a key, or with no env at all.
        (_service(), False),
        ({"spec": {"template": {"spec": {"containers": [{"name": "pod"}]}}}}, False),
        ({"spec": None}, False),
    ],
)
def test_deploy_owns_only_the_secret_named_after_the_service(document, owned) -> None:
    expected = "orders-page-token" if owned else None
    assert managed_secret(document, "orders") == expected


def test_a_new_key_is_32_random_bytes_in_url_safe_base64() -> None:
    keys = {new_key() for _ in range(8)}
    assert len(keys) == 8
    for key in keys:
        assert len(base64.urlsafe_b64decode(key + b"=")) == 32
        assert key.decode().isascii() and "=" not in key.decode()
