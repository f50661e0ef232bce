"""Stage 3: turn a document into the IR, normalising dataPi's legacy forms.

Checks here are about the spec's structure (which fields go with which operation, duplicate
names, what is not supported yet); SQL inside the spec is checked by lowering. Values the
schema found invalid (`invalid`) are left out without a word, so the rest of the spec is still
built and checked: the pod of a spec with errors is partial, for later stages to check, and
is never rendered.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import replace
from typing import Any

from ..diagnostics import Code, Diagnostic, error
from .auth import resolve_auth
from .cors import resolve_cors
from .deployment import resolve_deployment
from .ir import (
    DEFAULT_CATALOG,
    MAX_LIST_VALUES,
    POD_ARGUMENTS,
    Aggregate,
    Auth,
    Column,
    Cors,
    Deployment,
    Filter,
    OrderKey,
    Parameter,
    ParamType,
    Pod,
    Projection,
    Provenance,
    Reduction,
    Source,
    Upstream,
)
from .legacy import legacy_aggregate, split_names
from .load import MAX_SPEC_BYTES, Document, JsonPath
from .project import NO_DEFAULTS, ProjectDefaults, project_file

DEFAULT_FRESHNESS_SECONDS = 5
DEFAULT_MAX_PAGE_SIZE = 10_000

_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


class _Builder:
    """Collects diagnostics while reading one document; each method builds one IR piece."""

    def __init__(
        self,
        document: Document,
        spec_path: str,
        defaults: ProjectDefaults = NO_DEFAULTS,
        invalid: frozenset[JsonPath] = frozenset(),
    ) -> None:
        self.defaults = defaults
        self.doc = document
        self.data = document.data
        self.spec_path = spec_path
        self.invalid = invalid
        self.diagnostics: list[Diagnostic] = []
        # Parameters declared with errors: their uses are not judged again (no cascade).
        self.unchecked: set[str] = set()
        # Whether an output column was left out: order_by cannot tell a wrong name then.
        self.partial = False
        # The pod this one reads (`depends_on: - resource:`), if any: see source().
        self.upstream: Upstream | None = None

    def broken(self, *path: str | int) -> bool:
        """Whether the schema reported the value at `path`, or a value holding it."""
        return any(path[: len(p)] == p for p in self.invalid)

    def touched(self, *path: str | int) -> bool:
        """Whether the schema reported the value at `path`, a value holding it or one in it."""
        return any(path[: len(p)] == p or p[: len(path)] == path for p in self.invalid)

    def value(self, key: str, default: Any) -> Any:
        """A top-level value, or the default when it is absent or the schema refused it."""
        return default if self.broken(key) else self.data.get(key, default)

    def fail(self, code: Code, message: str, path: tuple, *, key: bool = False) -> None:
        self.diagnostics.append(error(code, message, self.doc.span(path, key=key)))

    def pod(self) -> Pod:
        operation = self.operation()
        source = self.source()
        query = self.reduction() if operation == "REDUCTION" else self.projection()
        parameters = self.parameters()
        order_by = self.order_by(query)
        long_description = self.long_description()
        deployment = self.deployment()
        freshness = self.value("freshness_seconds", DEFAULT_FRESHNESS_SECONDS)
        if not math.isfinite(freshness):
            # YAML's .inf and .nan pass the schema's minimum but have no JSON form.
            self.fail(
                Code.INVALID_VALUE,
                "freshness_seconds: must be a finite number",
                ("freshness_seconds",),
            )
        explicit = "result_cache" in self.data and not self.broken("result_cache")
        cache_set_at = self.doc.span(("result_cache",)) if explicit else None
        return Pod(
            name=self.value("resource_name", ""),
            short_description=self.value("short_description", ""),
            long_description=long_description,
            # A table the schema refused: a stand-in, for the checks that do not need it.
            source=source or Source(catalog=DEFAULT_CATALOG, namespace=(), table=""),
            query=query,
            filters=self.filters(),
            parameters=parameters,
            order_by=order_by,
            limit=self.value("limit", None),
            freshness_seconds=freshness,
            max_page_size=self.value("max_page_size", DEFAULT_MAX_PAGE_SIZE),
            # Reductions are small and often repeated; projections can be large.
            result_cache=self.value("result_cache", operation == "REDUCTION"),
            result_cache_set_at=cache_set_at,
            deploy=deployment.enabled,
            provenance=Provenance(spec_path=self.spec_path, spec_sha256=self.doc.sha256),
            deployment=deployment,
            auth=self.auth(parameters, deployment),
            cors=self.cors(),
            span=self.doc.span(("resource_name",)),
            unchecked_parameters=frozenset(self.unchecked),
            upstream=self.upstream,
        )

    def operation(self) -> str:
        declared = self.value("operation_type", None)
        operation = declared or ("REDUCTION" if "aggregate" in self.data else "PROJECTION")
        wrong = ("select",) if operation == "REDUCTION" else ("aggregate", "group_by", "having")
        for name in wrong:
            if name in self.data:
                self.fail(
                    Code.WRONG_FIELD_FOR_OPERATION,
                    f"'{name}' does not belong in a {operation} pod"
                    + (" (use aggregate and group_by)" if name == "select" else " (use select)"),
                    (name,),
                    key=True,
                )
        needed = "aggregate" if operation == "REDUCTION" else "select"
        if needed not in self.data:
            self.fail(
                Code.MISSING_FIELD,
                f"a {operation} pod needs '{needed}'",
                ("operation_type",) if declared else ("resource_name",),
                key=True,
            )
        return operation

    def source(self) -> Source | None:
        if self.broken("depends_on") or "depends_on" not in self.data:
            return None
        items = self.data["depends_on"]
        if len(items) > 1:
            self.fail(
                Code.NOT_SUPPORTED,
                f"a pod reads exactly one table or pod for now; depends_on lists {len(items)}",
                ("depends_on", 1),
            )
        first = items[0]
        if self.touched("depends_on", 0):
            return None
        if "resource" in first and len(items) > 1:
            return None
        if "resource" in first and len(items) == 1:
            # Resolved against the upstream's pod.json before lowering (upstream.py).
            span = self.doc.span(("depends_on", 0, "resource"))
            self.upstream = Upstream(resource=first["resource"], span=span)
            return None
        return Source(
            catalog=first.get("catalog", DEFAULT_CATALOG),
            namespace=tuple(first["namespace"].split(".")),
            table=first["table"],
            span=self.doc.span(("depends_on", 0)),
        )

    def projection(self) -> Projection:
        if "select" not in self.data or self.broken("select"):
            self.partial = True
            return Projection(columns=())
        if self.data["select"] in ("*", ["*"]):
            # dataPi's every-column form: resolved by --check, else by the pod at run time.
            return Projection(columns=(), all_columns=True)
        columns = self.columns("select")
        self.check_unique([(c.name, c.span) for c in columns], "output column")
        return Projection(columns=tuple(columns))

    def reduction(self) -> Reduction:
        group_by = self.columns("group_by") if "group_by" in self.data else []
        if "aggregate" not in self.data or self.broken("aggregate"):
            self.partial = True
            return Reduction(group_by=tuple(group_by), aggregates=())
        aggregates = self.aggregates()
        names = [(c.name, c.span) for c in group_by] + [(a.name, a.span) for a in aggregates]
        self.check_unique(names, "output column")
        return Reduction(
            group_by=tuple(group_by),
            aggregates=tuple(aggregates),
            having=self.conditions("having"),
        )

    def columns(self, field: str) -> list[Column]:
        """Column names and `name: expression` entries from a list, or column names from
        dataPi's one space/comma-separated string."""
        value = self.data[field]
        if self.broken(field):
            self.partial = True
            return []
        if isinstance(value, str):
            items = [(name, (field,)) for name in split_names(value)]
            if not items:
                self.fail(Code.INVALID_VALUE, f"{field}: no column names given", (field,))
        else:
            items = [(item, (field, i)) for i, item in enumerate(value)]
        columns = []
        for item, path in items:
            if self.touched(*path):
                self.partial = True
                continue
            if isinstance(item, dict):  # the schema allows exactly one `name: expression`
                [(name, text)] = item.items()
                span = self.doc.span((*path, name))
                columns.append(Column(name=name, expression=text, span=span))
            elif (name := item.strip()) == "*":
                self.partial = True
                self.fail(
                    Code.INVALID_VALUE,
                    f"{field}: '*' (every column of the table) stands alone, as select: \"*\"",
                    path,
                )
            elif not _IDENTIFIER.match(name):
                self.partial = True
                self.fail(
                    Code.INVALID_VALUE,
                    f"{field}: '{name}' is not a column name "
                    "(letters, digits and underscores, not starting with a digit; "
                    "compute an output as `name: expression`)",
                    path,
                )
            else:
                columns.append(Column(name=name, span=self.doc.span(path)))
        return columns

    def aggregates(self) -> list[Aggregate]:
        value = self.data["aggregate"]
        if isinstance(value, dict):
            self.partial |= any(self.broken("aggregate", name) for name in value)
            return [
                Aggregate(name=name, expression=expr, span=self.doc.span(("aggregate", name)))
                for name, expr in value.items()
                if not self.broken("aggregate", name)
            ]
        if isinstance(value, str):
            items = [(text, ("aggregate",)) for text in value.split()]
            if not items:
                self.fail(Code.INVALID_VALUE, "aggregate: no aggregates given", ("aggregate",))
        else:
            items = [(text, ("aggregate", i)) for i, text in enumerate(value)]
            self.partial |= any(self.broken(*path) for _, path in items)
            items = [(text, path) for text, path in items if not self.broken(*path)]
        return [a for text, path in items if (a := self.legacy_aggregate(text, path))]

    def legacy_aggregate(self, text: str, path: tuple) -> Aggregate | None:
        """`sales.sum()` → sum(sales) named sales_sum; `count()` → count(*) named count."""
        found = legacy_aggregate(text)
        if isinstance(found, str):
            self.partial = True
            self.fail(Code.INVALID_VALUE, found, path)
            return None
        name, expression = found
        return Aggregate(name=name, expression=expression, span=self.doc.span(path))

    def filters(self) -> tuple[Filter, ...]:
        return self.conditions("filters")

    def conditions(self, field: str) -> tuple[Filter, ...]:
        """The conditions of `filters` or `having`: one string, or a list of them."""
        value = self.value(field, [])
        if isinstance(value, str):
            return (Filter(text=value, span=self.doc.span((field,))),)
        return tuple(
            Filter(text=text, span=self.doc.span((field, i)))
            for i, text in enumerate(value)
            if not self.broken(field, i)
        )

    def parameters(self) -> tuple[Parameter, ...]:
        parameters, indexes = [], []
        for index, raw in enumerate(self.value("parameters", [])):
            path = ("parameters", index)
            if any(self.touched(*path, key) for key in ("name", "type", "default")):
                if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                    self.unchecked.add(raw["name"])
                continue
            ptype = ParamType(raw["type"])
            default = raw.get("default")
            if "default" in raw and default is not None:
                default = self.checked_default(ptype, default, (*path, "default"))
            parameters.append(
                Parameter(
                    name=raw["name"],
                    type=ptype,
                    required="default" not in raw,
                    default=default,
                    description=raw.get("description", ""),
                    span=self.doc.span(path),
                )
            )
            indexes.append(index)
        self.check_unique([(p.name, p.span) for p in parameters], "parameter")
        for index, p in zip(indexes, parameters, strict=True):
            if p.name in POD_ARGUMENTS:
                self.fail(
                    Code.DUPLICATE_NAME,
                    f"parameter name '{p.name}' is reserved: every pod takes "
                    f"{', '.join(POD_ARGUMENTS)} as query arguments",
                    ("parameters", index, "name"),
                )
        return tuple(parameters)

    def checked_default(self, ptype: ParamType, value: Any, path: tuple) -> Any:
        """The default in its JSON form, or a diagnostic when it does not fit the type."""
        if ptype.is_list or isinstance(value, list):
            return self.checked_list_default(ptype, value, path)
        normalised = _normalise_default(ptype, value)
        if normalised is None:
            wide = isinstance(value, int) and not isinstance(value, bool) and value not in _INT64
            reason = "is beyond 64-bit integers" if wide else f"is not a valid {ptype.value}"
            self.fail(Code.INVALID_VALUE, f"default {value!r} {reason}", path)
        return normalised

    def checked_list_default(self, ptype: ParamType, value: Any, path: tuple) -> Any:
        """A list type's default as a tuple of JSON forms, each value checked where it stands."""
        if not ptype.is_list:
            self.fail(
                Code.INVALID_VALUE,
                f"default is a list but the type is {ptype.value} (for several values declare "
                f"type: {ptype.as_list.value} and use it as `column IN :name`)",
                path,
            )
            return None
        if not isinstance(value, list):
            self.fail(
                Code.INVALID_VALUE,
                f"default of a {ptype.value} parameter must be a YAML list, e.g. [{value}]",
                path,
            )
            return None
        if len(value) > MAX_LIST_VALUES:
            self.fail(
                Code.INVALID_VALUE,
                f"default has {len(value)} values; a list parameter takes at most "
                f"{MAX_LIST_VALUES}",
                path,
            )
            return None
        checked = [self.checked_default(ptype.element, v, (*path, i)) for i, v in enumerate(value)]
        return tuple(checked)

    def order_by(self, query: Projection | Reduction | None) -> tuple[OrderKey, ...]:
        value = None if self.touched("order_by") else self.data.get("order_by")
        if value is None:
            if isinstance(query, Reduction):
                return tuple(OrderKey(column=c.name, span=c.span) for c in query.group_by)
            return ()
        if isinstance(value, str):
            items = [(part, ("order_by",)) for part in value.split(",")]
        else:
            items = [(text, ("order_by", i)) for i, text in enumerate(value)]
        outputs = set(query.output_names) if query else set()
        # Under `select: "*"` any column of the table is an output: --check knows which exist.
        every_column = isinstance(query, Projection) and query.all_columns
        keys = []
        for text, path in items:
            words = text.split()
            direction = words[1].lower() if len(words) == 2 else "asc"
            if not words or len(words) > 2 or direction not in ("asc", "desc"):
                self.fail(
                    Code.INVALID_VALUE,
                    f"order_by '{text.strip()}' is not 'column [asc|desc]'",
                    path,
                )
                continue
            if every_column and not _IDENTIFIER.match(words[0]):
                self.fail(Code.INVALID_VALUE, f"order_by '{words[0]}' is not a column name", path)
                continue
            if query and not every_column and words[0] not in outputs and not self.partial:
                self.fail(
                    Code.UNKNOWN_OUTPUT_COLUMN,
                    f"order_by '{words[0]}' is not an output column "
                    f"(outputs: {', '.join(query.output_names)})",
                    path,
                )
                continue
            keys.append(
                OrderKey(column=words[0], descending=direction == "desc", span=self.doc.span(path))
            )
        return tuple(keys)

    def deployment(self) -> Deployment:
        """The spec's deploy settings over the project's defaults (see deployment.py)."""
        # What the schema refused is left out, down to single env and secrets entries.
        document = replace(self.doc, data=self.pruned(self.data, ()))
        deployment, found = resolve_deployment(document, self.defaults)
        self.diagnostics += found
        return deployment

    def auth(self, parameters: tuple[Parameter, ...], deployment: Deployment) -> Auth | None:
        """The spec's auth block over the project's (see auth.py)."""
        document = replace(self.doc, data=self.pruned(self.data, ()))
        auth, found = resolve_auth(document, self.defaults, parameters, deployment)
        self.diagnostics += found
        return auth

    def cors(self) -> Cors | None:
        """The spec's cors block, else the project's (see cors.py)."""
        cors, found = resolve_cors(self.doc, self.defaults.cors, self.invalid)
        self.diagnostics += found
        return cors

    def pruned(self, mapping: dict, path: JsonPath) -> dict:
        """A mapping without the keys the schema refused, mappings inside pruned likewise."""
        return {
            key: self.pruned(value, (*path, key)) if isinstance(value, dict) else value
            for key, value in mapping.items()
            if not self.broken(*path, key)
        }

    def long_description(self) -> str:
        """Inline markdown, or the contents of the .md file named next to the spec."""
        value = self.value("long_description", "")
        if not value.strip().endswith(".md") or "\n" in value.strip():
            return value
        path = project_file(self.doc.path, value.strip())
        if path is None:
            self.fail(
                Code.DESCRIPTION_FILE_OUTSIDE_PROJECT,
                f"long_description file '{value.strip()}' is outside the spec's project",
                ("long_description",),
            )
            return ""
        try:
            # A regular file of spec size: not a FIFO that blocks, nor a huge file.
            if path.is_file() and path.stat().st_size <= MAX_SPEC_BYTES:
                return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
        self.fail(
            Code.MISSING_DESCRIPTION_FILE,
            f"long_description file '{value.strip()}' cannot be read next to the spec",
            ("long_description",),
        )
        return ""

    def check_unique(self, names: list[tuple[str, Any]], what: str) -> None:
        seen: dict[str, Any] = {}
        for name, span in names:
            if name in seen:
                first = seen[name]
                self.diagnostics.append(
                    error(
                        Code.DUPLICATE_NAME,
                        f"duplicate {what} '{name}' (first at line {first.line})",
                        span,
                    )
                )
            else:
                seen[name] = span


