"""Stage 1, load: YAML text to plain data with the position of every key and value."""

from __future__ import annotations

import time

import pytest

from compiler.diagnostics import Code
from compiler.spec.load import MAX_NESTING, MAX_SPEC_BYTES, load


def loaded(tmp_path, text: str | bytes):
    path = tmp_path / "spec.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return load(path, "spec.yaml")


def only_problem(tmp_path, text):
    document, diagnostics = loaded(tmp_path, text)
    assert document is None
    assert len(diagnostics) == 1, diagnostics
    return diagnostics[0]


SPEC = """\
# a comment line
resource_name: t
depends_on:
  - namespace: sales
    table: orders
select: [a, b]
filters: a = 1
"""


def test_data_is_plain_python(tmp_path):
    document, diagnostics = loaded(tmp_path, SPEC)
    assert diagnostics == []
    assert document.data == {
        "resource_name": "t",
        "depends_on": [{"namespace": "sales", "table": "orders"}],
        "select": ["a", "b"],
        "filters": "a = 1",
    }
    # Plain types only: later stages never see ruamel's subclasses.
    assert type(document.data) is dict and type(document.data["select"]) is list
    assert type(document.data["select"][0]) is str


# JSON path -> (line, column) of the value, then of the key (None: items have no key)
POSITIONS = [
    (("resource_name",), (2, 16), (2, 1)),
    (("depends_on",), (4, 3), (3, 1)),
    (("depends_on", 0), (4, 5), None),
    (("depends_on", 0, "namespace"), (4, 16), (4, 5)),
    (("depends_on", 0, "table"), (5, 12), (5, 5)),
    (("select", 0), (6, 10), None),
    (("select", 1), (6, 13), None),
    (("filters",), (7, 10), (7, 1)),
]


@pytest.mark.parametrize(("path", "value", "key"), POSITIONS, ids=lambda v: str(v))
def test_every_key_and_value_keeps_its_position(tmp_path, path, value, key):
    document, _ = loaded(tmp_path, SPEC)
    at = document.span(path)
    assert (at.file, at.line, at.column) == ("spec.yaml", *value)
    if key is not None:
        at = document.span(path, key=True)
        assert (at.line, at.column) == key


def test_span_of_a_missing_node_is_its_nearest_parent(tmp_path):
    document, _ = loaded(tmp_path, SPEC)
    assert (document.span(("depends_on", 0, "catalog")).line) == 4
    assert (document.span(("nothing", "here")).line, document.span(()).column) == (1, 1)


def test_crlf_line_ends_keep_positions(tmp_path):
    document, _ = loaded(tmp_path, SPEC.replace("\n", "\r\n").encode())
    assert (document.span(("select", 1)).line, document.span(("select", 1)).column) == (6, 13)


def test_byte_order_mark_is_accepted(tmp_path):
    document, diagnostics = loaded(tmp_path, b"\xef\xbb\xbf" + SPEC.encode())
    assert diagnostics == [] and document.data["resource_name"] == "t"


def test_unquoted_dates_stay_text(tmp_path):
    # YAML would turn these into dates (and raise on 2024-13-01 while loading, unlocated).
    document, _ = loaded(tmp_path, "a: 2024-01-31\nb: 2024-13-01\nc: 2024-01-31 10:00:00\n")
    assert document.data == {"a": "2024-01-31", "b": "2024-13-01", "c": "2024-01-31 10:00:00"}


def test_scalars_keep_their_yaml_types(tmp_path):
    document, _ = loaded(
        tmp_path, "i: 3\nf: 2.5\nb: True\nn: null\ns: '3'\nbig: 99999999999999999999\n"
    )
    assert document.data == {"i": 3, "f": 2.5, "b": True, "n": None, "s": "3", "big": 10**20 - 1}
    assert [type(v) for v in document.data.values()] == [int, float, bool, type(None), str, int]


# text -> (code, line, column, start of the message)
PROBLEMS = [
    ("a: [1, 2\nb: 3\n", Code.YAML_SYNTAX, 2, 2, "invalid YAML: expected ',' or ']'"),
    ("a: 'open\n", Code.YAML_SYNTAX, 2, 1, "invalid YAML: found unexpected end of stream"),
    ("a:\n\t- 1\n", Code.YAML_SYNTAX, 2, 1, "invalid YAML: found character '\\t'"),
    ('a: "\\x"\n', Code.YAML_SYNTAX, 1, 7, "invalid YAML: expected escape sequence"),
    ("a: 1\n---\nb: 2\n", Code.YAML_SYNTAX, 2, 1, "invalid YAML: but found another document"),
    ("a: 1\nb: 2\na: 3\n", Code.YAML_SYNTAX, 3, 1, 'invalid YAML: found duplicate key "a"'),
    ("a:\n  b: 1\n  b: 2\n", Code.YAML_SYNTAX, 3, 3, 'invalid YAML: found duplicate key "b"'),
    ("a: [{x: 1, x: 2}]\n", Code.YAML_SYNTAX, 1, 12, 'invalid YAML: found duplicate key "x"'),
    ("- a\n- b\n", Code.NOT_A_MAPPING, 1, 1, "a spec must be a YAML mapping"),
    ("just text\n", Code.NOT_A_MAPPING, 1, 1, "a spec must be a YAML mapping"),
    ("", Code.NOT_A_MAPPING, 1, 1, "a spec must be a YAML mapping"),
    ("# only a comment\n", Code.NOT_A_MAPPING, 1, 1, "a spec must be a YAML mapping"),
    (b"a: \xff\xfe\n", Code.UNREADABLE_FILE, 1, 1, "cannot read spec: 'utf-8' codec"),
]


