"""For `--check` of a pod reading another pod: the upstream's answer as an Iceberg schema.

The upstream's schema lock types its answer in Iceberg's names (`long`, `decimal(12, 2)`), so
the downstream is checked, and its own lock found, by the same rules as a pod over a table.
"""

from __future__ import annotations

from pydantic import TypeAdapter
from pyiceberg.schema import Schema
from pyiceberg.types import IcebergType, NestedField


def upstream_schema(column_types: tuple[tuple[str, str], ...]) -> Schema:
    """A schema with one optional field per answer column, typed as the upstream's lock says."""
    adapter = TypeAdapter(IcebergType)
    fields = [
        NestedField(field_id=index, name=name, field_type=adapter.validate_python(kind))
        for index, (name, kind) in enumerate(column_types, start=1)
    ]
    return Schema(*fields)
