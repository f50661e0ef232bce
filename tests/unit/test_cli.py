"""The `datapic` command: compile, validate, schema; per-spec lines, summary, exit codes, and
the same bytes whatever the working directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import HEADER, SPEC_SCHEMA_PATH

from compiler import __version__
from compiler.cli import main

DATAPIC = str(Path(sys.executable).parent / "datapic")
GOOD = "select: [a]\n"
BAD = "select: [a]\nfilters: [read_csv('/etc/passwd') IS NOT NULL]\n"


def spec(folder, name: str, body: str = GOOD, resource: str | None = None):
    """A spec file whose resource_name defaults to its file name."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    resource = resource or name.split("/")[-1].split(".")[0]
    path.write_text(HEADER.replace("resource_name: t", f"resource_name: {resource}") + body)
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tree(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_compile_writes_every_good_spec_and_reports_the_bad_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "one.yaml")
    spec(tmp_path, "two.yaml", BAD)
    spec(tmp_path, "three.yaml")
    result = run("compile", "one.yaml", "two.yaml", "three.yaml", "-o", "out")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("wrote   out/one/ (") and lines[0].endswith(" files) from one.yaml")
    assert lines[1] == "FAILED  two.yaml"
    assert lines[2].startswith("wrote   out/three/ (")
    assert lines[3] == "3 spec(s): 2 compiled, 1 failed"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one", "three"]
    assert result.stderr.startswith("two.yaml:4:11: error[DP0304] function 'read_csv'")
    assert "Traceback" not in result.output


def test_compile_succeeds_when_every_spec_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "one.yaml")
    result = run("compile", "one.yaml")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.splitlines()[-1] == "1 spec(s): 1 compiled, 0 failed"
    files = tree(tmp_path / "generated" / "one")  # the default output folder
    assert len(files) > 5 and "pod.json" in files
    assert f"({len(files)} files)" in result.stdout


def test_all_problems_of_a_spec_are_printed_in_file_order_with_a_caret(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "s.yaml", "select: [a, a]\nfilters: ['t.a = 1']\norder_by: zzz\n")
    result = run("validate", "s.yaml")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "s.yaml:3:13: error[DP0202] duplicate output column 'a' (first at line 3)",
        "    select: [a, a]",
        "                ^",
        "s.yaml:5:11: error[DP0204] order_by 'zzz' is not an output column (outputs: a, a)",
        "    order_by: zzz",
        "              ^",
    ]


def test_validate_checks_without_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "specs/one.yaml")
    spec(tmp_path, "specs/two.yaml", BAD)
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    result = run("validate", "specs")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ok      specs/one.yaml",
        "FAILED  specs/two.yaml",
        "2 spec(s): 1 valid, 1 invalid",
    ]
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before
    assert run("validate", "specs/one.yaml").exit_code == 0


def test_a_directory_stands_for_the_specs_directly_inside_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "specs/b.yml")
    spec(tmp_path, "specs/a.yaml")
    (tmp_path / "specs" / "notes.txt").write_text("not a spec")
    spec(tmp_path, "specs/nested/c.yaml")
    result = run("validate", "specs")
    assert result.stdout.splitlines() == [
        "ok      specs/a.yaml",
        "ok      specs/b.yml",
        "2 spec(s): 2 valid, 0 invalid",
    ]


def test_a_spec_named_twice_is_compiled_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "specs/a.yaml")
    result = run("compile", "specs", "specs/a.yaml", "./specs/a.yaml", "-o", "out")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 spec(s): 1 compiled, 0 failed"


def test_a_folder_without_specs_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = run("compile", "empty")
    assert result.exit_code == 2
    assert "Error: empty: no .yaml or .yml spec in this folder" in result.stderr
    assert not (tmp_path / "generated").exists()


def test_a_missing_spec_is_a_located_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("compile", "nope.yaml", "-o", "out")
    assert result.exit_code == 1
    assert result.stderr == (
        "nope.yaml:1:1: error[DP0001] cannot read spec: No such file or directory\n"
    )
    assert result.stdout.splitlines() == ["FAILED  nope.yaml", "1 spec(s): 0 compiled, 1 failed"]


@pytest.mark.parametrize("command", ["compile", "validate"])
def test_two_specs_with_the_same_resource_name(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    for name in ("one.yaml", "two.yaml"):
        path = spec(tmp_path, name, resource="same")
        path.write_text("# a comment first\n" + path.read_text())
    result = run(command, "one.yaml", "two.yaml", *(["-o", "out"] if command == "compile" else []))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "two.yaml:2:16: error[DP0004] resource_name 'same' is already used by one.yaml; "
        "each pod needs its own name",
        "    resource_name: same",
        "                   ^",
    ]
    if command == "compile":
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["same"]
        assert json.loads((tmp_path / "out/same/pod.json").read_text())["spec"]["path"] == (
            "one.yaml"
        )


def test_schema_prints_the_spec_schema(tmp_path):
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(SPEC_SCHEMA_PATH.read_text(encoding="utf-8"))


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout == f"datapic, version {__version__}\n"


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    assert all(name in result.stdout for name in ("compile", "validate", "schema"))


def test_recompiling_replaces_the_pod_exactly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec(tmp_path, "p.yaml")
    assert run("compile", "p.yaml", "-o", "out").exit_code == 0
    first = tree(tmp_path / "out" / "p")
    (tmp_path / "out" / "p" / "stale.txt").write_text("left over")
    assert run("compile", "p.yaml", "-o", "out").exit_code == 0
    assert tree(tmp_path / "out" / "p") == first
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["p"]


def test_same_spec_same_bytes_from_any_working_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")  # marks the project root
    spec(
        project,
        "specs/p.yaml",
        "select: [a]\nfilters: a = :x\nparameters: [{name: x, type: date}]\n",
    )
    outputs = []
    for index, (cwd, argument) in enumerate(
        [
            (project, "specs/p.yaml"),
            (project / "specs", "p.yaml"),
            (tmp_path, "project/specs/p.yaml"),
            (tmp_path, project / "specs" / "p.yaml"),
        ]
    ):
        monkeypatch.chdir(cwd)
        out = tmp_path / f"out{index}"
        assert run("compile", argument, "-o", out).exit_code == 0
        outputs.append(tree(out / "p"))
    assert outputs[0] == outputs[1] == outputs[2] == outputs[3]
    document = json.loads(outputs[0]["pod.json"])
    assert document["spec"]["path"] == "specs/p.yaml"  # relative to the project root
    assert all(content.endswith(b"\n") for content in outputs[0].values())
    assert not any(str(tmp_path).encode() in content for content in outputs[0].values())


def test_the_installed_command_never_shows_a_traceback(tmp_path):
    spec(tmp_path, "bad.yaml", "select: [a]\nfilters: ['a = 1; DROP TABLE x', 'NOT :b']\n")
    (tmp_path / "broken.yaml").write_text("a: [\n")
    (tmp_path / "merge.yaml").write_text("base: &b {x: 1}\nspec:\n  <<: *b\n")
    result = subprocess.run(
        [DATAPIC, "compile", "bad.yaml", "broken.yaml", "merge.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bad.yaml:4:11: error[DP0302]" in result.stderr
    assert "broken.yaml:2:1: error[DP0002]" in result.stderr
    assert "merge.yaml:1:1: error[DP0102] unknown field 'base'" in result.stderr
    assert result.stdout.splitlines()[-1] == "3 spec(s): 0 compiled, 3 failed"
