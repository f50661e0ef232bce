"""datapic_runtime.params: the query string to typed values, or a 400 naming the parameter."""

from __future__ import annotations

import datetime as dt

import pytest
from datapic_runtime.config import ParameterSpec
from datapic_runtime.errors import PodError
from datapic_runtime.params import bind_parameters
from datapic_runtime.values import MAX_LIST_VALUES

DECLARED = (
    ParameterSpec(name="s", type="string", required=True),
    ParameterSpec(name="i", type="integer", required=False, default=3),
    ParameterSpec(name="n", type="number", required=False, default=1.0),
    ParameterSpec(name="b", type="boolean", required=False, default=False),
    ParameterSpec(name="d", type="date", required=False, default=dt.date(2024, 1, 31)),
    ParameterSpec(name="t", type="timestamp", required=False, default=None),
)
DEFAULTS = {"i": 3, "n": 1.0, "b": False, "d": dt.date(2024, 1, 31), "t": None}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("s", "x")], {"s": "x", **DEFAULTS}),
        ([("s", "")], {"s": "", **DEFAULTS}),  # an empty string is a value, not an absence
        (
            [("t", "2025-02-28 10:30:00"), ("s", "x"), ("i", "-7"), ("n", "2.5"), ("b", "TRUE")],
            {
                **DEFAULTS,
                "s": "x",
                "i": -7,
                "n": 2.5,
                "b": True,
                "t": dt.datetime(2025, 2, 28, 10, 30),
            },
        ),
        ([("s", "x"), ("d", "2025-02-28")], {**DEFAULTS, "s": "x", "d": dt.date(2025, 2, 28)}),
    ],
)
def test_every_declared_parameter_gets_a_typed_value(query, expected):
    values = bind_parameters(DECLARED, query)
    assert values == expected
    assert list(values) == [p.name for p in DECLARED]
    assert {k: type(v) for k, v in values.items()} == {k: type(v) for k, v in expected.items()}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([], "missing required parameter 's' (string)"),
        ([("i", "1")], "missing required parameter 's'"),
        ([("s", "x"), ("i", "1.5")], "parameter 'i' must be a whole number such as 42, got '1.5'"),
        ([("s", "x"), ("i", "")], "parameter 'i' must be a whole number"),
        ([("s", "x"), ("n", "nan")], "parameter 'n' must be a number such as 12.5, got 'nan'"),
        ([("s", "x"), ("b", "maybe")], "parameter 'b' must be true or false, got 'maybe'"),
        ([("s", "x"), ("d", "31/01/2024")], "parameter 'd' must be a date such as 2024-01-31"),
        ([("s", "x"), ("t", "noon")], "parameter 't' must be a timestamp such as"),
        (
            [("s", "x"), ("x", "1")],
            "unknown parameter 'x' (this pod's parameters: s, i, n, b, d, t)",
        ),
        ([("S", "x")], "unknown parameter 'S'"),  # names are case-sensitive, as declared
        ([("s", "x"), ("s", "y")], "parameter 's' is given more than once"),
        ([("s", "x"), ("i", "1" * 200)], "got '" + "1" * 60 + "…'"),  # long values are cut
    ],
)
def test_bad_requests_are_400s_naming_the_parameter(query, message):
    with pytest.raises(PodError) as caught:
        bind_parameters(DECLARED, query)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_a_pod_without_parameters_rejects_any():
    assert bind_parameters((), []) == {}
    with pytest.raises(
        PodError, match=r"unknown parameter 'region' \(this pod's parameters: none\)"
    ):
        bind_parameters((), [("region", "EMEA")])


# --- list parameters ----------------------------------------------------------------------------

LISTS = (
    ParameterSpec(name="r", type="string[]", required=False, default=("EMEA",)),
    ParameterSpec(name="ids", type="integer[]", required=True),
    ParameterSpec(name="days", type="date[]", required=False, default=None),
    ParameterSpec(name="on", type="boolean[]", required=False, default=()),
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("ids", "1")], {"r": ("EMEA",), "ids": (1,), "days": None, "on": ()}),
        (
            [("ids", "3"), ("r", "a,b"), ("ids", "-1"), ("r", "")],
            {"r": ("a,b", ""), "ids": (3, -1), "days": None, "on": ()},
        ),
        (
            [("ids", "1"), ("days", "2024-02-29"), ("days", "2024-02-29"), ("on", "false")],
            {
                "r": ("EMEA",),
                "ids": (1,),
                "days": (dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
                "on": (False,),
            },
        ),
    ],
)
def test_a_list_parameter_is_a_tuple_of_typed_values_in_request_order(query, expected):
    values = bind_parameters(LISTS, query)
    assert values == expected
    for name, value in values.items():
        if value:
            assert {type(v) for v in value} == {type(v) for v in expected[name]}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([], "missing required parameter 'ids' (integer[])"),
        ([("ids", "1"), ("ids", "x")], "parameter 'ids' takes whole numbers such as 42, got 'x'"),
        ([("ids", "")], "parameter 'ids' takes whole numbers such as 42, got ''"),
        (
            [("ids", "1"), ("days", "31/01/2024")],
            "parameter 'days' takes dates such as 2024-01-31, got '31/01/2024'",
        ),
        (
            [("ids", str(i)) for i in range(MAX_LIST_VALUES + 1)],
            "parameter 'ids' takes at most 1000 values, got more",
        ),
    ],
)
def test_bad_list_values_are_400s_naming_the_parameter(query, message):
    with pytest.raises(PodError) as caught:
        bind_parameters(LISTS, query)
    assert (caught.value.status, caught.value.message) == (400, message)


def test_a_list_takes_exactly_its_most_values():
    query = [("ids", str(i)) for i in range(MAX_LIST_VALUES)]
    assert bind_parameters(LISTS, query)["ids"] == tuple(range(MAX_LIST_VALUES))
