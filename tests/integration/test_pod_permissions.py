"""The pod's catalog client against the real REST catalog (SeaweedFS): OAuth2 token renewal,
refused tokens, vended-credential lifetimes and what a storage refusal turns into.

Token expiry cannot be waited for (SeaweedFS tokens live 3600 s, fixed), so renewal is tested
by moving the client's clock forward past the renewal point, and a token the catalog no longer
accepts (revoked, or expired early on the server's side) is planted in the client; in both
cases the real catalog then has to accept what the client does next.
"""

from __future__ import annotations

import math
import os
import time

import duckdb
import pytest
import servers
from datapic_runtime.catalog import CatalogClient
from datapic_runtime.errors import classify, storage_denied
from datapic_runtime.oauth import TOKEN_MARGIN_SECONDS, ClientCredentials
from datapic_runtime.storage import register_filesystems
from podtables import write_table
from pyiceberg.exceptions import UnauthorizedError
from pyiceberg.io import load_file_io

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def written(seaweedfs):
    return write_table(seaweedfs, "perm")


@pytest.fixture
def as_principal(monkeypatch):
    """A CatalogClient configured only by the environment a pod of `principal` gets."""

    def client(backend: servers.Backend, principal: str) -> CatalogClient:
        for name in list(os.environ):
            if name.upper().startswith("PYICEBERG_CATALOG__"):
                monkeypatch.delenv(name)
        for name, value in backend.env(principal).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DATAPIC_CATALOG_TIMEOUT", "5")
        return CatalogClient(backend.catalog_name)

    return client


def _identifier(written) -> tuple[str, ...]:
    return tuple(written.identifier.split("."))


def _manager(client: CatalogClient) -> ClientCredentials:
    manager = client.catalog()._session.auth.auth_manager
    assert isinstance(manager, ClientCredentials)
    return manager


def test_the_token_is_renewed_before_it_expires(written, as_principal):
    client = as_principal(written.backend, "reader")
    client.load_table(_identifier(written))
    manager = _manager(client)
    assert manager.fetched == 1
    # SeaweedFS tokens live an hour: renewal is planned margin seconds before that.
    lifetime = manager.renew_at - time.monotonic()
    assert 3600 - TOKEN_MARGIN_SECONDS - 30 < lifetime <= 3600 - TOKEN_MARGIN_SECONDS

    client.load_table(_identifier(written))
    assert manager.fetched == 1  # still fresh: no new token

    skew = lifetime + 1
    manager._clock = lambda: time.monotonic() + skew  # an hour minus the margin later
    table = client.load_table(_identifier(written))
    assert manager.fetched == 2
    assert table.scan().to_arrow().num_rows > 0
    assert manager.renew_at > time.monotonic() + skew + 3000  # the next renewal is planned


def test_a_refused_token_gets_a_new_client_that_signs_in_again(written, as_principal):
    client = as_principal(written.backend, "reader")
    client.load_table(_identifier(written))
    stale = _manager(client)
    stale._token = "revoked.token.value"
    # The real catalog refuses it (401); the client signs in afresh and answers.
    with pytest.raises(UnauthorizedError):
        stale_catalog = client.catalog()
        stale_catalog.load_table(_identifier(written))
    table = client.load_table(_identifier(written))
    assert table.scan().to_arrow().num_rows > 0
    assert _manager(client) is not stale


def test_wrong_credentials_are_a_502_without_the_secret(written, as_principal, monkeypatch):
    backend = written.backend
    client = as_principal(backend, "reader")
    name = f"PYICEBERG_CATALOG__{backend.catalog_name.upper()}__CREDENTIAL"
    wrong = f"{backend.details['reader'].access_key}:not-the-secret-{os.getpid()}"
    monkeypatch.setenv(name, wrong)
    with pytest.raises(Exception) as failure:
        client.load_table(_identifier(written))
    error = classify(failure.value, catalog=backend.catalog_name, table=written.identifier)
    assert error.status == 502
    assert "not-the-secret" not in error.message
    assert "not-the-secret" not in str(failure.value)


def test_vended_credentials_set_when_the_table_must_be_reloaded(written, as_principal):
    backend = written.backend
    vended = as_principal(backend, "reader").load_table(_identifier(written))
    lifetime = backend.details["credential_seconds"]
    until = as_principal(backend, "reader").valid_until(vended) - time.monotonic()
    assert lifetime - 60 - 30 < until <= lifetime - 60

    own_keys = as_principal(backend, "reader-keys").load_table(_identifier(written))
    assert as_principal(backend, "reader-keys").valid_until(own_keys) == math.inf


def test_lapsed_vended_credentials_are_a_storage_refusal_cured_by_a_reload(written, as_principal):
    """Vended credentials that no longer hold (here: a session token the server does not
    know) make storage refuse; `storage_denied` says so, the answer would be a 403, and a
    reload brings credentials that work."""
    client = as_principal(written.backend, "reader")
    table = client.load_table(_identifier(written))
    files = [task.file.file_path for task in table.scan().plan_files()]
    table.io = load_file_io(
        {**table.io.properties, "s3.session-token": "lapsed-session-token"},
        table.metadata_location,
    )
    connection = duckdb.connect()
    register_filesystems(connection, table)
    with pytest.raises(Exception) as failure:
        connection.execute("SELECT count(*) FROM read_parquet($f)", {"f": files}).fetchall()
    assert storage_denied(failure.value), repr(failure.value)
    assert classify(failure.value, catalog="seaweed", table=written.identifier).status == 403
    with pytest.raises(Exception) as through_pyiceberg:
        table.scan().to_arrow()
    assert storage_denied(through_pyiceberg.value), repr(through_pyiceberg.value)

    fresh = client.load_table(_identifier(written))
    connection = duckdb.connect()
    register_filesystems(connection, fresh)
    count = connection.execute("SELECT count(*) FROM read_parquet($f)", {"f": files}).fetchone()
    assert count[0] == fresh.scan().to_arrow().num_rows > 0
