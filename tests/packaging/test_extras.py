"""The `serve` extra runs pods inside datapic's own Python: it must pin what the pod runtime
imports at the versions every pod gets (templates/pod/requirements.txt), or `datapic serve`
would answer with other libraries than the deployed pod."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def test_the_serve_extra_pins_the_pods_versions():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    lock = {}
    for line in (ROOT / "templates" / "pod" / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[_name(name)] = version
    pins = [req for req in extras["serve"] if "==" in req]
    assert len(pins) >= 8
    for requirement in pins:
        name, version = requirement.split("==")
        assert lock.get(_name(name)) == version, requirement
    # pyiceberg and DuckDB come through the check extra, pinned alike.
    for requirement in extras["check"]:
        name, version = requirement.split("==")
        assert lock[_name(name.split("[")[0])] == version, requirement
    assert "datapic[check]" in extras["serve"] and "datapic[serve]" in extras["demo"]
