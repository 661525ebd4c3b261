"""PostgreSQL, part 2: profile, health (drift, freshness, --fix, reproducibility), init, propose --history-sql
and an end-to-end CLI run, on the real server of tests/postgres_server.py.

The tests here alter tables, so each gets a database of its own, copied from a template this module loads
(``CREATE DATABASE … TEMPLATE``): the shared ``warehouse`` database of tests/test_postgres.py is never touched.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postgres_server import postgres_server  # noqa: F401  (the session fixture)
from vedder.cli import app
from vedder.profile import _aggregate_sql, _column_kind, _common_values_sql, _partition_candidate, estimated_distinct, profile_table
from vedder.warehouse.postgres import PostgresWarehouse

TEMPLATE = "curation_template"
COUNTRIES = ["US", "US", "SE", "GB", "DE"]
PLANS = ["free", "premium", "family"]


def order_rows() -> list[tuple]:
    """240 orders in 2025 (so the newest partition is always stale), some plans NULL."""
    rows = []
    for i in range(1, 241):
        rows.append((i, 100 + i % 37, COUNTRIES[i % 5], None if i % 17 == 0 else PLANS[i % 3],
                     Decimal(i * 7 % 113) + Decimal("0.25"), dt.date(2025, 10, 1) + dt.timedelta(days=i % 40),
                     dt.datetime(2025, 10, 1, i % 24, i % 60), i % 11 == 0))
    return rows


def sql_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def values(rows: list[tuple]) -> str:
    return ", ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in rows)


HISTORY = [
    ("SELECT country, COUNT(*) AS orders FROM sales.orders WHERE order_date >= DATE '2025-10-01' GROUP BY country", "ana"),
    ("select country, count(*) from sales.orders where order_date >= date '2025-10-20' group by country", "bo"),
    ("SELECT country, COUNT(*) AS n FROM sales.orders WHERE order_date >= DATE '2025-11-01' GROUP BY country", "cy"),
    ("SELECT plan, SUM(amount) AS revenue FROM sales.orders GROUP BY plan", "ana"),
    ("select plan, sum(amount) as revenue from sales.orders group by plan", "bo"),
    ("SELECT now()", "ana"),
]

README_LOG_SQL = next(line for line in (Path(__file__).parents[1] / "README.md").read_text().splitlines()
                      if "ops.postgres_log" in line and "--history-sql" in line).split("--history-sql ", 1)[1].strip()[1:-1].replace('\\"', '"')

TEMPLATE_SQL = f"""
CREATE SCHEMA sales AUTHORIZATION analyst;
CREATE SCHEMA ops AUTHORIZATION analyst;
CREATE SCHEMA kinds AUTHORIZATION analyst;
SET ROLE analyst;
CREATE TABLE sales.orders (order_id integer, customer_id integer, country varchar(2), plan text, amount numeric(10,2),
                           order_date date, paid_at timestamp, refunded boolean);
INSERT INTO sales.orders VALUES {values(order_rows())};
CREATE VIEW sales.big_orders AS SELECT order_id, country, amount FROM sales.orders WHERE amount >= 50;
CREATE TABLE ops.query_history (query text, "user" text, started_at timestamptz, status text);
INSERT INTO ops.query_history VALUES {values([(q, u, dt.datetime(2025, 11, 1, 9, n), 'success') for n, (q, u) in enumerate(HISTORY)])};
CREATE TABLE ops.postgres_log (log_time timestamptz, user_name text, error_severity text, message text);
INSERT INTO ops.postgres_log VALUES {values([(dt.datetime(2025, 11, 1, 9, n), u, 'LOG', ('duration: 1.5 ms  statement: ' if n % 2 else 'statement: ') + q)
                                            for n, (q, u) in enumerate(HISTORY)] + [(dt.datetime(2025, 11, 1, 10), 'ana', 'LOG', 'connection authorized: user=ana')])};
CREATE TYPE kinds.mood AS ENUM ('happy', 'sad');
CREATE TABLE kinds.everything (n numeric, i integer, b bigint, r double precision, v varchar(5), t text, d date,
                               ts timestamp, tstz timestamptz, tm time, flag boolean, doc jsonb, raw json, x xml,
                               ints integer[], id uuid, bytes bytea, feeling kinds.mood);
