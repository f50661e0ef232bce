"""The `datapic` command: wires the stages together and prints what they found. Nothing else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .assets import schema_path
from .diagnostics import Severity, format_diagnostic, sort_key
from .emit import emit
from .pipeline import Result, compile_spec

SPEC_SUFFIXES = (".yaml", ".yml")


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Spec files from the arguments; a directory stands for the specs directly inside it."""
    specs: list[Path] = []
    for path in paths:
        if path.is_dir():
            specs += sorted(p for p in path.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())
        else:
            specs.append(path)
    return specs


def _report(result: Result, fail_on_warning: bool) -> bool:
    """Print a result's diagnostics to stderr; whether the spec counts as compiled."""
    for diagnostic in sorted(result.diagnostics, key=sort_key):
        click.echo(format_diagnostic(diagnostic, result.source_text), err=True)
    warned = any(d.severity is Severity.WARNING for d in result.diagnostics)
    return result.ok and not (fail_on_warning and warned)


def _check_unique_names(results: list[Result]) -> dict[str, str]:
    """Pods that would overwrite each other: name -> the first spec that claimed it."""
    first: dict[str, str] = {}
    clashes: dict[str, str] = {}
    for result in results:
        if result.ok:
            name = result.pod.name
            if name in first:
                clashes[result.display_path] = f"{name} (also compiled from {first[name]})"
            else:
                first[name] = result.display_path
    return clashes


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datapic")
def main() -> None:
    """Compile YAML query specs over Iceberg tables into deployable data pods."""


@main.command("compile")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("generated"),
    show_default=True,
    help="Folder receiving one pod directory per spec.",
)
@click.option("--fail-on-warning", is_flag=True, help="Treat warnings as errors.")
def compile_command(specs: tuple[Path, ...], output: Path, fail_on_warning: bool) -> None:
    """Compile SPECS (files, or folders of .yaml files) into OUTPUT/<resource_name>/."""
    results = [compile_spec(spec) for spec in _expand(specs)]
    clashes = _check_unique_names(results)
    written = failed = 0
    for result in results:
        ok = _report(result, fail_on_warning)
        if ok and result.display_path in clashes:
            click.echo(
                f"{result.display_path}:1:1: error[DP0004] resource_name "
                f"{clashes[result.display_path]}",
                err=True,
            )
            ok = False
        if not ok:
            failed += 1
            click.echo(f"FAILED  {result.display_path}")
            continue
        target = output / result.pod.name
        emit(result.files, target)
        written += 1
        count = len(result.files)
        click.echo(f"wrote   {target.as_posix()}/ ({count} files) from {result.display_path}")
    click.echo(f"{len(results)} spec(s): {written} compiled, {failed} failed")
    sys.exit(1 if failed else 0)


@main.command("validate")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--fail-on-warning", is_flag=True, help="Treat warnings as errors.")
def validate_command(specs: tuple[Path, ...], fail_on_warning: bool) -> None:
    """Check SPECS without writing anything."""
    results = [compile_spec(spec) for spec in _expand(specs)]
    failed = sum(not _report(r, fail_on_warning) for r in results)
    for result in results:
        click.echo(f"{'ok    ' if result.ok else 'FAILED'}  {result.display_path}")
    click.echo(f"{len(results)} spec(s): {len(results) - failed} valid, {failed} invalid")
    sys.exit(1 if failed else 0)


@main.command("schema")
def schema_command() -> None:
    """Print the spec's JSON Schema (for editors' completion and validation)."""
    schema = json.loads(schema_path("spec.schema.json").read_text(encoding="utf-8"))
    click.echo(json.dumps(schema, indent=2))
