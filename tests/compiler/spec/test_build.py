"""Stage 3, build: a schema-valid document to IR, dataPi's legacy forms normalised."""

from __future__ import annotations

import pytest
from datapic_runtime.values import MAX_LIST_VALUES as RUNTIME_MAX_LIST_VALUES
from factories import write_spec

from compiler.spec.build import build
from compiler.spec.ir import (
    MAX_LIST_VALUES,
    Aggregate,
    Column,
    Filter,
    Operation,
    OrderKey,
    Parameter,
    ParamType,
    Projection,
    Reduction,
    Source,
)
from compiler.spec.load import load
from compiler.spec.validate import invalid_paths, validate


def built(tmp_path, body: str, *, header: bool = True):
    path = write_spec(tmp_path, body, header=header)
    document, found = load(path, "spec.yaml")
    assert found == [] and validate(document) == [], validate(document)
    return build(document, "specs/spec.yaml")


def pod_of(tmp_path, body: str, **kwargs):
    pod, diagnostics = built(tmp_path, body, **kwargs)
    assert diagnostics == [], [d.message for d in diagnostics]
    return pod


def problems_of(tmp_path, body: str, **kwargs):
    _, diagnostics = built(tmp_path, body, **kwargs)
    assert diagnostics
    return [(d.code.value, d.span.line, d.span.column, d.message) for d in diagnostics]


def test_the_original_datapi_resource_file_compiles_unchanged(tmp_path):
    legacy = """\
resource_name: datapi-legacy-sales
type: REST
depends_on:
    - namespace: sales
      table: orders
local_engine: DUCKDB
short_description: This a sample query
long_description: This a sample query
aggregate: sales.sum()
group_by: q
filters: region = 'EMEA'
deploy: True
"""
    pod = pod_of(tmp_path, legacy, header=False)
    assert pod.operation is Operation.REDUCTION  # inferred: there is no operation_type
    assert pod.query == Reduction(
        group_by=(Column(name="q"),),
        aggregates=(Aggregate(name="sales_sum", expression="sum(sales)"),),
    )
    assert pod.filters == (Filter(text="region = 'EMEA'"),)
    assert pod.source == Source(catalog="default", namespace=("sales",), table="orders")
    assert pod.deploy is True
    assert pod.short_description == pod.long_description == "This a sample query"
    assert pod.order_by == (OrderKey(column="q"),)  # reductions sort by their groups


# body -> output names and aggregate expressions
QUERIES = [
    ("select: [a, b]", Projection(columns=(Column(name="a"), Column(name="b")))),
    ("select: a b", Projection(columns=(Column(name="a"), Column(name="b")))),
    (
        "select: 'a, b,c'",
        Projection(columns=(Column(name="a"), Column(name="b"), Column(name="c"))),
    ),
    ("select: [' a ']", Projection(columns=(Column(name="a"),))),
    (
        "aggregate: sales.sum()",
        Reduction(group_by=(), aggregates=(Aggregate(name="sales_sum", expression="sum(sales)"),)),
    ),
    (
        "aggregate: count()",
        Reduction(group_by=(), aggregates=(Aggregate(name="count", expression="count(*)"),)),
    ),
    (
        "aggregate: sales.SUM()",
        Reduction(group_by=(), aggregates=(Aggregate(name="sales_sum", expression="sum(sales)"),)),
    ),
    (
        "aggregate: [sales.avg(), id.count(), price.max(), price.min()]\ngroup_by: region q",
        Reduction(
            group_by=(Column(name="region"), Column(name="q")),
            aggregates=(
                Aggregate(name="sales_avg", expression="avg(sales)"),
                Aggregate(name="id_count", expression="count(id)"),
                Aggregate(name="price_max", expression="max(price)"),
                Aggregate(name="price_min", expression="min(price)"),
            ),
        ),
    ),
    (
        "aggregate: sales.sum() count()",
        Reduction(
            group_by=(),
            aggregates=(
                Aggregate(name="sales_sum", expression="sum(sales)"),
                Aggregate(name="count", expression="count(*)"),
            ),
        ),
    ),
    (
        "aggregate: {total: sum(sales), n: count(*)}\ngroup_by: [q]",
        Reduction(
            group_by=(Column(name="q"),),
            aggregates=(
                Aggregate(name="total", expression="sum(sales)"),
                Aggregate(name="n", expression="count(*)"),
            ),
        ),
    ),
    (
        "operation_type: REDUCTION\naggregate: {n: count(*)}",
        Reduction(group_by=(), aggregates=(Aggregate(name="n", expression="count(*)"),)),
    ),
]


