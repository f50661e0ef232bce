"""The pod contract over real HTTP: uvicorn on loopback, started the way the Dockerfile does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from podrun import running_pod

pytestmark = pytest.mark.pod

SPEC = """
resource_name: http-contract
short_description: Orders of one country
depends_on: [{namespace: sales, table: orders}]
select: [order_id, order_date, shipped_at, region, sales, discount]
filters:
  - country = :country
  - quantity >= :min_quantity
  - order_date >= :since
parameters:
  - {name: country, type: string, description: Country code}
  - {name: min_quantity, type: integer, default: 18}
  - {name: since, type: date, default: 2025-06-01}
order_by: [order_id]
"""
SECRET = "s3cr3t-T0ken-value"


@pytest.fixture(scope="module")
def pod_dir(tmp_path_factory) -> Path:
    from compiler.emit import emit
    from compiler.pipeline import compile_spec

    work = tmp_path_factory.mktemp("http")
    (work / "spec.yaml").write_text(SPEC)
    result = compile_spec(work / "spec.yaml")
    assert result.ok
    emit(result.files, work / "pod")
    return work / "pod"


@pytest.fixture(scope="module")
def pod(pod_dir, pod_env, tmp_path_factory):
    # A secret-looking setting the pod never needs: it must not surface anywhere.
    env = {**pod_env, "PYICEBERG_CATALOG__DEFAULT__CREDENTIAL": f"client:{SECRET}"}
    log = tmp_path_factory.mktemp("logs") / "pod.log"
    with running_pod(pod_dir, env, log_path=log) as url, httpx.Client(base_url=url) as client:
        yield client, log


def test_get_data_rows_in_declared_order_with_json_types(pod, reference):
    client, _ = pod
    response = client.get("/get_data", params={"country": "JP"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    rows = response.json()
    expected = reference(
        "sales.orders",
        "SELECT order_id, order_date, shipped_at, region, sales, discount FROM t "
        "WHERE country = 'JP' AND quantity >= 18 AND order_date >= DATE '2025-06-01' "
        "ORDER BY order_id",
    )
    assert rows == expected and rows
    assert list(rows[0]) == ["order_id", "order_date", "shipped_at", "region", "sales", "discount"]
    assert isinstance(rows[0]["sales"], str)  # decimals keep every digit
    assert any(r["discount"] is None for r in rows) or any(r["shipped_at"] is None for r in rows)


@pytest.mark.parametrize(
    ("params", "status", "names"),
    [
        ({}, 400, "country"),
        ({"country": "DE", "min_quantity": "many"}, 400, "min_quantity"),
        ({"country": "DE", "since": "2024-02-30"}, 400, "since"),
        ({"country": "DE", "contry": "FR"}, 400, "contry"),
        ([("country", "DE"), ("country", "FR")], 400, "country"),
    ],
)
def test_bad_requests_get_a_json_400_naming_the_parameter(pod, params, status, names):
    client, _ = pod
    response = client.get("/get_data", params=params)
    assert response.status_code == status
    assert names in response.json()["error"]


def test_healthz_openapi_and_unknown_routes(pod, pod_dir):
    client, _ = pod
    assert client.get("/healthz").json() == {"status": "ok"}
    served = client.get("/openapi.json").json()
    assert served == json.loads((pod_dir / "openapi.json").read_text())
    parameters = {p["name"]: p for p in served["paths"]["/get_data"]["get"]["parameters"]}
    assert parameters["country"]["required"] is True
    assert parameters["min_quantity"]["schema"] == {"type": "integer", "default": 18}
    assert parameters["since"]["schema"] == {
        "type": "string",
        "format": "date",
        "default": "2025-06-01",
    }
    missing = client.get("/nope")
    assert missing.status_code == 404 and "error" in missing.json()
    assert client.post("/get_data").status_code == 405


def test_missing_table_is_a_json_404_and_the_pod_stays_up(pod_dir, pod_env, tmp_path):
    other = tmp_path / "pod"
    shutil.copytree(pod_dir, other)
    config = json.loads((other / "pod.json").read_text())
    config["source"]["table"] = "vanished"
    (other / "pod.json").write_text(json.dumps(config))
    with running_pod(other, pod_env) as url:
        response = httpx.get(f"{url}/get_data", params={"country": "DE"})
        assert response.status_code == 404
        assert "sales.vanished" in response.json()["error"]
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_unreachable_catalog_is_a_503_with_retry_after_then_recovers(pod_dir, lakehouse, tmp_path):
    # The catalog database lives in a folder that does not exist yet: SQLite cannot open it.
    later = tmp_path / "later"
    env = {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{later / 'catalog.db'}",
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": (lakehouse / "warehouse").as_uri(),
        "PYICEBERG_CATALOG__DEFAULT__PASSWORD": SECRET,
    }
    log = tmp_path / "pod.log"
    with running_pod(pod_dir, env, log_path=log) as url:
        response = httpx.get(f"{url}/get_data", params={"country": "DE"}, timeout=30)
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
        assert "default" in response.json()["error"]
        assert httpx.get(f"{url}/healthz").status_code == 200

        # The catalog comes back: the same process answers without a restart.
        later.mkdir()
        shutil.copy(lakehouse / "catalog.db", later / "catalog.db")
        response = httpx.get(f"{url}/get_data", params={"country": "DE"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()
    assert SECRET not in log.read_text()


def test_no_secret_in_answers_or_logs(pod):
    client, log = pod
    bodies = [
        client.get("/get_data", params={"country": "DE"}).text,
        client.get("/get_data").text,
        client.get("/openapi.json").text,
    ]
    assert all(SECRET not in body for body in bodies)
    assert SECRET not in log.read_text()
