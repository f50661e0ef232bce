"""What each answer format makes of a column of a locked type (README, "Types in answers"): the
JSON Schema of its JSON and NDJSON values, and its type in Arrow IPC, Parquet and CSV, for the
pod's openapi.json. The types are Iceberg's names, as the schema lock writes them."""

from __future__ import annotations

import re
from typing import Any

_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")
_FRACTION = {6: r"(\.[0-9]{6})?", 9: r"(\.[0-9]{9})?"}
_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME = "[0-9]{2}:[0-9]{2}:[0-9]{2}"
_OFFSET = "(Z|[+-][0-9]{2}:[0-9]{2})"


def _pattern(text: str) -> dict[str, str]:
    return {"type": "string", "pattern": f"^{text}$"}


# JSON and NDJSON values of each primitive type (NULL aside, which every column may be).
_JSON: dict[str, dict[str, Any]] = {
    "boolean": {"type": "boolean"},
    "int": {"type": "integer", "format": "int32"},
    "long": {"type": "integer", "format": "int64"},
    # NaN and ±infinity are answered as null.
    "float": {"type": "number", "format": "float"},
    "double": {"type": "number", "format": "double"},
    "date": {"type": "string", "format": "date"},
    "time": _pattern(_TIME + _FRACTION[6]),
    # Without an offset: not an RFC 3339 date-time.
    "timestamp": _pattern(f"{_DATE}T{_TIME}{_FRACTION[6]}"),
    # In UTC with its offset; the pattern too, as not every validator checks formats.
    "timestamptz": {**_pattern(f"{_DATE}T{_TIME}{_FRACTION[6]}{_OFFSET}"), "format": "date-time"},
    "timestamp_ns": _pattern(f"{_DATE}T{_TIME}{_FRACTION[9]}"),
    "timestamptz_ns": {
        **_pattern(f"{_DATE}T{_TIME}{_FRACTION[9]}{_OFFSET}"),
        "format": "date-time",
    },
    "string": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "binary": {"type": "string", "contentEncoding": "base64"},
}
# Arrow IPC's (and, read back, Parquet's) type of each primitive type, as pyarrow prints it.
_ARROW = {
    "boolean": "bool",
    "int": "int32",
    "long": "int64",
    "float": "float",
    "double": "double",
    "date": "date32[day]",
    "time": "time64[us]",
    "timestamp": "timestamp[us]",
    "timestamptz": "timestamp[us, tz=UTC]",
    "timestamp_ns": "timestamp[ns]",
    "timestamptz_ns": "timestamp[ns, tz=UTC]",
    "string": "string",
    "uuid": "string",
    "binary": "binary",
}
_NESTED = {"struct": "object", "list": "array", "map": "array"}


def json_schema(iceberg_type: str) -> dict[str, Any]:
    """The JSON Schema of a column's values in JSON and NDJSON answers; {} for a type it does
    not know (any value).

    >>> json_schema("long")
    {'type': ['integer', 'null'], 'format': 'int64'}
    >>> json_schema("decimal(12, 2)")["pattern"]
    '^-?[0-9]+\\\\.[0-9]{2}$'
    """
    schema = _primitive(iceberg_type)
    if schema is None:
        return {}
    return {**schema, "type": [schema["type"], "null"]}


def _primitive(iceberg_type: str) -> dict[str, Any] | None:
    decimal = _DECIMAL.fullmatch(iceberg_type)
    if decimal:
        scale = int(decimal[2])
        # A string with exactly `scale` decimals, so that no digit is lost.
        return _pattern("-?[0-9]+" + (rf"\.[0-9]{{{scale}}}" if scale else ""))
    if iceberg_type.startswith("fixed"):
        return _JSON["binary"]
    nested = _NESTED.get(iceberg_type.partition("<")[0])
    if nested is not None:
        return {"type": nested}
    return _JSON.get(iceberg_type)


def arrow_type(iceberg_type: str) -> str:
    """A column's type in Arrow IPC answers (Parquet's reads back as the same).

    >>> arrow_type("decimal(38, 2)"), arrow_type("timestamptz")
    ('decimal128(38, 2)', 'timestamp[us, tz=UTC]')
    """
    decimal = _DECIMAL.fullmatch(iceberg_type)
    if decimal:
        return f"decimal128({decimal[1]}, {decimal[2]})"
    if iceberg_type.startswith("fixed"):
        return "binary"
    return _ARROW.get(iceberg_type, iceberg_type)
