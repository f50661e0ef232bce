"""Which files answer a request: pyiceberg's planning with the pushdown, cached per snapshot.

The compiled pushdown, bound to the request's values, and the columns the query reads go into
pyiceberg's manifest planning, so partition, manifest and column-statistics pruning drop files
(data and delete files alike) before any data is read. pyiceberg re-reads the manifests on every
scan, so a plan is cached under (table metadata, snapshot, row filter, columns): a repeated
request plans in memory.

Each planned data file comes with the delete files that apply to it (deletes.py) and what
each column takes in it (columns.py); source.py turns that into the SQL DuckDB runs. DuckDB
reads every file unless a column has a type it cannot read by field id (nested types, uuid,
nanosecond timestamps): then pyiceberg reads the files and DuckDB applies equality deletes.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any
from urllib.parse import urlparse

from pyiceberg.expressions import BooleanExpression
from pyiceberg.manifest import DataFile, ManifestEntry, ManifestFile
from pyiceberg.schema import Schema
from pyiceberg.table import ManifestGroupPlanner, Table, _min_sequence_number
from pyiceberg.types import NestedField, PrimitiveType
from pyiceberg.utils.concurrent import ExecutorFactory

from .columns import (
    Column,
    Footers,
    duckdb_type,
    literal_text,
    mapped_names,
    names_in_file,
    partition_constants,
)
from .config import PodConfig
from .deletes import DataTask, EqualityDelete, match_deletes, partition_key
from .errors import PodError
from .features import refuse_unsupported_files, refuse_unsupported_table
from .pushdown import row_filter

log = logging.getLogger("datapic.pod")

DEFAULT_PLANS = 128
# Manifest entries kept in memory (one per data or delete file of the manifests read).
DEFAULT_MANIFEST_ENTRIES = 500_000
# How the scan names an equality-delete key the query itself does not read.
KEY_PREFIX = "__datapic_key_"


@dataclass(frozen=True, slots=True)
class FileRead:
    """One data file as the scan reads it."""

    task: DataTask
    path: str  # as DuckDB names it
    scope: int  # its partition (spec and tuple), numbered: equality deletes match on it
    constants: tuple[str | None, ...]  # per column: its partition value where it may lack it
    names: tuple[str, ...] | None  # per column: its name in a file without field ids


@dataclass(frozen=True, slots=True)
class ScopedDelete:
    """An equality delete file to read, with the partition number it is confined to."""

    delete: EqualityDelete
    path: str  # as DuckDB names it
    scope: int | None  # None: it applies to every partition


@dataclass(frozen=True, slots=True)
class Plan:
    """The files (and how to read them) that answer one request at one snapshot."""

    snapshot_id: int | None
    columns: tuple[Column, ...]  # what the query reads, then equality keys it does not
    projection: Schema  # the Iceberg schema of `columns`, for pyiceberg's reader
    row_filter: BooleanExpression
    files: tuple[FileRead, ...]
    equality_deletes: tuple[ScopedDelete, ...]  # those that apply to some planned file
    via_pyiceberg: bool  # a column DuckDB cannot read by field id: pyiceberg reads the files
    files_total: int  # data files in the snapshot
    bytes_planned: int

    @property
    def files_planned(self) -> int:
        """Data files read."""
        return len(self.files)

    @property
    def files_pruned(self) -> int:
        """Data files of the snapshot that pruning ruled out."""
        return max(0, self.files_total - self.files_planned)

    @property
    def duckdb_files(self) -> tuple[str, ...]:
        """Every file DuckDB itself reads (data files, unless pyiceberg reads them, and
        equality delete files): its sandbox must allow them."""
        data = () if self.via_pyiceberg else tuple(f.path for f in self.files)
        return data + tuple(d.path for d in self.equality_deletes)


def duckdb_path(uri: str) -> str:
    """`uri` as DuckDB names the file: file:// URIs as local paths, object storage unchanged.
    Never percent-decoded: writers name files with the escapes themselves (pyiceberg and
    Iceberg Java write the partition value `c:d` as the directory `region=c%3Ad`, and keep
    that path in the manifest), and read them back as written."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return parsed.path
    return uri


def snapshot_of(table: Table, snapshot_id: int | None) -> int | None:
    """The snapshot to answer from: `snapshot_id` if the table still has it, else the current."""
    if snapshot_id is None:
        current = table.current_snapshot()
        return current.snapshot_id if current else None
    if table.snapshot_by_id(snapshot_id) is None:
        raise PodError(
            410,
            f"snapshot {snapshot_id} of the answer being paged no longer exists; "
            "start again from the first page",
        )
    return snapshot_id