INSERT INTO kinds.everything
SELECT g % 2, g % 2, g % 2, g % 2, 'v' || g % 2, 't' || g % 2, DATE '2025-01-01' + g % 2, TIMESTAMP '2025-01-01' + g % 2 * INTERVAL '1 day',
       TIMESTAMPTZ '2025-01-01 00:00+00' + g % 2 * INTERVAL '1 hour', TIME '10:00', g % 2 = 0, jsonb_build_object('k', g % 2),
       json_build_object('k', g % 2), xmlelement(name k, g % 2), ARRAY[g % 2], ('00000000-0000-0000-0000-00000000000' || g % 2)::uuid, '\\x00'::bytea,
       (CASE WHEN g % 2 = 0 THEN 'happy' ELSE 'sad' END)::kinds.mood
FROM generate_series(1, 6) AS g;
RESET ROLE;
"""

_databases = itertools.count()


@pytest.fixture(scope="module")
def template(postgres_server):
    postgres_server.admin(f"CREATE DATABASE {TEMPLATE} OWNER analyst")
    postgres_server.admin(TEMPLATE_SQL, database=TEMPLATE)
    yield TEMPLATE
    postgres_server.admin(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")


@pytest.fixture
def url(postgres_server, template, monkeypatch) -> str:
    """A fresh copy of the template database, as the analyst (PGPASSWORD set, the URL without a password)."""
    name = f"curation_{next(_databases)}"
    postgres_server.admin(f"CREATE DATABASE {name} TEMPLATE {template} OWNER analyst")
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    yield postgres_server.url.rsplit("/", 1)[0] + "/" + name
    postgres_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def warehouse(url):
    with PostgresWarehouse(url) as opened:
        yield opened


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def vedder(*args: str):
    return CliRunner().invoke(app, list(args))


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def sales_project(root: Path, url: str, extra: str = "") -> Path:
    """A project on ``url`` with the cluster ``sales`` (no dataset files yet: `vedder profile` writes them)."""
    write(root, {
        "vedder.yaml": f"warehouse: {{type: postgres, url: '{url}'}}\nmodel: offline\n{extra}",
        "clusters/sales/cluster.yaml": ("id: sales\ntitle: Sales\ndescription: Orders of the shop.\n"
                                        "owners: {team: commerce, members: [ana]}\ndatasets: [sales.orders, sales.big_orders]\n"
                                        "default_schema: sales\n"),
        "clusters/sales/pairs/orders-per-country.yaml": ("question: How many orders are there per country?\n"
                                                         "sql: SELECT country, COUNT(*) AS orders FROM sales.orders GROUP BY country ORDER BY orders DESC, country\n"
                                                         "verified_by: ana\nverified_at: '2026-11-20'\n"),
        "clusters/sales/pairs/revenue-per-plan.yaml": ("question: What is the revenue per plan?\n"
                                                       "sql: SELECT plan, SUM(amount) AS revenue FROM orders WHERE plan IS NOT NULL GROUP BY plan\n"
                                                       "verified_by: ana\nverified_at: '2026-11-20'\n"),
    })
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "sales"], cwd=root, check=True)
    return root


def signals(report: dict) -> dict[str, dict]:
    return {s["name"]: s for s in report["clusters"][0]["signals"]}


# --- profile ------------------------------------------------------------------------------------------------


def test_duckdb_profile_sql_is_unchanged():
    columns = [_column_kind(n, t, "duckdb") for n, t in [("id", "INTEGER"), ("country", "VARCHAR"), ("event_date", "DATE"), ("tags", "VARCHAR[]")]]
    partition = _partition_candidate(columns)
    assert _aggregate_sql("listening.events", columns, partition, False, "duckdb") == (
        'SELECT count(*), count("id"), approx_count_distinct("id"), min("id"), max("id"), count("country"), '
        'approx_count_distinct("country"), count("event_date"), approx_count_distinct("event_date"), min("event_date"), '
        'max("event_date"), count("tags"), NULL, bool_and(date_trunc(\'month\', "event_date") = "event_date"), '
        'bool_and(date_trunc(\'day\', "event_date") = "event_date"), bool_and(date_trunc(\'hour\', "event_date") = "event_date") '
        'FROM "listening"."events"')
    assert _common_values_sql("listening.events", columns[:3], 10**6, "duckdb") == (
        'SELECT grouping("id", "country", "event_date") AS grouping_id, "id", "country", "event_date", count(*) AS n '
        'FROM (SELECT "id", "country", "event_date" FROM "listening"."events" USING SAMPLE reservoir(100000 ROWS) REPEATABLE (42)) AS sampled '
        'GROUP BY GROUPING SETS (("id"), ("country"), ("event_date"), ()) QUALIFY row_number() OVER (PARTITION BY '
        'grouping("id", "country", "event_date") ORDER BY count(*) DESC, "id", "country", "event_date") <= 50 '
        'ORDER BY grouping_id, n DESC, "id", "country", "event_date"')


def test_postgres_types_are_classified(warehouse):
    kinds = {name: _column_kind(name, kind, "postgres") for name, kind in warehouse.columns("kinds.everything")}
    described = {name: ("numeric" if k.numeric else "temporal" if k.temporal else "categorical" if k.categorical else "opaque",
                        k.partitionable) for name, k in kinds.items()}
    assert described == {
        "n": ("numeric", False), "i": ("numeric", False), "b": ("numeric", False), "r": ("numeric", False),
        "v": ("categorical", False), "t": ("categorical", False), "flag": ("categorical", False), "id": ("categorical", False),
        "doc": ("categorical", False),  # jsonb compares for equality: its few documents are listed like labels
        "d": ("temporal", True), "ts": ("temporal", True), "tstz": ("temporal", True), "tm": ("temporal", False),
        "raw": ("opaque", False), "x": ("opaque", False),  # json and xml have no equality: no distinct count, no grouping
        "ints": ("opaque", False), "bytes": ("opaque", False),
        "feeling": ("categorical", False),  # an enum is spelled ENUM('…', …) with its labels: text-like
    }
    profile = profile_table(warehouse, "kinds.everything")
    columns = {c["name"]: c for c in profile["columns"]}
    assert profile["row_count"] == 6
    assert columns["tstz"]["min"] == "2025-01-01T00:00:00+00:00" and columns["tstz"]["max"] == "2025-01-01T01:00:00+00:00"
    assert columns["n"]["min"] == 0 and columns["n"]["max"] == 1
    assert [v["value"] for v in columns["v"]["common_values"]] == ["v0", "v1"]
    assert {str(v["value"]) for v in columns["doc"]["common_values"]} == {"{'k': 0}", "{'k': 1}"}
    assert "distinct_count" not in columns["raw"] and "distinct_count" not in columns["x"]


def duckdb_copy(path: Path) -> Path:
    import duckdb

    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA sales")
        connection.execute("CREATE TABLE sales.orders (order_id INTEGER, customer_id INTEGER, country VARCHAR, plan VARCHAR, "
                           "amount DECIMAL(10,2), order_date DATE, paid_at TIMESTAMP, refunded BOOLEAN)")
        connection.execute(f"INSERT INTO sales.orders VALUES {values(order_rows())}")
    return path


def test_the_same_table_profiles_the_same_in_duckdb_and_postgres(warehouse, tmp_path):
    from vedder.warehouse.duckdb import DuckDBWarehouse

    with DuckDBWarehouse(duckdb_copy(tmp_path / "w.duckdb")) as duck:
        in_duckdb = profile_table(duck, "sales.orders")
    in_postgres = profile_table(warehouse, "sales.orders")

    def comparable(profile: dict) -> dict:
        return {**profile, "profiled_at": None, "columns": [{k: v for k, v in c.items() if k != "type"} for c in profile["columns"]]}

    assert comparable(in_postgres) == comparable(in_duckdb)
    assert in_postgres["row_count"] == 240
    assert in_postgres["partitioning"] == {"column": "order_date", "granularity": "day", "first": "2025-10-01", "last": "2025-11-09"}
    country = next(c for c in in_postgres["columns"] if c["name"] == "country")
    assert country["common_values"][:2] == [{"value": "US", "frequency": 0.4}, {"value": "DE", "frequency": 0.2}]
    amount = next(c for c in in_postgres["columns"] if c["name"] == "amount")
    assert (amount["type"], amount["min"], amount["max"]) == ("NUMERIC(10,2)", 0.25, 112.25)


def test_big_tables_are_sampled_repeatably_and_views_are_counted_whole(warehouse, monkeypatch):
    import vedder.profile

    monkeypatch.setattr(vedder.profile, "SAMPLE_ROWS", 100)
    executed: list[str] = []
    execute = warehouse.execute
    monkeypatch.setattr(warehouse, "execute", lambda sql, **kw: executed.append(sql) or execute(sql, **kw))
    first, again = profile_table(warehouse, "sales.orders"), profile_table(warehouse, "sales.orders")
    assert [s for s in executed if "TABLESAMPLE BERNOULLI (41.666667) REPEATABLE (42)" in s]
    assert [c.get("common_values") for c in first["columns"]] == [c.get("common_values") for c in again["columns"]]
    country = next(c for c in first["columns"] if c["name"] == "country")
    assert abs(country["common_values"][0]["frequency"] - 0.4) < 0.15 and country["distinct_count"] == 4
    executed.clear()
    view = profile_table(warehouse, "sales.big_orders")  # TABLESAMPLE on a view is an error in PostgreSQL
    assert view["row_count"] > 100 and not [s for s in executed if "TABLESAMPLE" in s]
    assert next(c for c in view["columns"] if c["name"] == "country")["common_values"][0]["value"] == "US"


BIG_SQL = """
SET ROLE analyst;
CREATE TABLE sales.big AS
SELECT i AS id,
       (i * 7919) % 7 AS low,
       i / 2 AS twice,
       CASE WHEN i % 10 < 6 THEN 'heavy_' || i % 3 ELSE 'tail_' || i END AS heavy_tail,
       CASE WHEN i % 100 = 0 THEN (i / 100) % 50 END AS sparse,
       DATE '2025-01-01' + (i % 90)::integer AS event_date
