"""The PostgreSQL warehouse against a real server (tests/postgres_server.py): the adapter, its errors, the
guard's attack corpus run on the server, and every command that reads the warehouse."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postgres_server import postgres_server  # noqa: F401  (the session fixture)
from vedder.cli import app
from vedder.config import Config, load_config
from vedder.errors import QueryTimeout, SQLExecutionError, TableNotFound, WarehouseError
from vedder.warehouse import open_warehouse
from vedder.warehouse.postgres import PostgresWarehouse, redact_url


@pytest.fixture
def password(postgres_server, monkeypatch) -> str:
    monkeypatch.setenv("VEDDER_TEST_PG_PASSWORD", postgres_server.password)
    return postgres_server.password


@pytest.fixture
def warehouse(postgres_server, password):
    with PostgresWarehouse(postgres_server.url, password_env="VEDDER_TEST_PG_PASSWORD") as opened:
        yield opened


@pytest.fixture
def project(postgres_server, password, tmp_path) -> Path:
    return postgres_server.project(tmp_path)


def vedder(project: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--project", str(project)])


def vedder_activity(postgres_server) -> list[tuple]:
    return postgres_server.admin("SELECT pid, state, query FROM pg_stat_activity WHERE application_name = 'vedder' AND state <> 'idle'")


# --- the adapter -------------------------------------------------------------------------------------------


def test_tables_are_user_schemas_with_views_lower_case(warehouse):
    assert warehouse.tables() == ["hr.salaries", "ref.countries", "shop.big_orders", "shop.customers", "shop.orders"]
    assert warehouse.columns("SHOP.Orders") == [("order_id", "INTEGER"), ("customer_id", "INTEGER"), ("country", "CHARACTER VARYING(2)"),
                                                ("amount", "NUMERIC(10,2)"), ("ordered_on", "DATE")]
    with pytest.raises(TableNotFound):
        warehouse.columns("pg_catalog.pg_authid")


def test_execute_caps_rows_and_types_values(warehouse):
    result = warehouse.execute("SELECT order_id, amount, ordered_on FROM shop.orders ORDER BY order_id", limit=4)
    assert result.truncated and len(result.rows) == 4
    assert result.columns == ["order_id", "amount", "ordered_on"]
    assert result.types == ["INTEGER", "NUMERIC", "DATE"]
    assert str(result.rows[1][1]) == "7.50" and result.rows[1][2].isoformat() == "2026-10-03"
    whole = warehouse.execute("SELECT count(*) FROM shop.orders", limit=4)
    assert not whole.truncated and whole.rows == [(6,)]


def test_timeout_is_enforced_by_the_server_and_the_query_is_gone(warehouse, postgres_server):
    with pytest.raises(QueryTimeout) as timed_out:
        warehouse.execute("SELECT pg_sleep(30)", timeout_s=0.3)
    assert "statement_timeout" in timed_out.value.message
    assert vedder_activity(postgres_server) == []
    assert warehouse.execute("SELECT 1").rows == [(1,)]  # the session is usable after a cancelled query


def test_sessions_are_read_only_even_for_sql_that_passed_no_guard(warehouse, postgres_server):
    with pytest.raises(SQLExecutionError, match="read-write mode must be set before any query"):
        warehouse.execute("SELECT set_config('transaction_read_only', 'off', true)")
    # Turning the session default off does not help: every query runs in a transaction begun READ ONLY.
    warehouse.execute("SELECT set_config('default_transaction_read_only', 'off', false)")
    with pytest.raises(SQLExecutionError, match="read-only transaction"):
        warehouse.execute("SELECT nextval('shop.order_ids')")
    with pytest.raises(SQLExecutionError, match="data-modifying"):
        warehouse.execute("WITH gone AS (DELETE FROM shop.orders RETURNING 1) SELECT count(*) FROM gone")
    assert postgres_server.admin("SELECT count(*) FROM shop.orders", database="warehouse") == [(6,)]
    assert warehouse.execute("SELECT current_setting('transaction_read_only')").rows == [("on",)]


def test_cursor_runs_in_another_thread_at_the_same_time(warehouse):
    other = warehouse.cursor()
    results: list = []
    thread = threading.Thread(target=lambda: results.append(other.execute("SELECT pg_sleep(0.3), 2 AS two").rows))
    thread.start()
    assert warehouse.execute("SELECT 1").rows == [(1,)]
    thread.join()
    other.close()
    assert results == [[("", 2)]]
    assert other.tables() == warehouse.tables()


# --- configuration and connection errors ------------------------------------------------------------------


def config(root: Path, warehouse: dict, env: dict | None = None, **data) -> Config:
    return Config.from_dict(root, {"warehouse": warehouse, **data}, env or {})


def test_config_defaults_the_dialect_and_env_overrides(tmp_path):
    url = "postgresql://me@db:5432/analytics"
    assert config(tmp_path, {"type": "postgres", "url": url}).dialect == "postgres"
    assert config(tmp_path, {"type": "postgres", "url": url}, dialect="redshift").dialect == "redshift"
    overridden = config(tmp_path, {"type": "duckdb", "path": "w.duckdb"}, {"VEDDER_WAREHOUSE": url})
    assert (overridden.warehouse_type, overridden.warehouse_url, overridden.dialect) == ("postgres", url, "postgres")
    back = config(tmp_path, {"type": "postgres", "url": url}, {"VEDDER_WAREHOUSE": "other.duckdb"})
    assert (back.warehouse_type, back.warehouse_path) == ("duckdb", tmp_path / "other.duckdb")


def test_redact_url_hides_passwords():
    assert redact_url("postgresql://me:p%40ss@h:5432/db") == "postgresql://me:***@h:5432/db"
    assert redact_url("postgresql://me@h/db?password=pw&sslmode=require") == "postgresql://me@h/db?password=***&sslmode=require"
    assert redact_url("postgresql://h/db") == "postgresql://h/db"


@pytest.mark.parametrize("change,expected,hint", [
    (lambda url: url.replace("analyst@", "analyst:wrong-pw@"), "refused the login: password authentication failed", "PGPASSWORD"),
    (lambda url: url.replace("/warehouse", "/nowhere"), 'database "nowhere" does not exist', "database name"),
    (lambda url: url.replace("analyst@", "nobody:x@"), "password authentication failed", "PGPASSWORD"),
])
def test_connection_errors_are_one_line_with_a_hint(postgres_server, monkeypatch, change, expected, hint):
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = change(postgres_server.url)
    with pytest.raises(WarehouseError) as failed:
        PostgresWarehouse(url)
    assert expected in failed.value.message and hint in failed.value.hint
    assert "wrong-pw" not in failed.value.message and "\n" not in failed.value.message


def test_unreachable_and_silent_servers_fail_fast(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(WarehouseError, match="cannot reach PostgreSQL") as refused:
        PostgresWarehouse(f"postgresql://me:topsecret@127.0.0.1:{port}/db")
    assert "topsecret" not in refused.value.message and "***" in refused.value.message
    with socket.socket() as silent:  # accepts TCP connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        with pytest.raises(WarehouseError, match="did not answer in time"):
            PostgresWarehouse(f"postgresql://me@127.0.0.1:{silent.getsockname()[1]}/db", connect_timeout_s=2)
        assert time.monotonic() - started < 20  # not a timing assertion on speed: proof that it does not hang


def test_missing_password_env_and_url_are_config_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    with pytest.raises(WarehouseError, match="NO_SUCH_PASSWORD"):
        open_warehouse(config(tmp_path, {"type": "postgres", "url": "postgresql://me@h/db", "password_env": "NO_SUCH_PASSWORD"}))
    with pytest.raises(WarehouseError, match="no PostgreSQL warehouse url"):
        open_warehouse(config(tmp_path, {"type": "postgres"}))
    with pytest.raises(WarehouseError, match="'oracle' is not supported"):
        open_warehouse(config(tmp_path, {"type": "oracle", "path": "x"}))


# --- the guard against a real server ----------------------------------------------------------------------

ATTACKS = [tuple(line.split("\t", 1)) for line in (Path(__file__).parent / "fixtures/guard/postgres_refused.txt").read_text().splitlines()
           if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def shop(postgres_server, tmp_path_factory):
    """The project and an open warehouse, once for the corpus."""
    from vedder.project import load_project

    root = postgres_server.project(tmp_path_factory.mktemp("attacks"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VEDDER_TEST_PG_PASSWORD", postgres_server.password)
        project = load_project(load_config(root))
        with open_warehouse(project.config) as opened:
            yield project, opened


def server_state(postgres_server) -> dict:
    """What an attack that got through would change: rows, tables, the sequence, large objects, advisory
    locks, the role's settings, a file written by COPY or lo_export."""
    def one(sql: str):
        return postgres_server.admin(sql, database="warehouse")
    return {
        "orders": one("SELECT count(*), sum(amount) FROM shop.orders"),
        "tables": one("SELECT count(*) FROM pg_class WHERE relnamespace IN ('shop'::regnamespace, 'hr'::regnamespace)"),
        "sequence": one("SELECT last_value, is_called FROM shop.order_ids"),
        "large_objects": one("SELECT count(*) FROM pg_largeobject_metadata"),
        "advisory_locks": one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
        "role_settings": one("SELECT count(*) FROM pg_db_role_setting"),
        "file": Path("/tmp/vedder-attack").exists(),
    }


