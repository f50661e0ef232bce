"""The query string as (name, text) pairs, with each list parameter's comma form split.

A list parameter takes its values repeated (`?r=a&r=b`, OpenAPI's form style, exploded) or
separated by commas (`?r=a,b`), and both may mix. Only a literal comma separates: a comma that
belongs to a value is percent-encoded (`%2C`), as every URL encoder writes it (urlencode,
URLSearchParams, encodeURIComponent) and as RFC 6570's form-style expansion does. So the split
is made here, on the raw query string, before percent-decoding - after it, `a%2Cb` and `a,b`
would look the same and one value would become two.

Every other argument is decoded exactly as Starlette's `request.query_params` does (parse_qsl
with blank values kept, UTF-8 with replacement, `+` as a space).
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import unquote


def query_items(raw: bytes, lists: Collection[str]) -> list[tuple[str, str]]:
    """The decoded pairs of a raw query string; a list parameter's `a,b` gives two pairs.

    >>> query_items(b"r=a,b%2Cc&r=d&s=x,y", lists={"r"})
    [('r', 'a'), ('r', 'b,c'), ('r', 'd'), ('s', 'x,y')]
    """
    items = []
    for field in raw.decode("latin-1").split("&"):
        if not field:
            continue
        encoded_name, _, value = field.partition("=")
        name = _decoded(encoded_name)
        if name in lists:
            items.extend((name, _decoded(part)) for part in value.split(","))
        else:
            items.append((name, _decoded(value)))
    return items


def _decoded(text: str) -> str:
    return unquote(text.replace("+", " "))
