"""Project-wide settings, read before building a spec's IR.

Two files at the project root (the nearest folder above the spec holding a project marker) can
set defaults for every spec's `deploy:` block: datapic's own `datapic.yaml` (its `deploy:`
block has the spec's shape, schemas/project.schema.json) and the original dataPi `config.yml`
(its `deployment:` block: deployment_target, build_service, project_id, registry_url, region).
Precedence, weakest first: built-in defaults, config.yml, datapic.yaml, the spec.

config.yml's metastore settings (metastore_type POLARIS, metastore_uri, metastore_catalog,
metastore_credentials) name the Iceberg REST catalog. They become the pod's catalog
environment (PYICEBERG_CATALOG__<NAME>__URI, __WAREHOUSE, __SCOPE as plain values, __CREDENTIAL
from a Secret Manager secret) and the catalog `datapic compile --check` asks. The credential
itself is only ever handed to --check: it never enters the IR's deployment or a generated file.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from referencing import Registry
from referencing.jsonschema import DRAFT202012

from ..assets import schema_path
from ..diagnostics import Code, Diagnostic, Span, error
from ..secrets import SECRET_NAME, url_holds_secret
from .ir import Deployment, SecretRef
from .load import Document, load
from .validate import StrictValidator, validate_against

# The same markers that fix a spec's provenance path (pipeline.py): the project root.
PROJECT_MARKERS = (".git", "pyproject.toml", "config.yml", "datapic.yaml")
DATAPIC_CONFIG = "datapic.yaml"
DATAPI_CONFIG = "config.yml"

_WHOLE_CPUS = ("1", "2", "4", "6", "8")
# Set by Cloud Run on every container; configuring them is an error there.
_RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}
# dataPi's values for where pods run and what builds them, compared without case or separators.
_CLOUD_RUN = {"cloudrun", "gcpcloudrun", "googlecloudrun", "gcp"}
_CLOUD_BUILD = {"cloudbuild", "gcpcloudbuild", "googlecloudbuild", "gcp"}
# Catalogs spoken to over the Iceberg REST protocol, as dataPi's metastore_type names them.
_REST_METASTORES = {"polaris", "rest", "icebergrest"}
_METASTORE_KEYS = ("metastore_type", "metastore_uri", "metastore_credentials", "metastore_catalog")
# Polaris grants a principal's roles through this OAuth2 scope; other REST catalogs ignore it.
POLARIS_SCOPE = "PRINCIPAL_ROLE:ALL"
# The Secret Manager secret a pod's catalog credential comes from unless deploy.secrets says
# otherwise (datapic.yaml or the spec: PYICEBERG_CATALOG__<NAME>__CREDENTIAL: other-secret).
DEFAULT_CREDENTIAL_SECRET = "datapic-catalog-credential"
DEFAULT_CATALOG = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class Metastore:
    """dataPi config.yml's Iceberg REST catalog (Polaris): where it is and how to sign in.

    `credential` is `CLIENT_ID:CLIENT_SECRET` as written, or `${VARIABLE}` naming an environment
    variable that holds it; it is for `--check` only and kept out of repr so no log shows it.
    """

    uri: str
    warehouse: str | None
    credential: str | None = field(default=None, repr=False)
    spans: Mapping[str, Span] = field(default_factory=dict, compare=False, repr=False)

    def span(self, key: str) -> Span:
        """Where a metastore_* key's value stands in config.yml (else metastore_uri)."""
        return self.spans.get(key) or self.spans["metastore_uri"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectDefaults:
    """Deploy settings from the project's config files, keyed like a spec's deploy block.

    `spans` says where each setting was written (keys: setting name, or (env|secrets, NAME)).
    """

    settings: Mapping[str, Any] = field(default_factory=dict)
    spans: Mapping[Any, Span] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    metastore: Metastore | None = None


NO_DEFAULTS = ProjectDefaults()


def project_root(spec: Path) -> Path | None:
    """The nearest folder above the spec that holds a project marker."""
    for folder in spec.resolve().parents:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return None


def project_defaults(spec: Path) -> tuple[ProjectDefaults, list[Diagnostic]]:
    """The merged defaults of the spec's project, or the problems in its config files."""
    root = project_root(spec)
    if root is None:
        return NO_DEFAULTS, []
    settings: dict[str, Any] = {}
    spans: dict[Any, Span] = {}
    files: list[str] = []
    diagnostics: list[Diagnostic] = []
    metastore: Metastore | None = None
    for name, read in ((DATAPI_CONFIG, _datapi_settings), (DATAPIC_CONFIG, _datapic_settings)):
        path = root / name
        if not path.is_file() or _blank(path):
            continue
        document, found = load(path, _display(path))
        diagnostics += found
        if document is None:
            continue
        found, values, where = read(document)
        diagnostics += found
        if name == DATAPI_CONFIG and not found:
            metastore, found = _datapi_metastore(document)
            diagnostics += found
        if values or (name == DATAPI_CONFIG and metastore):
            files.append(name)
        for key, value in values.items():
            if key in ("env", "secrets"):
                settings[key] = {**settings.get(key, {}), **value}
            else:
                settings[key] = value
        spans.update(where)
    defaults = ProjectDefaults(
        settings=settings, spans=spans, files=tuple(files), metastore=metastore
    )
    return defaults, diagnostics


def _datapic_settings(document: Document) -> tuple[list[Diagnostic], dict, dict]:
    found = validate_against(document, _validator("#"))
    if found:
        return found, {}, {}
    block = document.data.get("deploy", {})
    return [], block, _spans(document, ("deploy",), block)


def _datapi_settings(document: Document) -> tuple[list[Diagnostic], dict, dict]:
    block = document.data.get("deployment")
    if block is None and not any(key in document.data for key in _METASTORE_KEYS):
        return [], {}, {}
    found = validate_against(document, _validator("#/$defs/datapi_config"))
    if found or block is None:
        return found, {}, {}
    settings: dict[str, Any] = {}
    spans: dict[Any, Span] = {}

    def at(key: str) -> Span:
        return document.span(("deployment", key))

    for key, allowed, what in (
        ("deployment_target", _CLOUD_RUN, "Cloud Run (CLOUD_RUN)"),
        ("build_service", _CLOUD_BUILD, "Cloud Build (CLOUD_BUILD)"),
    ):
        value = block.get(key)
        if value is not None and _folded(value) not in allowed:
            found.append(
                error(Code.NOT_SUPPORTED, f"{key} '{value}' is not supported: only {what}", at(key))
            )
    registry = block.get("registry_url")
    if registry:
        region, project, repository = registry.rstrip("/").split("/")
        region = region.removesuffix("-docker.pkg.dev")
        settings.update(region=region, project=project, repository=repository)
        spans.update(region=at("registry_url"), project=at("registry_url"))
        spans["repository"] = at("registry_url")
        if block.get("region") not in (None, region):
            found.append(
                error(
                    Code.INVALID_DEPLOY_SETTING,
                    f"region '{block['region']}' differs from registry_url's region '{region}': "
                    "datapic pushes and deploys in one region",
                    at("region"),
                )
            )
        if block.get("project_id") not in (None, project):
            found.append(
                error(
                    Code.INVALID_DEPLOY_SETTING,
                    f"project_id '{block['project_id']}' differs from registry_url's project "
                    f"'{project}'",
                    at("project_id"),
                )
            )
    if "project_id" in block:
        settings["project"], spans["project"] = block["project_id"], at("project_id")
    if "region" in block:
        settings["region"], spans["region"] = block["region"], at("region")
    return found, settings, spans


def _datapi_metastore(document: Document) -> tuple[Metastore | None, list[Diagnostic]]:
    """config.yml's metastore_* keys as a REST catalog, or why they cannot be one."""
    data = document.data
    present = [key for key in _METASTORE_KEYS if key in data]
    if not present:
        return None, []
    spans = {key: document.span((key,)) for key in present}
    kind = data.get("metastore_type")
    if kind is not None and _folded(kind) not in _REST_METASTORES:
        message = (
            f"metastore_type '{kind}' is not supported: only Iceberg REST catalogs "
            "(POLARIS, or REST for any other)"
        )
        return None, [error(Code.NOT_SUPPORTED, message, spans["metastore_type"])]
    if "metastore_uri" not in data:
        where = spans[present[0]]
        return None, [error(Code.MISSING_FIELD, "config.yml: metastore_uri is missing", where)]
    uri = data["metastore_uri"]
    if url_holds_secret(uri):
        message = (
            "metastore_uri holds a user name, password or token: put the credential in "
            "metastore_credentials (or ${VARIABLE} there) instead"
        )
        return None, [error(Code.SECRET_IN_PLAIN_TEXT, message, spans["metastore_uri"])]
    metastore = Metastore(
        uri=uri.rstrip("/"),
        warehouse=data.get("metastore_catalog"),
        credential=data.get("metastore_credentials"),
        spans=spans,
    )
    return metastore, []


def catalog_environment(
    metastore: Metastore, catalog: str
) -> tuple[dict[str, str], dict[str, str], dict[tuple[str, str], Span]]:
    """The plain env, the secrets and their config.yml spans that let a pod reach `metastore`
    as pyiceberg catalog `catalog`. The credential is named (a Secret Manager secret), never
    copied."""
    prefix = f"PYICEBERG_CATALOG__{catalog.upper()}__"
    env = {f"{prefix}URI": metastore.uri, f"{prefix}SCOPE": POLARIS_SCOPE}
    spans = {("env", f"{prefix}URI"): metastore.span("metastore_uri")}
    spans[("env", f"{prefix}SCOPE")] = metastore.span("metastore_type")
    if metastore.warehouse:
        env[f"{prefix}WAREHOUSE"] = metastore.warehouse
        spans[("env", f"{prefix}WAREHOUSE")] = metastore.span("metastore_catalog")
    secrets = {f"{prefix}CREDENTIAL": DEFAULT_CREDENTIAL_SECRET}
    spans[("secrets", f"{prefix}CREDENTIAL")] = metastore.span("metastore_credentials")
    return env, secrets, spans


def spec_catalog(document: Document) -> str:
    """The pyiceberg catalog name of a spec's (first) table."""
    items = document.data.get("depends_on") or [{}]
    first = items[0] if isinstance(items[0], dict) else {}
    return first.get("catalog", DEFAULT_CATALOG)


def resolve_deployment(
    document: Document, defaults: ProjectDefaults = NO_DEFAULTS
) -> tuple[Deployment, list[Diagnostic]]:
    """A spec's `deploy:` (true/false or settings) over the project's defaults, checked."""
    raw = document.data.get("deploy", True)
    block: Mapping[str, Any] = raw if isinstance(raw, dict) else {"enabled": raw}
    catalog_env: dict[str, str] = {}
    catalog_secrets: dict[str, str] = {}
    spans: dict[Any, Span] = {}
    found: list[Diagnostic] = []
    if defaults.metastore is not None:
        catalog = spec_catalog(document)
        catalog_env, catalog_secrets, spans = catalog_environment(defaults.metastore, catalog)
        if "_" in catalog:
            found.append(
                error(
                    Code.INVALID_DEPLOY_SETTING,
                    f"catalog '{catalog}' cannot be configured through PYICEBERG_CATALOG__ "
                    "environment variables (pyiceberg reads '_' in them as '-'), so config.yml's "
                    "metastore cannot reach the pod: use a catalog name without '_'",
                    document.span(("depends_on", 0, "catalog")),
                )
            )
    spans.update(defaults.spans)
    if isinstance(raw, dict):
        spans.update(_spans(document, ("deploy",), block))
    else:
        spans["enabled"] = document.span(("deploy",))
    settings = {**defaults.settings, **block}
    for key in ("env", "secrets"):
        settings[key] = {**defaults.settings.get(key, {}), **block.get(key, {})}
    # config.yml's catalog settings are the weakest: any env or secret of the same name wins.
    given = settings["env"].keys() | settings["secrets"].keys()
    settings["env"] = {**_without(catalog_env, given), **settings["env"]}
    settings["secrets"] = {**_without(catalog_secrets, given), **settings["secrets"]}

    def fail(code: Code, message: str, key: Any) -> None:
        found.append(error(code, message, spans.get(key, document.span(("deploy",)))))

    base = Deployment()
    low, high = (settings.get(k, getattr(base, k)) for k in ("min_instances", "max_instances"))
    if low > high:
        fail(
            Code.INVALID_DEPLOY_SETTING,
            f"min_instances {low} exceeds max_instances {high}",
            "min_instances" if "min_instances" in spans else "max_instances",
        )
    cpu = str(settings.get("cpu", base.cpu))
    if not cpu.endswith("m") and cpu not in _WHOLE_CPUS:
        fail(
            Code.INVALID_DEPLOY_SETTING,
            f"cpu {cpu} is not one Cloud Run offers ({', '.join(_WHOLE_CPUS)}, or millicores "
            "such as 500m)",
            "cpu",
        )
    env = {name: _env_text(value) for name, value in settings["env"].items()}
    for name, value in env.items():
        where = ("env", name)
        if name in settings["secrets"]:
            fail(
                Code.INVALID_DEPLOY_SETTING,
                f"env {name} is also in secrets: give it one source",
                where,
            )
        elif name.upper() in _RESERVED_ENV:
            fail(
                Code.INVALID_DEPLOY_SETTING,
                f"env {name} is set by Cloud Run itself and cannot be configured",
                where,
            )
        elif SECRET_NAME.search(name) or url_holds_secret(value):
            fail(
                Code.SECRET_IN_PLAIN_TEXT,
                f"env {name} looks like a secret: generated files never hold one; map it to a "
                "Secret Manager secret under deploy.secrets instead",
                where,
            )
    secrets = []
    for name, reference in sorted(settings["secrets"].items()):
        secret, _, version = reference.partition(":")
        secrets.append(
            SecretRef(
                env=name,
                secret=secret,
                version=version or "latest",
                span=spans.get(("secrets", name), document.span(("deploy",))),
            )
        )
    account = settings.get("service_account", "datapic-pods")
    if "@" not in account:
        account = f"{account}@${{_PROJECT}}.iam.gserviceaccount.com"
    deployment = Deployment(
        enabled=settings.get("enabled", True),
        project=settings.get("project"),
        region=settings.get("region", base.region),
        repository=settings.get("repository", base.repository),
        service_account=account,
        min_instances=low,
        max_instances=high,
        memory=settings.get("memory", base.memory),
        cpu=cpu,
        concurrency=settings.get("concurrency", base.concurrency),
        timeout_seconds=settings.get("timeout_seconds", base.timeout_seconds),
        public=settings.get("public", base.public),
        base_image=settings.get("base_image", base.base_image),
        env=tuple(sorted(env.items())),
        secrets=tuple(secrets),
        config_files=defaults.files,
    )
    return deployment, found


def _without(mapping: Mapping[str, str], names: Any) -> dict[str, str]:
    return {name: value for name, value in mapping.items() if name not in names}


def _env_text(value: Any) -> str:
    """An env value as Cloud Run receives it: YAML true is the text 'true'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _spans(document: Document, prefix: tuple, block: Mapping[str, Any]) -> dict[Any, Span]:
    spans: dict[Any, Span] = {}
    for key, value in block.items():
        spans[key] = document.span((*prefix, key))
        if key in ("env", "secrets"):
            for name in value:
                spans[(key, name)] = document.span((*prefix, key, name))
    return spans


def _blank(path: Path) -> bool:
    """An empty config file (comments only) is a project marker without settings."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False  # load() reports it, located
    return all(not line.strip() or line.lstrip().startswith("#") for line in lines)


def _folded(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalnum())


def _display(path: Path) -> str:
    resolved, cwd = path.resolve(), Path.cwd().resolve()
    return resolved.relative_to(cwd).as_posix() if resolved.is_relative_to(cwd) else str(path)


@functools.cache
def _validator(pointer: str) -> StrictValidator:
    """A validator for (a part of) schemas/project.schema.json, which refers to the spec's."""
    resources = []
    for name in ("spec.schema.json", "project.schema.json"):
        schema = json.loads(schema_path(name).read_text(encoding="utf-8"))
        # Without "$schema" a referenced schema keeps StrictValidator's notion of "integer"
        # (jsonschema would otherwise switch to the stock validator its "$schema" names).
        del schema["$schema"]
        resources.append((schema["$id"], DRAFT202012.create_resource(schema)))
    registry = Registry().with_resources(resources)
    project_id = dict(resources)["https://datapic.dev/schemas/project.schema.json"].contents["$id"]
    return StrictValidator({"$ref": f"{project_id}{pointer}"}, registry=registry)
