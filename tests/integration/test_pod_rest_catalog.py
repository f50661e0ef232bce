"""Pods over a real Iceberg REST catalog with OAuth2 (SeaweedFS `weed mini`) and its S3.

Each pod runs under uvicorn as its Dockerfile starts it, configured only by
PYICEBERG_CATALOG__SEAWEED__* variables, and is compared with a plain DuckDB over the rows the
test wrote. Every body and log line of these pods is scanned for the test's secrets.
"""

from __future__ import annotations

import time

import pytest
import servers
from podtables import (
    Listener,
    RunningPod,
    assert_no_secrets,
    body,
    pod_env,
    pod_texts,
    reference,
    served_many,
    write_table,
)

pytestmark = pytest.mark.integration

PARAMS = {"region": "APAC", "min_amount": "100.5"}


@pytest.fixture(scope="module")
def written(seaweedfs):
    return write_table(seaweedfs, "rest")


@pytest.fixture(scope="module")
def hung_catalog():
    """A catalog address that accepts connections and never answers."""
    with Listener(silent=True) as listener:
        yield listener


@pytest.fixture(scope="module")
def newcomer(seaweedfs):
    """A principal with the reader's rights that the catalog does not know yet."""
    return servers.add_seaweedfs_principal(seaweedfs, "datapic-newcomer", reader_like=True)


@pytest.fixture(scope="module")
def pods(written, hung_catalog, newcomer, tmp_path_factory):
    """The pods of this module, started together: each principal, a hung catalog, an
    operator's opt-in to table storage properties."""
    backend = written.backend
    catalog_uri = backend.endpoints["catalog"]
    envs = {
        "reader": pod_env(backend, "reader"),
        "reader-keys": pod_env(backend, "reader-keys"),
        "outsider": pod_env(backend, "outsider"),
        "opted-in": pod_env(backend, "reader", DATAPIC_TABLE_IO_PROPERTIES="s3.proxy-uri"),
        "hung": {
            k: v.replace(catalog_uri, hung_catalog.url)
            for k, v in pod_env(backend, "reader").items()
        },
        # May load the table, but reads storage with keys that have no S3 rights.
        "no-storage-rights": {
            **pod_env(backend, "reader"),
            **servers.catalog_env(
                backend.catalog_name,
                {
                    "s3.access-key-id": backend.details["outsider"].access_key,
                    "s3.secret-access-key": backend.details["outsider"].secret_key,
                    **servers.OPT_OUT_OF_VENDING,
                },
            ),
        },
        "newcomer": {
            **pod_env(backend, "reader"),
            **servers.catalog_env(backend.catalog_name, {"credential": newcomer.credential}),
        },
    }
    pods = {name: (written, env) for name, env in envs.items()}
    with served_many(tmp_path_factory.mktemp("rest-pods"), pods) as running:
        yield running


def _scan(backend: servers.Backend, pod: RunningPod, answers, extra: tuple[str, ...] = ()):
    """No test secret in the pod's log, in the answers, or in the pod's files."""
    texts = {"log": pod.log.read_bytes(), **pod_texts(pod.directory)}
    texts.update({f"answer {i}": r.content for i, r in enumerate(answers)})
    texts.update({f"headers {i}": repr(r.headers) for i, r in enumerate(answers)})
    assert_no_secrets(texts, backend.secrets + extra)


def test_pod_reads_through_the_catalog_with_vended_credentials(written, pods):
    backend = written.backend
    # No storage key of its own: S3 access comes only from what the catalog vends.
    assert not any("ACCESS_KEY" in name or "SECRET" in name for name in pod_env(backend))
    client = pods["reader"].client
    answers = [client.get("/get_data", params=PARAMS), client.get("/get_data")]
    openapi = client.get("/openapi.json")
    assert answers[0].status_code == 200, answers[0].text
    assert body(answers[0]) == reference("APAC", 100.5)
    assert body(answers[1]) == reference("EMEA", 0.0)
    assert len(body(answers[0])) > 10
    _scan(backend, pods["reader"], [*answers, openapi])


def test_pod_reads_with_storage_keys_from_the_environment(written, pods):
    answer = pods["reader-keys"].client.get("/get_data", params=PARAMS)
    assert answer.status_code == 200, answer.text
    assert body(answer) == reference("APAC", 100.5)
    _scan(written.backend, pods["reader-keys"], [answer])


