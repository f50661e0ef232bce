"""The engine behind a running pod: a table with positional delete files in some partitions
answers as pyiceberg reads it, and a table with equality deletes (which pyiceberg cannot apply)
answers without the deleted rows, in their partition only."""

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
    # The reference reads the table before the delete: pyiceberg cannot read it after.
    before = {r: reference(EQUALITY, {"r": r}) for r in ("EMEA", "APAC")}
    emea = next(iter(table.scan(row_filter="region == 'EMEA'").plan_files())).file
    emea_id, apac_id = before["EMEA"][1]["id"], before["APAC"][0]["id"]
    # In EMEA's partition: deletes an EMEA row's id and an APAC row's, which must stay, since
    # the delete file lies in EMEA's partition.
    delete_equal(table, emea, {"id": [emea_id, apac_id]})
    work = tmp_path_factory.mktemp("equality")
    with serving(make_pod(work, EQUALITY), pod_env, work / "pod.log") as client:
        yield client, before


def test_equality_deletes_remove_their_rows_in_their_partition_only(equality):
    equality, before = equality
    response = equality.get("/get_data", params={"r": "EMEA"})
    assert response.status_code == 200, response.text
    assert response.json() == before["EMEA"][:1] + before["EMEA"][2:]
    response = equality.get("/get_data", params={"r": "APAC"})
    assert response.status_code == 200
    assert response.json() == before["APAC"]
