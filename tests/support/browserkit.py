"""Headless Chromium for the browser tests: Debian's `chromium` (the Makefile's test target
installs it), driven by Playwright, which never downloads a browser of its own here.

Screenshots are test artifacts: `shot()` writes them under the test's tmp dir and prints where.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def chromium_page() -> Iterator:
    """A fresh page of a headless Chromium; skips the test (saying why) without a Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("no `chromium` on PATH: apt-get install -y chromium (make test does)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs the suite as root, where Chromium's sandbox cannot start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def shot(page, folder: Path, name: str) -> Path:
    """A full-page screenshot kept as a test artifact; its path is printed (pytest -s, or -rA)."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def table_rows(page, selector: str = "#answer") -> tuple[list[str], list[list[str]]]:
    """The header and the rows' cell texts of an HTML table, as the browser shows them."""
    header = page.locator(f"{selector} thead th").all_inner_texts()
    rows = page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent))",
    )
    return header, rows


def cell_text(value) -> str:
    """A JSON value as the docs page's answer table shows it (app.js cellText)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