@pytest.mark.parametrize("rule,sql", ATTACKS, ids=[f"{i:02d}-{sql[:40]}" for i, (_, sql) in enumerate(ATTACKS)])
def test_attack_is_refused_with_its_rule_and_never_reaches_the_server(shop, postgres_server, rule, sql):
    from vedder.errors import SQLRefused
    from vedder.sql.run import run_sql

    project, warehouse = shop
    before = server_state(postgres_server)
    with pytest.raises(SQLRefused) as refused:
        run_sql(sql, project=project, warehouse=warehouse, cluster=project.clusters["shop"])
    assert refused.value.rule == rule, refused.value.message
    assert server_state(postgres_server) == before
    assert vedder_activity(postgres_server) == []


def test_the_corpus_is_not_harmless_without_the_guard(warehouse):
    """The trusted path runs what the guard refuses: the guard is what keeps hr.salaries out of reach."""
    leaked = warehouse.execute("SELECT query_to_xml('SELECT * FROM hr.salaries', true, false, '')").rows[0][0]
    assert "100000" in leaked
    assert warehouse.execute("SELECT count(*) FROM pg_catalog.pg_class").rows[0][0] > 100
    assert warehouse.execute("SELECT pg_try_advisory_xact_lock(1)").rows == [(True,)]


