"""Computed dimensions, having, the issue 12 aggregates and `select: "*"`, compiled from specs by
the real compiler and run as pods over real Iceberg tables.

The reference is independent of the compiled SQL: the test's own hand-written DuckDB SQL over
pyiceberg's full read of the table (`scan().to_arrow()`), the parameters bound. Pruning is shown
in /metrics: the files one request scans and prunes, against the files the table's own manifests
list in and out of the filter's partitions.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from lakehouse import SCHEMA, orders
from podkit import assert_rows_equal, json_form, serving
from prometheus_client.parser import text_string_to_metric_families
from pyiceberg.types import StringType

from compiler.artifacts.emit import emit
from compiler.pipeline import compile_spec

pytestmark = pytest.mark.pod

MONTHLY = """\
resource_name: monthly-sales
depends_on: [{namespace: sales, table: orders}]
group_by:
  - region
  - month: date_trunc('month', order_date)
aggregate:
  total_sales: sum(sales)
  orders: count(*)
  unshipped: count(*) FILTER (WHERE shipped_at IS NULL)
  big_orders: count_if(quantity > 10)
  countries: approx_count_distinct(country)
  median_discount: median(discount)
  p90_quantity: quantile_disc(quantity, 0.9)
  p25_sales: quantile_cont(sales, 0.25)
  p50_discount: percentile_cont(0.5) WITHIN GROUP (ORDER BY discount)
  weekend_orders: count_if(dayofweek(order_date) IN (0, 6))
having:
  - orders >= :min_orders
  - big_orders > 0
filters:
  - region = :region
  - order_date >= :since
parameters:
  - {name: region, type: string, default: EMEA}
  - {name: since, type: date, default: 2025-01-01}
  - {name: min_orders, type: integer, default: 1}
order_by: [month desc]
"""
# The same question in the test's own words.
MONTHLY_REFERENCE = """
SELECT region, date_trunc('month', order_date) AS month, sum(sales), count(*),
  count(*) FILTER (WHERE shipped_at IS NULL), count_if(quantity > 10),
  approx_count_distinct(country), median(discount), quantile_disc(quantity, 0.9),
  quantile_cont(sales, 0.25), percentile_cont(0.5) WITHIN GROUP (ORDER BY discount),
  count_if(dayofweek(order_date) IN (0, 6))
FROM t WHERE region = $region AND order_date >= $since
GROUP BY ALL HAVING count(*) >= $min_orders AND count_if(quantity > 10) > 0
ORDER BY month DESC
"""
MONTHLY_COLUMNS = [
    "region",
    "month",
    "total_sales",
    "orders",
    "unshipped",
    "big_orders",
    "countries",
    "median_discount",
    "p90_quantity",
    "p25_sales",
    "p50_discount",
    "weekend_orders",
]

HOURLY = """\
resource_name: hourly-shipments
depends_on: [{namespace: sales, table: orders}]
select:
  - order_id
  - shipped_hour: hour(shipped_at)
  - minute: minute(shipped_at)
  - ym: strftime(order_date, '%Y-%m')
  - product_bytes: octet_length(product)
  - laptop: regexp_matches(product, '^lap')
  - odd: order_id % 2
filters:
  - country = :country
  - regexp_matches(product, :pattern)
parameters:
  - {name: country, type: string, default: DE}
  - {name: pattern, type: string, default: 'o'}
order_by: [order_id]
"""
HOURLY_REFERENCE = """
SELECT order_id, hour(shipped_at), minute(shipped_at), strftime(order_date, '%Y-%m'),
  strlen(product), product LIKE 'lap%', order_id % 2
