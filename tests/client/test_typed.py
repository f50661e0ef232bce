"""The typed module `datapic client` writes, calling a real pod: the pod's parameters as
keyword arguments reach it, and the answer is the reference's."""

from __future__ import annotations

import importlib.util

import pytest
from clientkit import ORDERS, orders_values
from podkit import make_pod

from compiler.typedclient import read_pods, render_module
from datapic.client import BadRequest, Pod

pytestmark = pytest.mark.pod


@pytest.fixture
def typed(tmp_path):
    """The module generated for a pod directory holding ORDERS, imported."""
    make_pod(tmp_path / "generated", ORDERS)
    path = tmp_path / "orders_client.py"
    path.write_text(render_module(read_pods(tmp_path / "generated"), "generated/"))
    spec = importlib.util.spec_from_file_location("orders_client", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_typed_function_reads_the_pod(typed, orders_url, reference):
    expected = reference(ORDERS, orders_values(min_sales=1500.0, country="FR"))
    assert expected.num_rows > 0
    assert typed.client_orders(orders_url, min_sales=1500, country="FR").equals(expected)
    with Pod(orders_url, page_size=50) as pod:  # a Pod, with its options
        assert typed.client_orders(pod, min_sales=1500, country="FR").equals(expected)
    everything = reference(ORDERS, orders_values())
    assert typed.client_orders(orders_url).equals(everything)  # None: the pod's defaults


def test_a_mistyped_value_is_the_pods_400(typed, orders_url):
    with pytest.raises(BadRequest, match="parameter 'min_sales' must be"):
        typed.client_orders(orders_url, min_sales="a lot")
