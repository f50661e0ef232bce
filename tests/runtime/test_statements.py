"""answer.Statements: a statement runs once per request, its 128-bit integer columns narrowed to
int64 as `int64_results` narrows them (the reference: the relation API's answer), the narrowing
decided per statement shape."""

from __future__ import annotations

import warnings

import duckdb
import pyarrow as pa
import pytest
from datapic_runtime import answer
from datapic_runtime.answer import Statements, int64_results
from datapic_runtime.errors import PodError

SUMS = "SELECT g, SUM(x) AS total, COUNT(*) AS n FROM t GROUP BY g ORDER BY g"


def _reference(connection: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    relation = connection.sql(sql)
    return int64_results(relation, relation.columns).to_arrow_table()


def _connection(column_type: str) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(
        f"CREATE TABLE t AS SELECT (i % 3)::INTEGER AS g, i::{column_type} AS x FROM range(10) r(i)"
    )
    return connection


def test_wide_integers_come_as_int64_as_the_relation_api_gives_them():
    connection = _connection("BIGINT")
    statements = Statements()
    for _ in range(2):  # the first binds the shape, the second reuses its text
        answer = statements.run(connection.cursor(), SUMS, {}, "shape", (), 1000).read_all()
        assert answer.equals(_reference(connection, SUMS))
        assert answer.schema.field("total").type == pa.int64()


def test_an_int64_overflow_is_a_422_naming_the_pods_column():
    connection = _connection("BIGINT")
    sql = "SELECT SUM(x) * 9223372036854775807 AS big FROM t"
    with pytest.raises(PodError, match="column 'pod_name'") as raised:
        Statements().run(connection.cursor(), sql, {}, "shape", ("pod_name",), 1000).read_all()
    assert raised.value.status == 422


def test_an_overflow_in_a_later_batch_fails_the_answer():
    connection = _connection("BIGINT")
    sql = "SELECT i, SUM(i) * (CASE WHEN i < 5000 THEN 1 ELSE 9223372036854775807 END) AS s "
    sql += "FROM range(10000) r(i) GROUP BY i ORDER BY i"
    reader = Statements().run(connection.cursor(), sql, {}, "shape", (), 1000)
    with pytest.raises(PodError, match="column 's'"):
        reader.read_all()


def test_the_same_text_of_another_shape_is_bound_again():
    """A column whose type changed (schema evolution) makes another shape: its sum is a
    decimal, not narrowed to int64 by what the integer column's statement needed."""
    statements = Statements()
    integers = _connection("BIGINT")
    statements.run(integers.cursor(), SUMS, {}, ("x", "BIGINT"), (), 1000).read_all()
    decimals = _connection("DECIMAL(38, 2)")
    answer = statements.run(decimals.cursor(), SUMS, {}, ("x", "DECIMAL"), (), 1000).read_all()
    assert answer.equals(_reference(decimals, SUMS))
    assert pa.types.is_decimal(answer.schema.field("total").type)


def test_parameters_are_bound_values():
    connection = _connection("BIGINT")
    sql = "SELECT SUM(x) AS total FROM t WHERE g = $g"
    answer = Statements().run(connection.cursor(), sql, {"g": 1}, "shape", (), 1000).read_all()
    assert answer.column("total").to_pylist() == [1 + 4 + 7]


def test_pages_of_one_shape_share_its_narrowing():
    """The engine's shape leaves out a page's bounds: every page is narrowed as the first."""
    connection = _connection("BIGINT")
    statements = Statements()
    for limit, offset in ((1, 0), (2, 1), (5, 0)):
        sql = f"{SUMS} LIMIT {limit} OFFSET {offset}"
        answer = statements.run(connection.cursor(), sql, {}, SUMS, (), 1000).read_all()
        assert answer.equals(_reference(connection, sql))
        assert answer.schema.field("total").type == pa.int64()


def test_an_answer_is_read_in_one_step_as_duckdbs_own_arrow_reader_reads_it():
    # DuckDB's one step from statement to Arrow (no second statement over the rows, no
    # warning), batch for batch what its public DB-API reader gives.
    assert answer._submit is not None  # the pinned DuckDB has it: an upgrade must keep it
    connection = _connection("BIGINT")
    sql = "SELECT g, x FROM t WHERE x >= $low ORDER BY x"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        connection.execute(sql, {"low": 0})
        expected = list(connection.to_arrow_reader(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = list(answer.arrow_answer(connection.cursor(), sql, {"low": 0}, 4))
        shapes = Statements().run(connection.cursor(), sql, {"low": 0}, "shape", (), 4)
        assert shapes.read_all().equals(pa.Table.from_batches(expected))
    assert [b.num_rows for b in got] == [b.num_rows for b in expected] == [4, 4, 2]
    assert all(a.equals(b) for a, b in zip(got, expected, strict=True))


def test_a_failure_while_the_answer_is_computed_keeps_duckdbs_type():
    # The engine tells a request's bad value (InvalidInput: a 400) from storage trouble by
    # DuckDB's exception types; a streamed Arrow reader would turn them all into OSError.
    connection = _connection("BIGINT")
    sql = "SELECT CASE WHEN i < 5000 THEN i ELSE error('bad ' || i) END AS v FROM range(9000) r(i)"
    with pytest.raises(duckdb.InvalidInputException, match="bad 5000"):
        Statements().run(connection.cursor(), sql, {}, "shape", (), 1000).read_all()
