"""Markdown to HTML for a spec's long description, rendered at compile time.

A spec's text must never become markup of the page: raw HTML is not passed through (it shows
as text), and links go only to http(s), mailto or relative targets (markdown-it's own check
refuses javascript:, vbscript:, file: and data: URLs other than images).
"""

from __future__ import annotations

import functools

from markdown_it import MarkdownIt


@functools.cache
def _parser() -> MarkdownIt:
    # CommonMark plus tables; html=False escapes any HTML a description holds.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_html(text: str) -> str:
    """`text` (CommonMark) as an HTML fragment that holds no markup of its author's own.

    >>> markdown_html("**bold** <script>alert(1)</script>")
    '<p><strong>bold</strong> &lt;script&gt;alert(1)&lt;/script&gt;</p>\\n'
    """
    return _parser().render(text)
