"""`datapic init --from-datapi`: a dataPi project (config.yml, resources/) made a datapic one,
in place.

datapic compiles dataPi's resource files and reads its config.yml as they are (compiler/spec/
datapi.py, legacy.py); what it changes is what datapic cannot or should not take over:

- `deployment.registry_url` naming Container Registry (gcr.io/PROJECT, shut down by Google):
  the Artifact Registry repository REGION-docker.pkg.dev/PROJECT/datapic takes its place;
- `metastore_credentials` written out (CLIENT_ID:CLIENT_SECRET): moved to the git-ignored
  .pyiceberg.yaml (catalog `default`, where serve and --check look first), config.yml then
  names an environment variable, ${DATAPI_METASTORE_CREDENTIALS}, for CI;

A resource reading another pod (`depends_on: - resource: …`) compiles as it is: datapic
compiles it after the pod it reads (compiler/spec/upstream.py).

Then it adds what a datapic project has: datapic.yaml, the CI definitions, .gitignore lines.
Edits are made on the lines themselves, so comments and quoting stay as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..spec.datapi import DATAPI_CONFIG, POLARIS_SCOPE
from .catalog import PYICEBERG_FILE
from .project import DEFAULT_REGION, GITIGNORE, ci_files, merged_gitignore

RESOURCES = "resources"
CREDENTIAL_VARIABLE = "DATAPI_METASTORE_CREDENTIALS"
REPOSITORY = "datapic"
_GCR = re.compile(r"^(?:[a-z]+\.)?gcr\.io/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/?$")
_ARTIFACT_REGISTRY = re.compile(r"^[a-z]+-[a-z]+[0-9]+-docker\.pkg\.dev/")
_VARIABLE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
DATAPIC_YAML = """\
# datapic project settings, beside dataPi's config.yml (converted by `datapic init
# --from-datapi`). config.yml's deployment: block and metastore stay the defaults of every
# resource; a deploy: block here overrides them, a resource's own deploy: overrides both.
# `datapic compile` (run here) compiles resources/ into generated/, which is committed.
"""


class NotDatapi(Exception):
    """The folder holds no dataPi project."""


@dataclass(slots=True)
class Conversion:
    """What converting a project does: files rewritten or created, files moved, and one line
    per change for the user."""

    rewritten: dict[str, bytes] = field(default_factory=dict)
    created: dict[str, bytes] = field(default_factory=dict)
    moved: list[tuple[str, str]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def plan_conversion(folder: Path) -> Conversion:
    """The conversion of the dataPi project in `folder`; nothing is written yet."""
    if not (folder / DATAPI_CONFIG).is_file() and not (folder / RESOURCES).is_dir():
        raise NotDatapi(f"{folder.as_posix()}/ holds neither {DATAPI_CONFIG} nor {RESOURCES}/")
    plan = Conversion()
    if (folder / DATAPI_CONFIG).is_file():
        _convert_config(folder, plan)
    _add_project_files(folder, plan)
    return plan


def _load(path: Path) -> dict:
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise NotDatapi(f"{path.as_posix()}: cannot be read: {exc}") from None
    return data if isinstance(data, dict) else {}


def _convert_config(folder: Path, plan: Conversion) -> None:
    """config.yml's registry_url and written-out credential, edited on their lines."""
    path = folder / DATAPI_CONFIG
    data = _load(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    deployment = data.get("deployment") if isinstance(data.get("deployment"), dict) else {}
    registry = deployment.get("registry_url")
    if isinstance(registry, str) and not _ARTIFACT_REGISTRY.match(registry):
        match = _GCR.match(registry)
        if match:
            region = deployment.get("region") or DEFAULT_REGION
            new = f"{region}-docker.pkg.dev/{match['project']}/{REPOSITORY}"
            line = deployment.lc.value("registry_url")[0]
            lines[line] = _with_value(lines[line], "registry_url", new)
            plan.changes.append(
                f"changed {DATAPI_CONFIG}: deployment.registry_url {registry} -> {new} "
                f"(Container Registry is shut down; create the Artifact Registry repository "
                f"'{REPOSITORY}' in {region})"
            )
    credential = data.get("metastore_credentials")
    if isinstance(credential, str) and credential and not _VARIABLE.match(credential):
        line = data.lc.value("metastore_credentials")[0]
        lines[line] = _with_value(
            lines[line], "metastore_credentials", f"${{{CREDENTIAL_VARIABLE}}}"
        )
        plan.created[PYICEBERG_FILE] = _pyiceberg_yaml(data, credential)
        plan.changes.append(
            f"changed {DATAPI_CONFIG}: metastore_credentials moved to {PYICEBERG_FILE} "
            f"(git-ignored); config.yml now reads ${{{CREDENTIAL_VARIABLE}}}, which CI sets"
        )
    text = "".join(lines).encode("utf-8")
    if text != path.read_bytes():
        plan.rewritten[DATAPI_CONFIG] = text


def _with_value(line: str, key: str, value: str) -> str:
    """`line` (`  key: old  # comment`) with the value replaced, quoted like YAML needs."""
    pattern = re.compile(
        rf"^(?P<head>\s*{key}\s*:\s*)(?:'[^']*'|\"[^\"]*\"|[^#\s][^#]*?)(?P<tail>\s*(?:#.*)?\n?)$"
    )
    quoted = "'" + value.replace("'", "''") + "'"
    return pattern.sub(lambda m: m["head"] + quoted + m["tail"], line, count=1)


def _pyiceberg_yaml(data: dict, credential: str) -> bytes:
    """config.yml's metastore as pyiceberg's catalog `default`, with its credential."""
    lines = [
        "# The catalog of config.yml's metastore, for `datapic serve` and `datapic compile",
        "# --check` run here, with the credential config.yml held (moved here by `datapic init",
        "# --from-datapi`). Git-ignored: a credential does not belong in Git.",
        "catalog:",
        "  default:",
        f"    uri: {_quoted(str(data.get('metastore_uri', '')).rstrip('/'))}",
    ]
    if data.get("metastore_catalog"):
        lines.append(f"    warehouse: {_quoted(str(data['metastore_catalog']))}")
    lines += [f"    scope: {_quoted(POLARIS_SCOPE)}", f"    credential: {_quoted(credential)}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _add_project_files(folder: Path, plan: Conversion) -> None:
    """datapic.yaml, the CI definitions and the .gitignore lines a datapic project has."""
    if not (folder / "datapic.yaml").exists():
        plan.created["datapic.yaml"] = DATAPIC_YAML.encode("utf-8")
    for name, content in ci_files(RESOURCES).items():
        plan.created[name] = content
    content, added = merged_gitignore(folder)
    if not (folder / GITIGNORE).is_file():
        plan.created[GITIGNORE] = content
    elif added:
        plan.rewritten[GITIGNORE] = content
        plan.changes.append(f"changed .gitignore: added {', '.join(added)}")
