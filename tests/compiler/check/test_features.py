"""`--check` and the pod runtime agree on what a pod does not serve (compiler/check/features.py,
catalog.py's `unsupported`; datapic_runtime/features.py).

The two never import each other: each holds the rules as a table. A table one side refuses
and the other not is either a deployment that answers 501 though --check passed, or a spec
--check rejects that would have served, so both are held to one list here, and each real
table (featurekit: ORC and Avro files, key_metadata, hand-written v3/v4 metadata, and the
tables other engines wrote in ../shared/iceberg-tables) to the same verdict on both sides.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import featurekit as fk
import pytest
from datapic_runtime import features as runtime
from datapic_runtime.catalog import CatalogClient
from datapic_runtime.deletes import DataTask
from datapic_runtime.errors import PodError
from factories import source, span
from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import ValidationError

from compiler.check import features as compiler
from compiler.check.catalog import SchemaLookup
from compiler.diagnostics import Code

ROOT = Path(__file__).resolve().parents[3]
OTHER_ENGINES = ROOT.parent / "shared" / "iceberg-tables"
READ = ("id", "region", "shape")
WHERE = {"namespace": span(3, 18), "table": span(4, 12)}


# --- one list ----------------------------------------------------------------------------------


def test_both_sides_name_the_same_features_the_same_way():
    assert compiler.FEATURES == runtime.FEATURES


@pytest.mark.parametrize(
    "name",
    [
        "MAX_FORMAT_VERSION",
        "DATA_FILE_FORMATS",
        "DELETE_FILE_FORMATS",
        "UNREADABLE_TYPES",
        "ENCRYPTION_PROPERTY",
    ],
)
def test_both_sides_hold_the_same_limits(name):
    assert getattr(compiler, name) == getattr(runtime, name)


def test_both_sides_read_pyicebergs_load_failures_alike():
    def rules(side):
        return [(p.pattern, feature, detail) for p, feature, detail in side.UNLOADABLE]

    assert rules(compiler) == rules(runtime)


@pytest.mark.parametrize(
    "text",
    [
        "1 validation error for TableMetadataWrapper\n  Input tag '4' found using "
        "'format_version' | 'format-version' does not match any of the expected tags: 1, 2, 3",
        "3.schemas.0.fields.2.type\n  Value error, Unsupported field type: 'variant'",
        "Type not recognized: variant",
        "Value error, Multi argument transforms are not yet supported [type=value_error]",
        "1 validation error: table-uuid is not a valid UUID",
    ],
)
def test_both_sides_read_a_load_failure_the_same_way(text):
    exc = ValidationError(text)
    found = compiler.unloadable(exc)
    refused = runtime.refuse_unloadable(exc, "s.t")
    if found is None:
        assert refused is None
    else:
        feature, detail = found
        assert refused is not None
        assert refused.message == runtime.refusal(feature, "s.t", detail).message


# --- the same verdict on real tables -----------------------------------------------------------


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> dict[str, str]:
    """A SQL catalog holding one table per case (namespace `sales`), as environment."""
    root = tmp_path_factory.mktemp("features-check")
    uri, warehouse = f"sqlite:///{root / 'c.db'}", root.as_uri()
    catalog = SqlCatalog("default", uri=uri, warehouse=warehouse)
    catalog.create_namespace("sales")
    for name, (build, _, _) in fk.UNSUPPORTED.items():
        build(catalog, f"sales.{name}")
    for name, build in fk.SERVED.items():
        build(catalog, f"sales.{name}")
    return {
        "PYICEBERG_CATALOG__DEFAULT__URI": uri,
        "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": warehouse,
    }


@pytest.fixture
def env(lake, monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    for name, value in lake.items():
        monkeypatch.setenv(name, value)
    return lake


def checked(table: str, read=READ) -> list:
    """What --check says of a pod reading `read` of sales.`table`: the load's diagnostics, else
    the unsupported features'."""
    lookup = SchemaLookup()
    schema, found = lookup.schema(source(table), spans=WHERE)
    if schema is None:
        return found
    return lookup.unsupported(source(table), read, spans=WHERE)


