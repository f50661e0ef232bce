"""The reference suite's own tables (namespace `own`), each built by icebergkit for a case the
shared tables lack, with the queries asked of it.

A query's $parameters are listed as (name, type, default); its calls as (query string, the
values the reference writes into the SQL). Filters on the case's special column are pushed
down, so planning over it is checked too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from icebergkit import KitTable
from podkit import param, ref
from pyiceberg.catalog import Catalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.snapshots import Operation
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestampNanoType,
    TimestampType,
    TimestamptzNanoType,
    TimestamptzType,
)


@dataclass(frozen=True, slots=True)
class OwnQuery:
    """A query over an own table (SQL over `t`), its parameters, pushdown and further calls."""

    name: str
    sql: str
    columns: tuple[str, ...]
    parameters: tuple[tuple[str, str, Any], ...] = ()  # (name, type, default)
    pushdown: tuple[dict, ...] = ()
    calls: tuple[tuple[dict[str, str], dict[str, Any]], ...] = ()  # (query string, values)

    def pod_parameters(self) -> list[dict]:
        """The pod.json parameters (defaults in their JSON form)."""
        return [
            param(n, t, d.isoformat() if hasattr(d, "isoformat") else d)
            for n, t, d in self.parameters
        ]

    def values(self, given: Mapping[str, Any] = MappingProxyType({})) -> dict[str, tuple[str, Any]]:
        """Each parameter's (type, value) for the reference: the defaults, then `given`."""
        return {n: (t, given.get(n, d)) for n, t, d in self.parameters}


def _identity(source_id: int, field_id: int, name: str) -> PartitionField:
    return PartitionField(source_id, field_id, IdentityTransform(), name)


def _count() -> OwnQuery:
    return OwnQuery("count", "SELECT count(*) AS n FROM t", ("n",))


# --- identity-partition columns the data files lack (Hive layout, add_files style) ----------------


def missing_partition_column(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """Files under region=…/year=… folders without those columns; the manifest holds them."""
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "region", StringType()),
        NestedField(3, "year", IntegerType()),
        NestedField(4, "amount", DecimalType(10, 2)),
    )
    spec = PartitionSpec(_identity(2, 1000, "region"), _identity(3, 1001, "year"))
    kit = KitTable(catalog, "own.missing_partition_column", schema, spec=spec)
    hive = ("region", "year")
    with kit.commit() as c:
        emea = c.data(
            [{"id": i, "amount": Decimal(f"{i}.25")} for i in (1, 2, 3)],
            partition={"region": "EMEA", "year": 2023},
            omit=hive,
            folder="data/region=EMEA/year=2023",
        )
        c.data(
            [{"id": i, "amount": Decimal(f"{i}.50")} for i in (4, 5)],
            partition={"region": "AMER", "year": 2023},
            omit=hive,
            folder="data/region=AMER/year=2023",
        )
        c.data(
            [{"id": i, "amount": None} for i in (6, 7)],
            partition={"region": "EMEA", "year": 2024},
            omit=hive,
            folder="data/region=EMEA/year=2024",
        )
    with kit.commit() as c:  # a file written with the columns, beside them
        c.data(
            [{"id": i, "region": "APAC", "year": 2024, "amount": Decimal("9.99")} for i in (8, 9)]
        )
    with kit.commit(operation=Operation.DELETE) as c:
        c.position_delete([(emea, 1)])  # id 2
    by_region = {"op": "eq", "column": "region", "value": ref("region")}
    queries = [
        _count(),
        OwnQuery(
            "group_by",
            "SELECT region, year, count(*) AS n, CAST(sum(amount) AS VARCHAR) AS total"
            " FROM t GROUP BY ALL ORDER BY ALL",
            ("region", "year", "n", "total"),
        ),
        OwnQuery(
            "filter_partition_column",
            "SELECT id, year FROM t WHERE region = $region ORDER BY id",
            ("id", "year"),
            parameters=(("region", "string", "EMEA"),),
            pushdown=(by_region,),
            calls=(
                ({"region": "AMER"}, {"region": "AMER"}),
                ({"region": "APAC"}, {"region": "APAC"}),
            ),
        ),
        OwnQuery(
            "filter_both_partition_columns",
            "SELECT id, CAST(amount AS VARCHAR) AS amount FROM t"
            " WHERE region = $region AND year = $year ORDER BY id",
            ("id", "amount"),
            parameters=(("region", "string", "EMEA"), ("year", "integer", 2024)),
            pushdown=(by_region, {"op": "eq", "column": "year", "value": ref("year")}),
            calls=(({"year": "2023"}, {"year": 2023}),),
        ),
        OwnQuery(
            "all_rows",
            "SELECT id, region, year, CAST(amount AS VARCHAR) AS amount FROM t ORDER BY id",
            ("id", "region", "year", "amount"),
        ),
    ]
    return kit, queries


