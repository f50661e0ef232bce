"""A served pod: compiled into a fresh temporary folder, with an app from the pod runtime
datapic ships, its catalog provided as its deployed pod's would be (catalog.py).

Every build goes into a folder of its own, so the app still serving a previous build keeps the
files it was started from. The runtime (templates/pod/datapic_runtime) is imported once, from
datapic's templates: every pod gets a byte-identical copy of it, so one import serves all.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts.emit import emit
from ..assets import templates_dir
from ..pipeline import Result, compile_spec
from ..spec.project import project_defaults
from ..spec.upstream import Project
from .catalog import CatalogEnvironment

SERVE_EXTRA = "pip install 'datapic[serve]'"


class ServeError(Exception):
    """What keeps a pod from being served, said in one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedPod:
    """A pod's app and where it came from."""

    name: str
    app: Any
    directory: Path
    spec: Path | None = None


def runtime_app_factory() -> Callable[..., Any]:
    """The pod runtime's `create_app`, or a ServeError naming the extra that installs it."""
    runtime = str(templates_dir() / "pod")
    if runtime not in sys.path:
        sys.path.insert(0, runtime)
    try:
        from datapic_runtime.server import create_app
    except ImportError as exc:
        raise ServeError(
            f"datapic serve runs pods in this Python, which lacks the pod runtime's "
            f"{exc.name or 'dependencies'}: {SERVE_EXTRA}"
        ) from None
    return create_app


class PodBuilder:
    """Compiles specs into numbered folders under `workdir` and builds their apps."""

    def __init__(
        self, workdir: Path, report: Callable[[Result], bool], warn: Callable[[str], None]
    ) -> None:
        self.workdir = workdir
        self.report = report
        self.warn = warn
        self.create_app = runtime_app_factory()
        self.catalogs = CatalogEnvironment()
        self._builds = itertools.count(1)
        # The pod.json of every pod served so far, by name: a pod reading a pod finds its
        # upstream here (serve builds upstreams first), and calls it on this server.
        self.compiled: dict[str, Any] = {}
        self.base_url: str | None = None

    def from_spec(self, spec: Path) -> ServedPod | None:
        """The spec's pod, or None once its diagnostics are reported."""
        result = compile_spec(spec, project=Project(compiled=self.compiled))
        if not self.report(result):
            return None
        target = self.workdir / str(next(self._builds)) / result.pod.name
        emit(result.files, target)
        defaults, _ = project_defaults(spec)
        catalog, env = result.pod.source.catalog, dict(result.pod.deployment.env)
        if result.pod.upstream is None:  # a pod reading a pod needs no catalog
            problem = self.catalogs.provide(catalog, env, defaults.metastore)
            if problem:
                self.warn(f"warning: {result.display_path}: catalog '{catalog}': {problem}")
        return self._started(result.pod.name, target, spec)

    def from_pod(self, directory: Path) -> ServedPod:
        """A pod compiled before (a folder holding pod.json), served as it stands."""
        return self._started(None, directory, None)

    def _point_at_upstream(self, document: Any) -> None:
        """A pod reading a pod calls it where this server serves it (`/<name>/`), unless the
        environment names another URL for it already."""
        upstream = document.get("upstream") if isinstance(document, dict) else None
        if upstream and self.base_url and not os.environ.get(upstream["env"]):
            os.environ[upstream["env"]] = f"{self.base_url}/{upstream['resource']}"

    def _started(self, name: str | None, directory: Path, spec: Path | None) -> ServedPod:
        """The pod's app; a pod folder is named by its pod.json (its `name`), as compiled,
        whatever the folder is called."""
        try:
            document = json.loads((directory / "pod.json").read_text(encoding="utf-8"))
            self._point_at_upstream(document)
            # The runtime's own catalog code, as deployed (catalog.py): read-only SQLite,
            # bounded REST requests, OAuth2, secrets kept out of its logs.
            app = self.create_app(directory)
        except Exception as exc:  # noqa: BLE001 - ConfigError, or pod.json unreadable
            raise ServeError(f"{directory.as_posix()}: cannot serve this pod: {exc}") from None
        if name is None:  # create_app has read and checked pod.json
            name = document["name"]
        self.compiled[name] = document
        return ServedPod(name=name, app=app, directory=directory, spec=spec)
