"""The reference suite's harness (tests/reference/): a query with its agreed answer, its pod,
each answer format decoded by an independent reader, and the comparison with the answer.

Answers are rows of values in the normal form of ../shared/iceberg-tables/normalize.py (its
rules are copied in `norm_value`, which tests/reference/test_shared_tables.py checks against the
original): decimals, dates and timestamps as text, timestamptz in UTC with `+00:00`, floats to 9
significant digits, binary as hex. A decoded value is compared with its answer by `same`, which
knows each format's forms of a value (the pod contract: JSON's text for decimals and temporals,
CSV's text for everything, Arrow's own types) and nothing else.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import datetime
import decimal
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from podkit import make_pod, pod_json, serving, sql_literal
from sqlglot import exp

FORMATS = ("json", "ndjson", "csv", "arrow", "parquet")


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """One query over one table and its agreed answer. The SQL reads the table as `t`, as
    answers.json writes it; $name placeholders are the pod's parameters (pod.json form)."""

    table: str  # namespace.table
    name: str
    sql: str
    columns: tuple[str, ...]
    expected: tuple[tuple[Any, ...], ...]  # normalised rows, in the query's order
    read_columns: tuple[str, ...]
    parameters: tuple[dict, ...] = ()
    pushdown: tuple[dict, ...] = ()
    # Further calls besides the one with no arguments (the defaults, answered by `expected`):
    # each a query string and the rows it must answer.
    calls: tuple[tuple[Mapping[str, str], tuple[tuple[Any, ...], ...]], ...] = field(default=())

    @property
    def id(self) -> str:
        """The test id: table/query."""
        return f"{self.table.split('.')[-1]}/{self.name}"

    def pod_json(self) -> dict:
        """The pod answering this query: its SQL reads the relation `source`."""
        name = re.sub(r"[^a-z0-9-]+", "-", f"ref-{self.table}-{self.name}".lower()).strip("-")
        return pod_json(
            name,
            self.table,
            re.sub(r"\bFROM t\b", "FROM source", self.sql),
            columns=list(self.columns),
            read_columns=list(self.read_columns),
            parameters=list(self.parameters),
            pushdown=list(self.pushdown),
        )


def columns_read(sql: str, table_columns: list[str]) -> tuple[str, ...]:
    """The table's columns that `sql` names (what pod.json's `read_columns` lists), top-level
    names for nested fields (`s.city` reads `s`).

    >>> columns_read("SELECT CAST(d AS VARCHAR) AS d, sum(i) AS s FROM t", ["i", "d", "x"])
    ('d', 'i')
    >>> columns_read("SELECT s.city FROM t WHERE s.zip = $zip", ["s", "x"])
    ('s',)
    """
    tree = sqlglot.parse_one(sql.replace("$", ":"), dialect="duckdb")
    named = set()
    for column in tree.find_all(exp.Column):
        named.add(column.table or column.name)  # s.city parses as column city of "table" s
        named.add(column.name)
    lowered = {c.lower(): c for c in table_columns}
    return tuple(sorted(lowered[n.lower()] for n in named if n.lower() in lowered))


# --- normal form (the rules of ../shared/iceberg-tables/normalize.py) -------------------------


def norm_value(v: Any) -> Any:
    """A value in the answers' normal form (a copy of normalize.py's `norm_value`)."""
    if v is None or isinstance(v, bool | int):
        return v
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else float(f"{v:.9g}")
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.UTC).replace(tzinfo=None)
            return v.isoformat() + "+00:00"
        return v.isoformat()
    if isinstance(v, datetime.date | datetime.time):
        return v.isoformat()
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    if isinstance(v, list | tuple):
        return [norm_value(x) for x in v]
    if isinstance(v, dict):
        return {k: norm_value(x) for k, x in v.items()}
    return str(v)


def reference_rows(rows: pa.Table, sql: str, values: Mapping[str, tuple[str, Any]] = {}) -> list:
    """What `sql` answers over `rows` registered as `t` in a plain DuckDB (UTC), normalised;
    `values` gives each $parameter's (type, value), written into the SQL as a typed literal."""
    for name, (type_name, value) in values.items():
        sql = re.sub(rf"\${name}\b", sql_literal(type_name, value), sql)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("t", rows)
    relation = connection.sql(sql)
    # A HUGEINT (SUM of integers) reaches Arrow as decimal128(38, 0): an integer all the same.
    huge = [str(t) == "HUGEINT" for t in relation.types]
    # Read through Arrow, as the pod answers: a MAP is a list of (key, value) pairs.
    return [
        tuple(
            int(v) if h and v is not None else norm_value(v)
            for v, h in zip(row.values(), huge, strict=True)
        )
        for row in python_rows(relation.to_arrow_table())
    ]


