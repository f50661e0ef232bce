"""The intermediate representation: what a spec means, independent of how it was written.

Frozen, slotted, keyword-only dataclasses with tuples for sequences. Every node keeps the span
it came from (excluded from equality) so later stages can point back at the YAML. SQL fragments
are kept as text; sqlglot trees never enter the IR.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..diagnostics import Span

NO_SPAN = Span(file="<none>", line=1, column=1)
# The pyiceberg catalog a table is in when depends_on names none.
DEFAULT_CATALOG = "default"


class Operation(enum.Enum):
    """The two shapes of pod query."""

    PROJECTION = "PROJECTION"
    REDUCTION = "REDUCTION"


class ParamType(enum.StrEnum):
    """Types a request parameter can declare, as the spec spells them: each scalar type and its
    list form (`string[]`), which only `column IN :name` may use."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    STRING_LIST = "string[]"
    INTEGER_LIST = "integer[]"
    NUMBER_LIST = "number[]"
    BOOLEAN_LIST = "boolean[]"
    DATE_LIST = "date[]"
    TIMESTAMP_LIST = "timestamp[]"

    @property
    def is_list(self) -> bool:
        """Whether a value of this type is a list of values."""
        return self.value.endswith("[]")

    @property
    def element(self) -> ParamType:
        """The type of one value: the type itself for a scalar, `string` for `string[]`."""
        return ParamType(self.value.removesuffix("[]"))

    @property
    def as_list(self) -> ParamType:
        """The list form of a scalar type (itself for a list type)."""
        return ParamType(f"{self.element.value}[]")


# The most values one list parameter takes (the runtime's MAX_LIST_VALUES, values.py): a list
# is a filter's IN list, not a way to upload data.
MAX_LIST_VALUES = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """A node of the IR: it keeps the span it came from, which equality ignores, so any later
    stage can point at the YAML."""

    span: Span = field(default=NO_SPAN, compare=False)


# Query arguments every pod takes beside the spec's parameters (the runtime's
# RESERVED_ARGUMENTS), so a spec may not declare a parameter of these names.
POD_ARGUMENTS = ("format", "limit", "page_token")


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter(Located):
    """A typed request parameter; `default` is its JSON form (ISO strings for dates, a tuple of
    those for a list type)."""

    name: str
    type: ParamType
    required: bool
    default: str | int | float | bool | tuple | None = None
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Source(Located):
    """The Iceberg table a pod reads, and the pyiceberg catalog that knows it."""

    catalog: str
    namespace: tuple[str, ...]
    table: str

    @property
    def qualified_name(self) -> str:
        """`namespace.table`, as messages name the table."""
        return ".".join((*self.namespace, self.table))


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream(Located):
    """Another pod of the project this pod reads (`depends_on: - resource: NAME`), its answer
    standing where a table would; the span is the `resource:` value's.

    As built only `resource` is known; resolving it against the upstream's pod.json
    (compiler/spec/upstream.py) fills in the rest: the variable its URL comes from, the
    parameters passed through (those both pods declare) and its answer's columns with their
    types (Iceberg names, from its schema lock; empty when it has none).
    """

    resource: str
    env: str = ""
    parameters: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    column_types: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Column(Located):
    """An output of select or group_by: a table column, or a computed one (`name: expression`).

    `expression` is the scalar SQL computing it as written; None for the table column `name`.
    """

    name: str
    expression: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderKey(Located):
    """One output column to sort by."""

    column: str
    descending: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Aggregate(Located):
    """One reduction output: its name and the aggregate SQL expression computing it."""

    name: str
    expression: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter(Located):
    """One boolean SQL condition, as written."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Projection:
    """select + filters: rows of chosen columns.

    `all_columns` is dataPi's `select: "*"`: every column of the table, in its order, which
    `--check` resolves into `columns` and a pod compiled without it reads at run time.
    """

    columns: tuple[Column, ...]
    all_columns: bool = False

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the answer's columns, in order."""
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reduction:
    """aggregate + group_by + filters: one row per group; `having` keeps only the groups that
    meet all its conditions."""

    group_by: tuple[Column, ...]
    aggregates: tuple[Aggregate, ...]
    having: tuple[Filter, ...] = ()

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the answer's columns: the grouping columns, then the aggregates."""
        return tuple(c.name for c in self.group_by) + tuple(a.name for a in self.aggregates)


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Which spec a pod came from, in a form that is the same on every machine."""

    spec_path: str
    spec_sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef(Located):
    """An environment variable filled from a Secret Manager secret at run time."""

    env: str
    secret: str
    version: str = "latest"


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """How the pod runs on Cloud Run: the spec's deploy block over the project's defaults.

    `project` is None when the build's own project is meant; `service_account` is an e-mail,
    possibly containing the `${_PROJECT}` substitution when the spec gave a bare name.
    """

    enabled: bool = True
    project: str | None = None
    region: str = "europe-west1"
    repository: str = "datapic"
    # A Container Registry host (gcr.io, eu.gcr.io, …) for the image, from dataPi's
    # `registry_url: gcr.io/PROJECT`; None: Artifact Registry's REGION-docker.pkg.dev.
    registry: str | None = None
    service_account: str = "datapic-pods@${_PROJECT}.iam.gserviceaccount.com"
    min_instances: int = 0
    max_instances: int = 10
    memory: str = "1Gi"
    cpu: str = "1"
    concurrency: int = 80
    timeout_seconds: int = 300
    public: bool = False
    # Pinned by version; by digest too where the project's tooling keeps the digest current.
    base_image: str = "python:3.11.14-slim-bookworm"
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[SecretRef, ...] = ()
    config_files: tuple[str, ...] = ()


DEFAULT_DEPLOYMENT = Deployment()


@dataclass(frozen=True, slots=True, kw_only=True)
class Jwt(Located):
    """How bearer tokens are verified: an OIDC `issuer` (keys from its discovery document) with
    its `audience`, or HS256 with the secret in the environment variable `secret_env`."""

    issuer: str | None = None
    audience: str | None = None
    secret_env: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRequirement(Located):
    """A claim the token must hold: the claim's keys from the claims' root, and the value it
    must be or contain."""

    claim: tuple[str, ...]
    value: str | int | bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimBinding(Located):
    """A parameter fixed by a claim: `claim` the keys from the claims' root."""

    parameter: str
    claim: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerLimits:
    """Per token subject and instance: requests a minute and queries at once (0: no limit)."""

    requests_per_minute: int = 600
    concurrent_queries: int = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth(Located):
    """Who may call the pod (the spec's auth block over datapic.yaml's)."""

    jwt: Jwt
    require: tuple[ClaimRequirement, ...] = ()
    bind: tuple[ClaimBinding, ...] = ()
    limits: CallerLimits = CallerLimits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Cors:
    """Which browser origins may read the pod's answers (checked: each origin as a browser
    sends it, or "*" alone and then without credentials)."""

    allow_origins: tuple[str, ...]
    allow_credentials: bool = False
    max_age_seconds: int = 600


