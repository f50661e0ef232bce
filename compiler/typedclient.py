"""`datapic client`: a Python module with one typed function per compiled pod, for callers.

Reads the pods' pod.json from disk (generated/, as `datapic status` does) and writes plain
Python: each function takes the pod (a `datapic.client.Pod` or its URL) and the pod's
parameters as typed keyword arguments (required ones without a default), and answers the
pyarrow Table of `Pod.get_data`. An editor completes the parameters and a type checker sees
a misspelt or mistyped one, as openapi-python-client's generated clients allow. The module
imports only `datapic.client` and pyarrow; this generator imports neither.

Deterministic: pods by directory name, parameters in spec order, no timestamps.
"""

from __future__ import annotations

import json
import keyword
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import click

from .artifacts.render import GENERATOR

# Lines of the generated docstrings are wrapped to fit a line of 100 with their indent.
_DOC_WIDTH = 92
# A parameter's type in pod.json -> its annotation (a list type `T[]` -> `list[...]`).
ANNOTATIONS = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "date": "datetime.date",
    "timestamp": "datetime.datetime",
}


class ClientError(Exception):
    """A pod directory whose pod.json cannot be read into a function."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Argument:
    """One parameter as a function argument."""

    name: str  # the Python name (a keyword gets a trailing `_`)
    parameter: str  # the pod's name for it
    annotation: str
    required: bool
    doc: str


def annotation(type_name: str) -> str:
    """The Python annotation of a pod.json parameter type.

    >>> annotation("date"), annotation("integer[]")
    ('datetime.date', 'list[int]')
    """
    if type_name.endswith("[]"):
        return f"list[{ANNOTATIONS[type_name[:-2]]}]"
    return ANNOTATIONS[type_name]


def function_name(pod_name: str) -> str:
    """A pod's function: its resource name with `-` as `_`.

    >>> function_name("emea-sales-by-quarter"), function_name("import")
    ('emea_sales_by_quarter', 'import_')
    """
    name = pod_name.replace("-", "_")
    return f"{name}_" if keyword.iskeyword(name) else name


def _arguments(parameters: list[dict]) -> list[Argument]:
    arguments = []
    for parameter in parameters:
        name = parameter["name"]
        default = json.dumps(parameter["default"], ensure_ascii=False)
        settled = "required" if parameter["required"] else f"default {default}"
        description = " ".join(parameter["description"].split())
        arguments.append(
            Argument(
                name=f"{name}_" if keyword.iskeyword(name) else name,
                parameter=name,
                annotation=annotation(parameter["type"]),
                required=parameter["required"],
                doc=f"{name} ({parameter['type']}, {settled}){': ' if description else ''}"
                + description,
            )
        )
    return arguments


def _docstring(paragraphs: list[str], args: list[str]) -> str:
    """The function's docstring, wrapped, safe whatever the spec's text holds."""
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += [*textwrap.wrap(paragraph, _DOC_WIDTH), ""]
    if args:
        lines.append("Args (None leaves a parameter to the pod's default):")
        for arg in args:
            lines += textwrap.wrap(
                arg, _DOC_WIDTH, initial_indent="    ", subsequent_indent="        "
            )
    text = "\n".join(f"    {line}" if line else "" for line in lines).strip()
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'    """{text}\n    """' if "\n" in text else f'    """{text}"""'


def render_function(pod: dict) -> str:
    """The typed function of one pod.json."""
    arguments = _arguments(pod["parameters"])
    signature = ["    pod: Pod | str,"]
    if arguments:
        signature.append("    *,")
    for argument in sorted(arguments, key=lambda a: not a.required):  # required ones first
        default = "" if argument.required else " | None = None"
        signature.append(f"    {argument.name}: {argument.annotation}{default},")
    paragraphs = [
        pod["description"].strip() or pod["name"],
        f"Pod {pod['name']}, from {pod['spec']['path']}. Columns: {', '.join(pod['columns'])}.",
    ]
    if arguments:
        values = [f'            "{a.parameter}": {a.name},' for a in arguments]
        call = ["    return _pod(pod).get_data(", "        {", *values, "        }", "    )"]
    else:
        call = ["    return _pod(pod).get_data()"]
    return "\n".join(
        [
            f"def {function_name(pod['name'])}(",
            *signature,
            ") -> pyarrow.Table:",
            _docstring(paragraphs, [a.doc for a in arguments]),
            *call,
        ]
    )


def render_module(pods: list[dict], source: str) -> str:
    """The module for these pod.json documents (`source` names where they were read)."""
    names = [function_name(pod["name"]) for pod in pods]
    functions = "\n\n\n".join(map(render_function, pods))
    head = [
        f"# Generated by {GENERATOR} from the pods in {source}",
        "# Do not edit: run `datapic client` again.",
        '"""Typed calls of datapic pods: one function per pod, its parameters as keyword',
        "arguments; each takes the pod (a datapic.client.Pod, or its URL) and answers a pyarrow",
        'Table, every page read."""',
        "",
        "from __future__ import annotations",
        "",
        *(["import datetime", ""] if "datetime." in functions else []),
        "import pyarrow",
        "",
        "from datapic.client import Pod",
        "",
        "__all__ = [",
        *(f'    "{name}",' for name in names),
        "]",
        "",
        "",
        "def _pod(pod: Pod | str) -> Pod:",
        "    return pod if isinstance(pod, Pod) else Pod(pod)",
    ]
    return "\n".join(head) + "\n\n\n" + functions + "\n"


def read_pods(root: Path) -> list[dict]:
    """The pod.json of every pod directory directly under `root`, by directory name."""
    pods = []
    for path in sorted(root.glob("*/pod.json")):
        try:
            pod = json.loads(path.read_text(encoding="utf-8"))
            for parameter in pod["parameters"]:
                annotation(parameter["type"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ClientError(f"{path.as_posix()}: not a readable pod.json ({exc!r})") from None
        pods.append(pod)
    return pods


@click.command("client")
@click.argument(
    "root",
    required=False,
    default=Path("generated"),
    type=click.Path(path_type=Path, file_okay=False, exists=True),
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Default: stdout."
)
def client_command(root: Path, output: Path | None) -> None:
    """Write a Python module with a typed function per pod in ROOT (default generated/)."""
    try:
        pods = read_pods(root)
    except ClientError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if not pods:
        click.echo(f"no pods in {root.as_posix()}/ (run `datapic compile` first)", err=True)
        sys.exit(1)
    module = render_module(pods, root.as_posix() + "/")
    if output is None:
        click.echo(module, nl=False)
    else:
        output.write_text(module, encoding="utf-8", newline="\n")
