"""Table history end to end on `shop.evolving`: a renamed column still reads its old data, an
added column is null in old files, a promoted column widens, and rows removed by deletes or
replaced by an overwrite are gone (only the current snapshot counts)."""

from __future__ import annotations

import pytest
from podkit import assert_rows_equal, make_pod, param, pod_json, ref, serving

pytestmark = pytest.mark.pod

ROWS = pod_json(
    "evolving-rows",
    "shop.evolving",
    "SELECT id, total, flag, qty, note FROM source\n"
    "WHERE (total < $below OR total IS NULL) AND qty >= $min_qty\n"
    "ORDER BY id",
    columns=["id", "total", "flag", "qty", "note"],
    read_columns=["flag", "id", "note", "qty", "total"],
    parameters=[param("below", "number", 1000), param("min_qty", "integer", 0)],
    pushdown=[
        {
            "op": "or",
            "args": [
                {"op": "lt", "column": "total", "value": ref("below")},
                {"op": "is_null", "column": "total"},
            ],
        },
        {"op": "ge", "column": "qty", "value": ref("min_qty")},
    ],
)
SUMMARY = pod_json(
    "evolving-summary",
    "shop.evolving",
    "SELECT flag, COUNT(*) AS n, COUNT(note) AS notes, SUM(total) AS total, SUM(qty) AS qty\n"
    "FROM source WHERE note IS NULL GROUP BY flag ORDER BY flag",
    columns=["flag", "n", "notes", "total", "qty"],
    read_columns=["flag", "note", "qty", "total"],
    pushdown=[{"op": "is_null", "column": "note"}],
)


@pytest.fixture(scope="module")
def rows(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("evolving-rows")
    with serving(make_pod(work, ROWS), pod_env, work / "pod.log") as client:
        yield client


@pytest.fixture(scope="module")
def summary(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("evolving-summary")
    with serving(make_pod(work, SUMMARY), pod_env, work / "pod.log") as client:
        yield client


def test_the_table_really_has_its_history(catalog):
    """Guards the fixture: without this history the cases below would prove nothing."""
    table = catalog.load_table("shop.evolving")
    ids = table.scan(selected_fields=("id",)).to_arrow()["id"].to_pylist()
    assert min(ids) == 21 and 140 in ids and 150 not in ids and 900 not in ids
    assert [f.name for f in table.schema().fields] == ["id", "total", "flag", "qty", "note"]
    assert len(table.snapshots()) >= 6


CASES = [
    ("everything", {}, {"below": 1000.0, "min_qty": 0}),
    ("renamed-column-in-old-files", {"below": "60"}, {"below": 60.0, "min_qty": 0}),
    (
        "promoted-column-in-new-files",
        {"min_qty": "5000000120"},
        {"below": 1000.0, "min_qty": 5_000_000_120},
    ),
]


@pytest.mark.parametrize(("query", "values"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rows_match_the_reference(rows, reference, query, values):
    response = rows.get("/get_data", params=query)
    assert response.status_code == 200, response.text
    expected = reference(ROWS, values)
    assert expected, "the reference must select rows, or the case proves nothing"
    assert_rows_equal(response.json(), expected)


def test_old_rows_read_through_the_new_names(rows):
    answer = {row["id"]: row for row in rows.get("/get_data").json()}
    assert answer[21] == {"id": 21, "total": 31.5, "flag": True, "qty": 0, "note": None}
    assert answer[30]["total"] is None  # null in the old file, under its new name
    assert answer[140] == {"id": 140, "total": -1.0, "flag": True, "qty": 7, "note": "re"}
    assert not {1, 20, 142, 150, 900} & set(answer)  # deleted or overwritten


def test_a_summary_over_old_and_new_files_matches_the_reference(summary, reference):
    response = summary.get("/get_data")
    assert response.status_code == 200, response.text
    expected = reference(SUMMARY, {})
    assert expected and sum(row["n"] for row in expected) > 80  # the old files count
    assert_rows_equal(response.json(), expected)