FROM t WHERE country = $country AND regexp_matches(product, $pattern) ORDER BY order_id
"""

EVERY_COLUMN = """\
resource_name: every-order-column
depends_on: [{namespace: sales, table: star}]
select: "*"
filters: region = :region
parameters: [{name: region, type: string, default: EMEA}]
order_by: [order_id desc]
freshness_seconds: 0
"""


def compiled_pod(tmp_path: Path, spec: str) -> Path:
    """The pod directory `datapic compile` writes for this spec (no --check)."""
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    result = compile_spec(path)
    assert result.ok, [d.message for d in result.diagnostics]
    pod_dir = tmp_path / result.pod.name
    emit(result.files, pod_dir)
    return pod_dir


@pytest.fixture(scope="session")
def full_read(catalog):
    """The reference's data: pyiceberg's own full read of a table, no pushdown, all columns."""
    reads: dict[str, pa.Table] = {}

    def read(name: str) -> pa.Table:
        if name not in reads:
            reads[name] = catalog.load_table(name).scan().to_arrow()
        return reads[name]

    return read


def reference(table: pa.Table, sql: str, columns: list[str], **values) -> list[dict]:
    """The rows the test's own SQL gives over `table` (as `t`), in the pod's JSON forms."""
    connection = duckdb.connect()
    connection.register("t", table)
    rows = connection.execute(sql, values).fetchall()
    return [dict(zip(columns, map(json_form, row), strict=True)) for row in rows]


@pytest.fixture(scope="module")
def monthly(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("monthly")
    with serving(compiled_pod(work, MONTHLY), pod_env, work / "pod.log") as client:
        yield client


@pytest.fixture(scope="module")
def hourly(tmp_path_factory, pod_env):
    work = tmp_path_factory.mktemp("hourly")
    with serving(compiled_pod(work, HOURLY), pod_env, work / "pod.log") as client:
        yield client


MONTHLY_CASES = [
    ({}, {"region": "EMEA", "since": dt.date(2025, 1, 1), "min_orders": 1}),
    (
        {"region": "AMER", "since": "2024-06-15", "min_orders": "150"},
        {"region": "AMER", "since": dt.date(2024, 6, 15), "min_orders": 150},
    ),
    (
        {"region": "LATAM", "min_orders": "100000"},
        {"region": "LATAM", "since": dt.date(2025, 1, 1), "min_orders": 100000},
    ),
]


@pytest.mark.parametrize(("query", "values"), MONTHLY_CASES)
def test_a_computed_dimension_with_having_answers_like_the_reference(
    monthly, full_read, query, values
):
    response = monthly.get("/get_data", params=query)
    assert response.status_code == 200, response.text
    expected = reference(full_read("sales.orders"), MONTHLY_REFERENCE, MONTHLY_COLUMNS, **values)
    assert_rows_equal(response.json(), expected)
    if values["min_orders"] == 100000:
        assert expected == []  # having removed every group
    else:
        assert len(expected) >= 2 and expected[0]["month"] > expected[-1]["month"]
        # having is not decorative: without it, the reference keeps groups it dropped
        everything = reference(
            full_read("sales.orders"),
            MONTHLY_REFERENCE,
            MONTHLY_COLUMNS,
            **{**values, "min_orders": 0},
        )
        assert values["min_orders"] == 1 or len(everything) > len(expected)


def metric(client, name: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return 0.0


def test_a_computed_date_dimension_keeps_partition_pruning(monthly, catalog):
    """The filters on region and order_date still prune files, whatever the dimensions compute:
    the request scans exactly the files of the kept partitions (identity region, month)."""
    kept_from = (2025 - 1970) * 12 + 2  # months since 1970-01: March 2025
    files = list(catalog.load_table("sales.orders").scan().plan_files())
    kept = [f for f in files if f.file.partition[0] == "APAC" and f.file.partition[1] >= kept_from]
    assert 0 < len(kept) < len(files) / 4
    scanned, pruned = (
        metric(monthly, "datapic_files_scanned_total"),
        metric(monthly, "datapic_files_pruned_total"),
    )
    query = {"region": "APAC", "since": "2025-03-01"}
    response = monthly.get("/get_data", params=query)
    assert response.status_code == 200, response.text  # parameters no other test asks: no cache hit
    assert metric(monthly, "datapic_files_scanned_total") - scanned == len(kept)
    assert metric(monthly, "datapic_files_pruned_total") - pruned == len(files) - len(kept)


# Every new aggregate's type in every format: integers stay int64 (count_if is a 128-bit
# integer in DuckDB), fractions are doubles, decimals stay exact.
ARROW_TYPES = {
    "region": pa.string(),
    "month": pa.timestamp("us"),
    "total_sales": pa.decimal128(38, 2),
    "orders": pa.int64(),
    "unshipped": pa.int64(),
    "big_orders": pa.int64(),
    "countries": pa.int64(),
    "median_discount": pa.float64(),
    "p90_quantity": pa.int32(),
    "p25_sales": pa.decimal128(12, 2),
    "p50_discount": pa.float64(),
    "weekend_orders": pa.int64(),
}


@pytest.mark.parametrize("format_name", ["json", "ndjson", "csv", "arrow", "parquet"])
def test_every_new_aggregate_keeps_its_type_in_every_format(monthly, full_read, format_name):
    response = monthly.get("/get_data", params={"format": format_name})
    assert response.status_code == 200, response.text
    values = MONTHLY_CASES[0][1]
    expected = reference(full_read("sales.orders"), MONTHLY_REFERENCE, MONTHLY_COLUMNS, **values)
    if format_name in ("arrow", "parquet"):
        if format_name == "arrow":
            table = pa.ipc.open_stream(response.content).read_all()
        else:
            table = pq.read_table(io.BytesIO(response.content))
        assert {f.name: f.type for f in table.schema} == ARROW_TYPES
        rows = [{k: json_form(v) for k, v in row.items()} for row in table.to_pylist()]
        for row in rows:
            row["month"] = row["month"].replace(" ", "T")
        assert_rows_equal(rows, expected)
    elif format_name == "csv":
        table = pa_csv.read_csv(
            io.BytesIO(response.content),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(ARROW_TYPES, pa.string())
            ),
        )
        assert table.column_names == MONTHLY_COLUMNS
        integers = ["orders", "unshipped", "big_orders", "countries", "weekend_orders"]
        for name in integers:  # integer text, never 12.0 or 1E1
            assert table.column(name).to_pylist() == [str(r[name]) for r in expected]
    else:
        if format_name == "json":
            rows = response.json()
        else:
            rows = [json.loads(line) for line in response.text.splitlines()]
        assert_rows_equal(rows, expected)
        for row in rows:
            assert all(type(row[n]) is int for n in ("orders", "big_orders", "countries"))
            assert type(row["median_discount"]) is float and type(row["p25_sales"]) is str


def test_new_scalar_functions_answer_like_the_reference(hourly, full_read):
    columns = ["order_id", "shipped_hour", "minute", "ym", "product_bytes", "laptop", "odd"]
    for query, values in (
        ({}, {"country": "DE", "pattern": "o"}),
        ({"country": "FR", "pattern": "^(lap|pho)"}, {"country": "FR", "pattern": "^(lap|pho)"}),
    ):
        response = hourly.get("/get_data", params={**query, "limit": "10000"})
        assert response.status_code == 200, response.text
        expected = reference(full_read("sales.orders"), HOURLY_REFERENCE, columns, **values)
        assert len(expected) > 50
        assert any(r["shipped_hour"] is None for r in expected)  # unshipped orders
        assert {r["laptop"] for r in expected} == {True, False}
        assert_rows_equal(response.json(), expected)


def test_a_pattern_re2_cannot_compile_is_a_client_error(hourly):
    response = hourly.get("/get_data", params={"pattern": "(unclosed"})
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


@pytest.fixture(scope="module")
def every_column(tmp_path_factory, catalog, pod_env):
    """A pod selecting "*" over its own small table, compiled without --check."""
    table = catalog.create_table("sales.star", schema=SCHEMA)
    table.append(orders(300, seed=12))
    work = tmp_path_factory.mktemp("star")
    pod_dir = compiled_pod(work, EVERY_COLUMN)
    with serving(pod_dir, pod_env, work / "pod.log") as client:
        yield client, table, pod_dir


def test_select_every_column_is_resolved_by_the_pod_at_run_time(every_column, catalog):
    client, table, pod_dir = every_column
    pod_json = json.loads((pod_dir / "pod.json").read_text())
    assert pod_json["all_columns"] is True and pod_json["columns"] == []
    reference_sql = "SELECT * FROM t WHERE region = $region ORDER BY order_id DESC"
    names = [f.name for f in SCHEMA.fields]

    def answer(**query) -> list[dict]:
        rows, params = [], {**query, "limit": "70"}
        while True:  # pages of a "*" answer, following the next-page token
            response = client.get("/get_data", params=params)
            assert response.status_code == 200, response.text
            rows += response.json()
            token = response.headers.get("x-next-page-token")
            if token is None:
                return rows
            params = {**params, "page_token": token}

    expected = reference(
        catalog.load_table("sales.star").scan().to_arrow(), reference_sql, names, region="EMEA"
    )
    assert len(expected) > 70  # more than one page
    got = answer()
    assert [list(row) for row in got[:1]] == [names]
    assert_rows_equal(got, expected)

    # The table gains a column and rows that fill it: the pod answers it without being
    # compiled again.
    with table.update_schema() as update:
        update.add_column("note", StringType())
    table = catalog.load_table("sales.star")
    more = orders(40, seed=13).append_column("note", pa.array(["new"] * 40, pa.string()))
    more = more.set_column(0, "order_id", pa.array(range(1001, 1041), pa.int64()))
    table.append(more.cast(table.schema().as_arrow()))
    names.append("note")
    fresh = catalog.load_table("sales.star").scan().to_arrow()
    expected = reference(fresh, reference_sql, names, region="AMER")
    got = answer(region="AMER")
    assert [list(row) for row in got[:1]] == [names]
    assert_rows_equal(got, expected)

    response = client.get("/get_data", params={"format": "arrow", "region": "AMER"})
    assert pa.ipc.open_stream(response.content).read_all().schema.names == names
