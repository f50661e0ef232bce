"""A normal (non-editable) install carries schemas/ and templates/ and compiles from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    (built,) = out.glob("datapic-*.whl")
    return built


def test_wheel_bundles_schemas_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "compiler/_data/schemas/spec.schema.json" in names
    assert "compiler/_data/templates/Dockerfile.jinja" in names
    assert "compiler/_data/templates/pod/app.py" in names
    # What `datapic init` writes, and the demo lakehouse builder, travel with the package.
    assert "compiler/scaffold/files/spec.yaml" in names
    assert "compiler/scaffold/files/cloudbuild.yaml.jinja" in names
    assert "compiler/lakehouse.py" in names


def test_installed_wheel_compiles_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    spec = work / "spec.yaml"
    spec.write_text((ROOT / "examples" / "emea-sales-by-quarter.yaml").read_text())
    (work / "emea-sales-by-quarter.md").write_text("Described.\n")
    # The installed copy must win over the editable checkout, which is also on sys.path.
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import compiler, sys; from compiler.cli import main; "
            "assert compiler.__file__.startswith(sys.argv[1]), compiler.__file__; "
            "main(['compile', 'spec.yaml', '-o', 'out'])",
            str(site),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    pod = work / "out" / "emea-sales-by-quarter"
    assert (pod / "app.py").read_bytes() == (ROOT / "templates/pod/app.py").read_bytes()
    assert '"path": "spec.yaml"' in (pod / "pod.json").read_text()


def test_wheel_carries_the_client_and_its_light_extra(wheel: Path, tmp_path: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = archive.read(metadata_name).decode()
    assert "Provides-Extra: client" in metadata
    client_requires = [
        line for line in metadata.splitlines() if line.replace('"', "'").endswith("== 'client'")
    ]
    assert any(line.startswith("Requires-Dist: pyarrow") for line in client_requires)
    assert not any("pyiceberg" in line or "duckdb" in line for line in client_requires)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
        + [str(wheel)],
        check=True,
    )
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, datapic.client; "
            "assert datapic.client.__file__.startswith(sys.argv[1]), datapic.client.__file__",
            str(site),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
