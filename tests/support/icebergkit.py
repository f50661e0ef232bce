"""Iceberg tables with what pyiceberg cannot write itself, and the rows they hold.

`KitTable` writes Parquet data and delete files with pyarrow, and commits them as snapshots
through pyiceberg's own manifest writers and table updates, as other engines would: equality
deletes (any key set, any sequence number, partitioned or global), position deletes, data files
that lack an identity-partition column or Parquet field ids, files written before a column was
added or under an older type, and partition spec and schema evolution in between.

It also keeps the rows it believes the table holds: what it wrote, read into the current schema
and minus what its deletes delete, by the spec's rules written out in plain Python below (no
Iceberg reader is involved). That is the reference the pods are checked against.

Spec rules applied by `KitTable.rows` (https://iceberg.apache.org/spec/):
- a position delete applies to a data file whose data sequence number is lower than or equal to
  the delete's; an equality delete to one whose number is strictly lower (so the rows a Flink
  upsert writes in the same commit survive), in the same partition (spec id and partition
  tuple) unless the delete file's spec is unpartitioned; rows match when every equality field
  id is equal, NULL equal to NULL;
- a column a file lacks reads as its identity-partition value from the manifest, else its
  `initial-default`, else NULL; a value written under an older type reads as the promoted type.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
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
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriterV2,
    write_manifest_list,
)
from pyiceberg.partitioning import (
    UNPARTITIONED_PARTITION_SPEC,
    PartitionSpec,
    partition_record_value,
)
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.snapshots import Operation, Snapshot, Summary
from pyiceberg.table.update import (
    AddPartitionSpecUpdate,
    AddSchemaUpdate,
    AddSnapshotUpdate,
    AssertRefSnapshotId,
    SetCurrentSchemaUpdate,
    SetDefaultSpecUpdate,
    SetPropertiesUpdate,
    SetSnapshotRefUpdate,
)
from pyiceberg.transforms import IdentityTransform
from pyiceberg.typedef import Record
from pyiceberg.types import FloatType, LongType, NestedField, StringType, TimestampType

# The position delete file's schema (reserved field ids of the spec).
POSITION_DELETES = Schema(
    NestedField(2147483546, "file_path", StringType(), required=True),
    NestedField(2147483545, "pos", LongType(), required=True),
)


# --- what the kit wrote ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DataFile:
    path: str
    sequence_number: int
    spec_id: int
    partition: tuple  # the partition tuple as the manifest holds it
    identity: dict[int, Any]  # source field id -> identity-partition value (Python form)
    rows: list[dict[int, Any]]  # by field id: the values the file holds


@dataclass(frozen=True, slots=True)
class _EqualityDelete:
    sequence_number: int
    spec_id: int
    partition: tuple
    unpartitioned: bool
    field_ids: tuple[int, ...]
    rows: list[dict[int, Any]]


@dataclass(frozen=True, slots=True)
class _PositionDelete:
    sequence_number: int
    positions: frozenset[tuple[str, int]]


# --- the writer pyiceberg 0.12 lacks: delete manifests --------------------------------------------


class _DeleteManifestWriter(ManifestWriterV2):
    """pyiceberg's v2 manifest writer, for delete files (pyiceberg writes none)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


# --- the table ------------------------------------------------------------------------------------