FROM generate_series(0, 19999) AS i;
CREATE VIEW sales.big_view AS SELECT * FROM sales.big;
RESET ROLE;
"""


def test_estimated_distinct_is_duj1_for_uniform_samples_and_shlosser_for_skewed_ones():
    assert estimated_distinct({1: 1000}, 50_000) == 50_000  # every value once: a key
    assert estimated_distinct({100: 7, 300: 1}, 50_000) == 8  # every value seen many times
    assert estimated_distinct({1: 180, 2: 10}, 2_000) == round(200 * 190 / (200 - 180 + 180 * 200 / 2_000))  # Duj1
    q = 1_300 / 13_000
    shlosser = 103 + 100 * (100 * (1 - q) + 3 * (1 - q) ** 400) / (100 * q + 3 * 400 * q * (1 - q) ** 399)
    assert estimated_distinct({1: 100, 400: 3}, 13_000) == round(shlosser) == 1_003  # three heavy values, a unique tail
    assert estimated_distinct({1: 300, 2: 100}, 500) == 400 and estimated_distinct({}, 40) == 1  # the whole column; none sampled
    # A status code of 400,000 orders, 5 values each sampled ~20,000 times, one of them half the rows: skewed, but
    # (1 - q)^20000 is 0.0 in floating point; every value was seen, so the estimate is the values seen.
    assert estimated_distinct({19_000: 4, 25_000: 1}, 400_000) == 5


def test_big_postgres_tables_estimate_distinct_counts_from_the_sample_and_keep_the_rest_exact(url, postgres_server, monkeypatch):
    import vedder.profile

    postgres_server.admin(BIG_SQL, database=database_of(url))
    monkeypatch.setattr(vedder.profile, "SAMPLE_ROWS", 2000)
    with PostgresWarehouse(url) as warehouse:
        executed: list[str] = []
        execute = warehouse.execute
        monkeypatch.setattr(warehouse, "execute", lambda sql, **kw: executed.append(sql) or execute(sql, **kw))
        first, again = profile_table(warehouse, "sales.big"), profile_table(warehouse, "sales.big")
        assert not [s for s in executed if "count(DISTINCT" in s]  # no exact count: no sort of the whole table
        assert [s for s in executed if "TABLESAMPLE BERNOULLI (10.000000) REPEATABLE (42)" in s]
        view = profile_table(warehouse, "sales.big_view")  # not samplable: grouped whole, so counted exactly
    assert {**first, "profiled_at": None} == {**again, "profiled_at": None}
    columns = {c["name"]: c for c in first["columns"]}
    distinct = {name: c.get("distinct_count") for name, c in columns.items()}
    assert distinct["id"] == 20_000 and distinct["low"] == 7 and distinct["event_date"] == 90
    assert abs(distinct["twice"] - 10_000) / 10_000 < 0.1
    assert 25 <= distinct["sparse"] <= 75  # ~20 of its 200 values sampled: a rough estimate
    assert abs(distinct["heavy_tail"] - 8_003) / 8_003 < 0.1  # three heavy values and a long tail: Shlosser
    # Row count, nulls, min/max and the partition's first and last day are exact.
    assert first["row_count"] == 20_000 and columns["sparse"]["null_fraction"] == 0.99
    assert (columns["id"]["min"], columns["id"]["max"], columns["sparse"]["min"], columns["sparse"]["max"]) == (0, 19_999, 0, 49)
    assert first["partitioning"] == {"column": "event_date", "granularity": "day", "first": "2025-01-01", "last": "2025-03-31"}
    assert sorted(v["value"] for v in columns["low"]["common_values"]) == list(range(7))
    assert "common_values" not in columns["id"] and "common_values" not in columns["twice"]
    view_distinct = {c["name"]: c.get("distinct_count") for c in view["columns"]}
    assert view_distinct == {**distinct, "twice": 10_000, "heavy_tail": 8_003, "sparse": 50}


def test_postgres_granularity_checks_dates_and_timestamps_and_ignore_nulls(url, postgres_server):
    postgres_server.admin("""
        SET ROLE analyst;
        CREATE TABLE sales.monthly AS SELECT CASE WHEN g = 3 THEN NULL ELSE DATE '2025-01-01' + g * INTERVAL '1 month' END::date AS month_date
            FROM generate_series(0, 11) AS g;
        CREATE TABLE sales.daily AS SELECT DATE '2025-01-01' + g AS ds FROM generate_series(0, 11) AS g;
        CREATE TABLE sales.hourly AS SELECT CASE WHEN g = 5 THEN NULL ELSE TIMESTAMP '2025-01-01' + g * INTERVAL '1 hour' END AS event_hour
            FROM generate_series(0, 11) AS g;
        CREATE TABLE sales.stamped AS SELECT TIMESTAMPTZ '2025-01-01 00:00+00' + g * INTERVAL '1 day' AS event_at FROM generate_series(0, 11) AS g;
        CREATE TABLE sales.continuous AS SELECT TIMESTAMP '2025-01-01' + g * INTERVAL '61 minutes' AS event_ts FROM generate_series(0, 11) AS g;
        RESET ROLE;""", database=database_of(url))
    with PostgresWarehouse(url) as warehouse:
        grains = {t: profile_table(warehouse, f"sales.{t}")["partitioning"]["granularity"]
                  for t in ("monthly", "daily", "hourly", "stamped", "continuous")}
    assert grains == {"monthly": "month", "daily": "day", "hourly": "hour", "stamped": "day", "continuous": "day"}


def test_postgres_common_values_keep_values_seen_once_where_they_rank(warehouse, postgres_server, url, tmp_path):
    """60 rows of one value and 55 values seen once (56 distinct, more than LOW_CARDINALITY): the top values
    are the heavy one and the first nine seen once, as DuckDB lists them."""
    postgres_server.admin("SET ROLE analyst; CREATE TABLE sales.ranked AS SELECT CASE WHEN g <= 60 THEN 'heavy' ELSE 'v' || (1000 + g) END AS code "
                          "FROM generate_series(1, 115) AS g; RESET ROLE;", database=database_of(url))
    import duckdb
    from vedder.warehouse.duckdb import DuckDBWarehouse

    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        connection.execute("CREATE SCHEMA sales; CREATE TABLE sales.ranked AS SELECT CASE WHEN g <= 60 THEN 'heavy' ELSE 'v' || (1000 + g) END AS code "
                           "FROM range(1, 116) t(g)")
    with DuckDBWarehouse(tmp_path / "w.duckdb") as duck:
        expected = profile_table(duck, "sales.ranked")["columns"][0]
    found = profile_table(warehouse, "sales.ranked")["columns"][0]
    assert {**found, "type": None} == {**expected, "type": None} and len(found["common_values"]) == 10
    assert found["common_values"][1] == {"value": "v1061", "frequency": round(1 / 115, 4)}


# --- health -------------------------------------------------------------------------------------------------


def test_health_on_postgres_measures_freshness_and_drift_and_fixes_a_renamed_column(url, postgres_server, tmp_path):
    root = sales_project(tmp_path / "project", url)
    assert vedder("profile", "--project", str(root)).exit_code == 0
    dataset = (root / "clusters/sales/datasets/sales.orders.yaml").read_text()
    assert "column: order_date" in dataset and "granularity: day" in dataset
    healthy = vedder("health", "--format", "json", "--project", str(root))
    report = signals(json.loads(healthy.stdout))
    assert report["pair_validity"]["value"] == 1.0 and report["pair_execution"]["value"] == 1.0
    assert report["schema_drift"]["value"] == 1.0
    stale = [p for p in report["data_health"]["problems"] if p["kind"] == "stale"]
    assert [p["subject"] for p in stale] == ["sales.orders"] and "2025-11-09" in stale[0]["message"]

    postgres_server.admin("ALTER TABLE sales.orders RENAME COLUMN country TO ship_country", database=database_of(url))
    drifted = signals(json.loads(vedder("health", "--format", "json", "--project", str(root)).stdout))
    assert drifted["schema_drift"]["problems"][0]["data"]["renamed"] == {"country": "ship_country"}
    assert "renamed to ship_country" in json.dumps(drifted["pair_validity"]["problems"])

    fixed = vedder("health", "--fix", "--no-pr", "--project", str(root))
    assert fixed.exit_code in (0, 1), fixed.output
    pair = (root / "clusters/sales/pairs/orders-per-country.yaml").read_text()
    assert "ship_country AS country" in pair and "GROUP BY ship_country" in pair
    assert "name: ship_country" in (root / "clusters/sales/datasets/sales.orders.yaml").read_text()
    after = signals(json.loads(vedder("health", "--format", "json", "--project", str(root)).stdout))
    assert after["pair_validity"]["value"] == 1.0 and after["schema_drift"]["value"] == 1.0


def test_reproducibility_on_postgres_through_litellm(url, tmp_path):
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        root = sales_project(tmp_path / "project", url, extra=(
            f"model_options: {{api_base: '{server.url}', api_key: dummy, tool_calling: true, num_retries: 0}}\n"
            "health: {reproducibility_sample: 5}\n"))
        assert vedder("profile", "--project", str(root)).exit_code == 0
        (root / "vedder.yaml").write_text((root / "vedder.yaml").read_text().replace("model: offline", "model: openai/fake-model"))
        from vedder.config import load_config
        from vedder.health.reproducibility import sample_pairs
        from vedder.project import load_project

        answers = {"orders-per-country": "SELECT country AS c, count(*) FROM sales.orders GROUP BY 1",
                   "revenue-per-plan": "SELECT plan, sum(amount) FROM sales.orders WHERE plan <> 'free' GROUP BY plan"}
        for pair in sample_pairs(load_project(load_config(root)).cluster("sales").pairs, 5):
            server.enqueue_tool_call("run_sql", {"sql": answers[pair.id]})
            server.enqueue_text("Here it is.")
        result = vedder("health", "--format", "json", "--project", str(root))
    reproducibility = signals(json.loads(result.stdout))["reproducibility"]
    assert reproducibility["value"] == 0.5, result.output
    assert [p["subject"] for p in reproducibility["problems"]] == ["revenue-per-plan"]


# --- propose ------------------------------------------------------------------------------------------------


def test_propose_reads_history_from_a_postgres_table_through_the_guard(url, tmp_path):
    root = sales_project(tmp_path / "project", url)
    assert vedder("profile", "--project", str(root)).exit_code == 0
    history = 'SELECT query, "user", started_at, status FROM ops.query_history'
    result = vedder("propose", "sales", "--history-sql", history, "--no-pr", "--json", "--project", str(root))
    assert result.exit_code == 0, result.output
    funnel = json.loads(result.stdout)["funnel"]
    assert funnel["queries"] == len(HISTORY) and funnel["in_cluster"] == 5
    assert json.loads(result.stdout)["proposals"], result.stdout
    # The README's query over a table loaded from the server's csvlog reads the same history.
    from vedder.config import load_config
    from vedder.curation.history import read_history_sql
    from vedder.project import load_project

    project = load_project(load_config(root))
    runs = [[(e.query, e.user, e.started_at) for e in read_history_sql(project, sql, project.cluster("sales"))]
            for sql in (history, README_LOG_SQL)]
    assert sorted(runs[0]) == sorted(runs[1]) and len(runs[0]) == len(HISTORY)
    # The expert's history SQL still goes through the guard: one read-only query, no system catalog.
    for refused in ("SELECT query, usename AS \"user\", query_start AS started_at FROM pg_catalog.pg_stat_activity",
                    "DELETE FROM ops.query_history RETURNING query"):
        denied = vedder("propose", "sales", "--history-sql", refused, "--no-pr", "--project", str(root))
        assert denied.exit_code == 4, denied.output
    # Unquoted, `user` is PostgreSQL's current role: every run would be the analyst's and nothing proposed.
    unquoted = vedder("propose", "sales", "--history-sql", history.replace('"user"', "user"), "--no-pr", "--project", str(root))
    assert unquoted.exit_code == 2 and 'quote the column: SELECT query, "user"' in unquoted.output


# --- init to health, end to end -------------------------------------------------------------------------------


def test_init_to_health_on_postgres_through_the_cli(url, postgres_server, tmp_path, monkeypatch):
    with_password = url.replace("analyst@", f"analyst:{postgres_server.password}@")
    root = tmp_path / "analytics"
    init = vedder("init", str(root), "--warehouse", with_password)
    assert init.exit_code == 0, init.output
    assert "password" in init.output and "PGPASSWORD" in init.output
    config = (root / "vedder.yaml").read_text()
    assert postgres_server.password not in config and f"url: {url}" in config and "type: postgres" in config
    assert "dialect: postgres" in config
    monkeypatch.chdir(root)
    created = vedder("cluster", "new", "sales", "--tables", "sales.*", "--owner", "commerce")
    assert created.exit_code == 0, created.output
    assert sorted(p.name for p in (root / "clusters/sales/datasets").iterdir()) == ["sales.big_orders.yaml", "sales.orders.yaml"]
    assert vedder("profile").exit_code == 0
    write(root, {"clusters/sales/pairs/orders-per-country.yaml": (
        "question: How many orders came from SE?\n"
        "sql: |\n  SELECT country, COUNT(*)::integer AS orders FROM orders\n  WHERE country = 'SE' GROUP BY country\n"
        "verified_by: ana\nverified_at: '2026-11-20'\n")})
    (root / "clusters/sales/cluster.yaml").write_text((root / "clusters/sales/cluster.yaml").read_text() + "default_schema: sales\n")
    validated = vedder("validate")
    assert validated.exit_code == 0, validated.output
    exact = json.loads(vedder("ask", "How many orders came from SE?", "--json").stdout)
    assert exact["status"] == "answered" and exact["rows"] == [["SE", 48]], exact
    adapted = json.loads(vedder("ask", "How many orders came from GB?", "--json").stdout)
    assert adapted["status"] == "answered" and adapted["rows"] == [["GB", 48]], adapted
    report = json.loads(vedder("health", "--format", "json").stdout)
    assert signals(report)["pair_execution"]["value"] == 1.0 and signals(report)["schema_drift"]["value"] == 1.0


def test_init_refuses_a_url_it_cannot_read(tmp_path):
    result = vedder("init", str(tmp_path / "p"), "--warehouse", "postgresql://me:pw@db:port/x")
    assert result.exit_code == 2 and "invalid PostgreSQL URL" in result.output
    assert not (tmp_path / "p" / "vedder.yaml").exists()
