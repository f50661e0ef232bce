"""The quick start, for real: `datapic init demo && cd demo && datapic demo-lakehouse &&
datapic compile && datapic serve`, each the venv's `datapic` in its own process, then HTTP to
the served pod on loopback. The reference: pyiceberg's own full read of the demo table, queried
by a plain DuckDB. Editing the spec reloads the pod; breaking it keeps the last good one
serving and prints the located diagnostics; Ctrl-C stops the server cleanly."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from lakehouse import catalog_env
from pyiceberg.catalog.sql import SqlCatalog

pytestmark = pytest.mark.pod

DATAPIC = str(Path(sys.executable).parent / "datapic")
ROWS = 20_000
# How long a step may take before the test gives up: a bound against hangs, not a measurement.
PATIENCE = 120


def _env(home: Path) -> dict[str, str]:
    """The user's environment without pyiceberg settings, with a HOME of its own (no
    ~/.pyiceberg.yaml): the project's files are all the catalog settings there are."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PYICEBERG_")}
    return {**env, "HOME": str(home)}


def datapic(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [DATAPIC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=PATIENCE
    )
    assert done.returncode == 0, f"datapic {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def reference(lakehouse: Path, region: str, since: str = "0001-01-01") -> list[dict]:
    """The pod's answer, computed from pyiceberg's full read of the table by DuckDB."""
    catalog = SqlCatalog(
        "default",
        uri=f"sqlite:///{lakehouse / 'catalog.db'}",
        warehouse=(lakehouse / "warehouse").as_uri(),
    )
    orders = catalog.load_table("sales.orders").scan().to_arrow()  # noqa: F841 - read by DuckDB
    rows = duckdb.sql(
        "SELECT q, sum(sales) AS total_sales, count(*) AS orders FROM orders "
        f"WHERE region = '{region}' AND order_date >= DATE '{since}' GROUP BY q ORDER BY q"
    ).fetchall()
    return [{"q": q, "total_sales": Decimal(s), "orders": n} for q, s, n in rows]


def answer(body: bytes) -> list[dict]:
    rows = json.loads(body, parse_float=Decimal)
    # Decimals answer as strings in JSON (exact); compare them as numbers.
    return sorted(({**r, "total_sales": Decimal(r["total_sales"])} for r in rows), key=str)


class Server:
    """`datapic serve` in its own process group, its output read line by line."""

    def __init__(self, cwd: Path, env: dict[str, str], *targets: str) -> None:
        self.process = subprocess.Popen(
            [DATAPIC, "serve", "--port", "0", *targets],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, False), daemon=True).start()

    def _read(self, stream, out: bool) -> None:
        for line in stream:
            (self.lines.put if out else self.stderr.append)(line.rstrip("\n"))

    def line(self, starting: str) -> str:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "\n".join(self.stderr)
                continue
            if line.startswith(starting):
                return line
        raise AssertionError(f"no line {starting!r}; stderr:\n" + "\n".join(self.stderr))

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C
        try:
            return self.process.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise


def until(check, what: str):
    """Poll `check` until it returns something true; the bound is against hangs only."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def test_init_demo_compile_serve_then_edit_break_and_stop(tmp_path):
    env = _env(tmp_path)
    datapic("init", "demo", cwd=tmp_path, env=env)
    project = tmp_path / "demo"
    built = datapic("demo-lakehouse", "--rows", str(ROWS), cwd=project, env=env)
    assert f"sales.orders, {ROWS:,} rows" in built.stdout
    datapic("compile", cwd=project, env=env)
    assert (project / "generated" / "sales-by-quarter" / "pod.json").is_file()

    server = Server(project, env)
    try:
        assert server.line("serving 1 pod(s) on http://127.0.0.1:")
        url = server.line("  http://127.0.0.1:").strip()
        assert url.endswith("/sales-by-quarter/get_data")
        pod = url.removesuffix("/get_data")
        status, body = get(f"{url}?region=APAC")
        assert status == 200, body
        expected = reference(project / ".lakehouse", "APAC")
        assert answer(body) == sorted(expected, key=str) and len(expected) == 12
        status, body = get(url)  # the spec's default region
        assert status == 200 and answer(body) == sorted(
            reference(project / ".lakehouse", "EMEA"), key=str
        )
        status, body = get(f"{pod}/openapi.json")
        assert status == 200 and json.loads(body)["info"]["title"]
        # The docs page under the mount, and the script its relative URL leads to there.
        status, body = get(f"{pod}/docs")
        assert status == 200 and b'<script src="docs/app.js" defer>' in body
        assert get(f"{pod}/docs/app.js")[0] == 200
        assert get(f"{pod.rsplit('/', 1)[0]}/")[1] == b'{"pods": ["/sales-by-quarter/"]}'
        assert get(f"{pod}x/get_data")[0] == 404

        # An edit is served once recompiled: the reference is the edited query's.
        spec = project / "specs" / "sales-by-quarter.yaml"
        text = spec.read_text()
        spec.write_text(
            text.replace(
                "  - region = :region\n",
                "  - region = :region\n  - order_date >= DATE '2025-01-01'\n",
            )
        )
        edited = sorted(reference(project / ".lakehouse", "APAC", since="2025-01-01"), key=str)
        assert len(edited) == 4
        until(lambda: answer(get(f"{url}?region=APAC")[1]) == edited, "the edited pod")
        assert server.line("reloaded /sales-by-quarter/ from specs/sales-by-quarter.yaml")

        # A spec that no longer compiles: its diagnostics, located; the last good pod serves.
        spec.write_text(spec.read_text().replace("sum(sales)", "sum(sales"))
        assert server.line("changed specs/sales-by-quarter.yaml: recompiling")
        until(
            lambda: any(line.startswith("kept    /sales-by-quarter/") for line in server.stderr),
            "the failed reload",
        )
        located = [
            line for line in server.stderr if line.startswith("specs/sales-by-quarter.yaml:")
        ]
        # (beside the warning that Cloud Run would find no catalog: init leaves it commented)
        assert any("error[DP0301]" in line for line in located), server.stderr
        assert answer(get(f"{url}?region=APAC")[1]) == edited

        # A spec saved into specs/ while serving is served too; deleting it stops that.
        copy = project / "specs" / "apac-copy.yaml"
        copy.write_text(text.replace("resource_name: sales-by-quarter", "resource_name: apac-copy"))
        assert server.line("serving /apac-copy/ from specs/apac-copy.yaml")
        status, body = get(url.replace("sales-by-quarter", "apac-copy") + "?region=APAC")
        assert status == 200 and answer(body) == sorted(expected, key=str)
        copy.unlink()
        assert server.line("removed /apac-copy/: specs/apac-copy.yaml was deleted")
        assert get(url.replace("sales-by-quarter", "apac-copy"))[0] == 404
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.stderr)
    assert server.line("stopped") == "stopped"
    assert "Traceback" not in "\n".join(server.stderr)


def test_serve_compiled_pods_with_the_catalog_from_the_environment(tmp_path, lakehouse):
    # The pod tests' lakehouse, named only by PYICEBERG_CATALOG__DEFAULT__* variables.
    env = {**_env(tmp_path), **catalog_env(lakehouse)}
    datapic("init", "p", cwd=tmp_path, env=env)
    datapic("compile", "specs", "-o", str(tmp_path / "out"), cwd=tmp_path / "p", env=env)
    (tmp_path / "p" / ".pyiceberg.yaml").unlink()
    server = Server(tmp_path, env, "out")  # a folder of compiled pods, as generated/ is
    try:
        assert server.line("serving 1 pod(s) on http://127.0.0.1:")
        url = server.line("  http://127.0.0.1:").strip()
        assert url.endswith("/sales-by-quarter/get_data")
        status, body = get(f"{url}?region=LATAM")
        assert status == 200, body
        assert answer(body) == sorted(reference(lakehouse, "LATAM"), key=str)
    finally:
        assert server.stop() == 0
