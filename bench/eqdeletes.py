"""The equality-delete tables (issue 9): `bench.orders_eqdel` and `bench.orders_compacted`.

`orders_eqdel` holds `bench.orders`' data files (fast-appended, not copied) and then, in one
newer commit, equality delete files keyed on `order_id` removing every order whose id ends in
07 (id % 100 == 7, about 1 % of the rows), one delete file per partition of the data files: the
shape a streaming engine (Flink upserts, Spark merge-on-read) leaves behind before compaction.
`orders_compacted` holds the surviving rows, written by pyiceberg exactly as `bench.orders` was
(the same chunks, commits and partitioning, so the file layout is comparable): what the table
would be after a compaction.

pyiceberg never writes delete files, so this writes them as the Iceberg spec shapes them: a
Parquet file of the key column (by field id, with column metrics), listed in a manifest of
content DELETES, committed through pyiceberg's own snapshot producer. The same technique as
tests/support/enginekit.py (`delete_equal`, `_DeleteManifestWriter`, `_commit`), written here
for many files in one commit, since bench/ imports nothing from tests/.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    schema_to_pyarrow,
)
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestWriterV2,
)
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles
from table import (
    NAMESPACE,
    PARTITIONING,
    REGIONS,
    SCHEMA,
    YEARS,
    Lakehouse,
    make_chunk,
    table_name,
)

# Bump when what these tables hold changes, so an existing build is rebuilt rather than reused.
EQDEL_VERSION = 1
STAMP = "eqdeletes.json"
EQDEL_TABLE = f"{NAMESPACE}.orders_eqdel"
COMPACTED_TABLE = f"{NAMESPACE}.orders_compacted"
KEY = "order_id"
# Which orders the deletes remove: deterministic, spread evenly over every partition and file.
MODULUS, REMAINDER = 100, 7


@dataclass(frozen=True, slots=True, kw_only=True)
class EqDeletes:
    """The two tables and what they hold (the figures the report prints)."""

    eqdel_table: str
    compacted_table: str
    rows: int  # rows of the data files of orders_eqdel (= bench.orders)
    deleted: int  # rows its equality deletes remove (= delete rows: the ids are unique)
    data_files: int
    delete_files: int
    compacted_files: int


def is_deleted(order_id: np.ndarray | pa.ChunkedArray) -> np.ndarray:
    """Whether the deletes remove each order: its id is REMAINDER modulo MODULUS."""
    return np.asarray(order_id) % MODULUS == REMAINDER


def ensure_eqdeletes(lakehouse: Lakehouse, progress: Callable[[str], None] = print) -> EqDeletes:
    """Build both tables over the finished lakehouse, or reuse them when built from it."""
    root = lakehouse.root
    wanted = {"build": {**asdict(lakehouse.build), "scales": list(lakehouse.build.scales)}}
    wanted["version"] = EQDEL_VERSION
    catalog = lakehouse.catalog()
    found = _reusable(root, catalog, wanted)
    if found is not None:
        progress(
            f"tables: reusing {EQDEL_TABLE} ({found.deleted:,} rows deleted) and {COMPACTED_TABLE}"
        )
        return found
    started = time.monotonic()
    (root / STAMP).unlink(missing_ok=True)
    for name in (EQDEL_TABLE, COMPACTED_TABLE):
        _drop(catalog, name, root)
    data_files = [task.file for task in catalog.load_table(table_name(1)).scan().plan_files()]
    eqdel = catalog.create_table(EQDEL_TABLE, schema=SCHEMA, partition_spec=PARTITIONING)
    _fast_append_files(eqdel, data_files)
    deletes = [_write_delete_file(eqdel, files) for files in _by_partition(data_files).values()]
    commit_equality_deletes(eqdel, deletes)
    deleted = sum(f.record_count for f in deletes)
    rows = sum(f.record_count for f in data_files)
    progress(
        f"tables: {EQDEL_TABLE} ready ({rows:,} rows in {len(data_files)} files, "
        f"{deleted:,} deleted by {len(deletes)} equality delete files)"
    )
    compacted = _write_compacted(catalog, lakehouse)
    compacted_files = len(list(compacted.scan().plan_files()))
    progress(f"tables: {COMPACTED_TABLE} ready ({compacted_files} files)")
    made = EqDeletes(
        eqdel_table=EQDEL_TABLE,
        compacted_table=COMPACTED_TABLE,
        rows=rows,
        deleted=deleted,
        data_files=len(data_files),
        delete_files=len(deletes),
        compacted_files=compacted_files,
    )
    _check(catalog, made)
    (root / STAMP).write_text(json.dumps({**wanted, "made": asdict(made)}, sort_keys=True) + "\n")
    progress(f"tables: equality-delete tables built in {time.monotonic() - started:.0f} s")
    return made


def _reusable(root: Path, catalog: SqlCatalog, wanted: dict) -> EqDeletes | None:
    try:
        stamp = json.loads((root / STAMP).read_text())
        made = EqDeletes(**stamp.pop("made"))
        if stamp != wanted:
            return None
        _check(catalog, made)
    except Exception:  # noqa: BLE001 - anything missing or unreadable means "build it again"
        return None
    return made


def _check(catalog: SqlCatalog, made: EqDeletes) -> None:
    """Both tables' snapshot summaries say what the build wrote, or this raises."""
    eqdel = catalog.load_table(made.eqdel_table).current_snapshot().summary
    compacted = catalog.load_table(made.compacted_table).current_snapshot().summary
    found = (
        int(eqdel["total-records"]),
        int(eqdel["total-equality-deletes"]),
        int(eqdel["total-delete-files"]),
        int(compacted["total-records"]),
    )
    expected = (made.rows, made.deleted, made.delete_files, made.rows - made.deleted)
    if found != expected:
        raise RuntimeError(f"equality-delete tables hold {found}, expected {expected}")


