"""Every deliberately broken spec, run through the real CLI; the printed diagnostics are
snapshotted because the error messages are part of the product and are reviewed as such."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BAD = sorted((HERE / "bad").glob("*.yaml"))
LOCATED = re.compile(r"^tests/diagnostics/bad/[\w.-]+\.yaml:\d+:\d+: (error|warning)\[DP\d{4}\] ")


@pytest.mark.parametrize("spec", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_diagnostics(spec: Path, snapshot, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        main, ["compile", spec.relative_to(ROOT).as_posix(), "-o", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir()), "a bad spec must not write a pod"
    headlines = [line for line in result.stderr.splitlines() if not line.startswith("    ")]
    assert headlines and all(LOCATED.match(line) for line in headlines), headlines
    assert result.stderr == snapshot


def test_every_problem_of_a_file_is_reported_at_once(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", "tests/diagnostics/bad/unsafe-filters.yaml"])
    codes = re.findall(r"\[(DP\d{4})\]", result.stderr)
    assert len(codes) == 7, result.stderr
    assert {"DP0302", "DP0304", "DP0303", "DP0301", "DP0308"} <= set(codes)
