"""dataPi's `config.yml`: its `deployment:` block as deploy defaults, its metastore as a catalog.

The `deployment:` block (deployment_target, build_service, project_id, registry_url, region)
becomes defaults for every spec's `deploy:`. The metastore settings (metastore_type POLARIS,
metastore_uri, metastore_catalog, metastore_credentials) name the Iceberg REST catalog: they
become the pod's catalog environment (PYICEBERG_CATALOG__<NAME>__URI, __WAREHOUSE, __SCOPE as
plain values, __CREDENTIAL from a Secret Manager secret) and the catalog `--check` asks. The
credential itself is only ever handed to --check: it never enters the IR or a generated file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Code, Diagnostic, Span, error
from ..secrets import url_holds_secret
from .load import Document
from .validate import project_validator, validate_against

DATAPI_CONFIG = "config.yml"

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


def datapi_settings(document: Document) -> tuple[list[Diagnostic], dict, dict]:
    """config.yml's `deployment:` block as deploy settings, their spans, or its problems."""
    block = document.data.get("deployment")
    if block is None and not any(key in document.data for key in _METASTORE_KEYS):
        return [], {}, {}
    found = validate_against(document, project_validator("#/$defs/datapi_config"))
    if found or block is None:
        return found, {}, {}

    def at(key: str) -> Span:
        return document.span(("deployment", key))

    found = _unsupported_services(block, at)
    settings, spans, problems = _registry_settings(block, at)
    found += problems
    if "project_id" in block:
        settings["project"], spans["project"] = block["project_id"], at("project_id")
    if "region" in block:
        settings["region"], spans["region"] = block["region"], at("region")
    return found, settings, spans


def _unsupported_services(block: Mapping[str, Any], at: Any) -> list[Diagnostic]:
    """A deployment target or build service other than Google's."""
    found = []
    for key, allowed, what in (
        ("deployment_target", _CLOUD_RUN, "Cloud Run (CLOUD_RUN)"),
        ("build_service", _CLOUD_BUILD, "Cloud Build (CLOUD_BUILD)"),
    ):
        value = block.get(key)
        if value is not None and _folded(value) not in allowed:
            found.append(
                error(Code.NOT_SUPPORTED, f"{key} '{value}' is not supported: only {what}", at(key))
            )
    return found


def _registry_settings(block: Mapping[str, Any], at: Any) -> tuple[dict, dict, list[Diagnostic]]:
    """region, project and repository from registry_url, and where they disagree with it."""
    registry = block.get("registry_url")
    if not registry:
        return {}, {}, []
    region, project, repository = registry.rstrip("/").split("/")
    region = region.removesuffix("-docker.pkg.dev")
    settings = {"region": region, "project": project, "repository": repository}
    spans = dict.fromkeys(settings, at("registry_url"))
    found = []
    if block.get("region") not in (None, region):
        message = (
            f"region '{block['region']}' differs from registry_url's region '{region}': "
            "datapic pushes and deploys in one region"
        )
        found.append(error(Code.INVALID_DEPLOY_SETTING, message, at("region")))
    if block.get("project_id") not in (None, project):
        message = (
            f"project_id '{block['project_id']}' differs from registry_url's project '{project}'"
        )
        found.append(error(Code.INVALID_DEPLOY_SETTING, message, at("project_id")))
    return settings, spans, found


def datapi_metastore(document: Document) -> tuple[Metastore | None, list[Diagnostic]]:
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


def _folded(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalnum())