@pytest.mark.parametrize(("text", "code", "line", "column", "message"), PROBLEMS)
def test_problems_are_located(tmp_path, text, code, line, column, message):
    problem = only_problem(tmp_path, text)
    assert (problem.code, problem.span.line, problem.span.column) == (code, line, column)
    assert problem.message.startswith(message), problem.message
    assert problem.span.file == "spec.yaml"


def test_duplicate_key_names_both_values(tmp_path):
    problem = only_problem(tmp_path, "resource_name: one\nresource_name: two\n")
    assert problem.message == (
        'invalid YAML: found duplicate key "resource_name" with value "two" (original value: "one")'
    )


def test_missing_file_is_unreadable(tmp_path):
    document, diagnostics = load(tmp_path / "nope.yaml", "nope.yaml")
    assert document is None
    [problem] = diagnostics
    assert problem.code is Code.UNREADABLE_FILE
    assert problem.message == "cannot read spec: No such file or directory"
    assert (problem.span.file, problem.span.line, problem.span.column) == ("nope.yaml", 1, 1)


def test_directory_is_unreadable(tmp_path):
    _, [problem] = load(tmp_path, "folder.yaml")
    assert problem.code is Code.UNREADABLE_FILE and "Is a directory" in problem.message


def test_merge_keys_load_without_positions_of_their_own(tmp_path):
    # Regression: keys brought in by `<<` have no position in ruamel; loading crashed.
    document, diagnostics = loaded(tmp_path, "base: &b {limit: 3}\nspec:\n  <<: *b\n  x: 1\n")
    assert diagnostics == []
    assert document.data["spec"] == {"limit": 3, "x": 1}
    assert document.span(("spec", "limit")).line >= 1


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: 1\nselect: !!python/object:os.system [x, y]\n", (2, 9)),
        ("a: 1\nshort_description: !!binary aGVsbG8=\n", (2, 20)),
        ("a: 1\nlong_description: !!set {a, b}\n", (2, 19)),
        ("a: 1\nselect: !local [a]\n", (2, 9)),
        ("a: !!str 1\n", (1, 4)),
    ],
)
def test_yaml_tags_are_refused_where_they_stand(tmp_path, text, where):
    # A tag used to pass as text (`!!binary`, `!!set` became descriptions); a spec is plain data.
    problem = only_problem(tmp_path, text)
    assert problem.code is Code.YAML_TAG
    assert (problem.span.line, problem.span.column) == where


def test_nesting_deeper_than_any_spec_is_refused(tmp_path):
    # 260 levels made ruamel's recursive composer raise RecursionError.
    problem = only_problem(tmp_path, "select: " + "[" * 260 + "]" * 260 + "\n")
    assert problem.code is Code.SPEC_TOO_LARGE
    assert problem.span.line == 1 and problem.span.column > MAX_NESTING
    document, diagnostics = loaded(tmp_path, "select: " + "[" * 60 + "]" * 60 + "\n")
    assert diagnostics == [] and document is not None


def test_a_billion_laughs_is_measured_not_expanded(tmp_path):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    started = time.monotonic()
    problem = only_problem(tmp_path, "\n".join(lines) + "\n")
    assert problem.code is Code.SPEC_TOO_LARGE and "aliases" in problem.message
    assert time.monotonic() - started < 5


def test_a_file_larger_than_a_spec_is_refused_before_parsing(tmp_path):
    problem = only_problem(tmp_path, "a: [" + "1, " * MAX_SPEC_BYTES + "]\n")
    assert problem.code is Code.SPEC_TOO_LARGE
    assert (problem.span.line, problem.span.column) == (1, 1)


def test_anchors_and_aliases_are_resolved(tmp_path):
    document, _ = loaded(tmp_path, "a: &x [1, 2]\nb: *x\n")
    assert document.data == {"a": [1, 2], "b": [1, 2]}


def test_hash_ignores_comments_quoting_and_key_order(tmp_path):
    one, _ = loaded(tmp_path, "a: 1\nb: [x, y]\n")
    two, _ = loaded(tmp_path, "# comment\nb: ['x', \"y\"]\na: 1   # trailing\n")
    three, _ = loaded(tmp_path, "a: 2\nb: [x, y]\n")
    assert one.sha256 == two.sha256 != three.sha256
    assert len(one.sha256) == 64 and int(one.sha256, 16) >= 0


def test_document_keeps_the_text_and_paths(tmp_path):
    document, _ = loaded(tmp_path, SPEC)
    assert document.text == SPEC
    assert document.path == tmp_path / "spec.yaml"
    assert document.display_path == "spec.yaml"


def test_loading_never_prints(tmp_path, capsys, recwarn):
    # ruamel warns about a reused anchor (legal YAML); the CLI printed its warning text.
    document, diagnostics = loaded(tmp_path, "a: &x [1]\nb: &x [2]\nc: *x\n")
    assert diagnostics == [] and document.data["c"] == [2]
    assert capsys.readouterr() == ("", "")
    assert len(recwarn) == 0


@pytest.mark.parametrize("name", ["x\nRUN echo INJECTED\n#.yaml", "x\rq.yaml", "x\u2028q.yaml"])
def test_a_file_name_that_would_break_a_generated_line_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_text(SPEC, encoding="utf-8")
    document, diagnostics = load(path, name)
    assert document is None
    [problem] = diagnostics
    assert problem.code is Code.UNSAFE_FILE_NAME
    assert "\n" not in problem.span.file and "\n" not in problem.message
    assert (problem.span.line, problem.span.column) == (1, 1)
