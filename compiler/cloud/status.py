"""`datapic status`: the pods in generated/ beside what Cloud Run runs.

For each pod directory: its Cloud Run service's URL, ready state and serving revision, and
whether the compiled form deployed (the `datapic-compiled-hash` label service.yaml puts on the
service) is the one in the pod directory now: up to date, stale, or not deployed.
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
from .clients import Cloud, CloudError, credentials, require_clients
from .options import check_location, cloud_options, env_project, fixed_project, reported

UP_TO_DATE, STALE, NOT_DEPLOYED = "up to date", "stale", "not deployed"


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalPod:
    """A compiled pod directory: its service, where it deploys by default, its hash."""

    directory: Path
    service: str
    region: str
    project: str | None
    compiled_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PodStatus:
    """One row of `datapic status`."""

    pod: str
    service: str
    project: str
    region: str
    state: str
    ready: str
    revision: str
    url: str
    deployed_hash: str
    local_hash: str


def local_pods(root: Path) -> list[LocalPod]:
    """The pod directories directly under `root` (those with a service.yaml), by name."""
    pods = []
    for directory in sorted(p for p in root.iterdir() if (p / "service.yaml").is_file()):
        yaml = YAML(typ="safe", pure=True)
        try:
            service = yaml.load((directory / "service.yaml").read_text(encoding="utf-8"))
            build = yaml.load((directory / "cloudbuild.yaml").read_text(encoding="utf-8"))
            substitutions = build.get("substitutions", {})
            name = service["metadata"]["name"]
        except (OSError, YAMLError, KeyError, TypeError, AttributeError) as exc:
            raise CloudError(f"{directory}: not a readable pod ({exc})") from None
        pods.append(
            LocalPod(
                directory=directory,
                service=name,
                region=substitutions.get("_REGION", ""),
                project=fixed_project(substitutions.get("_PROJECT")),
                compiled_hash=compiled_hash(pod_files(directory)),
            )
        )
    return pods


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
        where = (
            project or env_project() or pod.project,
            region or pod.region,
        )
        if not where[0]:
            raise CloudError(
                f"{pod.directory}: no project: pass --project (or set GOOGLE_CLOUD_PROJECT)"
            )
        if where not in listed:
            services = connect(*where).list_services()
            listed[where] = {s.name.rsplit("/", 1)[-1]: s for s in services}
        rows.append(_row(pod, *where, listed[where].get(pod.service)))
    return rows


def _row(pod: LocalPod, project: str, region: str, service: Any | None) -> PodStatus:
    common = {
        "pod": pod.directory.name,
        "service": pod.service,
        "project": project,
        "region": region,
        "local_hash": pod.compiled_hash,
    }
    if service is None:
        return PodStatus(
            **common, state=NOT_DEPLOYED, ready="-", revision="-", url="-", deployed_hash=""
        )
    deployed = dict(service.labels).get(LABEL, "")
    condition = service.terminal_condition.state.name
    ready = {"CONDITION_SUCCEEDED": "yes", "CONDITION_FAILED": "no"}.get(condition, "pending")
    return PodStatus(
        **common,
        state=UP_TO_DATE if deployed == pod.compiled_hash else STALE,
        ready=ready,
        revision=(service.latest_ready_revision or "-").rsplit("/", 1)[-1],
        url=service.uri or "-",
        deployed_hash=deployed,
    )


def table(rows: list[PodStatus]) -> str:
    """The rows as an aligned text table."""
    header = ("POD", "STATE", "READY", "REVISION", "URL")
    lines = [header] + [(r.pod, r.state, r.ready, r.revision, r.url) for r in rows]
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
def status_command(
    root: Path,
    project: str | None,
    region: str | None,
    api_endpoint: str | None,
    anonymous: bool,
    as_json: bool,
    check: bool,
) -> None:
    """List the pods in ROOT (default generated/) beside their Cloud Run services."""
    check_location(project, region)
    with reported():
        require_clients()
        pods = local_pods(root)
        if not pods:
            click.echo(f"no pods in {root.as_posix()}/ (run `datapic compile` first)", err=True)
            sys.exit(1)
        creds = credentials(anonymous)

        def connect(project: str, region: str) -> Cloud:
            return Cloud(project=project, region=region, credentials=creds, endpoint=api_endpoint)

        rows = status(pods, project, region, connect)
    if as_json:
        click.echo(json.dumps([asdict(row) for row in rows], indent=2, sort_keys=True))
    else:
        click.echo(table(rows))
    sys.exit(1 if check and any(row.state != UP_TO_DATE for row in rows) else 0)
