"""Which files answer a request: pyiceberg's planning with the pushdown, cached per snapshot.

The compiled pushdown, bound to the request's values, and the columns the query reads go into
`table.scan(...).plan_files()`, so partition, manifest and column-statistics pruning drop files
before any data is read. pyiceberg re-reads the manifests on every scan, so a plan is cached
under (table metadata, snapshot, row filter, columns): a repeated request plans in memory.

Each planned file is read either by DuckDB directly (the fast path: its Parquet reader, columns
mapped by Iceberg field id) or through pyiceberg (files with delete files, types DuckDB cannot
map by field id, files that may lack field ids): the plan says which.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from pyiceberg.expressions import BooleanExpression
from pyiceberg.manifest import ManifestEntry, ManifestFile
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, ManifestGroupPlanner, Table, _min_sequence_number
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    PrimitiveType,
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
)
from pyiceberg.utils.concurrent import ExecutorFactory

from .config import PodConfig
from .errors import PodError
from .features import refuse_unsupported_files, refuse_unsupported_table
from .pushdown import row_filter

log = logging.getLogger("datapic.pod")

DEFAULT_PLANS = 128
# Manifest entries kept in memory (one per data or delete file of the manifests read).
DEFAULT_MANIFEST_ENTRIES = 500_000
# Files written outside pyiceberg (add_files, migrations) may lack Parquet field ids; a table
# that carries a name mapping may hold such files, and DuckDB would read their columns as NULL.
NAME_MAPPING = "schema.name-mapping.default"

# Iceberg types DuckDB reads by field id with the same values pyiceberg gives. Others (uuid,
# nanosecond timestamps, nested types, …) go through pyiceberg.
_DUCKDB_TYPES: tuple[tuple[type, Any], ...] = (
    (BooleanType, "BOOLEAN"),
    (IntegerType, "INTEGER"),
    (LongType, "BIGINT"),
    (FloatType, "FLOAT"),
    (DoubleType, "DOUBLE"),
    (DecimalType, lambda t: f"DECIMAL({t.precision},{t.scale})"),
    (DateType, "DATE"),
    (TimeType, "TIME"),
    (TimestamptzType, "TIMESTAMPTZ"),
    (TimestampType, "TIMESTAMP"),
    (StringType, "VARCHAR"),
    (BinaryType, "BLOB"),
    (FixedType, "BLOB"),
)


@dataclass(frozen=True, slots=True)
class Column:
    """A column the query reads: its Iceberg field id, the table's name and its DuckDB type."""

    field_id: int
    name: str
    duckdb_type: str | None  # None: DuckDB cannot read it by field id


@dataclass(frozen=True, slots=True)
class Plan:
    """The files (and how to read them) that answer one request at one snapshot."""

    snapshot_id: int | None
    columns: tuple[Column, ...]
    projection: Schema  # the Iceberg schema of the columns read, for pyiceberg's reader
    row_filter: BooleanExpression
    direct_files: tuple[str, ...]  # read by DuckDB, as DuckDB names them
    fallback_tasks: tuple[FileScanTask, ...]  # read by pyiceberg (deletes, unmapped types)
    files_total: int  # data files in the snapshot
    bytes_planned: int

    @property
    def files_planned(self) -> int:
        """Data files read."""
        return len(self.direct_files) + len(self.fallback_tasks)

    @property
    def files_pruned(self) -> int:
        """Data files of the snapshot that pruning ruled out."""
        return max(0, self.files_total - self.files_planned)


def duckdb_path(uri: str) -> str:
    """`uri` as DuckDB names the file: file:// URIs as local paths, object storage unchanged."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
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


def duckdb_type(field_type: IcebergType) -> str | None:
    """The DuckDB type that reads `field_type` by field id as pyiceberg would, if there is one."""
    for iceberg, duck in _DUCKDB_TYPES:
        if type(field_type) is iceberg:
            return duck(field_type) if callable(duck) else duck
    return None


def plan(
    table: Table,
    config: PodConfig,
    values: Mapping[str, Any],
    snapshot_id: int | None,
    manifests: ManifestCache | None = None,
) -> Plan:
    """The files answering `values` at `snapshot_id` (already checked to exist), and how."""
    columns = read_columns(table, config)
    scan = table.scan(
        row_filter=row_filter(config.pushdown, table.schema(), values),
        selected_fields=columns,
        snapshot_id=snapshot_id,
    )
    projection = scan.projection()
    refuse_unsupported_table(table, config.source.display, projection)
    manifests = manifests or ManifestCache(0)
    try:
        tasks = _plan_files(table, scan, manifests)
    except ArithmeticError:
        # pyiceberg's partition projection overflows on values at the ends of the calendar
        # (month(DATE '0001-01-01') - 1); without pruning the answer is the same, since the
        # SQL applies every filter, only slower.
        log.info("planning without pushdown: the row filter overflows the partition transforms")
        scan = table.scan(selected_fields=columns, snapshot_id=snapshot_id)
        tasks = _plan_files(table, scan, manifests)
    except ValueError as exc:
        if "equality delete" in str(exc):
            raise PodError(
                500,
                f"table {config.source.display} has equality delete files, which the pod's "
                "reader (pyiceberg) cannot apply; compact the table to serve it",
            ) from None
        raise
    refuse_unsupported_files(tasks, config.source.display)
    mapped = tuple(Column(f.field_id, f.name, duckdb_type(f.field_type)) for f in projection.fields)
    everything_via_pyiceberg = NAME_MAPPING in table.properties or any(
        c.duckdb_type is None or f.initial_default is not None
        for c, f in zip(mapped, projection.fields, strict=True)
    )
    direct = [t for t in tasks if not t.delete_files and not everything_via_pyiceberg]
    fallback = [t for t in tasks if t.delete_files or everything_via_pyiceberg]
    return Plan(
        snapshot_id=snapshot_id,
        columns=mapped,
        projection=projection,
        row_filter=scan.row_filter,
        direct_files=tuple(duckdb_path(t.file.file_path) for t in direct),
        fallback_tasks=tuple(fallback),
        files_total=_data_files(table, snapshot_id, len(tasks)),
        bytes_planned=sum(t.file.file_size_in_bytes for t in tasks),
    )


def _plan_files(table: Table, scan: Any, manifests: ManifestCache) -> list[FileScanTask]:
    """pyiceberg's planning (manifest, partition and metrics pruning, delete file matching),
    with each manifest's entries read once and then kept: manifests never change."""
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
    return list(planner.plan_files(snapshot.manifests(table.io)))


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
        metrics = self._build_metrics_evaluator()
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
        self._plans: OrderedDict[Hashable, Plan] = OrderedDict()
        self._lock = threading.Lock()

    def plan(
        self, table: Table, config: PodConfig, values: Mapping[str, Any], snapshot_id: int | None
    ) -> Plan:
        """The cached plan for this request, planned (and kept) on a miss."""
        key = plan_key(table, config, values, snapshot_id)
        with self._lock:
            found = self._plans.get(key)
            if found is not None:
                self._plans.move_to_end(key)
                return found
        made = plan(table, config, values, snapshot_id, self.manifests)
        with self._lock:
            self._plans[key] = made
            while len(self._plans) > self.max_entries:
                self._plans.popitem(last=False)
        return made
