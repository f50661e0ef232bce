"""generated/ reads well in review: the copied runtime is marked generated (review tools collapse
it) and, with `git config diff.orderFile .gitorderfile`, a pod's diff opens with its pod.json."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POD = "generated/large-orders"


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True).stdout


def _repo(tmp_path: Path) -> Path:
    """A repository holding generated/ and the review settings, as this one does."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "generated", repo / "generated")
    for name in (".gitattributes", ".gitorderfile"):
        shutil.copy(ROOT / name, repo / name)
    _git(repo, "init", "--quiet")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "pods")
    return repo


def test_the_copied_runtime_is_marked_generated_and_the_pod_data_is_not(tmp_path):
    repo = _repo(tmp_path)
    copied = [f"{POD}/app.py", f"{POD}/requirements.txt", f"{POD}/datapic_runtime/server.py"]
    reviewed = [f"{POD}/{name}" for name in ("pod.json", "openapi.json", "service.yaml")]
    marked = _git(repo, "check-attr", "linguist-generated", "--", *copied, *reviewed)
    assert marked.splitlines() == [
        *(f"{path}: linguist-generated: true" for path in copied),
        *(f"{path}: linguist-generated: unspecified" for path in reviewed),
    ]


def test_a_diff_lists_pod_json_openapi_and_service_before_the_runtime(tmp_path):
    repo = _repo(tmp_path)
    # A change of the runtime and of the query at once: alphabetically the runtime comes first.
    changed = ["datapic_runtime/config.py", "app.py", "service.yaml", "openapi.json", "pod.json"]
    for name in changed:
        with (repo / POD / name).open("a") as file:
            file.write("\n")
    listed = _git(repo, "-c", "diff.orderFile=.gitorderfile", "diff", "--name-only")
    assert listed.splitlines() == [
        f"{POD}/{name}"
        for name in (
            "pod.json",
            "openapi.json",
            "service.yaml",
            "app.py",
            "datapic_runtime/config.py",
        )
    ]
    unordered = _git(repo, "diff", "--name-only").splitlines()
    assert unordered[0] == f"{POD}/app.py"  # what the order file is for
