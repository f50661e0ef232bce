"""Real Iceberg tables using what a pod does not serve (and a few it does, though it looks
unusual), for the runtime's refusals, `--check`, and the pods over HTTP.

pyiceberg 0.12 writes neither ORC nor Avro data, nor v3 metadata, nor encryption: each table
starts as an ordinary one written by pyiceberg (SQL catalog in SQLite, Parquet on disk), then
gets what it needs the way another engine would leave it:

- a real ORC data file (pyarrow.orc) or a real Avro
  position delete file (pyiceberg's Avro writer), committed in a manifest that says so;
- a Parquet file whose manifest entry carries `key_metadata` (as encrypted files do);
- table metadata JSON written by hand (a v3 or v4 table, a variant or geometry column, a
  transform pyiceberg does not know, a multi-argument one) and registered with the catalog.

Every table is `<namespace>.<feature>` and holds the rows of `ROWS` (ids 1-6).
"""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
from enginekit import _commit as _commit_deletes  # a manifest of content DELETES
from pyiceberg.avro.file import AvroOutputFile
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import ValidationError
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.typedef import Record
from pyiceberg.types import BinaryType, LongType, NestedField, StringType

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "region", StringType()),
    NestedField(3, "shape", BinaryType()),
)
# A point as WKB: what a geometry column holds.
POINT = bytes.fromhex("0101000000000000000000f03f0000000000000040")
ROWS = {
    "id": [1, 2, 3, 4, 5, 6],
    "region": ["EMEA", "APAC", "EMEA", "AMER", "EMEA", "APAC"],
    "shape": [POINT, None, POINT, None, POINT, None],
}
# Reserved field ids of positional delete files (Iceberg spec).
_FILE_PATH_ID, _POS_ID = 2147483546, 2147483545


def plain(catalog: SqlCatalog, name: str, format_version: int = 2) -> Table:
    """The ordinary table the others start from: ROWS in two Parquet files."""
    table = catalog.create_table(
        name, schema=SCHEMA, properties={"format-version": str(format_version)}
    )
    arrow = pa.Table.from_pydict(ROWS, schema=table.schema().as_arrow())
    table.append(arrow.slice(0, 3))
    table.append(arrow.slice(3))
    return table


# --- files -------------------------------------------------------------------------------------


def orc_data(catalog: SqlCatalog, name: str) -> Table:
    """ROWS 1-3 in Parquet, then rows 7-8 in a real ORC data file."""
    table = catalog.create_table(name, schema=SCHEMA)
    table.append(pa.Table.from_pydict(ROWS, schema=table.schema().as_arrow()).slice(0, 3))
    path = f"{table.location()}/data/other-engine-{uuid.uuid4()}.orc"
    rows = pa.table(
        {
            "id": pa.array([7, 8], pa.int64()),
            "region": ["EMEA", "LATAM"],
            "shape": pa.array([None, None], pa.binary()),
        }
    )
    orc.write_table(rows, _local(path))
    _append(
        table,
        DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=path,
            file_format=FileFormat.ORC,
            partition=Record(),
            record_count=rows.num_rows,
            file_size_in_bytes=Path(_local(path)).stat().st_size,
            spec_id=table.spec().spec_id,
        ),
    )
    return catalog.load_table(name)


def avro_deletes(catalog: SqlCatalog, name: str) -> Table:
    """ROWS, then a real Avro position delete file removing the first row of the first file."""
    table = plain(catalog, name)
    first = min((task.file for task in table.scan().plan_files()), key=lambda f: f.file_path)
    path = f"{table.location()}/data/deletes-{uuid.uuid4()}.avro"
    schema = Schema(
        NestedField(_FILE_PATH_ID, "file_path", StringType(), required=True),
        NestedField(_POS_ID, "pos", LongType(), required=True),
    )
    output = table.io.new_output(path)
    with AvroOutputFile[Record](output, schema, "position_delete") as writer:
        writer.write_block([Record(first.file_path, 0)])
    _commit_deletes(
        table,
        DataFile.from_args(
            content=DataFileContent.POSITION_DELETES,
            file_path=path,
            file_format=FileFormat.AVRO,
            partition=Record(),
            record_count=1,
            file_size_in_bytes=len(output),
            spec_id=table.spec().spec_id,
        ),
    )
    return catalog.load_table(name)


def encrypted_file(catalog: SqlCatalog, name: str) -> Table:
    """ROWS, plus a Parquet file listed with key_metadata, as an encrypting writer lists its
    files (the bytes here are plain: a reader that ignored key_metadata would not notice)."""
    table = plain(catalog, name)
    path = f"{table.location()}/data/encrypted-{uuid.uuid4()}.parquet"
    pq.write_table(pa.Table.from_pydict(ROWS, schema=table.schema().as_arrow()), _local(path))
    _append(
        table,
        DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=path,
            file_format=FileFormat.PARQUET,
            partition=Record(),
            record_count=6,
            file_size_in_bytes=Path(_local(path)).stat().st_size,
            spec_id=table.spec().spec_id,
            key_metadata=b"\x01wrapped-data-key",
        ),
    )
    return catalog.load_table(name)


