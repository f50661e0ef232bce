"""Pushdown end to end: every predicate kind in a running pod gives the reference's answer, and
files the pushdown rules out are really never opened (they are deleted, and the pod still
answers), over identity and month partitions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lakehouse import PARTITIONING, SCHEMA, orders
from podkit import assert_rows_equal, lit, make_pod, param, pod_json, ref, serving

pytestmark = pytest.mark.pod

KINDS_COLUMNS = ["order_id", "region", "country", "product", "quantity", "sales", "shipped_at"]
KINDS = pod_json(
    "orders-pushdown-kinds",
    "sales.orders",
    "SELECT order_id, region, country, product, quantity, sales, shipped_at\n"
    "FROM source\n"
    "WHERE (region IN ($r1, $r2) OR region IS NULL)\n"
    "  AND product NOT IN ('dock', 'tablet')\n"
    "  AND (starts_with(product, 'l') OR starts_with(product, $prefix))\n"
    "  AND NOT (quantity = $not_quantity)\n"
    "  AND quantity > 2 AND quantity < $below\n"
    "  AND country <> 'FR'\n"
    "  AND shipped_at IS NOT NULL\n"
    "  AND order_date >= $since AND order_date <= DATE '2025-06-30'\n"
    "  AND sales <= 20000.5\n"
    "ORDER BY order_id",
    columns=KINDS_COLUMNS,
    read_columns=[*KINDS_COLUMNS, "order_date"],
    parameters=[
        param("r1", "string", "EMEA"),
        param("r2", "string", None),
        param("prefix", "string", "mon"),
        param("not_quantity", "integer", 5),
        param("below", "integer", 15),
        param("since", "date", "2024-07-01"),
    ],
    pushdown=[
        {
            "op": "or",
            "args": [
                {"op": "in", "column": "region", "values": [ref("r1"), ref("r2")]},
                {"op": "is_null", "column": "region"},
            ],
        },
        {
            "op": "not_in",
            "column": "product",
            "values": [lit("dock", "string"), lit("tablet", "string")],
        },
        {
            "op": "or",
            "args": [
                {"op": "starts_with", "column": "product", "value": lit("l", "string")},
                {"op": "starts_with", "column": "product", "value": ref("prefix")},
            ],
        },
        {"op": "not", "arg": {"op": "eq", "column": "quantity", "value": ref("not_quantity")}},
        {
            "op": "and",
            "args": [
                {"op": "gt", "column": "quantity", "value": lit(2, "integer")},
                {"op": "lt", "column": "quantity", "value": ref("below")},
            ],
        },
        {"op": "ne", "column": "country", "value": lit("FR", "string")},
        {"op": "not_null", "column": "shipped_at"},
        {"op": "ge", "column": "order_date", "value": ref("since")},
        {"op": "le", "column": "order_date", "value": lit("2025-06-30", "date")},
        {"op": "le", "column": "sales", "value": lit(20000.5, "number")},
    ],
)
KINDS_DEFAULTS = {
    "r1": "EMEA",
    "r2": None,
    "prefix": "mon",
    "not_quantity": 5,
    "below": 15,
    "since": dt.date(2024, 7, 1),
}

BY_QUARTER = pod_json(
    "orders-by-quarter",
    "sales.orders",
    "SELECT q, COUNT(*) AS orders, SUM(quantity) AS items, SUM(sales) AS total_sales,\n"
    "  AVG(discount) AS avg_discount, MIN(shipped_at) AS first_shipped\n"
    "FROM source\n"
    "WHERE region = $region AND order_date >= DATE '2024-01-01'\n"
    "GROUP BY q\n"
    "ORDER BY q",
    columns=["q", "orders", "items", "total_sales", "avg_discount", "first_shipped"],
    read_columns=["discount", "order_date", "q", "quantity", "region", "sales", "shipped_at"],
    parameters=[param("region", "string", "EMEA")],
    pushdown=[
        {"op": "eq", "column": "region", "value": ref("region")},
        {"op": "ge", "column": "order_date", "value": lit("2024-01-01", "date")},
    ],
)


@pytest.fixture(scope="module")
def kinds(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("kinds")
    with serving(make_pod(work, KINDS), pod_env, work / "pod.log") as client:
        yield client


@pytest.fixture(scope="module")
def by_quarter(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("by-quarter")
    with serving(make_pod(work, BY_QUARTER), pod_env, work / "pod.log") as client:
        yield client


KINDS_CASES = [
    ("defaults-null-parameter-not-pushed", {}, {}),
    ("in-two-regions", {"r2": "LATAM", "prefix": "phone"}, {"r2": "LATAM", "prefix": "phone"}),
    (
        "narrow",
        {"r1": "AMER", "not_quantity": "3", "below": "9"},
        {"r1": "AMER", "not_quantity": 3, "below": 9},
    ),
    ("month-bound", {"since": "2025-05-15"}, {"since": dt.date(2025, 5, 15)}),
]


@pytest.mark.parametrize(
    ("query", "values"), [c[1:] for c in KINDS_CASES], ids=[c[0] for c in KINDS_CASES]
)
def test_every_predicate_kind_answers_like_the_reference(kinds, reference, query, values):
    response = kinds.get("/get_data", params=query)
    assert response.status_code == 200, response.text
    expected = reference(KINDS, {**KINDS_DEFAULTS, **values})
    assert expected, "the reference must select rows, or the case proves nothing"
    assert_rows_equal(response.json(), expected)


@pytest.mark.parametrize("region", ["EMEA", "LATAM", "nowhere"])
def test_a_reduction_answers_like_the_reference(by_quarter, reference, region):
    response = by_quarter.get("/get_data", params={"region": region})
    assert response.status_code == 200, response.text
    expected = reference(BY_QUARTER, {"region": region})
    assert_rows_equal(response.json(), expected)
    if expected:
        row = response.json()[0]
        assert isinstance(row["items"], int)  # SUM of INTEGER is a HUGEINT: still a number
        assert isinstance(row["orders"], int)
        assert isinstance(row["total_sales"], str)  # SUM of DECIMAL: exact text
        assert isinstance(row["avg_discount"], float)
    else:
        assert region == "nowhere"


# --- files the pushdown rules out are never opened -----------------------------------------------

PRUNED = pod_json(
    "pruned-orders",
    "sales.pruned",
    "SELECT region, COUNT(*) AS orders, SUM(sales) AS total_sales\n"
    "FROM source\n"
    "WHERE region IN ($r1, $r2) AND order_date >= $since\n"
    "GROUP BY region\n"
    "ORDER BY region",
    columns=["region", "orders", "total_sales"],
    read_columns=["order_date", "region", "sales"],
    parameters=[
        param("r1", "string", "EMEA"),
        param("r2", "string", "AMER"),
        param("since", "date", "2025-01-01"),
    ],
    pushdown=[
        {"op": "in", "column": "region", "values": [ref("r1"), ref("r2")]},
        {"op": "ge", "column": "order_date", "value": ref("since")},
    ],
)
KEPT_REGIONS = {"EMEA", "AMER"}
FIRST_KEPT_MONTH = (2025 - 1970) * 12  # Iceberg's month transform: months since 1970-01


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, catalog, pod_env, reference):
    """A pod over `sales.pruned`, whose files outside EMEA/AMER since 2025 were deleted after the
    references were taken: the pod can only answer if it never opens them."""
    table = catalog.create_table("sales.pruned", schema=SCHEMA, partition_spec=PARTITIONING)
    table.append(orders(4000, seed=3))
    expected = {
        "defaults": reference(PRUNED, {"r1": "EMEA", "r2": "AMER", "since": dt.date(2025, 1, 1)}),
        "later": reference(PRUNED, {"r1": "AMER", "r2": "AMER", "since": dt.date(2025, 6, 1)}),
    }
    deleted = 0
    for task in table.scan().plan_files():
        region, month = task.file.partition[0], task.file.partition[1]
        if region not in KEPT_REGIONS or month < FIRST_KEPT_MONTH:
            Path(urlsplit(task.file.file_path).path).unlink()
            deleted += 1
    assert deleted > 100  # most files are gone: only pruning can explain an answer
    work = tmp_path_factory.mktemp("pruned")
    with serving(make_pod(work, PRUNED), pod_env, work / "pod.log") as client:
        yield client, expected


def test_files_ruled_out_by_partition_pushdown_are_never_read(pruned):
    client, expected = pruned
    for query, name in (({}, "defaults"), ({"r1": "AMER", "since": "2025-06-01"}, "later")):
        response = client.get("/get_data", params=query)
        assert response.status_code == 200, response.text
        assert expected[name] and response.json() == expected[name]


def test_a_query_needing_the_deleted_files_fails_cleanly_and_the_pod_stays_up(pruned):
    client, expected = pruned
    response = client.get("/get_data", params={"r2": "APAC"})
    assert (response.status_code, response.json()) == (
        502,
        {
            "error": "table sales.pruned is damaged: a planned data file is missing from storage "
            "(deleted, or its snapshot expired)"
        },
    )
    assert client.get("/get_data").json() == expected["defaults"]
