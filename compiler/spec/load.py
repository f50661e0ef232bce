"""Stage 1: read a spec file into plain data, remembering where every key and value stands.

ruamel.yaml's round-trip loader keeps line and column marks; we copy them into a
`positions` table keyed by the JSON path of each node, then hand later stages only plain
dicts, lists and scalars, so nothing downstream depends on ruamel types.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

from ..diagnostics import LINE_BREAKING, Code, Diagnostic, Span, error, escaped

JsonPath = tuple[str | int, ...]

# A spec is a page of YAML. A larger file (or a file it names) is a mistake or an attack that
# would cost minutes of parsing before any diagnostic; so is YAML nested deeper than any spec
# (the loader recurses) or aliases expanding to more values than a spec holds (billion laughs).
MAX_SPEC_BYTES = 256 * 1024
MAX_NESTING = 64
MAX_VALUES = 100_000


class _TextDatesConstructor(RoundTripConstructor):
    """Round-trip loading, but unquoted dates stay text: YAML would raise on `2024-13-01`
    while loading, where we cannot point at it; the spec's own checks report it in place."""


_TextDatesConstructor.add_constructor(
    "tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A loaded spec: its plain data plus the position of every key and value."""

    path: Path
    display_path: str
    text: str
    data: dict[str, Any]
    values: Mapping[JsonPath, tuple[int, int]]
    keys: Mapping[JsonPath, tuple[int, int]]

    def span(self, path: JsonPath, *, key: bool = False) -> Span:
        """Where the node at `path` stands (its key, with key=True), else its nearest parent."""
        table = self.keys if key else self.values
        while path:
            if path in table:
                line, column = table[path]
                return Span(file=self.display_path, line=line, column=column)
            if not key and path in self.keys:
                line, column = self.keys[path]
                return Span(file=self.display_path, line=line, column=column)
            path = path[:-1]
        return Span(file=self.display_path, line=1, column=1)

    def located(self, span: Span) -> Span:
        """A span with an offset into one of this document's scalars (a token inside a filter),
        as that character's own line and column; other spans unchanged."""
        if span.offset is None:
            return span
        plain = replace(span, offset=None)
        if span.file != self.display_path:
            return plain
        for path, position in self.values.items():
            value = _value_at(self.data, path) if position == (span.line, span.column) else None
            if isinstance(value, str) and 0 <= span.offset < len(value):
                start = (span.line, span.column)
                line, column = scalar_position(self.text, start, value, span.offset)
                return replace(plain, line=line, column=column)
        return plain

    @property
    def sha256(self) -> str:
        """Hash of the canonical spec: insensitive to comments, quoting and key order."""
        canonical = json.dumps(self.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        # A lone surrogate ("\ud800" in a double-quoted scalar) is hashed too, not a crash.
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _value_at(data: Any, path: JsonPath) -> Any:
    for part in path:
        data = data[part]
    return data


# How far the text of a scalar may run ahead of its value at one character: quotes, escapes
# and folded line breaks; further means the two do not align, and the scalar's start is kept.
_MAX_SKIP = 12


def scalar_position(text: str, start: tuple[int, int], value: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column in `text` of character `offset` of a scalar's `value`, the
    scalar starting at `start` (its quote or block indicator): the value's characters are
    matched against the text in order, so quotes, escapes and folded lines are stepped over.

    >>> text = "filters:\\n  - |\\n    a = 1\\n    AND b = :x\\n"
    >>> scalar_position(text, (2, 5), "a = 1\\nAND b = :x\\n", 14)
    (4, 13)
    >>> scalar_position("f: 'it''s :x'", (1, 4), "it's :x", 5)
    (1, 11)
    """
    lines = text.split("\n")
    index = sum(len(line) + 1 for line in lines[: start[0] - 1]) + start[1] - 1
    if index < len(text) and text[index] in "|>":
        index = text.find("\n", index) + 1 or len(text)  # the block's text starts below
    elif index < len(text) and text[index] in "'\"":
        index += 1
    for character in value[:offset]:
        if character.isspace():
            while index < len(text) and text[index].isspace():
                index += 1
            continue
        found = text.find(character, index, index + _MAX_SKIP + 1)
        if found < 0:
            return start
        index = found + 1
    found = text.find(value[offset], index, index + _MAX_SKIP + 1)
    if found < 0:
        return start
    line_start = text.rfind("\n", 0, found) + 1
    return text.count("\n", 0, found) + 1, found - line_start + 1


def display_path(path: Path) -> str:
    """A path as the user sees it: relative to the working directory when below it."""
    resolved, cwd = path.resolve(), Path.cwd().resolve()
    if resolved.is_relative_to(cwd):
        return resolved.relative_to(cwd).as_posix()
    return path.as_posix()


def unsafe_name_character(name: str) -> str | None:
    """The first character of a path that would break a line in a generated file, if any.

    The spec's path is written into the header line of the Dockerfile, cloudbuild.yaml,
    service.yaml and README: a newline there would add lines of the file name's choosing.

    >>> unsafe_name_character("specs/orders.yaml") is None, unsafe_name_character("x\\n#.yaml")
    (True, '\\n')
    """
    for character in name:
        if unicodedata.category(character) in LINE_BREAKING:
            return character
    return None


def load(path: Path, display_path: str) -> tuple[Document | None, list[Diagnostic]]:
    """Read and parse one spec file; never raises for a user's mistake."""
    start = Span(file=display_path, line=1, column=1)
    bad = unsafe_name_character(path.resolve().as_posix())
    if bad is not None:
        shown = escaped(display_path)
        message = f"the spec's path contains {bad!r}, which generated files cannot carry; rename it"
        return None, [error(Code.UNSAFE_FILE_NAME, message, replace(start, file=shown))]
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SPEC_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [error(Code.UNREADABLE_FILE, f"cannot read spec: {reason}", start)]
    if len(raw) > MAX_SPEC_BYTES:
        message = f"a spec may hold at most {MAX_SPEC_BYTES:,} bytes; this one holds more"
        return None, [error(Code.SPEC_TOO_LARGE, message, start)]
    try:
        yaml = YAML(typ="rt", pure=True)
        yaml.Constructor = _TextDatesConstructor
        with warnings.catch_warnings():
            # ruamel warns (to stderr) about legal YAML such as a reused anchor; stages never print.
            warnings.simplefilter("ignore")
            refused = _refused_events(yaml, text, display_path)
            if refused:
                return None, refused
            tree = yaml.load(text)
    except MarkedYAMLError as exc:
        return None, [error(Code.YAML_SYNTAX, _yaml_message(exc), _mark_span(exc, display_path))]
    except YAMLError as exc:
        return None, [error(Code.YAML_SYNTAX, f"invalid YAML: {exc}", start)]
    if not isinstance(tree, CommentedMap):
        return None, [error(Code.NOT_A_MAPPING, "a spec must be a YAML mapping of fields", start)]
    values: dict[JsonPath, tuple[int, int]] = {}
    keys: dict[JsonPath, tuple[int, int]] = {}
    if _expanded_size(tree, {}) > MAX_VALUES:
        message = f"its aliases expand to more than {MAX_VALUES:,} values"
        return None, [error(Code.SPEC_TOO_LARGE, message, start)]
    data = _plain(tree, (), values, keys)
    document = Document(
        path=path, display_path=display_path, text=text, data=data, values=values, keys=keys
    )
    return document, []


def shown_text(path: Path) -> str | None:
    """A spec's text to quote under a diagnostic of a file that did not load (a YAML syntax
    error shows its line and a caret); None when there is no such text to show."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SPEC_BYTES + 1)
        return raw.decode("utf-8") if len(raw) <= MAX_SPEC_BYTES else None
    except (OSError, UnicodeDecodeError):
        return None


def _refused_events(yaml: YAML, text: str, display_path: str) -> list[Diagnostic]:
    """What the loader must not see, found in one flat pass over the parser's events: a tag
    (a spec is plain data; `!!binary` or `!!set` would pass as text) or nesting deeper than
    MAX_NESTING (the loader is recursive: a RecursionError, not a diagnostic)."""
    found: list[Diagnostic] = []
    depth = 0
    for event in yaml.parse(text):
        mark = event.start_mark
        where = Span(file=display_path, line=mark.line + 1, column=mark.column + 1)
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            message = f"YAML tag '{shown}' is not allowed: a spec holds plain values"
            found.append(error(Code.YAML_TAG, message, where))
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                message = f"YAML nested deeper than {MAX_NESTING} levels"
                return [*found, error(Code.SPEC_TOO_LARGE, message, where)]
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    return found


def _expanded_size(node: Any, seen: dict[int, int]) -> int:
    """How many values the tree holds once aliases are expanded, counting each shared node's
    size once (so a billion laughs is measured, not expanded)."""
    if id(node) in seen:
        return seen[id(node)]
    seen[id(node)] = 1  # a recursive alias counts as one value here; _plain never sees one
    if isinstance(node, CommentedMap):
        size = 1 + sum(_expanded_size(v, seen) for v in node.values()) + len(node)
    elif isinstance(node, CommentedSeq):
        size = 1 + sum(_expanded_size(item, seen) for item in node)
    else:
        size = 1
    seen[id(node)] = size
    return size


def _plain(node: Any, path: JsonPath, values: dict, keys: dict) -> Any:
    """Copy a ruamel node into plain Python data, recording positions (1-based) on the way."""
    if isinstance(node, CommentedMap):
        result = {}
        for key, value in node.items():
            child = (*path, str(key))
            keys[child] = _position(node, "key", key)
            values[child] = _position(node, "value", key)
            result[str(key)] = _plain(value, child, values, keys)
        return result
    if isinstance(node, CommentedSeq):
        result_list = []
        for index, item in enumerate(node):
            values[(*path, index)] = _position(node, "item", index)
            result_list.append(_plain(item, (*path, index), values, keys))
        return result_list
    return _plain_scalar(node)


def _position(node: CommentedMap | CommentedSeq, kind: str, index: Any) -> tuple[int, int]:
    """1-based line and column of a key, value or item; the node's own start where ruamel
    kept none (keys brought in by a `<<` merge, items of a tagged sequence)."""
    try:
        found = getattr(node.lc, kind)(index)
    except KeyError:
        found = None
    line, column = found if found else (node.lc.line, node.lc.col)
    return (line or 0) + 1, (column or 0) + 1


def _plain_scalar(value: Any) -> Any:
    """Unwrap ruamel's scalar subclasses into plain Python values."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _mark_span(exc: MarkedYAMLError, display_path: str) -> Span:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Span(file=display_path, line=1, column=1)
    return Span(file=display_path, line=mark.line + 1, column=mark.column + 1)


def _yaml_message(exc: MarkedYAMLError) -> str:
    problem = exc.problem or "invalid YAML"
    if exc.context and "duplicate" not in problem:
        return f"invalid YAML: {problem} ({exc.context})"
    return f"invalid YAML: {problem}"
