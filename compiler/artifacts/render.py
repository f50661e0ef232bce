"""Stage 5: render a compiled pod into its files, as an ordered mapping path -> bytes.

Compile to data, keep code static: the query goes into pod.json and openapi.json; the runtime
under templates/pod/ is copied unchanged into every pod; Jinja renders only what truly varies
(templates/*.jinja: Dockerfile, cloudbuild.yaml, service.yaml, README.md, the ignore files).
Every ordering decision is made here, not in templates.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import jinja2

from .. import __version__
from ..assets import templates_dir
from ..docs.model import pod_docs
from ..docs.page import pod_page
from ..spec.ir import MAX_LIST_VALUES, CompiledQuery, Cors, Deployment, Pod, SchemaLock
from .authdoc import auth_document, bound_parameters, who_authenticates
from .lock import KEY as LOCK_KEY
from .lock import lock_document
from .openapi import openapi
from .podhash import LABEL as HASH_LABEL
from .podhash import PLACEHOLDER, stamp

RUNTIME_DIR = "pod"
# The docs page of the pod, beside its app.js and style.css (copied from templates/pod/docs/).
DOCS_PAGE = "docs/index.html"
GENERATOR = f"datapic {__version__}"
# The runtime's key for page tokens (datapic_runtime.paging.TOKEN_SECRET_ENV): on Cloud Run it
# always comes from Secret Manager, from the spec's own secret or from one `datapic deploy`
# creates per service, so no client can mint tokens from the public pod.json.
PAGE_TOKEN_SECRET_ENV = "DATAPIC_PAGE_TOKEN_SECRET"


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    # A double-quoted scalar, valid in YAML and in Dockerfile labels, whatever the value holds.
    environment.filters["quote"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    environment.filters["cell"] = markdown_cell
    return environment


def markdown_cell(value: object) -> str:
    """`value` as one cell of a Markdown table: a line break or a `|` in a description would
    end the cell or the row, and shift every cell after it."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def render(pod: Pod, query: CompiledQuery, lock: SchemaLock | None = None) -> Mapping[str, bytes]:
    """Every file of the pod directory, keyed by '/'-separated relative path, sorted; with the
    schema lock `--check` found (or kept), pod.json holds it and openapi.json types the answer."""
    files: dict[str, bytes] = {}
    files.update(_runtime_files())
    files["pod.json"] = _json(pod_document(pod, query, lock))
    files["openapi.json"] = _json(openapi(pod, query, lock))
    context = _template_context(pod, query)
    for template in sorted(_environment().list_templates(filter_func=_is_pod_template)):
        files[template.removesuffix(".jinja")] = _render_template(template, context)
    files[DOCS_PAGE] = _docs_page(pod, files)
    return dict(sorted(stamp(files).items()))


def _docs_page(pod: Pod, files: Mapping[str, bytes]) -> bytes:
    """The page the pod serves at GET /docs, from the pod.json and openapi.json just rendered
    (as `datapic docs build` reads them), so it shows what the pod serves."""
    docs = pod_docs(json.loads(files["pod.json"]), json.loads(files["openapi.json"]))
    # A "--" in the spec's path would end the comment early.
    comment = f"<!-- {header(pod, '').strip().replace('--', '- -')} -->"
    return pod_page(docs, header=comment).encode("utf-8")


def pod_document(pod: Pod, query: CompiledQuery, lock: SchemaLock | None = None) -> dict[str, Any]:
    """The content of pod.json (see schemas/pod.schema.json)."""
    document = {
        "format_version": 2,
        "generator": GENERATOR,
        "spec": {"path": pod.provenance.spec_path, "sha256": pod.provenance.spec_sha256},
        "name": pod.name,
        "description": pod.short_description,
        # The Markdown text; the docs page renders it. Only when the spec has one.
        **({"long_description": pod.long_description} if pod.long_description else {}),
        "operation": pod.operation.value,
        "source": {
            "catalog": pod.source.catalog,
            "namespace": list(pod.source.namespace),
            "table": pod.source.table,
        },
        "columns": list(query.columns),
        "read_columns": list(query.read_columns),
        "parameters": [
            {
                "name": p.name,
                "type": p.type.value,
                "required": p.required,
                "default": list(p.default) if isinstance(p.default, tuple) else p.default,
                "description": p.description,
            }
            for p in pod.parameters
        ],
        # One line per element: a diff of pod.json then shows the clause that changed.
        "sql": query.sql.split("\n"),
        "pushdown": list(query.pushdown),
        "freshness_seconds": pod.freshness_seconds,
        "max_page_size": pod.max_page_size,
        "result_cache": pod.result_cache,
        # Only in pods that answer every column: the others' pod.json stays as it was.
        **({"all_columns": True} if query.all_columns else {}),
        # Only in pods with auth: the others' pod.json stays as it was.
        **({"auth": auth_document(pod.auth)} if pod.auth is not None else {}),
        # Only in pods that read another pod (then `source` is that pod's table, for the record).
        **({"upstream": _upstream_document(pod)} if pod.upstream is not None else {}),
        # Only in pods that browsers may call: the others' pod.json stays as it was.
        **({"cors": _cors_document(pod.cors)} if pod.cors is not None else {}),
    }
    if lock is not None:
        document[LOCK_KEY] = lock_document(lock)
    return document


def _upstream_document(pod: Pod) -> dict[str, Any]:
    """pod.json's `upstream`: the pod read, where its URL comes from, what is passed to it."""
    upstream = pod.upstream
    return {
        "resource": upstream.resource,
        "env": upstream.env,
        "parameters": list(upstream.parameters),
    }


