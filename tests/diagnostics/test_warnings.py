"""Specs that compile, but with warnings: each run through the real CLI twice. Without
`--fail-on-warning` the warnings are printed and the pod is written (exit 0); with it the
same warnings fail the spec (exit 1, nothing written). The printed warnings are snapshotted.

Add a case: drop a spec in warnings/ and run `pytest tests/diagnostics --snapshot-update`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPECS = sorted((HERE / "warnings").glob("*.yaml"))
WARNING = re.compile(r"^tests/diagnostics/warnings/[\w-]+\.yaml:\d+:\d+: warning\[DP\d{4}\] \S")


def run(monkeypatch, *arguments: str):
    monkeypatch.chdir(ROOT)
    return CliRunner().invoke(main, [*arguments])


def headlines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("    ")]


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_a_warning_is_printed_and_the_pod_written(spec, snapshot, monkeypatch, tmp_path):
    relative = spec.relative_to(ROOT).as_posix()
    out = tmp_path / "out"
    result = run(monkeypatch, "compile", relative, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 spec(s): 1 compiled, 0 failed"
    assert len(list(out.iterdir())) == 1
    lines = headlines(result.stderr)
    assert lines and all(WARNING.match(line) for line in lines), result.stderr
    assert result.stderr == snapshot


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_fail_on_warning_fails_the_spec(spec, monkeypatch, tmp_path):
    relative = spec.relative_to(ROOT).as_posix()
    out = tmp_path / "out"
    plain = run(monkeypatch, "compile", relative, "-o", str(tmp_path / "plain"))
    result = run(monkeypatch, "compile", "--fail-on-warning", relative, "-o", str(out))
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [f"FAILED  {relative}", "1 spec(s): 0 compiled, 1 failed"]
    assert not out.exists() or not any(out.iterdir())
    assert result.stderr == plain.stderr  # the same warnings, now failing the spec
    validated = run(monkeypatch, "validate", "--fail-on-warning", relative)
    assert validated.exit_code == 1
    assert validated.stdout.splitlines()[0] == f"FAILED  {relative}"
    assert run(monkeypatch, "validate", relative).exit_code == 0


def test_fail_on_warning_leaves_a_clean_spec_alone(monkeypatch, tmp_path):
    clean = "tests/diagnostics/warnings/clean/clean.yaml"
    for command in (["compile", "-o", str(tmp_path / "out")], ["validate"]):
        result = run(monkeypatch, command[0], "--fail-on-warning", clean, *command[1:])
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
