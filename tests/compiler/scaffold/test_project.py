"""`datapic init`: the files of a new project, that they compile as written, that nothing is
overwritten without --force, that prompts come only on a terminal, and that both CI
definitions are valid for their runner and fail on drift in generated/ (their steps run here)."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from google.cloud.devtools.cloudbuild_v1.types import Build
from pyiceberg.catalog.sql import SqlCatalog
from ruamel.yaml import YAML

from compiler import __version__
from compiler.cli import main
from compiler.scaffold import commands

DATAPIC = str(Path(sys.executable).parent / "datapic")
FILES = [
    ".github/workflows/datapic.yml",
    ".gitignore",
    ".pyiceberg.yaml",
    "README.md",
    "cloudbuild.yaml",
    "datapic.yaml",
    "specs/sales-by-quarter.md",
    "specs/sales-by-quarter.yaml",
]


def run(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def load(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project made by `datapic init demo --project my-project-1`, the working directory."""
    monkeypatch.chdir(tmp_path)
    result = run("init", "demo", "--project", "my-project-1")
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path / "demo")
    return tmp_path / "demo"


def test_init_writes_the_project_and_says_what_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", "demo", "--region", "us-east1")
    assert result.exit_code == 0, result.output
    assert sorted(tree(tmp_path / "demo")) == FILES
    assert [line.split()[-1] for line in result.stdout.splitlines()[: len(FILES)]] == [
        f"demo/{name}" for name in FILES_IN_WRITE_ORDER
    ]
    assert "cd demo && datapic demo-lakehouse && datapic compile && datapic serve" in result.stdout
    settings = load(tmp_path / "demo" / "datapic.yaml")
    assert settings == {"deploy": {"region": "us-east1"}}  # no project given: none written
    # The demo catalog, named by absolute paths (pyiceberg resolves no relative warehouse).
    catalog = load(tmp_path / "demo" / ".pyiceberg.yaml")["catalog"]["default"]
    lakehouse = (tmp_path / "demo" / ".lakehouse").resolve()
    assert catalog == {
        "type": "sql",
        "uri": f"sqlite:///{lakehouse}/catalog.db",
        "warehouse": (lakehouse / "warehouse").as_uri(),
    }
    ignored = (tmp_path / "demo" / ".gitignore").read_text().splitlines()
    assert "/.pyiceberg.yaml" in ignored and "/.lakehouse/" in ignored


FILES_IN_WRITE_ORDER = [
    "datapic.yaml",
    "specs/sales-by-quarter.yaml",
    "specs/sales-by-quarter.md",
    ".pyiceberg.yaml",
    ".gitignore",
    "README.md",
    "cloudbuild.yaml",
    ".github/workflows/datapic.yml",
]


def test_the_new_project_compiles_with_its_settings(project):
    result = run("compile")  # no SPECS: the project's specs/
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 spec(s): 1 compiled, 0 failed"
    pod = project / "generated" / "sales-by-quarter"
    build = load(pod / "cloudbuild.yaml")
    assert build["substitutions"]["_PROJECT"] == "my-project-1"
    assert build["substitutions"]["_REGION"] == "europe-west1"
    # The example's Markdown is its long description, in the pod's README.
    assert "Quarters are labelled like `2024-Q3`" in (pod / "README.md").read_text()
    assert json.loads((pod / "pod.json").read_text())["source"]["table"] == "orders"


def test_compile_without_specs_outside_a_project_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("compile")
    assert result.exit_code == 2
    assert "no SPECS given and no specs/ or resources/ folder here" in result.output


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datapic.yaml").write_text("deploy: {region: us-east1}\n")
    (tmp_path / "cloudbuild.yaml").write_text("steps: []\n")
    before = tree(tmp_path)
    result = run("init")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: these files exist in ./ (nothing was written):",
        "  cloudbuild.yaml",
        "  datapic.yaml",
        "rerun with --force to overwrite them",
    ]
    assert tree(tmp_path) == before
    forced = run("init", "--force")
    assert forced.exit_code == 0, forced.output
    assert sorted(tree(tmp_path)) == FILES
    assert load(tmp_path / "datapic.yaml") == {"deploy": {"region": "europe-west1"}}