_INT64 = range(-(2**63), 2**63)


def _normalise_default(ptype: ParamType, value: Any) -> Any:
    """The JSON form of a default of the given type, or None when it does not fit."""
    try:
        if ptype is ParamType.STRING:
            return value if isinstance(value, str) else None
        if ptype is ParamType.BOOLEAN:
            return value if isinstance(value, bool) else None
        if ptype is ParamType.INTEGER:
            # 64-bit, as the pod's engines and request parsing hold integers.
            ok = isinstance(value, int) and not isinstance(value, bool) and value in _INT64
            return value if ok else None
        if ptype is ParamType.NUMBER:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return value if ok and math.isfinite(value) else None
        if ptype is ParamType.DATE:
            return dt.date.fromisoformat(value).isoformat() if isinstance(value, str) else None
        return dt.datetime.fromisoformat(value).isoformat() if isinstance(value, str) else None
    except ValueError:
        return None


def build(
    document: Document,
    spec_path: str,
    defaults: ProjectDefaults = NO_DEFAULTS,
    invalid: frozenset[JsonPath] = frozenset(),
) -> tuple[Pod, list[Diagnostic]]:
    """The IR of a document and its structural problems; with problems (here or `invalid`,
    where the schema refused a value) a partial pod, for later stages to check, never render."""
    builder = _Builder(document, spec_path, defaults, invalid)
    pod = builder.pod()
    return pod, builder.diagnostics
