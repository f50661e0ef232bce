"""datapic_runtime.deletes: which delete files apply to which data file, by the Iceberg spec's
rules (sequence numbers, partitions, unpartitioned deletes), over manifest entries as pyiceberg
reads them. The rows they remove are tested end to end in tests/reference/ and tests/pods/."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datapic_runtime.deletes import PositionCache, match_deletes
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestEntry,
    ManifestEntryStatus,
)
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.transforms import IdentityTransform
from pyiceberg.typedef import Record

BY_REGION = PartitionSpec(PartitionField(2, 1000, IdentityTransform(), "region"), spec_id=0)
UNPARTITIONED = PartitionSpec(spec_id=1)
# The spec evolved: region again, and a second field.
EVOLVED = PartitionSpec(
    PartitionField(2, 1000, IdentityTransform(), "region"),
    PartitionField(3, 1001, IdentityTransform(), "day"),
    spec_id=2,
)
SPECS = {0: BY_REGION, 1: UNPARTITIONED, 2: EVOLVED}


def entry(path, content, sequence, partition=("EMEA",), spec_id=0, equality_ids=None):
    file = DataFile.from_args(
        content=content,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record(*partition),
        record_count=1,
        file_size_in_bytes=1,
        equality_ids=equality_ids,
    )
    file.spec_id = spec_id
    return ManifestEntry.from_args(
        status=ManifestEntryStatus.ADDED, sequence_number=sequence, data_file=file
    )


def data(path, sequence, **kwargs):
    return entry(path, DataFileContent.DATA, sequence, **kwargs)


def equality(path, sequence, ids=(1,), **kwargs):
    return entry(path, DataFileContent.EQUALITY_DELETES, sequence, equality_ids=list(ids), **kwargs)


def positions(path, sequence, **kwargs):
    return entry(path, DataFileContent.POSITION_DELETES, sequence, **kwargs)


def applied(entries):
    """Per data file: the paths of its equality deletes and of its position deletes."""
    return {
        t.file.file_path: (
            sorted(d.file.file_path for d in t.equality_deletes),
            sorted(d.file_path for d in t.position_deletes),
        )
        for t in match_deletes(entries, SPECS)
    }


def test_an_equality_delete_spares_rows_of_its_own_sequence_number():
    # A Flink upsert: the new row and the delete of its older version in one commit.
    found = applied([data("old", 1), data("new", 2), equality("upsert", 2)])
    assert found == {"old": (["upsert"], []), "new": ([], [])}


def test_a_position_delete_applies_to_its_own_sequence_number():
    found = applied([data("same", 2), data("later", 3), positions("pos", 2)])
    assert found == {"same": ([], ["pos"]), "later": ([], [])}


def test_a_partitioned_equality_delete_stays_in_its_partition():
    found = applied(
        [
            data("emea", 1),
            data("apac", 1, partition=("APAC",)),
            equality("emea-deletes", 2),
        ]
    )
    assert found == {"emea": (["emea-deletes"], []), "apac": ([], [])}


def test_an_unpartitioned_equality_delete_applies_to_every_partition_and_spec():
    found = applied(
        [
            data("emea", 1),
            data("apac", 1, partition=("APAC",)),
            data("unpartitioned", 1, partition=(), spec_id=1),
            equality("global", 2, partition=(), spec_id=1),
        ]
    )
    assert all(deletes == (["global"], []) for deletes in found.values())


def test_the_same_partition_values_under_another_spec_are_another_partition():
    found = applied([data("spec0", 1), equality("spec2", 2, spec_id=2, partition=("EMEA",))])
    assert found == {"spec0": ([], [])}


def test_several_key_sets_and_every_kind_of_delete_on_one_file():
    found = applied(
        [
            data("file", 1),
            equality("by-id", 2, ids=(1,)),
            equality("by-id-and-name", 3, ids=(1, 3)),
            positions("pos", 4),
            equality("older", 0),  # written before the data: never applies
        ]
    )
    assert found == {"file": (["by-id", "by-id-and-name"], ["pos"])}
    (task,) = match_deletes([data("file", 1), equality("by-id-and-name", 3, ids=(1, 3))], SPECS)
    assert task.equality_deletes[0].equality_ids == (1, 3)


def test_v1_files_without_sequence_numbers_come_first():
    found = applied([data("v1", None), equality("later", 1)])
    assert found == {"v1": (["later"], [])}


@pytest.fixture
def position_file(tmp_path):
    path = tmp_path / "pos.parquet"
    rows = {"file_path": ["a.parquet", "b.parquet", "a.parquet"], "pos": [4, 0, 1]}
    pq.write_table(pa.table(rows), path)
    file = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=str(path),
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=3,
        file_size_in_bytes=path.stat().st_size,
    )
    return path, file


def test_position_deletes_are_read_once_and_kept(position_file):
    path, file = position_file
    cache = PositionCache()
    io = PyArrowFileIO()
    assert sorted(cache.deleted_rows(io, "a.parquet", [file]).to_pylist()) == [1, 4]
    path.unlink()  # delete files never change: the second data file needs no read
    assert cache.deleted_rows(io, "b.parquet", [file]).to_pylist() == [0]
    assert cache.deleted_rows(io, "c.parquet", [file]).to_pylist() == []


def test_position_deletes_beyond_the_bound_are_read_but_not_kept(position_file):
    path, file = position_file
    cache = PositionCache(max_positions=2)
    io = PyArrowFileIO()
    assert cache.deleted_rows(io, "b.parquet", [file]).to_pylist() == [0]
    path.unlink()
    with pytest.raises(FileNotFoundError):
        cache.deleted_rows(io, "b.parquet", [file])