def test_a_readme_of_the_folders_own_is_kept_even_with_force(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("# Our repository\n")
    assert run("init").exit_code == 0
    assert run("init", "--force").exit_code == 0
    assert (tmp_path / "README.md").read_text() == "# Our repository\n"
    assert (tmp_path / "datapic.yaml").is_file()


def test_a_gitignore_of_the_folders_own_gets_the_lines_datapic_needs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitignore").write_text("node_modules/\n/.lakehouse/")
    result = run("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".gitignore").read_text().splitlines() == [
        "node_modules/",
        "/.lakehouse/",
        "# datapic: the demo lakehouse, pyiceberg's local catalog settings",
        "/.pyiceberg.yaml",
    ]
    # What git then ignores, asked of git itself.
    subprocess.run(["git", "init", "-q", "."], check=True)
    ignored = subprocess.run(
        ["git", "check-ignore", ".pyiceberg.yaml", ".lakehouse/catalog.db", "datapic.yaml"],
        capture_output=True,
        text=True,
    )
    assert ignored.stdout.split() == [".pyiceberg.yaml", ".lakehouse/catalog.db"]


def test_init_again_over_its_own_files_is_no_conflict(project):
    result = run("init", ".", "--project", "my-project-1")
    assert result.exit_code == 0, result.output
    assert "wrote" not in result.stdout


def test_no_prompt_off_a_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # An answer waiting on stdin is never read: stdin is no terminal here.
    result = run("init", input="their-project-9\n")
    assert result.exit_code == 0, result.output
    assert "Google Cloud project" not in result.output
    assert load(tmp_path / "datapic.yaml") == {"deploy": {"region": "europe-west1"}}


def test_prompts_on_a_terminal_and_flags_skip_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(commands, "interactive", lambda: True)
    # A mistyped region is refused and asked again.
    result = run("init", "a", input="their-project-9\nUS East\nus-east1\n")
    assert result.exit_code == 0, result.output
    assert "Google Cloud project" in result.output and "Cloud Run region" in result.output
    assert "'US East' is not a Google Cloud region" in result.output
    assert result.output.count("Cloud Run region") == 2
    assert load(tmp_path / "a" / "datapic.yaml") == {
        "deploy": {"project": "their-project-9", "region": "us-east1"}
    }
    flagged = run("init", "b", "--project", "flag-project-1", "--region", "asia-east1", input="")
    assert flagged.exit_code == 0, flagged.output
    assert "Google Cloud project" not in flagged.output
    assert load(tmp_path / "b" / "datapic.yaml")["deploy"]["project"] == "flag-project-1"


def test_a_mistyped_project_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", "--project", "My_Project")
    assert result.exit_code == 2
    assert "'My_Project' is not a Google Cloud project" in result.output
    assert list(tmp_path.iterdir()) == []


def test_init_over_a_datapi_project_points_at_the_conversion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yml").write_text("metastore_type: POLARIS\n")
    (tmp_path / "resources").mkdir()
    result = run("init")
    assert result.exit_code == 2
    assert "convert it in place with --from-datapi" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yml", "resources"]


# --- the demo lakehouse -------------------------------------------------------------------------


def test_demo_lakehouse_builds_the_table_its_pyiceberg_yaml_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("demo-lakehouse", "--rows", "300")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "lakehouse ready in .lakehouse/ (sales.orders, 300 rows)",
        "wrote   .pyiceberg.yaml (catalog 'default': this lakehouse)",
    ]
    # Read back through what .pyiceberg.yaml says, with pyiceberg's own SQL catalog.
    properties = load(tmp_path / ".pyiceberg.yaml")["catalog"]["default"]
    catalog = SqlCatalog("default", **properties)
    assert catalog.load_table("sales.orders").scan().to_arrow().num_rows == 300
    # Run again over a .pyiceberg.yaml of the user's own: left as it is.
    (tmp_path / ".pyiceberg.yaml").write_text("catalog: {}\n")
    again = run("demo-lakehouse", "--rows", "300")
    assert again.exit_code == 0, again.output
    assert "left    .pyiceberg.yaml as it is" in again.stdout
    assert (tmp_path / ".pyiceberg.yaml").read_text() == "catalog: {}\n"


