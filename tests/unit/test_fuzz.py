"""Property tests: whatever a user writes, the compiler compiles it or explains it at a place;
it never crashes. Compiled filters always yield a pushdown that fits the pod schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from compiler.diagnostics import Severity
from compiler.pipeline import compile_spec

ROOT = Path(__file__).resolve().parents[2]
POD_SCHEMA = Draft202012Validator(json.loads((ROOT / "schemas/pod.schema.json").read_text()))
FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

TOKENS = [
    "a",
    "b",
    "region",
    "sales",
    ":p",
    ":q",
    ":nope",
    "$p",
    "?",
    "1",
    "2.5",
    "-3",
    "'x'",
    "'%a'",
    "NULL",
    "TRUE",
    "DATE '2024-01-01'",
    "TIMESTAMP '2024-01-01 10:00'",
    "=",
    "<>",
    "<",
    ">=",
    "AND",
    "OR",
    "NOT",
    "IN",
    "(",
    ")",
    ",",
    "BETWEEN",
    "LIKE",
    "IS",
    "+",
    "*",
    "lower(",
    "sum(",
    "read_csv(",
    "SELECT",
    "FROM",
    ";",
    "DROP TABLE t",
    "--",
    "/*",
    "'",
    '"',
    "::",
    "[",
    "]",
]
filters = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join)
PARAMETERS = [{"name": "p", "type": "integer", "default": 1}, {"name": "q", "type": "string"}]


def _assert_located_or_compiled(result) -> None:
    if result.ok:
        POD_SCHEMA.validate(json.loads(result.files["pod.json"]))
        return
    assert result.diagnostics, "a failed compile must say why"
    for d in result.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1
        assert re.fullmatch(r"DP\d{4}", d.code.value)
        assert d.severity in (Severity.ERROR, Severity.WARNING) and d.message


@FAST
@given(conditions=st.lists(filters, min_size=1, max_size=3))
def test_random_filters_compile_or_give_located_errors(tmp_path, conditions):
    spec = {
        "resource_name": "fuzz",
        "depends_on": [{"namespace": "n", "table": "t"}],
        "select": ["a"],
        "filters": conditions,
        "parameters": PARAMETERS,
    }
    path = tmp_path / "fuzz.yaml"
    path.write_text(json.dumps(spec))
    _assert_located_or_compiled(compile_spec(path))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            "a b",
            "sales.sum()",
            "count()",
            "x = 1",
            "REDUCTION",
            "PROJECTION",
            "2024-13-01",
            ":p",
            "sum(a)",
            "EMEA",
        ]
    ),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["name", "type", "default", "namespace", "table", "x"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)
FIELDS = [
    "resource_name",
    "depends_on",
    "operation_type",
    "select",
    "aggregate",
    "group_by",
    "filters",
    "parameters",
    "order_by",
    "limit",
    "type",
    "local_engine",
    "deploy",
    "long_description",
    "freshness_seconds",
    "unknown",
]


@FAST
@given(spec=st.dictionaries(st.sampled_from(FIELDS), values, max_size=8))
def test_random_specs_compile_or_give_located_errors(tmp_path, spec):
    spec.setdefault("resource_name", "fuzz")
    path = tmp_path / "fuzz.yaml"
    path.write_text(json.dumps(spec))
    _assert_located_or_compiled(compile_spec(path))


@FAST
@given(text=st.text(max_size=80))
def test_random_text_never_crashes_the_loader(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    _assert_located_or_compiled(compile_spec(path))
