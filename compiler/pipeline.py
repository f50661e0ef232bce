"""The stages in order: load, validate, build, lower, [check], render; stops after a stage with
errors. The check against the catalog runs only when a `SchemaLookup` is given (`--check`); it
also finds the pod's schema lock (its column types), which compiling without `--check` carries
over from the pod already in the output folder while the spec is unchanged.
Across specs, two pods may not share a name or a Cloud Run service (DP0004)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .artifacts.lock import previous_lock
from .artifacts.render import render, service_name
from .diagnostics import Code, Diagnostic, error, has_errors
from .spec.build import build
from .spec.ir import Column, CompiledQuery, Pod, Projection, SchemaLock
from .spec.load import display_path, load
from .spec.project import project_defaults, project_root
from .spec.validate import validate
from .sql.lower import clock_safe_cache, lower

if TYPE_CHECKING:  # pyiceberg takes a second to import: only `--check` pays for it
    from .check.catalog import SchemaLookup


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """The outcome of compiling one spec: its files when it succeeded, its diagnostics always."""

    spec: Path
    display_path: str
    source_text: str | None
    diagnostics: tuple[Diagnostic, ...]
    pod: Pod | None = None
    files: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the spec compiled without errors."""
        return self.pod is not None and not has_errors(self.diagnostics)


def compile_spec(
    spec: Path, lookup: SchemaLookup | None = None, output: Path | None = None
) -> Result:
    """Run every stage on one spec file; with `lookup`, check it against its table first.
    Without, the schema lock of the pod already in `output` is kept if still true."""
    display = display_path(spec)
    document, diagnostics = load(spec, display)
    if document is None:
        return Result(
            spec=spec, display_path=display, source_text=None, diagnostics=tuple(diagnostics)
        )
    text = document.text

    def stopped(found: list[Diagnostic]) -> Result:
        return Result(spec=spec, display_path=display, source_text=text, diagnostics=tuple(found))

    diagnostics = validate(document)
    if has_errors(diagnostics):
        return stopped(diagnostics)
    defaults, found = project_defaults(spec)
    if has_errors(found):
        return stopped(found)
    pod, diagnostics = build(document, provenance_path(spec), defaults)
    if pod is None or has_errors(diagnostics):
        return stopped(diagnostics)
    query, diagnostics = lower(pod)
    if query is None or has_errors(diagnostics):
        return stopped(diagnostics)
    pod, found = clock_safe_cache(pod, query)
    if found:
        return stopped(found)
    lock = _kept_lock(output, pod, query)
    if lookup is not None:
        from .check.checker import check

        where = {key: document.span(("depends_on", 0, key)) for key in ("namespace", "table")}
        schema, found = lookup.schema(pod.source, defaults.metastore, where)
        if schema is not None and isinstance(pod.query, Projection) and pod.query.all_columns:
            # `select: "*"` becomes the table's columns, so pod.json and openapi.json list them.
            pod = every_column(pod, tuple(f.name for f in schema.fields))
            query, lowered = lower(pod)
            if query is None:
                return stopped(lowered)
        if schema is not None:
            refused = lookup.unsupported(pod.source, query.read_columns, defaults.metastore, where)
            found = [*refused, *check(pod, schema, text)]
        if has_errors(found):
            return stopped([*diagnostics, *found])
        diagnostics = [*diagnostics, *found]
        lock = lookup.lock(pod, query, schema)
    return Result(
        spec=spec,
        display_path=display,
        source_text=text,
        diagnostics=tuple(diagnostics),
        pod=pod,
        files=render(pod, query, lock),
    )


def every_column(pod: Pod, names: tuple[str, ...]) -> Pod:
    """The pod of a `select: "*"` spec with the table's columns selected by name."""
    columns = tuple(Column(name=name, span=pod.span) for name in names)
    return replace(pod, query=Projection(columns=columns))


def _kept_lock(output: Path | None, pod: Pod, query: CompiledQuery) -> SchemaLock | None:
    """The lock of the pod this compile replaces in `output`, if it still holds."""
    if output is None:
        return None
    return previous_lock(output / pod.name / "pod.json", pod, query)


def compile_specs(
    specs: list[Path], lookup: SchemaLookup | None = None, output: Path | None = None
) -> list[Result]:
    """Compile each spec (into `output`, whose pods' locks are kept where they still hold); a
    pod whose name another pod already took fails (DP0004)."""
    return _with_unique_names([compile_spec(spec, lookup, output) for spec in specs])


def _with_unique_names(results: list[Result]) -> list[Result]:
    """The results, where a pod that would overwrite an earlier one's directory or Cloud Run
    service (`Big_Orders` and `big-orders` are both service big-orders) has failed."""
    first: dict[str, Result] = {}
    checked = []
    for result in results:
        service = service_name(result.pod.name) if result.ok else ""
        if result.ok and service in first:
            earlier = first[service]
            if earlier.pod.name == result.pod.name:
                message = f"resource_name '{result.pod.name}' is already used by "
            else:
                message = (
                    f"resource_name '{result.pod.name}' is Cloud Run service '{service}', "
                    f"like '{earlier.pod.name}' in "
                )
            clash = error(
                Code.DUPLICATE_RESOURCE,
                f"{message}{earlier.display_path}; each pod needs its own name",
                result.pod.span,
            )
            result = replace(result, diagnostics=(*result.diagnostics, clash))
        elif result.ok:
            first[service] = result
        checked.append(result)
    return checked


def provenance_path(spec: Path) -> str:
    """The spec's path relative to its project root, '/'-separated; its name if it has none.

    The same whatever the working directory or machine, so the pod's provenance is too.
    """
    resolved, root = spec.resolve(), project_root(spec)
    return resolved.relative_to(root).as_posix() if root is not None else resolved.name