def refused_at_run_time(lake: dict[str, str], table: str, read=READ) -> PodError | None:
    """The pod's refusal of sales.`table`, reading `read` of every file of the snapshot."""
    catalog = functools.partial(
        load_catalog, uri=lake["PYICEBERG_CATALOG__DEFAULT__URI"], type="sql"
    )
    try:
        loaded = CatalogClient("default", catalog).load_table(("sales", table))
        runtime.refuse_unsupported_table(loaded, f"sales.{table}", loaded.schema().select(*read))
        tasks = [DataTask(t.file, 0, tuple(t.delete_files), ()) for t in loaded.scan().plan_files()]
        runtime.refuse_unsupported_files(tasks, f"sales.{table}")
    except PodError as error:
        return error
    return None


@pytest.mark.parametrize("table", fk.UNSUPPORTED)
def test_check_reports_what_the_pod_refuses_at_the_specs_table(env, lake, table):
    _, feature, detail = fk.UNSUPPORTED[table]
    found = checked(table)
    assert [(d.code, d.span) for d in found] == [(Code.UNSUPPORTED_FEATURE, WHERE["table"])]
    message = found[0].message
    assert message.startswith(f"table 'sales.{table}' uses {compiler.FEATURES[feature][0]}, ")
    assert f"({detail}" in message

    refused = refused_at_run_time(lake, table)
    assert refused is not None and refused.status == 501
    # The same sentence but for how each names the table and where it found the files.
    assert _unquoted(message) == refused.message.replace(
        " among the files this request reads", " in the current snapshot"
    )


def _unquoted(message: str) -> str:
    return message.replace("'sales.", "sales.", 1).replace("' uses", " uses", 1)


@pytest.mark.parametrize("table", fk.SERVED)
def test_neither_side_refuses_what_a_pod_serves(env, lake, table):
    assert checked(table) == []
    assert refused_at_run_time(lake, table, read=("id", "region")) is None


def test_a_geometry_column_the_pod_does_not_read_is_not_reported(env):
    assert checked("geometry", read=("id", "REGION")) == []


def test_unreadable_manifests_leave_the_files_to_the_pod(env, lake):
    """--check needs the catalog; storage it cannot read is not a failure of the spec."""
    catalog = SqlCatalog("default", uri=lake["PYICEBERG_CATALOG__DEFAULT__URI"])
    manifest_list = catalog.load_table("sales.orc").current_snapshot().manifest_list
    moved = manifest_list.removeprefix("file://")
    shutil.move(moved, moved + ".away")
    try:
        assert checked("orc") == []
    finally:
        shutil.move(moved + ".away", moved)


# --- tables other engines wrote ----------------------------------------------------------------


@pytest.fixture(scope="module")
def other_engines(tmp_path_factory) -> SqlCatalog:
    """The tables of ../shared/iceberg-tables (Spark, Flink, Hive, Impala, Iceberg Java)."""
    if not (OTHER_ENGINES / "setup.py").exists():
        pytest.skip("../shared/iceberg-tables is not beside this checkout")
    dest = tmp_path_factory.mktemp("other-engines")
    subprocess.run(
        [sys.executable, str(OTHER_ENGINES / "setup.py"), "--dest", str(dest)],
        check=True,
        capture_output=True,
    )
    return SqlCatalog(
        "default", uri=f"sqlite:///{dest / 'catalog.db'}", warehouse=(dest / "warehouse").as_uri()
    )


def test_tables_other_engines_wrote_are_refused_by_neither_side(other_engines):
    tables = other_engines.list_tables("real")
    assert len(tables) == 7
    for identifier in tables:
        table = other_engines.load_table(identifier)
        files = compiler.current_files(table)
        assert files, identifier
        everything = table.schema().column_names
        assert list(compiler.in_metadata(table, everything)) == [], identifier
        assert list(compiler.in_files(files)) == [], identifier
        assert list(runtime.unsupported_in_metadata(table, table.schema())) == [], identifier
        assert list(runtime.unsupported_in_files(files)) == [], identifier
