"""datapic_runtime.columns: the value a column takes in a file that lacks it (partition value,
initial-default), and the names a file without field ids gives its columns. The values are
checked against DuckDB's own casts, which is how the pod uses them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import UUID

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datapic_runtime.columns import (
    Column,
    Footers,
    duckdb_type,
    literal_text,
    mapped_names,
    names_in_file,
    partition_constants,
)
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.typedef import Record
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)


@pytest.mark.parametrize(
    ("value", "iceberg", "expected"),
    [
        (True, BooleanType(), True),
        (7, IntegerType(), 7),
        (2**40, LongType(), 2**40),
        (1.100000023841858, DoubleType(), 1.100000023841858),  # a float32 partition, widened
        (Decimal("3.141"), DecimalType(10, 3), Decimal("3.141")),
        (19803, DateType(), dt.date(2024, 3, 21)),
        (1_700_000_000_123_456, TimestampType(), dt.datetime(2023, 11, 14, 22, 13, 20, 123456)),
        (1_700_000_000_000_000, TimestamptzType(), 1_700_000_000_000_000),  # as epoch_us
        (3_600_000_001, TimeType(), dt.time(1, 0, 0, 1)),
        ("it's", StringType(), "it's"),
        (b"\x00\xffa", BinaryType(), b"\x00\xffa"),
    ],
)
def test_literal_text_casts_back_to_the_value(value, iceberg, expected):
    text = literal_text(value, iceberg)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    cast = f"CAST($v AS {duckdb_type(iceberg)})"
    if isinstance(iceberg, TimestamptzType):  # Python's form of it would need pytz
        cast = f"epoch_us({cast})"
    (got,) = connection.execute(f"SELECT {cast}", {"v": text}).fetchone()
    assert got == expected


def test_a_uuid_has_its_text_form():
    value = UUID("12345678-1234-5678-1234-567812345678")
    assert literal_text(value, UUIDType()) == "12345678-1234-5678-1234-567812345678"


def column(field_id, name, iceberg):
    return Column(field_id, name, duckdb_type(iceberg), iceberg)


COLUMNS = (
    column(1, "id", LongType()),
    column(2, "region", StringType()),
    column(3, "day", DateType()),
)
SPEC = PartitionSpec(
    PartitionField(2, 1000, IdentityTransform(), "region"),
    PartitionField(3, 1001, DayTransform(), "day_day"),  # not identity: never a constant
)


def data_file(**metrics):
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path="f.parquet",
        file_format=FileFormat.PARQUET,
        partition=Record("EMEA", 19803),
        record_count=2,
        file_size_in_bytes=1,
        **metrics,
    )


def test_a_file_without_metrics_for_an_identity_column_takes_its_partition_value():
    assert partition_constants(data_file(value_counts={1: 2}), SPEC, COLUMNS) == (
        None,
        "EMEA",
        None,
    )


@pytest.mark.parametrize("metrics", ["value_counts", "column_sizes", "null_value_counts"])
def test_a_file_whose_metrics_show_the_column_is_read_as_written(metrics):
    file = data_file(**{metrics: {1: 2, 2: 2}})
    assert partition_constants(file, SPEC, COLUMNS) == (None, None, None)


def test_an_unpartitioned_file_has_no_constants():
    assert partition_constants(data_file(), PartitionSpec(), COLUMNS) == (None, None, None)


def test_the_name_mapping_gives_each_column_the_name_a_file_holds():
    mapping = mapped_names(
        {
            "schema.name-mapping.default": '[{"field-id": 1, "names": ["id", "ID"]},'
            ' {"field-id": 2, "names": ["region"]}, {"field-id": 3, "names": ["day"]}]'
        }
    )
    assert mapping == {1: ("id", "ID"), 2: ("region",), 3: ("day",)}
    assert names_in_file(frozenset({"ID", "day"}), COLUMNS, mapping) == (
        "ID",
        "__datapic_missing_2",  # not in the file: its partition value or default
        "day",
    )
    assert names_in_file(None, COLUMNS, mapping) is None  # the file has field ids
    assert mapped_names({}) is None


def test_footers_say_whether_a_file_has_field_ids_once_per_file(tmp_path):
    with_ids = pa.schema([pa.field("a", pa.int64(), metadata={b"PARQUET:field_id": b"1"})])
    pq.write_table(pa.table({"a": [1]}, schema=with_ids), tmp_path / "ids.parquet")
    pq.write_table(pa.table({"a": [1], "b": ["x"]}), tmp_path / "plain.parquet")
    footers, io = Footers(), PyArrowFileIO()
    assert footers.names_without_ids(io, str(tmp_path / "ids.parquet")) is None
    plain = str(tmp_path / "plain.parquet")
    assert footers.names_without_ids(io, plain) == frozenset({"a", "b"})
    (tmp_path / "plain.parquet").unlink()  # files never change: the footer is kept
    assert footers.names_without_ids(io, plain) == frozenset({"a", "b"})
