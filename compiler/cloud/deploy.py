"""`datapic deploy`: submit pod directories to Cloud Build, as `gcloud builds submit` would.

For each pod: make sure its page-token secret exists (pagetoken.py: created once, never
rotated), pack the directory into a deterministic tar.gz, upload it to the project's Cloud
Build bucket (gs://PROJECT_cloudbuild/source/, content-addressed so a re-deploy of the same
pod uploads nothing new), create a regional build from the pod's own cloudbuild.yaml with the
substitutions for this environment, follow it until it ends, and report the service's URL.
`--dry-run` prints exactly those requests as JSON and sends none.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..artifacts.podhash import LOCAL_ONLY, compiled_hash, is_local_only, pod_files
from . import pagetoken
from .clients import SECRET_MANAGER, Cloud, CloudError, credentials, require_clients
from .options import PodError, check_location, cloud_options, env_project, fixed_project, reported

ARCHIVE_TYPE = "application/gzip"
GOOGLE_ENDPOINTS = {
    "storage": "https://storage.googleapis.com",
    "cloudbuild": "https://cloudbuild.googleapis.com",
    "run": "https://run.googleapis.com",
    "secretmanager": SECRET_MANAGER,
}
FINISHED = {"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"}
# What stays out of the uploaded source (the pod's .gcloudignore): the local-only files the hash
# leaves out too, and .gcloudignore itself, which is part of the pod (and its hash) but not of
# what Cloud Build needs.
_IGNORED = (*LOCAL_ONLY, ".gcloudignore")


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """One pod's deployment: the archive to upload and the build to create."""

    pod_dir: Path
    service: str
    project: str
    region: str
    bucket: str
    object_name: str
    archive: bytes
    build: Any  # google.cloud.devtools.cloudbuild_v1.Build
    token_secret: str | None = None  # the page-token secret deploy owns, if the pod uses it

    def requests(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """The HTTP requests deploying this pod sends, in order, as plain JSON data."""
        from google.protobuf.json_format import MessageToDict

        hosts = {k: endpoint or v for k, v in GOOGLE_ENDPOINTS.items()}
        location = f"projects/{self.project}/locations/{self.region}"
        return [
            *self._secret_requests(hosts["secretmanager"]),
            {
                "method": "POST",
                "url": f"{hosts['storage']}/upload/storage/v1/b/{self.bucket}/o"
                "?uploadType=multipart&ifGenerationMatch=0",
                "body": {
                    "name": self.object_name,
                    "contentType": ARCHIVE_TYPE,
                    "size": len(self.archive),
                    "sha256": hashlib.sha256(self.archive).hexdigest(),
                },
            },
            {
                "method": "POST",
                "url": f"{hosts['cloudbuild']}/v1/{location}/builds",
                "body": MessageToDict(type(self.build).pb(self.build)),
            },
            {
                "method": "GET",
                "url": f"{hosts['cloudbuild']}/v1/{location}/builds/BUILD_ID",
                "repeat": "until the build has finished",
            },
            {"method": "GET", "url": f"{hosts['run']}/v2/{location}/services/{self.service}"},
        ]

    def _secret_requests(self, host: str) -> list[dict[str, Any]]:
        """Making sure the page-token secret exists; the key itself is never shown."""
        if self.token_secret is None:
            return []
        secrets = f"{host}/v1/projects/{self.project}/secrets"
        secret = f"{secrets}/{self.token_secret}"
        absent = "only if the secret does not exist"
        return [
            {"method": "GET", "url": secret},
            {
                "method": "POST",
                "url": f"{secrets}?secretId={self.token_secret}",
                "body": {
                    "replication": {"automatic": {}},
                    "labels": {"datapic-pod": self.service},
                },
                "when": absent,
            },
            {
                "method": "POST",
                "url": f"{secret}:addVersion",
                "body": {"payload": {"data": "(32 random bytes, url-safe base64, made when sent)"}},
                "when": absent,
            },
            {
                "method": "GET",
                "url": f"{secret}/versions?pageSize=1",
                "when": "only if the secret exists (a version is added if it has none)",
            },
        ]


def source_archive(pod_dir: Path) -> bytes:
    """The pod directory as a tar.gz that depends only on the files' paths and bytes."""
    buffer = io.BytesIO()
    # mtime=0 and no file name in the gzip header; fixed owners, modes and times in the tar.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for relative, content in sorted(pod_files(pod_dir).items()):
            if _ignored(relative):
                continue
            info = tarfile.TarInfo(relative)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _ignored(relative: str) -> bool:
    return is_local_only(relative, _IGNORED)


def load_build(pod_dir: Path) -> Any:
    """The pod's cloudbuild.yaml as google-cloud-build's Build message (strictly parsed)."""
    from google.cloud.devtools.cloudbuild_v1 import Build
    from google.protobuf.json_format import ParseError

    path = pod_dir / "cloudbuild.yaml"
    if not (pod_dir / "service.yaml").is_file() or not path.is_file():
        raise PodError(f"{pod_dir}: not a pod directory (no cloudbuild.yaml and service.yaml)")
    try:
        document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
        return Build.from_json(json.dumps(document), ignore_unknown_fields=False)
    except (OSError, YAMLError, ParseError, TypeError, ValueError) as exc:
        raise PodError(f"{path}: not a valid Cloud Build config: {exc}") from None


def plan(pod_dir: Path, project: str | None, region: str | None) -> Plan:
    """What deploying `pod_dir` to `project`/`region` sends (None: the pod's own default)."""
    from google.cloud.devtools.cloudbuild_v1 import Build, Source, StorageSource

    build = load_build(pod_dir)
    defaults = dict(build.substitutions)
    project = project or env_project() or fixed_project(defaults.get("_PROJECT"))
    if not project:
        raise PodError(
            f"{pod_dir}: no project: pass --project (or set GOOGLE_CLOUD_PROJECT, or "
            "deploy.project in the spec or datapic.yaml)"
        )
    region = region or defaults.get("_REGION")
    if not region:
        raise PodError(f"{pod_dir}: no region: pass --region")
    service, token_secret = _service(pod_dir)
    archive = source_archive(pod_dir)
    digest = hashlib.sha256(archive).hexdigest()
    bucket = f"{project}_cloudbuild"
    object_name = f"source/{service}-{digest[:16]}.tgz"
    substitutions = {
        **defaults,
        "_PROJECT": project,
        "_REGION": region,
        # The image tag names the compiled form it holds: re-deploying it is idempotent.
        "_TAG": compiled_hash(pod_files(pod_dir))[:16],
    }
    request = Build.deserialize(Build.serialize(build))
    request.source = Source(storage_source=StorageSource(bucket=bucket, object_=object_name))
    request.substitutions = dict(sorted(substitutions.items()))
    return Plan(
        pod_dir=pod_dir,
        service=service,
        project=project,
        region=region,
        bucket=bucket,
        object_name=object_name,
        archive=archive,
        build=request,
        token_secret=token_secret,
    )


def _reads(pod_dir: Path) -> tuple[str | None, str | None]:
    """A pod directory's pod name and the pod it reads (None: a table), from its pod.json."""
    try:
        document = json.loads((pod_dir / "pod.json").read_text(encoding="utf-8"))
        return document.get("name"), (document.get("upstream") or {}).get("resource")
    except (OSError, ValueError, AttributeError):
        return None, None


def upstreams_first(pod_dirs: tuple[Path, ...]) -> list[Path]:
    """The pod directories, each after the one it reads when that is deployed too: a
    downstream's build looks up its upstream's URL, which exists once that is deployed."""
    reads = {pod_dir: _reads(pod_dir) for pod_dir in pod_dirs}
    by_name = {name: pod_dir for pod_dir, (name, _) in reads.items() if name}
    order: list[Path] = []

    def visit(pod_dir: Path, seen: frozenset[Path]) -> None:
        if pod_dir in order or pod_dir in seen:
            return
        upstream = by_name.get(reads[pod_dir][1])
        if upstream is not None:
            visit(upstream, seen | {pod_dir})
        order.append(pod_dir)

    for pod_dir in pod_dirs:
        visit(pod_dir, frozenset())
    return order


def _service(pod_dir: Path) -> tuple[str, str | None]:
    """The service's name and the page-token secret deploy owns for it (see pagetoken.py)."""
    try:
        document = YAML(typ="safe", pure=True).load((pod_dir / "service.yaml").read_text())
        name = document["metadata"]["name"]
    except (OSError, YAMLError, KeyError, TypeError) as exc:
        raise PodError(f"{pod_dir}/service.yaml: no metadata.name ({exc})") from None
    return name, pagetoken.managed_secret(document, name)


Progress = Callable[[str], None]


def run(plan: Plan, cloud: Cloud, progress: Progress, poll_seconds: float, timeout: float) -> str:
    """Deploy one planned pod; the service's URL. Raises CloudError with one line."""
    if plan.token_secret is not None:
        pagetoken.ensure(cloud, plan.token_secret, plan.service, progress)
    new = cloud.upload(plan.bucket, plan.object_name, plan.archive, ARCHIVE_TYPE)
    progress(f"source gs://{plan.bucket}/{plan.object_name}" + ("" if new else " (already there)"))
    build_id = cloud.create_build(plan.build)
    progress(f"build {build_id} created")
    deadline = time.monotonic() + timeout
    shown = None
    while True:
        build = cloud.get_build(build_id)
        status = build.status.name
        steps = list(build.steps)
        done = sum(step.status.name == "SUCCESS" for step in steps)
        running = next((s.id or s.name for s in steps if s.status.name == "WORKING"), "")
        line = f"{status} {done}/{len(steps)} steps" + (f", {running}" if running else "")
        if line != shown:
            progress(line)
            shown = line
        if status in FINISHED:
            break
        if time.monotonic() > deadline:
            raise CloudError(
                f"build {build_id} still {status} after {timeout:.0f} s: {build.log_url}"
            )
        time.sleep(poll_seconds)
    if status != "SUCCESS":
        detail = f" ({build.status_detail})" if build.status_detail else ""
        raise CloudError(f"build {build_id} ended {status}{detail}; logs: {build.log_url}")
    service = cloud.get_service(plan.service)
    if service is None or not service.uri:
        raise CloudError(f"the build succeeded but Cloud Run has no URL for {plan.service}")
    return service.uri


@click.command("deploy")
@click.argument(
    "pod_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False)
)
@cloud_options(
    project_help="Google Cloud project (default: the pod's, or GOOGLE_CLOUD_PROJECT).",
    region_help="Region for the build and the service (default: the pod's).",
)
@click.option("--dry-run", is_flag=True, help="Print the requests as JSON; send nothing.")
@click.option("--timeout", default=1800.0, show_default=True, help="Seconds to wait per build.")
@click.option("--poll-interval", default=5.0, hidden=True)
def deploy_command(
    pod_dirs: tuple[Path, ...],
    project: str | None,
    region: str | None,
    api_endpoint: str | None,
    anonymous: bool,
    dry_run: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    """Build POD_DIRS with Cloud Build and deploy them to Cloud Run.

    First creates each service's page-token secret (SERVICE-page-token) in Secret Manager if it
    is absent; an existing one is never replaced, since a new key ends every page token in
    flight (rotate it yourself: add a version).
    """
    check_location(project, region)
    with reported():
        require_clients()
        plans = [plan(pod_dir, project, region) for pod_dir in upstreams_first(pod_dirs)]
    if dry_run:
        document = [
            {"pod": p.pod_dir.as_posix(), "requests": p.requests(api_endpoint)} for p in plans
        ]
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    with reported():
        creds = credentials(anonymous)
    failed, broken = 0, set()
    for p in plans:
        upstream = _reads(p.pod_dir)[1]
        if upstream in broken:
            failed += 1
            broken.add(_reads(p.pod_dir)[0])
            click.echo(f"FAILED  {p.service}: the pod it reads, {upstream}, did not deploy")
            continue
        cloud = Cloud(project=p.project, region=p.region, credentials=creds, endpoint=api_endpoint)

        def progress(line: str, service: str = p.service) -> None:
            click.echo(f"{click.style(service, bold=True)}: {line}", err=True)

        try:
            url = run(p, cloud, progress, poll_interval, timeout)
        except CloudError as exc:
            failed += 1
            broken.add(_reads(p.pod_dir)[0])
            click.echo(f"FAILED  {p.service}: {exc}")
            continue
        click.echo(f"deployed {p.service}: {url}")
    click.echo(f"{len(plans)} pod(s): {len(plans) - failed} deployed, {failed} failed")
    sys.exit(1 if failed else 0)
