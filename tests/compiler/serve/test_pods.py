"""Where a served pod's catalog comes from: pyiceberg's own configuration (environment, the
project's .pyiceberg.yaml) first, then what the pod would get deployed, as the pod runtime
then reads it (pyiceberg's Config); the spec watcher that triggers a reload; a port in use."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyiceberg.utils.config import Config

from compiler.cli import main
from compiler.serve.catalog import CatalogEnvironment
from compiler.serve.server import use_project_catalog
from compiler.serve.watch import SpecWatcher
from compiler.spec.datapi import datapi_metastore
from compiler.spec.load import load


@pytest.fixture
def clean(tmp_path, monkeypatch) -> Iterator[Path]:
    """No pyiceberg settings but those a test makes; a HOME without .pyiceberg.yaml; the
    environment as it was afterwards (serve sets catalog variables in its own process)."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            del os.environ[name]
    os.environ["HOME"] = str(tmp_path / "home")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


def configured(name: str = "default") -> dict:
    """What the pod runtime's catalog code reads: pyiceberg's configuration, read now."""
    return dict(Config().get_catalog_config(name) or {})


def deploy_env(folder: Path, db: str = "deployed.db") -> dict[str, str]:
    return {
        "PYICEBERG_CATALOG__DEFAULT__TYPE": "sql",
        "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{folder / db}",
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": (folder / "w").as_uri(),
        "PYICEBERG_CATALOG__OTHER__URI": "https://elsewhere.example",
        "DATAPIC_CACHE_BYTES": "1000",
    }


def test_the_deploy_env_configures_a_catalog_pyiceberg_does_not_name(clean):
    assert CatalogEnvironment().provide("default", deploy_env(clean), None) is None
    assert configured() == {
        "type": "sql",
        "uri": f"sqlite:///{clean / 'deployed.db'}",
        "warehouse": (clean / "w").as_uri(),
    }
    assert configured("other") == {}  # only the pod's own catalog
    assert "DATAPIC_CACHE_BYTES" not in os.environ  # only catalog settings


def test_the_users_settings_win_and_a_recompile_replaces_only_datapics(clean):
    os.environ["PYICEBERG_CATALOG__DEFAULT__URI"] = f"sqlite:///{clean / 'mine.db'}"
    catalogs = CatalogEnvironment()
    catalogs.provide("default", deploy_env(clean), None)
    assert configured()["uri"] == f"sqlite:///{clean / 'mine.db'}"
    assert configured()["warehouse"] == (clean / "w").as_uri()  # unsaid by the user
    changed = {**deploy_env(clean), "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": "file:///elsewhere"}
    catalogs.provide("default", changed, None)
    assert configured()["warehouse"] == "file:///elsewhere"
    assert configured()["uri"] == f"sqlite:///{clean / 'mine.db'}"
    catalogs.provide("default", {}, None)  # the setting removed from datapic.yaml
    assert configured() == {"uri": f"sqlite:///{clean / 'mine.db'}"}


def test_the_projects_pyiceberg_yaml_is_read_before_the_home_one(clean):
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
    CatalogEnvironment().provide("default", deploy_env(clean), None)
    assert configured()["uri"] == f"sqlite:///{clean / 'project.db'}"


def test_config_yml_naming_an_unset_variable_is_said(clean):
    (clean / "config.yml").write_text(
        "metastore_type: POLARIS\nmetastore_uri: https://polaris.example/api/catalog\n"
        "metastore_credentials: ${NOT_SET_HERE}\n"
    )
    document, _ = load(clean / "config.yml", "config.yml")
    metastore, found = datapi_metastore(document)
    assert metastore is not None and not found
    problem = CatalogEnvironment().provide("default", {}, metastore)
    assert problem == (
        "config.yml's metastore_credentials names ${NOT_SET_HERE}, which is not set in the "
        "environment"
    )
    assert configured() == {}


class _Recorder:
    """The watcher's events, in order, with a wait for the next one."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Path]] = []
        self.seen = threading.Event()

    def _record(self, kind: str, spec: Path) -> None:
        self.events.append((kind, spec))
        self.seen.set()

    def reload(self, spec: Path) -> None:
        self._record("reload", spec)

    def added(self, spec: Path) -> None:
        self._record("added", spec)

    def removed(self, spec: Path) -> None:
        self._record("removed", spec)

    def next(self) -> None:
        assert self.seen.wait(60)
        self.seen.clear()


def _watching(specs, folders, recorder):
    watcher = SpecWatcher(specs, folders, recorder, interval=0.05)
    watcher.start()
    return watcher


def test_the_watcher_calls_back_after_the_spec_or_its_markdown_changes(tmp_path):
    spec, notes = tmp_path / "a.yaml", tmp_path / "a.md"
    spec.write_text("resource_name: a\n")
    recorder = _Recorder()
    watcher = _watching([spec], [], recorder)
    try:
        notes.write_text("new docs\n")  # a Markdown file appearing beside the spec
        recorder.next()
        spec.write_text("resource_name: a\nshort_description: longer now\n")
        recorder.next()
    finally:
        watcher.stop()
        watcher.join(60)
    assert recorder.events == [("reload", spec), ("reload", spec)]


def test_the_watcher_follows_specs_saved_into_and_deleted_from_a_folder(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    first = folder / "a.yaml"
    first.write_text("resource_name: a\n")
    recorder = _Recorder()
    watcher = _watching([first], [folder], recorder)
    try:
        (folder / "notes.txt").write_text("not a spec\n")
        second = folder / "b.yml"
        second.write_text("resource_name: b\n")
        recorder.next()
        first.unlink()
        recorder.next()
        second.write_text("resource_name: b\nshort_description: edited\n")
        recorder.next()
    finally:
        watcher.stop()
        watcher.join(60)
    assert recorder.events == [("added", second), ("removed", first), ("reload", second)]


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
