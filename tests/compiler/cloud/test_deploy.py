"""`datapic deploy` against a loopback stand-in for Secret Manager, Cloud Storage, Cloud Build
and Cloud Run.

The real google-cloud clients (REST transport, anonymous credentials) talk to gcp_fake; the
tests assert the exact requests they send and how each kind of error answer is reported.
"""

from __future__ import annotations

import base64
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
from gcp_fake import FORBIDDEN, INTERNAL, NOT_FOUND, SecretManager, google_error, serving
from google.cloud.devtools.cloudbuild_v1 import Build

from compiler.artifacts.podhash import compiled_hash, pod_files
from compiler.cli import main
from compiler.cloud.deploy import source_archive, upstreams_first
from compiler.pipeline import compile_spec, compile_specs

ROOT = Path(__file__).resolve().parents[3]
PROJECT, REGION = "test-proj", "europe-west4"
LOCATION = f"/v1/projects/{PROJECT}/locations/{REGION}"
OPERATION = "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata"
URL = "https://large-orders-abc123-ez.a.run.app"
SECRETS = f"/v1/projects/{PROJECT}/secrets"
TOKEN_SECRET = "large-orders-page-token"


def _write(files: dict[str, bytes], target: Path) -> Path:
    for relative, content in files.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(content)
    return target


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    result = compile_spec(ROOT / "examples" / "large-orders.yaml")
    return _write(result.files, tmp_path / "large-orders")


def _script_success(
    fake, steps=("build", "push", "resolve-service", "deploy"), secrets=None
) -> SecretManager:
    """Every call answered as a first deploy that works; the Secret Manager it talked to."""
    secrets = secrets or SecretManager(PROJECT)
    secrets.install(fake)
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
    return secrets


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
        ("GET", f"{SECRETS}/{TOKEN_SECRET}"),
        ("POST", SECRETS),
        ("POST", f"{SECRETS}/{TOKEN_SECRET}:addVersion"),
        ("GET", f"{SECRETS}/{TOKEN_SECRET}/versions"),
        ("POST", f"/upload/storage/v1/b/{bucket}/o"),
        ("POST", f"{LOCATION}/builds"),
        ("GET", f"{LOCATION}/builds/BUILD_ID"),
        ("GET", f"/v2/projects/{PROJECT}/locations/{REGION}/services/large-orders"),
    ]
    assert [r.get("when", "always")[:7] for r in requests[:4]] == ["always", *["only if"] * 3]
    assert requests[1]["body"] == {
        "replication": {"automatic": {}},
        "labels": {"datapic-pod": "large-orders"},
    }
    requests = requests[4:]
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
    assert urls[0] == (
        "https://secretmanager.googleapis.com/v1/projects/test-proj/secrets/large-orders-page-token"
    )
    urls = urls[4:]
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

    # A first deploy: the page-token secret is absent, so it is created with a version.
    secret_paths = [urlsplit(r["url"]).path for r in planned[:3]]
    paths = [urlsplit(r["url"]).path for r in planned[4:]]
    poll = paths[2].replace("BUILD_ID", "b-1")
    assert fake.calls() == [
        ("GET", secret_paths[0]),
        ("POST", secret_paths[1]),
        ("POST", secret_paths[2]),
        ("POST", paths[0]),
        ("POST", paths[1]),
        *[("GET", poll)] * 4,
        ("GET", paths[3]),
    ]
    upload, create = fake.requests[3], fake.requests[4]
    assert upload.query["uploadType"] == ["multipart"] and upload.query["ifGenerationMatch"] == [
        "0"
    ]
    metadata, data = upload.multipart()
    assert metadata["name"] == planned[4]["body"]["name"]
    assert hashlib.sha256(data).hexdigest() == planned[4]["body"]["sha256"]
    assert data == source_archive(pod)
    sent = Build.from_json(create.body, ignore_unknown_fields=False)
    assert sent == Build.from_json(json.dumps(planned[5]["body"]))
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
        (
            "GET",
            rf"{SECRETS}/{TOKEN_SECRET}",
            FORBIDDEN,
            "reading secret large-orders-page-token in projects/test-proj: permission denied "
            "(403: The caller does not have permission); the caller needs "
            "roles/secretmanager.viewer",
        ),
        (
            "POST",
            SECRETS,
            FORBIDDEN,
            "creating secret large-orders-page-token in projects/test-proj: permission denied "
            "(403: The caller does not have permission); the caller needs "
            "roles/secretmanager.admin (secretmanager.secrets.create)",
        ),
        (
            "POST",
            rf"{SECRETS}/{TOKEN_SECRET}:addVersion",
            FORBIDDEN,
            "adding a version to secret large-orders-page-token: permission denied (403: The "
            "caller does not have permission); the caller needs roles/secretmanager.admin "
            "(secretmanager.versions.add)",
        ),
        ("POST", SECRETS, INTERNAL, "Google Cloud answered 500: Internal error encountered."),
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
    create = json.loads(result.stdout)[0]["requests"][5]["url"]
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


def _key(secrets: SecretManager) -> bytes:
    (value,) = secrets.versions[TOKEN_SECRET]
    return value


