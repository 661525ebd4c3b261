"""What a result may cost vedder: the byte budget (query.max_result_mb) on DuckDB and PostgreSQL, fetched in
batches that grow only while rows stay small, the server-side query gone afterwards, one cell cut where shown."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from demo_project import copy_demo
from postgres_server import postgres_server  # noqa: F401  (the session fixture)
from vedder.agent.tools import SHOWN_CHARS, format_result
from vedder.cli import app
from vedder.config import Config
from vedder.errors import ConfigError, QueryTimeout, ResultTooLarge, SQLExecutionError
from vedder.warehouse import QueryResult, fetch_within, shown_value, value_bytes
from vedder.warehouse.duckdb import DuckDBWarehouse
from vedder.warehouse.postgres import PostgresWarehouse

MB = 2**20


class Source:
    """``fetchmany`` over a list of rows, recording the batch sizes asked for."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows, self.asked = rows, []

    def __call__(self, count: int) -> list[tuple]:
        self.asked.append(count)
        taken, self.rows = self.rows[:count], self.rows[count:]
        return taken


# --- fetching within a budget ------------------------------------------------------------------------------


def test_small_rows_come_in_few_growing_batches():
    source = Source([(i, "abc") for i in range(5000)])
    rows = fetch_within(source, limit=1000, max_bytes=64 * MB)
    assert len(rows) == 1001 and rows[-1] == (1000, "abc")
    assert source.asked == [1, 16, 256, 728]


def test_a_result_that_ends_early_is_read_whole():
    source = Source([(i,) for i in range(20)])
    assert len(fetch_within(source, limit=1000, max_bytes=MB)) == 20
    assert source.asked == [1, 16, 256]


def test_without_a_budget_one_fetch_takes_the_rows():
    source = Source([("x" * 1000,)] * 50)
    assert len(fetch_within(source, limit=10, max_bytes=None)) == 11
    assert source.asked == [11]


def test_huge_cells_stop_after_the_first_row():
    source = Source([("x" * (2 * MB),)] * 30)
    with pytest.raises(ResultTooLarge, match=r"more than query.max_result_mb \(1 MB\) after 1 row;") as refused:
        fetch_within(source, limit=1000, max_bytes=MB)
    assert source.asked == [1]
    assert "select fewer or narrower columns, or aggregate" in refused.value.hint


def test_batches_shrink_to_what_the_budget_has_left():
    source = Source([("x" * 100_000,)] * 100)
    with pytest.raises(ResultTooLarge, match="after 11 rows"):
        fetch_within(source, limit=1000, max_bytes=MB)
    assert source.asked == [1, 9, 1]  # 9 more rows of 100 kB fit in 1 MB, then one at a time


def test_values_are_measured_by_their_text_and_bytes():
    assert value_bytes("é" * 10) == 10 and value_bytes(b"\0" * 7) == 7 and value_bytes(None) == 8
    assert value_bytes([["ab", "cd"], {"k": "vvv"}]) == 8


def test_one_long_value_is_cut_where_it_is_shown():
    assert shown_value(None, 5) == "NULL" and shown_value(12345, 5) == "12345"
    assert shown_value("y" * 100_000, 20) == "y" * 20 + "… (100,000 characters)"
    observation = format_result(QueryResult(columns=["id", "body"], rows=[(1, "z" * 1_000_000)]))
    assert len(observation) < SHOWN_CHARS + 100 and observation.endswith("… (1,000,000 characters)")


def test_the_budget_is_a_setting_with_bounds(tmp_path):
    assert Config.from_dict(tmp_path, {}).max_result_bytes == 64 * MB
    assert Config.from_dict(tmp_path, {"query": {"max_result_mb": 0.5}}).max_result_bytes == MB // 2
    with pytest.raises(ConfigError, match=r"query.max_result_mb is 0; it must be above 0"):
        Config.from_dict(tmp_path, {"query": {"max_result_mb": 0}})
    with pytest.raises(ConfigError, match="must be a number"):
        Config.from_dict(tmp_path, {"query": {"max_result_mb": "big"}})


# --- DuckDB ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("budget") / "demo", scale=0.02)


@pytest.fixture
def duck(demo):
    with DuckDBWarehouse(demo / ".vedder" / "warehouse.duckdb") as opened:
        yield opened


def test_duckdb_stops_a_result_of_huge_cells_and_stays_usable(duck):
    with pytest.raises(ResultTooLarge, match="after 1 row;"):
        duck.execute("SELECT repeat('x', 10000000) AS s FROM range(30)", max_bytes=4 * MB)
    # Wide rows stop where the budget runs out, not at the row cap.
    with pytest.raises(ResultTooLarge, match="after 42 rows"):
        duck.execute("SELECT repeat('x', 100000) AS s FROM range(100000)", max_bytes=4 * MB)
    assert duck.execute("SELECT 1 AS one", max_bytes=4 * MB).rows == [(1,)]


