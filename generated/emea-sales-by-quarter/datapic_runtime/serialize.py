"""Answer rows as a JSON array of objects, keys in the pod's column order."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    # Decimals as strings: a JSON number would lose digits in most clients' float parsing.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def rows_to_json(columns: Sequence[str], rows: Sequence[tuple]) -> bytes:
    """`[{"col": value, ...}, ...]`; dates and timestamps in ISO 8601, NULL as null."""
    return orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=_default)


def error_json(message: str) -> bytes:
    """The body of every error answer."""
    return orjson.dumps({"error": message})
