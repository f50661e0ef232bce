"""A table's metadata pointer read from a SQLite SQL catalog with the standard library.

pyiceberg's SqlCatalog answers `load_table` with one SELECT on `iceberg_tables`, but imports
SQLAlchemy for it: a quarter of a second at a pod's first request, a third of its cold start
(issue 11). The pod only ever loads its one table from the catalog, so for a plain SQLite catalog
it runs the same SELECT through `sqlite3`, read-only, on a connection of its own per load, and
builds the Table exactly as SqlCatalog does from the metadata location. A catalog configured
otherwise (a `schema_version`, another implementation) keeps pyiceberg's own client.

Failures keep SqlCatalog's names: `sqlite3.OperationalError` and `sqlite3.DatabaseError` are what
SQLAlchemy wraps under the same class names (errors.py classifies by name), and a missing row is
pyiceberg's NoSuchTableError with its message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.noop import NoopCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.io import load_file_io
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import Table

# SqlCatalog's lookup; rows of another kind (views written by Java or Rust) are not tables.
_LOOKUP = (
    "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables"
    " WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
)
_TABLES_ONLY = " AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)"


def reads_directly(properties: Mapping[str, Any]) -> bool:
    """Whether a catalog with these properties is pyiceberg's plain SqlCatalog, whose lookup
    `load_sqlite_table` repeats (SqlCatalog would migrate for `schema_version: v1`)."""
    kind = str(properties.get("type", "")).lower()
    inferred = not kind and str(properties.get("uri", "")).startswith("sqlite")
    return (
        (kind == "sql" or inferred)
        and not properties.get("py-catalog-impl")
        and properties.get("schema_version", "v0") == "v0"
    )


def load_sqlite_table(
    name: str, properties: Mapping[str, Any], uri: str, identifier: tuple[str, ...]
) -> Table:
    """Table `identifier` of catalog `name` from the SQLite database at `uri` (a read-only
    `file:` URI), with the FileIO SqlCatalog would give it."""
    namespace = Catalog.namespace_to_string(Catalog.namespace_from(identifier))
    key = (name, namespace, Catalog.table_name_from(identifier))
    row = _lookup(uri, key)
    if row is None:
        raise NoSuchTableError(f"Table does not exist: {namespace}.{key[2]}")
    table_namespace, table_name, metadata_location = row
    if not metadata_location:
        raise NoSuchTableError("Table property metadata_location is missing")
    if not table_namespace:
        raise NoSuchTableError("Table property IcebergTables.table_namespace is missing")
    if not table_name:
        raise NoSuchTableError("Table property IcebergTables.table_name is missing")
    catalog = NoopCatalog(name, **properties)
    io = load_file_io(properties=dict(properties), location=metadata_location)
    metadata = FromInputFile.table_metadata(io.new_input(metadata_location))
    return Table(
        identifier=Catalog.identifier_to_tuple(table_namespace) + (table_name,),
        metadata=metadata,
        metadata_location=metadata_location,
        io=catalog._load_file_io(metadata.properties, metadata_location),
        catalog=catalog,
    )


def _lookup(uri: str, key: tuple[str, str, str]) -> tuple[Any, Any, Any] | None:
    """The table's row; a catalog whose table has no `iceberg_type` column yet (SqlCatalog's
    v0 schema) is read without the filter, as SqlCatalog does."""
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        try:
            return connection.execute(_LOOKUP + _TABLES_ONLY, key).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such column: iceberg_type" not in str(exc):
                raise
        return connection.execute(_LOOKUP, key).fetchone()
    finally:
        connection.close()
