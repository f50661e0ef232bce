"""A spec's `deploy:` block over the project's defaults: the pod's checked `Deployment`.

Precedence, weakest first: built-in defaults (ir.Deployment), config.yml's catalog
environment, config.yml, datapic.yaml, the spec. Checked here: what Cloud Run would refuse
(instances, cpu, its own env names) and any secret written in plain text (DP0401).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..diagnostics import Code, Diagnostic, Span, error
from ..secrets import SECRET_NAME, url_holds_secret
from .datapi import Metastore, catalog_environment
from .ir import DEFAULT_CATALOG, Deployment, SecretRef
from .load import Document
from .project import NO_DEFAULTS, ProjectDefaults, block_spans

_WHOLE_CPUS = ("1", "2", "4", "6", "8")
# Set by Cloud Run on every container; configuring them is an error there.
_RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}

# A problem before it is located: its code, message and the settings key it is about.
_Problem = tuple[Code, str, Any]


def resolve_deployment(
    document: Document, defaults: ProjectDefaults = NO_DEFAULTS
) -> tuple[Deployment, list[Diagnostic]]:
    """A spec's `deploy:` (true/false or settings) over the project's defaults, checked."""
    raw = document.data.get("deploy", True)
    block: Mapping[str, Any] = raw if isinstance(raw, dict) else {"enabled": raw}
    catalog_env, catalog_secrets, spans, found = _catalog_defaults(document, defaults.metastore)
    spans.update(defaults.spans)
    if isinstance(raw, dict):
        spans.update(block_spans(document, ("deploy",), block))
    else:
        spans["enabled"] = document.span(("deploy",))
    settings = _merged(defaults.settings, block, catalog_env, catalog_secrets)
    problems = [*_instance_problems(settings, spans), *_env_problems(settings)]
    found += [
        error(code, message, spans.get(key, document.span(("deploy",))))
        for code, message, key in problems
    ]
    return _deployment(settings, spans, document.span(("deploy",)), defaults.files), found


def spec_catalog(document: Document) -> str:
    """The pyiceberg catalog name of a spec's (first) table."""
    items = document.data.get("depends_on") or [{}]
    first = items[0] if isinstance(items[0], dict) else {}
    return first.get("catalog", DEFAULT_CATALOG)


def _catalog_defaults(
    document: Document, metastore: Metastore | None
) -> tuple[dict[str, str], dict[str, str], dict[Any, Span], list[Diagnostic]]:
    """config.yml's catalog as the pod's env and secrets, with their spans."""
    if metastore is None:
        return {}, {}, {}, []
    catalog = spec_catalog(document)
    env, secrets, spans = catalog_environment(metastore, catalog)
    if "_" not in catalog:
        return env, secrets, dict(spans), []
    message = (
        f"catalog '{catalog}' cannot be configured through PYICEBERG_CATALOG__ "
        "environment variables (pyiceberg reads '_' in them as '-'), so config.yml's "
        "metastore cannot reach the pod: use a catalog name without '_'"
    )
    where = document.span(("depends_on", 0, "catalog"))
    return env, secrets, dict(spans), [error(Code.INVALID_DEPLOY_SETTING, message, where)]


def _merged(
    defaults: Mapping[str, Any],
    block: Mapping[str, Any],
    catalog_env: Mapping[str, str],
    catalog_secrets: Mapping[str, str],
) -> dict[str, Any]:
    """The spec's settings over the defaults; env and secrets merged name by name."""
    settings = {**defaults, **block}
    for key in ("env", "secrets"):
        settings[key] = {**defaults.get(key, {}), **block.get(key, {})}
    # config.yml's catalog settings are the weakest: any env or secret of the same name wins.
    given = settings["env"].keys() | settings["secrets"].keys()
    env = {**_without(catalog_env, given), **settings["env"]}
    settings["env"] = {name: _env_text(value) for name, value in env.items()}
    settings["secrets"] = {**_without(catalog_secrets, given), **settings["secrets"]}
    return settings


