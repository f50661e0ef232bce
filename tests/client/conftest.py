"""Real pods for the client: uvicorn on loopback over a real Iceberg table (pyiceberg's SQL
catalog, Parquet on disk), compiled by the compiler's own render and emit (podkit).

The reference for an answer is independent of pods and client: pyiceberg's full read of the
table, queried by a plain DuckDB with the pod's SQL, the parameters written in as literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from clientkit import ORDERS, ORDERS_ROWS
from lakehouse import build_lakehouse, catalog_env, open_catalog
from podkit import make_pod, serving, substitute


@pytest.fixture(scope="session")
def lakehouse(tmp_path_factory) -> Path:
    """The demo lakehouse, small: sales.orders."""
    root = tmp_path_factory.mktemp("client-lakehouse")
    build_lakehouse(root, rows=ORDERS_ROWS)
    return root


@pytest.fixture(scope="session")
def pod_env(lakehouse: Path) -> dict[str, str]:
    """The environment that points a pod at the lakehouse."""
    return catalog_env(lakehouse)


@pytest.fixture(scope="session")
def orders_url(tmp_path_factory, pod_env) -> str:
    """The base URL of a running pod over sales.orders, pages of PAGE_ROWS rows."""
    work = tmp_path_factory.mktemp("client-orders")
    with serving(make_pod(work, ORDERS), pod_env, work / "pod.log") as client:
        yield str(client.base_url).rstrip("/")


@pytest.fixture(scope="session")
def reference(lakehouse: Path):
    """reference(pod, values) -> the Arrow table the pod must answer for these values."""
    full_reads: dict[str, pa.Table] = {}
    catalog = open_catalog(lakehouse)

    def _reference(pod: dict, values: Mapping[str, Any]) -> pa.Table:
        table = ".".join([*pod["source"]["namespace"], pod["source"]["table"]])
        if table not in full_reads:
            full_reads[table] = catalog.load_table(table).scan().to_arrow()
        connection = duckdb.connect()
        connection.register("source", full_reads[table])
        answer = connection.sql(substitute(pod, values)).to_arrow_table()
        return answer.rename_columns(pod["columns"])

    return _reference
