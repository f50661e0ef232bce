"""Where a served pod's catalog comes from: pyiceberg's own configuration (environment, the
project's .pyiceberg.yaml) first, then what the pod would get deployed; and the spec watcher
that triggers a reload. Catalogs are real pyiceberg SQL catalogs in SQLite files."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.serve.pods import ServeError, catalog_factory
from compiler.serve.server import use_project_catalog
from compiler.serve.watch import SpecWatcher


@pytest.fixture
def clean(tmp_path, monkeypatch) -> Path:
    """No pyiceberg settings but those a test makes; a HOME without .pyiceberg.yaml."""
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    # Set, then removed: monkeypatch then removes what use_project_catalog sets, after the test.
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    monkeypatch.delenv("PYICEBERG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def deploy_env(folder: Path) -> dict[str, str]:
    return {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{folder / 'deployed.db'}",
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": (folder / "w").as_uri(),
        "PYICEBERG_CATALOG__OTHER__URI": "https://elsewhere.example",
    }


def test_the_deploy_env_serves_when_pyiceberg_has_no_settings(clean):
    catalog = catalog_factory(deploy_env(clean), None)("default")
    assert catalog.properties["uri"] == f"sqlite:///{clean / 'deployed.db'}"


def test_pyiceberg_configuration_wins_over_the_deploy_env(clean, monkeypatch):
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", f"sqlite:///{clean / 'mine.db'}")
    catalog = catalog_factory(deploy_env(clean), None)("default")
    assert catalog.properties["uri"] == f"sqlite:///{clean / 'mine.db'}"
    # What the environment leaves unsaid still comes from the deploy env.
    assert catalog.properties["warehouse"] == (clean / "w").as_uri()


def test_the_projects_pyiceberg_yaml_is_read_before_the_home_one(clean, monkeypatch):
    home = clean / "home"
    home.mkdir()
    (home / ".pyiceberg.yaml").write_text(
        f"catalog:\n  default:\n    type: sql\n    uri: sqlite:///{clean / 'home.db'}\n"
    )
    (clean / ".pyiceberg.yaml").write_text(
        f"catalog:\n  default:\n    type: sql\n    uri: sqlite:///{clean / 'project.db'}\n"
    )
    use_project_catalog()
    assert os.environ["PYICEBERG_HOME"] == str(clean)
    catalog = catalog_factory({}, None)("default")
    assert catalog.properties["uri"] == f"sqlite:///{clean / 'project.db'}"


def test_no_catalog_anywhere_is_said_plainly(clean):
    with pytest.raises(ServeError, match="catalog 'default' is not configured: set PYICEBERG_"):
        catalog_factory({}, None)("default")


def test_the_watcher_calls_back_after_the_spec_or_its_markdown_changes(tmp_path):
    spec, notes = tmp_path / "a.yaml", tmp_path / "a.md"
    spec.write_text("resource_name: a\n")
    changed: list[Path] = []
    seen = threading.Event()

    def record(path: Path) -> None:
        changed.append(path)
        seen.set()

    watcher = SpecWatcher([spec], record, interval=0.05)
    watcher.start()
    try:
        notes.write_text("new docs\n")  # a Markdown file appearing beside the spec
        assert seen.wait(60)
        seen.clear()
        spec.write_text("resource_name: a\nshort_description: longer now\n")
        assert seen.wait(60)
    finally:
        watcher.stop()
        watcher.join(60)
    assert changed == [spec, spec]


def test_a_port_in_use_is_one_line_before_anything_compiles(clean):
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert result.stdout == ""  # nothing compiled, nothing served
