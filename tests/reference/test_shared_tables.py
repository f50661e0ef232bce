"""Pods over the tables other engines wrote (../shared/iceberg-tables: Spark, Flink, Iceberg
Java, Hive, Impala) answer what independent readers agreed on (its answers.json), in every
format, never with a 500.

Each agreed query becomes a pod whose SQL reads `source` where the query read `t`; a few run
again with their filter's literals as parameters pushed down to planning, whose defaults are
the literals (so the agreed answer still holds, and pruning must not change it). Where the
shared folder is absent, the tests say where they looked and skip.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from podkit import ROOT, lit, param, ref
from pyiceberg.catalog.sql import SqlCatalog
from referencekit import FORMATS, Query, TablePods, check_query, columns_read, norm_value

pytestmark = pytest.mark.pod

SHARED = Path(ROOT).parent / "shared" / "iceberg-tables"
ANSWERS = SHARED / "answers.json"

# Agreed queries asked again with their filter's literals as parameters pushed down to planning:
# (table, query) -> (SQL, parameters, pushdown, another call's query string: the same values).
PARAMETERISED = {
    ("spark_bucket_partitioned", "filter_projection"): (
        "SELECT id, name FROM t WHERE partition_col = $part AND id < $below ORDER BY id",
        [param("part", "string", "partition_3"), param("below", "integer", 60)],
        [
            {"op": "eq", "column": "partition_col", "value": ref("part")},
            {"op": "lt", "column": "id", "value": ref("below")},
        ],
        {"part": "partition_3", "below": "60"},
    ),
    ("java_eq_deletes_unpartitioned", "filter_projection"): (
        "SELECT id, CAST(bir AS VARCHAR) AS bir FROM t WHERE bir >= $since ORDER BY id",
        [param("since", "date", "2025-01-02")],
        [{"op": "ge", "column": "bir", "value": ref("since")}],
        {"since": "2025-01-02"},
    ),
    ("flink_eq_deletes_partition_evolution", "filter_projection"): (
        "SELECT i, s FROM t WHERE i > $above ORDER BY ALL",
        [param("above", "integer", 1)],
        [{"op": "gt", "column": "i", "value": ref("above")}],
        {"above": "1"},
    ),
    ("eq_deletes_schema_evolution", "filter_projection"): (
        "SELECT i, str, j FROM t WHERE str <> $other ORDER BY ALL",
        [param("other", "string", "str1")],
        [{"op": "ne", "column": "str", "value": ref("other")}],
        {"other": "str1"},
    ),
    ("spark_lineitem_posdel_evolution", "filter_projection"): (
        "SELECT l_partkey_int, l_suppkey_long, CAST(l_extendedprice_dec18_6 AS VARCHAR) AS price,"
        " CAST(l_shipdate_date AS VARCHAR) AS shipdate,"
        " CAST(l_commitdate_timestamp_tz AS VARCHAR) AS commit_tz, l_comment_string,"
        " schema_evol_added_col_1 FROM t"
        " WHERE l_shipdate_date BETWEEN $first AND DATE '1996-03-31' AND l_suppkey_long = $supp"
        " ORDER BY ALL",
        [param("first", "date", "1996-01-01"), param("supp", "integer", 3)],
        [
            {"op": "ge", "column": "l_shipdate_date", "value": ref("first")},
            {"op": "le", "column": "l_shipdate_date", "value": lit("1996-03-31", "date")},
            {"op": "eq", "column": "l_suppkey_long", "value": ref("supp")},
        ],
        {"first": "1996-01-01", "supp": "3"},
    ),
}


def _answers() -> dict:
    return json.loads(ANSWERS.read_text()) if ANSWERS.is_file() else {}


ANSWERS_BY_TABLE = {k: v for k, v in _answers().items() if not k.startswith("_")}


def _case_id(table: str, name: str, variant: str) -> str:
    return f"{table}/{name}" + ("-parameterised" if variant == "parameterised" else "")


CASES = [
    (table, name, variant)
    for table, entry in ANSWERS_BY_TABLE.items()
    for name in entry["queries"]
    for variant in ("agreed", "parameterised")
    if variant == "agreed" or (table, name) in PARAMETERISED
]


# Without the shared folder one case stands for all, and skips saying where it looked.
CASE_IDS = [_case_id(*case) for case in CASES] or ["absent"]


def _skip_without_shared() -> None:
    if not ANSWERS.is_file():
        pytest.skip(f"no shared Iceberg tables: looked for {ANSWERS}")


@pytest.fixture(scope="session")
def shared_catalog(tmp_path_factory) -> Path:
    """The shared tables copied and registered in a SQLite catalog by their own setup script."""
    _skip_without_shared()
    dest = tmp_path_factory.mktemp("shared-tables")
    done = subprocess.run(
        [sys.executable, str(SHARED / "setup.py"), "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


@pytest.fixture(scope="session")
def shared_env(shared_catalog: Path) -> dict[str, str]:
    """What points a pod at the shared catalog (as the shared README says)."""
    return {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{shared_catalog / 'catalog.db'}",
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": (shared_catalog / "warehouse").as_uri(),
    }


def _queries(table: str, catalog: SqlCatalog) -> list[Query]:
    """The table's agreed queries, and their parameterised variants."""
    entry = ANSWERS_BY_TABLE[table]
    names = [f.name for f in catalog.load_table(entry["identifier"]).schema().fields]
    queries = []
    for name, agreed in entry["queries"].items():
        common = {
            "table": entry["identifier"],
            "columns": tuple(agreed["columns"]),
            "expected": tuple(tuple(row) for row in agreed["expected"]),
        }
        sql = agreed["sql"]
        queries.append(Query(name=name, sql=sql, read_columns=columns_read(sql, names), **common))
        if (table, name) in PARAMETERISED:
            sql, parameters, pushdown, call = PARAMETERISED[(table, name)]
            queries.append(
                Query(
                    name=f"{name}-parameterised",
                    sql=sql,
                    read_columns=columns_read(sql, names),
                    parameters=tuple(parameters),
                    pushdown=tuple(pushdown),
                    calls=((call, common["expected"]),),
                    **common,
                )
            )
    return queries


