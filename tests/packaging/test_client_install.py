"""`pip install 'datapic[client]'` for real: a fresh virtual environment gets the wheel with the
client extra (plus pandas and polars, which a user adds) and nothing else. It holds no engine
(DuckDB, pyiceberg, FastAPI), and from it the client reads a real pod into pandas and polars
DataFrames, through `Pod` and through dataPi's `Client`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from clientkit import ORDERS, orders_values
from lakehouse import build_lakehouse, open_catalog
from podkit import make_pod, serving, substitute

ROOT = Path(__file__).resolve().parents[2]
ENGINES = {"duckdb", "pyiceberg", "pyiceberg-core", "fastapi", "uvicorn", "sqlalchemy", "orjson"}


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Nothing of the test's own environment leaks in (no PYTHONPATH, no VIRTUAL_ENV)."""
    keep = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "http", "HTTP", "SSL"))}
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **keep, **extra}


@pytest.fixture(scope="module")
def client_python(tmp_path_factory) -> Path:
    """The python of a fresh venv holding datapic[client], pandas and polars."""
    work = tmp_path_factory.mktemp("client-install")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["-w", str(work / "wheel"), str(ROOT)],
        check=True,
    )
    (wheel,) = (work / "wheel").glob("datapic-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    python = work / "venv" / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + [f"{wheel}[client]", "pandas", "polars"],
        capture_output=True,
        text=True,
        env=_clean_env(work),
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return python


def test_the_client_extra_installs_no_engine(client_python: Path, tmp_path: Path) -> None:
    listed = subprocess.run(
        [str(client_python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path),
        check=True,
    )
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert {"datapic", "pyarrow", "httpx", "google-auth", "requests"} <= installed
    assert installed.isdisjoint(ENGINES), installed & ENGINES


SCRIPT = """
import json, sys
from datapic.client import Client, Pod

def kind(frame):
    return type(frame).__module__.split(".")[0] + "." + type(frame).__name__

pod = Pod(sys.argv[1])
pandas_frame = pod.to_pandas(min_sales=1000)
polars_frame = pod.to_polars(min_sales=1000)
legacy = Client("test-proj", "europe-west1", "client-orders").get_data(min_sales=1000)
print(json.dumps({
    "pandas": [kind(pandas_frame), list(pandas_frame.columns),
               [int(v) for v in pandas_frame["order_id"]], list(pandas_frame["country"])],
    "polars": [kind(polars_frame), polars_frame.columns,
               polars_frame["order_id"].to_list(), str(polars_frame.schema["sales"])],
    "legacy": [kind(legacy), [int(v) for v in legacy["order_id"]]],
}))
"""


def test_dataframes_from_a_real_pod(client_python: Path, tmp_path: Path) -> None:
    lakehouse = tmp_path / "lakehouse"
    env = build_lakehouse(lakehouse, rows=3_000)
    source = open_catalog(lakehouse).load_table("sales.orders").scan().to_arrow()
    connection = duckdb.connect()
    connection.register("source", source)
    expected = connection.sql(substitute(ORDERS, orders_values(min_sales=1000.0))).fetchall()
    assert expected, "the reference answer must hold rows"
    ids, countries = [row[0] for row in expected], [row[1] for row in expected]
    with serving(make_pod(tmp_path, ORDERS), env, tmp_path / "pod.log") as client:
        url = str(client.base_url).rstrip("/")
        done = subprocess.run(
            [str(client_python), "-c", SCRIPT, url],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=_clean_env(tmp_path, DATAPIC_POD_CLIENT_ORDERS_URL=url),
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    assert got["pandas"] == ["pandas.DataFrame", ORDERS["columns"], ids, countries]
    assert got["polars"][:3] == ["polars.DataFrame", ORDERS["columns"], ids]
    assert got["polars"][3].startswith("Decimal(precision=")  # Arrow's decimal kept
    assert got["legacy"] == ["pandas.DataFrame", ids]