def _instance_problems(settings: Mapping[str, Any], spans: Mapping[Any, Span]) -> list[_Problem]:
    """Instance counts and a cpu that Cloud Run would refuse."""
    problems: list[_Problem] = []
    low, high = _instances(settings)
    if low > high:
        key = "min_instances" if "min_instances" in spans else "max_instances"
        message = f"min_instances {low} exceeds max_instances {high}"
        problems.append((Code.INVALID_DEPLOY_SETTING, message, key))
    cpu = _cpu(settings)
    if not cpu.endswith("m") and cpu not in _WHOLE_CPUS:
        message = (
            f"cpu {cpu} is not one Cloud Run offers ({', '.join(_WHOLE_CPUS)}, or millicores "
            "such as 500m)"
        )
        problems.append((Code.INVALID_DEPLOY_SETTING, message, "cpu"))
    return problems


def _env_problems(settings: Mapping[str, Any]) -> list[_Problem]:
    """Env vars given twice, reserved by Cloud Run, or holding a secret in plain text."""
    problems: list[_Problem] = []
    for name, value in settings["env"].items():
        where = ("env", name)
        if name in settings["secrets"]:
            message = f"env {name} is also in secrets: give it one source"
            problems.append((Code.INVALID_DEPLOY_SETTING, message, where))
        elif name.upper() in _RESERVED_ENV:
            message = f"env {name} is set by Cloud Run itself and cannot be configured"
            problems.append((Code.INVALID_DEPLOY_SETTING, message, where))
        elif SECRET_NAME.search(name) or url_holds_secret(value):
            message = (
                f"env {name} looks like a secret: generated files never hold one; map it to a "
                "Secret Manager secret under deploy.secrets instead"
            )
            problems.append((Code.SECRET_IN_PLAIN_TEXT, message, where))
    return problems


def _deployment(
    settings: Mapping[str, Any], spans: Mapping[Any, Span], fallback: Span, files: tuple[str, ...]
) -> Deployment:
    """The IR's Deployment from merged settings; built-in defaults fill what none gives."""
    base = Deployment()
    low, high = _instances(settings)
    secrets = []
    for name, reference in sorted(settings["secrets"].items()):
        secret, _, version = reference.partition(":")
        span = spans.get(("secrets", name), fallback)
        secrets.append(SecretRef(env=name, secret=secret, version=version or "latest", span=span))
    account = settings.get("service_account", "datapic-pods")
    if "@" not in account:
        account = f"{account}@${{_PROJECT}}.iam.gserviceaccount.com"
    return Deployment(
        enabled=settings.get("enabled", True),
        project=settings.get("project"),
        region=settings.get("region", base.region),
        repository=settings.get("repository", base.repository),
        registry=settings.get("registry"),
        service_account=account,
        min_instances=low,
        max_instances=high,
        memory=settings.get("memory", base.memory),
        cpu=_cpu(settings),
        concurrency=settings.get("concurrency", base.concurrency),
        timeout_seconds=settings.get("timeout_seconds", base.timeout_seconds),
        public=settings.get("public", base.public),
        base_image=settings.get("base_image", base.base_image),
        env=tuple(sorted(settings["env"].items())),
        secrets=tuple(secrets),
        config_files=files,
    )


def _instances(settings: Mapping[str, Any]) -> tuple[int, int]:
    base = Deployment()
    return (
        settings.get("min_instances", base.min_instances),
        settings.get("max_instances", base.max_instances),
    )


def _cpu(settings: Mapping[str, Any]) -> str:
    return str(settings.get("cpu", Deployment().cpu))


def _without(mapping: Mapping[str, str], names: Any) -> dict[str, str]:
    return {name: value for name, value in mapping.items() if name not in names}


def _env_text(value: Any) -> str:
    """An env value as Cloud Run receives it: YAML true is the text 'true'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
