"""datapic_runtime.secrets: configured secret values never survive into a log line."""

from __future__ import annotations

import pytest
from datapic_runtime.secrets import redact


@pytest.mark.parametrize(
    ("env", "text", "expected"),
    [
        (
            {"PYICEBERG_CATALOG__PROD__CREDENTIAL": "client-id:client-secret-value"},
            "auth client-secret-value failed for client-id",
            "auth *** failed for ***",
        ),
        (
            {"PYICEBERG_CATALOG__PROD__TOKEN": "eyJhbGciOi.token"},
            "Bearer eyJhbGciOi.token rejected",
            "Bearer *** rejected",
        ),
        (
            {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG"},
            "signature with wJalrXUtnFEMI/K7MDENG",
            "signature with ***",
        ),
        (
            {"PYICEBERG_CATALOG__PROD__URI": "postgresql://iceberg:pg-pass-123@db:5432/cat"},
            "could not connect: password pg-pass-123 rejected",
            "could not connect: password *** rejected",
        ),
        (
            {},
            "postgresql://me:pw@db/cat and https://tok@host/x",
            "postgresql://***@db/cat and https://***@host/x",
        ),
        # Short values would mask ordinary words: "true" stays.
        ({"PYICEBERG_CATALOG__PROD__TOKEN_EXCHANGE": "true"}, "it is true", "it is true"),
    ],
)
def test_redact(monkeypatch, env, text, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert redact(text) == expected


def test_the_longest_secret_is_masked_first(monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "abcdef")
    monkeypatch.setenv("API_KEY", "abcdefghij")
    assert redact("key=abcdefghij") == "key=***"
