"""Specs that are well formed but do not fit their table, run through the real CLI with `--check`
against a real catalog (pyiceberg's SQL catalog in SQLite); the printed diagnostics are
snapshotted like the other broken specs' (see test_diagnostics.py).

Add a case: drop a spec in check/ and run `pytest tests/diagnostics --snapshot-update`, then
read the new snapshot before committing it.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import featurekit
import pytest
from click.testing import CliRunner
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)

from compiler.cli import main
from compiler.diagnostics import Code

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPECS = sorted((HERE / "check").glob("*.yaml"))
LOCATED = re.compile(r"^tests/diagnostics/check/[\w-]+\.yaml:\d+:\d+: error\[DP05\d\d\] \S")

ORDERS = Schema(
    NestedField(1, "order_id", LongType(), required=True),
    NestedField(2, "region", StringType()),
    NestedField(3, "sales", DecimalType(12, 2)),
    NestedField(4, "quantity", IntegerType()),
    NestedField(5, "order_date", DateType()),
    NestedField(6, "shipped_at", TimestampType()),
    NestedField(7, "paid", BooleanType()),
    NestedField(8, "discount", DoubleType()),
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> tuple[str, str]:
    """sales.orders (and two tables a pod cannot serve) in a real SQL catalog: its uri and
    warehouse."""
    root = tmp_path_factory.mktemp("check-diagnostics")
    uri, warehouse = f"sqlite:///{root / 'catalog.db'}", root.as_uri()
    catalog = SqlCatalog("default", uri=uri, warehouse=warehouse)
    catalog.create_namespace("sales")
    catalog.create_table("sales.orders", schema=ORDERS)
    # Tables a pod would refuse to serve (DP0505): one with ORC files, one of format version 4.
    featurekit.orc_data(catalog, "sales.archive")
    featurekit.edited(catalog, "sales.future", featurekit.format_v4)
    return uri, warehouse


@pytest.fixture
def catalog(lake, tmp_path, monkeypatch) -> None:
    """The lake, the only catalog settings the CLI can see."""
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", lake[0])
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__WAREHOUSE", lake[1])
    monkeypatch.chdir(ROOT)


def check_through_the_cli(tmp_path, *specs: str):
    """`datapic compile --check SPECS -o TMP`: exit 1, no traceback, nothing written, every
    headline located in its spec."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", "--check", *specs, "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    headlines = [line for line in result.stderr.splitlines() if not line.startswith("    ")]
    assert headlines and all(LOCATED.match(line) for line in headlines), result.stderr
    return result


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_spec_against_its_table(spec: Path, catalog, tmp_path, snapshot) -> None:
    relative = spec.relative_to(ROOT).as_posix()
    result = check_through_the_cli(tmp_path, relative)
    assert result.stdout.splitlines() == [f"FAILED  {relative}", "1 spec(s): 0 compiled, 1 failed"]
    assert result.stderr == snapshot


def test_the_same_specs_compile_without_check(tmp_path, monkeypatch) -> None:
    """What --check finds is invisible without it: no false alarms in the ordinary path."""
    monkeypatch.chdir(ROOT)
    arguments = [p.relative_to(ROOT).as_posix() for p in SPECS]
    result = CliRunner().invoke(main, ["validate", *arguments])
    assert result.exit_code == 0, result.output


def test_an_unreachable_catalog(catalog, tmp_path, monkeypatch, snapshot) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__CREDENTIAL", "client:hush-hush-secret")
    specs = [
        "tests/diagnostics/check/missing-table.yaml",
        "tests/diagnostics/check/type-mismatches.yaml",
    ]
    result = check_through_the_cli(tmp_path, *specs)
    assert "hush-hush-secret" not in result.output
    assert result.stderr.replace(str(port), "PORT") == snapshot


def test_every_check_code_is_exercised(catalog, tmp_path, monkeypatch) -> None:
    arguments = [p.relative_to(ROOT).as_posix() for p in SPECS]
    result = CliRunner().invoke(main, ["validate", "--check", *arguments])
    seen = set(re.findall(r"\[(DP05\d\d)\]", result.stderr))
    assert seen == {c.value for c in Code if c.value.startswith("DP05")}


def test_select_every_column_is_resolved_into_the_tables_columns(catalog, tmp_path) -> None:
    """`select: "*"` under --check becomes the table's columns, listed in pod.json and typed
    nowhere else but the answer; without --check the pod resolves it at run time."""
    spec = tmp_path / "all.yaml"
    spec.write_text(
        "resource_name: all-orders\ndepends_on: [{namespace: sales, table: orders}]\n"
        "select: '*'\nfilters: region = 'EMEA'\norder_by: [order_id]\n"
    )
    for check, columns in (([], []), (["--check"], [f.name for f in ORDERS.fields])):
        out = tmp_path / f"out{len(check)}"
        result = CliRunner().invoke(main, ["compile", *check, str(spec), "-o", str(out)])
        assert result.exit_code == 0, result.output
        document = json.loads((out / "all-orders" / "pod.json").read_text())
        assert document["columns"] == columns
        assert document.get("all_columns", False) is not bool(check)
        assert document["read_columns"] == sorted(columns)
        openapi = json.loads((out / "all-orders" / "openapi.json").read_text())
        content = openapi["paths"]["/get_data"]["get"]["responses"]["200"]["content"]
        row = content["application/json"]["schema"]["items"]
        if check:
            assert row["required"] == columns
        else:
            assert "every column of the table" in row["description"].lower()
        sql = "\n".join(document["sql"])
        assert sql.startswith("SELECT\n  *" if not check else "SELECT\n  order_id,\n  region,")


def test_a_pod_reading_a_pod_is_checked_against_the_upstreams_lock(
    catalog, tmp_path, snapshot
) -> None:
    """The downstreams are listed first: the upstream is checked (and locked) first anyway; the
    downstreams are checked against its locked answer, not against its table."""
    upstream = "tests/diagnostics/check/upstream"
    specs = [f"{upstream}/down-bad.yaml", f"{upstream}/down-good.yaml", f"{upstream}/up.yaml"]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", "--check", *specs, "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1] == "3 spec(s): 2 compiled, 1 failed"
    assert result.stderr == snapshot
    good = json.loads((out / "check-down-good" / "pod.json").read_text())
    assert good["schema_lock"] == {
        "columns": {"region": "string", "total": "decimal(38, 2)", "orders": "long"},
        "table_columns": {"quantity": "int", "region": "string", "sales": "decimal(12, 2)"},
    }
    openapi = json.loads((out / "check-down-good" / "openapi.json").read_text())
    content = openapi["paths"]["/get_data"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"]["items"]["required"] == [
        "region",
        "total",
        "orders",
    ]


def test_an_upstream_without_a_lock_cannot_check_its_readers(catalog, tmp_path, snapshot) -> None:
    upstream = "tests/diagnostics/check/upstream"
    out = tmp_path / "out"
    compiled = CliRunner().invoke(main, ["compile", f"{upstream}/up.yaml", "-o", str(out)])
    assert compiled.exit_code == 0, compiled.output
    checked = ["compile", "--check", f"{upstream}/down-good.yaml", "-o", str(out)]
    result = CliRunner().invoke(main, checked)
    assert result.exit_code == 1, result.output
    assert "error[DP0606]" in result.stderr
    assert result.stderr == snapshot