@pytest.mark.parametrize(("body", "query"), QUERIES)
def test_queries(tmp_path, body, query):
    assert pod_of(tmp_path, body).query == query


def test_operation_is_inferred_from_the_fields(tmp_path):
    assert pod_of(tmp_path, "select: [a]").operation is Operation.PROJECTION
    assert pod_of(tmp_path, "aggregate: count()").operation is Operation.REDUCTION


# body -> filters
FILTERS = [
    ("filters: a = 1", ("a = 1",)),
    ("filters: [a = 1, b > 2]", ("a = 1", "b > 2")),
    ("filters: []", ()),
    ("", ()),
]


@pytest.mark.parametrize(("body", "texts"), FILTERS)
def test_filters(tmp_path, body, texts):
    pod = pod_of(tmp_path, f"select: [a]\n{body}")
    assert tuple(f.text for f in pod.filters) == texts


def test_filters_keep_their_spans(tmp_path):
    pod = pod_of(tmp_path, "select: [a]\nfilters:\n  - a = 1\n  - b = 2\n")
    assert [(f.span.line, f.span.column) for f in pod.filters] == [(5, 5), (6, 5)]
    assert pod.span.line == 1 and pod.span.column == 16  # resource_name's value


# declared parameter -> IR
PARAMETERS = [
    ("{name: p, type: string}", Parameter(name="p", type=ParamType.STRING, required=True)),
    (
        "{name: p, type: string, default: EMEA}",
        Parameter(name="p", type=ParamType.STRING, required=False, default="EMEA"),
    ),
    (
        "{name: p, type: string, default: null}",
        Parameter(name="p", type=ParamType.STRING, required=False, default=None),
    ),
    (
        "{name: p, type: integer, default: 3}",
        Parameter(name="p", type=ParamType.INTEGER, required=False, default=3),
    ),
    (
        "{name: p, type: number, default: 3}",
        Parameter(name="p", type=ParamType.NUMBER, required=False, default=3),
    ),
    (
        "{name: p, type: boolean, default: false}",
        Parameter(name="p", type=ParamType.BOOLEAN, required=False, default=False),
    ),
    (
        "{name: p, type: date, default: 2024-02-29}",
        Parameter(name="p", type=ParamType.DATE, required=False, default="2024-02-29"),
    ),
    (
        "{name: p, type: timestamp, default: 2024-02-01 10:00}",
        Parameter(
            name="p", type=ParamType.TIMESTAMP, required=False, default="2024-02-01T10:00:00"
        ),
    ),
    (
        "{name: p, type: timestamp, default: 2024-02-01}",
        Parameter(
            name="p", type=ParamType.TIMESTAMP, required=False, default="2024-02-01T00:00:00"
        ),
    ),
    (
        "{name: p, type: string, description: Region code}",
        Parameter(name="p", type=ParamType.STRING, required=True, description="Region code"),
    ),
    ('{name: p, type: "string[]"}', Parameter(name="p", type=ParamType.STRING_LIST, required=True)),
    (
        '{name: p, type: "string[]", default: [EMEA, "a,b"]}',
        Parameter(name="p", type=ParamType.STRING_LIST, required=False, default=("EMEA", "a,b")),
    ),
    (
        '{name: p, type: "integer[]", default: []}',
        Parameter(name="p", type=ParamType.INTEGER_LIST, required=False, default=()),
    ),
    (
        '{name: p, type: "integer[]", default: null}',
        Parameter(name="p", type=ParamType.INTEGER_LIST, required=False, default=None),
    ),
    (
        '{name: p, type: "date[]", default: [2024-02-29, 2024-03-01]}',
        Parameter(
            name="p",
            type=ParamType.DATE_LIST,
            required=False,
            default=("2024-02-29", "2024-03-01"),
        ),
    ),
    (
        '{name: p, type: "timestamp[]", default: [2024-02-01 10:00]}',
        Parameter(
            name="p",
            type=ParamType.TIMESTAMP_LIST,
            required=False,
            default=("2024-02-01T10:00:00",),
        ),
    ),
    (
        '{name: p, type: "boolean[]", default: [true]}',
        Parameter(name="p", type=ParamType.BOOLEAN_LIST, required=False, default=(True,)),
    ),
    (
        '{name: p, type: "number[]", default: [1, 2.5]}',
        Parameter(name="p", type=ParamType.NUMBER_LIST, required=False, default=(1, 2.5)),
    ),
]