def read_columns(table: Table, config: PodConfig) -> tuple[str, ...]:
    """The table's spelling of the columns the query reads (DuckDB's SQL matches any case)."""
    schema = table.schema()
    if config.all_columns:  # `select: "*"`: every column of the schema the scan reads
        return ("*",)
    columns = tuple(_column_name(schema, name, config) for name in config.read_columns)
    if columns:
        return columns
    # count(*) alone reads no column, but a scan must select one to count the rows.
    return (next(f.name for f in schema.fields if isinstance(f.field_type, PrimitiveType)),)


def _column_name(schema: Schema, name: str, config: PodConfig) -> str:
    try:
        field = schema.find_field(name, case_sensitive=False)
    except ValueError:
        raise PodError(
            500,
            f"table {config.source.display} has no column '{name}', which this pod reads: "
            "the table changed since the pod was compiled",
        ) from None
    return schema.find_column_name(field.field_id) or name


def plan(
    table: Table,
    config: PodConfig,
    values: Mapping[str, Any],
    snapshot_id: int | None,
    manifests: ManifestCache | None = None,
    footers: Footers | None = None,
) -> Plan:
    """The files answering `values` at `snapshot_id` (already checked to exist), and how."""
    wanted = read_columns(table, config)
    scan = table.scan(
        row_filter=row_filter(config.pushdown, table.schema(), values),
        selected_fields=wanted,
        snapshot_id=snapshot_id,
    )
    refuse_unsupported_table(table, config.source.display, scan.projection())
    manifests = manifests or ManifestCache(0)
    try:
        tasks = _plan_files(table, scan, manifests)
    except ArithmeticError:
        # pyiceberg's partition projection overflows on values at the ends of the calendar
        # (month(DATE '0001-01-01') - 1); without pruning the answer is the same, since the
        # SQL applies every filter, only slower.
        log.info("planning without pushdown: the row filter overflows the partition transforms")
        scan = table.scan(selected_fields=wanted, snapshot_id=snapshot_id)
        tasks = _plan_files(table, scan, manifests)
    refuse_unsupported_files(tasks, config.source.display)
    columns = _columns(table, scan.projection(), tasks, config)
    projection = Schema(*(_field(table, c) for c in columns))
    scopes = _Scopes()
    file_names = _FileNames(table, columns, footers or Footers(0))
    reads = tuple(_file_read(table, t, columns, scopes, file_names) for t in tasks)
    return Plan(
        snapshot_id=snapshot_id,
        columns=columns,
        projection=projection,
        row_filter=scan.row_filter,
        files=reads,
        equality_deletes=_equality_deletes(tasks, scopes),
        via_pyiceberg=any(c.duckdb_type is None for c in columns),
        files_total=_data_files(table, snapshot_id, len(tasks)),
        bytes_planned=sum(t.file.file_size_in_bytes for t in tasks),
    )


def _columns(
    table: Table, projection: Schema, tasks: Iterable[DataTask], config: PodConfig
) -> tuple[Column, ...]:
    """The query's columns, then the equality-delete keys of `tasks` it does not read."""
    read = [_column(f, f.name, True) for f in projection.fields]
    wanted = {c.field_id for c in read}
    keys = sorted({i for t in tasks for d in t.equality_deletes for i in d.equality_ids})
    for field_id in keys:
        if field_id not in wanted:
            field = _key_field(table, field_id, config)
            read.append(_column(field, KEY_PREFIX + str(field_id), False))
    return tuple(replace(c, position=i) for i, c in enumerate(read))


def _column(field: NestedField, name: str, read_by_query: bool) -> Column:
    default = field.initial_default
    return Column(
        field_id=field.field_id,
        name=name,
        duckdb_type=duckdb_type(field.field_type),
        iceberg_type=field.field_type,
        default=None if default is None else literal_text(default, field.field_type),
        read_by_query=read_by_query,
    )


def _key_field(table: Table, field_id: int, config: PodConfig) -> NestedField:
    """The current schema's top-level field `field_id`: the pod matches equality keys that
    are columns of the table (DuckDB maps top-level field ids only)."""
    found = next((f for f in table.schema().fields if f.field_id == field_id), None)
    if found is None:
        raise PodError(
            501,
            f"table {config.source.display} has equality deletes keyed on field {field_id}, "
            "which is not a top-level column of its schema (dropped, or nested in a struct); "
            "the pod cannot apply them: compact the table to serve it",
        )
    return found


