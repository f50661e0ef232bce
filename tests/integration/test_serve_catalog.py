"""`datapic serve` in a converted dataPi project reaches its Iceberg REST catalog (SeaweedFS,
OAuth2 client credentials, Polaris style): through the .pyiceberg.yaml the conversion wrote
(credential moved out of config.yml), and, without it, through config.yml naming the credential
by ${VARIABLE}; either way opened by the pod runtime's own catalog code, as a served pod opens
it. The reference: the writer's own read of the rows it appended."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import servers
from click.testing import CliRunner
from datapic_runtime.catalog import pod_catalog
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from compiler.cli import main
from compiler.serve.catalog import CatalogEnvironment
from compiler.serve.server import use_project_catalog
from compiler.spec.datapi import datapi_metastore
from compiler.spec.load import display_path, load

pytestmark = pytest.mark.integration

SCHEMA = Schema(
    NestedField(1, "order_id", LongType(), required=True),
    NestedField(2, "region", StringType()),
)


@pytest.fixture(scope="module")
def table(seaweedfs: servers.Backend) -> tuple[str, pa.Table]:
    """A table the writer filled, and what it holds."""
    name = f"serve{secrets.token_hex(4)}.orders"
    catalog = seaweedfs.catalog()
    catalog.create_namespace(name.split(".")[0])
    rows = pa.table(
        {"order_id": pa.array([1, 2, 3], pa.int64()), "region": ["EMEA", "APAC", None]},
        schema=SCHEMA.as_arrow(),
    )
    created = catalog.create_table(name, schema=SCHEMA)
    created.append(rows)
    return name, catalog.load_table(name).scan().to_arrow()


@pytest.fixture
def project(seaweedfs, tmp_path, monkeypatch) -> Iterator[Path]:
    """A dataPi project naming the catalog with the reader's written-out credential; the
    environment as it was afterwards (serve sets catalog variables in its own process)."""
    saved = dict(os.environ)
    for variable in list(os.environ):
        if variable.upper().startswith("PYICEBERG_"):
            del os.environ[variable]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for variable, value in seaweedfs.extra_env.items():
        monkeypatch.setenv(variable, value)
    (tmp_path / "config.yml").write_text(
        "metastore_type: POLARIS\n"
        f"metastore_uri: '{seaweedfs.endpoints['catalog']}'\n"
        f"metastore_credentials: '{seaweedfs.details['reader'].credential}'\n"
        f"metastore_catalog: '{seaweedfs.warehouse}'\n"
    )
    (tmp_path / "resources").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


def test_the_converted_projects_pyiceberg_yaml_reaches_the_catalog(seaweedfs, table, project):
    assert CliRunner().invoke(main, ["init", "--from-datapi"]).exit_code == 0
    assert seaweedfs.details["reader"].credential not in (project / "config.yml").read_text()
    use_project_catalog()
    assert CatalogEnvironment().provide("default", {}, None) is None
    catalog = pod_catalog("default")  # the runtime's own, as the served pod opens it
    name, written = table
    assert catalog.load_table(name).scan().to_arrow().equals(written)


def test_config_yml_naming_the_credential_by_variable_reaches_the_catalog(
    seaweedfs, table, project, monkeypatch
):
    assert CliRunner().invoke(main, ["init", "--from-datapi"]).exit_code == 0
    (project / ".pyiceberg.yaml").unlink()
    monkeypatch.setenv("DATAPI_METASTORE_CREDENTIALS", seaweedfs.details["reader"].credential)
    document, found = load(project / "config.yml", display_path(project / "config.yml"))
    metastore, found = datapi_metastore(document)
    assert not found
    assert CatalogEnvironment().provide("default", {}, metastore) is None
    catalog = pod_catalog("default")
    name, written = table
    assert catalog.load_table(name).scan().to_arrow().equals(written)
