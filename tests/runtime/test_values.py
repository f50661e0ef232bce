"""datapic_runtime.values: the strict text and JSON forms of the six parameter types."""

from __future__ import annotations

import datetime as dt

import pytest
from datapic_runtime.values import from_json, from_text

UTC = dt.UTC


@pytest.mark.parametrize(
    ("type_name", "text", "expected"),
    [
        ("string", "", ""),
        ("string", " Zürich's ", " Zürich's "),  # text is taken as given, spaces and all
        ("integer", "42", 42),
        ("integer", " -7 ", -7),
        ("integer", "+0", 0),
        ("integer", str(2**63 - 1), 2**63 - 1),
        ("integer", str(-(2**63)), -(2**63)),
        ("number", "12.5", 12.5),
        ("number", "-.5", -0.5),
        ("number", "1e3", 1000.0),
        ("number", "7", 7.0),
        ("boolean", "true", True),
        ("boolean", "FALSE", False),
        ("boolean", "1", True),
        ("boolean", "0", False),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("timestamp", "2024-01-31T12:00:00", dt.datetime(2024, 1, 31, 12)),
        ("timestamp", "2024-01-31 12:00", dt.datetime(2024, 1, 31, 12)),
        ("timestamp", "2024-01-31", dt.datetime(2024, 1, 31)),
        ("timestamp", "2024-01-31T12:00:00.000001", dt.datetime(2024, 1, 31, 12, 0, 0, 1)),
        ("timestamp", "2024-01-31T12:00:00Z", dt.datetime(2024, 1, 31, 12, tzinfo=UTC)),
        (
            "timestamp",
            "2024-01-31T14:00:00+02:00",
            dt.datetime(2024, 1, 31, 14, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ),
    ],
)
def test_from_text_accepts(type_name, text, expected):
    value = from_text(type_name, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("type_name", "text"),
    [
        ("integer", ""),
        ("integer", "1.5"),
        ("integer", "1_000"),  # Python's int() takes it; a client never means it
        ("integer", "٣"),  # Arabic-Indic digit three: int() takes that too
        ("integer", str(2**63)),  # beyond BIGINT
        ("integer", "0x10"),
        ("number", "nan"),
        ("number", "inf"),
        ("number", "infinity"),
        ("number", "1e999"),  # finite text, infinite double
        ("number", "1,5"),
        ("number", ""),
        ("boolean", "yes please"),
        ("boolean", ""),
        ("date", "2024-02-30"),
        ("date", "20240131"),  # fromisoformat takes it in 3.11
        ("date", "2024-W05-3"),  # so does this
        ("date", "31/01/2024"),
        ("timestamp", "2024-01-31T25:00:00"),
        ("timestamp", "2024-01-31Z"),
        ("timestamp", "yesterday"),
    ],
)
def test_from_text_rejects(type_name, text):
    with pytest.raises(ValueError):
        from_text(type_name, text)


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("string", "EMEA", "EMEA"),
        ("integer", 10, 10),
        ("number", 1000.5, 1000.5),
        ("number", 1, 1.0),
        ("boolean", False, False),
        ("date", "2024-03-01", dt.date(2024, 3, 1)),
        ("timestamp", "2024-08-01T12:00:00", dt.datetime(2024, 8, 1, 12)),
        ("date", None, None),
        ("string[]", ["EMEA", "a,b"], ("EMEA", "a,b")),
        ("integer[]", [], ()),
        ("number[]", [1, 2.5], (1.0, 2.5)),
        ("date[]", ["2024-03-01"], (dt.date(2024, 3, 1),)),
        ("timestamp[]", ["2024-08-01T12:00:00"], (dt.datetime(2024, 8, 1, 12),)),
        ("boolean[]", [True, False], (True, False)),
        ("string[]", None, None),
    ],
)
def test_from_json_types_defaults_and_literals(type_name, value, expected):
    result = from_json(type_name, value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("string", 5),
        ("integer", True),  # a JSON boolean is not a number
        ("integer", 2.5),
        ("number", "12"),
        ("number", False),
        ("boolean", 1),
        ("date", 20240101),
        ("date", "2024-13-01"),
        ("timestamp", "soon"),
        ("integer", 2**64),
        ("string[]", "EMEA"),  # a list type's default is a list
        ("string", ["EMEA"]),
        ("integer[]", [1, "2"]),
        ("string[]", ["a", None]),  # a list holds no NULL
        ("integer[]", list(range(1001))),
    ],
)
def test_from_json_rejects_values_of_another_type(type_name, value):
    with pytest.raises(ValueError):
        from_json(type_name, value)
