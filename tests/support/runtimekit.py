"""For the runtime's tests: a test client of the pod's app over a small pod directory, and
answers computed outside the engine (SQL over in-memory Arrow data)."""

from __future__ import annotations

import functools
import json
import time
import warnings
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa
from datapic_runtime.answer import Answer, int64_results
from datapic_runtime.database import TIME_ZONE
from datapic_runtime.server import create_app
from pyiceberg.catalog import load_catalog
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette would rather have httpx2; the test environment has httpx, which works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

POD = {
    "columns": ["id", "label", "price"],
    "description": "Rows of t.nasty",
    "format_version": 2,
    "freshness_seconds": 30,
    "max_page_size": 10000,
    "result_cache": False,
    "generator": "datapic 0.1.0",
    "name": "nasty-rows",
    "operation": "PROJECTION",
    "parameters": [
        {"default": None, "description": "", "name": "label", "required": False, "type": "string"},
        {"default": 0, "description": "", "name": "min_id", "required": False, "type": "integer"},
    ],
    "pushdown": [{"column": "label", "op": "eq", "value": {"parameter": "label"}}],
    "read_columns": ["id", "label", "price"],
    "source": {"catalog": "default", "namespace": ["t"], "table": "nasty"},
    "spec": {"path": "nasty-rows.yaml", "sha256": "0" * 64},
    "sql": [
        "SELECT id, label, price FROM source",
        "WHERE ($label IS NULL OR label = $label) AND id >= $min_id ORDER BY id",
    ],
}
# Odd spacing on purpose: the document must be served byte for byte.
OPENAPI = b'{"openapi": "3.1.0",  "info": {"title": "nasty-rows", "version": "1"}, "paths": {}}\n'


def make_client(
    tmp_path, catalog_props, clock=time.monotonic, catalog_factory=None, **changes
) -> TestClient:
    """A test client of the app over a pod directory holding POD with `changes`; its catalog
    from `catalog_factory` if given, else pyiceberg's over `catalog_props`."""
    pod = {**POD, **changes}
    (tmp_path / "pod.json").write_text(json.dumps(pod))
    (tmp_path / "openapi.json").write_bytes(OPENAPI)
    factory = catalog_factory or functools.partial(load_catalog, **catalog_props)
    app = create_app(tmp_path, factory, clock)
    return TestClient(app, raise_server_exceptions=False)


def execute(
    sql: str,
    data: pa.Table,
    values: Mapping[str, Any],
    connection: duckdb.DuckDBPyConnection | None = None,
) -> Answer:
    """The answer of `sql` over `data` registered as `source`, `values` bound to its
    $parameters, in `connection` (by default an in-memory DuckDB in the pod's time zone), its
    integer sums narrowed to int64 as the pod's engine does."""
    if connection is None:
        connection = duckdb.connect()
        connection.execute(f"SET TimeZone = '{TIME_ZONE}'")
    try:
        connection.register("source", data)
        relation = connection.sql(sql, params=dict(values) or None)
        result = int64_results(relation, relation.columns).to_arrow_table()
    finally:
        connection.close()
    return Answer(result.schema, iter(result.to_batches()), result.num_rows, None)


def whole(answer: Answer) -> pa.Table:
    """Every batch of `answer`, in memory."""
    return pa.Table.from_batches(list(answer.batches), schema=answer.schema)
