"""datapic_runtime.config: pod.json into typed, immutable values; a bad file fails at start-up."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from datapic_runtime.config import (
    ParameterSpec,
    SourceSpec,
    UpstreamSpec,
    load_config,
    parse_config,
)
from datapic_runtime.errors import ConfigError
from datapic_runtime.predicates import Comparison, Literal, ParameterRef

POD_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "pod.schema.json"
EXAMPLE = {
    "columns": ["q", "total_sales", "orders"],
    "description": "EMEA sales aggregated by quarter",
    "format_version": 2,
    "freshness_seconds": 5,
    "max_page_size": 10000,
    "result_cache": True,
    "generator": "datapic 0.1.0",
    "name": "emea-sales-by-quarter",
    "operation": "REDUCTION",
    "parameters": [
        {
            "default": "EMEA",
            "description": "",
            "name": "region",
            "required": False,
            "type": "string",
        },
        {
            "default": "2024-01-01",
            "description": "",
            "name": "since",
            "required": False,
            "type": "date",
        },
        {
            "default": None,
            "description": "Max",
            "name": "upto",
            "required": True,
            "type": "timestamp",
        },
    ],
    "pushdown": [
        {"column": "region", "op": "eq", "value": {"parameter": "region"}},
        {"column": "order_date", "op": "ge", "value": {"literal": "2024-01-01", "type": "date"}},
    ],
    "read_columns": ["order_date", "q", "region", "sales"],
    "source": {"catalog": "default", "namespace": ["sales"], "table": "orders"},
    "spec": {"path": "examples/emea-sales-by-quarter.yaml", "sha256": "0" * 64},
    "sql": [
        "SELECT q, SUM(sales) AS total_sales, COUNT(*) AS orders FROM source",
        "WHERE region = $region AND order_date >= $since AND order_date <= $upto GROUP BY q",
    ],
}


def test_the_example_fits_the_contract_schema():
    """Guards the fixture: these tests must exercise pod.json as the compiler writes it."""
    schema = json.loads(POD_SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(EXAMPLE)


def test_load_config_types_everything(tmp_path):
    (tmp_path / "pod.json").write_text(json.dumps(EXAMPLE))
    config = load_config(tmp_path)
    assert config.name == "emea-sales-by-quarter"
    assert config.source == SourceSpec(catalog="default", namespace=("sales",), table="orders")
    assert config.source.identifier == ("sales", "orders")
    assert config.source.display == "sales.orders"
    assert config.columns == ("q", "total_sales", "orders")
    assert config.read_columns == ("order_date", "q", "region", "sales")
    assert config.parameters == (
        ParameterSpec(name="region", type="string", required=False, default="EMEA"),
        ParameterSpec(name="since", type="date", required=False, default=dt.date(2024, 1, 1)),
        ParameterSpec(
            name="upto", type="timestamp", required=True, default=None, description="Max"
        ),
    )
    assert config.pushdown == (
        Comparison(op="eq", column="region", value=ParameterRef(name="region")),
        Comparison(
            op="ge", column="order_date", value=Literal(value=dt.date(2024, 1, 1), type="date")
        ),
    )
    assert config.freshness_seconds == 5.0
    assert config.sql == "\n".join(EXAMPLE["sql"])  # pod.json holds it one line per element
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.sql = "DROP TABLE x"  # type: ignore[misc]


def test_a_list_parameter_loads_with_its_default_as_a_tuple(tmp_path):
    raw = copy.deepcopy(EXAMPLE)
    raw["parameters"][1] = {
        "default": ["2024-01-01", "2024-02-29"],
        "description": "",
        "name": "since",
        "required": False,
        "type": "date[]",
    }
    jsonschema.Draft202012Validator(json.loads(POD_SCHEMA.read_text())).validate(raw)
    (tmp_path / "pod.json").write_text(json.dumps(raw))
    since = load_config(tmp_path).parameters[1]
    assert since == ParameterSpec(
        name="since",
        type="date[]",
        required=False,
        default=(dt.date(2024, 1, 1), dt.date(2024, 2, 29)),
    )
    assert since.element == "date"


def _broken(path: str, value) -> dict:
    raw = copy.deepcopy(EXAMPLE)
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is KeyError:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_broken("format_version", 1), "format_version 1 is not 2"),
        (_broken("sql", KeyError), "missing or malformed field (KeyError: 'sql')"),
        (_broken("sql", "SELECT 1 FROM source"), "expected the SQL as a list of lines"),
        (_broken("parameters.0.type", "money"), "parameters[0]: unknown type 'money'"),
        (_broken("parameters.1.default", "2024-02-30"), "parameters[1]: default"),
        (
            _broken("parameters.2.default", "2024-01-01T00:00:00"),
            "required parameter has no default",
        ),
        (_broken("parameters.1.name", "region"), "a name is declared twice"),
        (_broken("parameters.0.type", "string[][]"), "parameters[0]: unknown type 'string[][]'"),
        (_broken("parameters.1.type", "date[]"), "parameters[1]: default"),  # not a list
        (_broken("pushdown.1.value.type", "date[]"), "pushdown[1].value: unknown type 'date[]'"),
        (_broken("pushdown.0.op", "like"), "pushdown[0]: unknown predicate op 'like'"),
        (_broken("pushdown.0.value", {"parameter": "nope"}), "undeclared parameter 'nope'"),
        (_broken("pushdown.1.value.type", "uuid"), "pushdown[1].value: unknown type 'uuid'"),
        (_broken("pushdown.1.value.literal", "yesterday"), "pushdown[1].value: "),
        (_broken("source.namespace", [1]), "expected text, got 1"),
        (_broken("all_columns", "yes"), "all_columns: expected true or false, got 'yes'"),
        ([], "missing or malformed field"),
    ],
)
def test_bad_pod_json_is_a_config_error_naming_the_field(raw, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert message in str(caught.value)


def test_a_pod_answering_every_column_says_so_and_others_do_not():
    assert parse_config(EXAMPLE).all_columns is False
    every = {**EXAMPLE, "all_columns": True, "columns": [], "read_columns": []}
    config = parse_config(every)
    assert (config.all_columns, config.columns, config.read_columns) == (True, (), ())


def test_unreadable_pod_json_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)
    (tmp_path / "pod.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)


def test_a_pod_reading_a_pod_names_it_and_what_it_passes():
    raw = copy.deepcopy(EXAMPLE)
    raw["upstream"] = {
        "resource": "emea",
        "env": "DATAPIC_UPSTREAM_EMEA_URL",
        "parameters": ["region"],
    }
    jsonschema.validate(raw, json.loads(POD_SCHEMA.read_text()))
    config = parse_config(raw)
    assert config.upstream == UpstreamSpec(
        resource="emea", env="DATAPIC_UPSTREAM_EMEA_URL", parameters=("region",)
    )
    assert parse_config(EXAMPLE).upstream is None
    raw["upstream"]["parameters"] = ["nowhere"]
    with pytest.raises(ConfigError, match="upstream.parameters: names a parameter not declared"):
        parse_config(raw)


def test_cors_is_read_when_present_and_absent_means_none():
    assert parse_config(EXAMPLE).cors is None
    raw = copy.deepcopy(EXAMPLE)
    raw["cors"] = {
        "allow_origins": ["https://app.example.com"],
        "allow_credentials": True,
        "max_age_seconds": 60,
    }
    jsonschema.Draft202012Validator(json.loads(POD_SCHEMA.read_text())).validate(raw)
    cors = parse_config(raw).cors
    assert (cors.allow_origins, cors.allow_credentials, cors.max_age_seconds) == (
        ("https://app.example.com",),
        True,
        60,
    )


@pytest.mark.parametrize(
    "cors",
    [
        {"allow_origins": ["*"], "allow_credentials": True, "max_age_seconds": 0},
        {"allow_origins": [], "allow_credentials": False, "max_age_seconds": 0},
        {"allow_origins": ["https://a.example"], "allow_credentials": "no", "max_age_seconds": 0},
        {"allow_origins": ["https://a.example"], "allow_credentials": False, "max_age_seconds": -1},
    ],
)
def test_a_hand_edited_cors_that_would_open_the_pod_is_refused(cors):
    raw = copy.deepcopy(EXAMPLE)
    raw["cors"] = cors
    with pytest.raises(ConfigError, match="cors"):
        parse_config(raw)