# --- equality deletes: NULL keys, several key sets, the same sequence number, renamed keys --------


def equality_deletes_null_keys(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """Equality deletes on `k` and on (`a`, `b`) with NULL keys; a data file committed with a
    delete (same sequence number: untouched); position and equality deletes on one file; then
    `k` renamed, `a` promoted to long and `c` added, and deletes on them matched by field id."""
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "k", StringType()),
        NestedField(3, "a", IntegerType()),
        NestedField(4, "b", StringType()),
    )
    kit = KitTable(catalog, "own.eq_deletes_null_keys", schema)
    first = [
        (1, None, 1, "p"),
        (2, "x", 2, "q"),
        (3, "y", 1, None),
        (4, "z", None, "q"),
        (5, "w", 3, "r"),
        (6, None, None, None),
        (7, "v", 4, "s"),
        (8, "z", 5, "t"),
    ]
    rows = [dict(zip(("id", "k", "a", "b"), r, strict=True)) for r in first]
    with kit.commit() as c:
        older = c.data(rows)
    with kit.commit(operation=Operation.OVERWRITE) as c:  # a Flink-style upsert: insert and delete
        c.data([{"id": 10, "k": None, "a": 9, "b": "n"}, {"id": 11, "k": "x", "a": 1, "b": None}])
        c.equality_delete(["k"], [{"k": None}, {"k": "x"}])  # 1, 2, 6; not 10, 11
    with kit.commit(operation=Operation.DELETE) as c:
        c.equality_delete(["a", "b"], [{"a": 1, "b": None}, {"a": None, "b": "q"}])  # 3, 4, 11
        c.position_delete([(older, 4), (older, 3)])  # 5 (and 4 again)
    kit.evolve(
        schema=Schema(
            NestedField(1, "id", LongType()),
            NestedField(2, "key", StringType()),  # renamed from k
            NestedField(3, "a", LongType()),  # promoted from int
            NestedField(4, "b", StringType()),
            NestedField(5, "c", IntegerType()),  # added: NULL in the older files
        )
    )
    with kit.commit() as c:
        c.data(
            [
                {"id": 20, "key": "z", "a": 7, "b": "u", "c": 70},
                {"id": 21, "key": "v", "a": 8, "c": None},
            ]
        )
    with kit.commit(operation=Operation.DELETE) as c:
        c.equality_delete(["key"], [{"key": "v"}])  # 7 and 21
        c.equality_delete(["c", "key"], [{"c": None, "key": "z"}])  # 8, not 20 (c = 70)
        c.equality_delete(["a"], [{"a": 9}])  # 10, an int in its file, by the long key
    queries = [
        _count(),
        OwnQuery(
            "group_by",
            "SELECT key, count(*) AS n, sum(id) AS s, count(c) AS nc FROM t GROUP BY 1 ORDER BY 1",
            ("key", "n", "s", "nc"),
        ),
        OwnQuery(
            "filter_projection",
            "SELECT id, key, a, b FROM t WHERE a >= $min_a ORDER BY id",
            ("id", "key", "a", "b"),
            parameters=(("min_a", "integer", 1),),
            pushdown=({"op": "ge", "column": "a", "value": ref("min_a")},),
            calls=(({"min_a": "7"}, {"min_a": 7}),),
        ),
        OwnQuery(
            "all_rows", "SELECT id, key, a, b, c FROM t ORDER BY id", ("id", "key", "a", "b", "c")
        ),
    ]
    return kit, queries


# --- partition evolution with deletes -------------------------------------------------------------