def python_rows(table: pa.Table) -> list[dict[str, Any]]:
    """`table.to_pylist()`, with nanosecond timestamps as ISO text of nine fractional digits
    (Python's datetime stops at microseconds; pyarrow refuses to drop the rest)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns":
            nanos = table.column(i).cast(pa.int64()).to_pylist()
            texts = [_nanos_text(v, f.type.tz) for v in nanos]
            table = table.set_column(i, f.name, pa.array(texts, pa.string()))
    return table.to_pylist()


def _nanos_text(nanos: int | None, tz: str | None) -> str | None:
    if nanos is None:
        return None
    seconds, fraction = divmod(nanos, 10**9)
    text = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    shown = text.isoformat() + (f".{fraction:09d}" if fraction else "")
    return shown + ("+00:00" if tz else "")


# --- decoding each format ------------------------------------------------------------------------


def decode(format_name: str, body: bytes) -> tuple[list[str] | None, list[list[Any]]]:
    """The column names (None where the format carries none, as an empty JSON array) and rows
    of an answer, each read by a reader independent of the pod's encoders."""
    if format_name == "json":
        return _objects(json.loads(body))
    if format_name == "ndjson":
        text = body.decode("utf-8")
        assert text == "" or text.endswith("\n"), "every NDJSON line ends with a newline"
        return _objects([json.loads(line) for line in text.splitlines()])
    if format_name == "csv":
        lines = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
        return lines[0], lines[1:]
    if format_name == "arrow":
        table = pa.ipc.open_stream(body).read_all()
    else:
        table = pq.read_table(io.BytesIO(body))
    return table.column_names, [list(row.values()) for row in python_rows(table)]


def _objects(objects: list[dict]) -> tuple[list[str] | None, list[list[Any]]]:
    names = list(objects[0]) if objects else None
    assert all(list(o) == names for o in objects), "every object has the same keys in order"
    return names, [list(o.values()) for o in objects]


# --- comparing -----------------------------------------------------------------------------------


def same(got: Any, want: Any, text: bool = False) -> bool:
    """Whether a decoded value is the answer's value. `text`: `got` is a CSV field, where NULL
    is empty and every value is written as its JSON text form (nested values as JSON)."""
    if text and isinstance(got, str):
        got = _from_text(got, want)
    if want is None or isinstance(want, bool):
        return got is want
    if isinstance(want, int):
        if isinstance(got, decimal.Decimal) and got == got.to_integral_value():
            got = int(got)  # a HUGEINT (SUM of integers) reaches Arrow as decimal128(38, 0)
        return type(got) is int and got == want
    if isinstance(want, float):
        number = isinstance(got, int | float) and not isinstance(got, bool)
        return number and norm_value(float(got)) == want
    if isinstance(want, list):
        got = list(got) if isinstance(got, tuple) else got  # an Arrow map entry is a tuple
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(same(got[k], w) for k, w in want.items())
        )
    return not isinstance(got, float | int | list | dict) and norm_value(got) == want


def _from_text(field: str, want: Any) -> Any:
    """A CSV field read as the kind of value the answer holds (text stays text)."""
    if field == "":
        return None if want is None or want == "NaN" else field
    with contextlib.suppress(ValueError):
        if isinstance(want, bool):
            return {"true": True, "false": False}[field]
        if isinstance(want, int):
            return int(field)
        if isinstance(want, float):
            return float(field)
        if isinstance(want, list | dict):
            return json.loads(field)
    return field


def assert_answer(format_name: str, body: bytes, query: Query, expected: tuple) -> None:
    """The decoded answer has the query's columns and the `expected` rows, in order."""
    names, rows = decode(format_name, body)
    if names is not None:
        assert names == list(query.columns)
    text = format_name == "csv"
    shown = [[norm_value(v) for v in row] for row in rows]
    assert len(rows) == len(expected), (
        f"{len(rows)} rows, expected {len(expected)}",
        shown[:8],
        list(expected[:8]),
    )
    for i, (row, want) in enumerate(zip(rows, expected, strict=True)):
        agree = len(row) == len(want) and all(
            same(g, w, text) for g, w in zip(row, want, strict=True)
        )
        assert agree, f"row {i}: got {shown[i]}, expected {list(want)}"


# --- pods ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def query_pods(
    queries: list[Query], work: Path, env: Mapping[str, str]
) -> Iterator[dict[str, httpx.Client]]:
    """A running pod for each query (started side by side: starting one is mostly imports),
    by query id; stopped on exit."""
    with contextlib.ExitStack() as stack:

        def start(query: Query) -> tuple[str, httpx.Client]:
            pod_dir = make_pod(work, query.pod_json())
            log = work / f"{pod_dir.name}.log"
            return query.id, stack.enter_context(serving(pod_dir, env, log))

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            clients = dict(pool.map(start, queries))
        yield clients


class TablePods:
    """The pods of one table's queries at a time: asked for another table, it stops the pods
    it runs and starts that table's (tests are ordered by table, so each starts once)."""

    def __init__(self, work: Path, env: Mapping[str, str], queries: Mapping[str, list[Query]]):
        self._work, self._env, self._queries = work, env, queries
        self._table: str | None = None
        self._pods: dict[str, httpx.Client] = {}
        self._stack = contextlib.ExitStack()

    def client(self, query: Query) -> httpx.Client:
        """The running pod answering `query`."""
        if query.table != self._table:
            self.close()
            work = self._work / query.table
            work.mkdir()
            self._pods = self._stack.enter_context(
                query_pods(self._queries[query.table], work, self._env)
            )
            self._table = query.table
        return self._pods[query.id]

    def close(self) -> None:
        """Stop the pods running now."""
        self._stack.close()
        self._table, self._pods = None, {}


def check_query(pods: TablePods, query: Query, format_name: str) -> None:
    """The query's pod answers it in this format (and for each further call) with the agreed
    rows, and without an error status."""
    client = pods.client(query)
    for call, expected in (({}, query.expected), *query.calls):
        response = client.get("/get_data", params={**call, "format": format_name})
        assert response.status_code == 200, (call, response.status_code, response.text[:500])
        assert_answer(format_name, response.content, query, expected)
