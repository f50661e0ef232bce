"""Which delete files apply to which data file, as the Iceberg spec (v2, v3) defines it.

A position delete file (or a v3 deletion vector) applies to a data file when its data sequence
number is *greater than or equal to* the data file's and it lies in the same partition (spec id
and partition tuple), or names the data file outright. An equality delete file applies when its
sequence number is *strictly greater* (a Flink upsert writes a row and the delete of its older
version in one commit: the delete must spare the row written with it) and it lies in the same
partition, or in an unpartitioned spec, when it applies to every partition.

pyiceberg's index matches position deletes (and prunes them by their file_path bounds); the
equality side is ours, since pyiceberg refuses equality deletes outright.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyiceberg.io.pyarrow import _read_deletes
from pyiceberg.manifest import INITIAL_SEQUENCE_NUMBER, DataFile, DataFileContent, ManifestEntry
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.table.delete_file_index import DeleteFileIndex


@dataclass(frozen=True, slots=True)
class EqualityDelete:
    """An equality delete file, with what decides where it applies."""

    file: DataFile
    sequence_number: int
    equality_ids: tuple[int, ...]
    # Its spec has no partition fields: it applies to data files of every partition.
    applies_everywhere: bool


@dataclass(frozen=True, slots=True)
class DataTask:
    """A data file to read and every delete file that applies to it."""

    file: DataFile
    sequence_number: int
    position_deletes: tuple[DataFile, ...]  # Parquet position deletes and deletion vectors
    equality_deletes: tuple[EqualityDelete, ...]

    @property
    def has_deletes(self) -> bool:
        return bool(self.position_deletes or self.equality_deletes)


def sequence_number(entry: ManifestEntry) -> int:
    """The entry's data sequence number (v1 files have none: they come first)."""
    return entry.sequence_number if entry.sequence_number is not None else INITIAL_SEQUENCE_NUMBER


class _EqualityIndex:
    """Equality delete files by partition (and the unpartitioned ones), sorted by sequence."""

    def __init__(self, specs: Mapping[int, PartitionSpec]) -> None:
        self._specs = specs
        self._by_partition: dict[tuple, list[EqualityDelete]] = defaultdict(list)
        self._everywhere: list[EqualityDelete] = []

    def add(self, entry: ManifestEntry) -> None:
        file = entry.data_file
        spec = self._specs.get(file.spec_id)
        everywhere = spec is not None and not spec.fields
        delete = EqualityDelete(
            file, sequence_number(entry), tuple(file.equality_ids or ()), everywhere
        )
        if everywhere:
            self._everywhere.append(delete)
        else:
            self._by_partition[partition_key(file)].append(delete)

    def sort(self) -> None:
        for deletes in (*self._by_partition.values(), self._everywhere):
            deletes.sort(key=lambda d: d.sequence_number)

    def for_data(self, sequence: int, file: DataFile) -> tuple[EqualityDelete, ...]:
        """The equality deletes newer than `sequence` in `file`'s partition or everywhere."""
        scoped = self._by_partition.get(partition_key(file), [])
        return (*_newer_than(scoped, sequence), *_newer_than(self._everywhere, sequence))


def _newer_than(deletes: list[EqualityDelete], sequence: int) -> list[EqualityDelete]:
    keys = [d.sequence_number for d in deletes]
    return deletes[bisect_right(keys, sequence) :]


def partition_key(file: DataFile) -> tuple:
    """Spec id and partition tuple: what "the same partition" means."""
    partition = file.partition
    values = tuple(partition[i] for i in range(len(partition))) if partition else ()
    return (file.spec_id or 0, values)


def match_deletes(
    entries: Iterable[ManifestEntry], specs: Mapping[int, PartitionSpec]
) -> list[DataTask]:
    """The data files among `entries` with the delete files (also among them) that apply."""
    data: list[ManifestEntry] = []
    positions = DeleteFileIndex()
    equalities = _EqualityIndex(specs)
    for entry in entries:
        content = entry.data_file.content
        if content == DataFileContent.DATA:
            data.append(entry)
        elif content == DataFileContent.POSITION_DELETES:
            positions.add_delete_file(entry, partition_key=entry.data_file.partition)
        elif content == DataFileContent.EQUALITY_DELETES:
            equalities.add(entry)
        else:
            raise ValueError(f"unknown content {content!r} of {entry.data_file.file_path}")
    equalities.sort()
    tasks = []
    for entry in data:
        sequence = sequence_number(entry)
        file = entry.data_file
        found = positions.for_data_file(sequence, file, partition_key=file.partition)
        tasks.append(
            DataTask(
                file,
                sequence,
                tuple(sorted(found, key=lambda f: f.file_path)),
                equalities.for_data(sequence, file),
            )
        )
    return tasks


# Deleted row positions kept in memory, across delete files: 8 bytes each, 32 MB in all.
POSITIONS_KEPT = 4_000_000


class PositionCache:
    """Rows that position delete files and deletion vectors remove, by data file; each delete
    file is read (and a Puffin file decoded) once, then kept while it fits."""

    def __init__(self, max_positions: int = POSITIONS_KEPT) -> None:
        self.max_positions = max_positions
        self._files: OrderedDict[str, dict[str, pa.ChunkedArray]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def deleted_rows(self, io: Any, data_path: str, deletes: Iterable[DataFile]) -> pa.Array:
        """The positions of `data_path` that `deletes` remove (int64, unsorted)."""
        found = [self._read(io, d).get(data_path) for d in deletes]
        chunks = [c for array in found if array is not None for c in array.chunks]
        if not chunks:
            return pa.array([], pa.int64())
        return pa.concat_arrays([c.cast(pa.int64()) for c in chunks])

    def _read(self, io: Any, delete: DataFile) -> dict[str, pa.ChunkedArray]:
        key = delete.file_path
        with self._lock:
            if key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
        read = _read_deletes(io, delete)
        size = sum(len(a) for a in read.values())
        with self._lock:
            if key not in self._files and size <= self.max_positions:
                self._files[key] = read
                self._count += size
            while self._count > self.max_positions:
                _, evicted = self._files.popitem(last=False)
                self._count -= sum(len(a) for a in evicted.values())
        return read


POSITIONS = PositionCache()
