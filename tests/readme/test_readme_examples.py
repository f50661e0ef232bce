"""Every example in README.md runs as shown.

Each fenced block is preceded by an HTML comment saying what it is:

- `<!-- example: run; … -->` shell lines, run in order with `bash -e` from the root of a copy of
  the repository (its `.venv/bin/python` and `.venv/bin/datapic` are this test's interpreter
  and compiler), offline, against the demo lakehouse `make demo` builds there. A port 8000
  becomes a free one; whatever the block started in the background is stopped after it.
- `<!-- example: spec; … -->` a whole spec, compiled with `--check` against that lakehouse.
- `<!-- example: merge into PATH; … -->` part of a spec, merged into the spec at PATH, compiled.
- `<!-- example: skip; REASON -->` not run, and REASON says why.

The run blocks come first (they build the lakehouse the specs are checked against). A block
without a comment, or a skip without a reason, fails the test: each new example is classified.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import podrun
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# What `make demo` needs of the repository (the compiler itself is this checkout's).
COPIED = (
    "Makefile",
    "pyproject.toml",
    "README.md",
    "examples",
    "templates",
    "schemas",
    "generated",
)
MARKER = re.compile(r"<!-- example: (run|spec|merge into (\S+)|skip)(?:; (.*?))? -->")
FENCE = re.compile(r"^```")
DEMO_PORT = "8000"

pytestmark = pytest.mark.pod


@dataclass(frozen=True)
class Block:
    """A fenced block of the README: where it starts, what its comment says, its text."""

    line: int
    kind: str
    target: str | None
    reason: str | None
    text: str


def blocks(text: str) -> list[Block]:
    """The README's fenced blocks with the comment before each (kind "" when it has none)."""
    found, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        if not FENCE.match(lines[index]):
            index += 1
            continue
        start = index
        end = next(i for i in range(start + 1, len(lines)) if FENCE.match(lines[i]))
        marker = MARKER.fullmatch(lines[start - 1].strip()) if start else None
        kind = marker[1].split(" ")[0] if marker else ""
        body = "\n".join(lines[start + 1 : end]) + "\n"
        target, reason = (marker[2], marker[3]) if marker else (None, None)
        found.append(Block(start + 1, kind, target, reason, body))
        index = end + 1
    return found


def test_every_block_says_what_it_is():
    unmarked = [b.line for b in blocks(README.read_text()) if not b.kind]
    assert not unmarked, f"README.md lines {unmarked}: add <!-- example: … --> before the block"
    unexplained = [b.line for b in blocks(README.read_text()) if b.kind == "skip" and not b.reason]
    assert not unexplained, f"README.md lines {unexplained}: say why the block is skipped"


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A copy of the repository whose .venv is this interpreter with this checkout's compiler
    (the stamps say it is installed, so make does not install anything)."""
    root = tmp_path_factory.mktemp("readme") / "datapic"
    root.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shims = {
        "python": f'exec "{sys.executable}" "$@"\n',
        "datapic": f'exec "{sys.executable}" -c "from compiler.cli import main; main()" "$@"\n',
    }
    for name, body in shims.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    for stamp in (".created", ".installed-demo"):
        (root / ".venv" / stamp).touch()
    return root


def environment(repository: Path) -> dict[str, str]:
    """This environment without catalog settings: the examples must find the demo's own."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PYICEBERG_")}
    home = repository.parent / "home"
    home.mkdir(exist_ok=True)
    return {**env, "HOME": str(home), "PYTHONPATH": str(ROOT)}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative path, with its bytes."""
    files = (p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def free_port() -> str:
    return str(podrun.free_port())


def run_block(block: Block, repository: Path) -> None:
    """The block's lines with bash -e; its background processes stopped afterwards."""
    script = block.text.replace(DEMO_PORT, free_port())
    log = repository.parent / f"line-{block.line}.log"
    # Into a file, not a pipe: a server the block left running would hold a pipe open.
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["bash", "-e", "-c", script],
            cwd=repository,
            env=environment(repository),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=600)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    text = log.read_text(errors="replace")
    assert process.returncode == 0, f"README.md line {block.line}:\n{text[-4000:]}"


def compile_spec(block: Block, repository: Path) -> None:
    """The block as a spec file (merged into its target first), compiled with --check."""
    yaml = YAML()
    spec = yaml.load(block.text)
    if block.target is not None:
        whole = yaml.load((repository / block.target).read_text())
        whole.update(spec)
        spec = whole
    path = repository / "examples" / f"readme-line-{block.line}.yaml"
    with path.open("w") as stream:
        yaml.dump(spec, stream)
    datapic = [str(repository / ".venv" / "bin" / "datapic"), "compile", "--check"]
    finished = subprocess.run(
        [*datapic, str(path.relative_to(repository)), "-o", "readme-out"],
        cwd=repository,
        env=environment(repository),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, f"README.md line {block.line}:\n{finished.stderr}"
    path.unlink()


def test_the_readme_examples_run_as_shown(repository):
    found = blocks(README.read_text())
    runs = [b for b in found if b.kind == "run"]
    specs = [b for b in found if b.kind in ("spec", "merge")]
    assert runs and specs  # the first hour and the spec examples are there
    for block in runs:
        run_block(block, repository)
    assert (repository / ".pyiceberg.yaml").is_file()  # make demo wrote it
    # make demo compiles examples/ with --check: the committed generated/ (locks included) is
    # exactly what it gives.
    assert tree(repository / "generated") == tree(ROOT / "generated")
    for block in specs:
        compile_spec(block, repository)
