"""`datapic client`: the typed module of the example pods, as reviewed (snapshot), lint-clean,
importable, with each pod's parameters as typed keyword arguments. The module is called
against a real pod in tests/client/test_typed.py."""

from __future__ import annotations

import datetime
import importlib.util
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pyarrow
import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.typedclient import read_pods, render_module
from datapic.client import Pod

ROOT = Path(__file__).resolve().parents[2]


def load(source: str, path: Path):
    """The generated module, imported from `path`."""
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parameter(name: str, type_name: str, required: bool = False, default=None, doc=""):
    return {
        "name": name,
        "type": type_name,
        "required": required,
        "default": default,
        "description": doc,
    }


# Pods of the test's own (the examples change with the product; this module's shape should not).
PODS = [
    {
        "name": "every-type",
        "description": "Every parameter type, a required one, a list, a long description that "
        "has to be wrapped to keep the generated lines short enough for the linter",
        "spec": {"path": "specs/every-type.yaml"},
        "columns": ["a", "b"],
        "parameters": [
            _parameter("text", "string", default="x", doc="Some text"),
            _parameter("whole", "integer", required=True),
            _parameter("real", "number", default=1.5),
            _parameter("flag", "boolean", default=False),
            _parameter("day", "date", default="2024-02-29"),
            _parameter("at", "timestamp"),
            _parameter("days", "date[]", default=["2024-01-01"], doc="Days to keep"),
        ],
    },
    {
        "name": "no-parameters",
        "description": "",
        "spec": {"path": "specs/no-parameters.yaml"},
        "columns": ["n"],
        "parameters": [],
    },
]


def test_the_module_is_as_reviewed(snapshot) -> None:
    assert render_module(PODS, "specs-out/") == snapshot


def test_the_module_is_lint_clean_and_written_as_ruff_formats_it(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    path = tmp_path / "pods_client.py"
    result = CliRunner().invoke(main, ["client", "generated", "-o", str(path)])
    assert result.exit_code == 0 and result.stdout == ""
    own = tmp_path / "own_pods.py"
    own.write_text(render_module(PODS, "specs-out/"))
    ruff = [sys.executable, "-m", "ruff"]
    config = ["--config", str(ROOT / "pyproject.toml")]
    files = [str(path), str(own)]
    check = subprocess.run([*ruff, "check", *config, *files], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    form = [*ruff, "format", "--check", "--diff", *config, *files]
    formatted = subprocess.run(form, capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_each_pod_is_a_function_of_its_typed_parameters(tmp_path: Path) -> None:
    module = load(render_module(read_pods(ROOT / "generated"), "generated/"), tmp_path / "p.py")
    pods = sorted(p.name for p in (ROOT / "generated").iterdir() if (p / "pod.json").is_file())
    assert module.__all__ == [name.replace("-", "_") for name in pods]
    signature = inspect.signature(module.large_orders)
    hints = typing.get_type_hints(module.large_orders)
    assert list(signature.parameters) == [
        "pod",
        "country",
        "min_sales",
        "since",
        "until",
        "include_unshipped",
        "products",
    ]
    assert signature.parameters["country"].default is inspect.Parameter.empty
    assert signature.parameters["country"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature.parameters["since"].default is None
    assert hints["country"] is str
    assert hints["since"] == datetime.date | None
    assert hints["include_unshipped"] == bool | None
    assert hints["products"] == list[str] | None
    assert hints["pod"] == Pod | str and hints["return"] is pyarrow.Table
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'country'"):
        module.large_orders("http://127.0.0.1:9")
    assert "Country code, e.g. DE" in module.large_orders.__doc__


def _pod(**changes) -> dict:
    parameter = {"name": "x", "type": "string", "required": False, "default": None}
    return {
        "name": "odd-pod",
        "description": "odd",
        "spec": {"path": "specs/odd.yaml"},
        "columns": ["a"],
        "parameters": [parameter | {"description": ""}],
    } | changes


def test_keywords_list_types_and_hostile_text_stay_valid_python(tmp_path: Path) -> None:
    hostile = 'Ends here """; import os \\ and \\"""'
    pod = _pod(
        name="import",
        description=hostile,
        parameters=[
            {"name": "from", "type": "date", "required": True, "default": None, "description": ""},
            {
                "name": "regions",
                "type": "string[]",
                "required": False,
                "default": ["EMEA"],
                "description": hostile,
            },
        ],
    )
    module = load(render_module([pod], "specs/"), tmp_path / "odd.py")
    function = module.import_
    assert list(inspect.signature(function).parameters) == ["pod", "from_", "regions"]
    assert typing.get_type_hints(function)["regions"] == list[str] | None
    assert function.__doc__.startswith(hostile)
    assert '"from": from_,' in inspect.getsource(function)


def test_an_unreadable_pod_json_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "pod.json").write_text('{"parameters": [{"type": "uuid"}]}')
    result = CliRunner().invoke(main, ["client", str(tmp_path)])
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {tmp_path.as_posix()}/broken/pod.json: not a readable pod.json")


def test_a_folder_without_pods_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["client", str(tmp_path)])
    assert result.exit_code == 1 and "no pods in" in result.stderr