def partition_evolution_deletes(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """Unpartitioned, then by region, then by region and n: partitioned equality deletes apply
    only within their own spec and partition, global ones (unpartitioned spec) everywhere."""
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "region", StringType()),
        NestedField(3, "n", IntegerType()),
    )
    kit = KitTable(catalog, "own.partition_evolution_deletes", schema)
    regions = ["EMEA", "AMER", "EMEA", "AMER", "EMEA", "APAC"]
    with kit.commit() as c:  # spec 0: unpartitioned
        c.data([{"id": i, "region": regions[i - 1], "n": i % 3} for i in range(1, 7)])
    kit.evolve(spec=PartitionSpec(_identity(2, 1000, "region")))
    with kit.commit() as c:  # spec 1
        c.data([{"id": i, "region": "EMEA", "n": i % 3} for i in (7, 8, 9)])
        amer = c.data([{"id": i, "region": "AMER", "n": i % 3} for i in (10, 11, 12)])
    with kit.commit(operation=Operation.DELETE) as c:
        # Spec 1, EMEA, n = 1: deletes 7 only, not 1 or 4 (spec 0) nor AMER's 10.
        c.equality_delete(["n"], [{"n": 1}], spec_id=1, partition={"region": "EMEA"})
    kit.evolve(spec=PartitionSpec(_identity(2, 1000, "region"), _identity(3, 1001, "n")))
    with kit.commit() as c:  # spec 2
        c.data([{"id": i, "region": "EMEA", "n": 1} for i in (13, 14, 15)])
        c.data([{"id": i, "region": "EMEA", "n": 2} for i in (16, 17)])
    with kit.commit(operation=Operation.DELETE) as c:
        c.equality_delete(["id"], [{"id": 2}, {"id": 8}, {"id": 13}], spec_id=0)  # global
        # Spec 1, EMEA, n = 2: deletes 8 (again); spec 2's 16 and 17 stay.
        c.equality_delete(["n"], [{"n": 2}], spec_id=1, partition={"region": "EMEA"})
        # Spec 2, (EMEA, 1): deletes 14 only.
        c.equality_delete(
            ["id"], [{"id": 14}, {"id": 1}], spec_id=2, partition={"region": "EMEA", "n": 1}
        )
        c.position_delete([(amer, 0)])  # 10
    queries = [
        _count(),
        OwnQuery(
            "group_by",
            "SELECT region, count(*) AS n, sum(id) AS s, list(id ORDER BY id) AS ids"
            " FROM t GROUP BY 1 ORDER BY 1",
            ("region", "n", "s", "ids"),
        ),
        OwnQuery(
            "filter_partition_column",
            "SELECT id, n FROM t WHERE region = $region ORDER BY id",
            ("id", "n"),
            parameters=(("region", "string", "EMEA"),),
            pushdown=({"op": "eq", "column": "region", "value": ref("region")},),
            calls=(({"region": "AMER"}, {"region": "AMER"}),),
        ),
        OwnQuery("all_rows", "SELECT id, region, n FROM t ORDER BY id", ("id", "region", "n")),
    ]
    return kit, queries


# --- v3: initial defaults and date promoted to timestamp ------------------------------------------


def v3_defaults(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """A v3 table whose first file predates two columns with an `initial-default` and the
    promotion of `d` from date to timestamp."""
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "d", DateType()),
        NestedField(3, "name", StringType()),
    )
    kit = KitTable(catalog, "own.v3_defaults", schema)
    with kit.commit() as c:
        c.data([{"id": i, "d": dt.date(2024, 1, i), "name": f"n{i}"} for i in (1, 2, 3)])
    kit.evolve(
        schema=Schema(
            NestedField(1, "id", LongType()),
            NestedField(2, "d", TimestampType()),  # v3: date -> timestamp
            NestedField(3, "name", StringType()),
            NestedField(4, "status", StringType(), initial_default="new", write_default="new"),
            NestedField(5, "score", IntegerType(), initial_default=10, write_default=10),
        )
    )
    with kit.commit() as c:
        c.data(
            [
                {
                    "id": 4,
                    "d": dt.datetime(2024, 2, 1, 12, 30),
                    "name": "n4",
                    "status": "done",
                    "score": 3,
                },
                {"id": 5, "d": None, "name": "n5", "status": None, "score": 10},
            ]
        )
    kit.upgrade_to_v3()  # last: pyiceberg writes no v3 metadata, so the kit does, once
    queries = [
        _count(),
        OwnQuery(
            "group_by",
            "SELECT status, count(*) AS n, sum(score) AS s FROM t GROUP BY 1 ORDER BY 1",
            ("status", "n", "s"),
        ),
        OwnQuery(
            "filter_default",
            "SELECT id, status FROM t WHERE score = $score ORDER BY id",
            ("id", "status"),
            parameters=(("score", "integer", 10),),
            pushdown=({"op": "eq", "column": "score", "value": ref("score")},),
            calls=(({"score": "3"}, {"score": 3}),),
        ),
        OwnQuery(
            "filter_promoted",
            "SELECT id, d FROM t WHERE d >= $since ORDER BY id",
            ("id", "d"),
            parameters=(("since", "timestamp", dt.datetime(2024, 1, 2)),),
            pushdown=({"op": "ge", "column": "d", "value": ref("since")},),
        ),
        OwnQuery(
            "all_rows",
            "SELECT id, d, name, status, score FROM t ORDER BY id",
            ("id", "d", "name", "status", "score"),
        ),
    ]
    return kit, queries


