"""A served pod reaches its catalog the way its deployed pod does: through the runtime's own
catalog code, reading pyiceberg's configuration (PYICEBERG_CATALOG__* variables, then
.pyiceberg.yaml). Where that configuration does not name a spec's catalog, what the deployed
pod would be given (its deploy env from datapic.yaml or the spec; config.yml's metastore, with
the credential config.yml holds or names by ${VARIABLE}) becomes PYICEBERG_CATALOG__ variables
of this process, as Cloud Run would set them.

A property the user configured is never overridden; what datapic set is replaced when a
recompiled spec says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..spec.datapi import Metastore

PREFIX = "PYICEBERG_CATALOG__"


def variable(catalog: str, key: str) -> str:
    """pyiceberg's environment variable for a catalog property (`.` as `__`, `-` as `_`).

    >>> variable("default", "s3.access-key-id")
    'PYICEBERG_CATALOG__DEFAULT__S3__ACCESS_KEY_ID'
    """
    return f"{PREFIX}{catalog.upper()}__{key.upper().replace('.', '__').replace('-', '_')}"


class CatalogEnvironment:
    """The PYICEBERG_CATALOG__ variables serve sets, per catalog name."""

    def __init__(self) -> None:
        self._ours: dict[str, dict[str, str]] = {}

    def provide(
        self, catalog: str, deploy_env: Mapping[str, str], metastore: Metastore | None
    ) -> str | None:
        """Fill in `catalog`'s properties from the deployed pod's settings where pyiceberg's
        own configuration leaves them unset; why config.yml's metastore could not, if so."""
        from pyiceberg.utils.config import Config

        self._drop(catalog)  # what a previous build of a spec set is not the user's
        configured = Config().get_catalog_config(catalog) or {}
        properties = env_properties(deploy_env, catalog)
        if metastore is not None and not configured:
            from ..check.catalog import SchemaLookup
            from ..check.problems import Problem

            try:
                properties.update(SchemaLookup().settings(catalog, metastore).properties)
            except Problem as problem:
                return problem.message
        wanted = {
            variable(catalog, k): str(v) for k, v in properties.items() if k not in configured
        }
        os.environ.update(wanted)
        self._ours[catalog] = wanted
        return None

    def _drop(self, catalog: str) -> None:
        for name in self._ours.pop(catalog, {}):
            os.environ.pop(name, None)


def env_properties(env: Mapping[str, str], catalog: str) -> dict[str, str]:
    """Catalog `catalog`'s properties among PYICEBERG_CATALOG__<NAME>__<KEY> variables, keyed
    as pyiceberg reads them (`__` a dot, `_` a dash, lower case).

    >>> env_properties({"PYICEBERG_CATALOG__DEFAULT__S3__ACCESS_KEY_ID": "k"}, "default")
    {'s3.access-key-id': 'k'}
    """
    prefix = f"{PREFIX}{catalog.upper()}__"
    return {
        name[len(prefix) :].lower().replace("__", ".").replace("_", "-"): str(value)
        for name, value in env.items()
        if name.upper().startswith(prefix)
    }