@pytest.mark.parametrize(("declared", "expected"), PARAMETERS)
def test_parameters(tmp_path, declared, expected):
    pod = pod_of(tmp_path, f"select: [a]\nparameters: [{declared}]")
    assert pod.parameters == (expected,)


def test_settings_and_their_defaults(tmp_path):
    pod = pod_of(tmp_path, "select: [a]")
    assert (pod.limit, pod.freshness_seconds, pod.deploy) == (None, 5, True)
    assert (pod.short_description, pod.long_description, pod.order_by) == ("", "", ())
    assert pod.provenance.spec_path == "specs/spec.yaml" and len(pod.provenance.spec_sha256) == 64
    pod = pod_of(tmp_path, "select: [a]\nlimit: 7\nfreshness_seconds: 0\ndeploy: false")
    assert (pod.limit, pod.freshness_seconds, pod.deploy) == (7, 0, False)


def test_source_with_catalog_and_nested_namespace(tmp_path):
    body = "depends_on: [{namespace: lake.sales, table: orders, catalog: prod}]\nselect: [a]"
    pod = pod_of(tmp_path, "resource_name: t\n" + body, header=False)
    assert pod.source == Source(catalog="prod", namespace=("lake", "sales"), table="orders")


# order_by -> keys
ORDER_BY = [
    ("select: [a, b]\norder_by: a", (OrderKey(column="a"),)),
    (
        "select: [a, b]\norder_by: [a desc, b]",
        (OrderKey(column="a", descending=True), OrderKey(column="b")),
    ),
    (
        "select: [a, b]\norder_by: 'b DESC, a asc'",
        (OrderKey(column="b", descending=True), OrderKey(column="a")),
    ),
    ("aggregate: {n: count(*)}\ngroup_by: [g, h]", (OrderKey(column="g"), OrderKey(column="h"))),
    (
        "aggregate: {n: count(*)}\ngroup_by: [g]\norder_by: n desc",
        (OrderKey(column="n", descending=True),),
    ),
    ("aggregate: {n: count(*)}", ()),
]


@pytest.mark.parametrize(("body", "keys"), ORDER_BY)
def test_order_by(tmp_path, body, keys):
    assert pod_of(tmp_path, body).order_by == keys


def test_long_description_from_a_markdown_file_next_to_the_spec(tmp_path):
    (tmp_path / "about.md").write_text("# About\nText.\n", encoding="utf-8")
    pod = pod_of(tmp_path, "select: [a]\nlong_description: about.md")
    assert pod.long_description == "# About\nText.\n"
    pod = pod_of(tmp_path, "select: [a]\nlong_description: |\n  Inline, not a file.md\n  really\n")
    assert pod.long_description == "Inline, not a file.md\nreally\n"


