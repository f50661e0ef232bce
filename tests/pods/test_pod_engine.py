"""The engine behind a running pod: a table with positional delete files in some partitions
answers as pyiceberg reads it, and a table with equality deletes (which pyiceberg cannot apply)
answers a 500 naming the cause while the pod stays up."""

from __future__ import annotations

import pytest
from enginekit import delete_equal, delete_positions, make_sales
from podkit import make_pod, param, pod_json, ref, serving

pytestmark = pytest.mark.pod


def pod(name: str, table: str) -> dict:
    """Rows of one region of an enginekit sales table, renamed and added columns included."""
    return pod_json(
        name,
        table,
        "SELECT id, total, qty, note FROM source WHERE region = $r ORDER BY id",
        columns=["id", "total", "qty", "note"],
        read_columns=["id", "note", "qty", "region", "total"],
        parameters=[param("r", "string", "EMEA")],
        pushdown=[{"op": "eq", "column": "region", "value": ref("r")}],
    )


DELETED = pod("deleted-rows", "shop.deleted")
EQUALITY = pod("equality-rows", "shop.equality")


@pytest.fixture(scope="module")
def deleted(tmp_path_factory, catalog, pod_env):
    table = make_sales(catalog, "shop.deleted")
    for task in table.scan(row_filter="region == 'EMEA'").plan_files():
        delete_positions(table, task.file, [0, 5])
        table = catalog.load_table("shop.deleted")
    work = tmp_path_factory.mktemp("deleted")
    with serving(make_pod(work, DELETED), pod_env, work / "pod.log") as client:
        yield client


@pytest.mark.parametrize("region", ["EMEA", "APAC"])
def test_positional_deletes_are_applied(deleted, reference, catalog, region):
    expected = reference(DELETED, {"r": region})
    full = catalog.load_table("shop.deleted").scan(row_filter=f"region == '{region}'")
    assert len(expected) == full.to_arrow().num_rows  # the reference is pyiceberg's read
    if region == "EMEA":
        assert len(expected) == 40 - 4  # two rows deleted in each of the two EMEA files
    response = deleted.get("/get_data", params={"r": region})
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.fixture(scope="module")
def equality(tmp_path_factory, catalog, pod_env, reference):
    table = make_sales(catalog, "shop.equality")
    apac = reference(EQUALITY, {"r": "APAC"})  # before: pyiceberg cannot read it after
    emea = next(iter(table.scan(row_filter="region == 'EMEA'").plan_files())).file
    delete_equal(table, emea, {"id": [3]})
    work = tmp_path_factory.mktemp("equality")
    with serving(make_pod(work, EQUALITY), pod_env, work / "pod.log") as client:
        yield client, apac


def test_equality_deletes_are_a_clear_500_and_the_pod_stays_up(equality):
    equality, apac = equality
    response = equality.get("/get_data", params={"r": "EMEA"})
    assert response.status_code == 500
    assert "has equality delete files" in response.json()["error"]
    # Partitions without equality deletes still answer.
    response = equality.get("/get_data", params={"r": "APAC"})
    assert response.status_code == 200
    assert response.json() == apac