# --- metadata ----------------------------------------------------------------------------------


def encryption_property(catalog: SqlCatalog, name: str) -> Table:
    """ROWS, with the table property Iceberg's encryption sets on every encrypted table."""
    table = plain(catalog, name)
    with table.transaction() as transaction:
        transaction.set_properties({"encryption.key-id": "keyring/table-key"})
    return catalog.load_table(name)


def edited(catalog: SqlCatalog, name: str, edit: Callable[[dict], None]) -> str:
    """A copy of an ordinary table's metadata, changed by `edit`, registered as `name`; the
    new metadata file's location (loading it may fail: that is the point)."""
    base = plain(catalog, f"{name}_base")
    metadata = json.loads(Path(_local(base.metadata_location)).read_text())
    edit(metadata)
    location = base.metadata_location.replace(".metadata.json", f"-{name}.metadata.json")
    Path(_local(location)).write_text(json.dumps(metadata))
    with contextlib.suppress(ValidationError):  # registered all the same: loading is the test
        catalog.register_table(name, location)
    return location


def as_v3(metadata: dict) -> None:
    """`metadata` (v2) as format version 3 says it (row lineage starts at 0)."""
    metadata["format-version"] = 3
    metadata.setdefault("next-row-id", 0)


def retype(metadata: dict, column: str, type_name: str) -> None:
    """Give `column` another type, in every schema (the files keep theirs)."""
    for schema in metadata["schemas"]:
        for field in schema["fields"]:
            if field["name"] == column:
                field["type"] = type_name


def format_v4(metadata: dict) -> None:
    metadata["format-version"] = 4


def variant_column(metadata: dict) -> None:
    as_v3(metadata)
    schema = metadata["schemas"][-1]
    schema["fields"].append({"id": 4, "name": "payload", "required": False, "type": "variant"})
    metadata["last-column-id"] = 4


def geometry_column(metadata: dict) -> None:
    as_v3(metadata)
    retype(metadata, "shape", "geometry")


def unknown_column(metadata: dict) -> None:
    """A v3 `unknown` column, never written to a file (the spec: always null)."""
    as_v3(metadata)
    schema = metadata["schemas"][-1]
    schema["fields"].append({"id": 4, "name": "later", "required": False, "type": "unknown"})
    metadata["last-column-id"] = 4


def _partitioned_by(metadata: dict, field: dict) -> None:
    metadata["partition-specs"].append({"spec-id": 1, "fields": [field]})
    metadata["default-spec-id"] = 1
    metadata["last-partition-id"] = 1000


def unknown_transform(metadata: dict) -> None:
    """A partition field whose transform no reader knows (the spec: ignore it when planning);
    the existing files are unpartitioned, new ones would use it."""
    _partitioned_by(
        metadata, {"source-id": 2, "field-id": 1000, "name": "region_z", "transform": "zorder"}
    )


def multi_argument_transform(metadata: dict) -> None:
    as_v3(metadata)
    _partitioned_by(
        metadata,
        {"source-ids": [1, 2], "field-id": 1000, "name": "id_region", "transform": "zorder"},
    )


def _append(table: Table, data_file: DataFile) -> None:
    """Commit `data_file` as it stands (format, key_metadata) in a new data manifest."""
    with (
        table.transaction() as transaction,
        transaction.update_snapshot().fast_append() as append,
    ):
        append.append_data_file(data_file)


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


# --- the cases ---------------------------------------------------------------------------------

# table name -> (how to build it, the feature refused, what the refusal says it found)
UNSUPPORTED = {
    "orc": (orc_data, "file-format", "1 ORC data file(s)"),
    "avro": (avro_deletes, "file-format", "1 AVRO delete file(s)"),
    "key_metadata": (encrypted_file, "encryption", "1 file(s) with key_metadata"),
    "encrypted": (encryption_property, "encryption", "table property encryption.key-id"),
    "v4": (functools.partial(edited, edit=format_v4), "format-version", "format version 4"),
    "variant": (
        functools.partial(edited, edit=variant_column),
        "unloadable-type",
        "a column of type variant",
    ),
    "geometry": (
        functools.partial(edited, edit=geometry_column),
        "unreadable-type",
        "column 'shape' is of type geometry",
    ),
    "multi": (
        functools.partial(edited, edit=multi_argument_transform),
        "multi-argument-transform",
        "source-ids naming several columns",
    ),
}
# Unusual but served: the spec requires ignoring unknown transforms; `unknown` is always null.
SERVED = {
    "plain": plain,
    "unknown_type": functools.partial(edited, edit=unknown_column),
    "unknown_transform": functools.partial(edited, edit=unknown_transform),
}
