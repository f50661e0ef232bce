"""What a pod cannot serve, refused as a 501 that names the feature, the table and what to do.

The pod reads what the Iceberg spec (v1-v3) defines for reads. What remains below would
otherwise be a 500 or, worse, a wrong answer:

- a format version above 3 (v4 resolves relative paths, which pyiceberg 0.12 cannot load);
- a column of a type pyiceberg cannot load (variant): not one column of the table loads;
- a read column of type geometry or geography (pyiceberg cannot read them from a file);
- a partition or sort field with a multi-argument transform (pyiceberg cannot load it);
- encryption (table property `encryption.key-id`, files with `key_metadata`): the pod would
  read ciphertext, or fail as if storage were down;
- data files other than Parquet, delete files other than Parquet or Puffin (deletion vectors).

Unknown single-argument transforms are served: the spec requires v3 readers to ignore them
when planning, and pyiceberg does. Columns of type `unknown` are served: always null.

Each check needs only what the pod has at that point: the table as loaded (metadata), the
failure of loading it (what pyiceberg cannot even parse), or the planned files. The compiler's
`--check` applies the same rules (compiler/check/features.py): the two never import each
other, so tests/compiler/check/test_features.py holds both to this one list.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.schema import Schema, index_by_id
from pyiceberg.table import Table

from .deletes import DataTask
from .errors import PodError

# What a pod answers when a table uses a feature it does not serve.
NOT_IMPLEMENTED = 501

MAX_FORMAT_VERSION = 3
DATA_FILE_FORMATS = frozenset({"PARQUET"})
DELETE_FILE_FORMATS = frozenset({"PARQUET", "PUFFIN"})
# Types (by their spec name) a pod cannot read from a file; columns it does not read are fine.
UNREADABLE_TYPES = frozenset({"geometry", "geography"})
# Set on every table Iceberg's own encryption (StandardEncryptionManager) writes.
ENCRYPTION_PROPERTY = "encryption.key-id"

# Each feature a pod does not serve: how messages name it, and what its owner can do.
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

# How pyiceberg (its own ValidationError, or pydantic's through the REST catalog) says it
# cannot load table metadata: pattern -> (feature, detail with the pattern's groups).
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


def refusal(feature: str, display: str, detail: str) -> PodError:
    """The 501 for `feature` of table `display`, `detail` saying where it was found.

    >>> error = refusal("encryption", "s.t", "a key")
    >>> error.status, error.message.startswith("table s.t uses table encryption, which pods")
    (501, True)
    """
    name, remedy = FEATURES[feature]
    message = f"table {display} uses {name}, which pods do not serve ({detail}): {remedy}"
    return PodError(NOT_IMPLEMENTED, message)


def refuse_unloadable(exc: BaseException, display: str) -> PodError | None:
    """The 501 for a table pyiceberg failed to load because of a feature it cannot parse, if
    that is why `exc` was raised (else None: some other failure)."""
    if type(exc).__name__ != "ValidationError":
        return None
    text = str(exc)
    for pattern, feature, detail in UNLOADABLE:
        found = pattern.search(text)
        if found:
            return refusal(feature, display, detail.format(*found.groups()))
    return None


def refuse_unsupported_table(table: Table, display: str, projection: Schema) -> None:
    """Raise the 501 for the first feature of `table`'s metadata the pod cannot serve, given
    the columns it reads (`projection`)."""
    for feature, detail in unsupported_in_metadata(table, projection):
        raise refusal(feature, display, detail)


def unsupported_in_metadata(table: Table, projection: Schema) -> Iterator[tuple[str, str]]:
    """(feature, detail) for each unsupported feature table metadata shows."""
    version = table.metadata.format_version
    if version > MAX_FORMAT_VERSION:
        yield "format-version", f"format version {version}"
    if ENCRYPTION_PROPERTY in table.properties:
        yield "encryption", f"table property {ENCRYPTION_PROPERTY}"
    for field_id, field in index_by_id(projection).items():
        name = str(field.field_type).split("(")[0]  # geometry('EPSG:4326') is a geometry
        if name in UNREADABLE_TYPES:
            column = projection.find_column_name(field_id)
            yield "unreadable-type", f"column '{column}' is of type {name}"


def refuse_unsupported_files(tasks: Iterable[DataTask], display: str) -> None:
    """Raise the 501 for the first feature of the planned files (data and delete files) the
    pod cannot serve."""
    files = {
        f.file_path: f
        for t in tasks
        for f in (t.file, *t.position_deletes, *(d.file for d in t.equality_deletes))
    }
    for feature, detail in unsupported_in_files(files.values()):
        raise refusal(feature, display, f"{detail} among the files this request reads")


def unsupported_in_files(files: Iterable[DataFile]) -> Iterator[tuple[str, str]]:
    """(feature, detail) for each unsupported feature of these data and delete files, with
    how many files show it."""
    formats: Counter[tuple[str, str]] = Counter()
    encrypted = 0
    for file in files:
        kind, allowed = (
            ("data", DATA_FILE_FORMATS)
            if file.content == DataFileContent.DATA
            else ("delete", DELETE_FILE_FORMATS)
        )
        name = _format_name(file.file_format)
        if name not in allowed:
            formats[(name, kind)] += 1
        if file.key_metadata is not None:
            encrypted += 1
    if encrypted:
        yield "encryption", f"{encrypted} file(s) with key_metadata"
    for (name, kind), count in sorted(formats.items()):
        yield "file-format", f"{count} {name} {kind} file(s)"


def _format_name(file_format: object) -> str:
    """A manifest's file format as the spec spells it, upper case (pyiceberg's FileFormat or
    a plain string)."""
    return str(getattr(file_format, "value", file_format)).upper()
