"""generated/ is exactly what `datapic compile examples/*.yaml` writes: reviewers can trust it.

Compiled over a copy of each committed pod.json, as `make regen` compiles over generated/: the
schema locks there (from `datapic compile --check` against the demo lakehouse, which `make demo`
runs) are kept while their specs are unchanged, and checked like every other byte."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from click.testing import CliRunner

from compiler.cli import main

ROOT = Path(__file__).resolve().parents[2]
REGEN = "run `make regen` (datapic compile examples/*.yaml -o generated) and commit generated/"


def _tree(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def test_generated_matches_examples(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.yaml"))
    for pod_json in (ROOT / "generated").glob("*/pod.json"):
        (tmp_path / pod_json.parent.name).mkdir()
        shutil.copy(pod_json, tmp_path / pod_json.parent.name / "pod.json")
    result = CliRunner().invoke(main, ["compile", *specs, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output

    fresh, committed = _tree(tmp_path), _tree(ROOT / "generated")
    assert sorted(fresh) == sorted(committed), f"files differ: {REGEN}"
    drifted = [
        name for name in fresh if not filecmp.cmp(fresh[name], committed[name], shallow=False)
    ]
    assert not drifted, f"{drifted} drifted: {REGEN}"


def test_every_example_has_a_pod() -> None:
    names = {p.name for p in (ROOT / "generated").iterdir() if p.is_dir()}
    assert len(names) == len(list((ROOT / "examples").glob("*.yaml")))
