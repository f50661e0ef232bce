"""Pods that read pods: `depends_on: - resource` resolved against the upstream's pod.json, in the
same run or in the output folder, with cycles and parameters judged; through compile_specs,
which compiles upstreams first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.artifacts.emit import emit
from compiler.pipeline import compile_specs
from compiler.spec.upstream import upstream_env

UP = """\
resource_name: up
depends_on: [{namespace: sales, table: orders}]
select: [order_id, country, sales]
filters: [country = :country, sales >= :min_sales]
parameters:
  - {name: country, type: string}
  - {name: min_sales, type: number, default: 0}
order_by: [order_id]
"""


def down(name: str = "down", reads: str = "up", rest: str = "") -> str:
    return (
        f"resource_name: {name}\ndepends_on: [{{resource: {reads}}}]\n"
        "select: [order_id, sales]\norder_by: [order_id]\n"
        "parameters: [{name: country, type: string}]\n" + rest
    )


def write(folder: Path, **texts: str) -> list[Path]:
    paths = []
    for name, text in texts.items():
        path = folder / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def messages(results) -> dict[str, list[tuple[str, int, int, str]]]:
    return {
        r.spec.stem: [(d.code.value, d.span.line, d.span.column, d.message) for d in r.diagnostics]
        for r in results
    }


def test_upstreams_compile_first_and_give_their_columns_and_parameters(tmp_path):
    results = compile_specs(write(tmp_path, down=down(), up=UP))
    assert [r.ok for r in results] == [True, True]  # in the order given
    document = json.loads(results[0].files["pod.json"])
    assert document["upstream"] == {
        "resource": "up",
        "env": "DATAPIC_UPSTREAM_UP_URL",
        "parameters": ["country"],  # declared by both; min_sales keeps the upstream's default
    }
    assert document["source"] == {"catalog": "default", "namespace": ["sales"], "table": "orders"}
    # Passed through, so used: no DP0307 warning for `country`.
    assert results[0].diagnostics == ()


def test_an_upstream_in_the_output_folder_is_read_from_its_pod_json(tmp_path):
    out = tmp_path / "generated"
    (up,) = compile_specs(write(tmp_path, up=UP), output=out)
    emit(up.files, out / "up")
    every = down(rest="").replace("select: [order_id, sales]", "select: '*'")
    (result,) = compile_specs(write(tmp_path, down=every), output=out)
    assert result.ok, messages([result])
    # `select: "*"` is the upstream's answer's columns, known at compile time.
    assert json.loads(result.files["pod.json"])["columns"] == ["order_id", "country", "sales"]


def test_a_cycle_through_a_compiled_pod_is_found(tmp_path):
    """b was compiled earlier reading a; now a is compiled to read b."""
    out = tmp_path / "generated"
    (first_a,) = compile_specs(
        write(tmp_path, a=UP.replace("resource_name: up", "resource_name: a"))
    )
    emit(first_a.files, out / "a")
    (b,) = compile_specs(write(tmp_path, b=down("b", "a")), output=out)
    emit(b.files, out / "b")
    (a,) = compile_specs(write(tmp_path, a=down("a", "b")), output=out)
    assert messages([a])["a"] == [("DP0602", 2, 25, "pods read each other in a cycle: a → b → a")]


@pytest.mark.parametrize(
    ("broken", "says"),
    [("{not json", "cannot be read"), ('{"name": "up"}', "is not one datapic wrote")],
)
def test_an_unreadable_upstream_pod_json(tmp_path, broken, says):
    out = tmp_path / "generated"
    (out / "up").mkdir(parents=True)
    (out / "up" / "pod.json").write_text(broken)
    (result,) = compile_specs(write(tmp_path, down=down()), output=out)
    ((code, line, column, message),) = messages([result])["down"]
    assert (code, line, column) == ("DP0605", 2, 25)
    assert message.startswith("upstream pod ") and says in message


def test_an_upstream_that_failed_is_named_so(tmp_path):
    broken = UP.replace("order_by: [order_id]", "order_by: [nowhere]")
    results = compile_specs(write(tmp_path, up=broken, down=down()))
    assert messages(results)["down"] == [
        ("DP0601", 2, 25, "upstream pod 'up' did not compile (see its errors)")
    ]


@pytest.mark.parametrize(
    ("name", "env"),
    [
        ("emea-sales", "DATAPIC_UPSTREAM_EMEA_SALES_URL"),
        ("Big_Orders", "DATAPIC_UPSTREAM_BIG_ORDERS_URL"),
    ],
)
def test_the_variable_of_the_upstreams_url(name, env):
    assert upstream_env(name) == env
