"""A served pod: compiled into a fresh temporary folder, with an app from the pod runtime
datapic ships and a catalog found the way `datapic compile --check` finds it.

Every build goes into a folder of its own, so the app still serving a previous build keeps the
files it was started from. The runtime (templates/pod/datapic_runtime) is imported once, from
datapic's templates: every pod gets a byte-identical copy of it, so one import serves all.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts.emit import emit
from ..assets import templates_dir
from ..pipeline import Result, compile_spec
from ..spec.datapi import Metastore
from ..spec.project import project_defaults

SERVE_EXTRA = "pip install 'datapic[serve]'"
_PREFIX = "PYICEBERG_CATALOG__"


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

    def __init__(self, workdir: Path, report: Callable[[Result], bool]) -> None:
        self.workdir = workdir
        self.report = report
        self.create_app = runtime_app_factory()
        self._builds = itertools.count(1)

    def from_spec(self, spec: Path) -> ServedPod | None:
        """The spec's pod, or None once its diagnostics are reported."""
        result = compile_spec(spec)
        if not self.report(result):
            return None
        target = self.workdir / str(next(self._builds)) / result.pod.name
        emit(result.files, target)
        defaults, _ = project_defaults(spec)
        factory = catalog_factory(dict(result.pod.deployment.env), defaults.metastore)
        return self._started(result.pod.name, target, factory, spec)

    def from_pod(self, directory: Path) -> ServedPod:
        """A pod compiled before (a folder holding pod.json), served as it stands."""
        return self._started(None, directory, catalog_factory({}, None), None)

    def _started(
        self, name: str | None, directory: Path, factory: Callable, spec: Path | None
    ) -> ServedPod:
        """The pod's app; a pod folder is named by its pod.json (the app's title), as compiled,
        whatever the folder is called."""
        try:
            app = self.create_app(directory, catalog_factory=factory)
        except Exception as exc:  # noqa: BLE001 - ConfigError, or pod.json unreadable
            raise ServeError(f"{directory.as_posix()}: cannot serve this pod: {exc}") from None
        return ServedPod(name=name or app.title, app=app, directory=directory, spec=spec)


def catalog_factory(
    deploy_env: Mapping[str, str], metastore: Metastore | None
) -> Callable[[str], Any]:
    """How a served pod opens catalog `name`: pyiceberg's configuration (environment,
    .pyiceberg.yaml) first, then what the pod would get deployed (its deploy env from
    datapic.yaml or the spec, config.yml's metastore with its credential)."""

    def load(name: str) -> Any:
        from pyiceberg.catalog import load_catalog
        from pyiceberg.utils.config import Config

        configured = dict(Config().get_catalog_config(name) or {})
        properties = env_properties(deploy_env, name)
        if metastore is not None and not configured:
            from ..check.catalog import SchemaLookup

            properties.update(SchemaLookup().settings(name, metastore).properties)
        if not configured and not properties:
            raise ServeError(
                f"catalog '{name}' is not configured: set PYICEBERG_CATALOG__{name.upper()}__URI "
                "(and its other properties) or write .pyiceberg.yaml (`datapic demo-lakehouse` "
                "writes one for the demo catalog)"
            )
        return load_catalog(name, **{**properties, **configured})

    return load


def env_properties(env: Mapping[str, str], catalog: str) -> dict[str, str]:
    """Catalog `catalog`'s properties among PYICEBERG_CATALOG__<NAME>__<KEY> variables, keyed
    as pyiceberg reads them (`__` a dot, `_` a dash, lower case).

    >>> env_properties({"PYICEBERG_CATALOG__DEFAULT__S3__ACCESS_KEY_ID": "k"}, "default")
    {'s3.access-key-id': 'k'}
    """
    prefix = f"{_PREFIX}{catalog.upper()}__"
    return {
        name[len(prefix) :].lower().replace("__", ".").replace("_", "-"): str(value)
        for name, value in env.items()
        if name.upper().startswith(prefix)
    }
