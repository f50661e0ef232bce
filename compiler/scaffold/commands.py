"""`datapic init` and `datapic demo-lakehouse`: options, prompts and what they print."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import click

from ..assets import schema_path
from ..spec.datapi import DATAPI_CONFIG
from .catalog import LAKEHOUSE_DIR, PYICEBERG_FILE, pyiceberg_yaml
from .project import DEFAULT_REGION, ProjectOptions, conflicts, plan_project, write

DEMO_EXTRA = "pip install 'datapic[demo]'"


def _deploy_pattern(key: str) -> re.Pattern:
    """What the spec's schema accepts for a deploy setting: checked here, so a mistyped answer
    fails at once rather than at the first compile."""
    schema = json.loads(schema_path("spec.schema.json").read_text(encoding="utf-8"))
    return re.compile(schema["$defs"]["deploy_settings"]["properties"][key]["pattern"])


_PROJECT, _REGION = _deploy_pattern("project"), _deploy_pattern("region")


def _checked(pattern: re.Pattern, what: str):
    def check(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value and not pattern.fullmatch(value):
            raise click.BadParameter(f"{value!r} is not a Google Cloud {what}")
        return value or None

    return check


def interactive() -> bool:
    """Whether someone can answer a prompt: stdin is a terminal (not CI, not a pipe)."""
    return sys.stdin.isatty()


def _ask(value: str | None, text: str, default: str, pattern: re.Pattern, what: str) -> str:
    """The flag's value; else, on a terminal only, the user's answer; else the default."""
    if value is not None or not interactive():
        return value if value is not None else default
    check = _checked(pattern, what)
    # A mistyped answer is said and asked again (click re-prompts on BadParameter).
    answer = click.prompt(
        text,
        default=default,
        show_default=bool(default),
        value_proc=lambda v: check(None, None, v.strip()) or "",  # type: ignore[arg-type]
    )
    return answer


@click.command("init")
@click.argument("folder", required=False, default=Path("."), type=click.Path(path_type=Path))
@click.option(
    "--project",
    callback=_checked(_PROJECT, "project"),
    help="Google Cloud project the pods deploy to (asked on a terminal; else left for later).",
)
@click.option(
    "--region",
    callback=_checked(_REGION, "region"),
    help=f"Cloud Run region (asked on a terminal; default {DEFAULT_REGION}).",
)
@click.option(
    "--from-datapi",
    "from_datapi",
    is_flag=True,
    help="Convert the dataPi project in FOLDER (config.yml, resources/) in place.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init_command(
    folder: Path, project: str | None, region: str | None, from_datapi: bool, force: bool
) -> None:
    """Start a datapic project in FOLDER (default: here): datapic.yaml, an example spec, the
    demo catalog's .pyiceberg.yaml, .gitignore and CI (cloudbuild.yaml, GitHub Actions)."""
    if from_datapi:
        convert_datapi(folder, force)
        return
    if (folder / DATAPI_CONFIG).is_file() and (folder / "resources").is_dir():
        click.echo(
            f"error: {folder.as_posix()}/ holds a dataPi project ({DATAPI_CONFIG}, resources/): "
            "convert it in place with --from-datapi",
            err=True,
        )
        sys.exit(2)
    project = _ask(project, "Google Cloud project (empty: set it later)", "", _PROJECT, "project")
    region = _ask(region, "Cloud Run region", DEFAULT_REGION, _REGION, "region")
    name = folder.resolve().name
    plan = plan_project(folder, ProjectOptions(name=name, project=project or None, region=region))
    refuse_conflicts(folder, plan, force)
    for written in write(folder, plan):
        click.echo(f"wrote   {(folder / written).as_posix()}")
    where = "" if folder == Path(".") else f"cd {folder.as_posix()} && "
    click.echo(
        f"\nnext: {where}datapic demo-lakehouse && datapic compile && datapic serve"
        f"\n      ({DEMO_EXTRA} first if datapic says so)"
    )


def refuse_conflicts(folder: Path, plan: dict[str, bytes], force: bool) -> None:
    """Stop (exit 1, nothing written) when a planned file exists with other content."""
    existing = conflicts(folder, plan)
    if existing and not force:
        click.echo(
            f"error: these files exist in {folder.as_posix()}/ (nothing was written):", err=True
        )
        for name in existing:
            click.echo(f"  {name}", err=True)
        click.echo("rerun with --force to overwrite them", err=True)
        sys.exit(1)


def convert_datapi(folder: Path, force: bool) -> None:
    """`init --from-datapi`: convert in place, print each change (and only then write)."""
    from .datapi import NotDatapi, plan_conversion

    try:
        plan = plan_conversion(folder)
    except NotDatapi as exc:
        click.echo(f"error: {exc}: not a dataPi project", err=True)
        sys.exit(2)
    refuse_conflicts(folder, plan.created, force)
    for name, content in plan.rewritten.items():
        (folder / name).write_bytes(content)
    for source, target in plan.moved:
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        (folder / source).rename(folder / target)
    for line in plan.changes:
        click.echo(line)
    for written in write(folder, plan.created):
        click.echo(f"wrote   {(folder / written).as_posix()}")
    if not plan.changes and not plan.moved:
        click.echo("nothing to change: datapic reads this project as it is")
    where = "" if folder == Path(".") else f"cd {folder.as_posix()} && "
    click.echo(f"\nnext: {where}datapic compile && datapic serve")


@click.command("demo-lakehouse")
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=300_000,
    show_default=True,
    help="Orders in sales.orders.",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(LAKEHOUSE_DIR),
    show_default=True,
    help="Folder receiving the SQLite catalog and the warehouse.",
)
@click.option("--rebuild", is_flag=True, help="Rebuild even when already built alike.")
def demo_lakehouse_command(rows: int, root: Path, rebuild: bool) -> None:
    """Build a local demo lakehouse (pyiceberg SQL catalog + file warehouse) with sales.orders,
    and point .pyiceberg.yaml here at it when there is none."""
    missing = [
        m
        for m in ("pyiceberg", "sqlalchemy", "pyiceberg_core", "pyarrow")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        click.echo(
            f"error: datapic demo-lakehouse needs {', '.join(missing)}: {DEMO_EXTRA}", err=True
        )
        sys.exit(1)
    from ..lakehouse import STAMP, build_lakehouse

    if rebuild:
        (root / STAMP).unlink(missing_ok=True)
    build_lakehouse(root, rows)
    click.echo(f"lakehouse ready in {root.as_posix()}/ (sales.orders, {rows:,} rows)")
    config, wanted = Path(PYICEBERG_FILE), pyiceberg_yaml(root)
    if not config.exists():
        config.write_text(wanted, encoding="utf-8")
        click.echo(f"wrote   {PYICEBERG_FILE} (catalog 'default': this lakehouse)")
    elif config.read_text(encoding="utf-8") != wanted:
        click.echo(
            f"left    {PYICEBERG_FILE} as it is: it does not name this lakehouse; "
            f"catalog 'default' here would be:\n{wanted}"
        )
