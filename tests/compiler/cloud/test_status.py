"""`datapic status` against a loopback stand-in for the Cloud Run v2 REST API."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from gcp_fake import FORBIDDEN, INTERNAL, serving

from compiler.artifacts.podhash import LABEL, compiled_hash, pod_files
from compiler.cli import main
from compiler.pipeline import compile_specs

ROOT = Path(__file__).resolve().parents[3]
PROJECT, REGION = "test-proj", "europe-west1"
SERVICES = f"/v2/projects/{PROJECT}/locations/{REGION}/services"


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """The example pods, compiled into a fresh generated/."""
    root = tmp_path / "generated"
    for result in compile_specs(sorted((ROOT / "examples").glob("*.yaml"))):
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
        "spec": "examples/large-orders.yaml",
        "catalog": "default",
        "table": "sales.orders",
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
    header = ["POD", "HASH", "SPEC", "TABLE", "STATE", "READY", "REVISION", "URL"]
    assert lines[0].split() == header
    (row,) = [line for line in lines if line.startswith("large-orders ")]
    assert row.split()[4] == "stale"


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


@pytest.fixture
def no_credentials(tmp_path, monkeypatch) -> None:
    """No Google credentials anywhere: no key file, no gcloud login, no metadata server."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "DATAPIC_ANONYMOUS_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


def _local_columns(generated: Path) -> list[list[str]]:
    """POD, HASH, SPEC, TABLE of each pod, read from its own files: the hash from the label
    service.yaml got at compile time, spec and table from pod.json."""
    from compiler.artifacts.podhash import recorded_hash

    rows = []
    for pod in sorted(generated.iterdir()):
        compiled = json.loads((pod / "pod.json").read_text())
        source = compiled["source"]
        table = ".".join([*source["namespace"], source["table"]])
        label = recorded_hash((pod / "service.yaml").read_bytes())
        rows.append([pod.name, label[:12], compiled["spec"]["path"], table])
    return rows


def test_without_credentials_the_local_pods_are_listed(generated: Path, no_credentials) -> None:
    result = CliRunner().invoke(main, ["status", str(generated), "--project", PROJECT])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["POD", "HASH", "SPEC", "TABLE"]
    assert [line.split() for line in lines[1:]] == _local_columns(generated)
    (note,) = result.stderr.splitlines()
    assert note.startswith(
        "note: without Cloud Run's columns: no Google Cloud credentials found: run `gcloud auth"
    )


def test_without_credentials_json_has_no_cloud_run_fields(generated: Path, no_credentials) -> None:
    result = CliRunner().invoke(main, ["status", str(generated), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [[r["pod"], r["local_hash"][:12], r["spec"], r["table"]] for r in rows] == (
        _local_columns(generated)
    )
    cloud = ("state", "ready", "revision", "url", "deployed_hash")
    assert all(row[key] is None for row in rows for key in cloud)


def test_check_without_credentials_is_one_clear_line(generated: Path, no_credentials) -> None:
    result = CliRunner().invoke(main, ["status", str(generated), "--project", PROJECT, "--check"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no Google Cloud credentials found: run `gcloud auth")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert result.stdout == ""


def test_without_the_google_clients_the_note_says_how_to_get_them(
    generated: Path, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.run_v2", None)  # as when not installed
    result = CliRunner().invoke(main, ["status", str(generated), "--anonymous"])
    assert result.exit_code == 0, result.output
    assert "pip install 'datapic[deploy]'" in result.stderr
    assert [line.split() for line in result.stdout.splitlines()[1:]] == _local_columns(generated)


def test_offline_asks_nothing(generated: Path) -> None:
    with serving() as fake:
        result = CliRunner().invoke(
            main,
            ["status", str(generated), "--offline", "--api-endpoint", fake.url, "--anonymous"],
        )
        assert fake.requests == []
    assert result.exit_code == 0 and result.stderr == ""
    assert [line.split() for line in result.stdout.splitlines()[1:]] == _local_columns(generated)
    both = CliRunner().invoke(main, ["status", str(generated), "--offline", "--check"])
    assert both.exit_code == 2
    assert both.stderr == "error: --check compares with Cloud Run: it cannot be --offline\n"


def test_no_project_lists_the_local_pods(generated: Path, monkeypatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    with serving() as fake:
        arguments = ["status", str(generated), "--api-endpoint", fake.url, "--anonymous"]
        listed = CliRunner().invoke(main, arguments)
        checked = CliRunner().invoke(main, [*arguments, "--check"])
        assert fake.requests == []
    assert listed.exit_code == 0
    assert "note: without Cloud Run's columns:" in listed.stderr
    assert "no project: pass --project" in listed.stderr
    assert checked.exit_code == 1
    assert "error:" in checked.stderr and "no project: pass --project" in checked.stderr


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


def test_an_unreachable_cloud_run_lists_the_local_pods(generated: Path) -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    arguments = ["status", str(generated), "--project", PROJECT, "--api-endpoint", endpoint]
    result = CliRunner().invoke(main, [*arguments, "--anonymous"])
    assert result.exit_code == 0, result.output
    (note,) = result.stderr.splitlines()
    assert note.startswith(
        "note: without Cloud Run's columns: listing Cloud Run services in "
        f"projects/{PROJECT}/locations/{REGION}: cannot reach Google Cloud"
    )
    assert [line.split() for line in result.stdout.splitlines()[1:]] == _local_columns(generated)