# body -> every diagnostic (code, line, column, message); HEADER takes lines 1-2
PROBLEMS = [
    pytest.param(
        "operation_type: REDUCTION\nselect: [region]\naggregate: {n: count(*)}",
        [
            (
                "DP0201",
                4,
                1,
                "'select' does not belong in a REDUCTION pod (use aggregate and group_by)",
            )
        ],
        id="select-on-reduction",
    ),
    pytest.param(
        "select: [region]\naggregate: {n: count(*)}",
        [
            (
                "DP0201",
                3,
                1,
                "'select' does not belong in a REDUCTION pod (use aggregate and group_by)",
            )
        ],
        id="select-with-aggregate-inferred-reduction",
    ),
    pytest.param(
        "operation_type: PROJECTION\nselect: [a]\naggregate: sales.sum()\ngroup_by: region",
        [
            ("DP0201", 5, 1, "'aggregate' does not belong in a PROJECTION pod (use select)"),
            ("DP0201", 6, 1, "'group_by' does not belong in a PROJECTION pod (use select)"),
        ],
        id="aggregate-on-projection",
    ),
    pytest.param(
        "operation_type: PROJECTION",
        [("DP0101", 3, 1, "a PROJECTION pod needs 'select'")],
        id="missing-select",
    ),
    pytest.param(
        "operation_type: REDUCTION\ngroup_by: [g]",
        [("DP0101", 3, 1, "a REDUCTION pod needs 'aggregate'")],
        id="missing-aggregate",
    ),
    pytest.param(
        "group_by: [g]",
        [
            ("DP0201", 3, 1, "'group_by' does not belong in a PROJECTION pod (use select)"),
            ("DP0101", 1, 1, "a PROJECTION pod needs 'select'"),
        ],
        id="neither-select-nor-aggregate",
    ),
    pytest.param(
        "select: [a, b, a]",
        [("DP0202", 3, 16, "duplicate output column 'a' (first at line 3)")],
        id="duplicate-select",
    ),
    pytest.param(
        "aggregate: [sales.sum(), sales.sum()]",
        [("DP0202", 3, 26, "duplicate output column 'sales_sum' (first at line 3)")],
        id="duplicate-legacy-aggregate",
    ),
    pytest.param(
        "aggregate: count() count()",
        [("DP0202", 3, 12, "duplicate output column 'count' (first at line 3)")],
        id="duplicate-legacy-count",
    ),
    pytest.param(
        "aggregate:\n  region: count(*)\ngroup_by: [region]",
        [("DP0202", 4, 11, "duplicate output column 'region' (first at line 5)")],
        id="aggregate-named-like-a-group",
    ),
    pytest.param(
        "select: [a]\nparameters:\n  - {name: p, type: string}\n  - {name: p, type: integer}",
        [("DP0202", 6, 5, "duplicate parameter 'p' (first at line 5)")],
        id="duplicate-parameters",
    ),
    pytest.param(
        "select: '  '",
        [("DP0103", 3, 9, "select: no column names given")],
        id="blank-select-string",
    ),
    pytest.param(
        "aggregate: ' '",
        [("DP0103", 3, 12, "aggregate: no aggregates given")],
        id="blank-aggregate-string",
    ),
    pytest.param(
        "select: [a b, 1a, a.b]",
        [
            (
                "DP0103",
                3,
                10,
                "select: 'a b' is not a column name "
                "(letters, digits and underscores, not starting with a digit; "
                "compute an output as `name: expression`)",
            ),
            (
                "DP0103",
                3,
                15,
                "select: '1a' is not a column name "
                "(letters, digits and underscores, not starting with a digit; "
                "compute an output as `name: expression`)",
            ),
            (
                "DP0103",
                3,
                19,
                "select: 'a.b' is not a column name "
                "(letters, digits and underscores, not starting with a digit; "
                "compute an output as `name: expression`)",
            ),
        ],
        id="bad-column-names",
    ),
    pytest.param(
        "aggregate: [sales.median(), sum(), sales.sum]",
        [
            (
                "DP0103",
                3,
                13,
                "aggregate 'sales.median()' is not of the form column.function() with function "
                "one of avg, count, max, min, sum, or count(); use the mapping form "
                "(name: sum(column)) for anything else",
            ),
            ("DP0103", 3, 29, "'sum()' needs a column: column.sum()"),
            (
                "DP0103",
                3,
                36,
                "aggregate 'sales.sum' is not of the form column.function() with function "
                "one of avg, count, max, min, sum, or count(); use the mapping form "
                "(name: sum(column)) for anything else",
            ),
        ],
        id="bad-legacy-aggregates",
    ),
    pytest.param(
        "select: [a]\norder_by: [b desc]",
        [("DP0204", 4, 12, "order_by 'b' is not an output column (outputs: a)")],
        id="order-by-non-output",
    ),
    pytest.param(
        "aggregate: {n: count(*)}\ngroup_by: g\norder_by: sales",
        [("DP0204", 5, 11, "order_by 'sales' is not an output column (outputs: g, n)")],
        id="order-by-table-column-of-a-reduction",
    ),
    pytest.param(
        "select: [a]\norder_by: [a sideways, a b c]",
        [
            ("DP0103", 4, 12, "order_by 'a sideways' is not 'column [asc|desc]'"),
            ("DP0103", 4, 24, "order_by 'a b c' is not 'column [asc|desc]'"),
        ],
        id="order-by-syntax",
    ),
    pytest.param(
        "select: [a]\nparameters:\n"
        "  - {name: d, type: date, default: 2024-13-01}\n"
        "  - {name: i, type: integer, default: '1'}\n"
        "  - {name: j, type: integer, default: 1.5}\n"
        "  - {name: b, type: boolean, default: 'yes'}\n"
        "  - {name: s, type: string, default: 5}\n"
        "  - {name: t, type: timestamp, default: noon}\n"
        "  - {name: n, type: number, default: .nan}\n"
        "  - {name: m, type: number, default: true}\n"
        "  - {name: k, type: integer, default: 9223372036854775808}\n"
        "  - {name: l, type: integer, default: -9223372036854775809}\n"
        "  - {name: o, type: integer, default: -9223372036854775808}",
        [
            ("DP0103", 5, 36, "default '2024-13-01' is not a valid date"),
            ("DP0103", 6, 39, "default '1' is not a valid integer"),
            ("DP0103", 7, 39, "default 1.5 is not a valid integer"),
            ("DP0103", 8, 39, "default 'yes' is not a valid boolean"),
            ("DP0103", 9, 38, "default 5 is not a valid string"),
            ("DP0103", 10, 41, "default 'noon' is not a valid timestamp"),
            ("DP0103", 11, 38, "default nan is not a valid number"),
            ("DP0103", 12, 38, "default True is not a valid number"),
            ("DP0103", 13, 39, "default 9223372036854775808 is beyond 64-bit integers"),
            ("DP0103", 14, 39, "default -9223372036854775809 is beyond 64-bit integers"),
        ],
        id="defaults-that-do-not-fit-their-type",
    ),
    pytest.param(
        "select: [a]\nfreshness_seconds: .inf",
        [("DP0103", 4, 20, "freshness_seconds: must be a finite number")],
        id="infinite-freshness",
    ),
    pytest.param(
        "select: [a]\nlong_description: missing.md",
        [
            (
                "DP0205",
                4,
                19,
                "long_description file 'missing.md' cannot be read next to the spec",
            )
        ],
        id="missing-description-file",
    ),
]