def test_duckdb_results_within_the_budget_are_unchanged(duck):
    sql = "SELECT i, 'row ' || i AS label FROM range(5000) AS t(i) ORDER BY i"
    budgeted, whole = duck.execute(sql, limit=1000, max_bytes=MB), duck.execute(sql, limit=1000)
    assert budgeted.rows == whole.rows and len(budgeted.rows) == 1000 and budgeted.truncated


def test_duckdb_out_of_memory_is_a_one_line_error(tmp_path):
    with DuckDBWarehouse(tmp_path / "scratch.duckdb", read_only=False) as scratch:
        scratch.connection.execute("SET memory_limit = '64MB'")
        with pytest.raises(SQLExecutionError, match="needs more memory than DuckDB may use") as failed:
            scratch.execute("SELECT list(repeat('x', 1000000)) FROM range(3000)")
        assert "\n" not in failed.value.message and "aggregate" in failed.value.hint


def test_vedder_query_over_budget_exits_4_with_the_hint(demo):
    (demo / "vedder.yaml").write_text((demo / "vedder.yaml").read_text() + "\n  max_result_mb: 1\n")
    result = CliRunner().invoke(app, ["query", "SELECT rpad(country, 10000, 'x') FROM listening.users",
                                      "--cluster", "listening", "--project", str(demo)])
    assert result.exit_code == 4, result.output
    assert "query.max_result_mb (1 MB) after" in result.output
    assert "select fewer or narrower columns, or aggregate" in result.output and "Traceback" not in result.output


# --- PostgreSQL --------------------------------------------------------------------------------------------


@pytest.fixture
def pg(postgres_server, monkeypatch):
    monkeypatch.setenv("VEDDER_TEST_PG_PASSWORD", postgres_server.password)
    with PostgresWarehouse(postgres_server.url, password_env="VEDDER_TEST_PG_PASSWORD") as opened:
        yield opened


def vedder_activity(postgres_server) -> list[tuple]:
    return postgres_server.admin("SELECT pid, state, query FROM pg_stat_activity WHERE application_name = 'vedder' AND state <> 'idle'")


def test_postgres_stops_a_result_of_huge_cells_and_leaves_nothing_running(pg, postgres_server):
    with pytest.raises(ResultTooLarge, match="after 1 row;"):
        pg.execute("SELECT repeat('x', 10000000) FROM generate_series(1, 30)", max_bytes=4 * MB)
    assert vedder_activity(postgres_server) == []
    assert pg.execute("SELECT 1", max_bytes=4 * MB).rows == [(1,)]


def test_postgres_results_within_the_budget_are_unchanged(pg):
    sql = "SELECT i, 'row ' || i AS label FROM generate_series(1, 5000) AS i ORDER BY i"
    budgeted, whole = pg.execute(sql, limit=1000, max_bytes=MB), pg.execute(sql, limit=1000)
    assert budgeted.rows == whole.rows and len(budgeted.rows) == 1000 and budgeted.truncated


def test_postgres_timeout_bounds_all_fetches_together(pg, postgres_server):
    # Each row takes 0.1 s: one FETCH of the 1,001 rows asked for would run 100 s, and a fresh statement_timeout
    # per FETCH would let many fetches add up. The whole query ends near timeout_s.
    started = time.perf_counter()
    with pytest.raises(QueryTimeout):
        pg.execute("SELECT i, pg_sleep(0.1) FROM generate_series(1, 2000) AS i", limit=1000, timeout_s=1.0, max_bytes=64 * MB)
    assert time.perf_counter() - started < 10
    assert vedder_activity(postgres_server) == []
    assert pg.execute("SELECT 2").rows == [(2,)]


def test_a_column_mixing_numbers_and_text_is_measured_value_by_value():
    # A JSON column may hold a number in its first row and huge text after it: counted as numbers, all 41 rows came.
    source = Source([(1,)] + [("x" * MB,)] * 40)
    with pytest.raises(ResultTooLarge, match="after 17 rows"):
        fetch_within(source, limit=1000, max_bytes=2 * MB)
    assert source.asked == [1, 16]


def test_string_generators_are_capped_by_the_guard_before_the_engine_builds_them(demo):
    """repeat('x', 1e8) over 2,048 rows would make DuckDB build ≈ 200 GB before the byte budget sees a row: the
    guard caps the length of repeat/lpad/rpad at MAX_GENERATED_CHARS; short bars and pads are untouched."""
    from vedder.sql.guard import MAX_GENERATED_CHARS, guard_sql

    capped = guard_sql("SELECT repeat('x', 100000000) AS s, rpad(name, n, '-') AS p FROM t", dialect="duckdb").sql
    assert capped.count("LEAST(") == 2 and f"{MAX_GENERATED_CHARS})" in capped
    assert guard_sql("SELECT repeat('#', 3), lpad('7', 2, '0')", dialect="duckdb").sql == "SELECT REPEAT('#', 3), LPAD('7', 2, '0')"
    result = CliRunner().invoke(app, ["query", "SELECT length(repeat('x', 100000000)) AS n, repeat('#', 3) AS bar FROM range(2048)",
                                      "--cluster", "listening", "--project", str(demo), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert len(rows) == 1000 and rows[0] == [MAX_GENERATED_CHARS, "###"]
