"""One catalog's pyiceberg properties, where they came from, and which of them are secret."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..secrets import SECRET_NAME, without_userinfo

PYICEBERG_CONFIGURATION = "pyiceberg configuration"


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogSettings:
    """The pyiceberg properties of one catalog and where they came from."""

    name: str
    origin: str  # "config.yml" or PYICEBERG_CONFIGURATION, as messages name it
    properties: Mapping[str, Any] = field(repr=False)

    @property
    def uri(self) -> str:
        """The catalog's address for messages, without any user information."""
        return without_userinfo(str(self.properties.get("uri", "(no uri)")))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value among the properties (and each half of a credential), longest
        first, so that none is half-masked."""
        found: set[str] = set()
        for key, value in _flat(self.properties):
            if SECRET_NAME.search(key) and isinstance(value, str) and value:
                found.add(value)
                found.update(part for part in value.split(":") if len(part) >= 4)
        return tuple(sorted(found, key=len, reverse=True))


def _flat(properties: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in properties.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
