"""Pods that read pods: a spec's `depends_on: - resource: NAME` resolved against NAME's pod.json.

An upstream is a pod of the same project: one compiled earlier in the same run (the pipeline
compiles upstreams first), else the one already in the output folder (`generated/NAME/
pod.json`), so a downstream can be recompiled alone. Its pod.json gives what the downstream
needs at compile time: the answer's columns (and their types, from its schema lock, for
`--check`, the downstream's own lock and openapi.json), its parameters and its table.

Parameters pass through where declared: a downstream parameter with the name of one the
upstream declares is sent to the upstream with the caller's value (the types must agree); an
upstream parameter that is required and not declared downstream could never be given, so it
is an error. A cycle (a pod reading itself, or a → b → a) is an error at the `resource:` line.

A downstream calls its upstream with a Google ID token of its own service account, never with
its caller's token. So an upstream that checks tokens can be read only when it takes Google's
ID tokens and fixes no parameter from them: with `auth.bind`, every caller of the downstream
would be answered the rows of the downstream's own identity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..diagnostics import Code, Diagnostic, error
from .ir import Column, Pod, Projection, Source, Upstream

# The issuer of the ID tokens a downstream sends (Cloud Run's service-to-service identity).
GOOGLE_ISSUER = "https://accounts.google.com"

# The environment variable a downstream pod reads its upstream's URL from.
ENV_PREFIX, ENV_SUFFIX = "DATAPIC_UPSTREAM_", "_URL"


def upstream_env(resource: str) -> str:
    """`DATAPIC_UPSTREAM_<NAME>_URL`, NAME the upstream's resource_name upper-cased, `-` as `_`.

    >>> upstream_env("emea-sales")
    'DATAPIC_UPSTREAM_EMEA_SALES_URL'
    """
    return f"{ENV_PREFIX}{resource.upper().replace('-', '_')}{ENV_SUFFIX}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """What a compile knows of the project's pods: `reads` maps each pod of this run to the
    pod it reads (None for a table); `compiled` maps a pod name to its pod.json (this run's
    first, then the output folder's, read when first asked for)."""

    reads: Mapping[str, str | None] = field(default_factory=dict)
    compiled: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None

    def pod_json(self, name: str) -> Any:
        """NAME's pod.json (None when there is none); ValueError when it cannot be read."""
        if name not in self.compiled and name not in self.reads and self.output is not None:
            path = self.output / name / "pod.json"
            if not path.is_file():
                return None
            try:
                self.compiled[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{path.as_posix()} cannot be read ({exc})") from None
        return self.compiled.get(name)

    def read_by(self, name: str) -> str | None:
        """The pod NAME reads, as this run's specs say, else as its pod.json says."""
        if name in self.reads:
            return self.reads[name]
        try:
            document = self.pod_json(name)
            return (document or {}).get("upstream", {}).get("resource")
        except (ValueError, AttributeError):
            return None


def resolve_upstream(pod: Pod, project: Project) -> tuple[Pod, list[Diagnostic]]:
    """The pod with its upstream resolved (columns, types, passed parameters, the upstream's
    table as its source), or the problems that prevent it; a pod reading a table unchanged."""
    upstream = pod.upstream
    if upstream is None:
        return pod, []
    cycle = _cycle(pod.name, upstream.resource, project)
    if cycle:
        path = " → ".join(cycle)
        message = (
            f"pod '{pod.name}' reads itself"
            if len(cycle) == 2
            else f"pods read each other in a cycle: {path}"
        )
        return pod, [error(Code.UPSTREAM_CYCLE, message, upstream.span)]
    try:
        document = project.pod_json(upstream.resource)
    except ValueError as exc:
        return pod, [error(Code.UPSTREAM_UNREADABLE, f"upstream pod {exc}", upstream.span)]
    if document is None:
        return pod, [_unknown(upstream, project)]
    try:
        refused = _refuses_this_pod(upstream, document.get("auth"))
        if refused is not None:
            return pod, [refused]
        return _resolved(pod, upstream, document)
    except (KeyError, TypeError, ValueError, AttributeError):
        message = f"upstream pod '{upstream.resource}': its pod.json is not one datapic wrote"
        return pod, [error(Code.UPSTREAM_UNREADABLE, message, upstream.span)]


def _refuses_this_pod(upstream: Upstream, auth: Any) -> Diagnostic | None:
    """Why an upstream that checks tokens cannot be read by a pod (None when it can)."""
    if not auth:
        return None
    name = upstream.resource
    if auth["bind"]:
        fixed = ", ".join(sorted(b["parameter"] for b in auth["bind"]))
        message = (
            f"upstream pod '{name}' fixes {fixed} from each caller's token (auth.bind); a pod "
            "reading it calls it with its own identity, so every caller would get that "
            "identity's rows: read the table itself, with the same auth block"
        )
        return error(Code.UPSTREAM_CHECKS_TOKENS, message, upstream.span)
    issuer = auth["jwt"].get("issuer")
    if issuer is None or issuer.rstrip("/") != GOOGLE_ISSUER:
        accepted = f"tokens of {issuer}" if issuer else "HS256 tokens (secret_env)"
        message = (
            f"upstream pod '{name}' accepts only {accepted}, and a pod reading it sends a "
            f"Google ID token for its URL; to be read by pods, its auth.jwt needs issuer "
            f"{GOOGLE_ISSUER} and its service URL as audience"
        )
        return error(Code.UPSTREAM_CHECKS_TOKENS, message, upstream.span)
    return None


def _cycle(name: str, first: str, project: Project) -> list[str]:
    """[name, first, …, name] when following what each pod reads from `first` comes back to
    `name`; [] otherwise (a chain that ends, or loops elsewhere)."""
    path, current = [name, first], first
    while current != name:
        current = project.read_by(current)
        if current is None or current in path[1:]:
            return []
        path.append(current)
    return path


def _unknown(upstream: Upstream, project: Project) -> Diagnostic:
    if upstream.resource in project.reads:
        message = f"upstream pod '{upstream.resource}' did not compile (see its errors)"
    else:
        where = " or in the output folder" if project.output is not None else ""
        message = (
            f"no pod named '{upstream.resource}' among the specs compiled{where}; "
            "compile its spec first or together with this one"
        )
    return error(Code.UNKNOWN_UPSTREAM, message, upstream.span)


def _resolved(pod: Pod, upstream: Upstream, document: Any) -> tuple[Pod, list[Diagnostic]]:
    """The pod reading `document`'s answer, and the problems of its parameters."""
    declared = {p.name: p for p in pod.parameters}
    passed, diagnostics = [], []
    for parameter in document["parameters"]:
        name, kind = parameter["name"], parameter["type"]
        mine = declared.get(name)
        if mine is None:
            if parameter["required"]:
                diagnostics.append(_missing(upstream, name, kind))
            continue
        if mine.type.value != kind:
            message = (
                f"parameter '{name}' is passed through to upstream pod '{upstream.resource}', "
                f"which declares it as {kind}; declare it as {kind} here too"
            )
            diagnostics.append(error(Code.UPSTREAM_PARAMETER_TYPE, message, mine.span))
        passed.append(name)
    columns = tuple(str(c) for c in document["columns"])
    locked = document.get("schema_lock", {}).get("columns", {})
    source = document["source"]
    resolved = replace(
        upstream,
        env=upstream_env(upstream.resource),
        parameters=tuple(passed),
        columns=columns,
        column_types=tuple((c, str(locked[c])) for c in columns if c in locked),
    )
    pod = replace(
        pod,
        upstream=resolved,
        source=Source(
            catalog=str(source["catalog"]),
            namespace=tuple(str(part) for part in source["namespace"]),
            table=str(source["table"]),
            span=upstream.span,
        ),
    )
    if isinstance(pod.query, Projection) and pod.query.all_columns and columns:
        # `select: "*"`: every column of the upstream's answer, known now (unless the upstream
        # answers every column of its table too: then both pods learn them at run time).
        every = tuple(Column(name=name, span=upstream.span) for name in columns)
        pod = replace(pod, query=Projection(columns=every))
    return pod, diagnostics


def _missing(upstream: Upstream, name: str, kind: str) -> Diagnostic:
    message = (
        f"upstream pod '{upstream.resource}' requires parameter '{name}' ({kind}), which this "
        f"pod does not declare; declare `- name: {name}` with type {kind} (it is passed "
        "through)"
    )
    return error(Code.UPSTREAM_PARAMETER_MISSING, message, upstream.span)
