"""The `datapic` command: wires the stages together and prints what they found. Nothing else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .artifacts.emit import emit
from .assets import schema_path
from .check import DEFAULT_TIMEOUT_SECONDS as CHECK_TIMEOUT_SECONDS
from .check import MissingExtra, schema_lookup
from .cloud.deploy import deploy_command
from .cloud.status import status_command
from .diagnostics import Severity, escaped, format_diagnostic, sort_key
from .pipeline import Result, compile_specs
from .scaffold.commands import demo_lakehouse_command, init_command
from .scaffold.project import PROJECT_SPEC_DIRS, project_specs
from .spec.project import specs_in
from .typedclient import client_command


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Spec files from the arguments; a directory stands for the specs directly inside it.

    The project's config.yml and datapic.yaml in such a folder are settings, not specs: skipped.

    A spec named twice (`examples/ examples/a.yaml`) is compiled once; a directory without
    specs is a usage error rather than a silent success.
    """
    specs: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = specs_in(path)
            if not found:
                raise click.UsageError(f"{path.as_posix()}: no .yaml or .yml spec in this folder")
            specs += found
        else:
            specs.append(path)
    seen: set[Path] = set()
    unique = []
    for spec in specs:
        if spec.resolve() not in seen:
            seen.add(spec.resolve())
            unique.append(spec)
    return unique


def _report(result: Result, fail_on_warning: bool) -> bool:
    """Print a result's diagnostics to stderr; whether the spec counts as compiled."""
    for diagnostic in sorted(result.diagnostics, key=sort_key):
        # A problem in the project's config file has no line of the spec to show.
        own = diagnostic.span.file == result.display_path
        click.echo(format_diagnostic(diagnostic, result.source_text if own else None), err=True)
    warned = any(d.severity is Severity.WARNING for d in result.diagnostics)
    return result.ok and not (fail_on_warning and warned)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datapic")
def main() -> None:
    """Compile YAML query specs over Iceberg tables into deployable data pods."""


def _check_option(function):
    """`--check`: load each table's schema from the catalog and check the spec against it."""
    function = click.option(
        "--check-timeout",
        type=click.FloatRange(min=0.1),
        default=CHECK_TIMEOUT_SECONDS,
        show_default=True,
        metavar="SECONDS",
        help="With --check: how long to wait for each answer of the catalog.",
    )(function)
    return click.option(
        "--check",
        "check",
        is_flag=True,
        help="Load each table's current schema from the catalog (pyiceberg configuration or "
        "config.yml) and report unknown columns, type mismatches and missing tables.",
    )(function)


def _or_project_specs(specs: tuple[Path, ...]) -> tuple[Path, ...]:
    """The SPECS given, else the project's folder of specs (specs/, or dataPi's resources/)."""
    if specs:
        return specs
    found = project_specs()
    if found is None:
        folders = " or ".join(f"{name}/" for name in PROJECT_SPEC_DIRS)
        raise click.UsageError(f"no SPECS given and no {folders} folder here")
    return (found,)


def _compile_all(
    specs: tuple[Path, ...], check: bool, timeout: float, output: Path | None = None
) -> list[Result]:
    specs = _or_project_specs(specs)
    lookup = None
    if check:
        try:
            lookup = schema_lookup(timeout, progress=lambda line: click.echo(line, err=True))
        except MissingExtra as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
    return compile_specs(_expand(specs), lookup, output)


@main.command("compile")
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("generated"),
    show_default=True,
    help="Folder receiving one pod directory per spec.",
)
@click.option(
    "--fail-on-warning",
    is_flag=True,
    help="Fail on warnings: a spec with any is not written, and the exit code is 1.",
)
@_check_option
def compile_command(
    specs: tuple[Path, ...], output: Path, fail_on_warning: bool, check: bool, check_timeout: float
) -> None:
    """Compile SPECS (files, or folders of .yaml files; default: the project's specs/) into
    OUTPUT/<resource_name>/."""
    results = _compile_all(specs, check, check_timeout, output)
    written = failed = 0
    for result in results:
        ok = _report(result, fail_on_warning)
        if not ok:
            failed += 1
            click.echo(f"FAILED  {escaped(result.display_path)}")
            continue
        target = output / result.pod.name
        try:
            emit(result.files, target)
        except OSError as problem:
            # An unwritable folder is this spec's failure, not a traceback: go on with the rest.
            click.echo(
                f"{target.as_posix()}: cannot write: {problem.strerror or problem}", err=True
            )
            failed += 1
            click.echo(f"FAILED  {escaped(result.display_path)}")
            continue
        written += 1
        count = len(result.files)
        click.echo(f"wrote   {target.as_posix()}/ ({count} files) from {result.display_path}")
    click.echo(f"{len(results)} spec(s): {written} compiled, {failed} failed")
    sys.exit(1 if failed else 0)


