"""The stages in order: load, validate, build, lower, [check], render. Each stage goes on with
what the earlier ones found valid, so a file's problems are all reported at once; only the
check and rendering wait for a spec without errors. The check against the catalog runs only
when a `SchemaLookup` is given (`--check`); it also finds the pod's schema lock (its column
types), which compiling without `--check` carries over from the pod already in the output
folder while the spec is unchanged. Across specs, two pods may not share a name or a Cloud Run
service (DP0004)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .artifacts.lock import previous_lock
from .artifacts.render import render, service_name
from .diagnostics import Code, Diagnostic, error, has_errors
from .spec.advice import advice
from .spec.build import build
from .spec.ir import Column, CompiledQuery, Pod, Projection, SchemaLock
from .spec.load import Document, display_path, load, shown_text
from .spec.project import ProjectDefaults, project_defaults, project_root
from .spec.upstream import Project, resolve_upstream
from .spec.validate import invalid_paths, validate
from .sql.lower import clock_safe_cache, lower

# Load errors located inside the file, shown with their line and a caret like any other.
_QUOTED_LOAD_ERRORS = {Code.YAML_SYNTAX, Code.YAML_TAG, Code.SPEC_TOO_LARGE}

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
    spec: Path,
    lookup: SchemaLookup | None = None,
    output: Path | None = None,
    project: Project | None = None,
) -> Result:
    """Run every stage on one spec file; with `lookup`, check it against its table first.
    Without, the schema lock of the pod already in `output` is kept if still true. A pod
    reading another pod finds it in `project` (by default: the pods in `output`).

    A stage's errors do not stop the next one: each goes on with what is valid, so one run
    reports every independent problem. Only the catalog check and rendering need a clean spec.
    """
    display = display_path(spec)
    document, diagnostics = load(spec, display)
    if document is None:
        text = shown_text(spec) if diagnostics[0].code in _QUOTED_LOAD_ERRORS else None
        return Result(
            spec=spec, display_path=display, source_text=text, diagnostics=tuple(diagnostics)
        )
    text = document.text
    diagnostics = validate(document)
    defaults, found = project_defaults(spec)
    diagnostics += found
    pod, found = build(document, provenance_path(spec), defaults, invalid_paths(document))
    diagnostics += found
    pod, found = resolve_upstream(pod, project or Project(output=output))
    diagnostics += found
    query, found = lower(pod)
    diagnostics += found
    lock = None
    if query is not None:
        pod, found = clock_safe_cache(pod, query)
        diagnostics += found
    if query is not None and not has_errors(diagnostics):
        lock = _kept_lock(output, pod, query)
        if lookup is not None:
            pod, query, lock, found = _checked(pod, query, document, defaults, lookup)
            diagnostics += found
    if query is not None and not has_errors(diagnostics):
        diagnostics += advice(pod, document)
    done = query is not None and not has_errors(diagnostics)
    return Result(
        spec=spec,
        display_path=display,
        source_text=text,
        diagnostics=tuple(replace(d, span=document.located(d.span)) for d in diagnostics),
        pod=pod if done else None,
        files=render(pod, query, lock) if done else {},
    )


def _checked(
    pod: Pod,
    query: CompiledQuery,
    document: Document,
    defaults: ProjectDefaults,
    lookup: SchemaLookup,
) -> tuple[Pod, CompiledQuery | None, SchemaLock | None, list[Diagnostic]]:
    """What the table's current schema in the catalog says about a well-formed pod: the pod
    and its query with `select: "*"` resolved to the table's columns, and its schema lock."""
    from .check.checker import check

    if pod.upstream is not None:
        return _checked_upstream(pod, query, document, check)
    where = {key: document.span(("depends_on", 0, key)) for key in ("namespace", "table")}
    schema, found = lookup.schema(pod.source, defaults.metastore, where)
    if schema is not None and isinstance(pod.query, Projection) and pod.query.all_columns:
        # `select: "*"` becomes the table's columns, so pod.json and openapi.json list them.
        pod = every_column(pod, tuple(f.name for f in schema.fields))
        query, lowered = lower(pod)
        if query is None:
            return pod, None, None, lowered
    if schema is not None:
        refused = lookup.unsupported(pod.source, query.read_columns, defaults.metastore, where)
        found = [*refused, *check(pod, schema, document.text)]
    lock = None if has_errors(found) else lookup.lock(pod, query, schema)
    return pod, query, lock, found


def _checked_upstream(
    pod: Pod, query: CompiledQuery, document: Document, check
) -> tuple[Pod, CompiledQuery | None, SchemaLock | None, list[Diagnostic]]:
    """`--check` of a pod reading another pod: against the upstream's answer as its schema lock
    types it (no catalog is asked; the upstream was checked against its table)."""
    from .check.lock import schema_lock
    from .check.upstream import upstream_schema

    upstream = pod.upstream
    if len(upstream.column_types) < len(upstream.columns):
        message = (
            f"upstream pod '{upstream.resource}' has no schema lock to check against; "
            "compile it with --check too (before or together with this one)"
        )
        return pod, query, None, [error(Code.UPSTREAM_NOT_LOCKED, message, upstream.span)]
    schema = upstream_schema(upstream.column_types)
    found = check(pod, schema, document.text)
    lock = None if has_errors(found) else schema_lock(pod, query, schema)
    return pod, query, lock, found


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
    pod whose name another pod already took fails (DP0004). Pods that read other pods of the
    run are compiled after them; the results come in the order of `specs`."""
    reads = _reads(specs)
    project = Project(reads={name: up for name, up in reads.values() if name}, output=output)
    results: dict[int, Result] = {}
    for index in _upstreams_first(reads):
        result = compile_spec(specs[index], lookup, output, project)
        if result.ok:
            project.compiled.setdefault(result.pod.name, json.loads(result.files["pod.json"]))
        results[index] = result
    return _with_unique_names([results[index] for index in range(len(specs))])


def upstreams_first(specs: list[Path]) -> list[Path]:
    """The specs in the order compile_specs compiles them: each after the pod it reads."""
    return [specs[index] for index in _upstreams_first(_reads(specs))]


def _reads(specs: list[Path]) -> dict[int, tuple[str | None, str | None]]:
    """Each spec's resource_name and the pod it reads (None for a table), as far as it loads."""
    found = {}
    for index, spec in enumerate(specs):
        document, _ = load(spec, display_path(spec))
        data = document.data if document is not None else {}
        name = data.get("resource_name") if isinstance(data, dict) else None
        items = data.get("depends_on") if isinstance(data, dict) else None
        first = items[0] if isinstance(items, list) and items else None
        upstream = first.get("resource") if isinstance(first, dict) else None
        found[index] = (
            name if isinstance(name, str) else None,
            upstream if isinstance(upstream, str) else None,
        )
    return found


def _upstreams_first(reads: dict[int, tuple[str | None, str | None]]) -> list[int]:
    """The specs' indexes, each pod after the pod it reads when that is in the run (a cycle
    keeps the given order: its pods fail with DP0602 anyway)."""
    index_of = {name: index for index, (name, _) in reversed(reads.items()) if name}
    order: list[int] = []
    visiting: set[int] = set()

    def visit(index: int) -> None:
        if index in order or index in visiting:
            return
        visiting.add(index)
        upstream = reads[index][1]
        if upstream in index_of:
            visit(index_of[upstream])
        order.append(index)

    for index in reads:
        visit(index)
    return order


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
