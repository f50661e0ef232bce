"""ETag and If-None-Match on a pod over a real table: a 304 with no body while the snapshot,
the parameter values, the format and the page are the same; a 200 with another tag after a
commit or for other values. The reference for "the same answer" is the 200's own body, read
again without If-None-Match."""

from __future__ import annotations

import pytest
from podkit import make_pod, param, pod_json, serving

pytestmark = pytest.mark.pod


@pytest.fixture
def pod(tmp_path, catalog):
    table = catalog.create_table(
        "shop.etagged", schema=catalog.load_table("shop.evolving").schema()
    )
    table.append(catalog.load_table("shop.evolving").scan().to_arrow())
    spec = pod_json(
        "etagged",
        "shop.etagged",
        "SELECT id, total FROM source WHERE id >= $min_id ORDER BY id",
        columns=["id", "total"],
        read_columns=["id", "total"],
        parameters=[param("min_id", "integer", default=0)],
    )
    yield make_pod(tmp_path, {**spec, "freshness_seconds": 0}), table
    catalog.drop_table("shop.etagged")


def test_an_unchanged_answer_is_a_304(pod, pod_env, tmp_path):
    pod_dir, table = pod
    with serving(pod_dir, pod_env, tmp_path / "pod.log") as client:
        first = client.get("/get_data", params={"min_id": 50})
        etag = first.headers["etag"]
        assert first.status_code == 200 and etag.startswith('"') and etag.endswith('"')
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = client.get(
                "/get_data", params={"min_id": 50}, headers={"if-none-match": header}
            )
            assert again.status_code == 304, header
            assert again.content == b""
            assert again.headers["etag"] == etag
            assert again.headers["cache-control"] == first.headers["cache-control"]
        unmatched = client.get("/get_data", params={"min_id": 50}, headers={"if-none-match": '"x"'})
        assert unmatched.status_code == 200 and unmatched.content == first.content
        # Other values, format or page: another representation, another tag.
        tags = {etag}
        for params in ({"min_id": 51}, {"min_id": 50, "format": "csv"}, {"min_id": 50, "limit": 5}):
            other = client.get("/get_data", params=params, headers={"if-none-match": etag})
            assert other.status_code == 200, params
            tags.add(other.headers["etag"])
        assert len(tags) == 4
        # A commit: a new snapshot, a new answer and tag (freshness 0: at once).
        table.append(table.scan(row_filter="id >= 100").to_arrow())
        after = client.get("/get_data", params={"min_id": 50}, headers={"if-none-match": etag})
        assert after.status_code == 200
        assert after.headers["etag"] != etag
        assert len(after.json()) > len(first.json())
        same = client.get("/get_data", params={"min_id": 50}, headers={"if-none-match": etag})
        assert same.status_code == 200  # the old tag no longer matches
        assert (
            client.get(
                "/get_data", params={"min_id": 50}, headers={"if-none-match": after.headers["etag"]}
            ).status_code
            == 304
        )