@main.command("validate")
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--fail-on-warning", is_flag=True, help="Fail on warnings: exit 1 when any is printed."
)
@_check_option
def validate_command(
    specs: tuple[Path, ...], fail_on_warning: bool, check: bool, check_timeout: float
) -> None:
    """Check SPECS without writing anything."""
    results = _compile_all(specs, check, check_timeout)
    verdicts = [_report(r, fail_on_warning) for r in results]
    failed = verdicts.count(False)
    for result, ok in zip(results, verdicts, strict=True):
        click.echo(f"{'ok    ' if ok else 'FAILED'}  {escaped(result.display_path)}")
    click.echo(f"{len(results)} spec(s): {len(results) - failed} valid, {failed} invalid")
    sys.exit(1 if failed else 0)


@main.command("schema")
def schema_command() -> None:
    """Print the spec's JSON Schema (for editors' completion and validation)."""
    schema = json.loads(schema_path("spec.schema.json").read_text(encoding="utf-8"))
    click.echo(json.dumps(schema, indent=2))


# Deployment commands live beside their logic; the Google libraries load only when they run.
main.add_command(deploy_command)
main.add_command(status_command)
main.add_command(init_command)
main.add_command(demo_lakehouse_command)


@main.group("docs")
def docs_group() -> None:
    """The HTML docs of the compiled pods: a static site, and a local server for it."""


@docs_group.command("build")
@click.option(
    "--pods",
    "pods_folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("generated"),
    show_default=True,
    help="Folder of compiled pods.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("site"),
    show_default=True,
    help="Folder to write the site to (replaced).",
)
@click.option(
    "--base-url",
    default="",
    help="Prefills each page's pod URL: <URL>/<name>/ (as `datapic serve` mounts pods), or "
    "URL with {name} replaced by the pod's name.",
)
def docs_build_command(pods_folder: Path, out: Path, base_url: str) -> None:
    """Write one static site for every pod in --pods: an index with search, a page per pod."""
    from .docs.site import SiteProblem, build_site

    try:
        count = build_site(pods_folder, out, base_url)
    except (SiteProblem, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"wrote   {out.as_posix()}/ ({count} pod(s)); open {out.as_posix()}/index.html")


@docs_group.command("serve")
@click.option(
    "-d",
    "--dir",
    "site",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("site"),
    show_default=True,
    help="The site `datapic docs build` wrote.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True)
def docs_serve_command(site: Path, port: int) -> None:
    """Serve the docs site on 127.0.0.1 (Ctrl-C stops)."""
    from .docs.serve import serve_site

    try:
        serve_site(site, port, click.echo)
    except OSError as exc:
        click.echo(f"error: cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)


def _pod_folders(path: Path) -> list[Path]:
    """The compiled pods directly inside a folder holding no spec (such as generated/)."""
    if not path.is_dir() or specs_in(path):
        return []
    return sorted(p for p in path.iterdir() if (p / "pod.json").is_file())


@main.command("serve")
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free one).",
)
def serve_command(targets: tuple[Path, ...], host: str, port: int) -> None:
    """Serve pods on one port, each under /<resource_name>/: TARGETS are specs (compiled, and
    recompiled when saved), folders of specs or compiled pod folders (default: the project's
    specs/). Catalog: PYICEBERG_CATALOG__* variables, .pyiceberg.yaml, then the project's."""
    from .serve.pods import ServeError
    from .serve.server import serve

    pods, others = [], []
    for target in _or_project_specs(targets):
        # A pod folder, or a folder of them (generated/), is served as compiled.
        found = [target] if (target / "pod.json").is_file() else _pod_folders(target)
        (pods.extend if found else others.append)(found or target)
    specs = _expand(tuple(others))
    try:
        serve(
            specs,
            [folder for folder in others if folder.is_dir()],
            pods,
            host,
            port,
            report=lambda result: _report(result, fail_on_warning=False),
            echo=click.echo,
            warn=lambda text: click.echo(text, err=True),
        )
    except ServeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


# Typed functions for callers of the compiled pods.
main.add_command(client_command)
