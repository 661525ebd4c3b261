"""vedder.sql.analyze: tables and columns a query reads, checked against a {table: {column: type}} schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vedder.errors import SQLRefused
from vedder.sql.analyze import check_columns, columns_used, tables_used

GOLDEN = yaml.safe_load((Path(__file__).parent / "fixtures" / "validate" / "analyze.yaml").read_text())
SCHEMA = GOLDEN["schema"]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda case: case["sql"][:50])
def test_check_columns_golden(case):
    problems = check_columns(case["sql"], SCHEMA, "duckdb", "listening")
    assert [p.message for p in problems] == case["problems"]


def test_problem_locates_the_name_in_the_sql():
    [problem] = check_columns("SELECT user_id,\n  contry\nFROM users", SCHEMA, default_schema="listening")
    assert (problem.kind, problem.name, problem.table, problem.suggestion) == ("unknown_column", "contry", None, "country")
    assert (problem.line, problem.column) == (2, 3)


def test_without_default_schema_unqualified_tables_are_unknown():
    [problem] = check_columns("SELECT country FROM users", SCHEMA)
    assert problem.kind == "unknown_table" and problem.name == "users"


def test_tables_used_excludes_ctes_and_table_functions():
    sql = "WITH x AS (SELECT * FROM events) SELECT * FROM x JOIN listening.users USING (user_id), range(3)"
    assert tables_used(sql, default_schema="listening") == ["listening.events", "listening.users"]


def test_columns_used_resolves_aliases_and_unqualified_names():
    sql = "SELECT u.country, sum(duration_ms) FROM users u JOIN events e USING (user_id) GROUP BY 1"
    assert columns_used(sql, SCHEMA, default_schema="listening") == {
        "listening.users": {"country", "user_id"},
        "listening.events": {"duration_ms", "user_id"},
    }


def test_unparsable_sql_is_refused_by_the_guard_rule():
    with pytest.raises(SQLRefused) as refused:
        check_columns("SELEC 1 FROM", SCHEMA)
    assert refused.value.rule == "parse"


def test_live_warehouse_schema_shape_is_accepted():
    """Warehouse.schema() keys are 'schema.table'; case of names does not matter."""
    schema = {"Listening.Users": {"User_Id": "BIGINT"}}
    assert check_columns("SELECT USER_ID FROM listening.users", schema) == []
