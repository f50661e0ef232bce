"""pod.json, loaded once at start-up into typed, immutable values (schemas/pod.schema.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .authspec import AuthSpec, parse_auth
from .errors import ConfigError
from .predicates import Predicate, parse_predicate
from .values import LIST_TYPES, TYPES, element_type, from_json

# The shape of pod.json this runtime reads; 2: `sql` is a list of lines, not one string.
FORMAT_VERSION = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterSpec:
    """A declared request parameter; `default` is already typed (a date for a date, a tuple of
    those for a list type, …)."""

    name: str
    type: str
    required: bool
    default: Any = None
    description: str = ""

    @property
    def element(self) -> str | None:
        """The type of one value of a list parameter (`string` for `string[]`); None for a
        scalar one."""
        return element_type(self.type)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpec:
    """The Iceberg table and the name of the pyiceberg catalog that knows it."""

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
class UpstreamSpec:
    """The pod a pod reads instead of a table: its name, the variable holding its URL, and the
    parameters passed through to it."""

    resource: str
    env: str
    parameters: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CorsSpec:
    """Which browser origins may read the pod's answers ("*": any, never with credentials)."""

    allow_origins: tuple[str, ...]
    allow_credentials: bool = False
    max_age_seconds: int = 600


@dataclass(frozen=True, slots=True, kw_only=True)
class PodConfig:
    """Everything the runtime needs from the compiled pod."""

    name: str
    source: SourceSpec
    columns: tuple[str, ...]
    read_columns: tuple[str, ...]
    parameters: tuple[ParameterSpec, ...]
    sql: str
    pushdown: tuple[Predicate, ...] = ()
    freshness_seconds: float = 0
    max_page_size: int = 10_000
    result_cache: bool = False
    # `select: "*"` compiled without --check: `columns` and `read_columns` are empty, and the
    # answer is every column of the table as its schema is when the pod answers.
    all_columns: bool = False
    # How callers are identified (bearer tokens); None: whoever reaches the pod may call it.
    auth: AuthSpec | None = None
    # Set when the pod reads another pod's answer (`source` is then only for the record).
    upstream: UpstreamSpec | None = None
    cors: CorsSpec | None = None  # None: no CORS headers
    description: str = field(default="", compare=False)


def load_config(pod_dir: Path) -> PodConfig:
    """Read and check pod.json in `pod_dir`; ConfigError says what is wrong."""
    path = pod_dir / "pod.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    return parse_config(raw)


def parse_config(raw: Any) -> PodConfig:
    """The typed form of pod.json's content; ConfigError names the first bad field."""
    try:
        return _parse(raw)
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"pod.json: missing or malformed field ({problem})") from None


def _parse(raw: dict) -> PodConfig:
    if raw["format_version"] != FORMAT_VERSION:
        raise ConfigError(
            f"pod.json: format_version {raw['format_version']!r} is not {FORMAT_VERSION}; "
            "recompile the pod with a datapic matching this runtime"
        )
    parameters = tuple(_parameter(p, f"parameters[{i}]") for i, p in enumerate(raw["parameters"]))
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise ConfigError("pod.json: parameters: a name is declared twice")
    source = raw["source"]
    return PodConfig(
        name=_text(raw["name"]),
        description=_text(raw["description"]),
        source=SourceSpec(
            catalog=_text(source["catalog"]),
            namespace=tuple(_text(part) for part in source["namespace"]),
            table=_text(source["table"]),
        ),
        columns=tuple(_text(c) for c in raw["columns"]),
        read_columns=tuple(_text(c) for c in raw["read_columns"]),
        parameters=parameters,
        sql=_sql(raw["sql"]),
        pushdown=tuple(
            parse_predicate(node, names, f"pod.json: pushdown[{i}]")
            for i, node in enumerate(raw["pushdown"])
        ),
        freshness_seconds=float(raw["freshness_seconds"]),
        max_page_size=_positive_integer(raw["max_page_size"], "max_page_size"),
        result_cache=_boolean(raw["result_cache"], "result_cache"),
        all_columns=_boolean(raw.get("all_columns", False), "all_columns"),
        auth=parse_auth(raw.get("auth"), frozenset(names)),
        upstream=_upstream(raw.get("upstream"), set(names)),
        cors=_cors(raw["cors"]) if "cors" in raw else None,
    )


def _upstream(raw: Any, declared: set[str]) -> UpstreamSpec | None:
    if raw is None:
        return None
    passed = tuple(_text(name) for name in raw["parameters"])
    if not declared.issuperset(passed):
        raise ConfigError("pod.json: upstream.parameters: names a parameter not declared")
    return UpstreamSpec(resource=_text(raw["resource"]), env=_text(raw["env"]), parameters=passed)


def _parameter(raw: dict, where: str) -> ParameterSpec:
    if raw["type"] not in (*TYPES, *LIST_TYPES):
        raise ConfigError(f"pod.json: {where}: unknown type {raw['type']!r}")
    if raw["required"] and raw["default"] is not None:
        raise ConfigError(f"pod.json: {where}: a required parameter has no default")
    try:
        default = from_json(raw["type"], raw["default"])
    except ValueError as exc:
        raise ConfigError(f"pod.json: {where}: default {exc}") from None
    return ParameterSpec(
        name=_text(raw["name"]),
        type=raw["type"],
        required=bool(raw["required"]),
        default=default,
        description=_text(raw["description"]),
    )


def _cors(raw: dict) -> CorsSpec:
    origins = tuple(_text(origin) for origin in raw["allow_origins"])
    credentials = _boolean(raw["allow_credentials"], "cors.allow_credentials")
    if not origins or (credentials and "*" in origins):
        # The compiler refuses both (DP0720); a hand-edited pod.json must not open the pod.
        raise ConfigError('pod.json: cors: no origins, or "*" with allow_credentials')
    max_age = raw["max_age_seconds"]
    if type(max_age) is not int or max_age < 0:
        raise ConfigError(f"pod.json: cors.max_age_seconds: expected seconds, got {max_age!r}")
    return CorsSpec(allow_origins=origins, allow_credentials=credentials, max_age_seconds=max_age)


def _sql(lines: Any) -> str:
    """pod.json's SQL: its lines (one per element, so that diffs read per clause) joined."""
    if not isinstance(lines, list) or not lines:
        raise TypeError(f"expected the SQL as a list of lines, got {lines!r}")
    return "\n".join(_text(line) for line in lines)


def _positive_integer(value: Any, where: str) -> int:
    if type(value) is not int or value < 1:
        raise ConfigError(f"pod.json: {where}: expected a positive integer, got {value!r}")
    return value


def _boolean(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise ConfigError(f"pod.json: {where}: expected true or false, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value