def _field(table: Table, column: Column) -> NestedField:
    field = table.schema().find_field(column.field_id)
    return NestedField(field.field_id, column.name, field.field_type, required=False,
                       initial_default=field.initial_default)  # fmt: skip


class _Scopes:
    """Numbers for partitions (spec id and tuple), so SQL can compare them as integers."""

    def __init__(self) -> None:
        self._numbers: dict[tuple, int] = {}

    def number(self, file: DataFile) -> int:
        return self._numbers.setdefault(partition_key(file), len(self._numbers))


class _FileNames:
    """Per file, the names its columns have if it lacks field ids (only a table with a name
    mapping may hold such files: only then are footers read)."""

    def __init__(self, table: Table, columns: tuple[Column, ...], footers: Footers) -> None:
        self._table = table
        self._columns = columns
        self._footers = footers
        self._mapping = mapped_names(table.properties)

    def of(self, path: str) -> tuple[str, ...] | None:
        if self._mapping is None:
            return None
        in_file = self._footers.names_without_ids(self._table.io, path)
        return names_in_file(in_file, self._columns, self._mapping)


def _file_read(
    table: Table, task: DataTask, columns: tuple[Column, ...], scopes: _Scopes, names: _FileNames
) -> FileRead:
    spec = table.metadata.specs().get(task.file.spec_id)
    return FileRead(
        task=task,
        path=duckdb_path(task.file.file_path),
        scope=scopes.number(task.file),
        constants=partition_constants(task.file, spec, columns),
        names=names.of(task.file.file_path),
    )


def _equality_deletes(tasks: Iterable[DataTask], scopes: _Scopes) -> tuple[ScopedDelete, ...]:
    """Each equality delete file that applies to some planned data file, once."""
    found: dict[str, ScopedDelete] = {}
    for task in tasks:
        for delete in task.equality_deletes:
            scope = None if delete.applies_everywhere else scopes.number(delete.file)
            path = duckdb_path(delete.file.file_path)
            found.setdefault(path, ScopedDelete(delete, path, scope))
    return tuple(found[p] for p in sorted(found))


def _plan_files(table: Table, scan: Any, manifests: ManifestCache) -> list[DataTask]:
    """pyiceberg's pruning (manifests, partitions, column metrics; of delete files too), each
    manifest's entries read once and then kept (manifests never change), and the delete files
    that apply to each data file."""
    snapshot = scan.snapshot()
    if snapshot is None:
        return []
    planner = _CachedManifestPlanner(
        manifests,
        table_metadata=table.metadata,
        io=table.io,
        row_filter=scan.row_filter,
        case_sensitive=scan.case_sensitive,
    )
    entries = planner.plan_manifest_entries(snapshot.manifests(table.io))
    return match_deletes(chain.from_iterable(entries), table.metadata.specs())


