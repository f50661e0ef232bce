"""`datapic status`: the pods in generated/, and beside them what Cloud Run runs.

For each pod directory, from disk alone: its service name, compiled-form hash, spec and table.
When Google Cloud can be asked (the `deploy` extra, credentials, a project, a network), each
pod's Cloud Run service too: URL, ready state, serving revision, and whether the compiled form
deployed (the `datapic-compiled-hash` label service.yaml puts on the service) is the one in the
pod directory now: up to date, stale, or not deployed. When it cannot be asked, the listing
says why in one `note:` line and shows what it knows; `--check`, which needs Cloud Run's
answer, fails instead.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..artifacts.podhash import LABEL, compiled_hash, pod_files
from .clients import Cloud, CloudError, CloudUnavailable, credentials, require_clients
from .options import check_location, cloud_options, env_project, fail, fixed_project, reported

UP_TO_DATE, STALE, NOT_DEPLOYED = "up to date", "stale", "not deployed"
# The hash as the text table shows it (the JSON output keeps all 40 digits).
SHORT_HASH = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalPod:
    """A compiled pod directory: its service, where it deploys by default, what it reads."""

    directory: Path
    service: str
    region: str
    project: str | None
    compiled_hash: str
    spec: str
    catalog: str
    table: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PodStatus:
    """One row of `datapic status`; the Cloud Run fields are None when it was not asked."""

    pod: str
    service: str
    spec: str
    catalog: str
    table: str
    local_hash: str
    project: str | None
    region: str
    state: str | None = None
    ready: str | None = None
    revision: str | None = None
    url: str | None = None
    deployed_hash: str | None = None


def local_pods(root: Path) -> list[LocalPod]:
    """The pod directories directly under `root` (those with a service.yaml), by name."""
    return [
        _local_pod(directory)
        for directory in sorted(p for p in root.iterdir() if (p / "service.yaml").is_file())
    ]


def _local_pod(directory: Path) -> LocalPod:
    yaml = YAML(typ="safe", pure=True)
    try:
        service = yaml.load((directory / "service.yaml").read_text(encoding="utf-8"))
        build = yaml.load((directory / "cloudbuild.yaml").read_text(encoding="utf-8"))
        compiled = json.loads((directory / "pod.json").read_text(encoding="utf-8"))
        substitutions = build.get("substitutions", {})
        name = service["metadata"]["name"]
        source = compiled["source"]
        table = ".".join([*source["namespace"], source["table"]])
        spec, catalog = compiled["spec"]["path"], source["catalog"]
    except (OSError, ValueError, YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise CloudError(f"{directory}: not a readable pod ({exc})") from None
    return LocalPod(
        directory=directory,
        service=name,
        region=substitutions.get("_REGION", ""),
        project=fixed_project(substitutions.get("_PROJECT")),
        compiled_hash=compiled_hash(pod_files(directory)),
        spec=spec,
        catalog=catalog,
        table=table,
    )


def local_row(pod: LocalPod, project: str | None = None, region: str | None = None) -> PodStatus:
    """What is known of a pod without asking Cloud Run."""
    return PodStatus(
        pod=pod.directory.name,
        service=pod.service,
        spec=pod.spec,
        catalog=pod.catalog,
        table=pod.table,
        local_hash=pod.compiled_hash,
        project=project or env_project() or pod.project,
        region=region or pod.region,
    )


def status(
    pods: list[LocalPod],
    project: str | None,
    region: str | None,
    connect: Any,
) -> list[PodStatus]:
    """Each pod beside its service; `connect(project, region)` gives a Cloud for listing."""
    listed: dict[tuple[str, str], dict[str, Any]] = {}
    rows = []
    for pod in pods:
        row = local_row(pod, project, region)
        if not row.project:
            raise CloudUnavailable(
                f"{pod.directory}: no project: pass --project (or set GOOGLE_CLOUD_PROJECT)"
            )
        where = (row.project, row.region)
        if where not in listed:
            services = connect(*where).list_services()
            listed[where] = {s.name.rsplit("/", 1)[-1]: s for s in services}
        rows.append(_with_service(row, listed[where].get(pod.service)))
    return rows


def _with_service(row: PodStatus, service: Any | None) -> PodStatus:
    fields = asdict(row)
    if service is None:
        fields |= {"state": NOT_DEPLOYED, "ready": "-", "revision": "-", "url": "-"}
        return PodStatus(**fields | {"deployed_hash": ""})
    deployed = dict(service.labels).get(LABEL, "")
    condition = service.terminal_condition.state.name
    ready = {"CONDITION_SUCCEEDED": "yes", "CONDITION_FAILED": "no"}.get(condition, "pending")
    return PodStatus(
        **fields
        | {
            "state": UP_TO_DATE if deployed == row.local_hash else STALE,
            "ready": ready,
            "revision": (service.latest_ready_revision or "-").rsplit("/", 1)[-1],
            "url": service.uri or "-",
            "deployed_hash": deployed,
        }
    )


def table(rows: list[PodStatus]) -> str:
    """The rows as an aligned text table; the Cloud Run columns only when it was asked."""
    header = ["POD", "HASH", "SPEC", "TABLE"]
    cloud = bool(rows) and rows[0].state is not None
    if cloud:
        header += ["STATE", "READY", "REVISION", "URL"]
    lines = [header]
    for r in rows:
        line = [r.pod, r.local_hash[:SHORT_HASH], r.spec, r.table]
        if cloud:
            line += [r.state or "", r.ready or "", r.revision or "", r.url or ""]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True))
        + "  "
        + line[-1]
        for line in lines
    )


@click.command("status")
@click.argument(
    "root",
    required=False,
    default=Path("generated"),
    type=click.Path(path_type=Path, file_okay=False, exists=True),
)
@cloud_options(
    project_help="Google Cloud project (default: each pod's, or GOOGLE_CLOUD_PROJECT).",
    region_help="Cloud Run region (default: each pod's).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per pod, for scripts.")
@click.option("--check", is_flag=True, help="Exit 1 unless every pod is up to date.")
@click.option("--offline", is_flag=True, help="List the local pods only; never ask Cloud Run.")
def status_command(
    root: Path,
    project: str | None,
    region: str | None,
    api_endpoint: str | None,
    anonymous: bool,
    as_json: bool,
    check: bool,
    offline: bool,
) -> None:
    """List the pods in ROOT (default generated/), beside their Cloud Run services when
    Google Cloud can be asked."""
    check_location(project, region)
    if check and offline:
        fail("--check compares with Cloud Run: it cannot be --offline", 2)
    with reported():
        pods = local_pods(root)
        if not pods:
            click.echo(f"no pods in {root.as_posix()}/ (run `datapic compile` first)", err=True)
            sys.exit(1)
        rows = [local_row(pod, project, region) for pod in pods]
        if not offline:
            rows = _ask_cloud_run(pods, rows, project, region, api_endpoint, anonymous, check)
    if as_json:
        click.echo(json.dumps([asdict(row) for row in rows], indent=2, sort_keys=True))
    else:
        click.echo(table(rows))
    sys.exit(1 if check and any(row.state != UP_TO_DATE for row in rows) else 0)


def _ask_cloud_run(
    pods: list[LocalPod],
    local: list[PodStatus],
    project: str | None,
    region: str | None,
    api_endpoint: str | None,
    anonymous: bool,
    check: bool,
) -> list[PodStatus]:
    """The rows with Cloud Run's columns; the local rows and a note when it cannot be asked
    (unless --check, which needs its answer: then the CloudUnavailable goes on)."""
    try:
        require_clients()
        creds = credentials(anonymous)

        def connect(project: str, region: str) -> Cloud:
            return Cloud(project=project, region=region, credentials=creds, endpoint=api_endpoint)

        return status(pods, project, region, connect)
    except CloudUnavailable as exc:
        if check:
            raise
        click.echo(f"note: without Cloud Run's columns: {exc}", err=True)
        return local
