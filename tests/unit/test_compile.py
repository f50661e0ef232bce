"""Table-driven tests of the compiler's stages: spec fragment -> SQL, pushdown, IR, bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from compiler.cli import main
from compiler.emit import emit
from compiler.ir import Reduction
from compiler.pipeline import compile_spec

ROOT = Path(__file__).resolve().parents[2]
HEADER = "resource_name: t\ndepends_on: [{namespace: sales, table: orders}]\n"
POD_SCHEMA = Draft202012Validator(json.loads((ROOT / "schemas/pod.schema.json").read_text()))


def compiled(tmp_path: Path, body: str) -> dict:
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEADER + body)
    result = compile_spec(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    document = json.loads(result.files["pod.json"])
    POD_SCHEMA.validate(document)
    return document


# spec body -> the SQL the pod runs (one line, whitespace-normalised)
SQL_CASES = [
    ("select: [a, b]", "SELECT a, b FROM source"),
    ("select: a b", "SELECT a, b FROM source"),
    ("select: a, b", "SELECT a, b FROM source"),
    ("select: [order, Region]", 'SELECT "order", "Region" FROM source'),
    ("select: [a]\nfilters: a > 1", "SELECT a FROM source WHERE a > 1"),
    (
        "select: [a]\nfilters: [a > 1, b = 'x' OR c IS NULL]",
        "SELECT a FROM source WHERE a > 1 AND ( b = 'x' OR c IS NULL )",
    ),
    (
        "select: [a]\nfilters: [a = :p]\nparameters: [{name: p, type: integer}]",
        "SELECT a FROM source WHERE a = $p",
    ),
    ("select: [a]\norder_by: [a desc]\nlimit: 5", "SELECT a FROM source ORDER BY a DESC LIMIT 5"),
    (
        "aggregate: sales.sum()\ngroup_by: q",
        "SELECT q, SUM(sales) AS sales_sum FROM source GROUP BY q ORDER BY q ASC",
    ),
    ("aggregate: count()", "SELECT COUNT(*) AS count FROM source"),
    (
        "aggregate: [sales.avg(), id.count()]",
        "SELECT AVG(sales) AS sales_avg, COUNT(id) AS id_count FROM source",
    ),
    (
        "aggregate: {n: count(distinct c), s: sum(a * b)}\ngroup_by: [g, h]\norder_by: s desc",
        "SELECT g, h, COUNT(DISTINCT c) AS n, SUM(a * b) AS s FROM source GROUP BY g, h "
        "ORDER BY s DESC",
    ),
    (
        "select: [a]\nfilters: \"d >= DATE '2024-01-01' -- since 2024\"",
        "SELECT a FROM source WHERE d >= CAST('2024-01-01' AS DATE)",
    ),
]


@pytest.mark.parametrize(("body", "sql"), SQL_CASES)
def test_lowered_sql(tmp_path, body, sql):
    document = compiled(tmp_path, body)
    assert " ".join(document["sql"].split()) == sql
    # The emitted SQL re-parses to itself: what reviewers read is what DuckDB runs.
    reparsed = sqlglot.parse_one(document["sql"], read="duckdb").sql("duckdb", pretty=True)
    assert reparsed == document["sql"]


# filter -> pushdown conjuncts
PUSHDOWN_CASES = [
    ("a = 1", [{"op": "eq", "column": "a", "value": {"literal": 1, "type": "integer"}}]),
    ("5 < a", [{"op": "gt", "column": "a", "value": {"literal": 5, "type": "integer"}}]),
    ("a <> 'x'", [{"op": "ne", "column": "a", "value": {"literal": "x", "type": "string"}}]),
    ("a >= -2.5", [{"op": "ge", "column": "a", "value": {"literal": -2.5, "type": "number"}}]),
    ("a = true", [{"op": "eq", "column": "a", "value": {"literal": True, "type": "boolean"}}]),
    (
        "a IN (1, 2)",
        [
            {
                "op": "in",
                "column": "a",
                "values": [{"literal": 1, "type": "integer"}, {"literal": 2, "type": "integer"}],
            }
        ],
    ),
    (
        "a NOT IN ('x')",
        [{"op": "not_in", "column": "a", "values": [{"literal": "x", "type": "string"}]}],
    ),
    ("a IS NULL", [{"op": "is_null", "column": "a"}]),
    ("a IS NOT NULL", [{"op": "not_null", "column": "a"}]),
    (
        "a BETWEEN 1 AND 3",
        [
            {
                "op": "and",
                "args": [
                    {"op": "ge", "column": "a", "value": {"literal": 1, "type": "integer"}},
                    {"op": "le", "column": "a", "value": {"literal": 3, "type": "integer"}},
                ],
            }
        ],
    ),
    (
        "a LIKE 'ab%'",
        [{"op": "starts_with", "column": "a", "value": {"literal": "ab", "type": "string"}}],
    ),
    ("a LIKE '%ab'", []),
    ("a LIKE 'a_b%'", []),
    (
        "NOT a = 1",
        [
            {
                "op": "not",
                "arg": {"op": "eq", "column": "a", "value": {"literal": 1, "type": "integer"}},
            }
        ],
    ),
    (
        "a = 1 OR b IS NULL",
        [
            {
                "op": "or",
                "args": [
                    {"op": "eq", "column": "a", "value": {"literal": 1, "type": "integer"}},
                    {"op": "is_null", "column": "b"},
                ],
            }
        ],
    ),
    ("a = 1 OR lower(b) = 'x'", []),
    ("a + 1 > 2", []),
    ("a = b", []),
    (
        "d = DATE '2024-02-01' AND a > 1 AND lower(b) = 'x'",
        [
            {"op": "eq", "column": "d", "value": {"literal": "2024-02-01", "type": "date"}},
            {"op": "gt", "column": "a", "value": {"literal": 1, "type": "integer"}},
        ],
    ),
    (
        "t >= TIMESTAMP '2024-02-01 10:00'",
        [
            {
                "op": "ge",
                "column": "t",
                "value": {"literal": "2024-02-01T10:00:00", "type": "timestamp"},
            }
        ],
    ),
]


@pytest.mark.parametrize(("condition", "expected"), PUSHDOWN_CASES)
def test_pushdown(tmp_path, condition, expected):
    body = f"select: [a]\nfilters: [{json.dumps(condition)}]"
    assert compiled(tmp_path, body)["pushdown"] == expected


def test_parameters_are_placeholders_never_values(tmp_path):
    body = (
        'select: [a]\nfilters: ["a = :p OR b LIKE :q", "c = :p"]\n'
        'parameters: [{name: p, type: string, default: "x\'; DROP TABLE t; --"}, '
        "{name: q, type: string}]"
    )
    document = compiled(tmp_path, body)
    assert "DROP" not in document["sql"] and "$p" in document["sql"] and "$q" in document["sql"]
    assert document["pushdown"] == [{"op": "eq", "column": "c", "value": {"parameter": "p"}}]
    assert document["read_columns"] == ["a", "b", "c"]
    assert [p["required"] for p in document["parameters"]] == [False, True]


def test_legacy_datapi_resource_compiles_to_the_original_names(tmp_path):
    spec = tmp_path / "legacy.yaml"
    spec.write_text((ROOT / "examples/datapi-legacy-sales.yaml").read_text())
    result = compile_spec(spec)
    assert result.ok
    assert isinstance(result.pod.query, Reduction)
    assert result.pod.query.output_names == ("q", "sales_sum")
    assert result.pod.deploy is True


def test_same_spec_same_bytes_from_any_working_directory(tmp_path, monkeypatch):
    outputs = []
    for cwd in (ROOT, ROOT / "examples", tmp_path):
        monkeypatch.chdir(cwd)
        result = compile_spec(ROOT / "examples/large-orders.yaml")
        outputs.append(dict(result.files))
    assert outputs[0] == outputs[1] == outputs[2]
    assert '"path": "examples/large-orders.yaml"' in outputs[0]["pod.json"].decode()
    assert all(content.endswith(b"\n") for content in outputs[0].values())


def test_emit_replaces_the_pod_directory_exactly(tmp_path):
    pod = tmp_path / "pod"
    emit({"a.txt": b"1\n", "sub/b.txt": b"2\n"}, pod)
    emit({"a.txt": b"3\n"}, pod)
    assert sorted(p.relative_to(pod).as_posix() for p in pod.rglob("*")) == ["a.txt"]
    assert (pod / "a.txt").read_bytes() == b"3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pod"]


def test_compile_keeps_going_past_a_bad_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    bad = "tests/diagnostics/bad/unused-parameter.yaml"
    good = "examples/large-orders.yaml"
    result = CliRunner().invoke(main, ["compile", bad, good, "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert f"FAILED  {bad}" in result.stdout
    assert "2 spec(s): 1 compiled, 1 failed" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large-orders"]


def test_same_resource_name_twice_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("one", "two"):
        Path(f"{name}.yaml").write_text(HEADER + "select: [a]\n")
    result = CliRunner().invoke(main, ["compile", ".", "-o", "out"])
    assert result.exit_code == 1
    assert (
        "two.yaml:1:1: error[DP0004] resource_name t (also compiled from one.yaml)" in result.stderr
    )


def test_validate_writes_nothing_and_schema_prints_the_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", str(ROOT / "examples")])
    assert result.exit_code == 0 and "3 spec(s): 3 valid, 0 invalid" in result.stdout
    assert list(tmp_path.iterdir()) == []
    printed = CliRunner().invoke(main, ["schema"])
    assert json.loads(printed.stdout) == json.loads((ROOT / "schemas/spec.schema.json").read_text())
    assert "0.1.0" in CliRunner().invoke(main, ["--version"]).stdout
