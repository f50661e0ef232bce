"""Compiled pods answer exactly what an independent reference says, over real Iceberg tables.

Each case compiles a spec, runs the pod's runtime in-process against the real catalog (the HTTP
layer has its own tests), and compares with hand-written SQL over pyiceberg's full read.
"""

from __future__ import annotations

import json
import math

import pytest
from datapic_runtime.config import load_config
from datapic_runtime.params import bind_parameters
from datapic_runtime.pushdown import row_filter
from datapic_runtime.query import QueryEngine
from datapic_runtime.serialize import rows_to_json
from pyiceberg.expressions import AlwaysTrue

pytestmark = pytest.mark.pod

ORDERS = """
resource_name: {name}
depends_on: [{{namespace: sales, table: orders}}]
"""
EVOLVING = """
resource_name: {name}
depends_on: [{{namespace: shop, table: evolving}}]
"""

# name, table header, spec body, request query, reference SQL over `t` (values written inline)
CASES = [
    (
        "reduction-default-param",
        ORDERS,
        """
aggregate: {total_sales: sum(sales), orders: count(*)}
group_by: [q]
filters: ["region = :region", "order_date >= DATE '2024-01-01'"]
parameters: [{name: region, type: string, default: EMEA}]
""",
        [],
        "SELECT q, sum(sales) AS total_sales, count(*) AS orders FROM t "
        "WHERE region = 'EMEA' AND order_date >= DATE '2024-01-01' GROUP BY q ORDER BY q",
    ),
    (
        "reduction-given-param",
        ORDERS,
        """
aggregate: {total_sales: sum(sales), orders: count(*)}
group_by: [q]
filters: ["region = :region", "order_date >= DATE '2024-01-01'"]
parameters: [{name: region, type: string, default: EMEA}]
""",
        [("region", "APAC")],
        "SELECT q, sum(sales) AS total_sales, count(*) AS orders FROM t "
        "WHERE region = 'APAC' AND order_date >= DATE '2024-01-01' GROUP BY q ORDER BY q",
    ),
    (
        "legacy-datapi",
        ORDERS,
        """
type: REST
local_engine: DUCKDB
aggregate: sales.sum() quantity.max() count()
group_by: region
filters: region = 'EMEA' OR region IS NULL
deploy: True
""",
        [],
        "SELECT region, sum(sales) AS sales_sum, max(quantity) AS quantity_max, count(*) AS count "
        "FROM t WHERE region = 'EMEA' OR region IS NULL GROUP BY region ORDER BY region",
    ),
    (
        "projection-all-param-types",
        ORDERS,
        """
select: order_id order_date country sales shipped_at discount
filters:
  - country = :country
  - sales >= :min_sales
  - quantity <= :max_quantity
  - order_date BETWEEN :since AND :until
  - shipped_at < :before
  - (discount IS NOT NULL) = :discounted
parameters:
  - {name: country, type: string}
  - {name: min_sales, type: number, default: 1000.5}
  - {name: max_quantity, type: integer, default: 10}
  - {name: since, type: date, default: 2024-03-01}
  - {name: until, type: date, default: 2024-09-30}
  - {name: before, type: timestamp, default: "2024-08-01T12:00:00"}
  - {name: discounted, type: boolean, default: true}
order_by: [order_date desc, order_id]
""",
        [("country", "DE"), ("discounted", "false")],
        "SELECT order_id, order_date, country, sales, shipped_at, discount FROM t "
        "WHERE country = 'DE' AND sales >= 1000.5 AND quantity <= 10 "
        "AND order_date BETWEEN DATE '2024-03-01' AND DATE '2024-09-30' "
        "AND shipped_at < TIMESTAMP '2024-08-01 12:00:00' AND discount IS NULL "
        "ORDER BY order_date DESC, order_id",
    ),
    (
        "pushdown-kinds",
        ORDERS,
        """
select: [order_id, region, product, quantity, sales]
filters:
  - region IN ('EMEA', 'LATAM') OR region IS NULL
  - product NOT IN ('dock', 'tablet')
  - product LIKE 'l%' OR product LIKE '%one'
  - NOT (quantity = 3)
  - 5 < quantity
  - sales > 100.555
  - order_date >= DATE '2024-06-01'
order_by: [order_id]
limit: 200
""",
        [],
        "SELECT order_id, region, product, quantity, sales FROM t "
        "WHERE (region IN ('EMEA', 'LATAM') OR region IS NULL) "
        "AND product NOT IN ('dock', 'tablet') "
        "AND (product LIKE 'l%' OR product LIKE '%one') AND quantity <> 3 AND quantity > 5 "
        "AND sales > 100.555 AND order_date >= DATE '2024-06-01' ORDER BY order_id LIMIT 200",
    ),
    (
        "functions-and-nullable-param",
        ORDERS,
        """
aggregate: {orders: count(*), avg_discount: avg(discount), buyers: count(distinct country)}
group_by: [region]
filters:
  - ":product IS NULL OR lower(product) = :product"
  - year(order_date) = :year
parameters:
  - {name: product, type: string, default: null}
  - {name: year, type: integer, default: 2024}
""",
        [("product", "laptop")],
        "SELECT region, count(*) AS orders, avg(discount) AS avg_discount, "
        "count(DISTINCT country) AS buyers FROM t WHERE lower(product) = 'laptop' "
        "AND year(order_date) = 2024 GROUP BY region ORDER BY region",
    ),
    (
        "nullable-param-absent",
        ORDERS,
        """
aggregate: {orders: count(*)}
filters: [":product IS NULL OR product = :product"]
parameters: [{name: product, type: string, default: null}]
""",
        [],
        "SELECT count(*) AS orders FROM t",
    ),
    (
        "schema-evolution-deletes-overwrite",
        EVOLVING,
        """
select: [id, total, flag, note]
filters: ["total > :min OR total IS NULL"]
parameters: [{name: min, type: number, default: 0}]
order_by: [id]
""",
        [("min", "-1.5")],
        "SELECT id, total, flag, note FROM t WHERE total > -1.5 OR total IS NULL ORDER BY id",
    ),
    (
        "evolution-added-column-null-in-old-files",
        EVOLVING,
        """
aggregate: {rows: count(*), notes: count(note), total: sum(total)}
group_by: [flag]
filters: ["note IS NULL"]
""",
        [],
        "SELECT flag, count(*) AS rows, count(note) AS notes, sum(total) AS total FROM t "
        "WHERE note IS NULL GROUP BY flag ORDER BY flag",
    ),
]


