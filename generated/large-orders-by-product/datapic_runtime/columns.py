"""What value each column takes in each data file, as the Iceberg spec defines it.

A column is read by its field id, in the table's current type (DuckDB widens int to long,
float to double, a decimal's precision, a date to a timestamp). Where a file lacks the column:
- an identity-partition column takes the file's partition value from the manifest (Hive
  layouts, add_files, files written before the partition spec changed keep it only there);
- a column added later takes its v3 `initial-default`, else NULL.
Files written without Parquet field ids (migrated tables) are read by the names the table's
name mapping (`schema.name-mapping.default`) gives each field id.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import pyarrow.parquet as pq
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.transforms import IdentityTransform
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
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
)

NAME_MAPPING = "schema.name-mapping.default"
# Parquet footers kept (one per data file of a name-mapped table): files never change.
FOOTERS_KEPT = 4096

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
_EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Column:
    """A column the scan reads: its field id, its name in the scan and its DuckDB type."""

    field_id: int
    name: str  # the table's current name; an internal name for equality keys the query skips
    duckdb_type: str | None  # None: DuckDB cannot read it by field id
    iceberg_type: IcebergType
    default: str | None = None  # v3 initial-default as text DuckDB casts, None: NULL
    read_by_query: bool = True
    position: int = 0  # in the plan's columns, which per-file values follow


def duckdb_type(field_type: IcebergType) -> str | None:
    """The DuckDB type that reads `field_type` by field id as pyiceberg would, if there is one."""
    for iceberg, duck in _DUCKDB_TYPES:
        if type(field_type) is iceberg:
            return duck(field_type) if callable(duck) else duck
    return None


def literal_text(value: Any, field_type: IcebergType) -> str:
    """`value` (as pyiceberg holds it in a partition tuple or a default) as text that DuckDB
    casts to `field_type`.

    >>> literal_text(19803, DateType())
    '2024-03-21'
    >>> literal_text(1.100000023841858, DoubleType())
    '1.100000023841858'
    >>> literal_text(b"\\x00\\xff", BinaryType())
    '\\\\x00\\\\xFF'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(field_type, DateType) and isinstance(value, int):
        return (dt.date(1970, 1, 1) + dt.timedelta(days=value)).isoformat()
    if isinstance(field_type, TimestamptzType) and isinstance(value, int):
        return (_EPOCH + dt.timedelta(microseconds=value)).isoformat() + "+00:00"
    if isinstance(field_type, TimestampType) and isinstance(value, int):
        return (_EPOCH + dt.timedelta(microseconds=value)).isoformat()
    if isinstance(field_type, TimeType) and isinstance(value, int):
        return (_EPOCH + dt.timedelta(microseconds=value)).time().isoformat()
    if isinstance(value, bytes | bytearray):
        return "".join(f"\\x{b:02X}" for b in value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str | Decimal | UUID | dt.date | dt.time):
        return str(value)
    raise ValueError(f"no text form for {value!r} of type {field_type}")


def partition_constants(
    file: DataFile, spec: PartitionSpec | None, columns: Sequence[Column]
) -> tuple[str | None, ...]:
    """Per column: the file's identity-partition value where the file may lack the column,
    else None (the file's own values are read).

    A file whose column metrics name a field id holds that column; one without metrics for it
    may lack it, and then only the manifest knows its value.
    """
    if spec is None or not spec.fields:
        return (None,) * len(columns)
    metrics = (file.value_counts, file.column_sizes, file.null_value_counts)
    known = {field_id for counts in metrics for field_id in counts or {}}
    by_source = {
        f.source_id: position
        for position, f in enumerate(spec.fields)
        if isinstance(f.transform, IdentityTransform)
    }
    constants: list[str | None] = []
    for column in columns:
        position = by_source.get(column.field_id)
        value = file.partition[position] if position is not None else None
        if position is None or column.field_id in known or value is None:
            constants.append(None)
        else:
            constants.append(literal_text(value, column.iceberg_type))
    return tuple(constants)


def mapped_names(table_properties: Mapping[str, str]) -> dict[int, tuple[str, ...]] | None:
    """The top-level names the table's name mapping gives each field id, if it has one."""
    text = table_properties.get(NAME_MAPPING)
    if not text:
        return None
    return {
        int(entry["field-id"]): tuple(entry.get("names", ()))
        for entry in json.loads(text)
        if "field-id" in entry
    }


def names_in_file(
    file_names: frozenset[str] | None,
    columns: Sequence[Column],
    mapping: Mapping[int, tuple[str, ...]],
) -> tuple[str, ...] | None:
    """Per column, the name it has in a file without field ids (None: the file has field ids).

    A column none of whose mapped names the file holds gets a name no file holds, so it reads
    as missing (its partition value or default).
    """
    if file_names is None:
        return None
    names = []
    for column in columns:
        found = next((n for n in mapping.get(column.field_id, ()) if n in file_names), None)
        names.append(found or f"__datapic_missing_{column.field_id}")
    return tuple(names)


class Footers:
    """Top-level column names of Parquet files that lack field ids (None: it has them), read
    once per file."""

    def __init__(self, max_files: int = FOOTERS_KEPT) -> None:
        self.max_files = max_files
        self._files: OrderedDict[str, frozenset[str] | None] = OrderedDict()
        self._lock = threading.Lock()

    def names_without_ids(self, io: Any, path: str) -> frozenset[str] | None:
        """The file's column names if it has no Parquet field ids, None if it has them."""
        with self._lock:
            if path in self._files:
                self._files.move_to_end(path)
                return self._files[path]
        with io.new_input(path).open() as handle:
            schema = pq.read_schema(handle)
        has_ids = any(f.metadata and b"PARQUET:field_id" in f.metadata for f in schema)
        found = None if has_ids else frozenset(schema.names)
        with self._lock:
            self._files[path] = found
            while len(self._files) > self.max_files:
                self._files.popitem(last=False)
        return found
