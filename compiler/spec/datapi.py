"""dataPi's `config.yml`: its `deployment:` block as deploy defaults, its metastore as a catalog.

The `deployment:` block (deployment_target, build_service, project_id, registry_url, region)
becomes defaults for every spec's `deploy:`. Only deploying needs them, so they never stop a
compile: a value that cannot be used is a warning and is left out, and `datapic deploy` then
asks for it (--project, --region). registry_url takes both forms dataPi's docs show: an
Artifact Registry repository (REGION-docker.pkg.dev/PROJECT/REPOSITORY) and a Container
Registry host with a project ([us.|eu.|asia.]gcr.io/PROJECT, dataPi's `init` template; since
Container Registry's shutdown, gcr.io is served by Artifact Registry's gcr.io repositories, and
`datapic init --from-datapi` offers a REGION-docker.pkg.dev repository instead).

The metastore settings (metastore_type POLARIS, metastore_uri, metastore_catalog,
metastore_credentials) name the Iceberg REST catalog: they become the pod's catalog
environment (PYICEBERG_CATALOG__<NAME>__URI, __WAREHOUSE, __SCOPE as plain values, __CREDENTIAL
from a Secret Manager secret) and the catalog `--check` asks. The credential itself is only
ever handed to --check: it never enters the IR or a generated file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Code, Diagnostic, Span, error, has_errors, warning
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


# What registry_url may name: Artifact Registry's REGION-docker.pkg.dev/PROJECT/REPOSITORY, or
# a Container Registry host and project, [us.|eu.|asia.]gcr.io/PROJECT.
_ARTIFACT_REGISTRY = re.compile(
    r"(?P<region>[a-z]+-[a-z]+[0-9]+)-docker\.pkg\.dev/(?P<project>[^/]+)/(?P<repository>[^/]+)"
)
_CONTAINER_REGISTRY = re.compile(r"(?P<registry>(?:(?:us|eu|asia)\.)?gcr\.io)/(?P<project>[^/]+)")


def datapi_settings(document: Document) -> tuple[list[Diagnostic], dict, dict]:
    """config.yml's `deployment:` block as deploy settings, their spans, and its problems:
    errors for the metastore keys, warnings for the deploy-only ones (left out)."""
    block = document.data.get("deployment")
    if block is None and not any(key in document.data for key in _METASTORE_KEYS):
        return [], {}, {}
    found = validate_against(document, project_validator("#/$defs/datapi_config"))
    refused = {d.span for d in found}
    found = [_deploy_only(d, document) for d in found]
    if has_errors(found) or not isinstance(block, dict):
        return found, {}, {}

    def at(key: str) -> Span:
        return document.span(("deployment", key))

    usable = {key: value for key, value in block.items() if at(key) not in refused}
    found += _unsupported_services(usable, at)
    settings, spans, problems = _registry_settings(usable, at)
    found += problems
    for key, setting in (("project_id", "project"), ("region", "region")):
        if key in block and setting not in settings:
            # A refused value is known to be unknown (""): deploy asks rather than guess.
            settings[setting], spans[setting] = usable.get(key, ""), at(key)
    return found, settings, spans


def _deploy_only(diagnostic: Diagnostic, document: Document) -> Diagnostic:
    """A problem of the `deployment:` block as a warning: it only matters to `datapic deploy`."""
    block = document.data.get("deployment")
    keys = block if isinstance(block, dict) else {}
    if diagnostic.span not in {document.span(("deployment", key)) for key in keys}:
        return diagnostic
    message = f"{diagnostic.message} (a deploy setting: left out, `datapic deploy` asks for it)"
    return warning(Code.UNUSABLE_DEPLOY_SETTING, message, diagnostic.span)


def _unsupported_services(block: Mapping[str, Any], at: Any) -> list[Diagnostic]:
    """A deployment target or build service other than Google's: the pod is for Cloud Run."""
    found = []
    for key, allowed, what in (
        ("deployment_target", _CLOUD_RUN, "Cloud Run (CLOUD_RUN)"),
        ("build_service", _CLOUD_BUILD, "Cloud Build (CLOUD_BUILD)"),
    ):
        value = block.get(key)
        if value is not None and _folded(value) not in allowed:
            message = (
                f"{key} '{value}' is not supported: only {what}; the pod is compiled for "
                "Cloud Run and Cloud Build"
            )
            found.append(warning(Code.UNUSABLE_DEPLOY_SETTING, message, at(key)))
    return found


def _registry_settings(block: Mapping[str, Any], at: Any) -> tuple[dict, dict, list[Diagnostic]]:
    """region, project and repository (or Container Registry host) from registry_url; where
    they disagree with region or project_id, the setting is left out for deploy to ask."""
    registry = str(block.get("registry_url") or "").rstrip("/")
    artifact = _ARTIFACT_REGISTRY.fullmatch(registry)
    container = _CONTAINER_REGISTRY.fullmatch(registry)
    if not (artifact or container):
        return {}, {}, []
    settings = (artifact or container).groupdict()
    spans = dict.fromkeys(settings, at("registry_url"))
    found = []
    for key, setting in (("region", "region"), ("project_id", "project")):
        if setting not in settings or block.get(key) in (None, settings[setting]):
            continue
        message = (
            f"{key} '{block[key]}' differs from registry_url's {setting} '{settings[setting]}' "
            f"(datapic pushes and deploys in one {setting}): left out, `datapic deploy` asks "
            f"for --{setting}"
        )
        found.append(warning(Code.UNUSABLE_DEPLOY_SETTING, message, at(key)))
        settings[setting] = ""  # known to be unknown: deploy asks rather than guess
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
