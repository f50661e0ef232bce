"""Start-up and readiness, with real pod processes over the SQLite catalog: a pod without any
catalog settings refuses to start in one line; /readyz answers 200 only while the table loads
from the catalog (503 with the reason otherwise), while /healthz stays liveness."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lakehouse import open_catalog
from podkit import make_pod, param, pod_json, ref, serving

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


def _without_catalog_settings(home: Path) -> dict[str, str]:
    """This environment without any pyiceberg configuration (nor a home holding one)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PYICEBERG_")}
    return {**env, "HOME": str(home)}


def _start(pod_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The pod as its Dockerfile starts it, on a port nobody uses; it must exit by itself."""
    command = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "0"]
    command.append("--no-access-log")
    return subprocess.run(command, cwd=pod_dir, env=env, capture_output=True, text=True, timeout=60)


def test_a_pod_without_catalog_settings_refuses_to_start_in_one_line(tmp_path):
    pod_dir = make_pod(tmp_path / "pod", POD)
    (tmp_path / "home").mkdir()
    finished = _start(pod_dir, _without_catalog_settings(tmp_path / "home"))
    assert finished.returncode != 0
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [
        "datapic pod: catalog 'default' is not configured: set PYICEBERG_CATALOG__DEFAULT__URI "
        "(and PYICEBERG_CATALOG__DEFAULT__TYPE, PYICEBERG_CATALOG__DEFAULT__WAREHOUSE, … as the "
        "catalog needs) or write them in .pyiceberg.yaml (read from $PYICEBERG_HOME, the home "
        "directory or the working directory)"
    ]


def test_a_pyiceberg_yaml_is_enough_and_readyz_names_the_current_snapshot(
    tmp_path, lakehouse, pod_env
):
    pod_dir = make_pod(tmp_path / "pod", POD)
    config = tmp_path / "config"
    config.mkdir()
    (config / ".pyiceberg.yaml").write_text(
        "catalog:\n  default:\n"
        + "".join(
            f"    {name.rsplit('__', 1)[1].lower()}: {value}\n" for name, value in pod_env.items()
        )
    )
    (tmp_path / "home").mkdir()
    env = {**_without_catalog_settings(tmp_path / "home"), "PYICEBERG_HOME": str(config)}
    current = open_catalog(lakehouse).load_table("sales.orders").current_snapshot().snapshot_id
    with serving(pod_dir, env, tmp_path / "pod.log") as client:
        response = client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "status": "ready",
            "table": "sales.orders",
            "snapshot_id": current,
        }
        assert client.get("/get_data").status_code == 200


def test_readyz_is_503_with_the_reason_while_the_catalog_is_gone(tmp_path, lakehouse, pod_env):
    own = tmp_path / "catalog" / "catalog.db"
    own.parent.mkdir()
    shutil.copy(lakehouse / "catalog.db", own)
    env = {**pod_env, "PYICEBERG_CATALOG__DEFAULT__URI": f"sqlite:///{own}"}
    every_time = {**POD, "freshness_seconds": 0}  # each probe asks the catalog
    with serving(make_pod(tmp_path / "pod", every_time), env, tmp_path / "pod.log") as client:
        assert client.get("/readyz").status_code == 200
        own.rename(own.with_suffix(".away"))
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
        assert response.json() == {
            "error": "not ready: catalog 'default' cannot be reached (its database file is missing)"
        }
        assert client.get("/healthz").status_code == 200  # alive all the same
        own.with_suffix(".away").rename(own)
        assert client.get("/readyz").status_code == 200


def test_readyz_is_503_naming_a_missing_table(tmp_path, pod_env):
    gone = {**POD, "source": {"catalog": "default", "namespace": ["sales"], "table": "gone"}}
    with serving(make_pod(tmp_path / "pod", gone), pod_env, tmp_path / "pod.log") as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "error": "not ready: table sales.gone does not exist in catalog 'default'"
        }
        assert client.get("/healthz").json() == {"status": "ok"}
