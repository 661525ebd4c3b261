"""The SQL guard against a corpus of attacks, and the DuckDB connection as the second line of defence."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from vedder.errors import SQLExecutionError, SQLRefused
from vedder.project.model import matches_table
from vedder.sql.guard import guard_sql
from vedder.warehouse.duckdb import DuckDBWarehouse

FIXTURES = Path(__file__).parent / "fixtures" / "guard"


def _cases(name: str) -> list[tuple[str, str]]:
    lines = (FIXTURES / name).read_text().splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]


def _shop(table: str) -> bool:
    return matches_table(table, "shop.*")


@pytest.mark.parametrize("rule,sql", _cases("refused.txt"))
def test_attack_is_refused_with_its_rule(rule, sql):
    with pytest.raises(SQLRefused) as refused:
        guard_sql(sql, allowed=_shop)
    assert refused.value.rule == rule, refused.value.message
    assert rule in refused.value.message


@pytest.mark.parametrize("tables,sql", _cases("allowed.txt"))
def test_read_only_queries_pass(tables, sql):
    guarded = guard_sql(sql, allowed=_shop)
    assert sorted(guarded.tables) == sorted([] if tables == "-" else tables.split(","))


def test_default_schema_qualifies_unqualified_tables():
    guarded = guard_sql("SELECT count(*) FROM orders", allowed=_shop, default_schema="shop")
    assert guarded.tables == ["shop.orders"]
    assert "shop.orders" in guarded.sql


def test_cte_names_are_not_tables():
    guarded = guard_sql("WITH orders AS (SELECT 1 AS id) SELECT * FROM orders", allowed=_shop)
    assert guarded.tables == []


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT range AS id, range * 2 AS amount FROM range(5000)")
    connection.execute("CREATE TABLE shop.files AS SELECT range AS id, 'file' || range AS name, 'csv' AS ext, "
                       "CAST('\\xDE\\xAD' || range AS BLOB) AS payload FROM range(3000)")
    # Bait outside the cluster: a table on the search path (main) and another schema.
    connection.execute("CREATE TABLE main.secrets AS SELECT 'bait-main-table' AS v; CREATE SCHEMA hr; "
                       "CREATE TABLE hr.salaries AS SELECT 'bait-salary' AS v")
    connection.close()
    with DuckDBWarehouse(path) as opened:
        yield opened


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE shop.x AS SELECT 1",
        "DELETE FROM shop.orders",
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY shop.orders TO '/tmp/vedder-leak.csv'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ],
)
def test_connection_refuses_what_slips_past_the_guard(warehouse, sql):
    with pytest.raises(SQLExecutionError):
        warehouse.execute(sql)
    assert warehouse.execute("SELECT count(*) FROM shop.orders").rows == [(5000,)]


@pytest.mark.parametrize(
    "sql",
    [
        # A line comment holding */ is rendered as a block comment: it must stay one comment, not end early.
        "SELECT 1 -- */ , (SELECT v FROM hr.salaries) /*\n",
        "SELECT 1 AS one -- */ , (SELECT v FROM hr.salaries) AS leak /*\nFROM shop.orders",
        # A WITH query's name outside its scope is a table: main.secrets, or duckdb_tables (every table's name).
        "SELECT * FROM secrets, (WITH secrets AS (SELECT 1) SELECT * FROM secrets) AS s",
        "WITH RECURSIVE secrets AS (SELECT * FROM secrets) SELECT * FROM secrets",
        "WITH RECURSIVE secrets AS (SELECT * FROM secrets UNION ALL SELECT 'x') SELECT * FROM secrets",
        "SELECT string_agg(table_name, ',') FROM duckdb_tables, (WITH duckdb_tables AS (SELECT 1) SELECT 1) AS s",
    ],
)
def test_what_passes_the_guard_reads_nothing_outside_the_cluster(warehouse, sql):
    try:
        shown = repr(warehouse.execute(guard_sql(sql, allowed=_shop, default_schema="shop").sql).rows)
    except (SQLRefused, SQLExecutionError) as stopped:
        shown = stopped.message
    assert "bait" not in shown and "salaries" not in shown, shown


def test_the_bait_is_reachable_without_the_guard(warehouse):
    assert warehouse.execute("SELECT 1 /* */ , (SELECT v FROM hr.salaries) /* */").rows == [(1, "bait-salary")]
    assert warehouse.execute("SELECT * FROM secrets, (WITH secrets AS (SELECT 1) SELECT * FROM secrets) AS s").rows == [("bait-main-table", 1)]


def test_rows_are_capped_and_marked_truncated(warehouse):
    result = warehouse.execute("SELECT * FROM shop.orders", limit=100)
    assert len(result.rows) == 100 and result.truncated
    assert not warehouse.execute("SELECT * FROM shop.orders", limit=5000).truncated


def test_slow_query_is_interrupted(warehouse):
    from vedder.errors import QueryTimeout

    with pytest.raises(QueryTimeout, match="interrupted"):
        warehouse.execute("SELECT count(*) FROM range(100000000000) a", timeout_s=0.3)
    assert warehouse.execute("SELECT 42").rows == [(42,)]


def test_a_timeout_beyond_what_the_clock_can_wait_still_leaves_later_queries_a_timeout(warehouse):
    """A timeout of 1e12 s (vedder.yaml has no upper bound) made the watchdog thread die of OverflowError: no
    query timed out after it."""
    from vedder.errors import QueryTimeout

    # Long enough for the watchdog to start waiting on that deadline.
    assert warehouse.execute("SELECT count(*) FROM range(100000000) a", timeout_s=1e12).rows == [(100000000,)]
    with pytest.raises(QueryTimeout, match="interrupted"):
        warehouse.execute("SELECT count(*) FROM range(100000000000) a", timeout_s=0.3)


@pytest.mark.parametrize("sql,reason", [
    ("SELECT pg_sleep(5)", "function pg_sleep() sleeps: it holds a connection and reads no data"),
    ("SELECT pg_sleep_for('5 minutes')", "function pg_sleep_for() sleeps"),
    ("SELECT dblink('host=db', 'SELECT 1')", "function dblink() reaches the network or another database"),
    ("SELECT dblink_exec('host=db', 'SELECT 1')", "function dblink_exec() reaches the network"),
    ("SELECT http_get('http://example.com')", "reaches the network"),
    ("SELECT pg_read_file('/etc/passwd')", "function pg_read_file() reads files, settings or the environment"),
    ("SELECT getenv('HOME')", "function getenv() reads files, settings or the environment"),
])
def test_a_forbidden_function_is_refused_for_what_it_does(sql, reason):
    with pytest.raises(SQLRefused) as refused:
        guard_sql(sql, dialect="postgres", allowed=_shop)
    assert refused.value.rule == "forbidden_function" and reason in refused.value.message


@pytest.mark.parametrize("sql,catalog", [
    ("SELECT * FROM pg_catalog.pg_authid", "pg_catalog.pg_authid is a system catalog"),
    ("SELECT * FROM pg_roles", "pg_roles is a system catalog"),
    ("SELECT * FROM information_schema.tables", "information_schema.tables is a system catalog"),
])
def test_a_system_catalog_without_a_cluster_is_not_offered_a_cluster(sql, catalog, tmp_path):
    from demo_project import copy_demo
    from vedder.config import load_config
    from vedder.project.model import load_project
    from vedder.sql.run import cluster_for_sql

    with pytest.raises(SQLRefused) as refused:
        cluster_for_sql(sql, load_project(load_config(copy_demo(tmp_path))))
    assert catalog in refused.value.message and "not a table a cluster can hold" in refused.value.message
    assert "cluster new" not in refused.value.hint and "vedder clusters" in refused.value.hint


# Legitimate list builders: the guard's bound leaves their answers as they were (run with and without it).
@pytest.mark.parametrize("sql", [
    "SELECT unnest(generate_series(DATE '2026-01-01', DATE '2026-12-31', INTERVAL 1 DAY)) AS day",
    "SELECT len(range(TIMESTAMP '2026-01-01', TIMESTAMP '2027-01-01', INTERVAL 1 HOUR)) AS hours",
    "SELECT generate_series(TIMESTAMPTZ '2026-03-01', TIMESTAMPTZ '2026-01-01', -INTERVAL 1 MONTH) AS months",
    "SELECT range(5), range(2, 5), generate_series(3), generate_series(10, 1, -3), range(1, 10, 0), range(NULL::BIGINT)",
    "SELECT id, range(0, id % 7, 2) AS r FROM shop.orders ORDER BY id LIMIT 20",
    "SELECT len(range(10000)) AS most, len(range(0, -10000, -1)) AS most_backwards",
    "SELECT list_resize([1, 2], 5), array_resize([1], 3, 9), equi_width_bins(0, 10, 5, true)",
    "SELECT repeat([1, 2], 3), repeat('#', 3), repeat(CAST(id AS VARCHAR), 2) FROM shop.orders ORDER BY id LIMIT 3",
    "SELECT count(*) FROM range(1000000)",
    "SELECT list(id ORDER BY id)[1:3], string_agg(CAST(id AS VARCHAR), ',' ORDER BY id)[1:9] FROM shop.orders GROUP BY id % 3 ORDER BY 1",
])
def test_list_builders_within_the_bound_answer_as_before(warehouse, sql):
    guarded = guard_sql(sql, allowed=_shop).sql
    assert warehouse.execute(guarded).rows == warehouse.execute(sql).rows


# Built whole before any row is seen, outside DuckDB's memory_limit (len(range(1e9)) took vedder to 20 GB): each of
# these stops at once. The sizes are ones DuckDB would build in a second or so, were the bound missing.
@pytest.mark.parametrize("sql,builder", [
    ("SELECT len(range(1000000)) AS n", "range()"),
    ("SELECT len(range(0, -1000000, -1)) AS n", "range()"),
    ("SELECT len(generate_series(1000000)) AS n", "generate_series()"),
    ("SELECT len(range(TIMESTAMP '2026-01-01', TIMESTAMP '2126-01-01', INTERVAL 1 DAY)) AS n", "range()"),
    ("SELECT len(generate_series(DATE '2126-01-01', DATE '2026-01-01', -INTERVAL 1 HOUR)) AS n", "generate_series()"),
    ("SELECT sum(len(range(id, id + 100000))) FROM shop.orders", "range()"),
    ("SELECT count(*) FROM unnest(range(1000000))", "range()"),
    ("SELECT len(list_resize([1], 1000000)) AS n", "list_resize()"),
    ("SELECT len(array_resize([1], id * 1000, 0)) AS n FROM shop.orders", "array_resize()"),
    ("SELECT len(equi_width_bins(0, 10, 1000000, false)) AS n", "equi_width_bins()"),
])
def test_a_list_built_whole_past_the_bound_stops_the_query(warehouse, sql, builder):
    from vedder.errors import ResultTooLarge

    with pytest.raises(ResultTooLarge) as stopped:
        warehouse.execute(guard_sql(sql, allowed=_shop).sql)
    assert f"{builder} would build more than 10,000 items in one value" in stopped.value.message
    assert "FROM range(…)" in stopped.value.hint and "table and column names" not in stopped.value.hint


@pytest.mark.parametrize("sql", [
    "SELECT len(repeat([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 1000000)) AS n",
    "SELECT max(len(repeat(l, 10000))) AS n FROM (SELECT list(id) AS l FROM shop.orders)",
    "SELECT max(length(repeat(CAST(id AS VARCHAR) || 'abcdefghij', 10000))) AS n FROM shop.orders",
    "SELECT max(octet_length(repeat(payload, 10000))) AS n FROM shop.files",
])
def test_repeat_of_a_list_blob_or_computed_string_past_the_bound_stops_the_query(warehouse, sql):
    """The count alone was capped: repeat(x, 10000) of a 100-item list (or of a column's long text) built 100 times
    the bound, per row; then a shorter repeat silently changed the answer. Now it stops, BLOBs included."""
    from vedder.errors import ResultTooLarge

    with pytest.raises(ResultTooLarge) as stopped:
        warehouse.execute(guard_sql(sql, allowed=_shop).sql)
    assert "repeat() would build more than 10,000 items in one value" in stopped.value.message


@pytest.mark.parametrize("sql", [
    "SELECT id, repeat(payload, 3) AS tripled, octet_length(repeat(payload, 2)) AS n FROM shop.files ORDER BY id",
    "SELECT id, payload || payload AS doubled, concat(name, '.', ext) AS file FROM shop.files ORDER BY id",
    "SELECT replace(name, 'a', 'aa') AS n, regexp_replace(name, '(.)', '\\1-', 'g') AS r, printf('%-8s|%5.1f', name, id / 3) AS p, "
    "format('{:>6}', id) AS f, list_concat([id], [id, id]) AS l, concat_ws('/', name, ext, name) AS w FROM shop.files ORDER BY id",
])
def test_growing_calls_within_the_bound_answer_as_before(warehouse, sql):
    """Legitimate queries over a real BLOB column and text: the bound checks leave their answers as they were
    (repeat of a BLOB failed: DuckDB has no len() for BLOB, which the cap used)."""
    guarded = guard_sql(sql, allowed=_shop).sql
    assert "ERROR(" in guarded or "PRINTF" in guarded
    assert warehouse.execute(guarded).rows == warehouse.execute(sql).rows


# Per row, each of these passed 6 GB of vedder's memory (killed) or ran minutes past the timeout (benchmarks/bench_growth.py).
@pytest.mark.parametrize("sql,call", [
    ("SELECT max(length(replace(replace(replace(rpad(CAST(id AS VARCHAR), 10000, 'a'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), "
     "'a', 'aaaaaaaaaa'))) AS n FROM shop.orders", "replace()"),
    ("SELECT max(length(regexp_replace(regexp_replace(rpad(CAST(id AS VARCHAR), 10000, 'a'), '(.)', '\\1\\1\\1\\1\\1', 'g'), "
     "'(.)', '\\1\\1\\1\\1\\1', 'g'))) AS n FROM shop.orders", "regexp_replace()"),
    ("WITH a AS (SELECT rpad(CAST(id AS VARCHAR), 10000, 'x') AS s FROM shop.orders), b AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM a), "
     "c AS (SELECT s||s||s||s||s||s||s||s||s||s AS s FROM b) SELECT max(length(s)) AS n FROM c", "||"),
    ("WITH a AS (SELECT range(id % 7, 10000) AS l FROM shop.orders), b AS (SELECT list_concat(l, l, l, l, l, l, l, l, l, l) AS l FROM a), "
     "c AS (SELECT list_concat(l, l, l, l, l, l, l, l, l, l) AS l FROM b) SELECT max(len(l)) AS n FROM c", "list_concat() would build more than 10,000"),
    ("SELECT max(length(concat(name, " + ", ".join(["rpad(name, 10000, 'x')"] * 10) + "))) AS n FROM shop.files", "concat()"),
    ("SELECT max(length(concat(" + ", ".join(["rpad(name, 1000, 'x')"] * 200) + "))) AS n FROM shop.files", "concat()"),
    ("WITH a AS (SELECT range(id % 7, 10000) AS l FROM shop.orders) SELECT max(len(array_concat(l, l))) AS n FROM a",
     "array_concat() would build more than 10,000"),
])
def test_a_call_growing_its_inputs_past_the_bound_stops_before_it_runs(warehouse, sql, call):
    from vedder.errors import ResultTooLarge

    with pytest.raises(ResultTooLarge) as stopped:
        warehouse.execute(guard_sql(sql, allowed=_shop).sql)
    assert (call if "would" in call else f"{call} would build more than 100,000") + " items in one value" in stopped.value.message


@pytest.mark.parametrize("call,sql", _cases("grown.txt"))
def test_a_builder_encoder_separator_or_lambda_past_the_bound_stops_before_it_runs(warehouse, call, sql):
    """Lists, structs and JSON built of copies, encoders nested, a separator between 10,000 items, a lambda's result
    per item: per row over a table, each passed 6 GB of vedder's memory or DuckDB's memory_limit (bench_growth.py)."""
    from vedder.errors import ResultTooLarge

    with pytest.raises(ResultTooLarge) as stopped:
        warehouse.execute(guard_sql(sql, allowed=_shop).sql)
    assert (call if "would" in call else f"{call} would build more than 100,000") + " items in one value" in stopped.value.message


@pytest.mark.parametrize("sql", [sql for (sql,) in _cases("grown_twins.txt")])
def test_builders_encoders_separators_and_lambdas_within_the_bound_answer_as_before(warehouse, sql):
    guarded = guard_sql(sql, allowed=_shop).sql
    assert warehouse.execute(guarded).rows == warehouse.execute(sql).rows


def test_postgres_series_stream_rows_and_are_left_as_written():
    sql = "SELECT generate_series(1, 1000000)"
    assert guard_sql(sql, dialect="postgres").sql == "SELECT GENERATE_SERIES(1, 1000000)"


def _replaced(text: str, steps: list[tuple[str, str]]) -> list[int]:
    sizes = []
    for pattern, replacement in steps:
        text = text.replace(pattern, replacement)  # Python's replace, like DuckDB's: left to right, not overlapping
        sizes.append(len(text.encode()))
    return sizes


def test_literal_replaces_are_bounded_by_what_they_make_not_by_their_largest_growth(warehouse):
    """HTML escaping of 2,000 characters (replace of '&', '<', '>') was refused as "more than 100,000" (growth 5 × 4
    × 4 per character); a literal replace (or a nest of one-character ones) over a value is now bounded by exactly
    what it makes, at every step of the nest: refused if and only if some step makes more than MAX_GROWN_SIZE."""
    import random

    from vedder.errors import ResultTooLarge
    from vedder.sql.guard import MAX_GROWN_SIZE

    rng = random.Random(7)
    alphabet = "ab<&;é"
    outcomes = {True: 0, False: 0}
    for _ in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(5_000, 50_000)))
        steps = [(rng.choice(alphabet), "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))))
                 for _ in range(rng.randint(1, 4))]
        sql = f"'{text}'"
        for pattern, replacement in steps:
            sql = f"replace({sql}, '{pattern}', '{replacement}')"
        sizes = _replaced(text, steps)
        over = max(sizes) > MAX_GROWN_SIZE
        outcomes[over] += 1
        guarded = guard_sql(f"SELECT strlen({sql}) AS n", allowed=_shop).sql
        if over:
            with pytest.raises(ResultTooLarge):
                warehouse.execute(guarded)
        else:
            assert warehouse.execute(guarded).rows == [(sizes[-1],)], (steps, sizes)
    assert min(outcomes.values()) >= 10  # both sides of the bound were tried
    escaped = "replace(replace(replace(rpad(name, 2100, '<a & b>'), '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
    multi = "replace(repeat(name, 300), 'ab', 'a%20b')"
    for sql in (f"SELECT {escaped} AS s FROM shop.files ORDER BY id", f"SELECT {multi} AS s FROM shop.files ORDER BY id"):
        assert warehouse.execute(guard_sql(sql, allowed=_shop).sql).rows == warehouse.execute(sql).rows


@pytest.mark.parametrize("sql,word", [("EXPLAIN ANALYZE SELECT 1", "EXPLAIN"), ("VACUUM", "VACUUM"), ("CHECKPOINT", "CHECKPOINT"),
                                      ("BEGIN", "BEGIN"), ("SUMMARIZE shop.orders", "SUMMARIZE"), ("DELETE FROM shop.orders", "DELETE")])
def test_a_statement_that_is_not_a_query_is_named_as_written(sql, word):
    """EXPLAIN and VACUUM were refused as "COMMAND statements", CHECKPOINT as "COLUMN statements"."""
    with pytest.raises(SQLRefused) as refused:
        guard_sql(sql, allowed=_shop)
    assert refused.value.message == f"SQL refused (read_only): {word} statements are not allowed"


def test_sql_duckdb_cannot_parse_gets_a_syntax_hint(warehouse):
    """A bare SELECT passes sqlglot and fails in DuckDB's parser: the hint was about table and column names."""
    from vedder.errors import SQLExecutionError

    with pytest.raises(SQLExecutionError) as failed:
        warehouse.execute(guard_sql("SELECT", allowed=_shop).sql)
    assert failed.value.message.startswith("Parser Error") and failed.value.hint.startswith("fix the SQL's syntax")
