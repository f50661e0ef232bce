"""Real Iceberg tables for the engine's tests: an evolved partitioned table, delete files.

pyiceberg 0.12 never writes delete files: `table.delete()` rewrites the affected data files
(copy-on-write; asking for merge-on-read warns and falls back). Other engines (Spark, Flink,
Trino) do write them, so the pod must read them. This writes spec-shaped ones: a Parquet delete
file (positional: file_path, pos; equality: the key columns), listed in a manifest of content
DELETES, committed as a new snapshot through pyiceberg's own snapshot producer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestWriterV2,
)
from pyiceberg.table import Table
from pyiceberg.typedef import Record

# Reserved field ids of positional delete files (Iceberg spec).
_FILE_PATH_ID, _POS_ID = 2147483546, 2147483545


class _DeleteManifestWriter(ManifestWriterV2):
    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


def _commit(table: Table, delete_file: DataFile) -> None:
    transaction = table.transaction()
    with transaction.update_snapshot().fast_append() as append:
        spec_writer = append.new_manifest_writer

        def deletes_writer(spec):
            plain = spec_writer(spec)
            return _DeleteManifestWriter(
                plain._spec, plain._schema, plain._output_file, plain._snapshot_id,
                plain._compression,
            )  # fmt: skip

        append.new_manifest_writer = deletes_writer
        append.append_data_file(delete_file)
    transaction.commit_transaction()


def _write(table: Table, data: pa.Table, partition: Record, content, **fields) -> DataFile:
    location = f"{table.location()}/data/deletes-{uuid.uuid4()}.parquet"
    output = table.io.new_output(location)
    with output.create() as stream:
        pq.write_table(data, stream)
    return DataFile.from_args(
        content=content,
        file_path=location,
        file_format=FileFormat.PARQUET,
        partition=partition,
        record_count=data.num_rows,
        file_size_in_bytes=len(output),
        spec_id=table.spec().spec_id,
        **fields,
    )


def delete_positions(table: Table, data_file: DataFile, positions: Sequence[int]) -> None:
    """Commit a positional delete file removing rows `positions` (0-based) of `data_file`."""
    schema = pa.schema(
        [
            pa.field("file_path", pa.string(), False, {b"PARQUET:field_id": str(_FILE_PATH_ID)}),
            pa.field("pos", pa.int64(), False, {b"PARQUET:field_id": str(_POS_ID)}),
        ]
    )
    rows = {"file_path": [data_file.file_path] * len(positions), "pos": sorted(positions)}
    deletes = pa.Table.from_pydict(rows, schema=schema)
    _commit(
        table,
        _write(table, deletes, data_file.partition, DataFileContent.POSITION_DELETES),
    )


def delete_equal(table: Table, data_file: DataFile, values: Mapping[str, list]) -> None:
    """Commit an equality delete file removing rows whose columns equal `values`."""
    schema = table.schema()
    fields = [schema.find_field(name) for name in values]
    arrow = pa.schema(
        [
            pa.field(f.name, schema.as_arrow().field(f.name).type, True,
                     {b"PARQUET:field_id": str(f.field_id)})
            for f in fields
        ]
    )  # fmt: skip
    deletes = pa.Table.from_pydict(dict(values), schema=arrow)
    delete_file = _write(
        table,
        deletes,
        data_file.partition,
        DataFileContent.EQUALITY_DELETES,
        equality_ids=[f.field_id for f in fields],
    )
    _commit(table, delete_file)


# --- a partitioned table whose schema evolved ---------------------------------------------------

REGIONS = ("AMER", "APAC", "EMEA")


def sales_schema():
    """`sales` as first written: amount is later renamed to total, qty widened, note added."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import DoubleType, IntegerType, LongType, NestedField, StringType

    return Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "region", StringType()),
        NestedField(3, "amount", DoubleType()),
        NestedField(4, "qty", IntegerType()),
    )


def make_sales(catalog, name: str) -> Table:
    """A table partitioned by region: files before and after a rename, an added column and a
    widened type, so reading by field id matters; 2 files per region."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import LongType, StringType

    spec = PartitionSpec(PartitionField(2, 1000, IdentityTransform(), "region"))
    table = catalog.create_table(name, schema=sales_schema(), partition_spec=spec)
    ids = range(1, 61)
    first = {
        "id": list(ids),
        "region": [REGIONS[i % 3] for i in ids],
        "amount": [None if i % 11 == 0 else i * 1.25 for i in ids],
        "qty": [i % 7 for i in ids],
    }
    table.append(pa.Table.from_pydict(first, schema=table.schema().as_arrow()))
    with table.update_schema() as update:
        update.rename_column("amount", "total")
        update.add_column("note", StringType())
        update.update_column("qty", LongType())
    ids = range(61, 121)
    second = {
        "id": list(ids),
        "region": [REGIONS[i % 3] for i in ids],
        "total": [i * 2.0 for i in ids],
        "qty": [5_000_000_000 + i for i in ids],
        "note": [None if i % 4 == 0 else f"n{i}" for i in ids],
    }
    table.append(pa.Table.from_pydict(second, schema=table.schema().as_arrow()))
    return table