def _close(actual, expected) -> bool:
    if isinstance(expected, float) and isinstance(actual, float | int):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return actual == expected


def _engine(pod_dir, catalog) -> QueryEngine:
    return QueryEngine(load_config(pod_dir), catalog_factory=lambda _name: catalog)


@pytest.mark.parametrize(
    ("name", "header", "body", "query", "sql"), CASES, ids=[c[0] for c in CASES]
)
def test_pod_answer_matches_reference(
    compile_pod, catalog, reference, name, header, body, query, sql
):
    pod_dir = compile_pod(header.format(name=name) + body, name)
    engine = _engine(pod_dir, catalog)
    values = bind_parameters(engine.config.parameters, query)
    answer = json.loads(rows_to_json(engine.config.columns, engine.answer(values)))

    table = "shop.evolving" if header is EVOLVING else "sales.orders"
    expected = reference(table, sql)
    assert expected, "the reference must select rows, or the case proves nothing"
    assert [list(row) for row in answer] == [list(row) for row in expected]  # key order
    assert len(answer) == len(expected)
    for got, want in zip(answer, expected, strict=True):
        assert all(_close(got[k], want[k]) for k in want), (got, want)


def test_evolving_table_really_has_deletes_and_evolution(catalog):
    """Guards the fixture: without these the evolution cases would test nothing."""
    table = catalog.load_table("shop.evolving")
    ids = table.scan(selected_fields=("id",)).to_arrow()["id"].to_pylist()
    assert min(ids) == 21 and 140 in ids and 150 not in ids
    assert [f.name for f in table.schema().fields] == ["id", "total", "flag", "note"]
    assert len(list(table.snapshots())) >= 4


def test_pushdown_prunes_files_and_skips_inexact_conjuncts(catalog):
    table = catalog.load_table("sales.orders")
    schema = table.schema()
    conjuncts = [
        {"op": "eq", "column": "region", "value": {"parameter": "region"}},
        # pyiceberg would round 100.555 to 100.56 for decimal(12, 2): must not be pushed.
        {"op": "gt", "column": "sales", "value": {"literal": 100.555, "type": "number"}},
        {"op": "lt", "column": "quantity", "value": {"literal": 2.5, "type": "number"}},
    ]
    pushed = row_filter(conjuncts, schema, {"region": "EMEA"})
    text = repr(pushed)
    assert "region" in text and "sales" not in text and "quantity" not in text
    all_files = list(table.scan().plan_files())
    pruned = list(table.scan(row_filter=pushed).plan_files())
    assert 0 < len(pruned) < len(all_files)

    assert row_filter(conjuncts[:1], schema, {"region": None}) == AlwaysTrue()
    exact = [{"op": "gt", "column": "sales", "value": {"literal": 100.5, "type": "number"}}]
    assert "sales" in repr(row_filter(exact, schema, {}))
