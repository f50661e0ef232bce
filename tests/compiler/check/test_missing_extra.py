"""`--check` without pyiceberg (a plain `pip install datapic`): one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# Runs the real CLI with pyiceberg unimportable, as it is without the `check` extra.
WITHOUT_PYICEBERG = (
    "import sys; sys.modules['pyiceberg'] = None; from compiler.cli import main; main()"
)


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_check_without_pyiceberg_says_how_to_install_it(command, tmp_path):
    spec = ROOT / "examples" / "large-orders.yaml"
    output = ["-o", str(tmp_path / "out")] if command == "compile" else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PYICEBERG, command, "--check", str(spec), *output],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "error: --check needs pyiceberg, which is not installed (pyiceberg): "
        "pip install 'datapic[check]'"
    ]
    assert not (tmp_path / "out").exists()
