"""`datapic status` against a loopback stand-in for the Cloud Run v2 REST API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from gcp_fake import FORBIDDEN, INTERNAL, serving

from compiler.artifacts.podhash import LABEL, compiled_hash, pod_files
from compiler.cli import main
from compiler.pipeline import compile_spec

ROOT = Path(__file__).resolve().parents[3]
PROJECT, REGION = "test-proj", "europe-west1"
SERVICES = f"/v2/projects/{PROJECT}/locations/{REGION}/services"


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """The example pods, compiled into a fresh generated/."""
    root = tmp_path / "generated"
    for spec in sorted((ROOT / "examples").glob("*.yaml")):
        result = compile_spec(spec)
        for relative, content in result.files.items():
            target = root / result.pod.name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    return root


def _service(name: str, hash_label: str | None, state: str = "CONDITION_SUCCEEDED") -> dict:
    labels = {"datapic-pod": name} | ({LABEL: hash_label} if hash_label else {})
    return {
        "name": f"projects/{PROJECT}/locations/{REGION}/services/{name}",
        "uri": f"https://{name}-abc-ew.a.run.app",
        "labels": labels,
        "latestReadyRevision": f"projects/{PROJECT}/locations/{REGION}/revisions/{name}-00003-xyz",
        "terminalCondition": {"type": "Ready", "state": state},
    }


def _status(fake, root: Path, *extra: str):
    return CliRunner().invoke(
        main,
        [
            "status",
            str(root),
            "--project",
            PROJECT,
            "--api-endpoint",
            fake.url,
            "--anonymous",
            *extra,
        ],
        catch_exceptions=False,
    )


def test_status_compares_each_pod_with_its_service(generated: Path) -> None:
    current = compiled_hash(pod_files(generated / "large-orders"))
    with serving() as fake:
        fake.on(
            "GET",
            SERVICES,
            (200, {"services": [_service("large-orders", current)], "nextPageToken": "p2"}),
            (
                200,
                {
                    "services": [
                        _service("emea-sales-by-quarter", "0" * 40, state="CONDITION_FAILED"),
                        _service("unrelated", None),
                    ]
                },
            ),
        )
        result = _status(fake, generated, "--json")
        # One listing per project and region (two pages), not one call per pod.
        assert fake.calls() == [("GET", SERVICES), ("GET", SERVICES)]
        assert fake.requests[1].query["pageToken"] == ["p2"]
    assert result.exit_code == 0, result.output
    rows = {row["pod"]: row for row in json.loads(result.stdout)}
    assert rows["large-orders"] | {"local_hash": None} == {
        "pod": "large-orders",
        "service": "large-orders",
        "project": PROJECT,
        "region": REGION,
        "state": "up to date",
        "ready": "yes",
        "revision": "large-orders-00003-xyz",
        "url": "https://large-orders-abc-ew.a.run.app",
        "deployed_hash": current,
        "local_hash": None,
    }
    assert rows["emea-sales-by-quarter"]["state"] == "stale"
    assert rows["emea-sales-by-quarter"]["ready"] == "no"
    assert rows["datapi-legacy-sales"]["state"] == "not deployed"
    assert rows["datapi-legacy-sales"]["url"] == "-"


def test_a_changed_pod_becomes_stale(generated: Path) -> None:
    deployed = compiled_hash(pod_files(generated / "large-orders"))
    pod_json = generated / "large-orders" / "pod.json"
    pod_json.write_text(pod_json.read_text() + "\n")  # any byte of change counts
    with serving() as fake:
        fake.on("GET", SERVICES, (200, {"services": [_service("large-orders", deployed)]}))
        result = _status(fake, generated, "--check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["POD", "STATE", "READY", "REVISION", "URL"]
    (row,) = [line for line in lines if line.startswith("large-orders")]
    assert row.split()[1] == "stale"


def test_check_passes_when_everything_is_up_to_date(generated: Path) -> None:
    services = [
        _service(pod.name, compiled_hash(pod_files(pod))) for pod in sorted(generated.iterdir())
    ]
    with serving() as fake:
        fake.on("GET", SERVICES, (200, {"services": services}))
        result = _status(fake, generated, "--check")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("up to date") == len(list(generated.iterdir()))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            FORBIDDEN,
            "error: listing Cloud Run services in projects/test-proj/locations/europe-west1: "
            "permission denied (403: The caller does not have permission); the caller needs "
            "roles/run.viewer",
        ),
        (
            INTERNAL,
            "error: listing Cloud Run services in projects/test-proj/locations/europe-west1: "
            "Google Cloud answered 500: Internal error encountered.",
        ),
    ],
)
def test_api_errors_are_one_clear_line(generated: Path, answer, expected) -> None:
    with serving() as fake:
        fake.on("GET", SERVICES, answer)
        result = _status(fake, generated)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [expected]
    assert result.stdout == ""


def test_missing_credentials_is_one_clear_line(generated: Path, tmp_path, monkeypatch) -> None:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "DATAPIC_ANONYMOUS_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    result = CliRunner().invoke(main, ["status", str(generated), "--project", PROJECT])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no Google Cloud credentials found: run `gcloud auth")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_no_project_is_one_clear_line(generated: Path, monkeypatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    with serving() as fake:
        result = CliRunner().invoke(
            main, ["status", str(generated), "--api-endpoint", fake.url, "--anonymous"]
        )
        assert fake.requests == []
    assert result.exit_code == 1
    assert "no project: pass --project" in result.stderr


def test_an_empty_folder_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", str(tmp_path), "--anonymous"])
    assert result.exit_code == 1 and "no pods in" in result.stderr


def test_local_settings_in_a_pod_folder_leave_it_up_to_date(generated: Path) -> None:
    """.env and .pyiceberg.yaml are never uploaded (deploy.py), so they cannot make the
    deployed pod stale; the label written at compile time must still match."""
    pod = generated / "large-orders"
    label = (pod / "service.yaml").read_bytes()
    (pod / ".env").write_text("TOKEN=x\n")
    (pod / ".env.local").write_text("TOKEN=y\n")
    (pod / ".pyiceberg.yaml").write_text("catalog: {default: {credential: a:b}}\n")
    (pod / ".venv" / "bin").mkdir(parents=True)
    (pod / ".venv" / "bin" / "python").write_text("#!\n")
    from compiler.artifacts.podhash import recorded_hash

    assert compiled_hash(pod_files(pod)) == recorded_hash(label)


def test_the_pod_ignore_files_list_every_local_only_pattern(generated: Path) -> None:
    from compiler.artifacts.podhash import LOCAL_ONLY

    for name in (".gcloudignore", ".dockerignore"):
        lines = (generated / "large-orders" / name).read_text().splitlines()
        listed = {line.removeprefix("**/").rstrip("/") for line in lines}
        assert set(LOCAL_ONLY) <= listed, name


@pytest.mark.parametrize(
    ("option", "value"),
    [("--project", "p/../../x"), ("--project", "Proj?x=1"), ("--region", "eu/west")],
)
def test_a_bad_project_or_region_is_one_line_before_any_request(
    generated: Path, option, value
) -> None:
    with serving() as fake:
        result = CliRunner().invoke(
            main,
            ["status", str(generated), option, value, "--api-endpoint", fake.url, "--anonymous"],
        )
        assert fake.requests == []
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f'error: {option[2:]} "{value}" is not a Google Cloud {option[2:]}')
