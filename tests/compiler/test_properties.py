"""Property tests: whatever a user writes, the compiler compiles it or explains it at a place in
the file; it never crashes. What compiles yields a pod.json that fits its schema, SQL that
re-parses to itself, and a pushdown that never drops a row the SQL answers."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import warnings

import duckdb
import pytest
import sqlglot
from factories import POD_VALIDATOR
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compiler.diagnostics import Severity
from compiler.pipeline import compile_spec

# The grammar strategies below are large; Hypothesis warns when it prints them. Harmless.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
FAST = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def compile_text(tmp_path, text: str):
    """Compile one spec text; the compiler never prints, warns or logs on its own."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    printed = io.StringIO()
    with (
        warnings.catch_warnings(record=True) as warned,
        contextlib.redirect_stdout(printed),
        contextlib.redirect_stderr(printed),
    ):
        warnings.simplefilter("always")
        result = compile_spec(path)
    assert printed.getvalue() == "" and [str(w.message) for w in warned] == []
    return result


def assert_compiled_or_located(result, text: str) -> dict | None:
    """The pod document when the spec compiled; else check every diagnostic is located."""
    event("compiled" if result.ok else "refused")
    if result.ok:
        document = json.loads(result.files["pod.json"])
        POD_VALIDATOR.validate(document)
        sql = "\n".join(document["sql"])  # pod.json holds it one line per element
        reparsed = sqlglot.parse_one(sql, read="duckdb").sql("duckdb", pretty=True)
        assert reparsed == sql
        return document
    assert result.diagnostics, "a failed compile must say why"
    last_line = max(1, len(text.splitlines()) + 1)
    for d in result.diagnostics:
        assert re.fullmatch(r"DP\d{4}", d.code.value)
        assert d.severity in (Severity.ERROR, Severity.WARNING) and d.message.strip()
        assert d.span.column >= 1 and d.span.line >= 1
        if d.span.file == result.display_path:
            assert d.span.line <= last_line, (d, text)
    return None


def dump(spec: dict, style: str) -> str:
    """The spec as a user might write it: block YAML, flow YAML, or JSON (a subset of YAML)."""
    if style == "json":
        return json.dumps(spec, indent=1)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = style == "flow"
    out = io.StringIO()
    yaml.dump(spec, out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Random specs: every field of the schema, with plausible, wrong and garbage values.

garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(0, 2), max_size=2),
    st.dictionaries(st.sampled_from(["x", "name"]), st.integers(0, 2), max_size=2),
)
names = st.sampled_from(["a", "b", "sales", "region", "order", "Region", "1a", "a b", "", " "])
name_lists = st.one_of(
    st.lists(names, min_size=1, max_size=3),
    st.lists(names, min_size=1, max_size=3).map(" ".join),
    garbage,
)
sql_bits = st.sampled_from(
    [
        "a = 1",
        "region = :p",
        "a > :q",
        ":flag",
        "sales.sum()",
        "count()",
        "sum(a)",
        "count(*)",
        "a; DROP TABLE t",
        "read_csv('x')",
        "(",
        "",
        "a IN (1, 2)",
        "t.a = 1",
    ]
)
parameters = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["p", "q", "flag", "1x"]) | garbage},
        optional={
            "type": st.sampled_from(
                ["string", "integer", "number", "boolean", "date", "timestamp", "float"]
            )
            | garbage,
            "default": st.sampled_from(["2024-01-01", "2024-13-01", "EMEA", 1, 2.5, True])
            | garbage,
            "description": st.text(max_size=5) | garbage,
            "extra": garbage,
        },
    ),
    max_size=3,
)
depends_on = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "namespace": st.sampled_from(["sales", "a.b", ""]) | garbage,
                "table": st.sampled_from(["orders", ""]) | garbage,
                "catalog": st.sampled_from(["default", "my cat"]) | garbage,
                "resource": st.sampled_from(["other"]) | garbage,
            },
        ),
        max_size=2,
    ),
    garbage,
)
FIELDS = {
    "resource_name": st.sampled_from(["pod", "9lives", "a_b-c"]) | garbage,
    "depends_on": depends_on,
    "operation_type": st.sampled_from(["PROJECTION", "REDUCTION", "AGGREGATION"]) | garbage,
    "select": name_lists,
    "group_by": name_lists,
    "aggregate": st.one_of(
        st.dictionaries(st.sampled_from(["n", "total", "1x"]), sql_bits, max_size=2),
        st.lists(sql_bits, min_size=1, max_size=3),
        sql_bits,
        garbage,
    ),
    "filters": st.one_of(st.lists(sql_bits, max_size=3), sql_bits, garbage),
    "parameters": st.one_of(parameters, garbage),
    "order_by": st.one_of(
        st.lists(st.sampled_from(["a", "a desc", "n", "x y z"]), max_size=2), garbage
    ),
    "limit": st.integers(-1, 3) | garbage,
    "freshness_seconds": st.floats(-1, 10) | garbage,
    "type": st.sampled_from(["REST", "SOAP"]) | garbage,
    "local_engine": st.sampled_from(["duckdb", "DUCKDB", "spark"]) | garbage,
    "deploy": st.booleans() | garbage,
    "short_description": st.text(max_size=10) | garbage,
    "long_description": st.sampled_from(["text", "missing.md", "a\nb.md"]) | garbage,
    "colour": garbage,
}
specs = st.fixed_dictionaries(
    {
        "resource_name": st.just("pod"),
        "depends_on": st.just([{"namespace": "sales", "table": "orders"}]),
    }
).flatmap(
    lambda base: st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), max_size=7).flatmap(
        lambda chosen: st.fixed_dictionaries({k: FIELDS[k] for k in chosen}).map(
            lambda values: {**base, **values}
        )
    )
)


