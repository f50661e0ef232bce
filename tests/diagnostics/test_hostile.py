"""A corpus of hostile specs (issue 11): each must give located errors, or a pod whose deploy
files hold nothing the spec smuggled in. Never a traceback, a hang or a file read from outside.

Add a case: drop a spec in hostile/ (its payload, where it has one, says INJECTED or adds a
`queueTtl` key). Cases git cannot hold (file names with newlines, oversized files) are made
below. Nothing is snapshotted here: specs/ holds the reviewed messages of each new code.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from compiler.cli import main
from compiler.spec.load import MAX_SPEC_BYTES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = sorted((HERE / "hostile").glob("*.yaml"))
HEADLINE = re.compile(r"^(?P<file>[^\n]+?):(?P<line>\d+):(?P<col>\d+): error\[DP\d{4}\] \S")
BENIGN = "resource_name: benign\ndepends_on: [{namespace: sales, table: orders}]\nselect: [a]\n"
INJECTED_LINE = re.compile(r"^\s*(RUN echo INJECTED|queueTtl:|FROM scratch|INJECTED)", re.M)
DEPLOY_FILES = ("Dockerfile", "cloudbuild.yaml", "service.yaml", ".dockerignore", ".gcloudignore")

# Spec file names git cannot keep: each would write lines of its own into every deploy file.
BAD_NAMES = [
    "x\nRUN echo INJECTED\n#.yaml",
    "x\nqueueTtl: 1s\n#.yaml",
    "x\rRUN echo INJECTED.yaml",
    "x\u2028queueTtl: 1s.yaml",
    "x\x85RUN echo INJECTED.yaml",
]


def compiled(folder: Path, *arguments: str):
    """`datapic compile ARGUMENTS -o OUT` run from `folder`, with what must always hold: no
    traceback, quickly done, and either every headline located or every spec compiled."""
    out = folder / "out"
    started = time.monotonic()
    result = CliRunner().invoke(main, ["compile", *arguments, "-o", str(out)])
    assert time.monotonic() - started < 20, "a hostile spec must fail fast"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        headlines = [line for line in result.stderr.splitlines() if not line.startswith("    ")]
        assert headlines, "a failed spec must say why"
        for line in headlines:
            match = HEADLINE.match(line)
            assert match and int(match["line"]) >= 1 and int(match["col"]) >= 1, line
        assert not out.exists() or not any(out.iterdir()), "a bad spec must not write a pod"
        return None
    assert result.exit_code == 0, result.output
    return [pod for pod in out.iterdir()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, object]:
    """The shape of the deploy files of a harmless pod, which every hostile pod must keep."""
    folder = tmp_path_factory.mktemp("reference")
    (folder / "benign.yaml").write_text(BENIGN, encoding="utf-8")
    [pod] = compiled(folder, str(folder / "benign.yaml"))
    return shape(pod)


def shape(pod: Path) -> dict[str, object]:
    """What a spec's text may not change in the deploy files: their top-level YAML keys, the
    Dockerfile's instructions, the ignore files' lines, and the one-line header of each."""
    texts = {name: (pod / name).read_text(encoding="utf-8") for name in DEPLOY_FILES}
    for name, text in texts.items():
        # A payload may stand inside a quoted value; it must never begin a line of its own.
        assert not INJECTED_LINE.search(text), name
    return {
        "cloudbuild keys": sorted(yaml.safe_load(texts["cloudbuild.yaml"])),
        "service keys": sorted(yaml.safe_load(texts["service.yaml"])),
        "service spec": sorted(yaml.safe_load(texts["service.yaml"])["spec"]),
        "dockerfile": _instructions(texts["Dockerfile"]),
        ".dockerignore": texts[".dockerignore"].splitlines()[1:],
        ".gcloudignore": texts[".gcloudignore"].splitlines()[1:],
        "readme header": (pod / "README.md").read_text(encoding="utf-8").splitlines()[0][-4:],
    }


def _instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions in order (continuation lines and comments skipped)."""
    found, continued = [], False
    for line in dockerfile.splitlines():
        if not continued and line.strip() and not line.startswith("#"):
            found.append(line.split()[0])
        continued = line.rstrip().endswith("\\")
    return found


@pytest.mark.parametrize("spec", CORPUS, ids=[p.stem for p in CORPUS])
def test_hostile_spec(spec: Path, reference, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(ROOT)
    pods = compiled(tmp_path, spec.relative_to(ROOT).as_posix())
    for pod in pods or []:
        assert shape(pod) == reference


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_hostile_spec_file_name(name: str, reference, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(BENIGN, encoding="utf-8")
    assert compiled(tmp_path, name) is None


def test_hostile_spec_size(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    Path("big.yaml").write_text(BENIGN + "# padding\n" * (MAX_SPEC_BYTES // 10), encoding="utf-8")
    assert compiled(tmp_path, "big.yaml") is None


def test_harmless_names_still_compile(reference, monkeypatch, tmp_path) -> None:
    # The guard is against breaking lines, not against unusual names.
    monkeypatch.chdir(tmp_path)
    Path("ventes été (copie).yaml").write_text(BENIGN, encoding="utf-8")
    [pod] = compiled(tmp_path, "ventes été (copie).yaml")
    assert shape(pod) == reference
