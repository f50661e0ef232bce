"""Stage 2: check a loaded spec against schemas/spec.schema.json, reporting every problem at once.

The JSON Schema is the single definition of the spec's shape (editors use it too); this module
only turns the validator's errors into located diagnostics with readable messages.
"""

from __future__ import annotations

import functools
import json

from jsonschema import Draft202012Validator, ValidationError

from .assets import schema_path
from .diagnostics import Code, Diagnostic, error
from .load import Document


@functools.cache
def spec_validator() -> Draft202012Validator:
    """The validator for specs, built once per process."""
    schema = json.loads(schema_path("spec.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(document: Document) -> list[Diagnostic]:
    """Every schema violation in the document, located at the offending key or value."""
    errors = sorted(spec_validator().iter_errors(document.data), key=_error_order)
    return [_diagnostic(document, e) for e in errors]


def _error_order(e: ValidationError) -> tuple:
    return (tuple(str(p) for p in e.absolute_path), e.validator)


def _diagnostic(document: Document, e: ValidationError) -> Diagnostic:
    if (
        e.validator == "oneOf"
        and e.context
        and all("properties" in branch for branch in e.validator_value)
    ):
        # For a mapping that fits none of several shapes, explain the closest shape.
        return _diagnostic(document, _closest_branch_error(e))
    path = tuple(e.absolute_path)
    where = _dotted(path)
    if e.validator == "required":
        missing = e.message.split("'")[1] if "'" in e.message else e.message
        label = f"{where}: " if where else ""
        return error(
            Code.MISSING_FIELD,
            f"{label}missing required field '{missing}'",
            document.span(path),
        )
    if e.validator == "additionalProperties":
        unknown = sorted(set(e.instance) - set(e.schema.get("properties", {})))
        name = unknown[0] if unknown else "?"
        allowed = ", ".join(sorted(e.schema.get("properties", {})))
        return error(
            Code.UNKNOWN_FIELD,
            f"unknown field '{_dotted((*path, name))}' (allowed here: {allowed})",
            document.span((*path, name), key=True),
        )
    return error(Code.INVALID_VALUE, f"{where or 'spec'}: {_message(e)}", document.span(path))


def _closest_branch_error(e: ValidationError) -> ValidationError:
    """The first error of the oneOf branch the instance misses by the fewest problems."""
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in e.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    closest = min(by_branch.values(), key=len)
    return sorted(closest, key=lambda sub: sub.validator != "additionalProperties")[0]


def _message(e: ValidationError) -> str:
    """A short message for a value that breaks the schema."""
    if e.validator == "enum":
        options = ", ".join(json.dumps(o) for o in e.validator_value)
        return f"{json.dumps(e.instance)} is not one of {options}"
    if e.validator == "oneOf" and e.context:
        # The most specific sub-error says more than "not valid under any of the given schemas".
        best = max(e.context, key=lambda sub: len(sub.absolute_path))
        if len(best.absolute_path) > len(e.absolute_path):
            return _message(best)
        kinds = sorted({str(sub.schema.get("type")) for sub in e.context if "type" in sub.schema})
        if kinds:
            return f"expected {' or '.join(kinds)}, got {_json_type(e.instance)}"
    if e.validator == "type":
        return f"expected {e.validator_value}, got {_json_type(e.instance)}"
    if e.validator == "pattern":
        return f"{json.dumps(e.instance)} does not match {e.validator_value}"
    return e.message


def _json_type(value: object) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _dotted(path: tuple) -> str:
    """`depends_on[0].table` from a JSON path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
