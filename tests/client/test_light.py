"""The client is a light install: importing it loads neither the compiler nor DuckDB nor
pyiceberg, and the `client` extra's dependencies, followed all the way down in the installed
metadata, hold none of them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("duckdb", "pyiceberg", "compiler", "datapic_runtime", "fastapi", "sqlglot", "jinja2")


def test_importing_the_client_loads_nothing_heavy():
    script = (
        "import json, sys\n"
        "from datapic.client import Client, Pod\n"
        "Pod('http://127.0.0.1:9')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    loaded = set(json.loads(done.stdout))
    assert {"pyarrow", "httpx"} <= loaded  # the probe sees imports at all
    assert loaded.isdisjoint(HEAVY + ("google", "pandas", "polars")), loaded & set(HEAVY)


def _closure(requirements: list[str]) -> set[str]:
    """Every installed distribution the requirements pull in, extras followed."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.requires(name) or []:
            needed = Requirement(text)
            environments = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(e) for e in environments):
                todo.append(needed)
    return {key.split("[")[0] for key in seen}


def test_the_client_extra_pulls_in_nothing_heavy():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pulled = _closure(project["optional-dependencies"]["client"] + project["dependencies"])
    assert {"pyarrow", "httpx", "google-auth", "requests"} <= pulled
    assert pulled.isdisjoint({"duckdb", "pyiceberg", "fastapi", "uvicorn", "pandas", "numpy"})