@pytest.mark.parametrize(("body", "expected"), PROBLEMS)
def test_structural_problems(tmp_path, body, expected):
    assert problems_of(tmp_path, body) == expected


# depends_on -> diagnostics; these specs carry their own first lines
NOT_SUPPORTED = [
    pytest.param(
        "depends_on:\n  - {namespace: sales, table: orders}\n  - {namespace: sales, table: items}",
        [("DP0203", 4, 5, "a pod reads exactly one table or pod for now; depends_on lists 2")],
        id="two-tables",
    ),
    pytest.param(
        "depends_on:\n  - resource: other-pod\n  - {namespace: sales, table: orders}",
        [("DP0203", 4, 5, "a pod reads exactly one table or pod for now; depends_on lists 2")],
        id="both",
    ),
]


@pytest.mark.parametrize(("depends_on", "expected"), NOT_SUPPORTED)
def test_not_supported_yet(tmp_path, depends_on, expected):
    body = f"resource_name: t\n{depends_on}\nselect: [a]\n"
    assert problems_of(tmp_path, body, header=False) == expected


def test_every_structural_problem_at_once(tmp_path):
    body = (
        "select: [a, a]\n"
        "group_by: [g]\n"
        "order_by: zzz\n"
        "long_description: gone.md\n"
        "parameters: [{name: p, type: date, default: 2024-02-30}, {name: p, type: string}]\n"
    )
    codes = sorted(code for code, *_ in problems_of(tmp_path, body))
    assert codes == ["DP0103", "DP0201", "DP0202", "DP0202", "DP0204", "DP0205"]


