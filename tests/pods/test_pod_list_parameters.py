"""List parameters end to end: a spec compiled by the compiler, served by uvicorn over a real
partitioned Iceberg table, answers like a hand-written IN list over pyiceberg's full read, in
both query-string forms, and prunes to exactly the files that can hold a listed value.

The reference's SQL is written here with literal IN lists (never the pod's ARRAY_CONTAINS), run
by a plain DuckDB over `table.scan().to_arrow()`. The files expected to be read are found from
the files' own contents (each file's min and max, read with pyarrow), and the pod's /metrics
counters must say it read exactly those.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from lakehouse import PARTITIONING, SCHEMA, orders
from podkit import assert_rows_equal, json_form, serving
from prometheus_client.parser import text_string_to_metric_families

from compiler.artifacts.emit import emit
from compiler.pipeline import compile_spec

pytestmark = pytest.mark.pod

TABLE = "sales.listed"
COLUMNS = ["order_id", "order_date", "region", "quantity", "product"]
SPEC = f"""\
resource_name: listed-orders
depends_on: [{{namespace: sales, table: listed}}]
select: [{", ".join(COLUMNS)}]
filters:
  - region IN :regions
  - quantity NOT IN :quantities
  - (:days IS NULL OR order_date IN :days)
  - (:ids IS NULL OR order_id IN (:ids))
parameters:
  - {{name: regions, type: "string[]", default: [EMEA]}}
  - {{name: quantities, type: "integer[]", default: []}}
  - {{name: days, type: "date[]", default: null}}
  - {{name: ids, type: "integer[]", default: null}}
order_by: [order_id]
"""


@pytest.fixture(scope="module")
def listed(tmp_path_factory, catalog, pod_env):
    """The table (its own, so no other test changes it) and the compiled pod serving it."""
    table = catalog.create_table(TABLE, schema=SCHEMA, partition_spec=PARTITIONING)
    table.append(orders(3000, seed=11))
    work = tmp_path_factory.mktemp("listed")
    (work / "listed.yaml").write_text(SPEC, encoding="utf-8")
    result = compile_spec(work / "listed.yaml")
    assert result.ok, [d.message for d in result.diagnostics]
    emit(result.files, work / "pod")
    with serving(work / "pod", pod_env, work / "pod.log") as client:
        yield table, client


def reference(table, where: str) -> list[dict]:
    connection = duckdb.connect()
    connection.register("source", table.scan().to_arrow())
    sql = f"SELECT {', '.join(COLUMNS)} FROM source WHERE {where} ORDER BY order_id"
    rows = connection.execute(sql).fetchall()
    return [dict(zip(COLUMNS, map(json_form, row), strict=True)) for row in rows]


# (query string, the reference's WHERE with the same values written as IN lists)
CASES = [
    ("", "region IN ('EMEA')"),
    ("regions=EMEA,APAC", "region IN ('EMEA', 'APAC')"),
    ("regions=EMEA&regions=APAC", "region IN ('EMEA', 'APAC')"),
    ("regions=AMER,LATAM&regions=APAC", "region IN ('AMER', 'LATAM', 'APAC')"),
    ("regions=EMEA&quantities=1,2,3", "region IN ('EMEA') AND quantity NOT IN (1, 2, 3)"),
    (
        "regions=APAC&days=2024-03-04,2025-01-29&days=2023-07-14",
        "region IN ('APAC') AND order_date IN ('2024-03-04', '2025-01-29', '2023-07-14')",
    ),
    (
        "regions=EMEA,AMER,APAC,LATAM&ids=5,17,2999&ids=1000",
        "order_id IN (5, 17, 2999, 1000) AND region IS NOT NULL",
    ),
    # The substring trap of `region IN 'LATAMERICA'` answered LATAM and AMER rows.
    ("regions=LATAMERICA", "FALSE"),
    # %2C is a comma inside one value: no region is called "EMEA,APAC".
    ("regions=EMEA%2CAPAC", "FALSE"),
]


@pytest.mark.parametrize(("query", "where"), CASES, ids=[q or "defaults" for q, _ in CASES])
def test_a_list_parameter_answers_like_a_written_in_list(listed, query, where):
    table, client = listed
    response = client.get(f"/get_data?{query}")
    assert response.status_code == 200, response.text
    expected = reference(table, where)
    assert expected or where == "FALSE", "the case must select rows, or it proves nothing"
    assert_rows_equal(response.json(), expected)


# --- pruning: the pod reads exactly the files that can hold a listed value ----------------------


def counter(client, name: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return 0.0


def files_read(client, query: str) -> tuple[int, int]:
    """The files a request read and the files pruning ruled out, from the pod's /metrics."""
    before = (
        counter(client, "datapic_files_scanned_total"),
        counter(client, "datapic_files_pruned_total"),
    )
    response = client.get(f"/get_data?{query}")
    assert response.status_code == 200, response.text
    after = (
        counter(client, "datapic_files_scanned_total"),
        counter(client, "datapic_files_pruned_total"),
    )
    return int(after[0] - before[0]), int(after[1] - before[1])


def files_holding(table, conditions: dict[str, set]) -> tuple[int, int]:
    """How many data files could hold a row with, in each column, one of its listed values (one
    between the file's own min and max), and how many there are: found by reading each file."""
    files = [task.file.file_path for task in table.scan().plan_files()]
    holding = 0
    for path in files:
        data = pq.read_table(urlsplit(path).path, columns=list(conditions))
        bounds = {column: pc.min_max(data[column]).as_py() for column in conditions}
        if all(
            bounds[column]["min"] is not None
            and any(bounds[column]["min"] <= v <= bounds[column]["max"] for v in values)
            for column, values in conditions.items()
        ):
            holding += 1
    return holding, len(files)


REGIONS = {"EMEA", "AMER", "APAC", "LATAM"}
EVERY_REGION = "regions=" + ",".join(sorted(REGIONS))

# (query string, the listed values per column: a file holding none of a column's is not read)
PRUNED = [
    ("regions=EMEA,APAC", {"region": {"EMEA", "APAC"}}),  # identity partitions
    ("regions=LATAM", {"region": {"LATAM"}}),
    ("regions=NOWHERE", {"region": {"NOWHERE"}}),
    # Month partitions, then the files' date bounds; a file without regions holds no region.
    (
        f"{EVERY_REGION}&days=2024-03-05,2025-01-31",
        {"region": REGIONS, "order_date": {dt.date(2024, 3, 5), dt.date(2025, 1, 31)}},
    ),
    # Column bounds alone: order ids spread over every partition.
    (f"{EVERY_REGION}&ids=3,4&ids=5", {"region": REGIONS, "order_id": {3, 4, 5}}),
]


@pytest.mark.parametrize(("query", "conditions"), PRUNED, ids=[q for q, _ in PRUNED])
def test_only_files_that_can_hold_a_listed_value_are_read(listed, query, conditions):
    table, client = listed
    holding, total = files_holding(table, conditions)
    partitions_only, _ = files_holding(table, {"region": conditions["region"]})
    assert holding < total  # something to prune
    if len(conditions) > 1:
        assert holding < partitions_only  # the second list prunes files the regions keep
    assert files_read(client, query) == (holding, total - holding)