@dataclass(frozen=True, slots=True, kw_only=True)
class Pod:
    """Everything a spec says, normalised: the input of lowering and rendering."""

    name: str
    short_description: str
    long_description: str
    source: Source
    query: Projection | Reduction
    filters: tuple[Filter, ...]
    parameters: tuple[Parameter, ...]
    order_by: tuple[OrderKey, ...]
    limit: int | None
    freshness_seconds: float
    max_page_size: int
    result_cache: bool
    deploy: bool
    provenance: Provenance
    deployment: Deployment = DEFAULT_DEPLOYMENT
    # Bearer-token verification, required claims and bound parameters; None: no caller is
    # asked who it is (Cloud Run IAM, when not public, is then the only gate).
    auth: Auth | None = None
    cors: Cors | None = None  # None: no CORS headers
    span: Span = field(default=NO_SPAN, compare=False)  # where resource_name's value stands
    # Where the spec sets result_cache itself; None when the default for the operation applies.
    result_cache_set_at: Span | None = field(default=None, compare=False)
    # Parameters whose declaration has errors (only in a spec that fails): lowering does not
    # judge their uses again, neither as undeclared nor by a type it does not know.
    unchecked_parameters: frozenset[str] = field(default=frozenset(), compare=False)
    # The pod it reads instead of a table (`source` is then the upstream's own source, for
    # the record: the table the answer comes from in the end).
    upstream: Upstream | None = None

    @property
    def operation(self) -> Operation:
        """PROJECTION or REDUCTION, from the query's shape."""
        return Operation.REDUCTION if isinstance(self.query, Reduction) else Operation.PROJECTION


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledQuery:
    """What lowering produces: the SQL the pod runs and what its Iceberg scan needs."""

    sql: str
    columns: tuple[str, ...]
    read_columns: tuple[str, ...]
    pushdown: tuple[dict, ...]
    # `select: "*"` left for the pod to resolve: `columns` and `read_columns` are then empty,
    # and the runtime answers every column of the table as it is at run time.
    all_columns: bool = False
    # Whether a filter or aggregate reads the clock (current_date, ...): its answer changes
    # with no new snapshot, so a cache keyed by snapshot and parameters would serve stale ones.
    reads_the_clock: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaLock:
    """Column types `--check` found, kept in pod.json for review and typed in openapi.json: the
    Iceberg type of each table column the query reads, and each answer column's type in
    Iceberg's names (`long`, `decimal(38, 2)`, `timestamptz` …), in column order."""

    table_columns: tuple[tuple[str, str], ...]
    columns: tuple[tuple[str, str], ...]
