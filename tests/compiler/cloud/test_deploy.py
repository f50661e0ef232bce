"""`datapic deploy` against a loopback stand-in for Cloud Storage, Cloud Build and Cloud Run.

The real google-cloud clients (REST transport, anonymous credentials) talk to gcp_fake; the
tests assert the exact requests they send and how each kind of error answer is reported.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from gcp_fake import FORBIDDEN, INTERNAL, NOT_FOUND, google_error, serving
from google.cloud.devtools.cloudbuild_v1 import Build

from compiler.artifacts.podhash import compiled_hash, pod_files
from compiler.cli import main
from compiler.cloud.deploy import source_archive
from compiler.pipeline import compile_spec

ROOT = Path(__file__).resolve().parents[3]
PROJECT, REGION = "test-proj", "europe-west4"
LOCATION = f"/v1/projects/{PROJECT}/locations/{REGION}"
OPERATION = "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata"
URL = "https://large-orders-abc123-ez.a.run.app"


def _write(files: dict[str, bytes], target: Path) -> Path:
    for relative, content in files.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(content)
    return target


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    result = compile_spec(ROOT / "examples" / "large-orders.yaml")
    return _write(result.files, tmp_path / "large-orders")


def _script_success(fake, steps=("build", "push", "resolve-service", "deploy")) -> None:
    fake.on(
        "POST",
        rf"/upload/storage/v1/b/{PROJECT}_cloudbuild/o",
        (200, {"bucket": f"{PROJECT}_cloudbuild", "name": "x", "generation": "1"}),
    )
    fake.on(
        "POST",
        rf"{LOCATION}/builds",
        (
            200,
            {
                "name": f"projects/{PROJECT}/locations/{REGION}/operations/op-1",
                "metadata": {"@type": OPERATION, "build": {"id": "b-1", "status": "QUEUED"}},
            },
        ),
    )

    def build(status, done):
        return 200, {
            "id": "b-1",
            "status": status,
            "logUrl": "https://console.cloud.google.com/cloud-build/builds/b-1",
            "steps": [
                {"id": s, "name": "x", "status": "SUCCESS" if i < done else "QUEUED"}
                for i, s in enumerate(steps)
            ],
        }

    fake.on(
        "GET",
        rf"{LOCATION}/builds/b-1",
        build("QUEUED", 0),
        build("WORKING", 1),
        build("WORKING", 3),
        build("SUCCESS", 4),
    )
    fake.on(
        "GET",
        rf"/v2/projects/{PROJECT}/locations/{REGION}/services/large-orders",
        (200, {"name": "large-orders", "uri": URL}),
    )


def _deploy(fake, pod: Path, *extra: str):
    args = ["deploy", str(pod), "--project", PROJECT, "--region", REGION, "--poll-interval", "0"]
    return CliRunner().invoke(
        main, [*args, "--api-endpoint", fake.url, "--anonymous", *extra], catch_exceptions=False
    )


def test_dry_run_prints_the_requests_and_sends_none(pod: Path) -> None:
    with serving() as fake:
        result = _deploy(fake, pod, "--dry-run")
        assert fake.requests == []
    assert result.exit_code == 0, result.output
    (planned,) = json.loads(result.stdout)
    requests = planned["requests"]
    archive = source_archive(pod)
    digest = hashlib.sha256(archive).hexdigest()
    bucket = f"{PROJECT}_cloudbuild"
    assert [(r["method"], urlsplit(r["url"]).path) for r in requests] == [
        ("POST", f"/upload/storage/v1/b/{bucket}/o"),
        ("POST", f"{LOCATION}/builds"),
        ("GET", f"{LOCATION}/builds/BUILD_ID"),
        ("GET", f"/v2/projects/{PROJECT}/locations/{REGION}/services/large-orders"),
    ]
    assert requests[0]["body"] == {
        "name": f"source/large-orders-{digest[:16]}.tgz",
        "contentType": "application/gzip",
        "size": len(archive),
        "sha256": digest,
    }
    build = requests[1]["body"]
    assert build["source"] == {
        "storageSource": {"bucket": bucket, "object": f"source/large-orders-{digest[:16]}.tgz"}
    }
    assert build["substitutions"]["_PROJECT"] == PROJECT
    assert build["substitutions"]["_REGION"] == REGION
    assert build["substitutions"]["_TAG"] == compiled_hash(pod_files(pod))[:16]
    assert build["substitutions"]["_REPOSITORY"] == "datapic"


def test_dry_run_needs_no_credentials_and_defaults_to_googles_hosts(pod, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    result = CliRunner().invoke(main, ["deploy", str(pod), "--project", PROJECT, "--dry-run"])
    assert result.exit_code == 0, result.output
    urls = [r["url"] for r in json.loads(result.stdout)[0]["requests"]]
    assert urls[0].startswith("https://storage.googleapis.com/upload/storage/v1/b/")
    assert urls[1] == (
        "https://cloudbuild.googleapis.com/v1/projects/test-proj/locations/europe-west1/builds"
    )


def test_deploy_sends_exactly_the_dry_run_requests(pod: Path) -> None:
    with serving() as fake:
        planned = json.loads(_deploy(fake, pod, "--dry-run").stdout)[0]["requests"]
        _script_success(fake)
        result = _deploy(fake, pod)
    assert result.exit_code == 0, result.output
    assert f"deployed large-orders: {URL}" in result.stdout
    assert "1 pod(s): 1 deployed, 0 failed" in result.stdout
    # The progress display: one line per change of state, on stderr.
    assert "QUEUED 0/4 steps" in result.stderr and "SUCCESS 4/4 steps" in result.stderr

    paths = [urlsplit(r["url"]).path for r in planned]
    poll = paths[2].replace("BUILD_ID", "b-1")
    assert fake.calls() == [
        ("POST", paths[0]),
        ("POST", paths[1]),
        *[("GET", poll)] * 4,
        ("GET", paths[3]),
    ]
    upload, create = fake.requests[0], fake.requests[1]
    assert upload.query["uploadType"] == ["multipart"] and upload.query["ifGenerationMatch"] == [
        "0"
    ]
    metadata, data = upload.multipart()
    assert metadata["name"] == planned[0]["body"]["name"]
    assert hashlib.sha256(data).hexdigest() == planned[0]["body"]["sha256"]
    assert data == source_archive(pod)
    sent = Build.from_json(create.body, ignore_unknown_fields=False)
    assert sent == Build.from_json(json.dumps(planned[1]["body"]))
    assert [step.id for step in sent.steps] == ["build", "push", "resolve-service", "deploy"]


def test_an_existing_archive_is_not_uploaded_again(pod: Path) -> None:
    with serving() as fake:
        fake.on("POST", r"/upload/.*", google_error(412, "conditionNotMet", "FAILED_PRECONDITION"))
        _script_success(fake)
        result = _deploy(fake, pod)
    assert result.exit_code == 0, result.output
    assert "(already there)" in result.stderr


@pytest.mark.parametrize(
    ("method", "route", "answer", "expected"),
    [
        (
            "POST",
            r"/upload/.*",
            FORBIDDEN,
            "permission denied (403: The caller does not have permission); the caller needs "
            "roles/storage.objectCreator on the bucket",
        ),
        (
            "POST",
            r"/upload/.*",
            google_error(404, "The specified bucket does not exist.", "NOT_FOUND"),
            "not found (404: The specified bucket does not exist.); create "
            "gs://test-proj_cloudbuild",
        ),
        ("POST", r"/upload/.*", INTERNAL, "Google Cloud answered 500: Internal error encountered."),
        (
            "POST",
            rf"{LOCATION}/builds",
            FORBIDDEN,
            "creating the build in projects/test-proj/locations/europe-west4: permission denied "
            "(403: The caller does not have permission); the caller needs "
            "roles/cloudbuild.builds.editor",
        ),
        ("POST", rf"{LOCATION}/builds", NOT_FOUND, "is the Cloud Build API enabled"),
        ("POST", rf"{LOCATION}/builds", INTERNAL, "Google Cloud answered 500"),
        ("GET", rf"{LOCATION}/builds/b-1", FORBIDDEN, "reading build b-1: permission denied"),
        (
            "GET",
            r"/v2/.*",
            NOT_FOUND,
            "the build succeeded but Cloud Run has no URL for large-orders",
        ),
    ],
)
def test_error_answers_are_one_clear_line(pod, method, route, answer, expected) -> None:
    with serving() as fake:
        fake.on(method, route, answer)  # checked first, so it wins over the success script
        _script_success(fake)
        result = _deploy(fake, pod)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failures) == 1 and expected in failures[0], result.stdout


def test_a_failed_build_names_its_logs(pod: Path) -> None:
    with serving() as fake:
        fake.on(
            "GET",
            rf"{LOCATION}/builds/b-1",
            (
                200,
                {
                    "id": "b-1",
                    "status": "FAILURE",
                    "statusDetail": "step push failed",
                    "logUrl": "https://logs/b-1",
                },
            ),
        )
        _script_success(fake)
        result = _deploy(fake, pod)
    assert result.exit_code == 1
    assert (
        "FAILED  large-orders: build b-1 ended FAILURE (step push failed); logs: "
        "https://logs/b-1" in result.stdout
    )
    assert (
        "GET",
        "/v2/projects/test-proj/locations/europe-west4/services/large-orders",
    ) not in fake.calls()


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    """An environment where Application Default Credentials find nothing, quickly."""
    for name in list(os.environ):
        if name.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.delenv("DATAPIC_ANONYMOUS_CREDENTIALS", raising=False)


def test_missing_credentials_is_one_clear_line(pod: Path, no_credentials) -> None:
    with serving() as fake:
        result = CliRunner().invoke(
            main,
            ["deploy", str(pod), "--project", PROJECT, "--api-endpoint", fake.url],
            catch_exceptions=False,
        )
        assert fake.requests == []
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: no Google Cloud credentials found: run `gcloud auth application-default login`,"
        " or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
    ]


def test_not_a_pod_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["deploy", str(tmp_path), "--project", PROJECT])
    assert result.exit_code == 2 and "not a pod directory" in result.stderr
    assert "Traceback" not in result.output


def test_project_comes_from_the_pod_when_not_given(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "resource_name: p\ndepends_on: [{namespace: s, table: t}]\nselect: [a]\n"
        "deploy:\n  project: pinned-proj\n  region: us-east1\n"
    )
    pod = _write(compile_spec(spec).files, tmp_path / "p")
    result = CliRunner().invoke(main, ["deploy", str(pod), "--dry-run"])
    assert result.exit_code == 0, result.output
    create = json.loads(result.stdout)[0]["requests"][1]["url"]
    assert create.endswith("/v1/projects/pinned-proj/locations/us-east1/builds")

    unpinned = _write(compile_spec(ROOT / "examples" / "large-orders.yaml").files, tmp_path / "u")
    result = CliRunner().invoke(main, ["deploy", str(unpinned), "--dry-run"])
    assert result.exit_code == 2 and "no project: pass --project" in result.stderr


def test_source_archive_is_deterministic_and_leaves_out_local_files(tmp_path: Path) -> None:
    files = compile_spec(ROOT / "examples" / "large-orders.yaml").files
    first = _write(files, tmp_path / "a" / "large-orders")
    second = _write(files, tmp_path / "b" / "large-orders")
    os.utime(second / "pod.json", (1, 1))
    (second / ".pyiceberg.yaml").write_text("catalog: {default: {credential: x:y}}\n")
    (second / "__pycache__").mkdir()
    (second / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    archive = source_archive(first)
    assert source_archive(second) == archive
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and "Dockerfile" in names and "service.yaml" in names
    assert ".pyiceberg.yaml" not in names and not any("__pycache__" in n for n in names)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {(0, 0, 0, "", 0o644)}


def test_local_settings_change_neither_the_image_tag_nor_the_upload(tmp_path: Path) -> None:
    from compiler.cloud.deploy import plan

    files = compile_spec(ROOT / "examples" / "large-orders.yaml").files
    clean = _write(files, tmp_path / "a" / "large-orders")
    local = _write(files, tmp_path / "b" / "large-orders")
    (local / ".env").write_text("TOKEN=x\n")
    (local / ".env.prod").write_text("TOKEN=y\n")
    (local / ".pyiceberg.yaml").write_text("catalog: {default: {credential: a:b}}\n")
    first, second = plan(clean, "p-1234", "europe-west1"), plan(local, "p-1234", "europe-west1")
    assert second.build.substitutions["_TAG"] == first.build.substitutions["_TAG"]
    assert second.archive == first.archive


@pytest.mark.parametrize(
    ("option", "value"),
    [("--project", "p/../../x"), ("--project", "Proj?x=1"), ("--region", "eu/west")],
)
def test_a_bad_project_or_region_is_one_line(pod: Path, option, value) -> None:
    result = CliRunner().invoke(main, ["deploy", str(pod), option, value, "--dry-run"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f'error: {option[2:]} "{value}" is not a Google Cloud {option[2:]}')
    assert result.stdout == ""
