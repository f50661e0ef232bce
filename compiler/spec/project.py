"""Project-wide settings, read before building a spec's IR.

Two files at the project root (the nearest folder above the spec holding a project marker) can
set defaults for every spec's `deploy:` block: datapic's own `datapic.yaml` (its `deploy:`
block has the spec's shape, schemas/project.schema.json; its `auth:` block is every spec's
default auth, see auth.py) and the original dataPi `config.yml` (read by datapi.py, which also
turns its metastore into the catalog). datapic.yaml's `cors:` is the default of a spec's
`cors:` (cors.py).
Precedence, weakest first: built-in defaults, config.yml, datapic.yaml, the spec
(deployment.py applies it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic, Span, has_errors
from .cors import read_cors
from .datapi import DATAPI_CONFIG, Metastore, datapi_metastore, datapi_settings
from .ir import Cors
from .load import Document, display_path, load
from .validate import project_validator, validate_against

# What marks a project's root: it fixes the config files read and a spec's provenance path.
PROJECT_MARKERS = (".git", "pyproject.toml", "config.yml", "datapic.yaml")
DATAPIC_CONFIG = "datapic.yaml"
SPEC_SUFFIXES = (".yaml", ".yml")
# A folder's project files are YAML too but no specs (and config.yml holds the catalog secret).
PROJECT_FILES = {DATAPI_CONFIG, DATAPIC_CONFIG}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectDefaults:
    """Deploy settings from the project's config files, keyed like a spec's deploy block.

    `spans` says where each setting was written (keys: setting name, or (env|secrets, NAME)).
    `cors` is datapic.yaml's checked `cors:` block, which a spec's own replaces.
    """

    settings: Mapping[str, Any] = field(default_factory=dict)
    spans: Mapping[Any, Span] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    metastore: Metastore | None = None
    # datapic.yaml's auth: block (jwt, require, limits), and where each of its keys stands.
    auth: Mapping[str, Any] = field(default_factory=dict)
    auth_spans: Mapping[str, Span] = field(default_factory=dict)
    cors: Cors | None = None  # datapic.yaml's checked cors: block


NO_DEFAULTS = ProjectDefaults()


def is_spec_file(path: Path) -> bool:
    """Whether a folder entry is a spec: a YAML file that is not one of the project's files."""
    return path.suffix in SPEC_SUFFIXES and path.name not in PROJECT_FILES and path.is_file()


def specs_in(folder: Path) -> list[Path]:
    """The specs directly inside `folder`, by name."""
    return sorted(path for path in folder.iterdir() if is_spec_file(path))


def project_root(spec: Path) -> Path | None:
    """The nearest folder above the spec that holds a project marker."""
    for folder in spec.resolve().parents:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return None


def project_file(spec: Path, name: str) -> Path | None:
    """The file `name` (relative to the spec) if it lies inside the spec's project, symlinks
    resolved; None if it escapes it. Without a project, the spec's own folder is the limit.

    A spec names files whose text goes into its pod (long_description into the README):
    `../../outside/notes.md`, `/etc/passwd` or a link to it must not be read.
    """
    limit = project_root(spec) or spec.resolve().parent
    target = (spec.resolve().parent / name).resolve()
    return target if target.is_relative_to(limit) else None


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
    auth: dict[str, Any] = {}
    auth_spans: dict[str, Span] = {}
    cors: Cors | None = None
    for name, read in ((DATAPI_CONFIG, datapi_settings), (DATAPIC_CONFIG, _datapic_settings)):
        path = root / name
        if not path.is_file() or _blank(path):
            continue
        document, found = load(path, display_path(path))
        diagnostics += found
        if document is None:
            continue
        found, values, where = read(document)
        diagnostics += found
        if name == DATAPI_CONFIG and not has_errors(found):
            metastore, found = datapi_metastore(document)
            diagnostics += found
        if name == DATAPIC_CONFIG and not has_errors(found):
            auth = document.data.get("auth", {})
            auth_spans = {key: document.span(("auth", key)) for key in auth}
            cors, found = read_cors(document, ("cors",))
            diagnostics += found
        if values or auth or cors or (name == DATAPI_CONFIG and metastore):
            files.append(name)
        for key, value in values.items():
            if key in ("env", "secrets"):
                settings[key] = {**settings.get(key, {}), **value}
            else:
                settings[key] = value
        spans.update(where)
    defaults = ProjectDefaults(
        settings=settings,
        spans=spans,
        files=tuple(files),
        metastore=metastore,
        auth=auth,
        auth_spans=auth_spans,
        cors=cors,
    )
    return defaults, diagnostics


def block_spans(document: Document, prefix: tuple, block: Mapping[str, Any]) -> dict[Any, Span]:
    """Where each key of a deploy block stands, and each name under its env and secrets."""
    spans: dict[Any, Span] = {}
    for key, value in block.items():
        spans[key] = document.span((*prefix, key))
        if key in ("env", "secrets"):
            for name in value:
                spans[(key, name)] = document.span((*prefix, key, name))
    return spans


def _datapic_settings(document: Document) -> tuple[list[Diagnostic], dict, dict]:
    found = validate_against(document, project_validator("#"))
    if found:
        return found, {}, {}
    block = document.data.get("deploy", {})
    return [], block, block_spans(document, ("deploy",), block)


def _blank(path: Path) -> bool:
    """An empty config file (comments only) is a project marker without settings."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False  # load() reports it, located
    return all(not line.strip() or line.lstrip().startswith("#") for line in lines)
