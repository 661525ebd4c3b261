"""Wide tables on PostgreSQL (the real server of tests/postgres_server.py): more columns than one grouped pass
or one SELECT takes. PostgreSQL's GROUPING takes fewer than 32 arguments (a table with 32 or more repetitive
columns failed to profile at all) and a SELECT at most 1,664 expressions (the aggregate pass has up to four per
column: 416 numeric columns failed); the exact distinct counts are batched as on DuckDB."""

from __future__ import annotations

import pytest

from postgres_server import postgres_server  # noqa: F401  (the session fixture)
from vedder import profile as profiling
from vedder.warehouse.postgres import PostgresWarehouse

COLUMNS = 420


@pytest.fixture
def wide(postgres_server, monkeypatch):
    """A database with finance.wide: an id, COLUMNS repetitive metrics (metric_c has c % 8 + 2 values, NULL on
    every seventh row) and an event date; as the analyst."""
    postgres_server.admin("CREATE DATABASE wide_profile OWNER analyst")
    metrics = ", ".join(f"CASE WHEN i % 7 <> 0 THEN i % {c % 8 + 2} END AS metric_{c:03d}" for c in range(COLUMNS))
    postgres_server.admin("CREATE SCHEMA finance AUTHORIZATION analyst; SET ROLE analyst; "
                          f"CREATE TABLE finance.wide AS SELECT i AS id, {metrics}, DATE '2025-01-01' + i % 30 AS event_date "
                          "FROM generate_series(1, 1000) AS i; RESET ROLE;", database="wide_profile")
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    with PostgresWarehouse(postgres_server.url.rsplit("/", 1)[0] + "/wide_profile") as opened:
        yield opened
    postgres_server.admin("DROP DATABASE IF EXISTS wide_profile WITH (FORCE)")


def test_a_wide_postgres_table_profiles_with_exact_counts_per_column(wide):
    profile = profiling.profile_table(wide, "finance.wide")
    distinct = {c["name"]: c.get("distinct_count") for c in profile["columns"]}
    expected = {f"metric_{c:03d}": len({i % (c % 8 + 2) for i in range(1, 1001) if i % 7}) for c in range(COLUMNS)}
    assert distinct == {"id": 1000, **expected, "event_date": 30}
    shares = {c["name"]: sum(v["frequency"] for v in c["common_values"]) for c in profile["columns"] if "common_values" in c}
    assert shares == {f"metric_{c:03d}": pytest.approx(0.858, abs=0.001) for c in range(COLUMNS)}, "every grouped batch, NULL apart"
    assert profile["partitioning"]["column"] == "event_date"
