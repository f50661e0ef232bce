"""pod.json, loaded once at start-up into typed, immutable values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterSpec:
    """A declared request parameter."""

    name: str
    type: str
    required: bool
    default: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpec:
    """The Iceberg table and the pyiceberg catalog name."""

    catalog: str
    namespace: tuple[str, ...]
    table: str

    @property
    def identifier(self) -> tuple[str, ...]:
        """The table identifier pyiceberg expects."""
        return (*self.namespace, self.table)

    @property
    def display(self) -> str:
        """`namespace.table`, for messages."""
        return ".".join(self.identifier)


@dataclass(frozen=True, slots=True, kw_only=True)
class PodConfig:
    """Everything the runtime needs from the compiled pod."""

    name: str
    source: SourceSpec
    columns: tuple[str, ...]
    read_columns: tuple[str, ...]
    parameters: tuple[ParameterSpec, ...]
    sql: str
    pushdown: tuple[dict, ...]
    freshness_seconds: float


def load_config(pod_dir: Path) -> PodConfig:
    """Read pod.json from the pod directory."""
    raw = json.loads((pod_dir / "pod.json").read_text(encoding="utf-8"))
    source = raw["source"]
    return PodConfig(
        name=raw["name"],
        source=SourceSpec(
            catalog=source["catalog"], namespace=tuple(source["namespace"]), table=source["table"]
        ),
        columns=tuple(raw["columns"]),
        read_columns=tuple(raw["read_columns"]),
        parameters=tuple(
            ParameterSpec(
                name=p["name"], type=p["type"], required=p["required"], default=p["default"]
            )
            for p in raw["parameters"]
        ),
        sql=raw["sql"],
        pushdown=tuple(raw["pushdown"]),
        freshness_seconds=raw["freshness_seconds"],
    )
