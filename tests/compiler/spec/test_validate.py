"""Stage 2, validate: schema violations become located, readable diagnostics, all at once."""

from __future__ import annotations

import json

import pytest
from factories import HEADER, SPEC_SCHEMA_PATH
from jsonschema import Draft202012Validator

from compiler.spec.load import load
from compiler.spec.validate import spec_validator, validate

D = "depends_on: [{namespace: sales, table: orders}]\n"


def problems(tmp_path, text: str) -> list[tuple[str, int, int, str]]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    document, found = load(path, "spec.yaml")
    assert document is not None and found == []
    return [(d.code.value, d.span.line, d.span.column, d.message) for d in validate(document)]


ALLOWED = (
    "aggregate, auth, cors, depends_on, deploy, filters, freshness_seconds, group_by, having, "
    "limit, local_engine, "
    "long_description, max_page_size, operation_type, order_by, parameters, resource_name, "
    "result_cache, select, short_description, type"
)

# spec text -> every diagnostic (code, line, column, message)
CASES = [
    pytest.param(
        D + "select: [a]\n",
        [("DP0101", 1, 1, "missing required field 'resource_name'")],
        id="missing-resource-name",
    ),
    pytest.param(
        "resource_name: t\nselect: [a]\n",
        [("DP0101", 1, 1, "missing required field 'depends_on'")],
        id="missing-depends-on",
    ),
    pytest.param(
        "resource_name: t\ndepends_on: [{namespace: sales}]\nselect: [a]\n",
        [("DP0101", 2, 14, "depends_on[0]: missing required field 'table'")],
        id="missing-table",
    ),
    pytest.param(
        HEADER + "select: [a]\ncanvas: blue\n",
        [("DP0102", 4, 1, f"unknown field 'canvas' (allowed here: {ALLOWED})")],
        id="unknown-field-at-its-key",
    ),
    pytest.param(
        HEADER + "select: [a]\ncanvas: blue\nflavour: red\n",
        [
            ("DP0102", 4, 1, f"unknown field 'canvas' (allowed here: {ALLOWED})"),
            ("DP0102", 5, 1, f"unknown field 'flavour' (allowed here: {ALLOWED})"),
        ],
        id="each-unknown-field-reported",
    ),
    pytest.param(
        "resource_name: t\ndepends_on:\n  - namespace: sales\n    tabel: orders\nselect: [a]\n",
        [
            (
                "DP0102",
                4,
                5,
                "unknown field 'depends_on[0].tabel' "
                "(did you mean 'table'? allowed here: catalog, namespace, table)",
            )
        ],
        id="misspelt-nested-field",
    ),
    pytest.param(
        HEADER + "select: [a]\noperation_type: AGGREGATION\n",
        [
            (
                "DP0103",
                4,
                17,
                'operation_type: "AGGREGATION" is not one of "PROJECTION", "REDUCTION" '
                "(did you mean 'REDUCTION'?)",
            )
        ],
        id="unknown-operation-type",
    ),
    pytest.param(
        HEADER + "select: [a]\nlimit: ten\n",
        [("DP0103", 4, 8, "limit: expected integer, got string")],
        id="wrong-type",
    ),
    pytest.param(
        HEADER + "select: [a]\nlimit: 0\n",
        [("DP0103", 4, 8, "limit: 0 is less than the minimum of 1")],
        id="limit-below-one",
    ),
    pytest.param(
        HEADER + "select: [a]\ndeploy: 'yes'\n",
        [("DP0103", 4, 9, "deploy: expected boolean or object, got string")],
        id="deploy-not-boolean",
    ),
    pytest.param(
        HEADER + "select: [a]\ntype: SOAP\n",
        [("DP0103", 4, 7, 'type: "SOAP" is not one of "REST", "rest"')],
        id="type-not-rest",
    ),
    pytest.param(
        "resource_name: 9lives\n" + D + "select: [a]\n",
        [("DP0103", 1, 16, 'resource_name: "9lives" does not match ^[A-Za-z][A-Za-z0-9_-]*$')],
        id="resource-name-pattern",
    ),
    pytest.param(
        HEADER + "select: [a, 1]\n",
        [("DP0103", 3, 13, "select[1]: expected object or string, got integer")],
        id="bad-item-located-at-the-item",
    ),
    pytest.param(
        HEADER + "select: ''\n",
        [("DP0103", 3, 9, "select: '' should be non-empty")],
        id="empty-select-string",
    ),
    pytest.param(
        HEADER + "select: []\n",
        [("DP0103", 3, 9, "select: [] should be non-empty")],
        id="empty-select-list",
    ),
    pytest.param(
        HEADER + "select: {a: 1}\n",
        [("DP0103", 3, 9, "select: expected array or string, got mapping")],
        id="select-mapping",
    ),
    pytest.param(
        HEADER + "aggregate: {}\n",
        [("DP0103", 3, 12, "aggregate: {} should be non-empty")],
        id="empty-aggregate",
    ),
    pytest.param(
        HEADER + "aggregate: {1x: sum(a), 2y: sum(b)}\n",
        [
            ("DP0103", 3, 13, 'aggregate: key "1x" does not match ^[A-Za-z_][A-Za-z0-9_]*$'),
            ("DP0103", 3, 25, 'aggregate: key "2y" does not match ^[A-Za-z_][A-Za-z0-9_]*$'),
        ],
        id="output-names-located-at-their-keys",
    ),
    pytest.param(
        HEADER + "select: [a]\nfilters: ['']\n",
        [("DP0103", 4, 11, "filters[0]: '' should be non-empty")],
        id="empty-filter",
    ),
    pytest.param(
        "resource_name: t\ndepends_on: [sales.orders]\nselect: [a]\n",
        [("DP0103", 2, 14, "depends_on[0]: expected object, got string")],
        id="depends-on-item-not-a-mapping",
    ),
    pytest.param(
        "resource_name: t\ndepends_on: []\nselect: [a]\n",
        [("DP0103", 2, 13, "depends_on: [] should be non-empty")],
        id="depends-on-empty",
    ),
    pytest.param(
        "resource_name: t\ndepends_on: [{namespace: s, table: o, catalog: 'my cat'}]\n",
        [("DP0103", 2, 48, 'depends_on[0].catalog: "my cat" does not match ^[A-Za-z0-9_]+$')],
        id="catalog-pattern",
    ),
    pytest.param(
        HEADER + "select: [a]\nparameters: [{name: p, type: float}]\n",
        [
            (
                "DP0103",
                4,
                30,
                'parameters[0].type: "float" is not one of "string", "integer", "number", '
                '"boolean", "date", "timestamp", "string[]", "integer[]", "number[]", '
                '"boolean[]", "date[]", "timestamp[]"',
            )
        ],
        id="unknown-parameter-type",
    ),
    pytest.param(
        HEADER + "select: [a]\nparameters: [{name: p}]\n",
        [("DP0101", 4, 14, "parameters[0]: missing required field 'type'")],
        id="parameter-without-type",
    ),
    pytest.param(
        HEADER + "select: [a]\nparameters: [{name: 1p, type: string}]\n",
        [("DP0103", 4, 21, 'parameters[0].name: "1p" does not match ^[A-Za-z_][A-Za-z0-9_]*$')],
        id="parameter-name-pattern",
    ),
    pytest.param(
        HEADER + "select: [a]\nfreshness_seconds: -1\n",
        [("DP0103", 4, 20, "freshness_seconds: -1 is less than the minimum of 0")],
        id="negative-freshness",
    ),
    pytest.param(
        HEADER + "select: [a]\nlimit: 9223372036854775808\nmax_page_size: 1000001\n",
        [
            (
                "DP0103",
                4,
                8,
                "limit: 9223372036854775808 is greater than the maximum of 9223372036854775807",
            ),
            ("DP0103", 5, 16, "max_page_size: 1000001 is greater than the maximum of 1000000"),
        ],
        id="limit-and-page-size-have-a-maximum",
    ),
    pytest.param(
        HEADER + "select: [a]\nlimit: 5.0\nmax_page_size: 1e3\n",
        [
            ("DP0103", 4, 8, "limit: expected integer, got number"),
            ("DP0103", 5, 16, "max_page_size: expected integer, got number"),
        ],
        id="whole-number-floats-are-not-integers",
    ),
    pytest.param(
        HEADER + "select: [a]\ndeploy: {concurrency: 80.0, timeout_seconds: 300.0, "
        "min_instances: 0.0, max_instances: 1e1, cpu: 2.0}\n",
        [
            ("DP0103", 4, 68, "deploy.min_instances: expected integer, got number"),
            ("DP0103", 4, 88, "deploy.max_instances: expected integer, got number"),
            ("DP0103", 4, 98, "deploy.cpu: expected ['string', 'integer'], got number"),
            ("DP0103", 4, 23, "deploy.concurrency: expected integer, got number"),
            ("DP0103", 4, 46, "deploy.timeout_seconds: expected integer, got number"),
        ],
        id="deploy-floats-are-not-integers",
    ),
    pytest.param(
        HEADER + "select: [a]\nshort_description: null\n",
        [("DP0103", 4, 20, "short_description: expected string, got null")],
        id="null-description",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_schema_problems(tmp_path, text, expected):
    assert problems(tmp_path, text) == expected


def test_every_problem_of_a_spec_at_once(tmp_path):
    text = (
        "resource_name: 9lives\n"
        "depends_on: [{namespace: sales}]\n"
        "operation_type: AGGREGATION\n"
        "select: [a]\n"
        "limit: -1\n"
        "colour: blue\n"
    )
    codes = [(code, line) for code, line, _, _ in problems(tmp_path, text)]
    assert sorted(codes) == [
        ("DP0101", 2),
        ("DP0102", 6),
        ("DP0103", 1),
        ("DP0103", 3),
        ("DP0103", 5),
    ]


VALID = [
    HEADER + "select: [a, b]\n",
    HEADER + "select: a b c\n",
    HEADER + "aggregate: sales.sum()\ngroup_by: q\n",
    HEADER + "aggregate: [sales.sum(), count()]\n",
    HEADER + "aggregate: {total: sum(sales)}\ngroup_by: [q]\norder_by: total desc\nlimit: 5\n",
    HEADER + "select: [a]\nfilters: a = 1\n",
    HEADER + "select: [a]\nlimit: 9223372036854775807\nmax_page_size: 1000000\n",
    HEADER + "select: [a]\ntype: REST\nlocal_engine: DUCKDB\ndeploy: True\n",
    HEADER + "select: [a]\nparameters: [{name: p, type: date, default: 2024-01-01}]\n",
    HEADER + "select: [a]\nparameters: [{name: p, type: string, default: null}]\n",
    "resource_name: t\ndepends_on: [{resource: other}]\nselect: [a]\n",
    "resource_name: t\ndepends_on: [{namespace: a.b, table: t, catalog: prod_1}]\nselect: [a]\n",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_shapes(tmp_path, text):
    assert problems(tmp_path, text) == []


def test_schema_is_valid_2020_12_and_is_what_validation_runs():
    schema = json.loads(SPEC_SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert spec_validator().schema == schema


# Python's `$` matches before a trailing newline; JSON Schema's (ECMA) does not. Each of these
# values would otherwise reach Dockerfile, cloudbuild.yaml or service.yaml as an extra line.
TRAILING_NEWLINE = [
    'resource_name: "abc\\n"\ndepends_on: [{namespace: sales, table: orders}]\n',
    HEADER + 'deploy: {base_image: "python:3.11.14-slim-bookworm\\n"}\n',
    HEADER + 'deploy: {region: "europe-west1\\n"}\n',
    HEADER + 'deploy: {service_account: "datapic-pods\\n"}\n',
    HEADER + 'deploy: {memory: "1Gi\\n"}\n',
    HEADER + 'deploy: {cpu: "1\\n"}\n',
    HEADER + 'deploy: {project: "my-project\\n"}\n',
    HEADER + 'deploy: {repository: "datapic\\n"}\n',
    HEADER + 'deploy: {env: {"A\\n": "x"}}\n',
    HEADER + 'deploy: {secrets: {TOKEN: "token:1\\n"}}\n',
    HEADER + 'deploy: {secrets: {"TOKEN\\n": "token:1"}}\n',
]


@pytest.mark.parametrize("text", TRAILING_NEWLINE)
def test_a_pattern_does_not_accept_a_trailing_newline(tmp_path, text):
    found = problems(tmp_path, text + "select: [a]\n")
    assert found and all(code == "DP0103" for code, *_ in found), found
    assert any("\\n" in message for *_, message in found), found


@pytest.mark.parametrize("name", ["sales\nx", "sales\x00", "sales\u2028x", "sales\x85"])
def test_table_names_hold_no_line_breaks(tmp_path, name):
    # Iceberg allows most characters in names; none of these reaches the README as one line.
    for field in ("namespace", "table"):
        source = {"namespace": "sales", "table": "orders", field: name}
        text = f"resource_name: t\ndepends_on: [{json.dumps(source)}]\nselect: [a]\n"
        assert [code for code, *_ in problems(tmp_path, text)] == ["DP0103"]
    assert problems(tmp_path, HEADER.replace("orders", "orders-2024 été") + "select: [a]\n") == []
