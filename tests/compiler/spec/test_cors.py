"""`cors:` (compiler/spec/cors.py): the spec's block or the project's datapic.yaml one reaches
pod.json as written; a spec's own (or `cors: false`) replaces the project's whole; origins a
browser never sends as written, and "*" with credentials, are located errors. The runtime's
side, over HTTP: tests/pods/test_pod_edge.py."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from factories import HEADER

from compiler.cli import main
from compiler.spec.cors import origin_problem

BODY = "select: [a]\ndeploy: false\nlimit: 10\n"
PROJECT = "cors:\n  allow_origins: [https://app.example.com]\n  allow_credentials: true\n"


def compile_in(folder, spec: str, project: str | None = None):
    """Compile one spec in a project folder: (exit code, output, pod.json's cors or None)."""
    (folder / "datapic.yaml").write_text(project or "")
    (folder / "t.yaml").write_text(HEADER + BODY + spec)
    result = CliRunner().invoke(main, ["compile", str(folder / "t.yaml"), "-o", str(folder / "o")])
    pod = folder / "o" / "t" / "pod.json"
    cors = json.loads(pod.read_text()).get("cors") if result.exit_code == 0 else None
    return result.exit_code, result.output, cors


def test_the_spec_block_reaches_pod_json(tmp_path):
    spec = "cors:\n  allow_origins: ['*']\n  max_age_seconds: 60\n"
    assert compile_in(tmp_path, spec)[2] == {
        "allow_origins": ["*"],
        "allow_credentials": False,
        "max_age_seconds": 60,
    }


def test_no_block_no_cors(tmp_path):
    assert compile_in(tmp_path, "")[:3:2] == (0, None)


def test_the_project_default_applies_and_a_spec_replaces_it_whole(tmp_path):
    assert compile_in(tmp_path, "", PROJECT)[2] == {
        "allow_origins": ["https://app.example.com"],
        "allow_credentials": True,
        "max_age_seconds": 600,
    }
    own = "cors:\n  allow_origins: ['http://127.0.0.1:8000']\n"
    assert compile_in(tmp_path, own, PROJECT)[2] == {
        "allow_origins": ["http://127.0.0.1:8000"],
        "allow_credentials": False,  # not inherited from the project's block
        "max_age_seconds": 600,
    }
    assert compile_in(tmp_path, "cors: false\n", PROJECT)[:3:2] == (0, None)


def test_a_bad_project_block_is_located_in_datapic_yaml(tmp_path):
    project = "cors:\n  allow_origins: ['*']\n  allow_credentials: true\n"
    code, output, _ = compile_in(tmp_path, "", project)
    assert code == 1
    assert "datapic.yaml:2:19: error[DP0720]" in output


@pytest.mark.parametrize(
    ("origin", "problem"),
    [
        ("https://app.example.com", None),
        ("http://127.0.0.1:8000", None),
        ("http://[::1]:8080", None),
        ("https://app.example.com:443", "'https://app.example.com'"),
        ("HTTPS://app.example.com", "'https://app.example.com'"),
        ("https://app.example.com/", "'https://app.example.com'"),
        ("https://app.example.com/path", "'https://app.example.com'"),
        ("https://app.example.com\n", "white space"),
        ("https://user@app.example.com", "no user"),
        ("app.example.com", "expected http(s)://host[:port]"),
        ("https://app.example.com:99999", "not an origin"),
        ("null", "expected http(s)://host[:port]"),
    ],
)
def test_an_origin_is_written_as_a_browser_sends_it(origin, problem):
    found = origin_problem(origin)
    assert found is None if problem is None else problem in found
