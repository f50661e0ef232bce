"""datapic_runtime.secrets: configured secret values never survive into a log line."""

from __future__ import annotations

import pytest
from datapic_runtime.secrets import SECRET_NAME, named_secrets, redact, remember


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


def test_azure_connection_strings_are_secret_by_name_and_their_key_by_part(monkeypatch):
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=c2VjcmV0LWtleQ==;"
        "BlobEndpoint=http://127.0.0.1:10000/acct;"
    )
    monkeypatch.setenv("PYICEBERG_CATALOG__ADLS__ADLS__CONNECTION_STRING", connection)
    assert redact(f"bad {connection}") == "bad ***"
    assert redact("key c2VjcmV0LWtleQ== seen") == "key *** seen"
    # The endpoint is no secret: a URL in the string is not split into "secret" parts.
    assert redact("reaching http://127.0.0.1:10000/acct") == "reaching http://127.0.0.1:10000/acct"


def test_the_secrets_follow_the_environment_as_it_changes(monkeypatch):
    # secret_values() is kept between calls: a variable set, changed or removed after a first
    # redaction (tests build apps after changing the environment) must count at once.
    text = "key late-Jx81qvTz, then other-Pw93kdRm"
    assert redact(text) == text
    monkeypatch.setenv("LATE_API_KEY", "late-Jx81qvTz")
    assert redact(text) == "key ***, then other-Pw93kdRm"
    monkeypatch.setenv("LATE_API_KEY", "other-Pw93kdRm")
    assert redact(text) == "key late-Jx81qvTz, then ***"
    monkeypatch.delenv("LATE_API_KEY")
    assert redact(text) == text


def test_remembered_values_are_masked_from_then_on():
    assert redact("token vended-session-token-77") == "token vended-session-token-77"
    remember(["vended-session-token-77", "short"])
    assert redact("token vended-session-token-77") == "token ***"
    assert redact("short") == "short"


@pytest.mark.parametrize(
    "name",
    [
        "PYICEBERG_CATALOG__PROD__CREDENTIAL",
        "PYICEBERG_CATALOG__PROD__TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "PYICEBERG_CATALOG__PROD__S3__ACCESS_KEY_ID",  # the environment's: masked as before
        "DB_PASSWORD",
        "MYSQL_PASSWD",
        "AZURE_STORAGE_SAS_TOKEN",
        "GOOGLE_SIGNATURE",
        "adls.connection-string",
        "PYICEBERG_CATALOG__ADLS__ADLS__CONNECTION_STRING",
        "s3.secret-access-key",
        "gcs.oauth2.token",
        "header.Authorization",
        "credential",
    ],
)
def test_secret_names(name):
    assert SECRET_NAME.search(name)


@pytest.mark.parametrize(
    "name",
    [
        "PYICEBERG_CATALOG__PROD__URI",
        "s3.endpoint",
        "s3.session-token-expires-at-ms",
        "gcs.oauth2.token-expires-at",
        "s3.access-key-id",
        "oauth2-server-uri",
        "warehouse",
    ],
)
def test_names_that_hold_no_secret(name):
    assert not SECRET_NAME.search(name)


def test_named_secrets_are_the_string_values_of_secret_names():
    settings = {"token": "t0k3n-value", "s3.access-key-id": "AKIA", "key": 3, "uri": "u"}
    assert named_secrets(settings) == ["t0k3n-value"]
