"""dataPi's `Client(project_id, region, resource_name)`: the service's URL from the Cloud Run
Admin API (a stand-in on loopback, gcp_fake.py) or from DATAPIC_POD_<NAME>_URL, then the pod
read for real, signed with an ID token when it is private."""

from __future__ import annotations

import socket
import sys

import pytest
from clientkit import ORDERS, orders_values
from gcp_fake import NOT_FOUND
from gcp_fake import serving as google_stand_in
from idtokens import CALLER, Gate, Issuer

from datapic.client import Client, PodConnectionError, PodError, ServiceNotFound

pytestmark = pytest.mark.pod

PROJECT, REGION = "test-proj", "europe-west1"
SERVICES = f"/v2/projects/{PROJECT}/locations/{REGION}/services"


@pytest.fixture
def issuer():
    with Issuer().running() as running:
        yield running


@pytest.fixture
def credentials_file(issuer, tmp_path, monkeypatch):
    """Application Default Credentials: a service-account key whose token endpoint is `issuer`."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(issuer.service_account_file(tmp_path)))
    monkeypatch.delenv("DATAPIC_POD_CLIENT_ORDERS_URL", raising=False)


def test_a_private_pod_is_found_in_cloud_run_and_read_signed(
    issuer, credentials_file, orders_url, reference, monkeypatch
):
    with Gate(issuer, orders_url).running() as gate, google_stand_in() as google:
        google.on("GET", f"{SERVICES}/client-orders", (200, {"uri": gate.url}))
        monkeypatch.setenv("DATAPIC_API_ENDPOINT", google.url)
        client = Client(PROJECT, REGION, "client-orders", sign=True)
        table = client.get_table(min_sales=2000)
    assert table.equals(reference(ORDERS, orders_values(min_sales=2000.0)))
    assert client.list_services() == {"client-orders": gate.url}
    # The lookup went with the service account's access token; the pod got its ID token.
    (lookup,) = google.requests
    assert lookup.headers["authorization"] == f"Bearer {issuer.access_tokens[0]}"
    assert set(gate.callers) == {CALLER}


def test_a_datapi_service_name_is_found_next(credentials_file, orders_url, monkeypatch):
    with google_stand_in() as google:
        google.on("GET", f"{SERVICES}/client-orders", NOT_FOUND)
        google.on("GET", f"{SERVICES}/client-orders-service", (200, {"uri": orders_url}))
        monkeypatch.setenv("DATAPIC_API_ENDPOINT", google.url)
        client = Client(PROJECT, REGION, "client-orders")
    assert client.service_url == orders_url
    assert [path for _, path in google.calls()] == [
        f"{SERVICES}/client-orders",
        f"{SERVICES}/client-orders-service",
    ]


def test_no_such_service_is_a_value_error_as_in_datapi(credentials_file, monkeypatch):
    with google_stand_in() as google:
        google.on("GET", f"{SERVICES}/.*", NOT_FOUND)
        monkeypatch.setenv("DATAPIC_API_ENDPOINT", google.url)
        with pytest.raises(ValueError, match="Service URL for resource 'client-orders' not found"):
            Client(PROJECT, REGION, "client-orders")
        with pytest.raises(ServiceNotFound):
            Client(PROJECT, REGION, "client-orders")


def test_a_refused_lookup_carries_googles_message(credentials_file, monkeypatch):
    with google_stand_in() as google:
        google.on(
            "GET",
            f"{SERVICES}/.*",
            (403, {"error": {"code": 403, "message": "Permission 'run.services.get' denied"}}),
        )
        monkeypatch.setenv("DATAPIC_API_ENDPOINT", google.url)
        with pytest.raises(PodError, match="Permission 'run.services.get' denied") as caught:
            Client(PROJECT, REGION, "client-orders")
    assert caught.value.status == 403


def test_the_url_variable_skips_cloud_run(orders_url, reference, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("DATAPIC_API_ENDPOINT", "http://127.0.0.1:9")  # never asked
    monkeypatch.setenv("DATAPIC_POD_CLIENT_ORDERS_URL", orders_url)
    client = Client(PROJECT, REGION, "client-orders")
    assert client.get_table().equals(reference(ORDERS, orders_values()))


def test_get_data_without_pandas_says_how_to_get_it(orders_url, monkeypatch):
    monkeypatch.setenv("DATAPIC_POD_CLIENT_ORDERS_URL", orders_url)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as when pandas is not installed
    with pytest.raises(ImportError, match=r"get_data\(\) needs pandas.*pip install pandas"):
        Client(PROJECT, REGION, "client-orders").get_data()


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (("test-proj", "eu/west", "x"), "region 'eu/west' is not a Google Cloud region"),
        (("a/../b", REGION, "x"), "project_id 'a/../b' is not a Google Cloud project_id"),
        ((PROJECT, REGION, "Bad_Name"), "resource_name 'Bad_Name' is not a Cloud Run service"),
    ],
)
def test_names_that_cannot_be_cloud_run_names_are_refused_before_any_call(arguments, problem):
    with pytest.raises(ValueError, match=problem):
        Client(*arguments)


def test_an_unreachable_cloud_run_api_is_a_connection_error(credentials_file, monkeypatch):
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("DATAPIC_API_ENDPOINT", endpoint)
    with pytest.raises(PodConnectionError, match=f"cannot reach the Cloud Run API at {endpoint}"):
        Client(PROJECT, REGION, "client-orders")
