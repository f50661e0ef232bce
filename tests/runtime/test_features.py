"""datapic_runtime.features: what a pod does not serve is a 501 naming the feature, found in the
table's metadata, in the failure of loading it, or in the planned files; what it does serve,
though unusual (an unknown transform, an `unknown` column), answers right.

Tables are real (featurekit): ORC and Avro files, key_metadata, hand-written v3/v4 metadata.
"""

from __future__ import annotations

import functools
import logging

import featurekit as fk
import pytest
from datapic_runtime.catalog import CatalogClient
from datapic_runtime.config import PodConfig, SourceSpec
from datapic_runtime.errors import PodError
from datapic_runtime.features import FEATURES, refuse_unloadable, unsupported_in_metadata
from datapic_runtime.plan import plan
from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import ValidationError
from pyiceberg.schema import Schema
from pyiceberg.types import GeographyType, ListType, LongType, NestedField
from runtimekit import make_client

READ = ("id", "region", "shape")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> dict[str, str]:
    """Catalog properties of a SQL catalog holding one table per case, namespace `f`."""
    root = tmp_path_factory.mktemp("features")
    props = {"type": "sql", "uri": f"sqlite:///{root / 'c.db'}", "warehouse": root.as_uri()}
    catalog = SqlCatalog("default", uri=props["uri"], warehouse=props["warehouse"])
    catalog.create_namespace("f")
    for name, (build, _, _) in fk.UNSUPPORTED.items():
        build(catalog, f"f.{name}")
    for name, build in fk.SERVED.items():
        build(catalog, f"f.{name}")
    return props


def config(table: str, read: tuple[str, ...] = READ) -> PodConfig:
    return PodConfig(
        name="p",
        source=SourceSpec(catalog="default", namespace=("f",), table=table),
        columns=read,
        read_columns=read,
        parameters=(),
        sql="SELECT * FROM source",
    )


def planned(lake: dict[str, str], table: str, read: tuple[str, ...] = READ):
    """The table loaded as the pod loads it, then planned as the pod plans a request."""
    client = CatalogClient("default", functools.partial(load_catalog, **lake))
    loaded = client.load_table(("f", table))
    return plan(loaded, config(table, read), {}, loaded.current_snapshot().snapshot_id)


@pytest.mark.parametrize("table", fk.UNSUPPORTED)
def test_an_unsupported_table_is_a_501_naming_feature_table_and_remedy(lake, table):
    _, feature, found = fk.UNSUPPORTED[table]
    name, remedy = FEATURES[feature]
    with pytest.raises(PodError) as raised:
        planned(lake, table)
    assert raised.value.status == 501
    assert raised.value.message.startswith(f"table f.{table} uses {name}, which pods do not")
    assert f"({found}" in raised.value.message
    assert raised.value.message.endswith(remedy)


def test_every_feature_has_a_table_here():
    assert {feature for _, feature, _ in fk.UNSUPPORTED.values()} == set(FEATURES)


def test_a_geometry_column_the_pod_does_not_read_is_no_obstacle(lake):
    made = planned(lake, "geometry", read=("id", "region"))
    assert made.files_planned == 2


def test_a_geography_nested_in_a_read_column_is_named_by_its_path(lake):
    table = load_catalog("default", **lake).load_table("f.unknown_type")  # a v3 table
    read = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(9, "spots", ListType(10, GeographyType(), element_required=False)),
    )
    found = list(unsupported_in_metadata(table, read))
    assert found == [("unreadable-type", "column 'spots.element' is of type geography")]


def test_an_unknown_type_column_reads_as_null(lake, tmp_path):
    client = make_client(
        tmp_path,
        lake,
        source={"catalog": "default", "namespace": ["f"], "table": "unknown_type"},
        columns=["id", "later"],
        read_columns=["id", "later"],
        parameters=[],
        pushdown=[],
        sql=["SELECT id, later FROM source ORDER BY id"],
    )
    response = client.get("/get_data")
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": i, "later": None} for i in range(1, 7)]


def test_a_table_with_an_unknown_transform_is_served_ignoring_it(lake, tmp_path):
    """The spec requires v3 readers to ignore unknown transforms when planning."""
    client = make_client(
        tmp_path,
        lake,
        source={"catalog": "default", "namespace": ["f"], "table": "unknown_transform"},
        columns=["id"],
        read_columns=["id", "region"],
        parameters=[{"default": "EMEA", "description": "", "name": "region", "required": False,
                     "type": "string"}],
        pushdown=[{"column": "region", "op": "eq", "value": {"parameter": "region"}}],
        sql=["SELECT id FROM source WHERE region = $region ORDER BY id"],
    )  # fmt: skip
    response = client.get("/get_data")
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": 1}, {"id": 3}, {"id": 5}]


def test_the_501_reaches_the_client_as_json_and_the_log_without_a_traceback(lake, tmp_path, caplog):
    client = make_client(
        tmp_path,
        lake,
        source={"catalog": "default", "namespace": ["f"], "table": "orc"},
        columns=["id"],
        read_columns=["id"],
        parameters=[],
        pushdown=[],
        sql=["SELECT id FROM source ORDER BY id"],
    )
    with caplog.at_level(logging.INFO, logger="datapic"):
        response = client.get("/get_data")
    assert response.status_code == 501
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"].startswith("table f.orc uses files in a format other than")
    assert "501 table f.orc uses files" in caplog.text  # operators see what to do
    assert "Traceback" not in caplog.text


def test_other_load_failures_are_left_to_the_usual_rules():
    assert refuse_unloadable(ValueError("Unsupported field type: 'variant'"), "s.t") is None
    assert refuse_unloadable(ValidationError("1 validation error: bad uuid"), "s.t") is None
    refused = refuse_unloadable(ValidationError("Type not recognized: variant"), "s.t")
    assert refused is not None and refused.status == 501
