"""Stage 2: check a loaded spec against schemas/spec.schema.json, reporting every problem at once.

The JSON Schema is the single definition of the spec's shape (editors use it too); this module
only turns the validator's errors into located diagnostics with readable messages.
"""

from __future__ import annotations

import functools
import json
import re

from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from ..assets import schema_path
from ..diagnostics import Code, Diagnostic, did_you_mean, error
from .load import Document, JsonPath


def _is_integer(checker, instance: object) -> bool:
    # JSON Schema counts 5.0 and 1e3 as integers; YAML reads them as floats, which the pod
    # and service.yaml would then carry as 5.0 (a Cloud Run field or a LIMIT that is refused).
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.cache
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """A schema pattern compiled as JSON Schema (ECMA-262) reads it: `$` ends the text.

    Python's `$` also matches before a trailing newline, so `^[a-z]+$` would accept `"abc\\n"`,
    which then lands in Dockerfile and cloudbuild.yaml as an extra line.

    >>> [bool(ecma_pattern("^[a-z]+$").search(text)) for text in ("abc\\n", "abc")]
    [False, True]
    """
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(validator, pattern: str, instance: object, schema: dict):
    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12, except that "integer" means a whole number written as one: 5, not 5.0 or 1e3,
# and a pattern's `$` means the end of the text, as in the ECMA regexes JSON Schema specifies.
StrictValidator = validators.extend(
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@functools.cache
def spec_validator() -> Draft202012Validator:
    """The validator for specs, built once per process."""
    schema = json.loads(schema_path("spec.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return StrictValidator(schema)


@functools.cache
def project_validator(pointer: str) -> Draft202012Validator:
    """A validator for (a part of) schemas/project.schema.json, which refers to the spec's."""
    resources = []
    for name in ("spec.schema.json", "project.schema.json"):
        schema = json.loads(schema_path(name).read_text(encoding="utf-8"))
        # Without "$schema" a referenced schema keeps StrictValidator's notion of "integer"
        # (jsonschema would otherwise switch to the stock validator its "$schema" names).
        del schema["$schema"]
        resources.append((schema["$id"], DRAFT202012.create_resource(schema)))
    registry = Registry().with_resources(resources)
    project_id = dict(resources)["https://datapic.dev/schemas/project.schema.json"].contents["$id"]
    return StrictValidator({"$ref": f"{project_id}{pointer}"}, registry=registry)


def validate(document: Document) -> list[Diagnostic]:
    """Every schema violation in the document, located at the offending key or value."""
    return validate_against(document, spec_validator())


def validate_against(document: Document, validator: Draft202012Validator) -> list[Diagnostic]:
    """Every violation of another schema (the project's config files) in the document."""
    errors = _reported(sorted(validator.iter_errors(document.data), key=_error_order))
    return [d for e in errors for d in _diagnostics(document, e)]


def invalid_paths(document: Document) -> frozenset[JsonPath]:
    """Where the document breaks the spec's schema: the paths of the values `validate` reports
    (a missing required field, an unknown key: their own path). Building leaves those values
    out, silently, so that one mistake is reported once and the rest of the spec still is."""
    return frozenset(p for e in spec_validator().iter_errors(document.data) for p in _paths(e))


def _paths(e: ValidationError) -> list[JsonPath]:
    path = tuple(e.absolute_path)
    if (
        e.validator == "oneOf"
        and e.context
        and not all("properties" in b for b in e.validator_value)
    ):
        fitting = _fitting_branch_errors(e)
        if fitting:
            return [p for sub in fitting for p in _paths(sub)]
    if e.validator == "required" and isinstance(e.instance, dict):
        return [(*path, name) for name in e.validator_value if name not in e.instance]
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        known = e.schema.get("properties", {})
        return [(*path, name) for name in e.instance if name not in known]
    if "propertyNames" in e.absolute_schema_path:
        return [(*path, e.instance)]
    return [path]


def _reported(errors: list[ValidationError]) -> list[ValidationError]:
    """The errors worth showing: a value that fits several oneOf branches at once (only
    possible when it is not even a mapping) is already reported by its own type error."""
    located = {tuple(e.absolute_path) for e in errors if not _ambiguous(e)}
    return [e for e in errors if not (_ambiguous(e) and tuple(e.absolute_path) in located)]


def _ambiguous(e: ValidationError) -> bool:
    return e.validator == "oneOf" and not e.context


def _error_order(e: ValidationError) -> tuple:
    return (tuple(str(p) for p in e.absolute_path), e.validator)


def _diagnostics(document: Document, e: ValidationError) -> list[Diagnostic]:
    if e.validator == "oneOf" and e.context:
        if all("properties" in branch for branch in e.validator_value):
            # For a mapping that fits none of several shapes, explain the closest shape.
            return _diagnostics(document, _closest_branch_error(e))
        fitting = _fitting_branch_errors(e)
        if fitting:
            return [d for sub in fitting for d in _diagnostics(document, sub)]
    path = tuple(e.absolute_path)
    where = _dotted(path)
    if e.validator == "additionalProperties":
        # One error names every unknown key; each gets its own line, at the key.
        known = sorted(e.schema.get("properties", {}))
        allowed = ", ".join(known)
        return [
            error(
                Code.UNKNOWN_FIELD,
                f"unknown field '{_dotted((*path, name))}' "
                f"({did_you_mean(str(name), known)}allowed here: {allowed})",
                document.span((*path, name), key=True),
            )
            for name in sorted(set(e.instance) - set(e.schema.get("properties", {})), key=str)
        ]
    if "propertyNames" in e.absolute_schema_path:
        # The offending name is a key of the mapping at `path`: point at that key.
        return [
            error(
                Code.INVALID_VALUE,
                f"{where}: key {_message(e)}",
                document.span((*path, e.instance), key=True),
            )
        ]
    return [_diagnostic(document, e)]


def _diagnostic(document: Document, e: ValidationError) -> Diagnostic:
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
    return error(Code.INVALID_VALUE, f"{where or 'spec'}: {_message(e)}", document.span(path))


def _fitting_branch_errors(e: ValidationError) -> list[ValidationError]:
    """For a value of the right type that still breaks its branch (an empty string, a bad
    item), every error of the first branch of that type; none when no branch's type fits."""
    depth = len(e.absolute_path)
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in e.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    for _, subs in sorted(by_branch.items()):
        if not any(s.validator == "type" and len(s.absolute_path) == depth for s in subs):
            return subs
    return []


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
        texts = [o for o in e.validator_value if isinstance(o, str)]
        hint = did_you_mean(e.instance, texts) if isinstance(e.instance, str) else ""
        return f"{json.dumps(e.instance)} is not one of {options}" + (
            f" ({hint.strip()})" if hint else ""
        )
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