@FAST
@given(spec=specs, style=st.sampled_from(["block", "flow", "json"]))
def test_random_specs_compile_or_give_located_errors(tmp_path, spec, style):
    text = dump(spec, style)
    assert_compiled_or_located(compile_text(tmp_path, text), text)


@FAST
@given(text=st.text(max_size=120))
def test_random_text_compiles_or_gives_located_errors(tmp_path, text):
    assert_compiled_or_located(compile_text(tmp_path, text), text)


@FAST
@given(
    lines=st.lists(
        st.sampled_from(
            [
                "resource_name: pod",
                "depends_on: [{namespace: sales, table: orders}]",
                "depends_on:",
                "  - namespace: sales",
                "    table: orders",
                "select: [a, b]",
                "select: a b",
                "aggregate: sales.sum()",
                "filters:",
                "  - a = 1",
                "  - :x",
                "parameters: [{name: x, type: boolean}]",
                "order_by: a desc",
                "  bad indent: [",
                "- item",
                "key: 'unclosed",
                "key: &anchor [1]",
                "other: *anchor",
                "<<: {limit: 3}",
                "select: !!python/object:os.system [a]",
                "resource_name: again",
                "\tselect: [a]",
                "# comment",
                "",
            ]
        ),
        max_size=10,
    )
)
def test_random_yaml_lines_compile_or_give_located_errors(tmp_path, lines):
    text = "\n".join(lines) + "\n"
    assert_compiled_or_located(compile_text(tmp_path, text), text)


# ---------------------------------------------------------------------------------------------
# Random filters: token soup (mostly garbage), and a grammar of well-formed conditions.

TOKENS = [
    "a", "b", "s", "d", ":p", ":q", ":flag", ":nope", "$p", "?", "1", "2.5", "-3", "'x'", "'%a'",
    "NULL", "TRUE", "DATE '2024-01-01'", "TIMESTAMP '2024-01-01 10:00'", "=", "<>", "<", ">=",
    "AND", "OR", "NOT", "IN", "(", ")", ",", "BETWEEN", "SYMMETRIC", "LIKE", "ILIKE", "ESCAPE",
    "IS", "+", "*", "::", "INT", "lower(", "sum(", "read_csv(", "SELECT", "FROM", ";",
    "DROP TABLE t", "CALL", "PRAGMA", "--", "/*", "*/", "'", '"', "[", "]", "x:", "OVER", "()",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join)

INT_PARAM, STR_PARAM, BOOL_PARAM = ":p", ":q", ":flag"
ints = st.one_of(
    st.sampled_from(["a", "b"]),
    st.integers(-3, 3).map(str),
    st.just(INT_PARAM),
    st.sampled_from(["(a + 1)", "-b", "abs(a)", "(3)"]),
)
strs = st.one_of(
    st.just("s"),
    st.sampled_from(["'x'", "'xy'", "'y'", "''", "'x%'", "'it''s'"]),
    st.just(STR_PARAM),
    st.just("lower(s)"),
)
dates = st.one_of(
    st.just("d"),
    st.sampled_from(["DATE '2024-01-02'", "DATE '2024-01-04'", "CAST('2024-01-03' AS DATE)"]),
)
ops = st.sampled_from(["=", "<>", "!=", "<", "<=", ">", ">="])
maybe_not = st.sampled_from(["", "NOT "])