def _cors_document(cors: Cors) -> dict[str, Any]:
    return {
        "allow_origins": list(cors.allow_origins),
        "allow_credentials": cors.allow_credentials,
        "max_age_seconds": cors.max_age_seconds,
    }


def header(pod: Pod, comment: str = "#") -> str:
    """The one provenance line that opens every generated file whose format allows comments."""
    # No spec hash here: it lives once, in pod.json, so a one-line spec change does not touch
    # the header of every file of the pod.
    return (
        f"{comment} Generated by {GENERATOR} from {pod.provenance.spec_path}. "
        "Do not edit: change the spec and run `datapic compile`."
    )


def _template_context(pod: Pod, query: CompiledQuery) -> dict[str, Any]:
    return {
        "pod": pod,
        "query": query,
        "header": header(pod),
        "markdown_header": header(pod, "<!--") + " -->",
        "generator": GENERATOR,
        "source_name": ".".join((*pod.source.namespace, pod.source.table)),
        "has_list_parameters": any(p.type.is_list for p in pod.parameters),
        "bound": bound_parameters(pod),
        "who_authenticates": who_authenticates(pod),
        "max_list_values": MAX_LIST_VALUES,
        **_deploy_context(pod),
    }


def service_name(pod_name: str) -> str:
    """The Cloud Run service of a pod: lower case, dashes for underscores.

    >>> service_name("Big_Orders")
    'big-orders'
    """
    return pod_name.lower().replace("_", "-").strip("-")


def page_token_secret(service: str) -> str:
    """The Secret Manager secret `datapic deploy` creates to key a service's page tokens.

    >>> page_token_secret("big-orders")
    'big-orders-page-token'
    """
    return f"{service}-page-token"


def _secret_env(deployment: Deployment, service: str) -> list[dict[str, str]]:
    """The env vars filled from Secret Manager, sorted by name: the spec's, and the page-token
    key unless the spec already gives that variable a secret of its own."""
    secrets = [
        {"name": s.env, "secret": s.secret, "version": s.version} for s in deployment.secrets
    ]
    given = {name for name, _ in deployment.env} | {item["name"] for item in secrets}
    if PAGE_TOKEN_SECRET_ENV not in given:
        secrets.append(
            {
                "name": PAGE_TOKEN_SECRET_ENV,
                "secret": page_token_secret(service),
                "version": "latest",
            }
        )
    return sorted(secrets, key=lambda item: item["name"])


def _runtime_env(pod: Pod) -> list[dict[str, str]]:
    """The plain env vars of service.yaml, sorted by name: the spec's, and the upstream's URL
    as a placeholder cloudbuild.yaml fills in (a Cloud Run URL is known only once deployed)."""
    items = [{"name": name, "value": value} for name, value in pod.deployment.env]
    upstream = _upstream_deploy(pod)
    if upstream is not None:
        items.append({"name": upstream["env"], "value": upstream["placeholder"]})
    return sorted(items, key=lambda item: item["name"])


def _upstream_deploy(pod: Pod) -> dict[str, str] | None:
    """The pod this one reads, as cloudbuild.yaml looks its URL up: its Cloud Run service."""
    if pod.upstream is None:
        return None
    return {
        "resource": pod.upstream.resource,
        "service": service_name(pod.upstream.resource),
        "env": pod.upstream.env,
        "placeholder": f"__{pod.upstream.env}__",
    }


def _deploy_context(pod: Pod) -> dict[str, Any]:
    """What cloudbuild.yaml and service.yaml need, decided here, not in the templates."""
    deployment = pod.deployment
    service = service_name(pod.name)
    # Cloud Build substitutions, in the order the file lists them. Cloud Build refuses one
    # the file does not use: a Container Registry image has no _REPOSITORY.
    substitutions = {
        "_PROJECT": deployment.project or "${PROJECT_ID}",
        "_REGION": deployment.region,
        "_REPOSITORY": deployment.repository,
        "_SERVICE_ACCOUNT": deployment.service_account,
        "_TAG": "latest",
    }
    image = f"${{_REGION}}-docker.pkg.dev/${{_PROJECT}}/${{_REPOSITORY}}/{service}:${{_TAG}}"
    if deployment.registry:
        del substitutions["_REPOSITORY"]
        image = f"{deployment.registry}/${{_PROJECT}}/{service}:${{_TAG}}"
    return {
        "deployment": deployment,
        "service": service,
        "substitutions": substitutions,
        "image": image,
        "labels": {"datapic-pod": service, HASH_LABEL: PLACEHOLDER},
        "runtime_env": _runtime_env(pod),
        "upstream": _upstream_deploy(pod),
        "secret_env": _secret_env(deployment, service),
        "config_note": (
            f"Deploy settings: the spec's deploy block over {', '.join(deployment.config_files)}."
            if deployment.config_files
            else "Deploy settings: the spec's deploy block over datapic's defaults."
        ),
    }


def _is_pod_template(name: str) -> bool:
    return name.endswith(".jinja") and "/" not in name


def _render_template(name: str, context: dict[str, Any]) -> bytes:
    return _environment().get_template(name).render(**context).encode("utf-8")


@functools.cache
def _runtime_files() -> tuple[tuple[str, bytes], ...]:
    """The pod runtime under templates/pod/, byte for byte."""
    root = templates_dir() / RUNTIME_DIR
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.append((path.relative_to(root).as_posix(), path.read_bytes()))
    return tuple(files)


def _json(document: Any) -> bytes:
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")
