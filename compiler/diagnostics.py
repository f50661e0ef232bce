"""Located problems found while compiling a spec, and how they are printed.

Stages never print: each returns its diagnostics as values and the CLI prints them together,
GCC style (`file:line:col: error[DP0301] message`) so editors can jump to them.
"""

from __future__ import annotations

import difflib
import enum
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .secrets import mask_secret_value


class Severity(enum.StrEnum):
    """How bad a diagnostic is: errors stop the pipeline, warnings do not (unless asked)."""

    ERROR = enum.auto()
    WARNING = enum.auto()


class Code(enum.Enum):
    """Stable diagnostic codes users can search for. Never renumber; only add."""

    UNREADABLE_FILE = "DP0001"
    YAML_SYNTAX = "DP0002"
    NOT_A_MAPPING = "DP0003"
    DUPLICATE_RESOURCE = "DP0004"
    UNSAFE_FILE_NAME = "DP0005"
    SPEC_TOO_LARGE = "DP0006"
    YAML_TAG = "DP0007"
    MISSING_FIELD = "DP0101"
    UNKNOWN_FIELD = "DP0102"
    INVALID_VALUE = "DP0103"
    WRONG_FIELD_FOR_OPERATION = "DP0201"
    DUPLICATE_NAME = "DP0202"
    NOT_SUPPORTED = "DP0203"
    UNKNOWN_OUTPUT_COLUMN = "DP0204"
    MISSING_DESCRIPTION_FILE = "DP0205"
    DESCRIPTION_FILE_OUTSIDE_PROJECT = "DP0206"
    UNORDERED_PAGES = "DP0207"  # a warning
    SQL_SYNTAX = "DP0301"
    NOT_ONE_EXPRESSION = "DP0302"
    CONSTRUCT_NOT_ALLOWED = "DP0303"
    FUNCTION_NOT_ALLOWED = "DP0304"
    UNDECLARED_PARAMETER = "DP0305"
    PARAMETER_TYPE_MISMATCH = "DP0306"
    UNUSED_PARAMETER = "DP0307"
    NOT_A_CONDITION = "DP0308"
    NOT_AN_AGGREGATE = "DP0309"
    EXPRESSION_TOO_DEEP = "DP0310"
    NUMBER_OUT_OF_RANGE = "DP0311"
    IN_NEEDS_A_LIST = "DP0312"
    LIST_OUTSIDE_IN = "DP0313"
    BAD_AGGREGATE_ARGUMENT = "DP0314"
    SECRET_IN_PLAIN_TEXT = "DP0401"
    INVALID_DEPLOY_SETTING = "DP0402"
    NO_CATALOG_FOR_DEPLOYMENT = "DP0403"  # a warning
    UNUSABLE_DEPLOY_SETTING = "DP0404"  # a warning: config.yml's deployment block
    # DP05xx: found by `--check`, against the table's current schema in the catalog.
    MISSING_TABLE = "DP0501"
    UNKNOWN_COLUMN = "DP0502"
    COLUMN_TYPE_MISMATCH = "DP0503"
    CATALOG_UNAVAILABLE = "DP0504"
    UNSUPPORTED_FEATURE = "DP0505"
    # DP06xx: pods that read other pods
    UNKNOWN_UPSTREAM = "DP0601"
    UPSTREAM_CYCLE = "DP0602"
    UPSTREAM_PARAMETER_MISSING = "DP0603"
    UPSTREAM_PARAMETER_TYPE = "DP0604"
    UPSTREAM_UNREADABLE = "DP0605"
    UPSTREAM_NOT_LOCKED = "DP0606"
    UPSTREAM_CHECKS_TOKENS = "DP0607"
    # DP07xx: callers: auth, binding, limits
    AUTH_JWT_FORM = "DP0701"
    AUTH_ISSUER_NOT_HTTPS = "DP0702"
    AUTH_SECRET_ENV = "DP0703"
    BAD_CLAIM_PATH = "DP0704"
    BIND_UNDECLARED_PARAMETER = "DP0705"
    BIND_LIST_PARAMETER = "DP0706"
    PUBLIC_WITHOUT_AUTH = "DP0707"  # a warning
    SHARED_SECRET_WITHOUT_AUDIENCE = "DP0708"  # a warning
    # DP072x: how browsers may call the pod (cors:).
    CORS_WILDCARD_WITH_CREDENTIALS = "DP0720"
    INVALID_CORS_ORIGIN = "DP0721"


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """Where something came from: a file and a 1-based line and column.

    With `offset`, the place is that many characters into the YAML scalar whose value starts at
    line:column (a token inside a filter); the pipeline turns it into that token's own line
    and column, whatever the scalar's style (plain, quoted, block, over several lines).
    """

    file: str
    line: int
    column: int
    offset: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    """One problem, located in the spec."""

    code: Code
    message: str
    span: Span
    severity: Severity = Severity.ERROR


def error(code: Code, message: str, span: Span) -> Diagnostic:
    """An error diagnostic."""
    return Diagnostic(code=code, severity=Severity.ERROR, message=message, span=span)


def warning(code: Code, message: str, span: Span) -> Diagnostic:
    """A warning: printed, but the pod is still written (unless --fail-on-warning)."""
    return Diagnostic(code=code, severity=Severity.WARNING, message=message, span=span)


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """'did you mean ...? ' for the option closest to a misspelt name, else nothing.

    >>> did_you_mean("regon", ["region", "since"]), did_you_mean("x", ["region"])
    ("did you mean 'region'? ", '')
    """
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def has_errors(diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> bool:
    """Whether any of the diagnostics is an error."""
    return any(d.severity is Severity.ERROR for d in diagnostics)


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    """Order diagnostics as a reader scans the file: top to bottom."""
    span = diagnostic.span
    return (span.file, span.line, span.column, diagnostic.code.value)


def format_diagnostic(diagnostic: Diagnostic, source_text: str | None = None) -> str:
    """Render one diagnostic as `file:line:col: severity[code] message`, then the line and a caret.

    >>> d = error(Code.SQL_SYNTAX, "bad", Span(file="a.yaml", line=2, column=5))
    >>> print(format_diagnostic(d, "x: 1\\ny: (a\\n"))
    a.yaml:2:5: error[DP0301] bad
        y: (a
            ^
    """
    span = diagnostic.span
    head = escaped(
        f"{span.file}:{span.line}:{span.column}: "
        f"{diagnostic.severity.value}[{diagnostic.code.value}] {diagnostic.message}"
    )
    lines = source_text.splitlines() if source_text else []
    if not 1 <= span.line <= len(lines):
        return head
    # A diagnostic goes to stderr and from there into CI logs: a secret value is masked.
    line = mask_secret_value(lines[span.line - 1].replace("\t", " "))
    return f"{head}\n    {line}\n    {' ' * (span.column - 1)}^"


# Unicode categories of characters that end, hide or rewrite a line: control and format
# characters, line and paragraph separators.
LINE_BREAKING = frozenset({"Cc", "Cf", "Zl", "Zp"})


def escaped(text: str) -> str:
    """The text with characters that would break or rewrite a terminal line shown as escapes:
    a headline stays one line whatever a spec's names hold, so editors and CI can read it.

    >>> escaped("'region\\nINJECTED' is not a column name")
    "'region\\\\nINJECTED' is not a column name"
    """
    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if unicodedata.category(c) in LINE_BREAKING
        else c
        for c in text
    )


def one_line(value: object, limit: int = 300) -> str:
    """The first line of an error's text, cut to `limit` characters: messages stay one line.

    >>> one_line(ValueError("bad uri\\nTraceback ..."))
    'bad uri'
    """
    text = str(value).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
