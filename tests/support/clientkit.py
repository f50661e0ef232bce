"""What the client tests share: the pod over sales.orders they call, and its parameters."""

from __future__ import annotations

from typing import Any

from podkit import param, pod_json

ORDERS_ROWS = 6_000
PAGE_ROWS = 1_000

ORDERS = pod_json(
    "client-orders",
    "sales.orders",
    "SELECT order_id, country, order_date, sales FROM source WHERE sales >= $min_sales "
    "AND country = COALESCE($country, country) ORDER BY order_id",
    columns=["order_id", "country", "order_date", "sales"],
    read_columns=["order_id", "country", "order_date", "sales"],
    parameters=[param("min_sales", "number", 0), param("country", "string")],
)
ORDERS["max_page_size"] = PAGE_ROWS


def orders_values(**given: Any) -> dict[str, Any]:
    """Every ORDERS parameter's value: the given ones, else the defaults."""
    return {p["name"]: given.get(p["name"], p["default"]) for p in ORDERS["parameters"]}
