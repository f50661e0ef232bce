"""datapic_runtime.oauth: client-credentials tokens fetched once, renewed ahead of expiry, and
refusals or silence turned into errors that carry no secret.

The token endpoint is a real HTTP server on loopback.
"""

from __future__ import annotations

import socket

import pytest
import requests
from datapic_runtime.oauth import ClientCredentials
from datapic_runtime.secrets import redact
from pyiceberg.exceptions import OAuthError
from tokenkit import Clock, jwt


def test_the_token_is_fetched_once_and_renewed_ahead_of_expiry(token_server):
    server = token_server((200, {"access_token": "token-one", "expires_in": 3600}),
                          (200, {"access_token": "token-two", "expires_in": 3600}))  # fmt: skip
    clock = Clock()
    manager = ClientCredentials(server.url, "client-id:client-secret-xyz", "PRINCIPAL_ROLE:ALL",
                                clock=clock)  # fmt: skip
    assert manager.auth_header() == "Bearer token-one"
    clock.now += 3600 - 301  # just before the 300 s margin
    assert manager.auth_header() == "Bearer token-one"
    clock.now += 2
    assert manager.auth_header() == "Bearer token-two"
    assert manager.fetched == 2
    form = server.forms[0]
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_id"] == ["client-id"]
    assert form["client_secret"] == ["client-secret-xyz"]
    assert form["scope"] == ["PRINCIPAL_ROLE:ALL"]


def test_a_token_without_expires_in_lives_as_its_jwt_says(token_server):
    token = jwt({"iat": 100, "exp": 700})  # ten minutes
    server = token_server((200, {"access_token": token}))
    clock = Clock()
    manager = ClientCredentials(server.url, "id:secret-value", clock=clock)
    manager.auth_header()
    assert manager.renew_at == clock.now + 300  # half of 600 s: the margin would leave less


def test_a_refused_credential_raises_oauth_error_without_the_secret(token_server):
    answer = {"error": "invalid_client", "error_description": "bad client credentials"}
    server = token_server((401, answer))
    manager = ClientCredentials(server.url, "id:very-secret-value")
    with pytest.raises(OAuthError) as failure:
        manager.auth_header()
    assert str(failure.value) == "invalid_client: bad client credentials"
    assert "very-secret-value" not in str(failure.value)


def test_a_token_endpoint_that_never_answers_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
        manager = ClientCredentials(url, "id:secret-value", timeout=0.3)
        with pytest.raises(requests.exceptions.Timeout):
            manager.auth_header()


def test_fetched_tokens_are_redacted(token_server):
    server = token_server((200, {"access_token": "fresh-bearer-token-123", "expires_in": 60}))
    ClientCredentials(server.url, "id:secret-value").auth_header()
    assert redact("sent fresh-bearer-token-123") == "sent ***"