def test_allowed_postgres_sql_runs_through_the_guard(shop):
    from vedder.sql.run import run_sql

    project, warehouse = shop
    guarded, result = run_sql("SELECT o.country, sum(o.amount)::numeric(10,2) AS revenue, max(ordered_on) AS last, "
                              "string_agg(DISTINCT c.name, ', ') AS names, date_trunc('month', max(ordered_on))::date AS month "
                              "FROM orders AS o JOIN ref.countries AS c ON c.code = o.country "
                              "WHERE o.ordered_on >= DATE '2026-10-01' AND o.country ILIKE '%s%' GROUP BY 1 ORDER BY 1",
                              project=project, warehouse=warehouse, cluster=project.clusters["shop"])
    assert guarded.tables == ["shop.orders", "ref.countries"]
    assert [(r[0], str(r[1])) for r in result.rows] == [("SE", "15.25"), ("US", "13.50")]


# --- every command that reads the warehouse ---------------------------------------------------------------


def test_query_json_renders_decimals_and_dates(project):
    result = vedder(project, "query", "SELECT country, sum(amount) AS revenue, max(ordered_on) AS last FROM shop.orders "
                                      "GROUP BY country ORDER BY country", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    # Exact decimals stay exact (as strings, like DuckDB's DECIMAL); dates are ISO.
    assert document["rows"] == [["GB", "9.00", "2026-11-05"], ["SE", "15.25", "2026-11-09"], ["US", "13.50", "2026-11-02"]]
    table = vedder(project, "query", "SELECT name FROM countries ORDER BY code", "--cluster", "shop")
    assert table.exit_code == 4 and "table shop.countries is not part of this cluster" in table.output
    text = vedder(project, "query", "SELECT code, name FROM ref.countries ORDER BY code")
    assert text.exit_code == 0 and "United Kingdom" in text.output


def test_query_refusals_and_timeouts_exit_4(project, postgres_server):
    refused = vedder(project, "query", "SELECT query_to_xml('SELECT * FROM hr.salaries', true, false, '')", "--cluster", "shop", "--json")
    assert refused.exit_code == 4 and "SQL refused (forbidden_function)" in json.loads(refused.stdout)["error"]
    outside = vedder(project, "query", "SELECT * FROM hr.salaries")
    assert outside.exit_code == 4 and "no cluster covers hr.salaries" in outside.output
    (project / "vedder.yaml").write_text((project / "vedder.yaml").read_text() + "query: {timeout_s: 0.2}\n")
    slow = vedder(project, "query", "SELECT count(*) FROM shop.orders AS a, shop.orders AS b, generate_series(1, 20000000) AS g", "--cluster", "shop")
    assert slow.exit_code == 4 and "cancelled by the server" in slow.output
    assert vedder_activity(postgres_server) == []


def test_offline_ask_answers_from_a_postgres_pair_and_adapts_a_literal(project):
    exact = vedder(project, "ask", "What was the revenue per country in November 2026?", "--json")
    assert exact.exit_code == 0, exact.output
    answer = json.loads(exact.stdout)
    assert answer["status"] == "answered" and answer["cluster"] == "shop"
    assert [row[0] for row in answer["rows"]] == ["Sweden", "United Kingdom", "United States"]
    adapted = json.loads(vedder(project, "ask", "How many orders came from Sweden?", "--json").stdout)
    assert adapted["status"] == "answered" and "'US' → 'SE'" in adapted["answer"]
    assert adapted["rows"] == [[2, "2026-11-09"]]
    assert "country = 'SE'" in adapted["sql"]


def test_context_clusters_and_eval_on_postgres(project, tmp_path):
    context = json.loads(vedder(project, "context", "revenue per country", "--json").stdout)
    assert context["clusters"][0]["id"] == "shop" and context["tables"][0]["table"] == "shop.orders"
    clusters = vedder(project, "clusters")
    assert clusters.exit_code == 0 and "commerce-analytics" in clusters.output
    items = tmp_path / "eval.jsonl"
    items.write_text(json.dumps({"question": "How many orders came from Sweden?",
                                 "sql": "SELECT count(*)::integer, max(ordered_on) FROM shop.orders WHERE country = 'SE'"}) + "\n" +
                     json.dumps({"question": "What was the revenue per country in November 2026?", "cluster": "shop",
                                 "sql": "SELECT c.name, sum(o.amount) FROM shop.orders o JOIN ref.countries c ON c.code = o.country "
                                        "WHERE o.ordered_on BETWEEN '2026-11-01' AND '2026-11-30' GROUP BY 1"}) + "\n")
    result = vedder(project, "eval", str(items), "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["correct"] for line in lines[:2]] == [True, True]
    assert lines[2]["summary"]["execution_accuracy"] == 1.0


def test_validate_parses_pairs_as_postgres(project):
    (project / "clusters/shop/pairs/casts.yaml").write_text(
        "question: Which orders were over 5 euros?\nsql: SELECT order_id, amount::text FROM orders WHERE amount > 5::numeric\n"
        "verified_by: ada\nverified_at: '2026-11-20'\n")
    result = vedder(project, "validate")
    assert result.exit_code == 0, result.output


def test_agent_end_to_end_through_litellm_on_postgres(project):
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        (project / "vedder.yaml").write_text((project / "vedder.yaml").read_text().replace("model: offline", "model: openai/fake-model")
                                             + f"model_options: {{api_base: '{server.url}', api_key: dummy, tool_calling: true, num_retries: 0}}\n")
        server.enqueue_tool_call("describe_table", {"table": "orders"})
        server.enqueue_tool_call("column_values", {"table": "shop.orders", "column": "country", "contains": "s"})
        server.enqueue_tool_call("run_sql", {"sql": "SELECT country, SUM(amount) FROM orders WHERE ordered_on >= '2026-11-01' GROUP BY cntry"})
        server.enqueue_tool_call("run_sql", {"sql": "SELECT country, SUM(amount) AS revenue FROM orders "
                                                    "WHERE ordered_on >= DATE '2026-11-01' GROUP BY country ORDER BY revenue DESC"})
        server.enqueue_text("Sweden had the most revenue in November (12.25 EUR).")
        result = vedder(project, "ask", "Which country had the most revenue since November?", "--json")
        observations = [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]
        system = server.requests[0]["messages"][0]["content"]
    assert result.exit_code == 0, result.output
    assert "read-only PostgreSQL query" in system  # the model is told which SQL to write
    answer = json.loads(result.stdout)
    assert answer["status"] == "answered" and answer["rows"][0][0] == "SE"
    assert "ordered_on" in observations[0] and "DATE" in observations[0]
    assert "US" in observations[1] and "SE" in observations[1]
    assert "cntry" in observations[2]  # the SQL error went back to the model
    assert [s["tool"] for s in answer["steps"]] == ["describe_table", "column_values", "run_sql", "run_sql"]


def test_mcp_query_tool_on_postgres(project, tmp_path):
    import os
    import sys

    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {name: os.environ[name] for name in ("VEDDER_HOME", "VEDDER_LOG", "LITELLM_LOCAL_MODEL_COST_MAP", "VEDDER_TEST_PG_PASSWORD")}
    params = StdioServerParameters(command=str(Path(sys.executable).with_name("vedder")), args=["mcp", "--project", str(project)], env=env)

    async def scenario():
        # A real file for the server's stderr: stdio_client's default is whatever sys.stderr was when mcp was
        # imported, which under pytest may be a capture stream without a file descriptor.
        with (tmp_path / "mcp-stderr.txt").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool("query", {"sql": "SELECT country, amount, ordered_on FROM orders ORDER BY order_id LIMIT 2",
                                                         "cluster": "shop"})

    result = anyio.run(scenario)
    assert not result.is_error, result.content
    rows = (result.structured_content or json.loads(result.content[0].text))["rows"]
    assert [row[0] for row in rows] == ["US", "US"] and rows[0][2] == "2026-10-01"


# --- errors users can cause, on the command line -----------------------------------------------------------


def test_a_password_in_the_url_is_never_shown(postgres_server, tmp_path, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    root = postgres_server.project(tmp_path)
    secret = "Very-Secret-9"
    yaml = (root / "vedder.yaml").read_text().replace("analyst@", f"analyst:{secret}@").replace(", password_env: VEDDER_TEST_PG_PASSWORD", "")
    (root / "vedder.yaml").write_text(yaml)
    outputs = []
    for args in (("query", "SELECT 1", "--cluster", "shop"), ("query", "SELECT 1", "--cluster", "shop", "--json"),
                 ("ask", "How many orders came from the US?"), ("ask", "How many orders came from the US?", "--json"),
                 ("log", "--json"), ("log",), ("--debug", "query", "SELECT 1", "--cluster", "shop")):
        result = CliRunner().invoke(app, [*args, "--project", str(root)]) if args[0] != "--debug" else \
            CliRunner().invoke(app, ["--debug", *args[1:], "--project", str(root)])
        outputs.append(result.output + (result.stdout if result.stdout else ""))
        if args[0] == "query" and "--json" not in args:
            assert result.exit_code == 3, result.output
            assert "password authentication failed" in result.output and "Traceback" not in result.output
            assert result.output.count("\n") == 2  # error: … and hint: …
    assert "analyst:***@127.0.0.1" in outputs[0]
    assert all(secret not in output for output in outputs)
    log = Path(__import__("os").environ["VEDDER_LOG"])
    assert log.is_file() and secret.encode() not in log.read_bytes()


def test_missing_driver_is_a_warehouse_error_with_the_pip_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "psycopg", None)
    with pytest.raises(WarehouseError) as missing:
        open_warehouse(config(tmp_path, {"type": "postgres", "url": "postgresql://me@127.0.0.1/db"}))
    assert "psycopg" in missing.value.message and "vedder[postgres]" in missing.value.hint


def test_duckdb_commands_never_import_psycopg(tmp_path):
    import subprocess
    import sys

    import duckdb

    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    connection.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT 1 AS id")
    connection.close()
    (tmp_path / "vedder.yaml").write_text("warehouse: {type: duckdb, path: w.duckdb}\n")
    (tmp_path / "clusters/shop").mkdir(parents=True)
    (tmp_path / "clusters/shop/cluster.yaml").write_text("id: shop\ntitle: Shop\ndescription: Orders.\nowners: {team: t}\n"
                                                         "datasets: [shop.orders]\ndefault_schema: shop\n")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "vedder", "query", "SELECT count(*) AS n FROM shop.orders",
                             "--project", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "duckdb" in imported and "psycopg" not in imported


@pytest.mark.parametrize("url", ["postgresql://me:Pw-Secret@[::1/db", "postgresql://me:Pw-Secret@127.0.0.1:notaport/db",
                                 "postgresql://me:Pw-Secret@127.0.0.1:5/db?foo=bar", "postgresql://me@127.0.0.1:5/db?password=Pw-Secret&foo=1"])
def test_malformed_urls_are_warehouse_errors_that_hide_the_password(tmp_path, url):
    (tmp_path / "vedder.yaml").write_text("warehouse: {type: duckdb, path: w.duckdb}\n")
    for args in (("query", "SELECT 1"), ("query", "SELECT 1", "--json")):
        result = CliRunner().invoke(app, [*args, "--project", str(tmp_path)], env={"VEDDER_WAREHOUSE": url})
        assert result.exit_code == 3, result.output
        assert "PostgreSQL at postgresql://me" in result.output and "Pw-Secret" not in result.output
        assert "warehouse.url" in result.output


def test_a_table_named_with_capitals_is_named_by_a_lower_case_view(postgres_server, project):
    """billing."Refunds" is another table than billing.refunds: `cluster new 'billing.*'` says how to name it
    (a view), instead of failing on 'relation billing.refunds does not exist'; the view then profiles."""
    postgres_server.admin('CREATE SCHEMA caps AUTHORIZATION analyst; SET ROLE analyst; '
                          'CREATE TABLE caps."Refunds" (id integer, amount numeric(6,2)); INSERT INTO caps."Refunds" VALUES (1, 2.50); RESET ROLE',
                          database="warehouse")
    try:
        refused = vedder(project, "cluster", "new", "caps", "--tables", "caps.*", "--owner", "billing")
        assert refused.exit_code == 2 and "Traceback" not in refused.output
        assert "cannot name caps.Refunds" in refused.output and 'CREATE VIEW caps.refunds AS SELECT * FROM "caps"."Refunds"' in refused.output
        assert not (project / "clusters" / "caps").exists()
        postgres_server.admin('SET ROLE analyst; CREATE VIEW caps.refunds AS SELECT * FROM caps."Refunds"; RESET ROLE', database="warehouse")
        made = vedder(project, "cluster", "new", "caps", "--tables", "caps.refunds", "--owner", "billing", "--json")
        assert made.exit_code == 0, made.output
        assert (project / "clusters" / "caps" / "datasets" / "caps.refunds.yaml").read_text().count("row_count: 1") == 1
    finally:
        postgres_server.admin('DROP SCHEMA caps CASCADE', database="warehouse")


def test_a_password_in_the_url_wins_over_password_env(postgres_server, monkeypatch):
    """VEDDER_WAREHOUSE with a password (one run against another login) is not overridden by password_env."""
    wrong = postgres_server.url.replace("postgresql://analyst@", "postgresql://analyst:wrong-pw@")
    assert "wrong-pw" in wrong
    monkeypatch.setenv("VEDDER_TEST_PG_PASSWORD", postgres_server.password)
    with pytest.raises(WarehouseError) as refused:
        PostgresWarehouse(wrong, password_env="VEDDER_TEST_PG_PASSWORD")
    assert "refused the login" in refused.value.message and "wrong-pw" not in refused.value.message
    right = postgres_server.url.replace("postgresql://analyst@", f"postgresql://analyst:{postgres_server.password}@")
    monkeypatch.delenv("VEDDER_TEST_PG_PASSWORD")
    with PostgresWarehouse(right, password_env="VEDDER_TEST_PG_PASSWORD") as opened:  # the variable is not needed
        assert opened.execute("SELECT 1").rows == [(1,)]


def test_an_enum_column_is_profiled_like_text_with_its_labels(postgres_server, project):
    """An enum (CREATE TYPE … AS ENUM) is the label column the offline answerer needs: its type shows the labels
    and the profile has its distinct count and common values (it had neither: an unknown type was opaque)."""
    postgres_server.admin("CREATE SCHEMA crm AUTHORIZATION analyst; SET ROLE analyst; "
                          "CREATE TYPE crm.segment AS ENUM ('smb', 'mid', 'enterprise'); "
                          "CREATE TABLE crm.accounts (id integer, segment crm.segment); "
                          "INSERT INTO crm.accounts SELECT i, (ARRAY['smb', 'smb', 'mid', 'enterprise'])[1 + i % 4]::crm.segment "
                          "FROM generate_series(1, 40) AS i; RESET ROLE", database="warehouse")
    try:
        made = vedder(project, "cluster", "new", "crm", "--tables", "crm.*", "--owner", "sales-ops")
        assert made.exit_code == 0, made.output
        import yaml

        dataset = yaml.safe_load((project / "clusters" / "crm" / "datasets" / "crm.accounts.yaml").read_text())
        segment = next(c for c in dataset["columns"] if c["name"] == "segment")
        assert segment["type"] == "ENUM('smb', 'mid', 'enterprise')"
        assert segment["distinct_count"] == 3 and segment["common_values"][0] == {"value": "smb", "frequency": 0.5}
        answered = vedder(project, "query", "SELECT count(*) AS n FROM crm.accounts WHERE segment = 'mid'", "--cluster", "crm", "--json")
        assert answered.exit_code == 0 and json.loads(answered.stdout)["rows"] == [[10]]
    finally:
        postgres_server.admin("DROP SCHEMA crm CASCADE", database="warehouse")


def test_role_settings_the_readme_suggests_bound_what_a_query_may_spill(postgres_server):
    """README (PostgreSQL): ALTER ROLE … SET temp_file_limit / work_mem hold for vedder's sessions, and the role
    cannot lift temp_file_limit itself (a superuser-only setting)."""
    postgres_server.admin("CREATE ROLE vedder_limited LOGIN PASSWORD 'limited-pw'; "
                          "ALTER ROLE vedder_limited SET temp_file_limit = '1MB'; ALTER ROLE vedder_limited SET work_mem = '64kB'")
    try:
        with PostgresWarehouse(f"postgresql://vedder_limited:limited-pw@127.0.0.1:{postgres_server.port}/warehouse") as limited:
            assert limited.execute("SELECT current_setting('work_mem'), current_setting('temp_file_limit')").rows == [("64kB", "1MB")]
            with pytest.raises(SQLExecutionError, match="temporary file size exceeds temp_file_limit"):
                limited.execute("SELECT count(DISTINCT md5(i::text)) FROM generate_series(1, 300000) AS i")
            with pytest.raises(SQLExecutionError, match="permission denied to set parameter"):
                limited.execute("SELECT set_config('temp_file_limit', '-1', true)")
            assert limited.execute("SELECT count(*) FROM generate_series(1, 1000)").rows == [(1000,)]
    finally:
        postgres_server.admin("DROP ROLE vedder_limited")