def test_a_principal_without_rights_gets_the_catalogs_404_naming_the_table(written, pods):
    """SeaweedFS hides tables from principals that may not read them (Polaris answers 403)."""
    client = pods["outsider"].client
    answer = client.get("/get_data")
    assert answer.status_code == 404
    assert written.identifier in body(answer)["error"]
    assert client.get("/healthz").status_code == 200
    _scan(written.backend, pods["outsider"], [answer])


def test_storage_that_refuses_the_pods_keys_is_a_403_naming_the_table(written, pods):
    """The catalog lets the principal load the table, S3 refuses its keys: a 403 (after one
    reload, when the engine retries), not a 500 or a 503."""
    answer = pods["no-storage-rights"].client.get("/get_data")
    assert answer.status_code == 403, answer.text
    assert body(answer) == {
        "error": f"storage refused the pod access to the files of table {written.identifier}"
    }
    _scan(written.backend, pods["no-storage-rights"], [answer])


def test_a_table_property_cannot_route_reads_through_another_host(written, pods):
    """`s3.proxy-uri` set on the table would send every S3 request, signed with the pod's
    credentials, through a host of the table owner's choosing. The pod ignores it unless the
    operator opts in; the opted-in pod shows the property does reach the listener."""
    backend = written.backend
    with Listener() as proxy:
        with backend.catalog().load_table(written.identifier).transaction() as transaction:
            transaction.set_properties({"s3.proxy-uri": proxy.url})
        try:
            answer = pods["reader"].client.get("/get_data", params=PARAMS)
            assert answer.status_code == 200, answer.text
            assert body(answer) == reference("APAC", 100.5)
            assert proxy.connections == 0

            redirected = pods["opted-in"].client.get("/get_data", params=PARAMS)
            assert redirected.status_code != 200
            assert proxy.connections > 0
        finally:
            table = backend.catalog().load_table(written.identifier)
            with table.transaction() as transaction:
                transaction.remove_properties("s3.proxy-uri")
    _scan(backend, pods["opted-in"], [answer, redirected])


def test_a_catalog_that_never_answers_gives_503_within_the_timeout(written, pods, hung_catalog):
    """A catalog that accepts connections and then says nothing must not hang the pod."""
    client = pods["hung"].client
    started = time.monotonic()
    answer = client.get("/get_data")
    waited = time.monotonic() - started
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "catalog 'seaweed'" in body(answer)["error"]
    # DATAPIC_CATALOG_TIMEOUT is 2 s per request; the bound is generous against CI noise,
    # and far below "forever", which is what pyiceberg alone would wait.
    assert waited < 15
    assert hung_catalog.connections >= 1
    assert client.get("/healthz").status_code == 200
    _scan(written.backend, pods["hung"], [answer])


def test_outage_and_unknown_credentials_recover_without_a_restart(written, pods, newcomer):
    """One pod whose principal the catalog does not know yet (502), one that works; the
    catalog goes down (503 with Retry-After, quickly) and comes back knowing the new
    principal: both pods answer correctly again, neither was restarted. Runs last here."""
    backend = written.backend
    steady, late = pods["reader"].client, pods["newcomer"].client
    try:
        answers = [steady.get("/get_data", params=PARAMS), late.get("/get_data")]
        assert answers[0].status_code == 200
        assert answers[1].status_code == 502
        assert "credentials" in body(answers[1])["error"]

        backend.server.stop()
        started = time.monotonic()
        down = steady.get("/get_data", params=PARAMS)
        waited = time.monotonic() - started
        answers.append(down)
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) > 0
        assert waited < 15
        assert steady.get("/healthz").status_code == 200

        servers.write_seaweedfs_identities(backend, include=[newcomer])
        backend.server.start()
        backend.server.wait_until(backend.ready)
        # The catalog answers before SeaweedFS's S3 serves every object again (seen under load):
        # until then a pod says 503 with Retry-After, and a client that honours it gets through.
        again = [_once_back(steady, answers), _once_back(late, answers)]
        assert [a.status_code for a in again] == [200, 200], [a.text for a in again]
        assert body(again[0]) == body(again[1]) == reference("APAC", 100.5)
    finally:
        if not backend.server.running:
            backend.server.start()
            backend.server.wait_until(backend.ready)
    for name in ("reader", "newcomer"):
        _scan(backend, pods[name], answers, (newcomer.secret_key,))


def _once_back(client, answers: list, seconds: float = 30.0):
    """The pod's answer once it no longer says 503, retrying as Retry-After asks, within
    `seconds`; every answer is kept for the secret scan."""
    deadline = time.monotonic() + seconds
    while True:
        answer = client.get("/get_data", params=PARAMS)
        answers.append(answer)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)
