"""Signing for private Cloud Run services, for real: google-auth gets an ID token from a
loopback issuer (as a service account's token endpoint, and as the metadata server), and a
gate in front of a real pod admits only tokens of that issuer for its own URL (idtokens.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clientkit import ORDERS, orders_values
from idtokens import CALLER, METADATA_CALLER, Gate, Issuer

from datapic.client import CredentialsError, Forbidden, Pod, Unauthorized

pytestmark = pytest.mark.pod

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def issuer():
    with Issuer().running() as running:
        yield running


@pytest.fixture
def gate(issuer, orders_url):
    with Gate(issuer, orders_url).running() as running:
        yield running


@pytest.fixture
def no_google_environment(monkeypatch, tmp_path):
    """No credentials file, no gcloud configuration, no metadata server to find."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")


def test_a_service_account_key_signs_for_the_service_url(
    gate, issuer, reference, tmp_path, monkeypatch
):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(issuer.service_account_file(tmp_path)))
    expected = reference(ORDERS, orders_values(min_sales=2000.0))
    with Pod(gate.url, sign=True) as pod:
        assert pod.get_data(min_sales=2000).equals(expected)
        assert pod.get_data(min_sales=2000).equals(expected)
    assert gate.callers and set(gate.callers) == {CALLER}
    # One token for the service's URL (the audience), kept for the pages and calls after.
    assert issuer.issued == [(CALLER, gate.url)]


def test_the_metadata_server_signs_on_cloud_run(gate, issuer, reference, tmp_path):
    """google-auth reads where the metadata server is when first imported: a fresh process."""
    script = (
        "import sys; from datapic.client import Pod\n"
        "table = Pod(sys.argv[1], sign=True).get_data(min_sales=2000)\n"
        "print(table.num_rows)\n"
    )
    host = issuer.url.removeprefix("http://")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("GOOGLE_APPLICATION_CREDENTIALS", "NO_GCE_CHECK")
    }
    env |= {"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, "PYTHONPATH": str(ROOT)}
    env["CLOUDSDK_CONFIG"] = str(tmp_path / "gcloud")
    done = subprocess.run(
        [sys.executable, "-c", script, gate.url], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == reference(ORDERS, orders_values(min_sales=2000.0)).num_rows
    assert set(gate.callers) == {METADATA_CALLER}
    assert issuer.issued == [(METADATA_CALLER, gate.url)]


def test_a_given_token_or_token_function_is_sent(gate, issuer):
    token = issuer.id_token("someone@example.com", gate.url)
    calls = []

    def fresh() -> str:
        calls.append(1)
        return token + "\n"  # as `gcloud auth print-identity-token` prints it

    assert Pod(gate.url, token=token).get_data(country="nowhere").num_rows == 0
    assert Pod(gate.url, token=fresh).get_data(country="nowhere").num_rows == 0
    assert calls == [1] and gate.callers == ["someone@example.com"] * 2


def test_given_credentials_are_pointed_at_the_service_url(gate, issuer, tmp_path):
    from google.oauth2 import service_account

    credentials = service_account.IDTokenCredentials.from_service_account_file(
        str(issuer.service_account_file(tmp_path)), target_audience="https://elsewhere.example"
    )
    assert Pod(gate.url, credentials=credentials).get_data(country="nowhere").num_rows == 0
    assert issuer.issued == [(CALLER, gate.url)]


def test_unsigned_is_forbidden_with_a_hint(gate, no_google_environment):
    with pytest.raises(Forbidden) as caught:
        Pod(gate.url).get_data()  # a loopback URL: not signed unless asked
    assert caught.value.status == 403
    assert caught.value.message.startswith("<html><head><title>403 Forbidden</title>")
    assert "needs an ID token of a caller with roles/run.invoker" in caught.value.message
    assert gate.callers == []


def test_a_token_for_another_audience_is_unauthorized(gate, issuer):
    token = issuer.id_token(CALLER, "https://another-service.run.app")
    with pytest.raises(Unauthorized, match="is its audience the service URL"):
        Pod(gate.url, token=token).get_data()


def test_sign_true_without_any_credentials_says_what_to_do(gate, no_google_environment):
    with pytest.raises(CredentialsError, match="set GOOGLE_APPLICATION_CREDENTIALS"):
        Pod(gate.url, sign=True).get_data()


def test_a_refused_service_account_is_one_clear_error(gate, issuer, tmp_path, monkeypatch):
    key = issuer.service_account_file(tmp_path)
    info = json.loads(key.read_text())
    info["private_key"] = json.loads(Issuer().service_account_file(tmp_path).read_text())[
        "private_key"
    ]  # a key the issuer does not know
    key.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    with pytest.raises(CredentialsError, match=f"no ID token for {gate.url}: .*invalid_grant"):
        Pod(gate.url, sign=True).get_data()


@pytest.mark.parametrize(
    ("url", "options", "expected"),
    [
        # A Cloud Run URL is signed whenever the environment has a token source.
        ("https://pod-1.europe-west1.run.app", {}, "environment, if found"),
        ("https://pod-1.europe-west1.run.app", {"sign": True}, "environment, required"),
        ("https://pod-1.europe-west1.run.app", {"sign": False, "token": "t"}, "unsigned"),
        ("https://pod-1.europe-west1.run.app", {"token": "t"}, "given token"),
        # A local pod only when asked: no metadata-server probe on a developer's laptop.
        ("http://127.0.0.1:8000", {}, "unsigned"),
        ("http://localhost:8000", {}, "unsigned"),
        ("http://127.0.0.1:8000", {"sign": True}, "environment, required"),
        ("http://127.0.0.1:8000", {"token": "t"}, "given token"),
    ],
)
def test_when_requests_are_signed(url, options, expected):
    from datapic.client.auth import _GivenToken, signing

    arguments = {"token": None, "credentials": None, "sign": None, "audience": None} | options
    auth = signing(url, **arguments)
    if auth is None:
        found = "unsigned"
    elif isinstance(auth._source, _GivenToken):
        found = "given token"
    else:
        found = "environment, required" if auth._source._required else "environment, if found"
    assert found == expected