# --- v3: nanosecond timestamps --------------------------------------------------------------------

# 2024-01-01T12:00:00.123456789 and friends, as nanoseconds since the epoch: the last three
# digits are what a microsecond reader would lose.
_NOON_NS = 1_704_110_400_000_000_000


def v3_nanos(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """A v3 table of `timestamp_ns` and `timestamptz_ns` columns (Spark 4 and Flink write them),
    values that differ only below the microsecond among them."""
    stand_in = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "ts", TimestampType()),
        NestedField(3, "tz", TimestamptzType()),
    )
    # pyiceberg 0.12 cannot read Parquet statistics of nanoseconds without pandas: the files
    # carry counts only, so the bounds (and pruning on them) are not part of this case.
    counts_only = {f"write.metadata.metrics.column.{c}": "counts" for c in ("ts", "tz")}
    kit = KitTable(catalog, "own.v3_nanos", stand_in, properties=counts_only)
    kit.write_v3_types(
        Schema(
            NestedField(1, "id", LongType()),
            NestedField(2, "ts", TimestampNanoType()),
            NestedField(3, "tz", TimestamptzNanoType()),
        )
    )
    offsets = (123_456_789, 123_456_000, 123_456_001, 999_999_999, 0)
    with kit.commit() as c:
        c.data(
            [
                {"id": i, "ts": _NOON_NS + ns, "tz": _NOON_NS + ns + 3_600 * 10**9}
                for i, ns in enumerate(offsets, start=1)
            ]
            + [{"id": 6, "ts": None, "tz": None}]
        )
    kit.upgrade_to_v3()
    queries = [
        _count(),
        OwnQuery(
            "group_by",
            "SELECT date_trunc('second', ts) AS s, count(*) AS n, max(tz) AS latest "
            "FROM t GROUP BY 1 ORDER BY 1",
            ("s", "n", "latest"),
        ),
        OwnQuery(
            "filter_nanos",
            "SELECT id, ts FROM t WHERE ts > $since ORDER BY id",
            ("id", "ts"),
            parameters=(("since", "timestamp", dt.datetime(2024, 1, 1, 12, 0, 0, 123456)),),
            pushdown=({"op": "gt", "column": "ts", "value": ref("since")},),
        ),
        OwnQuery("all_rows", "SELECT id, ts, tz FROM t ORDER BY id", ("id", "ts", "tz")),
    ]
    return kit, queries


# --- type promotion: int -> long, float -> double, decimal widened --------------------------------