class KitTable:
    """A v2 Iceberg table the kit writes file by file (`upgrade_to_v3` makes it v3), and the
    rows it must hold."""

    def __init__(
        self,
        catalog: Catalog,
        identifier: str,
        schema: Schema,
        *,
        spec: PartitionSpec = UNPARTITIONED_PARTITION_SPEC,
        properties: Mapping[str, str] = {},
    ) -> None:
        self.catalog = catalog
        self.table: Table = catalog.create_table(
            identifier,
            schema,
            partition_spec=spec,
            properties={"format-version": "2", **properties},
        )
        self.v3_schema: Schema | None = None  # see write_v3_types
        self.data_files: list[_DataFile] = []
        self.equality_deletes: list[_EqualityDelete] = []
        self.position_deletes: list[_PositionDelete] = []

    # -- metadata changes, written as the updates any engine commits --

    def evolve(
        self,
        *,
        schema: Schema | None = None,
        spec: PartitionSpec | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Make `schema` (ids as given) and/or `spec` current; set table properties."""
        metadata = self.table.metadata
        updates: list[Any] = []
        if schema is not None:
            schema_id = max(s.schema_id for s in metadata.schemas) + 1
            updates += [
                AddSchemaUpdate(schema=Schema(*schema.fields, schema_id=schema_id)),
                SetCurrentSchemaUpdate(schema_id=-1),
            ]
        if spec is not None:
            spec_id = max(s.spec_id for s in metadata.partition_specs) + 1
            updates += [
                AddPartitionSpecUpdate(spec=PartitionSpec(*spec.fields, spec_id=spec_id)),
                SetDefaultSpecUpdate(spec_id=-1),
            ]
        if properties:
            updates.append(SetPropertiesUpdate(updates=dict(properties)))
        self.catalog.commit_table(self.table, requirements=(), updates=tuple(updates))
        self.table = self.catalog.load_table(self.table.name())

    def write_v3_types(self, schema: Schema) -> None:
        """Write the next files by `schema`, whose types only v3 has (`timestamp_ns`), with the
        same field ids as the current one: pyiceberg 0.12 cannot create such a table, so it is
        made v2 with stand-in types and `upgrade_to_v3` makes `schema` its schema."""
        current = self.table.schema()
        assert [f.field_id for f in schema.fields] == [f.field_id for f in current.fields]
        self.v3_schema = Schema(*schema.fields, schema_id=current.schema_id)

    def upgrade_to_v3(self) -> None:
        """Make the table format v3, as an engine upgrading it does: the metadata says v3, the
        manifests written so far stay v2. (pyiceberg 0.12 writes no v3 metadata, so the kit
        writes the new metadata file itself and registers the table again.)"""
        metadata = json.loads(self.table.io.new_input(self.table.metadata_location).open().read())
        metadata["format-version"] = 3
        if self.v3_schema is not None:
            metadata["schemas"] = [
                json.loads(self.v3_schema.model_dump_json())
                if s["schema-id"] == self.v3_schema.schema_id
                else s
                for s in metadata["schemas"]
            ]
        metadata["next-row-id"] = 0  # the rows written before the upgrade carry no row ids
        metadata.setdefault("metadata-log", []).append(
            {
                "metadata-file": self.table.metadata_location,
                "timestamp-ms": metadata["last-updated-ms"],
            }
        )
        location = f"{self.table.location()}/metadata/{uuid.uuid4()}-v3.metadata.json"
        with self.table.io.new_output(location).create() as out:
            out.write(json.dumps(metadata).encode())
        identifier = self.table.name()
        self.catalog.drop_table(identifier)  # the SQL catalog keeps the files
        self.table = self.catalog.register_table(identifier, location)

    @contextlib.contextmanager
    def commit(self, operation: Operation = Operation.APPEND) -> Iterator[Commit]:
        """One snapshot (one sequence number) holding the files written in the block."""
        commit = Commit(self)
        yield commit
        commit.finish(operation)

    # -- the reference --

    def rows(self) -> list[dict[str, Any]]:
        """The rows the table holds, by the current schema's column names, in file order."""
        schema = self.table.schema()
        held = []
        for data in self.data_files:
            for position, written in enumerate(data.rows):
                values = {f.field_id: _read(f, data, written) for f in schema.fields}
                if not self._deleted(data, position, values):
                    held.append({f.name: values[f.field_id] for f in schema.fields})
        return held

    def arrow(self) -> pa.Table:
        """`rows()` as an Arrow table of the current schema's types."""
        schema = schema_to_pyarrow(self.table.schema(), include_field_ids=False)
        return pa.Table.from_pylist(self.rows(), schema=schema)

    def _deleted(self, data: _DataFile, position: int, values: dict[int, Any]) -> bool:
        for delete in self.position_deletes:
            later = delete.sequence_number >= data.sequence_number
            if later and (data.path, position) in delete.positions:
                return True
        for delete in self.equality_deletes:
            if delete.sequence_number <= data.sequence_number:
                continue
            if not delete.unpartitioned and (delete.spec_id, delete.partition) != (
                data.spec_id,
                data.partition,
            ):
                continue
            for key in delete.rows:
                if all(values[i] == key[i] for i in delete.field_ids):  # None == None
                    return True
        return False


def _read(field: NestedField, data: _DataFile, written: dict[int, Any]) -> Any:
    """A column's value in one row of a data file, as the current schema reads it."""
    if field.field_id in written:
        value = written[field.field_id]
        if isinstance(field.field_type, TimestampType) and type(value) is dt.date:
            return dt.datetime.combine(value, dt.time())  # v3: date promoted to timestamp
        return value  # int -> long, float (already rounded) -> double, decimal widening
    if field.field_id in data.identity:
        return data.identity[field.field_id]
    return field.initial_default


class Commit:
    """The files of one snapshot, written as they are added and committed at the end."""

    def __init__(self, kit: KitTable) -> None:
        self.kit = kit
        self.table = kit.table
        metadata = self.table.metadata
        self.snapshot_id = uuid.uuid4().int >> 65
        self.sequence_number = metadata.last_sequence_number + 1
        self.entries: list[tuple[DataFile, int | None]] = []  # (file, explicit data seq number)
        self._data: list[_DataFile] = []
        self._equality: list[_EqualityDelete] = []
        self._positions: list[_PositionDelete] = []

    # -- files --

    def data(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        partition: Mapping[str, Any] | None = None,
        omit: Sequence[str] = (),
        field_ids: bool = True,
        names: Mapping[str, str] = {},
        folder: str = "data",
        sequence_number: int | None = None,
    ) -> str:
        """A data file of `rows` (by the current schema's names) in the default spec, and its
        path. `omit`: columns the file leaves out (with `partition` naming their identity
        values, as a Hive layout does); `field_ids=False`: no Parquet field ids (the table then
        needs a name mapping); `names`: a column's name in the file where it differs (an alias
        the name mapping lists); `sequence_number`: a data sequence number other than the
        commit's."""
        schema, spec = self.kit.v3_schema or self.table.schema(), self.table.spec()
        columns = [f.name for f in schema.fields if f.name not in omit]
        kept = schema.select(*columns)
        rows = [_as_written(kept, row) for row in rows]
        in_file = Schema(
            *(f.model_copy(update={"name": names.get(f.name, f.name)}) for f in kept.fields)
        )
        renamed = [{names.get(k, k): v for k, v in row.items()} for row in rows]
        path = self._write(in_file, renamed, folder, field_ids)
        values = self._partition(spec, schema, rows, partition or {})
        identity = {
            pf.source_id: values[pf.name]
            for pf in spec.fields
            if isinstance(pf.transform, IdentityTransform)
        }
        record = tuple(
            pf.transform.transform(schema.find_type(pf.source_id))(
                partition_record_value(pf, values[pf.name], schema)
            )
            for pf in spec.fields
        )
        by_id = [{schema.find_field(n).field_id: row[n] for n in columns} for row in rows]
        self._add(path, DataFileContent.DATA, in_file, spec, record, len(rows), sequence_number)
        seq = sequence_number or self.sequence_number
        self._data.append(_DataFile(path, seq, spec.spec_id, record, identity, by_id))
        return path

    def equality_delete(
        self,
        columns: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        *,
        spec_id: int | None = None,
        partition: Mapping[str, Any] | None = None,
    ) -> str:
        """An equality delete file on `columns` (its equality_ids), in spec `spec_id` (default:
        the current one) and `partition` (by partition field name; omit for an unpartitioned
        spec, whose deletes apply to the whole table)."""
        schema = self.table.schema()
        spec = self.table.specs()[self.table.spec().spec_id if spec_id is None else spec_id]
        kept = schema.select(*columns)
        rows = [_as_written(kept, row) for row in rows]
        path = self._write(kept, rows, "data", True, prefix="eq-delete-")
        values = dict(partition or {})
        record = tuple(
            pf.transform.transform(schema.find_type(pf.source_id))(
                partition_record_value(pf, values[pf.name], schema)
            )
            for pf in spec.fields
        )
        ids = tuple(schema.find_field(c).field_id for c in columns)
        self._add(path, DataFileContent.EQUALITY_DELETES, kept, spec, record, len(rows), None, ids)
        self._equality.append(
            _EqualityDelete(
                self.sequence_number,
                spec.spec_id,
                record,
                spec.is_unpartitioned(),
                ids,
                [{i: row[c] for i, c in zip(ids, columns, strict=True)} for row in rows],
            )
        )
        return path

    def position_delete(self, positions: Sequence[tuple[str, int]]) -> str:
        """A position delete file of (data file path, row position) pairs, in the partition of
        the data files it names (all in one)."""
        named = {p for p, _ in positions}
        files = [d for d in [*self.kit.data_files, *self._data] if d.path in named]
        assert len(files) == len(named), "position deletes name data files the kit wrote"
        assert len({(d.spec_id, d.partition) for d in files}) == 1, "one partition per file"
        ordered = sorted(positions)
        rows = [{"file_path": p, "pos": n} for p, n in ordered]
        path = self._write(POSITION_DELETES, rows, "data", True, prefix="pos-delete-")
        spec = self.table.specs()[files[0].spec_id]
        content = DataFileContent.POSITION_DELETES
        self._add(path, content, POSITION_DELETES, spec, files[0].partition, len(rows), None)
        self._positions.append(_PositionDelete(self.sequence_number, frozenset(ordered)))
        return path

    # -- writing --

    def _write(
        self, schema: Schema, rows: list[dict], folder: str, field_ids: bool, prefix: str = ""
    ) -> str:
        arrow_schema = schema_to_pyarrow(schema, include_field_ids=field_ids)
        location = f"{self.table.location()}/{folder}/{prefix}{uuid.uuid4()}.parquet"
        local = urlparse(location).path
        os.makedirs(os.path.dirname(local), exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema), local)
        return location

    def _partition(
        self, spec: PartitionSpec, schema: Schema, rows: list[dict], given: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Each partition field's source value: given, or the one value all rows hold."""
        values = {}
        for pf in spec.fields:
            if pf.name in given:
                values[pf.name] = given[pf.name]
                continue
            source = schema.find_column_name(pf.source_id)
            transform = pf.transform.transform(schema.find_type(pf.source_id))
            results = {transform(partition_record_value(pf, r[source], schema)) for r in rows}
            assert len(results) == 1, f"rows of one file span partitions of {pf.name}"
            values[pf.name] = rows[0][source]
        return values

    def _add(
        self,
        path: str,
        content: DataFileContent,
        schema: Schema,
        spec: PartitionSpec,
        partition: tuple,
        record_count: int,
        sequence_number: int | None,
        equality_ids: tuple[int, ...] | None = None,
    ) -> None:
        local = urlparse(path).path
        metadata = pq.read_metadata(local)
        statistics = data_file_statistics_from_parquet_metadata(
            parquet_metadata=metadata,
            stats_columns=compute_statistics_plan(schema, self.table.properties),
            parquet_column_mapping=parquet_path_to_id_mapping(schema),
        )
        data_file = DataFile.from_args(
            content=content,
            file_path=path,
            file_format=FileFormat.PARQUET,
            partition=Record(*partition),
            file_size_in_bytes=len(self.table.io.new_input(path)),
            sort_order_id=None,
            equality_ids=list(equality_ids) if equality_ids else None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )
        data_file.spec_id = spec.spec_id  # not a field of the file's record
        assert data_file.record_count == record_count
        self.entries.append((data_file, sequence_number))

    # -- the snapshot --

    def finish(self, operation: Operation) -> None:
        """Manifests for the new files, a manifest list carrying the parent's manifests on,
        and the snapshot committed as the table's main branch."""
        table, io = self.table, self.table.io
        parent = table.current_snapshot()
        manifests: list[ManifestFile] = list(parent.manifests(io)) if parent else []
        groups: dict[tuple[bool, int], list[tuple[DataFile, int | None]]] = {}
        for data_file, seq in self.entries:
            deletes = data_file.content != DataFileContent.DATA
            groups.setdefault((deletes, data_file.spec_id), []).append((data_file, seq))
        for (deletes, spec_id), entries in sorted(groups.items()):
            manifests.append(self._manifest(deletes, table.specs()[spec_id], entries))
        location = f"{table.location()}/metadata/snap-{self.snapshot_id}-{uuid.uuid4()}.avro"
        with write_manifest_list(
            format_version=2,
            output_file=io.new_output(location),
            snapshot_id=self.snapshot_id,
            parent_snapshot_id=parent.snapshot_id if parent else None,
            sequence_number=self.sequence_number,
            avro_compression="deflate",
        ) as writer:
            writer.add_manifests(manifests)
        self.kit.data_files += self._data
        self.kit.equality_deletes += self._equality
        self.kit.position_deletes += self._positions
        snapshot = Snapshot(
            snapshot_id=self.snapshot_id,
            parent_snapshot_id=parent.snapshot_id if parent else None,
            sequence_number=self.sequence_number,
            manifest_list=location,
            summary=Summary(operation, **self._totals()),
            schema_id=table.schema().schema_id,
        )
        self.kit.catalog.commit_table(
            table,
            requirements=(
                AssertRefSnapshotId(ref="main", snapshot_id=parent.snapshot_id if parent else None),
            ),
            updates=(
                AddSnapshotUpdate(snapshot=snapshot),
                SetSnapshotRefUpdate(
                    ref_name="main", type=SnapshotRefType.BRANCH, snapshot_id=self.snapshot_id
                ),
            ),
        )
        self.kit.table = self.kit.catalog.load_table(table.name())

    def _manifest(
        self, deletes: bool, spec: PartitionSpec, entries: list[tuple[DataFile, int | None]]
    ) -> ManifestFile:
        location = f"{self.table.location()}/metadata/{uuid.uuid4()}-m0.avro"
        writer_class = _DeleteManifestWriter if deletes else ManifestWriterV2
        output = self.table.io.new_output(location)
        schema = self.table.schema()
        with writer_class(spec, schema, output, self.snapshot_id, "deflate") as writer:
            for data_file, seq in entries:
                writer.add_entry(
                    ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED,
                        snapshot_id=self.snapshot_id,
                        sequence_number=seq,  # None: inherited from the manifest list
                        file_sequence_number=None,
                        data_file=data_file,
                    )
                )
        return writer.to_manifest_file()

    def _totals(self) -> dict[str, str]:
        """The snapshot summary's totals (the pod reports pruning against total-data-files)."""
        data = len(self.kit.data_files)
        deletes = len(self.kit.equality_deletes) + len(self.kit.position_deletes)
        return {
            "added-data-files": str(len(self._data)),
            "total-data-files": str(data),
            "total-delete-files": str(deletes),
            "total-records": str(sum(len(d.rows) for d in self.kit.data_files)),
        }


def _as_written(schema: Schema, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values as a file of `schema` holds them: float columns rounded to float32."""
    written = {}
    for f in schema.fields:
        value = row.get(f.name)
        if isinstance(f.field_type, FloatType) and value is not None:
            value = float(np.float32(value))
        written[f.name] = value
    return written