def test_the_first_deploy_creates_the_page_token_secret_and_one_random_key(
    pod: Path, caplog
) -> None:
    caplog.set_level("DEBUG")
    with serving() as fake:
        secrets = _script_success(fake)
        result = _deploy(fake, pod)
    assert result.exit_code == 0, result.output
    assert secrets.secrets[TOKEN_SECRET]["replication"] == {"automatic": {}}
    assert secrets.secrets[TOKEN_SECRET]["labels"] == {"datapic-pod": "large-orders"}
    key = _key(secrets)
    assert len(base64.urlsafe_b64decode(key + b"=" * (-len(key) % 4))) == 32
    assert f"large-orders: created secret {TOKEN_SECRET}" in result.stderr
    assert "roles/secretmanager.secretAccessor" in result.stderr
    # Nothing but the one request that stores it ever holds the key.
    text = key.decode()
    assert text not in result.output and text not in caplog.text
    (add,) = [r for r in fake.requests if r.path.endswith(":addVersion")]
    holding = [r for r in fake.requests if key in r.body or base64.b64encode(key) in r.body]
    assert holding == [add]
    assert json.loads(add.body) == {"payload": {"data": base64.b64encode(key).decode()}}

    with serving() as fake:
        other = _script_success(fake)
        _deploy(fake, pod)
    assert _key(other) != key


def test_a_second_deploy_leaves_the_secret_alone(pod: Path) -> None:
    with serving() as fake:
        secrets = _script_success(fake)
        _deploy(fake, pod)
    key, metadata = _key(secrets), dict(secrets.secrets[TOKEN_SECRET])
    with serving() as fake:
        _script_success(fake, secrets=secrets)
        result = _deploy(fake, pod)
        secret_calls = [c for c in fake.calls() if c[1].startswith(SECRETS)]
    assert result.exit_code == 0, result.output
    assert secret_calls == [
        ("GET", f"{SECRETS}/{TOKEN_SECRET}"),
        ("GET", f"{SECRETS}/{TOKEN_SECRET}/versions"),
    ]
    assert _key(secrets) == key and secrets.secrets[TOKEN_SECRET] == metadata
    assert f"secret {TOKEN_SECRET} exists (kept" in result.stderr


def test_a_secret_left_without_a_version_gets_its_first(pod: Path) -> None:
    secrets = SecretManager(PROJECT)
    secrets.secrets[TOKEN_SECRET] = {"name": TOKEN_SECRET}
    secrets.versions[TOKEN_SECRET] = []
    with serving() as fake:
        _script_success(fake, secrets=secrets)
        result = _deploy(fake, pod)
    assert result.exit_code == 0, result.output
    assert len(secrets.versions[TOKEN_SECRET]) == 1
    assert f"secret {TOKEN_SECRET} had no version: added one" in result.stderr


def test_a_refused_secret_stops_the_pod_before_anything_is_uploaded(pod: Path) -> None:
    with serving() as fake:
        fake.on("POST", SECRETS, FORBIDDEN)
        _script_success(fake)
        result = _deploy(fake, pod)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "FAILED  large-orders: creating secret large-orders-page-token in projects/test-proj: "
        "permission denied (403: The caller does not have permission); the caller needs "
        "roles/secretmanager.admin (secretmanager.secrets.create)"
    )
    assert not [c for c in fake.calls() if not c[1].startswith(SECRETS)]


def test_a_pod_keyed_by_a_secret_of_its_own_spec_makes_no_secret_calls(tmp_path: Path) -> None:
    spec = tmp_path / "large-orders.yaml"
    spec.write_text(
        (ROOT / "examples" / "large-orders.yaml")
        .read_text()
        .replace("  secrets:\n", "  secrets:\n    DATAPIC_PAGE_TOKEN_SECRET: team-key\n")
    )
    result = compile_spec(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    own = _write(result.files, tmp_path / "large-orders")
    with serving() as fake:
        _script_success(fake)
        deployed = _deploy(fake, own)
        assert not [c for c in fake.calls() if c[1].startswith(SECRETS)]
    assert deployed.exit_code == 0, deployed.output
    planned = json.loads(_deploy(fake, own, "--dry-run").stdout)[0]["requests"]
    assert not [r for r in planned if "secretmanager" in r["url"] or SECRETS in r["url"]]


def test_upstreams_deploy_first(tmp_path: Path, monkeypatch) -> None:
    """A pod reading a pod looks up its upstream's URL while it builds: given in any order, the
    upstream is deployed (here: planned) first."""
    monkeypatch.chdir(ROOT)
    results = compile_specs(
        [
            ROOT / "examples" / "large-orders-by-product.yaml",
            ROOT / "examples" / "large-orders.yaml",
        ]
    )
    down = _write(results[0].files, tmp_path / "large-orders-by-product")
    up = _write(results[1].files, tmp_path / "large-orders")
    assert upstreams_first((down, up)) == [up, down]
    assert upstreams_first((up, down)) == [up, down]
    arguments = ["deploy", str(down), str(up), "--project", PROJECT, "--dry-run"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert [p["pod"] for p in json.loads(result.stdout)] == [up.as_posix(), down.as_posix()]
