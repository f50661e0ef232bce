"""Pages of an answer that neither overlap nor skip rows: the query gets a total order.

Pages are separate queries (LIMIT/OFFSET), so the rows must come in the same order every time.
The spec's ORDER BY may leave ties (or there is none), and DuckDB's parallel scan breaks ties
differently from run to run. Every output column, by position, is appended as a tie-breaker
after the spec's own order; the spec's LIMIT/OFFSET then bound the pages. The query is parsed
and re-printed by DuckDB itself (json_serialize_sql), once, by the first request's cursor: a
database of its own at start-up would add a few tens of milliseconds to every cold start.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from typing import Any

import duckdb

log = logging.getLogger("datapic.pod")


@dataclass(frozen=True, slots=True)
class PagedQuery:
    """The pod's query with a total order and without its LIMIT/OFFSET, and those bounds."""

    ordered_sql: str
    limit: int | None = None  # the spec's LIMIT
    offset: int = 0  # the spec's OFFSET

    def sql(self, offset: int, limit: int) -> str:
        """The query for rows [offset, offset + limit) of the spec's answer."""
        count = limit if self.limit is None else min(limit, self.limit - offset)
        return f"{self.ordered_sql}\nLIMIT {max(0, int(count))} OFFSET {self.offset + int(offset)}"


def paged_query(sql: str, column_count: int, connection: duckdb.DuckDBPyConnection) -> PagedQuery:
    """`sql` prepared for paging by `connection`; if DuckDB cannot re-print it, all columns
    order it."""
    own = connection.cursor()  # its results never stand in the way of the caller's
    try:
        return _rewritten(sql, column_count, own)
    except (duckdb.Error, KeyError, TypeError, ValueError) as exc:
        log.warning("pages fall back to ORDER BY ALL (%s)", type(exc).__name__)
        return PagedQuery(f"SELECT * FROM ({sql}) AS answer ORDER BY ALL")
    finally:
        own.close()


def _rewritten(sql: str, column_count: int, connection: duckdb.DuckDBPyConnection) -> PagedQuery:
    tree = _parse(connection, sql)
    node = tree["statements"][0]["node"]
    orders = next((m for m in node["modifiers"] if m["type"] == "ORDER_MODIFIER"), None)
    limits = [m for m in node["modifiers"] if m["type"] == "LIMIT_MODIFIER"]
    if len(node["modifiers"]) != (orders is not None) + len(limits) or len(limits) > 1:
        raise ValueError("unexpected modifiers")
    limit, offset = _bounds(limits[0]) if limits else (None, 0)
    template = _parse(connection, "SELECT 1 ORDER BY 1")["statements"][0]["node"]
    position = template["modifiers"][0]["orders"][0]
    if orders is None:
        orders = {**template["modifiers"][0], "orders": []}
    if not any(o["expression"]["class"] == "STAR" for o in orders["orders"]):  # ORDER BY ALL
        orders["orders"] += [_position(position, i) for i in range(1, column_count + 1)]
    node["modifiers"] = [orders]
    [(printed,)] = connection.execute(
        "SELECT json_deserialize_sql($tree)", {"tree": json.dumps(tree)}
    ).fetchall()
    return PagedQuery(printed, limit, offset)


def _parse(connection: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    [(printed,)] = connection.execute("SELECT json_serialize_sql($sql)", {"sql": sql}).fetchall()
    tree = json.loads(printed)
    if tree.get("error") or len(tree["statements"]) != 1:
        raise ValueError(tree.get("error_message", "not one statement"))
    return tree


def _bounds(modifier: dict[str, Any]) -> tuple[int | None, int]:
    """The constant LIMIT and OFFSET of a LIMIT modifier."""
    if modifier.get("limit_type", "ROW_COUNT") != "ROW_COUNT":
        raise ValueError("LIMIT as a percentage")
    return _constant(modifier.get("limit")), _constant(modifier.get("offset")) or 0


def _constant(expression: dict[str, Any] | None) -> int | None:
    if expression is None:
        return None
    if expression["class"] != "CONSTANT":
        raise ValueError("LIMIT or OFFSET is not a constant")
    return int(expression["literal"]["text"])


def _position(template: dict[str, Any], index: int) -> dict[str, Any]:
    """`ORDER BY <index>`: the index-th output column, ascending."""
    order = copy.deepcopy(template)
    order["expression"]["literal"]["text"] = str(index)
    return order
