"""For `--check`: what of a table its pod would refuse to serve (a 501), found before deploying.

The pod's runtime refuses these (datapic_runtime/features.py); the compiler and the runtime
never import each other, so each holds the rules as a table and
tests/compiler/check/test_features.py holds both to the same one. A feature is found in the
table's metadata (format version, properties, the types of the columns the pod reads), in
the failure of loading it (metadata pyiceberg cannot parse), or in the current snapshot's
data and delete files (their format, key_metadata), which the pod meets only when a request
plans them: any request may, so `--check` reads every manifest of the current snapshot.

Pure but for reading manifests: nothing is printed, nothing raises.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.schema import Schema, index_by_id
from pyiceberg.table import Table

MAX_FORMAT_VERSION = 3
DATA_FILE_FORMATS = frozenset({"PARQUET"})
DELETE_FILE_FORMATS = frozenset({"PARQUET", "PUFFIN"})
# Types (by their spec name) a pod cannot read from a file; columns it does not read are fine.
UNREADABLE_TYPES = frozenset({"geometry", "geography"})
# Set on every table Iceberg's own encryption (StandardEncryptionManager) writes.
ENCRYPTION_PROPERTY = "encryption.key-id"

# Each feature a pod does not serve: how messages name it, and what its owner can do (the
# runtime's 501 says the same).
FEATURES: dict[str, tuple[str, str]] = {
    "format-version": (
        "an Iceberg format version above 3",
        "serve a copy of the table in format version 3 or lower",
    ),
    "unloadable-type": (
        "a column type the pod's Iceberg reader cannot load",
        "no column of such a table can be served; serve a copy of the table without that column",
    ),
    "unreadable-type": (
        "a geometry or geography column",
        "leave the column out of the spec (select, filters, aggregates), or serve a copy that "
        "holds it as WKB binary",
    ),
    "multi-argument-transform": (
        "a multi-argument partition or sort transform",
        "serve a copy partitioned and sorted by single-column transforms",
    ),
    "encryption": (
        "table encryption",
        "serve an unencrypted copy of the table",
    ),
    "file-format": (
        "files in a format other than Parquet",
        "rewrite them as Parquet (set write.format.default=parquet, then rewrite the data "
        "files and delete files, e.g. Spark's rewrite_data_files and "
        "rewrite_position_delete_files)",
    ),
}

# How pyiceberg says it cannot parse table metadata: pattern -> (feature, detail template).
UNLOADABLE: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"Input tag '(-?\d+)' found using 'format_version'"),
        "format-version",
        "format version {}",
    ),
    (re.compile(r"Unsupported field type: '([^']+)'"), "unloadable-type", "a column of type {}"),
    (re.compile(r"Type not recognized: (\S+)"), "unloadable-type", "a column of type {}"),
    (
        re.compile(r"Multi argument transforms are not yet supported"),
        "multi-argument-transform",
        "source-ids naming several columns",
    ),
)


def message(feature: str, table: str, detail: str) -> str:
    """What `--check` says of `feature` found in `table` (`detail`: where).

    >>> message("encryption", "s.t", "table property encryption.key-id").split(": ")[0]
    "table 's.t' uses table encryption, which pods do not serve (table property encryption.key-id)"
    """
    name, remedy = FEATURES[feature]
    return f"table '{table}' uses {name}, which pods do not serve ({detail}): {remedy}"


def unloadable(exc: BaseException) -> tuple[str, str] | None:
    """(feature, detail) when `exc` is pyiceberg failing to load a table for a feature it cannot
    parse (its own ValidationError, or pydantic's through the REST catalog); else None."""
    if type(exc).__name__ != "ValidationError":
        return None
    text = str(exc)
    for pattern, feature, detail in UNLOADABLE:
        found = pattern.search(text)
        if found:
            return feature, detail.format(*found.groups())
    return None


def in_metadata(table: Table, read_columns: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(feature, detail) for each unsupported feature the table's metadata shows, given the
    columns the pod reads (a name the table lacks is DP0502's business, not this)."""
    version = table.metadata.format_version
    if version > MAX_FORMAT_VERSION:
        yield "format-version", f"format version {version}"
    if ENCRYPTION_PROPERTY in table.properties:
        yield "encryption", f"table property {ENCRYPTION_PROPERTY}"
    schema = table.schema()
    known = [n for n in read_columns if _has(schema, n)]
    read = schema.select(*known, case_sensitive=False)
    for field_id, field in index_by_id(read).items():
        name = str(field.field_type).split("(")[0]  # geometry('EPSG:4326') is a geometry
        if name in UNREADABLE_TYPES:
            yield "unreadable-type", f"column '{read.find_column_name(field_id)}' is of type {name}"


def _has(schema: Schema, name: str) -> bool:
    try:
        schema.find_field(name, case_sensitive=False)
    except ValueError:
        return False
    return True


def current_files(table: Table) -> list[DataFile]:
    """The live data and delete files of the table's current snapshot (reads its manifests)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    return [
        entry.data_file
        for manifest in snapshot.manifests(table.io)
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
    ]


def in_files(files: Iterable[DataFile]) -> Iterator[tuple[str, str]]:
    """(feature, detail) for each unsupported feature of these data and delete files, with how
    many of the current snapshot's files show it."""
    formats: Counter[tuple[str, str]] = Counter()
    encrypted = 0
    for file in files:
        data = file.content == DataFileContent.DATA
        name = str(getattr(file.file_format, "value", file.file_format)).upper()
        if name not in (DATA_FILE_FORMATS if data else DELETE_FILE_FORMATS):
            formats[(name, "data" if data else "delete")] += 1
        if file.key_metadata is not None:
            encrypted += 1
    if encrypted:
        yield "encryption", f"{encrypted} file(s) with key_metadata in the current snapshot"
    for (name, kind), count in sorted(formats.items()):
        yield "file-format", f"{count} {name} {kind} file(s) in the current snapshot"