def _in(column_and_values):
    column, negate, values = column_and_values
    return f"{column} {negate}IN ({', '.join(values)})"


atoms = st.one_of(
    st.builds("{} {} {}".format, ints, ops, ints),
    st.builds("{} {} {}".format, strs, ops, strs),
    st.builds("{} {} {}".format, dates, ops, dates),
    st.tuples(st.sampled_from(["a", "b"]), maybe_not, st.lists(ints, min_size=1, max_size=3)).map(
        _in
    ),
    st.tuples(st.just("s"), maybe_not, st.lists(strs, min_size=1, max_size=3)).map(_in),
    st.builds(
        "{} {}BETWEEN {}{} AND {}".format,
        ints,
        maybe_not,
        st.sampled_from(["", "SYMMETRIC "]),
        ints,
        ints,
    ),
    st.builds(
        "s {}LIKE {}".format,
        maybe_not,
        st.sampled_from(["'x%'", "'xy%'", "'%y'", "'x_%'", "'x'", "'%'", STR_PARAM]),
    ),
    st.builds("{} IS {}NULL".format, st.sampled_from(["a", "b", "s", "d"]), maybe_not),
    st.sampled_from([BOOL_PARAM, "TRUE", "FALSE"]),
)
# Column against literal or parameter: the shapes the pushdown translates.
int_values = st.one_of(st.integers(-3, 3).map(str), st.just(INT_PARAM))
str_values = st.one_of(st.sampled_from(["'x'", "'xy'", "'y'", "''", "'it''s'"]), st.just(STR_PARAM))
pushable = st.one_of(
    st.builds("{} {} {}".format, st.sampled_from(["a", "b"]), ops, int_values),
    st.builds("{} {} {}".format, int_values, ops, st.sampled_from(["a", "b"])),
    st.builds("s {} {}".format, ops, str_values),
    st.builds("d {} {}".format, ops, dates),
    st.tuples(
        st.sampled_from(["a", "b"]), maybe_not, st.lists(int_values, min_size=1, max_size=3)
    ).map(_in),
    st.builds(
        "{} {}BETWEEN {}{} AND {}".format,
        st.sampled_from(["a", "b"]),
        maybe_not,
        st.sampled_from(["", "SYMMETRIC "]),
        int_values,
        int_values,
    ),
    st.builds("s {}LIKE {}".format, maybe_not, st.sampled_from(["'x%'", "'xy%'", "'it''%'"])),
    st.builds("{} IS {}NULL".format, st.sampled_from(["a", "b", "s", "d"]), maybe_not),
)
conditions = st.recursive(
    st.one_of(pushable, atoms),
    lambda inner: st.one_of(
        st.builds("{} AND {}".format, inner, inner),
        st.builds("({} AND {})".format, inner, inner),
        st.builds("{} OR {}".format, inner, inner),
        st.builds("({} OR {})".format, inner, inner),
        st.builds("NOT ({})".format, inner),
        st.builds("NOT {}".format, inner),
    ),
    max_leaves=6,
)

DECLARED = {
    "p": {"name": "p", "type": "integer"},
    "q": {"name": "q", "type": "string"},
    "flag": {"name": "flag", "type": "boolean"},
}


def filter_spec(filters: list[str]) -> str:
    text = " ".join(filters)
    used = [DECLARED[n] for n in DECLARED if re.search(rf":{n}\b", text)]
    return json.dumps(
        {
            "resource_name": "fuzz",
            "depends_on": [{"namespace": "n", "table": "t"}],
            "select": ["a", "b", "s", "d"],
            "filters": filters,
            "parameters": used,
        },
        indent=1,
    )


@FAST
@given(filters=st.lists(st.one_of(token_soup, conditions), min_size=1, max_size=3))
def test_random_filters_compile_or_give_located_errors(tmp_path, filters):
    text = filter_spec(filters)
    document = assert_compiled_or_located(compile_text(tmp_path, text), text)
    if document is not None:
        pushed = _columns_and_parameters(document["pushdown"])
        assert pushed[0] <= set(document["read_columns"])
        assert pushed[1] <= {p["name"] for p in document["parameters"]}


