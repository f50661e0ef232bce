"""What a plain pod (no auth block, no upstream) imports up to its first answer: not the JWT
gate's libraries nor the HTTP client of a pod that reads another pod (together a tenth of a
second of every cold start, issue 11), nor SQLAlchemy for its SQLite catalog (a quarter), nor
fsspec for a table on local disk (object storage only), nor NumPy, which its image does not
hold (where installed, pyarrow would import it). Checked in a fresh interpreter, the
pod's own app.py imported from its directory as uvicorn does, over the real SQLite catalog."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from podkit import make_pod, param, pod_json, ref

pytestmark = pytest.mark.pod

POD = pod_json(
    "orders-of-region",
    "sales.orders",
    "SELECT order_id FROM source WHERE region = $region ORDER BY order_id LIMIT 5",
    columns=["order_id"],
    read_columns=["order_id", "region"],
    parameters=[param("region", "string", "EMEA")],
    pushdown=[{"op": "eq", "column": "region", "value": ref("region")}],
)

# Modules only a pod with an auth block, an upstream, another kind of SQL catalog or a table
# in object storage needs.
DEFERRED = [
    "sqlalchemy",
    "jwt",
    "requests",
    "fsspec",
    "numpy",
    "datapic_runtime.auth",
    "datapic_runtime.downstream",
    "datapic_runtime.upstream",
    "datapic_runtime.objectstore",
]

FIRST_ANSWER = f"""
import json, sys
import app
from starlette.testclient import TestClient
response = TestClient(app.app).get("/get_data?region=EMEA")
print(json.dumps({{
    "status": response.status_code,
    "loaded": [name for name in {DEFERRED!r} if sys.modules.get(name) is not None],
}}))
"""


def test_a_plain_pod_answers_without_the_auth_and_upstream_modules(tmp_path, pod_env):
    pod_dir = make_pod(tmp_path / "pod", POD)
    finished = subprocess.run(
        [sys.executable, "-c", FIRST_ANSWER],
        cwd=pod_dir,
        env={**pod_env, "PATH": "", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    found = json.loads(finished.stdout.splitlines()[-1])
    assert found == {"status": 200, "loaded": []}
