"""Every deliberately broken spec in specs/, run through the real CLI; the printed diagnostics are
snapshotted because the error messages are part of the product and are reviewed as such.

Add a case: drop a spec in specs/ and run `pytest tests/diagnostics --snapshot-update`, then
read the new snapshot in __snapshots__/ before committing it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.diagnostics import Code

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPECS = sorted((HERE / "specs").glob("*.yaml"))
LOCATED = re.compile(
    r"^tests/diagnostics/specs/[\w./-]+\.yaml:(?P<line>\d+):(?P<col>\d+): "
    r"error\[DP\d{4}\] \S"
)


def compile_through_the_cli(monkeypatch, tmp_path, *arguments: str):
    """`datapic compile ARGUMENTS -o TMP` from the repository root, checked for what holds for
    every broken spec: exit code 1, no traceback, nothing written, every headline located."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", *arguments, "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    headlines = [line for line in result.stderr.splitlines() if not line.startswith("    ")]
    assert headlines, "a failed spec must say why"
    for line in headlines:
        match = LOCATED.match(line)
        assert match, line
        assert int(match["line"]) >= 1 and int(match["col"]) >= 1
    return result, out


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_broken_spec(spec: Path, snapshot, monkeypatch, tmp_path) -> None:
    relative = spec.relative_to(ROOT).as_posix()
    result, out = compile_through_the_cli(monkeypatch, tmp_path, relative)
    assert not out.exists() or not any(out.iterdir()), "a bad spec must not write a pod"
    assert result.stdout.splitlines() == [f"FAILED  {relative}", "1 spec(s): 0 compiled, 1 failed"]
    # Carets point inside the printed line.
    lines = result.stderr.splitlines()
    for shown, caret in zip(lines, lines[1:], strict=False):
        if caret.strip() == "^" and shown.startswith("    "):
            assert len(caret) <= len(shown) + 1
    assert result.stderr == snapshot


def test_same_resource_name_in_one_compile(snapshot, monkeypatch, tmp_path) -> None:
    result, out = compile_through_the_cli(
        monkeypatch, tmp_path, "tests/diagnostics/specs/same-resource-name"
    )
    assert [p.name for p in out.iterdir()] == ["shared-name"]  # the first one is written
    assert result.stdout.splitlines()[-1] == "2 spec(s): 1 compiled, 1 failed"
    assert result.stderr == snapshot


def test_pods_that_read_each_other(snapshot, monkeypatch, tmp_path) -> None:
    result, out = compile_through_the_cli(
        monkeypatch, tmp_path, "tests/diagnostics/specs/upstream-cycle"
    )
    assert not out.exists() or not any(out.iterdir())
    assert result.stdout.splitlines()[-1] == "2 spec(s): 0 compiled, 2 failed"
    assert result.stderr == snapshot


def test_parameters_an_upstream_needs(snapshot, monkeypatch, tmp_path) -> None:
    """The downstream is listed first: its upstream compiles first all the same."""
    result, out = compile_through_the_cli(
        monkeypatch,
        tmp_path,
        "tests/diagnostics/specs/upstream-parameters/down.yaml",
        "tests/diagnostics/specs/upstream-parameters/up.yaml",
    )
    assert [p.name for p in out.iterdir()] == ["params-up"]
    assert result.stdout.splitlines()[-1] == "2 spec(s): 1 compiled, 1 failed"
    assert result.stderr == snapshot


def test_readers_of_pods_that_check_tokens(snapshot, monkeypatch, tmp_path) -> None:
    """Readers of an upstream that binds claims, or takes only HS256 tokens, are refused; a
    reader of one that takes Google's ID tokens compiles."""
    result, out = compile_through_the_cli(
        monkeypatch, tmp_path, "tests/diagnostics/specs/upstream-with-auth"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "auth-bound",
        "auth-google",
        "auth-hs256",
        "reads-google",
    ]
    assert result.stdout.splitlines()[-1] == "6 spec(s): 4 compiled, 2 failed"
    assert result.stderr == snapshot


