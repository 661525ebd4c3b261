"""What one query may take of vedder's memory: DuckDB runs inside vedder's process, so its memory limit
(query.max_memory_mb) bounds aggregate states, hash tables and sorts, and the guard bounds the values the engine
builds whole before any row is seen (tests/test_guard.py holds the rewrites; here they run)."""

from __future__ import annotations

import duckdb
import pytest

from vedder.config import Config
from vedder.errors import ConfigError, SQLExecutionError
from vedder.warehouse.duckdb import DuckDBWarehouse


@pytest.fixture
def warehouse_file(tmp_path):
    path = tmp_path / "w.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT range AS id, range % 7 AS day FROM range(5000)")
    connection.close()
    return path


def test_the_memory_limit_is_set_before_the_configuration_is_locked(warehouse_file):
    with DuckDBWarehouse(warehouse_file, max_memory_mb=300) as warehouse:
        limit, spill = warehouse.execute("SELECT current_setting('memory_limit'), current_setting('max_temp_directory_size')").rows[0]
        assert limit == "300.0 MiB" and spill == "1.1 GiB"
        with pytest.raises(SQLExecutionError):
            warehouse.execute("SET memory_limit = '10GB'")


def test_the_configured_default_is_two_gigabytes(tmp_path):
    assert Config.from_dict(tmp_path, {}).max_memory_mb == 2048
    assert Config.from_dict(tmp_path, {"query": {"max_memory_mb": 512}}).max_memory_mb == 512
    with pytest.raises(ConfigError, match=r"query.max_memory_mb is 10; it must be at least 64"):
        Config.from_dict(tmp_path, {"query": {"max_memory_mb": 10}})


@pytest.mark.parametrize("sql", [
    # Without a limit (DuckDB's default is 80% of the RAM) the first answered at 16.7 GB over a billion rows.
    "SELECT len(list(i)) AS n FROM range(100000000) t(i)",
    "SELECT len(array_agg(i)) AS n FROM range(100000000) t(i)",
    "SELECT length(string_agg('xxxxxxxxxx', '')) AS n FROM range(100000000) t(i)",
    "SELECT max(len(l)) FROM (SELECT list(i) OVER (ORDER BY i) AS l FROM range(30000) t(i))",
    "WITH RECURSIVE t(s, n) AS (SELECT 'x', 0 UNION ALL SELECT s || s, n + 1 FROM t WHERE n < 31) SELECT max(length(s)) FROM t",
])
def test_an_aggregate_that_builds_one_huge_value_stops_at_the_memory_limit(warehouse_file, sql):
    with DuckDBWarehouse(warehouse_file, max_memory_mb=256) as warehouse:
        with pytest.raises(SQLExecutionError) as stopped:
            warehouse.execute(sql)
        assert "needs more memory than DuckDB may use (query.max_memory_mb)" in stopped.value.message
        assert "aggregate to numbers" in stopped.value.hint and "table and column names" not in stopped.value.hint
        assert warehouse.execute("SELECT count(*) FROM shop.orders").rows == [(5000,)]


def test_a_hash_table_or_sort_over_the_limit_spills_and_answers(warehouse_file):
    with DuckDBWarehouse(warehouse_file, max_memory_mb=64) as warehouse:
        assert warehouse.execute("SELECT count(*) FROM (SELECT i, count(*) FROM range(5000000) t(i) GROUP BY i)").rows == [(5000000,)]
        assert warehouse.execute("SELECT i FROM (SELECT i FROM range(5000000) t(i) ORDER BY i DESC) OFFSET 4999999").rows == [(0,)]


def test_a_string_over_the_engines_maximum_is_said_to_be_too_large(warehouse_file):
    """string_agg over a billion rows failed with 'check table and column names'; the same error at a size that
    finishes at once (DuckDB checks the size before it builds the string: at most 4 GB)."""
    from vedder.errors import ResultTooLarge

    with DuckDBWarehouse(warehouse_file) as warehouse:
        with pytest.raises(ResultTooLarge) as stopped:
            warehouse.execute("SELECT length(repeat('xxxxx', 1000000000))")
    assert "builds a value too large" in stopped.value.message and "maximum supported string size" in stopped.value.message
    assert "aggregate to numbers" in stopped.value.hint and "table and column names" not in stopped.value.hint


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from demo_project import copy_demo

    root = copy_demo(tmp_path_factory.mktemp("demo"), scale=0.05)
    (root / "vedder.yaml").write_text((root / "vedder.yaml").read_text().replace("query:\n", "query:\n  max_memory_mb: 256\n", 1))
    return root


@pytest.mark.parametrize("sql,said", [
    # The lead's three, at sizes DuckDB builds in about a second were they not bounded (1e9 took 8.5-20.5 GB).
    ("SELECT len(range(1000000)) AS n", "range() would build more than 10,000 items in one value"),
    ("SELECT len(list(i)) AS n FROM range(100000000) t(i)", "needs more memory than DuckDB may use (query.max_memory_mb)"),
    ("SELECT length(string_agg('xxxxxxxxxx', '')) AS n FROM range(100000000) t(i)", "needs more memory than DuckDB may use"),
])
def test_vedder_query_stops_the_attacks_with_an_error_that_says_what_happened(demo, sql, said):
    from typer.testing import CliRunner

    from vedder.cli import app

    result = CliRunner().invoke(app, ["query", sql, "--cluster", "listening", "--project", str(demo)])
    assert result.exit_code == 4 and said in result.output, result.output
    assert "Traceback" not in result.output and "table and column names" not in result.output
