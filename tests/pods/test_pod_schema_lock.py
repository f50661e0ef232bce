"""The schema lock, end to end: `datapic compile --check` against the real SQL catalog writes
each pod's column types into pod.json; openapi.json then types every answer column, and the
pod's real answers (JSON validated with an independent JSON Schema validator, Arrow read back
with pyarrow) are what it says. Compiling without --check keeps the lock while the spec stays
the same; a type changed in the table shows as a one-line diff of pod.json."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator, FormatChecker
from lakehouse import open_catalog
from podrun import running_pod
from pyiceberg.schema import Schema
from pyiceberg.types import DecimalType, IntegerType, LongType, NestedField

from compiler.cli import main

pytestmark = pytest.mark.pod

HEAD = "depends_on:\n  - namespace: shop\n    table: {table}\n"
PROJECTION = (
    "resource_name: all-types\n"
    + HEAD.format(table="types")
    + ("select: [id, d, f, dec, flag, day, ts, tz, label]\norder_by: [id]\n")
)
REDUCTION = (
    "resource_name: types-by-flag\n"
    + HEAD.format(table="types")
    + (
        "operation_type: REDUCTION\n"
        "aggregate:\n  n: count(*)\n  s: sum(id)\n  total: sum(dec)\n  mean: avg(d)\n"
        "  fsum: sum(f)\n  first_day: min(day)\n  last_tz: max(tz)\n"
        "group_by: [flag]\n"
    )
)
# README, "Types in answers": each Iceberg type, and each aggregate's result type.
TABLE_TYPES = {
    "id": "long",
    "d": "double",
    "f": "float",
    "dec": "decimal(38, 10)",
    "flag": "boolean",
    "day": "date",
    "ts": "timestamp",
    "tz": "timestamptz",
    "label": "string",
}
REDUCTION_TYPES = {
    "flag": "boolean",
    "n": "long",  # count
    "s": "long",  # sum of long: int64
    "total": "decimal(38, 10)",  # sum of decimal(p, s): decimal(38, s)
    "mean": "double",  # avg
    "fsum": "double",  # sum of float
    "first_day": "date",  # min: the column's type
    "last_tz": "timestamptz",
}
ARROW = {
    "long": pa.int64(),
    "double": pa.float64(),
    "float": pa.float32(),
    "decimal(38, 10)": pa.decimal128(38, 10),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "string": pa.string(),
}


@pytest.fixture
def project(tmp_path, monkeypatch, pod_env) -> Path:
    """A folder for specs, the lakehouse the only catalog the CLI sees."""
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    for name, value in pod_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def compile_(*args: str) -> None:
    result = CliRunner().invoke(main, ["compile", *args, "-o", "out"])
    assert result.exit_code == 0, result.output


def lock_of(pod_dir: Path) -> dict:
    return json.loads((pod_dir / "pod.json").read_text())["schema_lock"]


def answer_schema(pod_dir: Path) -> dict:
    document = json.loads((pod_dir / "openapi.json").read_text())
    content = document["paths"]["/get_data"]["get"]["responses"]["200"]["content"]
    return content


def test_check_locks_the_types_and_the_pod_answers_as_openapi_says(project, pod_env):
    (project / "all-types.yaml").write_text(PROJECTION)
    (project / "types-by-flag.yaml").write_text(REDUCTION)
    compile_("--check", "all-types.yaml", "types-by-flag.yaml")
    assert lock_of(project / "out" / "all-types") == {
        "table_columns": TABLE_TYPES,
        "columns": TABLE_TYPES,
    }
    assert lock_of(project / "out" / "types-by-flag") == {
        "table_columns": {c: TABLE_TYPES[c] for c in ("d", "day", "dec", "f", "flag", "id", "tz")},
        "columns": REDUCTION_TYPES,
    }
    for name, types in (("all-types", TABLE_TYPES), ("types-by-flag", REDUCTION_TYPES)):
        pod_dir = project / "out" / name
        content = answer_schema(pod_dir)
        validator = Draft202012Validator(
            content["application/json"]["schema"], format_checker=FormatChecker()
        )
        with (
            running_pod(pod_dir, pod_env, timeout=60, log_path=project / f"{name}.log") as url,
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            rows = client.get("/get_data").json()
            arrow = pa.ipc.open_stream(client.get("/get_data?format=arrow").content).read_all()
        assert rows and all(list(row) == list(types) for row in rows)
        errors = [e.message for e in validator.iter_errors(rows)]
        assert not errors, errors
        assert arrow.schema.types == [ARROW[t] for t in types.values()]
        described = content["application/vnd.apache.arrow.stream"]["schema"]["description"]
        assert (
            described
            == "Columns (Arrow types): "
            + ", ".join(f"{column} {arrow.schema.field(column).type}" for column in types)
            + "."
        )


def test_the_lock_is_kept_while_the_spec_is_the_same_and_a_type_change_is_one_line(
    project, lakehouse
):
    catalog = open_catalog(lakehouse)
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "amount", IntegerType()),
        NestedField(3, "price", DecimalType(10, 2)),
    )
    catalog.create_table("shop.locked", schema=schema)
    spec = project / "locked.yaml"
    spec.write_text(
        "resource_name: locked\n" + HEAD.format(table="locked") + "select: [id, amount, price]\n"
    )
    pod_json = project / "out" / "locked" / "pod.json"
    openapi = project / "out" / "locked" / "openapi.json"
    compile_("--check", "locked.yaml")
    checked = pod_json.read_text(), openapi.read_text()
    assert lock_of(pod_json.parent)["columns"] == {
        "id": "long",
        "amount": "int",
        "price": "decimal(10, 2)",
    }

    compile_("locked.yaml")  # no catalog asked: the lock stays, byte for byte
    assert (pod_json.read_text(), openapi.read_text()) == checked

    with catalog.load_table("shop.locked").update_schema() as update:
        update.update_column("amount", LongType())  # int -> long, a legal promotion
    compile_("locked.yaml")  # without --check nothing can know
    assert pod_json.read_text() == checked[0]
    compile_("--check", "locked.yaml")
    changed = [
        line
        for line in difflib.unified_diff(checked[0].splitlines(), pod_json.read_text().splitlines())
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    # The column as the table holds it and as the pod answers it: one line each.
    assert changed == ['-      "amount": "int",', '+      "amount": "long",'] * 2
    assert (
        json.loads(openapi.read_text())["paths"]["/get_data"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]["items"]["properties"]["amount"]["format"]
        == "int64"
    )

    spec.write_text(spec.read_text() + "limit: 10\n")  # a changed spec: the lock is gone
    compile_("locked.yaml")
    assert "schema_lock" not in json.loads(pod_json.read_text())
    properties = answer_schema(pod_json.parent)["application/json"]["schema"]["items"]
    assert properties["properties"] == {"id": {}, "amount": {}, "price": {}}
