"""What `datapic deploy` and `datapic status` share: their Google Cloud options, where the
project and region come from, and how a failure is printed (one `error:` line, an exit code)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import click

from ..assets import schema_path
from .clients import CloudError

F = TypeVar("F", bound=Callable)


class PodError(Exception):
    """A pod directory that cannot be deployed as it stands."""


def cloud_options(project_help: str, region_help: str) -> Callable[[F], F]:
    """--project and --region, plus the hidden endpoint and credential switches for tests."""

    def decorate(command: F) -> F:
        for option in reversed(
            (
                click.option("--project", help=project_help),
                click.option("--region", help=region_help),
                click.option("--api-endpoint", envvar="DATAPIC_API_ENDPOINT", hidden=True),
                click.option(
                    "--anonymous", is_flag=True, envvar="DATAPIC_ANONYMOUS_CREDENTIALS", hidden=True
                ),
            )
        ):
            command = option(command)
        return command

    return decorate


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one `error:` line and exit: 2 for what the user must fix, 1 for what failed."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """A CloudError (exit 1) or PodError (exit 2) inside becomes one printed line."""
    try:
        yield
    except CloudError as exc:
        fail(str(exc), 1)
    except PodError as exc:
        fail(str(exc), 2)


def check_location(project: str | None, region: str | None) -> None:
    """Exit with usage status 2 when --project or --region cannot be one (see below)."""
    problem = location_problem(project, region)
    if problem:
        fail(problem, 2)


def location_problem(project: str | None, region: str | None) -> str | None:
    """Why a project or region given on the command line (or GOOGLE_CLOUD_PROJECT) cannot be
    one; they go into API URLs, so anything else (a slash, a '?') must stop here."""
    given = {"project": project or env_project(), "region": region}
    for key, value in given.items():
        pattern = _location_patterns()[key]
        if value is not None and not pattern.fullmatch(value):
            return f"{key} {json.dumps(value)} is not a Google Cloud {key} ({pattern.pattern})"
    return None


def env_project() -> str | None:
    """The project gcloud and the client libraries would pick from the environment."""
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT")


def fixed_project(value: str | None) -> str | None:
    """A substitution default that names a project (not `${PROJECT_ID}`)."""
    return value if value and "$" not in value else None


@functools.cache
def _location_patterns() -> dict[str, re.Pattern[str]]:
    """The spec schema's patterns for deploy.project and deploy.region: one definition."""
    schema = json.loads(schema_path("spec.schema.json").read_text(encoding="utf-8"))
    settings = schema["$defs"]["deploy_settings"]["properties"]
    return {key: re.compile(settings[key]["pattern"]) for key in ("project", "region")}
