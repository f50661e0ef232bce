"""`datapic init --from-datapi` over the original dataPi project (datapi-project/, copied from
dataPi's own `datapi init` templates: see its SOURCE.md): it does not compile as it stands,
compiles with no error once converted, says each change, moves the credential out of
config.yml and is safe to run twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from compiler.cli import main

ORIGINAL = Path(__file__).resolve().parent / "datapi-project"
CREDENTIAL = "0f1e2d3c4b5a6978:not-a-real-secret-0000000000000000"  # made up, same form


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def load(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


@pytest.fixture
def datapi(tmp_path, monkeypatch) -> Path:
    """A copy of the original project (without its SOURCE.md), the working directory."""
    shutil.copytree(ORIGINAL, tmp_path / "p", ignore=shutil.ignore_patterns("SOURCE.md"))
    monkeypatch.chdir(tmp_path / "p")
    return tmp_path / "p"


def test_the_original_project_compiles_unconverted(datapi):
    """Its config.yml works as dataPi's docs say (registry_url: gcr.io/PROJECT included), and
    the resource reading another pod compiles after the pod it reads."""
    result = run("compile", "resources")
    assert result.exit_code == 0, result.output
    assert "config.yml" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if "error[" in line]
    assert result.stdout.splitlines()[-1] == "3 spec(s): 3 compiled, 0 failed"
    reader = json.loads((datapi / "generated/sample-resource-depends-datapod/pod.json").read_text())
    assert reader["upstream"] == {
        "resource": "sample-resource-projection",
        "env": "DATAPIC_UPSTREAM_SAMPLE_RESOURCE_PROJECTION_URL",
        "parameters": [],
    }


def test_the_converted_project_compiles_with_no_error(datapi):
    original = load(datapi / "config.yml")
    result = run("init", "--from-datapi")
    assert result.exit_code == 0, result.output
    compiled = run("compile")  # the project's resources/
    assert compiled.exit_code == 0, compiled.output
    # Only the two projections' warning that they page without order_by, as dataPi wrote them.
    warned = [line for line in compiled.stderr.splitlines() if not line.startswith("    ")]
    assert len(warned) == 2 and all("warning[DP0207]" in line for line in warned)
    assert compiled.stdout.splitlines()[-1] == "3 spec(s): 3 compiled, 0 failed"
    for name in ("sample-resource-projection", "sample-resource-reduction"):
        pod = datapi / "generated" / name
        source = json.loads((pod / "pod.json").read_text())["source"]
        assert (source["namespace"], source["table"]) == (["datapi_namespace"], "aggregate_sales")
        # Deployed where config.yml's deployment block says, its catalog config.yml's metastore.
        build = load(pod / "cloudbuild.yaml")["substitutions"]
        assert build["_PROJECT"] == original["deployment"]["project_id"]
        assert build["_REGION"] == original["deployment"]["region"]
        assert build["_REPOSITORY"] == "datapic"
        service = (pod / "service.yaml").read_text()
        assert original["metastore_uri"] in service
        assert CREDENTIAL not in service and CREDENTIAL not in (pod / "pod.json").read_text()


def test_each_change_is_said_and_made_on_its_line(datapi):
    before = (datapi / "config.yml").read_text().splitlines()
    result = run("init", "--from-datapi")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "changed config.yml: deployment.registry_url gcr.io/velascoluis-dev-sandbox -> "
        "us-central1-docker.pkg.dev/velascoluis-dev-sandbox/datapic (Container Registry is shut "
        "down; create the Artifact Registry repository 'datapic' in us-central1)"
    )
    assert lines[1].startswith("changed config.yml: metastore_credentials moved to .pyiceberg.yaml")
    assert not [line for line in lines if line.startswith("moved")]
    assert CREDENTIAL not in result.output
    after = (datapi / "config.yml").read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [
        (
            f"metastore_credentials: '{CREDENTIAL}'",
            "metastore_credentials: '${DATAPI_METASTORE_CREDENTIALS}'",
        ),
        (
            "  registry_url: 'gcr.io/velascoluis-dev-sandbox'",
            "  registry_url: 'us-central1-docker.pkg.dev/velascoluis-dev-sandbox/datapic'",
        ),
    ]
    # The credential now sits in the git-ignored pyiceberg configuration, as catalog default.
    catalog = load(datapi / ".pyiceberg.yaml")["catalog"]["default"]
    assert catalog == {
        "uri": "https://polaris-cr-sql-1063524325524.us-central1.run.app/api/catalog",
        "warehouse": "test_iceberg_catalog",
        "scope": "PRINCIPAL_ROLE:ALL",
        "credential": CREDENTIAL,
    }
    assert "/.pyiceberg.yaml" in (datapi / ".gitignore").read_text().splitlines()
    assert sorted(tree(datapi)) == [
        ".github/workflows/datapic.yml",
        ".gitignore",
        ".pyiceberg.yaml",
        "cloudbuild.yaml",
        "config.yml",
        "datapic.yaml",
        "resources/sample-resource-depends-datapod-docs.md",
        "resources/sample-resource-depends-datapod.yml",
        "resources/sample-resource-projection-docs.md",
        "resources/sample-resource-projection.yml",
        "resources/sample-resource-reduction-docs.md",
        "resources/sample-resource-reduction.yml",
    ]
    # The resources themselves are compiled as dataPi wrote them.
    for name in ("sample-resource-projection.yml", "sample-resource-reduction.yml"):
        assert (datapi / "resources" / name).read_bytes() == (
            ORIGINAL / "resources" / name
        ).read_bytes()


def test_converting_twice_changes_nothing_more(datapi):
    assert run("init", "--from-datapi").exit_code == 0
    converted = tree(datapi)
    again = run("init", "--from-datapi")
    assert again.exit_code == 0, again.output
    assert tree(datapi) == converted
    assert "nothing to change" in again.stdout


def test_an_existing_file_stops_the_conversion_before_any_change(datapi):
    (datapi / "cloudbuild.yaml").write_text("steps: []\n")
    before = tree(datapi)
    result = run("init", "--from-datapi")
    assert result.exit_code == 1
    assert "  cloudbuild.yaml" in result.stderr.splitlines()
    assert tree(datapi) == before
    assert run("init", "--from-datapi", "--force").exit_code == 0
    assert load(datapi / "cloudbuild.yaml")["steps"][0]["id"] == "install"


def test_a_folder_without_a_datapi_project_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", "--from-datapi")
    assert result.exit_code == 2
    assert "holds neither config.yml nor resources/: not a dataPi project" in result.stderr
