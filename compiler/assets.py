"""Where schemas/ and templates/ live: inside the package when installed from a wheel, at the
repository's top level when installed editable (where reviewers see and edit them)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _asset_root(name: str) -> Path:
    bundled = _PACKAGE / "_data" / name
    return bundled if bundled.is_dir() else _PACKAGE.parent / name


def schema_path(filename: str) -> Path:
    """Path of a JSON Schema shipped with datapic."""
    return _asset_root("schemas") / filename


def templates_dir() -> Path:
    """The templates/ folder: Jinja templates and the pod runtime copied into every pod."""
    return _asset_root("templates")
