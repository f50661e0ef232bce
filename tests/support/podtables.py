"""Helpers of the pod-over-real-servers tests: a table written through each backend's catalog,
a pod over it served by uvicorn, the independent reference, silent listeners, secret scans.

The reference answer is computed by a plain DuckDB over the Python rows the test wrote (never
read back through pyiceberg or the pod's code), turned into JSON form by podkit's rules.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import servers
from podkit import json_form, make_pod, param, pod_json, serving
from pyiceberg.schema import Schema
from pyiceberg.types import DateType, DoubleType, LongType, NestedField, StringType

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "day", DateType()),
    NestedField(3, "region", StringType()),
    NestedField(4, "amount", DoubleType()),
)
REGIONS = ("EMEA", "AMER", "APAC")
SQL = (
    "SELECT id, day, region, amount FROM source "
    "WHERE region = $region AND (amount IS NULL OR amount > $min_amount) ORDER BY id"
)
COLUMNS = ["id", "day", "region", "amount"]
# What a pod may be told to use besides pyiceberg's properties (none of them secret).
POD_TIMEOUT = "2"


def make_rows(count: int = 600, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    start = dt.date(2024, 1, 1)
    return [
        {
            "id": index,
            "day": None if index % 17 == 0 else start + dt.timedelta(days=rng.randrange(500)),
            "region": None if index % 23 == 0 else rng.choice(REGIONS),
            "amount": None if index % 9 == 0 else round(rng.uniform(-50, 500), 2),
        }
        for index in range(count)
    ]


ROWS = make_rows()


def reference(region: str, min_amount: float) -> list[dict]:
    """The pod's answer computed by a plain DuckDB over the rows as written."""
    data = pa.Table.from_pylist(ROWS, schema=SCHEMA.as_arrow())
    connection = duckdb.connect()
    connection.register("source", data)
    result = connection.execute(SQL, {"region": region, "min_amount": min_amount})
    names = [column[0] for column in result.description]
    return [{n: json_form(v) for n, v in zip(names, row, strict=True)} for row in result.fetchall()]


@dataclass(frozen=True)
class WrittenTable:
    backend: servers.Backend
    namespace: str
    identifier: str


def write_table(
    backend: servers.Backend, prefix: str = "pods", rows: int | None = None
) -> WrittenTable:
    """A fresh namespace and table written by the writer in two appends (two data files):
    ROWS, or only its first `rows` (for tables no answer is compared with)."""
    namespace = f"{prefix}{secrets.token_hex(4)}"
    identifier = f"{namespace}.sales"
    catalog = backend.catalog()
    catalog.create_namespace(namespace)
    table = catalog.create_table(identifier, schema=SCHEMA)
    arrow_schema = SCHEMA.as_arrow()
    data = ROWS[:rows] if rows is not None else ROWS
    half = len(data) // 2
    table.append(pa.Table.from_pylist(data[:half], schema=arrow_schema))
    table.append(pa.Table.from_pylist(data[half:], schema=arrow_schema))
    return WrittenTable(backend, namespace, identifier)


def pod_dir(tmp_path: Path, written: WrittenTable, name: str = "sales-by-region") -> Path:
    """A pod over the written table, reading from the backend's catalog by its name."""
    document = pod_json(
        name,
        written.identifier,
        SQL,
        COLUMNS,
        COLUMNS,
        parameters=[param("region", "string", "EMEA"), param("min_amount", "number", 0.0)],
    )
    document["source"]["catalog"] = written.backend.catalog_name
    return make_pod(tmp_path, document)


def pod_env(backend: servers.Backend, principal: str = "reader", **extra: str) -> dict[str, str]:
    """The environment a pod runs with: the backend's catalog variables and nothing secret of
    the test process (no PYICEBERG_* of its own, a private HOME)."""
    return {**backend.env(principal), "DATAPIC_CATALOG_TIMEOUT": POD_TIMEOUT, **extra}


@contextlib.contextmanager
def served(
    tmp_path: Path, written: WrittenTable, env: Mapping[str, str], name: str = "pod"
) -> Iterator[tuple[object, Path]]:
    """The pod under uvicorn; yields (httpx client, log path)."""
    directory = pod_dir(tmp_path / name, written)
    log = tmp_path / f"{name}.log"
    home = tmp_path / f"{name}-home"
    home.mkdir()
    with serving(directory, {"HOME": str(home), **env}, log) as client:
        yield client, log


@dataclass(frozen=True)
class RunningPod:
    client: object  # httpx.Client
    log: Path
    directory: Path


@contextlib.contextmanager
def served_many(
    tmp_path: Path, pods: Mapping[str, tuple[WrittenTable, Mapping[str, str]]]
) -> Iterator[dict[str, RunningPod]]:
    """Pods by name, each over a table with an environment, started side by side (each takes
    seconds to import its runtime); all stopped on exit."""
    with contextlib.ExitStack() as stack:

        def start(name: str) -> RunningPod:
            written, env = pods[name]
            directory = pod_dir(tmp_path / name, written)
            log = tmp_path / f"{name}.log"
            home = tmp_path / f"{name}-home"
            home.mkdir()
            manager = serving(directory, {"HOME": str(home), **env}, log)
            client = manager.__enter__()
            stack.push(manager.__exit__)
            return RunningPod(client, log, directory)

        with ThreadPoolExecutor(max_workers=len(pods)) as pool:
            futures = {name: pool.submit(start, name) for name in pods}
        yield {name: future.result() for name, future in futures.items()}


def assert_no_secrets(texts: Mapping[str, str | bytes], secret_values: tuple[str, ...]) -> None:
    """No secret (nor either half of an ID:SECRET credential) appears in any text."""
    needles = {s for s in secret_values if s} | {
        part for s in secret_values for part in s.split(":") if len(part) >= 8
    }
    for where, text in texts.items():
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for needle in needles:
            assert needle not in text, f"a secret leaked into {where}"


def pod_texts(directory: Path) -> dict[str, bytes]:
    """Every file of a pod directory (what would be committed and built), by path."""
    return {
        str(path): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


_REFUSAL = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
    b"Connection: close\r\n\r\nforbidden"
)


class Listener:
    """A TCP server on loopback that records connections: `silent` ones are held open without
    an answer (a hung server), others are closed at once (an attacker's endpoint)."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.connections = 0
        self._held: list[socket.socket] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((servers.LOOPBACK, 0))
        self._socket.listen(64)
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://{servers.LOOPBACK}:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            self.connections += 1
            if self.silent:
                self._held.append(connection)
            else:
                # A refusal clients do not retry (closing the connection makes SDKs back off
                # and try again for seconds).
                with contextlib.suppress(OSError):
                    connection.sendall(_REFUSAL)
                connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._socket.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def body(response) -> dict | list:
    """The JSON body of an httpx response."""
    return json.loads(response.content)
