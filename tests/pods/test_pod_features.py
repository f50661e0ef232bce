"""Tables a pod does not serve, over HTTP: a 501 JSON error naming the table, the feature and
what to do, in whatever format was asked for; one log line, no traceback; /healthz stays up.
And a table that only looks unsupported (a geometry column the spec does not read) answers.

Tables are real (featurekit): an ORC data file in a manifest, hand-written v3/v4 metadata.
"""

from __future__ import annotations

import json

import featurekit as fk
import pytest
from podkit import make_pod, pod_json, serving
from pyiceberg.catalog.sql import SqlCatalog

pytestmark = pytest.mark.pod


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> dict[str, str]:
    """The tables, and the environment that points a pod at them."""
    root = tmp_path_factory.mktemp("unsupported")
    env = {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{root / 'catalog.db'}",
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": root.as_uri(),
    }
    catalog = SqlCatalog(
        "default",
        uri=env["PYICEBERG_CATALOG__DEFAULT__URI"],
        warehouse=env["PYICEBERG_CATALOG__DEFAULT__WAREHOUSE"],
    )
    catalog.create_namespace("legacy")
    fk.orc_data(catalog, "legacy.archive")
    fk.edited(catalog, "legacy.future", fk.format_v4)
    fk.edited(catalog, "legacy.places", fk.geometry_column)
    return env


def regions_pod(name: str, table: str, read: list[str]) -> dict:
    return pod_json(
        name,
        table,
        "SELECT id, region FROM source ORDER BY id",
        columns=["id", "region"],
        read_columns=read,
    )


@pytest.mark.parametrize(
    ("table", "feature", "found"),
    [
        ("archive", "files in a format other than Parquet", "1 ORC data file(s)"),
        ("future", "an Iceberg format version above 3", "format version 4"),
    ],
)
def test_an_unsupported_table_is_a_501_json_error(tmp_path, lake, table, feature, found):
    pod_dir = make_pod(tmp_path, regions_pod("legacy-rows", f"legacy.{table}", ["id", "region"]))
    log = tmp_path / "pod.log"
    with serving(pod_dir, lake, log) as client:
        for fmt in ("json", "csv", "parquet"):
            response = client.get("/get_data", params={"format": fmt})
            assert response.status_code == 501
            assert response.headers["content-type"] == "application/json"
            error = response.json()["error"]
            assert error.startswith(f"table legacy.{table} uses {feature}, which pods do not")
            assert f"({found}" in error
        assert client.get("/healthz").status_code == 200
    documented = json.loads((pod_dir / "openapi.json").read_text())
    assert "501" in documented["paths"]["/get_data"]["get"]["responses"]
    logged = log.read_text()
    assert f"501 table legacy.{table} uses {feature}" in logged
    assert "Traceback" not in logged


def test_a_geometry_column_the_spec_does_not_read_is_served(tmp_path, lake):
    pod_dir = make_pod(tmp_path, regions_pod("places", "legacy.places", ["id", "region"]))
    with serving(pod_dir, lake, tmp_path / "pod.log") as client:
        response = client.get("/get_data")
    assert response.status_code == 200, response.text
    rows = zip(fk.ROWS["id"], fk.ROWS["region"], strict=True)
    assert response.json() == [{"id": i, "region": r} for i, r in rows]
