"""A commit shows in a running pod's answers within its freshness bound: at once with
freshness 0 (the catalog is asked on every request), not before the bound with a long one
(the table and its plans stay warm)."""

from __future__ import annotations

import pytest
from podkit import make_pod, pod_json, serving

pytestmark = pytest.mark.pod


def pod(name: str, table: str, freshness: float) -> dict:
    spec = pod_json(
        name,
        table,
        "SELECT count(*) AS n, sum(id) AS ids FROM source",
        columns=["n", "ids"],
        read_columns=["id"],
    )
    return {**spec, "freshness_seconds": freshness, "result_cache": True}


@pytest.mark.parametrize("freshness", [0, 3600])
def test_a_commit_shows_within_the_freshness_bound(tmp_path, catalog, pod_env, freshness):
    name = f"shop.fresh{freshness}"
    table = catalog.create_table(name, schema=catalog.load_table("shop.evolving").schema())
    table.append(catalog.load_table("shop.evolving").scan().to_arrow())
    spec = pod(f"fresh-{freshness}", name, freshness)
    with serving(make_pod(tmp_path, spec), pod_env, tmp_path / "pod.log") as client:
        before = client.get("/get_data").json()
        assert client.get("/get_data").json() == before  # answered again (from the cache)
        table.append(table.scan().to_arrow())  # doubles every row
        doubled = [{"n": before[0]["n"] * 2, "ids": before[0]["ids"] * 2}]
        after = client.get("/get_data").json()
        assert after == (doubled if freshness == 0 else before)
