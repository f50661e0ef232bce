"""Values end to end on `shop.types`: NaN, NULL, float32, 38-digit decimals, booleans, dates,
timestamps with and without zone, and text, filtered by parameters of every type."""

from __future__ import annotations

import datetime as dt

import pytest
from podkit import assert_rows_equal, make_pod, param, pod_json, ref, serving

pytestmark = pytest.mark.pod

COLUMNS = ["id", "d", "f", "dec", "flag", "day", "ts", "tz", "label"]
POD = pod_json(
    "types",
    "shop.types",
    "SELECT id, d, f, dec, flag, day, ts, tz, label FROM source\n"
    "WHERE ($min_d IS NULL OR d > $min_d) AND ($max_f IS NULL OR f < $max_f)\n"
    "  AND ($flag IS NULL OR flag = $flag) AND ($day IS NULL OR day >= $day)\n"
    "  AND ($ts IS NULL OR ts < $ts) AND ($label IS NULL OR label = $label)\n"
    "  AND id >= $min_id\n"
    "ORDER BY id",
    columns=COLUMNS,
    read_columns=COLUMNS,
    parameters=[
        param("min_d", "number"),
        param("max_f", "number"),
        param("flag", "boolean"),
        param("day", "date"),
        param("ts", "timestamp"),
        param("label", "string"),
        param("min_id", "integer", 0),
    ],
    pushdown=[
        {"op": "gt", "column": "d", "value": ref("min_d")},
        {"op": "lt", "column": "f", "value": ref("max_f")},
        {"op": "eq", "column": "flag", "value": ref("flag")},
        {"op": "ge", "column": "day", "value": ref("day")},
        {"op": "lt", "column": "ts", "value": ref("ts")},
        {"op": "eq", "column": "label", "value": ref("label")},
        {"op": "ge", "column": "id", "value": ref("min_id")},
    ],
)
NONE = {"min_d": None, "max_f": None, "flag": None, "day": None, "ts": None, "label": None}
NONE["min_id"] = 0


@pytest.fixture(scope="module")
def pod(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("types")
    with serving(make_pod(work, POD), pod_env, work / "pod.log") as client:
        yield client


CASES = [
    ("all-rows", {}, {}),
    # DuckDB orders NaN above every number: rows 2 and 5 match, though Iceberg would prune them.
    ("nan-is-greater", {"min_d": "0.1"}, {"min_d": 0.1}),
    # 0.1 in a float32 column is 0.10000000149…, below this bound: rows 1 and 5 match.
    ("float32-bound", {"max_f": "0.100000002"}, {"max_f": 0.100000002}),
    ("boolean", {"flag": "false"}, {"flag": False}),
    ("date", {"day": "2024-01-01"}, {"day": dt.date(2024, 1, 1)}),
    (
        "timestamp-micro",
        {"ts": "2024-03-01T00:00:00.000001"},
        {"ts": dt.datetime(2024, 3, 1, 0, 0, 0, 1)},
    ),
    ("quoted-text", {"label": "o'hara"}, {"label": "o'hara"}),
    ("unicode-text", {"label": "Zürich"}, {"label": "Zürich"}),
    ("empty-text", {"label": ""}, {"label": ""}),
    ("integer", {"min_id": "4"}, {"min_id": 4}),
]


@pytest.mark.parametrize(("query", "values"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_answers_match_the_reference(pod, reference, query, values):
    response = pod.get("/get_data", params=query)
    assert response.status_code == 200, response.text
    expected = reference(POD, {**NONE, **values})
    assert expected, "the reference must select rows, or the case proves nothing"
    assert_rows_equal(response.json(), expected)


def test_nan_rows_are_kept_by_a_greater_than_filter(pod):
    ids = [row["id"] for row in pod.get("/get_data", params={"min_d": "0.1"}).json()]
    assert ids == [1, 2, 5, 6]


def test_every_value_in_its_json_form(pod):
    rows = {row["id"]: row for row in pod.get("/get_data").json()}
    assert rows[1] == {
        "id": 1,
        "d": 0.5,
        "f": pytest.approx(0.1),
        "dec": "1.0000000001",
        "flag": True,
        "day": "2024-01-01",
        "ts": "2024-01-01T12:00:00",
        "tz": "2024-01-01T12:00:00+00:00",
        "label": "EMEA",
    }
    assert rows[2]["d"] is None  # NaN: JSON has no such number
    assert rows[2]["dec"] == "-99999999999999999999.9999999999"
    assert rows[5]["dec"] == "12345678901234567890.1234567890"
    assert rows[3] == {"id": 3, **{c: None for c in COLUMNS[1:]}}
    assert rows[4]["ts"] == "2024-03-01T00:00:00.000001"
    assert rows[5]["label"] == ""