class ManifestCache:
    """Live entries of manifest files by path, least recently used out beyond `max_entries`."""

    def __init__(self, max_entries: int = DEFAULT_MANIFEST_ENTRIES) -> None:
        self.max_entries = max_entries
        self._manifests: OrderedDict[Hashable, tuple[ManifestEntry, ...]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def entries(self, manifest: ManifestFile, io: Any) -> tuple[ManifestEntry, ...]:
        """`manifest`'s live entries, read on first use."""
        key = (manifest.manifest_path, manifest.sequence_number, manifest.added_snapshot_id)
        with self._lock:
            found = self._manifests.get(key)
            if found is not None:
                self._manifests.move_to_end(key)
                return found
        read = tuple(manifest.fetch_manifest_entry(io, discard_deleted=True))
        if len(read) > self.max_entries:
            return read
        with self._lock:
            if key not in self._manifests:
                self._manifests[key] = read
                self._count += len(read)
            while self._count > self.max_entries:
                _, evicted = self._manifests.popitem(last=False)
                self._count -= len(evicted)
        return read


class _CachedManifestPlanner(ManifestGroupPlanner):
    """pyiceberg's planner reading manifest entries through a ManifestCache."""

    def __init__(self, manifests: ManifestCache, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cache = manifests

    def plan_manifest_entries(self, manifests: Any) -> Any:
        """As pyiceberg's, with the entries from the cache (same filters, same order)."""
        manifest_evaluators = {}
        partition_evaluators = {}
        kept = []
        for manifest in manifests:
            spec_id = manifest.partition_spec_id
            if spec_id not in manifest_evaluators:
                manifest_evaluators[spec_id] = self._build_manifest_evaluator(spec_id)
                partition_evaluators[spec_id] = self._build_partition_evaluator(spec_id)
            if manifest_evaluators[spec_id](manifest):
                kept.append(manifest)
        metrics = _keeping_unreadable_bounds(self._build_metrics_evaluator())
        minimum = _min_sequence_number(kept)

        def matching(manifest: ManifestFile) -> list[ManifestEntry]:
            keep_partition = partition_evaluators[manifest.partition_spec_id]
            return [
                entry
                for entry in self._cache.entries(manifest, self.io)
                if keep_partition(entry.data_file) and metrics(entry.data_file)
            ]

        wanted = [m for m in kept if self._check_sequence_number(minimum, m)]
        # Manifests not yet cached are read in parallel, as pyiceberg does.
        return ExecutorFactory.get_or_create().map(matching, wanted)


def _keeping_unreadable_bounds(evaluate: Callable[[DataFile], bool]) -> Callable[[DataFile], bool]:
    """`evaluate`, keeping a file whose column bounds it cannot decode: bounds are written in
    the type a file was written with, and pyiceberg decodes them in the current one (a v3
    date promoted to timestamp: 4 bytes where it reads 8). The SQL filters the file's rows."""

    def metrics(file: DataFile) -> bool:
        try:
            return evaluate(file)
        except struct.error:
            return True

    return metrics


def _data_files(table: Table, snapshot_id: int | None, planned: int) -> int:
    """The snapshot's data file count, from its summary (no manifest read)."""
    snapshot = table.snapshot_by_id(snapshot_id) if snapshot_id is not None else None
    try:
        return int(snapshot.summary["total-data-files"])  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError, ValueError):
        return planned  # no summary: report nothing pruned rather than guess


def plan_key(table: Table, config: PodConfig, values: Mapping[str, Any], snapshot_id: int | None):
    """What a plan depends on: the metadata version (schema, properties), the snapshot and the
    bound row filter (its repr names every pushed value and column)."""
    bound = row_filter(config.pushdown, table.schema(), values)
    return (table.metadata_location, snapshot_id, repr(bound))


class PlanCache:
    """A thread-safe LRU of plans; planning itself runs outside the lock."""

    def __init__(self, max_entries: int = DEFAULT_PLANS) -> None:
        self.max_entries = max_entries
        self.manifests = ManifestCache()
        self.footers = Footers()
        self._plans: OrderedDict[Hashable, Plan] = OrderedDict()
        # The same plans by the request's own values: a repeated request finds its plan
        # without binding the row filter again (a few tenths of a millisecond).
        self._by_values: OrderedDict[Hashable, Plan] = OrderedDict()
        self._lock = threading.Lock()

    def plan(
        self, table: Table, config: PodConfig, values: Mapping[str, Any], snapshot_id: int | None
    ) -> Plan:
        """The cached plan for this request, planned (and kept) on a miss."""
        asked: Hashable = (table.metadata_location, snapshot_id, values_key(values))
        try:
            hash(asked)
        except TypeError:  # a value of no hashable kind: found by its row filter alone
            asked = None
        with self._lock:
            found = _lru_get(self._by_values, asked) if asked is not None else None
        if found is not None:
            return found
        key = plan_key(table, config, values, snapshot_id)
        with self._lock:
            found = _lru_get(self._plans, key)
        if found is None:
            found = plan(table, config, values, snapshot_id, self.manifests, self.footers)
            with self._lock:
                _lru_put(self._plans, key, found, self.max_entries)
        if asked is not None:
            with self._lock:
                _lru_put(self._by_values, asked, found, self.max_entries)
        return found


def values_key(values: Mapping[str, Any]) -> tuple:
    """The request's typed values as a key (lists as tuples; types kept, so 1 and True differ).

    >>> values_key({"b": [1, 2], "a": None})
    (('a', 'NoneType', None), ('b', 'list', (1, 2)))
    """
    return tuple(
        (name, type(value).__name__, tuple(value) if isinstance(value, list) else value)
        for name, value in sorted(values.items())
    )


def _lru_get(entries: OrderedDict[Hashable, Plan], key: Hashable) -> Plan | None:
    found = entries.get(key)
    if found is not None:
        entries.move_to_end(key)
    return found


def _lru_put(entries: OrderedDict[Hashable, Plan], key: Hashable, plan: Plan, most: int) -> None:
    entries[key] = plan
    entries.move_to_end(key)
    while len(entries) > most:
        entries.popitem(last=False)
