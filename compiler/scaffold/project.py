"""`datapic init`: the files of a new project, planned before anything is written.

A plan maps each path (relative to the project folder) to its bytes; `conflicts` says which of
them already exist, so the CLI can refuse before writing any (nothing is overwritten without
--force). Rendered from files/ with the same strict Jinja settings as the pods' templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .. import __version__
from ..spec.ir import DEFAULT_DEPLOYMENT
from .catalog import LAKEHOUSE_DIR, PYICEBERG_FILE, pyiceberg_yaml

FILES = Path(__file__).resolve().parent / "files"
SPECS_DIR = "specs"
EXAMPLE = "sales-by-quarter"
DEFAULT_REGION = DEFAULT_DEPLOYMENT.region
CLOUDBUILD_FILE = "cloudbuild.yaml"
WORKFLOW_FILE = ".github/workflows/datapic.yml"
# Written only where there is none, even with --force: a repository's README is its own.
KEPT_IF_PRESENT = frozenset({"README.md"})
# Added to a .gitignore the folder has (never a conflict: nothing of it is lost).
GITIGNORE = ".gitignore"
GITIGNORE_LINES = ("/.lakehouse/", "/.pyiceberg.yaml")
# CI runs the datapic that wrote the project: another version may compile other bytes.
REQUIREMENT = f"datapic[deploy]=={__version__}"
# The CI image: the pods' own pinned base (a moving tag would change CI under you).
PYTHON_IMAGE = DEFAULT_DEPLOYMENT.base_image
PYTHON_VERSION = ".".join(PYTHON_IMAGE.split(":")[1].split(".")[:2])


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectOptions:
    """What `datapic init` asks for (flags, or prompts on a terminal)."""

    name: str
    project: str | None = None
    region: str = DEFAULT_REGION


def render(template: str, **values: object) -> bytes:
    """One file of files/, rendered with `values`."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(FILES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return environment.get_template(template).render(**values).encode("utf-8")


def ci_files(specs: str) -> dict[str, bytes]:
    """The two CI definitions: Cloud Build and GitHub Actions, running the same commands."""
    values = {
        "version": __version__,
        "requirement": REQUIREMENT,
        "python_image": PYTHON_IMAGE,
        "python_version": PYTHON_VERSION,
        "specs": specs,
    }
    return {
        CLOUDBUILD_FILE: render("cloudbuild.yaml.jinja", **values),
        WORKFLOW_FILE: render("github-workflow.yml.jinja", **values),
    }


def plan_project(folder: Path, options: ProjectOptions) -> dict[str, bytes]:
    """Every file of a new project in `folder`, by relative path."""
    return {
        "datapic.yaml": render(
            "datapic.yaml.jinja", project=options.project, region=options.region
        ),
        f"{SPECS_DIR}/{EXAMPLE}.yaml": (FILES / "spec.yaml").read_bytes(),
        f"{SPECS_DIR}/{EXAMPLE}.md": (FILES / "spec.md").read_bytes(),
        PYICEBERG_FILE: pyiceberg_yaml(folder / LAKEHOUSE_DIR).encode("utf-8"),
        GITIGNORE: merged_gitignore(folder)[0],
        "README.md": render("README.md.jinja", name=options.name, specs=SPECS_DIR),
        **ci_files(SPECS_DIR),
    }


def merged_gitignore(folder: Path) -> tuple[bytes, list[str]]:
    """The folder's .gitignore with the lines datapic needs added, and those added; without
    one, the new project's."""
    path = folder / GITIGNORE
    if not path.is_file():
        return (FILES / "gitignore").read_bytes(), list(GITIGNORE_LINES)
    text = path.read_text(encoding="utf-8")
    missing = [line for line in GITIGNORE_LINES if line not in text.splitlines()]
    if not missing:
        return path.read_bytes(), []
    separator = "" if not text or text.endswith("\n") else "\n"
    added = "# datapic: the demo lakehouse, pyiceberg's local catalog settings\n"
    return (text + separator + added + "\n".join(missing) + "\n").encode("utf-8"), missing


def conflicts(folder: Path, plan: Mapping[str, bytes]) -> list[str]:
    """The planned paths that already exist in `folder` (with other content), sorted; a README
    of the folder's own is no conflict: it is kept."""
    found = []
    for name, content in plan.items():
        path = folder / name
        if name in KEPT_IF_PRESENT or name == GITIGNORE:
            continue
        if path.exists() and not (path.is_file() and path.read_bytes() == content):
            found.append(name)
    return sorted(found)


def write(folder: Path, plan: Mapping[str, bytes]) -> list[str]:
    """Write the plan into `folder`; the paths written (an identical file is left alone)."""
    written = []
    for name, content in plan.items():
        path = folder / name
        if (name in KEPT_IF_PRESENT and path.exists()) or (
            path.is_file() and path.read_bytes() == content
        ):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(name)
    return written


# Where `datapic compile` (and validate, serve) look for specs when given none: a datapic
# project's specs/, else a converted dataPi project's resources/.
PROJECT_SPEC_DIRS = (SPECS_DIR, "resources")


def project_specs(folder: Path = Path(".")) -> Path | None:
    """The folder of specs of the project in `folder`, if it has one."""
    for name in PROJECT_SPEC_DIRS:
        if (folder / name).is_dir():
            return folder / name if folder != Path(".") else Path(name)
    return None
