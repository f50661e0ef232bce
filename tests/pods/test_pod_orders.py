"""A projection pod over the partitioned `sales.orders`, with a parameter of every type: its
answers against the reference, and the HTTP contract (400s naming the parameter, JSON errors
for unknown routes, health, the compiled OpenAPI document) from the same running process."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from podkit import assert_rows_equal, make_pod, param, pod_json, ref, serving

pytestmark = pytest.mark.pod

COLUMNS = ["order_id", "order_date", "shipped_at", "region", "country", "product", "quantity"]
COLUMNS += ["sales", "discount"]
POD = pod_json(
    "orders-by-country",
    "sales.orders",
    "SELECT order_id, order_date, shipped_at, region, country, product, quantity, sales, discount\n"
    "FROM source\n"
    "WHERE country = $country AND sales >= $min_sales AND quantity <= $max_quantity\n"
    "  AND order_date >= $since AND (shipped_at IS NULL OR shipped_at < $before)\n"
    "  AND ($discounted IS NULL OR (discount IS NOT NULL) = $discounted)\n"
    "  AND ($product IS NULL OR product = $product)\n"
    "ORDER BY order_id",
    columns=COLUMNS,
    read_columns=COLUMNS,
    parameters=[
        param("country", "string", required=True),
        param("min_sales", "number", 1000.5),
        param("max_quantity", "integer", 10),
        param("since", "date", "2024-03-01"),
        param("before", "timestamp", "2025-08-01T12:00:00"),
        param("discounted", "boolean", None),
        param("product", "string", None),
    ],
    pushdown=[
        {"op": "eq", "column": "country", "value": ref("country")},
        {"op": "ge", "column": "sales", "value": ref("min_sales")},
        {"op": "le", "column": "quantity", "value": ref("max_quantity")},
        {"op": "ge", "column": "order_date", "value": ref("since")},
        {"op": "eq", "column": "product", "value": ref("product")},
    ],
)
DEFAULTS = {
    "min_sales": 1000.5,
    "max_quantity": 10,
    "since": dt.date(2024, 3, 1),
    "before": dt.datetime(2025, 8, 1, 12),
    "discounted": None,
    "product": None,
}


@pytest.fixture(scope="module")
def pod(tmp_path_factory, pod_env):
    """One running pod shared by this module's tests, and its directory."""
    work = tmp_path_factory.mktemp("orders")
    pod_dir = make_pod(work, POD)
    with serving(pod_dir, pod_env, work / "pod.log") as client:
        yield client, pod_dir


ANSWERS = [
    ("defaults", {"country": "DE"}, {"country": "DE", **DEFAULTS}),
    (
        "every-parameter-given",
        {
            "country": "JP",
            "min_sales": "0",
            "max_quantity": "20",
            "since": "2023-01-01",
            "before": "2024-06-30T23:59:59.5",
            "discounted": "true",
            "product": "laptop",
        },
        {
            "country": "JP",
            "min_sales": 0.0,
            "max_quantity": 20,
            "since": dt.date(2023, 1, 1),
            "before": dt.datetime(2024, 6, 30, 23, 59, 59, 500000),
            "discounted": True,
            "product": "laptop",
        },
    ),
    (
        "false-and-zoned-timestamp",
        {"country": "BR", "discounted": "false", "before": "2024-01-01T02:00:00+02:00"},
        {
            "country": "BR",
            **DEFAULTS,
            "discounted": False,
            "before": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        },
    ),
    # Bounds at the ends of what the types hold: pyiceberg's partition projection overflows on
    # year 1 dates, and a decimal bound of 28 digits cannot be quantized; both once were 500s.
    (
        "calendar-start",
        {"country": "DE", "since": "0001-01-01"},
        {"country": "DE", **DEFAULTS, "since": dt.date(1, 1, 1)},
    ),
    (
        "huge-decimal-bound",
        {"country": "DE", "min_sales": "-1e27"},
        {"country": "DE", **DEFAULTS, "min_sales": -1e27},
    ),
]


@pytest.mark.parametrize(("query", "values"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS])
def test_answers_match_the_reference(pod, reference, query, values):
    client, _ = pod
    response = client.get("/get_data", params=query)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    expected = reference(POD, values)
    assert expected, "the reference must select rows, or the case proves nothing"
    assert_rows_equal(response.json(), expected)


def test_json_forms_of_dates_timestamps_decimals_and_nulls(pod):
    client, _ = pod
    rows = client.get("/get_data", params={"country": "US", "max_quantity": "20"}).json()
    assert list(rows[0]) == COLUMNS
    assert all(isinstance(r["sales"], str) and "." in r["sales"] for r in rows)  # exact text
    assert all(dt.date.fromisoformat(r["order_date"]) for r in rows)
    shipped = [r["shipped_at"] for r in rows]
    assert None in shipped and all(dt.datetime.fromisoformat(s) for s in shipped if s)
    assert None in [r["discount"] for r in rows]


def test_a_country_without_orders_is_an_empty_array(pod):
    client, _ = pod
    response = client.get("/get_data", params={"country": "XX"})
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, "missing required parameter 'country' (string)"),
        ({"min_sales": "5"}, "missing required parameter 'country'"),
        ({"country": "DE", "min_sales": "lots"}, "parameter 'min_sales' must be a number"),
        (
            {"country": "DE", "max_quantity": "1.5"},
            "parameter 'max_quantity' must be a whole number",
        ),
        ({"country": "DE", "since": "2024-02-30"}, "parameter 'since' must be a date"),
        ({"country": "DE", "before": "noon"}, "parameter 'before' must be a timestamp"),
        ({"country": "DE", "discounted": "maybe"}, "parameter 'discounted' must be true or false"),
        ({"country": "DE", "contry": "FR"}, "unknown parameter 'contry'"),
        ([("country", "DE"), ("country", "FR")], "parameter 'country' is given more than once"),
    ],
)
def test_bad_requests_are_json_400s_naming_the_parameter(pod, query, message):
    client, _ = pod
    response = client.get("/get_data", params=query)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]


def test_health_openapi_and_unknown_routes(pod):
    client, pod_dir = pod
    assert client.get("/healthz").json() == {"status": "ok"}
    served = client.get("/openapi.json")
    assert served.content == (pod_dir / "openapi.json").read_bytes()  # the compiled document
    # /docs is the pod's own page; FastAPI's generated docs stay off.
    for path in ("/nope", "/redoc", "/docs/oauth2-redirect", "/get_data/x"):
        response = client.get(path)
        assert response.status_code == 404 and "no such route" in response.json()["error"]
    response = client.post("/get_data", params={"country": "DE"})
    assert response.status_code == 405 and "error" in response.json()
    # Still answering after all the errors above.
    assert client.get("/get_data", params={"country": "DE"}).status_code == 200


def test_concurrent_requests_get_the_same_answers(pod):
    """Requests run in the threadpool and share one catalog client (SQLite underneath)."""
    client, _ = pod
    queries = [{"country": c} for c in ("DE", "JP", "BR", "US")] * 3

    def status_and_body(query: dict) -> tuple[int, bytes]:
        response = client.get("/get_data", params=query)
        return response.status_code, response.content

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(status_and_body, queries))
    assert {status for status, _ in answers} == {200}
    for country in ("DE", "JP", "BR", "US"):
        bodies = {
            body for (_, body), q in zip(answers, queries, strict=True) if q["country"] == country
        }
        assert len(bodies) == 1