@pytest.mark.parametrize(
    "name", ["../../outside/notes.md", "ABSOLUTE", "link.md", "../specs/../../outside/notes.md"]
)
def test_long_description_stays_inside_the_spec_project(tmp_path, name):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "notes.md").write_text("secret notes\n", encoding="utf-8")
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "specs" / "link.md").symlink_to("/etc/passwd")
    name = str(tmp_path / "outside" / "notes.md") if name == "ABSOLUTE" else name
    problems = problems_of(project / "specs", f"select: [a]\nlong_description: '{name}'")
    assert problems == [
        ("DP0206", 4, 19, f"long_description file '{name}' is outside the spec's project")
    ]


def test_long_description_may_come_from_anywhere_in_the_project(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "docs" / "about.md").write_text("# About\n", encoding="utf-8")
    (tmp_path / "specs" / "link.md").symlink_to(tmp_path / "docs" / "about.md")
    for name in ("../docs/about.md", "link.md"):
        pod = pod_of(tmp_path / "specs", f"select: [a]\nlong_description: {name}")
        assert pod.long_description == "# About\n"


def test_a_list_default_takes_at_most_the_runtimes_number_of_values(tmp_path):
    values = ", ".join(str(i) for i in range(MAX_LIST_VALUES))
    declared = f'{{name: p, type: "integer[]", default: [{values}]}}'
    pod = pod_of(tmp_path, f"select: [a]\nfilters: [a IN :p]\nparameters: [{declared}]")
    assert pod.parameters[0].default == tuple(range(MAX_LIST_VALUES))
    one_more = f'{{name: p, type: "integer[]", default: [{values}, 0]}}'
    assert problems_of(tmp_path, f"select: [a]\nparameters: [{one_more}]") == [
        ("DP0103", 4, 52, "default has 1001 values; a list parameter takes at most 1000")
    ]
    assert MAX_LIST_VALUES == RUNTIME_MAX_LIST_VALUES  # the runtime refuses the same requests


def test_what_the_schema_refused_is_left_out_and_the_rest_still_checked(tmp_path):
    """A value the schema refused is left out silently (validate reported it), and the other
    structural problems of the spec come in the same run, without follow-on errors."""
    body = (
        "select: [a, 5, 'b c']\n"  # 5: the schema's; 'b c': build's
        "order_by: [zzz]\n"  # not judged: an output column was left out
        "limit: ten\n"
        "deploy: {cpu: 3, memory: lots, min_instances: 5, max_instances: 2}\n"
        "parameters:\n"
        "  - {name: region, type: str}\n"  # the schema's: its uses are not judged
        "  - {name: format, type: string}\n"
    )
    path = write_spec(tmp_path, body)
    document, _ = load(path, "spec.yaml")
    refused = invalid_paths(document)
    assert refused == {
        ("select", 1),
        ("limit",),
        ("deploy", "memory"),
        ("parameters", 0, "type"),
    }
    pod, diagnostics = build(document, "specs/spec.yaml", invalid=refused)
    assert [(d.code.value, d.span.line) for d in diagnostics] == [
        ("DP0103", 3),  # 'b c' is not a column name
        ("DP0202", 9),  # format is reserved
        ("DP0402", 6),  # min_instances exceeds max_instances
        ("DP0402", 6),  # cpu 3
    ]
    assert [c.name for c in pod.query.columns] == ["a"]
    assert [k.column for k in pod.order_by] == ["zzz"] and pod.limit is None
    assert [p.name for p in pod.parameters] == ["format"]
    assert pod.unchecked_parameters == {"region"}


def test_another_pod_is_an_upstream_located_at_its_resource(tmp_path):
    pod, diagnostics = built(
        tmp_path,
        "resource_name: t\ndepends_on: [{resource: other-pod}]\nselect: [a]\n",
        header=False,
    )
    assert diagnostics == []
    assert pod.upstream.resource == "other-pod"
    assert (pod.upstream.span.line, pod.upstream.span.column) == (2, 25)