def test_demo_lakehouse_names_the_extra_it_needs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyiceberg_core" else real(name, *a),
    )
    result = run("demo-lakehouse")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: datapic demo-lakehouse needs pyiceberg_core: pip install 'datapic[demo]'\n"
    )
    assert list(tmp_path.iterdir()) == []


# --- the CI definitions -------------------------------------------------------------------------


def _cloud_build(project: Path) -> Build:
    document = load(project / "cloudbuild.yaml")
    return Build.from_json(json.dumps(document), ignore_unknown_fields=False)


def _run_step(command: list[str], project: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        command, cwd=project, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_cloudbuild_ci_parses_into_build_and_its_steps_catch_drift(project, tmp_path):
    build = _cloud_build(project)
    assert [step.id for step in build.steps] == ["install", "compile", "drift", "status"]
    assert f"'datapic[deploy]=={__version__}'" in build.steps[0].args[1]
    workspace = tmp_path / "workspace"

    def step(index: int) -> subprocess.CompletedProcess:
        # Cloud Build runs the entrypoint with the args in the checkout; the venv is ours here.
        entry = build.steps[index].entrypoint.replace("/workspace/.ci/venv/bin/datapic", DATAPIC)
        args = [a.replace("/workspace/.ci", str(workspace)) for a in build.steps[index].args]
        return _run_step([entry, *args], project)

    assert step(2).returncode != 0, "no generated/ yet: drift"
    assert run("compile").exit_code == 0
    assert step(1).returncode == 0
    assert step(2).returncode == 0, step(2).stdout
    readme = project / "generated" / "sales-by-quarter" / "README.md"
    readme.write_text(readme.read_text() + "edited by hand\n")
    drift = step(2)
    assert drift.returncode == 1 and "README.md" in drift.stdout
    # The status step is a datapic command line as datapic parses it.
    status = build.steps[3]
    main.make_context("datapic", list(status.args))
    assert status.args == ["status", "--check"]
    assert list(status.env) == ["GOOGLE_CLOUD_PROJECT=$PROJECT_ID"]


def test_github_workflow_has_the_shape_actions_runs_and_catches_drift(project, tmp_path):
    workflow = load(project / ".github" / "workflows" / "datapic.yml")
    # No JSON Schema of workflows is installed here: the structure GitHub requires, checked.
    assert set(workflow) == {"name", "on", "permissions", "jobs"}
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    for step in job["steps"]:
        assert len({"uses", "run"} & set(step)) == 1, step
        assert set(step) <= {"name", "uses", "run", "with", "if", "env"}, step
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[0] == f"pip install --quiet 'datapic[deploy]=={__version__}'"
    auth = next(s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions"))
    assert auth["if"] == "github.event_name == 'push'"
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    assert runs[-1] == "datapic status --check"
    main.make_context("datapic", shlex.split(runs[-1])[1:])
    env = {
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "PATH": f"{Path(DATAPIC).parent}:{os.environ['PATH']}",
    }

    def step(index: int) -> subprocess.CompletedProcess:
        return _run_step(["bash", "-e", "-c", runs[index]], project, env)

    assert run("compile").exit_code == 0
    assert step(1).returncode == 0 and step(2).returncode == 0
    (project / "generated" / "sales-by-quarter" / "pod.json").write_text("{}\n")
    assert step(2).returncode == 1