def test_unreadable_spec(snapshot, monkeypatch, tmp_path) -> None:
    result, _ = compile_through_the_cli(
        monkeypatch, tmp_path, "tests/diagnostics/specs/does-not-exist.yaml"
    )
    assert result.stderr == snapshot


def test_several_problems_of_a_file_are_reported_at_once(monkeypatch, tmp_path) -> None:
    result, _ = compile_through_the_cli(
        monkeypatch, tmp_path, "tests/diagnostics/specs/unsafe-filters.yaml"
    )
    codes = re.findall(r"\[(DP\d{4})\]", result.stderr)
    assert len(codes) == 11, result.stderr
    assert set(codes) == {"DP0302", "DP0303", "DP0304"}
    lines = [int(n) for n in re.findall(r"^\S+?:(\d+):", result.stderr, re.MULTILINE)]
    assert lines == list(range(6, 17))  # one per filter, in file order


def test_a_spec_name_that_would_inject_lines(snapshot, monkeypatch, tmp_path) -> None:
    """Git cannot keep this one in specs/: a newline in a file name would otherwise become a
    line of the Dockerfile, cloudbuild.yaml, service.yaml and README."""
    monkeypatch.chdir(tmp_path)
    Path("x\nqueueTtl: 1s\n#.yaml").write_text("resource_name: t\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", "x\nqueueTtl: 1s\n#.yaml", "-o", "out"])
    assert result.exit_code == 1 and not Path("out").exists()
    assert result.stderr == snapshot


def test_every_diagnostic_code_a_spec_can_cause_is_exercised(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(ROOT)
    warned = sorted((HERE / "warnings").glob("*.yaml"))
    arguments = [p.relative_to(ROOT).as_posix() for p in [*SPECS, *warned]]
    arguments += ["tests/diagnostics/specs/same-resource-name", "missing.yaml"]
    arguments += [
        "tests/diagnostics/specs/upstream-cycle",
        "tests/diagnostics/specs/upstream-parameters",
        "tests/diagnostics/specs/upstream-with-auth",
    ]
    badly_named = tmp_path / "x\n#.yaml"
    badly_named.write_text("resource_name: t\n", encoding="utf-8")
    arguments.append(str(badly_named))
    result = CliRunner().invoke(main, ["validate", *arguments])
    seen = set(re.findall(r"\[(DP\d{4})\]", result.stderr))
    spec_codes = {c.value for c in Code if c.value < "DP0400"}  # DP04xx: deploy settings
    # DP06xx: pods read by pods (DP0605: a pod.json broken by hand, DP0606: --check only)
    spec_codes |= {"DP0601", "DP0602", "DP0603", "DP0604", "DP0607"}
    assert spec_codes - seen == set()


def test_ten_mistakes_of_every_stage_are_reported_in_one_run(monkeypatch, tmp_path) -> None:
    """Schema, structure and SQL problems of one file come together, each once: none hides
    another, and none is reported again as a follow-on of another."""
    result, _ = compile_through_the_cli(
        monkeypatch, tmp_path, "tests/diagnostics/specs/ten-mistakes.yaml"
    )
    found = re.findall(r"^\S+?:(\d+):\d+: error\[(DP\d{4})\]", result.stderr, re.MULTILINE)
    assert len(found) == 10, result.stderr
    assert [int(line) for line, _ in found] == [5, 7, 10, 11, 13, 16, 17, 20, 21, 22]
    assert sorted({code for _, code in found}) == [
        "DP0102",  # schema: unknown fields
        "DP0103",  # schema: wrong values
        "DP0204",  # build: order_by
        "DP0205",  # build: long_description
        "DP0303",  # lower: qualified column
        "DP0304",  # lower: function
        "DP0305",  # lower: undeclared parameter
        "DP0309",  # lower: not an aggregate
    ]
