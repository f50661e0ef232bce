"""Pods over tables this suite builds itself (tests/support/owntables.py, written file by file by
icebergkit) for what the shared tables lack: identity-partition columns missing from the files,
equality deletes with NULL keys and several key sets, partition evolution with deletes, v3
defaults and date promotion, v3 nanosecond timestamps, type promotion, name mapping, nested
columns.

The reference is independent of every Iceberg reader: the rows icebergkit says each table holds
(what it wrote, read into the current schema and minus what its deletes delete, by the spec's
rules in plain Python), registered as `t` in a plain DuckDB that runs the query's SQL. Every
answer format is compared with it, and no call may fail.
"""

from __future__ import annotations

import pytest
from owntables import BUILDERS
from pyiceberg.catalog.sql import SqlCatalog
from referencekit import FORMATS, Query, TablePods, check_query, columns_read, reference_rows

pytestmark = pytest.mark.pod

# Tables pyiceberg reads itself, and the columns it cannot: its answer must be the kit's, which
# checks the kit's writing. pyiceberg 0.12 refuses equality deletes (so the other tables cannot
# be checked this way) and fails casting a date promoted to timestamp (AttributeError: 'tz').
PYICEBERG_READS = {
    "missing_partition_column": (),
    "name_mapping": (),
    "v3_defaults": ("d",),
}


def _query_ids() -> list[str]:
    """Query ids without building the tables: table/query, in build order."""
    return [f"{table}/{q}" for table, queries in QUERY_NAMES.items() for q in queries]


QUERY_NAMES = {
    "missing_partition_column": [
        "count",
        "group_by",
        "filter_partition_column",
        "filter_both_partition_columns",
        "all_rows",
    ],
    "eq_deletes_null_keys": ["count", "group_by", "filter_projection", "all_rows"],
    "partition_evolution_deletes": ["count", "group_by", "filter_partition_column", "all_rows"],
    "v3_defaults": ["count", "group_by", "filter_default", "filter_promoted", "all_rows"],
    "v3_nanos": ["count", "group_by", "filter_nanos", "all_rows"],
    "type_promotion": ["count", "group_by", "filter_promoted", "all_rows"],
    "name_mapping": ["count", "group_by", "filter_projection", "all_rows"],
    "nested_columns": [
        "count",
        "group_by_struct_field",
        "filter_struct_field",
        "filter_list_and_map",
        "all_rows",
    ],
    "nested_with_equality_deletes": ["count", "all_rows"],
}


@pytest.fixture(scope="session")
def own_lakehouse(tmp_path_factory):
    """The own tables in a SQLite catalog: (pod environment, kit tables, queries by id)."""
    root = tmp_path_factory.mktemp("own-tables")
    (root / "warehouse").mkdir()
    env = {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{root / 'catalog.db'}",
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": (root / "warehouse").as_uri(),
    }
    catalog = SqlCatalog(
        "default",
        uri=env["PYICEBERG_CATALOG__DEFAULT__URI"],
        warehouse=env["PYICEBERG_CATALOG__DEFAULT__WAREHOUSE"],
    )
    catalog.create_namespace("own")
    kits, queries = {}, {}
    for table, build in BUILDERS.items():
        kit, own_queries = build(catalog)
        kits[table] = kit
        held = kit.arrow()
        names = [f.name for f in kit.table.schema().fields]
        assert [q.name for q in own_queries] == QUERY_NAMES[table]
        for own in own_queries:
            query = Query(
                table=f"own.{table}",
                name=own.name,
                sql=own.sql,
                columns=own.columns,
                expected=tuple(reference_rows(held, own.sql, own.values())),
                read_columns=columns_read(own.sql, names),
                parameters=tuple(own.pod_parameters()),
                pushdown=own.pushdown,
                calls=tuple(
                    (call, tuple(reference_rows(held, own.sql, own.values(values))))
                    for call, values in own.calls
                ),
            )
            queries[query.id] = query
    return env, kits, queries


@pytest.fixture(scope="session")
def own_pods(tmp_path_factory, own_lakehouse):
    """The pods of one own table at a time."""
    env, _, queries = own_lakehouse
    by_table: dict[str, list[Query]] = {}
    for query in queries.values():
        by_table.setdefault(query.table, []).append(query)
    pods = TablePods(tmp_path_factory.mktemp("own-pods"), env, by_table)
    yield pods
    pods.close()


@pytest.mark.parametrize(
    ("case", "format_name"),
    [(c, f) for c in _query_ids() for f in FORMATS],
    ids=[f"{c}-{f}" for c in _query_ids() for f in FORMATS],
)
def test_a_pod_answers_what_the_table_holds(own_pods, own_lakehouse, case, format_name):
    _, _, queries = own_lakehouse
    check_query(own_pods, queries[case], format_name)


def test_every_query_selects_rows(own_lakehouse):
    """A case whose reference is empty proves nothing about the rows a reader must keep."""
    _, _, queries = own_lakehouse
    empty = [
        (q.id, call)
        for q in queries.values()
        for call, expected in (({}, q.expected), *q.calls)
        if not expected
    ]
    assert empty == []


@pytest.mark.parametrize("table", PYICEBERG_READS)
def test_pyiceberg_reads_what_the_kit_says_a_table_holds(own_lakehouse, table):
    """The kit's tables are valid Iceberg: where pyiceberg can read one, it reads the kit's
    rows (in any order)."""
    _, kits, _ = own_lakehouse
    kit = kits[table]
    names = [f.name for f in kit.table.schema().fields if f.name not in PYICEBERG_READS[table]]
    read = kit.table.scan(selected_fields=tuple(names)).to_arrow().to_pylist()
    held = [{n: row[n] for n in names} for row in kit.rows()]
    key = lambda row: row["id"]  # noqa: E731
    assert sorted(read, key=key) == sorted(held, key=key)
