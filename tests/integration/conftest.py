"""Session fixtures for real servers on loopback: SeaweedFS (Iceberg REST catalog + S3),
fake-gcs-server (GCS) and Azurite (ADLS). What each server is, how it is started and what it
answers is written down in servers.py.

Each fixture starts its server once per session, on first use, with its data under
tmp_path_factory, and stops it by its own process group at the end. A server that cannot start
makes the tests that use it error with the reason and the server's log tail; the other backends
are unaffected. Startup times are printed in the terminal summary.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import servers

STARTUP_TIMES = pytest.StashKey[dict[str, float]]()


def _serve(request: pytest.FixtureRequest, backend: servers.Backend) -> Iterator[servers.Backend]:
    request.config.stash.setdefault(STARTUP_TIMES, {})[backend.kind] = backend.startup_seconds
    try:
        yield backend
    finally:
        backend.server.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory, request) -> Iterator[servers.Backend]:
    """SeaweedFS `weed mini`: Iceberg REST catalog over table bucket `lake` plus S3; principals
    "reader" (vended read-only credentials), "reader-keys" (own S3 keys) and "outsider"."""
    yield from _serve(request, servers.start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")))


@pytest.fixture(scope="session")
def gcs(tmp_path_factory, request) -> Iterator[servers.Backend]:
    """fake-gcs-server with bucket `lake`; SQL catalog (SQLite) with warehouse gs://lake/…"""
    yield from _serve(request, servers.start_fake_gcs(tmp_path_factory.mktemp("gcs")))


@pytest.fixture(scope="session")
def adls(tmp_path_factory, request) -> Iterator[servers.Backend]:
    """Azurite Blob with container `lake`; SQL catalog (SQLite) with warehouse abfss://lake@…"""
    yield from _serve(request, servers.start_azurite(tmp_path_factory.mktemp("adls")))


BACKENDS = ("seaweedfs", "gcs", "adls")


@pytest.fixture(params=BACKENDS)
def backend(request) -> servers.Backend:
    """Each backend in turn (its server starts on first use)."""
    return request.getfixturevalue(request.param)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    times = config.stash.get(STARTUP_TIMES, {})
    if times:
        shown = ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in sorted(times.items()))
        terminalreporter.write_line(f"integration servers started in: {shown}")