def _columns_and_parameters(predicates) -> tuple[set[str], set[str]]:
    columns, params = set(), set()
    for p in predicates:
        for child in p.get("args", []) + ([p["arg"]] if "arg" in p else []):
            more = _columns_and_parameters([child])
            columns |= more[0]
            params |= more[1]
        if "column" in p:
            columns.add(p["column"])
        for value in p.get("values", []) + ([p["value"]] if "value" in p else []):
            if "parameter" in value:
                params.add(value["parameter"])
    return columns, params


# ---------------------------------------------------------------------------------------------
# Pushdown soundness: every row the SQL answers satisfies the pushdown (three-valued logic,
# NULL as unknown), so skipping files by it can never lose an answer.

S_VALUES = ["x", "xy", "y", "", "x%", "it's", None]
rows = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-3, 3)),
        st.one_of(st.none(), st.integers(-3, 3)),
        st.sampled_from(S_VALUES),
        st.one_of(st.none(), st.integers(1, 5).map(lambda n: dt.date(2024, 1, n))),
    ),
    min_size=5,
    max_size=25,
)
bindings = st.fixed_dictionaries(
    {
        "p": st.one_of(st.none(), st.integers(-3, 3)),
        "q": st.sampled_from(S_VALUES),
        "flag": st.one_of(st.none(), st.booleans()),
    }
)


@settings(FAST, max_examples=200)
@given(
    filters=st.lists(st.one_of(pushable, conditions), min_size=1, max_size=3),
    data=rows,
    values=bindings,
)
def test_pushdown_never_drops_an_answered_row(tmp_path, filters, data, values):
    text = filter_spec(filters)
    result = compile_text(tmp_path, text)
    event("compiled" if result.ok else "refused")
    assume(result.ok)  # well-typed grammar: only ill-typed parameter uses fail
    document = json.loads(result.files["pod.json"])
    used = {p["name"]: values[p["name"]] for p in document["parameters"]}
    connection = duckdb.connect()
    connection.execute("CREATE TABLE source (a INTEGER, b INTEGER, s VARCHAR, d DATE)")
    connection.executemany("INSERT INTO source VALUES (?, ?, ?, ?)", data)
    answered = connection.execute("\n".join(document["sql"]), used).fetchall()
    event(f"answered rows: {min(len(answered), 3)}+")
    event(f"pushdown conjuncts: {min(len(document['pushdown']), 2)}+")
    for a, b, s, d in answered:
        row = {"a": a, "b": b, "s": s, "d": d}
        for predicate in document["pushdown"]:
            assert _holds(predicate, row, used) is not False, (predicate, row, used)


def _holds(predicate: dict, row: dict, values: dict) -> bool | None:
    """A pushdown predicate on one row: True, False, or None (unknown, as SQL's NULL)."""
    op = predicate["op"]
    if op in ("and", "or"):
        results = [_holds(p, row, values) for p in predicate["args"]]
        decided, other = (False, True) if op == "and" else (True, False)
        if decided in results:
            return decided
        return None if None in results else other
    if op == "not":
        inner = _holds(predicate["arg"], row, values)
        return None if inner is None else not inner
    cell = row[predicate["column"]]
    if op in ("is_null", "not_null"):
        return (cell is None) == (op == "is_null")
    if op in ("in", "not_in"):
        found = [_compare("eq", cell, _value(v, values)) for v in predicate["values"]]
        result = True if True in found else (None if None in found else False)
        return result if op == "in" or result is None else not result
    return _compare(op, cell, _value(predicate["value"], values))


def _value(value: dict, values: dict):
    if "parameter" in value:
        return values[value["parameter"]]
    if value["type"] == "date":
        return dt.date.fromisoformat(value["literal"])
    return value["literal"]


def _compare(op: str, cell, value) -> bool | None:
    if cell is None or value is None:
        return None
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (cell, value))
    if type(cell) is not type(value) and not numeric:
        return None  # types the runtime would not push: unknown, never a wrong skip
    if op == "starts_with":
        return cell.startswith(value)
    return {
        "eq": cell == value,
        "ne": cell != value,
        "lt": cell < value,
        "le": cell <= value,
        "gt": cell > value,
        "ge": cell >= value,
    }[op]