@pytest.fixture(scope="session")
def shared_queries(shared_env) -> dict[str, Query]:
    """Every query over the shared tables, by id."""
    catalog = SqlCatalog(
        "default",
        uri=shared_env["PYICEBERG_CATALOG__DEFAULT__URI"],
        warehouse=shared_env["PYICEBERG_CATALOG__DEFAULT__WAREHOUSE"],
    )
    return {q.id: q for table in ANSWERS_BY_TABLE for q in _queries(table, catalog)}


@pytest.fixture(scope="session")
def shared_pods(tmp_path_factory, shared_env, shared_queries):
    """The pods of one shared table at a time."""
    by_table: dict[str, list[Query]] = {}
    for query in shared_queries.values():
        by_table.setdefault(query.table, []).append(query)
    pods = TablePods(tmp_path_factory.mktemp("shared-pods"), shared_env, by_table)
    yield pods
    pods.close()


# Table by table (each table's pods start once), every format of a query after another.
@pytest.mark.parametrize(
    ("case", "format_name"),
    [(c, f) for c in CASE_IDS for f in FORMATS],
    ids=[f"{c}-{f}" for c in CASE_IDS for f in FORMATS],
)
def test_a_pod_answers_what_independent_readers_agreed(
    shared_pods, shared_queries, case, format_name
):
    _skip_without_shared()
    check_query(shared_pods, shared_queries[case], format_name)


def test_the_suite_copies_the_shared_normal_form():
    """referencekit.norm_value keeps the rules of the shared normalize.py (which the answers
    were written with), on every kind of value the answers hold or could."""
    _skip_without_shared()
    spec = importlib.util.spec_from_file_location("shared_normalize", SHARED / "normalize.py")
    shared = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shared)

    values = [
        None,
        True,
        7,
        1.1,
        float("nan"),
        Decimal("0E-10"),
        Decimal("-12.50"),
        dt.date(2024, 2, 29),
        dt.time(1, 2, 3),
        dt.datetime(2024, 1, 1, 12, 0, 0, 5),
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        b"\x00\xff",
        [1.5, {"a": Decimal("1.0")}],
        ("k", 1),
        uuid.UUID(int=1),
    ]
    assert [norm_value(v) for v in values] == [shared.norm_value(v) for v in values]