def type_promotion(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """Files (and their column bounds and partition values) written under int, float and
    decimal(9,2), read after promotion to long, double and decimal(18,2); a position delete in
    an older file. (No equality deletes here, so promotion is checked alone; one keyed on a
    promoted column is in eq_deletes_null_keys.)"""
    schema = Schema(
        NestedField(1, "id", IntegerType()),
        NestedField(2, "part", IntegerType()),
        NestedField(3, "qty", IntegerType()),
        NestedField(4, "price", FloatType()),
        NestedField(5, "amount", DecimalType(9, 2)),
    )
    spec = PartitionSpec(_identity(2, 1000, "part"))
    kit = KitTable(catalog, "own.type_promotion", schema, spec=spec)
    with kit.commit() as c:
        old_part_1, _ = (
            c.data(
                [
                    {
                        "id": i,
                        "part": part,
                        "qty": i * 10,
                        "price": i + 0.1,
                        "amount": Decimal(f"{i}.05"),
                    }
                    for i in range(part * 10, part * 10 + 3)
                ]
            )
            for part in (1, 2)
        )
    kit.evolve(
        schema=Schema(
            NestedField(1, "id", LongType()),
            NestedField(2, "part", LongType()),
            NestedField(3, "qty", LongType()),
            NestedField(4, "price", DoubleType()),
            NestedField(5, "amount", DecimalType(18, 2)),
        )
    )
    with kit.commit() as c:
        c.data(
            [
                {
                    "id": 30,
                    "part": 1,
                    "qty": 5_000_000_000,
                    "price": 0.1,
                    "amount": Decimal("1234567890123.45"),
                },
                {"id": 31, "part": 1, "qty": 7, "price": None, "amount": Decimal("-0.01")},
            ]
        )
    with kit.commit(operation=Operation.DELETE) as c:
        c.position_delete([(old_part_1, 1)])  # 11, in a file of the older types
    queries = [
        _count(),
        OwnQuery(
            "group_by",
            "SELECT part, count(*) AS n, sum(qty) AS q, sum(price) AS p,"
            " CAST(sum(amount) AS VARCHAR) AS a FROM t GROUP BY 1 ORDER BY 1",
            ("part", "n", "q", "p", "a"),
        ),
        OwnQuery(
            "filter_promoted",
            "SELECT id, qty, price, CAST(amount AS VARCHAR) AS amount FROM t"
            " WHERE qty > $min_qty AND part = $part ORDER BY id",
            ("id", "qty", "price", "amount"),
            parameters=(("min_qty", "integer", 100), ("part", "integer", 1)),
            pushdown=(
                {"op": "gt", "column": "qty", "value": ref("min_qty")},
                {"op": "eq", "column": "part", "value": ref("part")},
            ),
            calls=(({"min_qty": "4000000000"}, {"min_qty": 4_000_000_000}),),
        ),
        OwnQuery(
            "all_rows",
            "SELECT id, part, qty, price, CAST(amount AS VARCHAR) AS amount FROM t ORDER BY id",
            ("id", "part", "qty", "price", "amount"),
        ),
    ]
    return kit, queries


# --- files without field ids, read by the name mapping --------------------------------------------


def name_mapping(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """Files written without Parquet field ids (a migrated table), one naming a column by an
    older name the mapping lists; a position delete on it."""
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "customer", StringType()),
        NestedField(3, "total", DecimalType(10, 2)),
        NestedField(4, "day", DateType()),
    )
    mapping = [
        {"field-id": 1, "names": ["id"]},
        {"field-id": 2, "names": ["customer", "cust_name"]},
        {"field-id": 3, "names": ["total"]},
        {"field-id": 4, "names": ["day"]},
    ]
    properties = {"schema.name-mapping.default": json.dumps(mapping)}
    kit = KitTable(catalog, "own.name_mapping", schema, properties=properties)
    with kit.commit() as c:
        old = c.data(
            [
                {
                    "id": i,
                    "customer": f"c{i % 2}",
                    "total": Decimal(f"{i}0.10"),
                    "day": dt.date(2024, 3, i),
                }
                for i in (1, 2, 3, 4)
            ],
            field_ids=False,
            names={"customer": "cust_name"},
        )
        c.data(
            [{"id": 5, "customer": "c1", "total": None, "day": dt.date(2024, 4, 1)}],
            field_ids=False,
        )
    with kit.commit(operation=Operation.DELETE) as c:
        c.position_delete([(old, 0)])
    queries = [
        _count(),
        OwnQuery(
            "group_by",
            "SELECT customer, count(*) AS n, CAST(sum(total) AS VARCHAR) AS s"
            " FROM t GROUP BY 1 ORDER BY 1",
            ("customer", "n", "s"),
        ),
        OwnQuery(
            "filter_projection",
            "SELECT id, customer, day FROM t WHERE day >= $since ORDER BY id",
            ("id", "customer", "day"),
            parameters=(("since", "date", dt.date(2024, 3, 3)),),
            pushdown=({"op": "ge", "column": "day", "value": ref("since")},),
        ),
        OwnQuery(
            "all_rows",
            "SELECT id, customer, CAST(total AS VARCHAR) AS total, day FROM t ORDER BY id",
            ("id", "customer", "total", "day"),
        ),
    ]
    return kit, queries


# --- nested columns -------------------------------------------------------------------------------


