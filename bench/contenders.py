"""The contenders: each answers one compiled query and returns the number of rows it got.

- pod: the compiled pod over HTTP (uvicorn subprocess), as a client calls it;
- duckdb: DuckDB in-process over exactly the current snapshot's data files (the practical
  limit: no catalog round trip, no HTTP, no serialization to JSON);
- duckdb pruned: the same over only the files the pod reads (its pushdown planned by
  pyiceberg): what is left of the pod's time is its per-request overhead (timed in bursts,
  run.measure_overhead, like the next two and the floors);
- duckdb pruned, footers cached: the same with DuckDB's Parquet metadata cache on, as the pod
  runs it: the pod's overhead without the footers it no longer parses per request;
- naive: pyiceberg reads the whole table into DuckDB, then the query (the original dataPi);
- roapi: ROAPI serving the same Parquet files, the query sent as SQL over HTTP;
- pod /healthz, pod /readyz: the pod's routes that query nothing (the floor of its overhead).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from queries import Compiled
from servers import HttpClient, Request, Server

HTTP_TIMEOUT = 600.0
# The floor contenders (FloorContender), by name: the pod routes they call.
FLOORS = {"pod /healthz": "/healthz", "pod /readyz": "/readyz"}
# DuckDB settings the pod runs with that change how fast the same query reads the same files
# (datapic_runtime/database.py): the `duckdb pruned, footers cached` contender uses them.
POD_READ_SETTINGS = ("parquet_metadata_cache = true",)
CACHED_FOOTERS = "duckdb pruned, footers cached"


class Contender(Protocol):
    """Something that answers a compiled query: `run` fetches the answer as it arrives (what
    the bench times), `rows` counts its rows (after the clock stops)."""

    name: str

    def run(self) -> object: ...

    def rows(self, answer: object) -> int: ...


def _body_of(name: str, status: int, body: bytes) -> bytes:
    if status != 200:
        raise RuntimeError(f"{name} answered {status}: {body[:300]!r}")
    return body


class PodContender:
    """GET /get_data on a running pod, over one keep-alive connection."""

    def __init__(self, name: str, server: Server, compiled: Compiled) -> None:
        self.name = name
        self.server = server
        self.request = Request(method="GET", path=compiled.path)
        self.client = HttpClient(server.port, HTTP_TIMEOUT)

    def run(self) -> bytes:
        """One request, to the last byte of its JSON body."""
        return _body_of(self.name, *self.client.send(self.request))

    def rows(self, answer: bytes) -> int:
        """The rows of the JSON array."""
        return len(json.loads(answer))


class FloorContender:
    """A route of a running pod that queries nothing, over one keep-alive connection: what
    HTTP alone costs (/healthz, answered on the event loop) and HTTP plus the worker-thread
    hop every /get_data makes (/readyz: a thread, the table's freshness checked, no query).
    The pod's per-request overhead cannot go below these; they answer no rows (0)."""

    def __init__(self, name: str, server: Server, path: str) -> None:
        self.name = name
        self.server = server
        self.request = Request(method="GET", path=path)
        self.client = HttpClient(server.port, HTTP_TIMEOUT)

    def run(self) -> bytes:
        """One request, to the last byte of its (small) body."""
        return _body_of(self.name, *self.client.send(self.request))

    def rows(self, answer: bytes) -> int:
        """No rows: these routes answer none."""
        return 0


class RoapiContender:
    """POST /api/sql to ROAPI with the pod's SQL, values written in as literals."""

    def __init__(self, server: Server, compiled: Compiled, table: str) -> None:
        self.name = "roapi"
        self.server = server
        self.request = Request(
            method="POST", path="/api/sql", body=compiled.literal_sql(table).encode()
        )
        self.client = HttpClient(server.port, HTTP_TIMEOUT)

    def run(self) -> bytes:
        """One request, to the last byte of its JSON body."""
        return _body_of(self.name, *self.client.send(self.request))

    def rows(self, answer: bytes) -> int:
        """The rows of the JSON array."""
        return len(json.loads(answer))


@dataclass(frozen=True, slots=True)
class DuckDBDirect:
    """The compiled SQL over a DuckDB view of the snapshot's data files, values bound."""

    name: str
    connection: duckdb.DuckDBPyConnection
    sql: str
    values: dict

    @classmethod
    def over(
        cls,
        files: list[str],
        compiled: Compiled,
        name: str = "duckdb",
        settings: Sequence[str] = (),
    ) -> DuckDBDirect:
        """A connection whose `source` view reads exactly `files` (hive paths not interpreted:
        the region column is in the files, as Iceberg writes it), after the SET `settings`."""
        connection = duckdb.connect()
        for setting in settings:
            connection.execute(f"SET {setting}")
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        connection.execute(
            f"CREATE VIEW source AS SELECT * FROM read_parquet([{listed}], hive_partitioning=false)"
        )
        return cls(name, connection, compiled.sql, compiled.duckdb_values())

    def run(self) -> pa.Table:
        """One query, its answer fetched as Arrow."""
        return self.connection.sql(self.sql, params=self.values).to_arrow_table()

    def rows(self, answer: pa.Table) -> int:
        """The rows of the Arrow table."""
        return answer.num_rows

    def answer(self) -> list[dict]:
        """The whole answer, row by row."""
        return self.connection.sql(self.sql, params=self.values).to_arrow_table().to_pylist()


@dataclass(frozen=True, slots=True)
class Naive:
    """Load the table, read all of it with pyiceberg into DuckDB, run the compiled SQL."""

    name: str
    catalog: Catalog
    identifier: str
    sql: str
    values: dict

    @classmethod
    def over(cls, catalog: Catalog, identifier: str, compiled: Compiled) -> Naive:
        """The naive approach for `compiled` over the table `identifier`."""
        return cls("naive", catalog, identifier, compiled.sql, compiled.duckdb_values())

    def run(self) -> pa.Table:
        """One query from scratch, as a process that keeps nothing between requests."""
        table = self.catalog.load_table(self.identifier)
        connection = table.scan().to_duckdb("source")
        try:
            return connection.sql(self.sql, params=self.values).to_arrow_table()
        finally:
            connection.close()

    def rows(self, answer: pa.Table) -> int:
        """The rows of the Arrow table."""
        return answer.num_rows


def answers_differ(pod: PodContender, reference: DuckDBDirect) -> str | None:
    """How the pod's answer differs from DuckDB's, value by value, in any row order (None: it
    does not). Numbers match to 1e-9 relative (the pod's JSON may write a decimal as a float);
    the rest as text. Row counts alone cannot tell whether deletes were applied: deleting 1 %
    of the rows changes the sums, not the groups."""
    status, body = pod.client.send(pod.request)
    if status != 200:
        return f"{pod.name} answered {status}: {body[:300]!r}"
    got, wanted = json.loads(body), reference.answer()
    if len(got) != len(wanted):
        return f"{pod.name} answered {len(got)} rows, {reference.name} {len(wanted)}"
    numeric = {k for k, v in (wanted[0] if wanted else {}).items() if _is_number(v)}

    def key(row: dict) -> tuple:
        return tuple(str(row.get(k)) for k in sorted(row) if k not in numeric)

    for mine, theirs in zip(sorted(got, key=key), sorted(wanted, key=key), strict=True):
        if set(mine) != set(theirs):
            return (
                f"{pod.name} answered the columns {sorted(mine)}, {reference.name} {sorted(theirs)}"
            )
        for name, value in theirs.items():
            if not _same(mine[name], value, name in numeric):
                return f"{name}: {pod.name} {mine[name]!r}, {reference.name} {value!r} in {theirs}"
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _same(mine: object, theirs: object, numeric: bool) -> bool:
    if mine is None or theirs is None:
        return mine is None and theirs is None
    if numeric:
        return math.isclose(float(mine), float(theirs), rel_tol=1e-9, abs_tol=1e-9)
    return str(mine) == str(theirs)


def snapshot_files(catalog: Catalog, identifier: str) -> list[str]:
    """Local paths of the data files of the table's current snapshot."""
    table = catalog.load_table(identifier)
    return [_local_path(task.file.file_path) for task in table.scan().plan_files()]


def pruned_files(catalog: Catalog, identifier: str, compiled: Compiled) -> list[str]:
    """Local paths of the data files the pod reads for `compiled`'s values: the current
    snapshot's files that pyiceberg's planning keeps under the pod's pushdown (pod.json)."""
    table = catalog.load_table(identifier)
    tasks = table.scan(row_filter=compiled.row_filter()).plan_files()
    return [_local_path(task.file.file_path) for task in tasks]


def _local_path(location: str) -> str:
    parsed = urlparse(location)
    return parsed.path if parsed.scheme == "file" else location


def data_directory(files: list[str]) -> Path:
    """The one directory holding all `files` (ROAPI serves a directory): their common parent
    `data/` folder of the staging table that wrote them."""
    parents = {Path(f).parents[2] for f in files}  # data/region=…/order_date_month=…/file
    if len(parents) != 1:
        raise RuntimeError(f"the data files are in {len(parents)} trees, expected one")
    return parents.pop()