def _drop(catalog: SqlCatalog, name: str, root: Path) -> None:
    """Drop the table and delete its folder (the SQL catalog leaves the files behind)."""
    if not catalog.table_exists(name):
        return
    location = Path(urlparse(catalog.load_table(name).location()).path).resolve()
    catalog.drop_table(name)
    if location.is_relative_to(root.resolve()):
        shutil.rmtree(location, ignore_errors=True)


def _fast_append_files(table: Table, files: list[DataFile]) -> None:
    with table.transaction() as tx, tx.update_snapshot().fast_append() as append:
        for data_file in files:
            append.append_data_file(data_file)


def _by_partition(files: list[DataFile]) -> dict[tuple, list[DataFile]]:
    """The data files by partition (spec id and partition tuple), in a stable order."""
    found: dict[tuple, list[DataFile]] = defaultdict(list)
    for data_file in sorted(files, key=lambda f: f.file_path):
        partition = data_file.partition
        values = tuple(partition[i] for i in range(len(partition)))
        found[(data_file.spec_id, values)].append(data_file)
    return dict(sorted(found.items(), key=lambda item: repr(item[0])))


def _write_delete_file(table: Table, files: list[DataFile]) -> DataFile:
    """One equality delete file for the partition of `files` (they share one): the ids of
    their deleted orders, sorted, with column metrics as an engine's writer records them."""
    ids = np.concatenate(
        [pq.read_table(_local(f.file_path), columns=[KEY])[KEY].to_numpy() for f in files]
    )
    key_schema = Schema(SCHEMA.find_field(KEY))
    deleted = pa.array(np.sort(ids[is_deleted(ids)]))
    rows = pa.Table.from_arrays([deleted], schema=schema_to_pyarrow(key_schema))
    first = files[0]
    spec: PartitionSpec = table.specs()[first.spec_id]
    folder = spec.partition_to_path(first.partition, table.schema())
    location = f"{table.location()}/data/{folder}/eqdel-{Path(first.file_path).stem}.parquet"
    output = table.io.new_output(location)
    with output.create(overwrite=True) as stream:
        with pq.ParquetWriter(stream, schema=rows.schema) as writer:
            writer.write_table(rows)
        metadata = writer.writer.metadata
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=metadata,
        stats_columns=compute_statistics_plan(key_schema, table.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(key_schema),
    )
    return DataFile.from_args(
        content=DataFileContent.EQUALITY_DELETES,
        file_path=location,
        file_format=FileFormat.PARQUET,
        partition=first.partition,
        file_size_in_bytes=len(output),
        spec_id=first.spec_id,
        equality_ids=[key_schema.find_field(KEY).field_id],
        **statistics.to_serialized_dict(),
    )


class _DeleteManifestWriter(ManifestWriterV2):
    """A v2 manifest of content DELETES (pyiceberg only writes DATA manifests)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class _AddDeleteFiles(_FastAppendFiles):
    """pyiceberg's fast append, its new manifest written as a delete manifest: the snapshot
    keeps every existing manifest and adds one listing the delete files, with the next
    sequence number (newer than every data file already in the table)."""

    def new_manifest_writer(self, spec: PartitionSpec) -> ManifestWriterV2:
        return _DeleteManifestWriter(
            spec, self.schema(), self.new_manifest_output(), self.snapshot_id, self._compression
        )


def commit_equality_deletes(table: Table, deletes: list[DataFile]) -> None:
    """One commit (operation delete, as Spark's row delta of deletes only) adding `deletes`."""
    with (
        table.transaction() as tx,
        _AddDeleteFiles(operation=Operation.DELETE, transaction=tx, io=table.io) as add,
    ):
        for delete in deletes:
            add.append_data_file(delete)


def _write_compacted(catalog: SqlCatalog, lakehouse: Lakehouse) -> Table:
    """The surviving rows, made and written as `bench.base` wrote the real regions: the same
    chunks, one commit per year of all four regions, pyiceberg's writer."""
    table = catalog.create_table(COMPACTED_TABLE, schema=SCHEMA, partition_spec=PARTITIONING)
    for year in YEARS:
        chunk = pa.concat_tables(make_chunk(lakehouse.build, region, year) for region in REGIONS)
        table.append(chunk.filter(pa.array(~is_deleted(chunk[KEY]))))
    return table


def _local(location: str) -> str:
    parsed = urlparse(location)
    return parsed.path if parsed.scheme == "file" else location
