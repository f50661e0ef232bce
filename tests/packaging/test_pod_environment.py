"""The pod's Python environment, built the way its Dockerfile builds it, serves the pod.

A fresh virtual environment gets requirements.txt and nothing else (wheels only, as in the
image); the pod then runs from it with uvicorn on loopback over a small real Iceberg table. A
runtime dependency missing from requirements.txt fails here, not in a deployment. (pip may
reuse its local wheel cache: the image's --no-cache-dir changes what is kept, not what is
installed.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lakehouse import build_lakehouse
from podrun import free_port

from compiler.pipeline import compile_spec

ROOT = Path(__file__).resolve().parents[2]


def _dockerfile_install_flags(dockerfile: str) -> list[str]:
    """The pip options the Dockerfile installs requirements.txt with."""
    match = re.search(r"pip install (.*?) -r \S*requirements\.txt", dockerfile)
    assert match, "the Dockerfile no longer installs requirements.txt with pip"
    return match[1].split()


@pytest.fixture(scope="module")
def pod_env(tmp_path_factory) -> tuple[Path, Path]:
    """A compiled pod and a venv holding exactly its requirements.txt."""
    work = tmp_path_factory.mktemp("image")
    pod = work / "pod"
    for relative, content in compile_spec(ROOT / "examples" / "large-orders.yaml").files.items():
        (pod / relative).parent.mkdir(parents=True, exist_ok=True)
        (pod / relative).write_bytes(content)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    flags = [
        f
        for f in _dockerfile_install_flags((pod / "Dockerfile").read_text())
        if f != "--no-cache-dir"
    ]
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *flags,
            "-r",
            str(pod / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        env=_clean_env(work),
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return pod, venv


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Nothing of the test's own environment leaks in (no PYTHONPATH, no VIRTUAL_ENV)."""
    keep = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "http", "HTTP", "SSL"))}
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **keep, **extra}


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _dockerfile_command(pod: Path, venv: Path) -> list[str]:
    """The Dockerfile's CMD as this test runs it: with the venv's Python, on loopback only."""
    lines = (pod / "Dockerfile").read_text().splitlines()
    [cmd] = [line for line in lines if line.startswith("CMD")]
    argv = json.loads(cmd.removeprefix("CMD"))
    assert argv[:2] == ["sh", "-c"] and "exec python -m uvicorn" in argv[2], cmd
    command = argv[2].replace("exec python ", f'exec "{venv}/bin/python" ')
    return [*argv[:2], command.replace("--host 0.0.0.0", "--host 127.0.0.1")]


def test_the_environment_holds_only_the_requirements(pod_env) -> None:
    pod, venv = pod_env
    python = str(venv / "bin" / "python")
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    isolated = subprocess.run([python, "-c", "import compiler"], cwd=pod, capture_output=True)
    assert isolated.returncode != 0, "the pod's venv must not see datapic itself"


def test_the_pod_serves_from_its_own_environment(pod_env, tmp_path: Path) -> None:
    pod, venv = pod_env
    catalog = build_lakehouse(tmp_path / "lakehouse", rows=2_000)
    port = free_port()
    process = subprocess.Popen(
        _dockerfile_command(pod, venv),
        cwd=pod,
        env=_clean_env(tmp_path, PORT=str(port), **catalog),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode()[-3000:]
            try:
                status, _ = _get(f"{base}/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the pod did not answer /healthz in 60 s"
            time.sleep(0.2)
        status, body = _get(f"{base}/get_data?country=DE&min_sales=0")
        assert status == 200, body[:500]
        rows = json.loads(body)
        assert rows, "the query over the real table answered no rows"
        columns = json.loads((pod / "pod.json").read_text())["columns"]
        assert all(list(row) == columns for row in rows)
        assert all(row["country"] == "DE" for row in rows)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # One line per /get_data request, the pod's own; no access line of uvicorn's (the probes
    # of /healthz above would each have written one).
    log = process.stdout.read().decode()
    assert [json.loads(line)["message"] for line in log.splitlines() if line.startswith("{")] == [
        "GET /get_data 200 complete"
    ]
    assert "HTTP/1.1" not in log, log