def nested_columns(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """A struct, a list and a map, selected whole and in parts and filtered on; rows deleted by
    position. (No equality deletes, so nested reading is checked alone.)"""
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(
            2,
            "info",
            StructType(NestedField(5, "city", StringType()), NestedField(6, "zip", IntegerType())),
        ),
        NestedField(3, "tags", ListType(7, StringType(), element_required=False)),
        NestedField(4, "attrs", MapType(8, StringType(), 9, LongType(), value_required=False)),
    )
    kit = KitTable(catalog, "own.nested_columns", schema)
    rows = [
        {
            "id": 1,
            "info": {"city": "Paris", "zip": 75001},
            "tags": ["red", "blue"],
            "attrs": [("a", 1), ("b", 2)],
        },
        {"id": 2, "info": {"city": "Lyon", "zip": None}, "tags": [], "attrs": [("a", 5)]},
        {"id": 3, "info": None, "tags": None, "attrs": None},
        {
            "id": 4,
            "info": {"city": "Paris", "zip": 75002},
            "tags": ["red", None],
            "attrs": [("c", None)],
        },
    ]
    more = [
        {"id": 5, "info": {"city": "Oslo", "zip": 150}, "tags": ["green"], "attrs": [("a", 9)]},
        {"id": 6, "info": {"city": "Paris", "zip": 75003}, "tags": ["red"], "attrs": []},
    ]
    with kit.commit() as c:
        first = c.data(rows)
        second = c.data(more)
    with kit.commit(operation=Operation.DELETE) as c:
        c.position_delete([(first, 1), (second, 1)])  # 2 and 6
    queries = [
        _count(),
        OwnQuery(
            "group_by_struct_field",
            "SELECT info.city AS city, count(*) AS n, sum(len(tags)) AS tags"
            " FROM t GROUP BY 1 ORDER BY 1",
            ("city", "n", "tags"),
        ),
        OwnQuery(
            "filter_struct_field",
            "SELECT id, info.zip AS zip, tags FROM t WHERE info.city = $city ORDER BY id",
            ("id", "zip", "tags"),
            parameters=(("city", "string", "Paris"),),
            pushdown=({"op": "eq", "column": "info.city", "value": ref("city")},),
            calls=(({"city": "Oslo"}, {"city": "Oslo"}),),
        ),
        OwnQuery(
            "filter_list_and_map",
            "SELECT id, attrs['a'] AS a FROM t WHERE list_contains(tags, 'red') ORDER BY id",
            ("id", "a"),
        ),
        OwnQuery(
            "all_rows",
            "SELECT id, info, tags, attrs FROM t ORDER BY id",
            ("id", "info", "tags", "attrs"),
        ),
    ]
    return kit, queries


def nested_with_equality_deletes(catalog: Catalog) -> tuple[KitTable, list[OwnQuery]]:
    """A struct column sends every file through pyiceberg's reader; equality deletes (NULL
    keys, a same-sequence upsert, a position delete beside them) then apply to its rows."""
    schema = Schema(
        NestedField(1, "id", LongType()),
        NestedField(2, "k", StringType()),
        NestedField(3, "info", StructType(NestedField(4, "city", StringType()))),
    )
    kit = KitTable(catalog, "own.nested_with_equality_deletes", schema)

    def row(i, k, city):
        return {"id": i, "k": k, "info": {"city": city}}

    with kit.commit() as c:
        older = c.data([row(1, None, "Paris"), row(2, "x", "Lyon"), row(3, "y", "Oslo")])
    with kit.commit(operation=Operation.OVERWRITE) as c:  # upsert: the new row survives
        c.data([row(4, "x", "Rome"), row(5, None, None)])
        c.equality_delete(["k"], [{"k": None}, {"k": "x"}])  # 1, 2; not 4, 5
    with kit.commit(operation=Operation.DELETE) as c:
        c.position_delete([(older, 2)])  # 3
    queries = [
        _count(),
        OwnQuery(
            "all_rows", "SELECT id, k, info.city AS city FROM t ORDER BY id", ("id", "k", "city")
        ),
    ]
    return kit, queries


BUILDERS: dict[str, Callable[[Catalog], tuple[KitTable, list[OwnQuery]]]] = {
    "missing_partition_column": missing_partition_column,
    "eq_deletes_null_keys": equality_deletes_null_keys,
    "partition_evolution_deletes": partition_evolution_deletes,
    "v3_defaults": v3_defaults,
    "v3_nanos": v3_nanos,
    "type_promotion": type_promotion,
    "name_mapping": name_mapping,
    "nested_columns": nested_columns,
    "nested_with_equality_deletes": nested_with_equality_deletes,
}
