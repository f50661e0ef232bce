"""Where a project's demo catalog lives and the .pyiceberg.yaml that points pyiceberg at it.

The demo lakehouse (compiler/lakehouse.py) is pyiceberg's SQL catalog in SQLite plus a file
warehouse, in `.lakehouse/` under the project. pyiceberg reads `.pyiceberg.yaml` from the
working directory, so `datapic serve` and `datapic compile --check` run in the project find it.
The paths are absolute (pyiceberg writes the warehouse path into the table's metadata), so the
file is for this machine only: git-ignored, written by `datapic init` and, when missing, by
`datapic demo-lakehouse`.
"""

from __future__ import annotations

from pathlib import Path

LAKEHOUSE_DIR = ".lakehouse"
PYICEBERG_FILE = ".pyiceberg.yaml"
DEMO_CATALOG = "default"


def demo_catalog_properties(root: Path) -> dict[str, str]:
    """pyiceberg's properties of the demo catalog whose files are in `root`."""
    root = root.resolve()
    return {
        "type": "sql",
        "uri": f"sqlite:///{root / 'catalog.db'}",
        "warehouse": (root / "warehouse").as_uri(),
    }


def pyiceberg_yaml(lakehouse: Path) -> str:
    """The text of a .pyiceberg.yaml naming the demo lakehouse in `lakehouse` catalog `default`."""
    properties = demo_catalog_properties(lakehouse)
    lines = [
        "# pyiceberg's catalog settings for this project: `datapic serve` and",
        "# `datapic compile --check` run here read them. Catalog `default` is the demo lakehouse",
        "# that `datapic demo-lakehouse` builds; point it at your own catalog when you have one.",
        "# Paths on this machine (and, for a real catalog, credentials): git-ignored.",
        "catalog:",
        f"  {DEMO_CATALOG}:",
        *(f"    {key}: {value}" for key, value in properties.items()),
    ]
    return "\n".join(lines) + "\n"
