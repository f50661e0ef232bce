"""datapic_runtime.predicates: pushdown JSON into typed predicates, checked at start-up."""

from __future__ import annotations

import datetime as dt

import pytest
from datapic_runtime.errors import ConfigError
from datapic_runtime.predicates import (
    Comparison,
    Junction,
    Literal,
    Membership,
    Negation,
    NullCheck,
    ParameterRef,
    parse_predicate,
)

PARAMS = {"p", "q"}
A_EQ_P = {"op": "eq", "column": "a", "value": {"parameter": "p"}}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (A_EQ_P, Comparison(op="eq", column="a", value=ParameterRef(name="p"))),
        (
            {"op": "starts_with", "column": "s", "value": {"literal": "ab", "type": "string"}},
            Comparison(op="starts_with", column="s", value=Literal(value="ab", type="string")),
        ),
        (
            {"op": "lt", "column": "d", "value": {"literal": "2024-01-01", "type": "date"}},
            Comparison(op="lt", column="d", value=Literal(value=dt.date(2024, 1, 1), type="date")),
        ),
        (
            {"op": "ge", "column": "x", "value": {"literal": 100.555, "type": "number"}},
            Comparison(op="ge", column="x", value=Literal(value=100.555, type="number")),
        ),
        (
            # A whole number stays an int, so that 2**60 + 1 is not rounded to a double.
            {"op": "ge", "column": "x", "value": {"literal": 2**60 + 1, "type": "number"}},
            Comparison(op="ge", column="x", value=Literal(value=2**60 + 1, type="number")),
        ),
        (
            {
                "op": "not_in",
                "column": "a",
                "values": [{"parameter": "q"}, {"literal": 1, "type": "integer"}],
            },
            Membership(
                op="not_in",
                column="a",
                values=(ParameterRef(name="q"), Literal(value=1, type="integer")),
            ),
        ),
        ({"op": "not_null", "column": "a"}, NullCheck(op="not_null", column="a")),
        (
            {"op": "or", "args": [A_EQ_P, {"op": "not", "arg": {"op": "is_null", "column": "b"}}]},
            Junction(
                op="or",
                args=(
                    Comparison(op="eq", column="a", value=ParameterRef(name="p")),
                    Negation(arg=NullCheck(op="is_null", column="b")),
                ),
            ),
        ),
    ],
)
def test_every_predicate_kind_parses(node, expected):
    assert parse_predicate(node, PARAMS, "pushdown[0]") == expected


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"op": "like", "column": "a"}, "pushdown[0]: unknown predicate op 'like'"),
        (
            {"op": "eq", "column": "a", "value": {"parameter": "zz"}},
            "pushdown[0].value: undeclared parameter 'zz'",
        ),
        ({"op": "in", "column": "a", "values": []}, "'in' needs at least one value"),
        ({"op": "and", "args": [A_EQ_P]}, "'and' needs at least two arguments"),
        (
            {"op": "not", "arg": {"op": "eq", "column": "a"}},
            "pushdown[0]: malformed predicate (KeyError: 'value')",
        ),
        ({"op": "eq", "column": "", "value": {"parameter": "p"}}, "malformed predicate"),
        (
            {"op": "eq", "column": "a", "value": {"literal": "x", "type": "uuid"}},
            "unknown type 'uuid'",
        ),
        (
            {"op": "eq", "column": "a", "value": {"literal": "x", "type": "integer"}},
            "'x' is not a valid integer",
        ),
        (
            {"op": "or", "args": [A_EQ_P, {"op": "??"}]},
            "pushdown[0].args[1]: unknown predicate op '??'",
        ),
        ("eq", "malformed predicate"),
    ],
)
def test_malformed_predicates_are_config_errors_with_a_path(node, message):
    with pytest.raises(ConfigError) as caught:
        parse_predicate(node, PARAMS, "pushdown[0]")
    assert message in str(caught.value)
