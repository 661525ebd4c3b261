"""The database's own functions on DuckDB: macros and table macros in the warehouse file may read any table, and a
macro named like a built-in (``lower``) replaces it. The demo warehouse gets bait: hr.salaries (in no cluster) and
macros that read it; every call of one through ``run_sql`` is refused, naming it, unless vedder.yaml allows it
(``query.allowed_functions``). PostgreSQL's functions in ``public`` are red-teamed in test_guard_postgres.py.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from demo_project import copy_demo
from vedder.cli import app
from vedder.config import load_config
from vedder.errors import ConfigError, SQLExecutionError, SQLRefused
from vedder.project.model import cache_folder, load_project
from vedder.sql.run import USER_FUNCTIONS_CACHE, guard_for_cluster, run_sql
from vedder.warehouse import open_warehouse

BAIT_SQL = """
CREATE SCHEMA hr;
CREATE TABLE hr.salaries AS SELECT 'Ada' AS name, 100000 AS salary;
CREATE MACRO payroll_total() AS (SELECT 'bait-macro ' || sum(salary) FROM hr.salaries);
CREATE MACRO all_salaries() AS TABLE SELECT * FROM hr.salaries;
CREATE MACRO lower(x) AS (SELECT 'bait-lower ' || sum(salary) FROM hr.salaries);
CREATE MACRO "AllPay"() AS (SELECT 'bait-quoted ' || sum(salary) FROM hr.salaries);
CREATE MACRO cents(x) AS CAST(x * 100 AS BIGINT);
CREATE MACRO hr.hidden() AS (SELECT 'bait-other-schema');
"""

REFUSED = [
    ("forbidden_function", "SELECT payroll_total()"),
    ("forbidden_function", "SELECT country, payroll_total() FROM users GROUP BY country"),
    ("forbidden_function", "SELECT (SELECT count(*) FROM events WHERE payroll_total() IS NOT NULL)"),
    ("forbidden_function", "SELECT PayRoll_Total()"),
    ("forbidden_function", 'SELECT "AllPay"()'),
    ("forbidden_function", "SELECT allpay()"),
    # The macro lower replaces the built-in for every call of that name.
    ("forbidden_function", "SELECT lower(country) FROM users"),
    ("forbidden_function", "SELECT count(*) FROM users WHERE lower(country) = 'se'"),
    # A table macro in FROM is a table function, refused as one; elsewhere as the database's own code.
    ("table_function", "SELECT * FROM all_salaries()"),
    ("table_function", "SELECT (SELECT count(*) FROM all_salaries())"),
    ("forbidden_function", "SELECT all_salaries()"),
    # Named with its schema: only pg_catalog and public are a function's allowed schemas.
    ("forbidden_function", "SELECT main.payroll_total()"),
    ("forbidden_function", "SELECT hr.hidden()"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo project with the bait in its warehouse file."""
    root = copy_demo(tmp_path_factory.mktemp("udf-demo"), scale=0.02)
    with duckdb.connect(str(root / ".vedder" / "warehouse.duckdb")) as connection:
        connection.execute(BAIT_SQL)
    return root


@pytest.fixture
def listening(demo):
    project = load_project(load_config(demo))
    with open_warehouse(project.config) as warehouse:
        yield project, warehouse


def run(listening, sql: str):
    project, warehouse = listening
    return run_sql(sql, project=project, warehouse=warehouse, cluster=project.clusters["listening"])


def names(own_code) -> set[str]:
    return {code.name for code in own_code}


def test_the_bait_is_reachable_without_the_guard(listening):
    _, warehouse = listening
    assert warehouse.execute("SELECT payroll_total()").rows == [("bait-macro 100000",)]
    assert warehouse.execute("SELECT lower('SE')").rows == [("bait-lower 100000",)]
    assert warehouse.execute('SELECT "AllPay"()').rows == [("bait-quoted 100000",)]
    assert warehouse.execute("SELECT * FROM all_salaries()").rows == [("Ada", 100000)]


@pytest.mark.parametrize("rule,sql", REFUSED, ids=[f"{i:02d}-{sql[:40]}" for i, (_, sql) in enumerate(REFUSED)])
def test_a_call_of_the_warehouse_s_own_function_is_refused(listening, rule, sql):
    with pytest.raises(SQLRefused) as refused:
        run(listening, sql)
    assert refused.value.rule == rule, refused.value.message
    assert refused.value.hint


def test_the_refusal_names_the_macro_and_how_to_allow_it(listening):
    with pytest.raises(SQLRefused) as refused:
        run(listening, "SELECT lower(country) FROM users")
    assert refused.value.message == ("SQL refused (forbidden_function): function lower() is the database's own code "
                                     "(the macro main.lower() of the warehouse file, in place of DuckDB's built-in lower()), "
                                     "which may read any table")
    assert "`query: {allowed_functions: [lower]}`" in refused.value.hint
    with pytest.raises(SQLRefused, match=r"the table macro main\.all_salaries\(\)"):
        run(listening, "SELECT all_salaries()")


def test_sql_that_calls_no_function_never_reads_the_catalog(listening):
    """duckdb_functions() costs 40-80 ms: asked only when the SQL calls a function, then once per warehouse."""
    _, warehouse = listening
    _, result = run(listening, "SELECT country FROM users WHERE country = 'SE' LIMIT 1")
    assert result.rows == [("SE",)] and warehouse._user_functions is None
    _, result = run(listening, "SELECT upper(country), count(*) FROM users WHERE country = 'SE' GROUP BY 1")
    assert result.rows[0][0] == "SE" and names(warehouse._user_functions) == {"payroll_total", "all_salaries", "lower", "allpay", "cents"}
    warehouse.connection.execute("CREATE TEMP MACRO added_later() AS 1")  # read once: later macros are not looked up
    assert "added_later" not in names(warehouse.user_functions())
    assert "cents" in names(warehouse.cursor().user_functions())


def test_the_macros_are_kept_on_disk_until_the_warehouse_file_changes(demo):
    """A later process reads the list from .vedder/user-functions.json while the file and its WAL are unchanged (the
    catalog takes 40-80 ms to read); a macro made in the file since is found."""
    cache = cache_folder(demo) / USER_FUNCTIONS_CACHE
    project = load_project(load_config(demo))
    with open_warehouse(project.config) as warehouse:
        run((project, warehouse), "SELECT count(*) FROM users")
    kept = json.loads(cache.read_text())
    assert {name for name, *_ in kept["functions"]} == {"payroll_total", "all_salaries", "lower", "allpay", "cents"}
    kept["functions"].append(["upper", "a macro this test wrote into the cache", "upper", "call"])
    cache.write_text(json.dumps(kept))
    with open_warehouse(project.config) as warehouse:
        with pytest.raises(SQLRefused, match="a macro this test wrote into the cache"):
            run((project, warehouse), "SELECT upper(country) FROM users")
    with duckdb.connect(str(demo / ".vedder" / "warehouse.duckdb")) as connection:
        connection.execute("CREATE MACRO added_later() AS (SELECT 'bait-later ' || sum(salary) FROM hr.salaries)")
    try:
        with open_warehouse(project.config) as warehouse:
            with pytest.raises(SQLRefused, match=r"added_later\(\)"):
                run((project, warehouse), "SELECT added_later()")
            assert run((project, warehouse), "SELECT upper('se') AS c")[1].rows == [("SE",)]
    finally:
        with duckdb.connect(str(demo / ".vedder" / "warehouse.duckdb")) as connection:
            connection.execute("DROP MACRO added_later")


def test_an_allowed_macro_runs_and_allows_no_other(demo, tmp_path):
    config = (demo / "vedder.yaml").read_text()
    assert "query:\n  row_limit: 1000\n" in config
    (demo / "vedder.yaml").write_text(config.replace("query:\n", "query:\n  allowed_functions: [CENTS]\n"))
    try:
        project = load_project(load_config(demo))
        with open_warehouse(project.config) as warehouse:
            listening = (project, warehouse)
            _, result = run(listening, "SELECT cents(1.5) AS c")
            assert result.rows == [(150,)]
            with pytest.raises(SQLRefused, match=r"payroll_total\(\)"):
                run(listening, "SELECT cents(1), payroll_total()")
    finally:
        (demo / "vedder.yaml").write_text(config)


@pytest.mark.parametrize("setting", ["similarity", "[public.similarity]", "[similarity()]", "[1]", "{a: b}"])
def test_allowed_functions_must_be_a_list_of_plain_names(tmp_path, setting):
    (tmp_path / "vedder.yaml").write_text(f"warehouse: w.duckdb\nquery: {{allowed_functions: {setting}}}\n")
    with pytest.raises(ConfigError, match="query.allowed_functions .* must be a list of function names") as error:
        load_config(tmp_path)
    assert "allowed_functions: [similarity, levenshtein]" in error.value.hint


def test_query_refuses_a_macro_in_one_line_and_exits_4(demo):
    result = CliRunner().invoke(app, ["query", "SELECT payroll_total() AS p", "--cluster", "listening", "--project", str(demo)])
    assert result.exit_code == 4
    assert "function payroll_total() is the database's own code" in result.output and "Traceback" not in result.output
    assert "bait-" not in result.output


def test_health_and_profile_run_beside_the_macros(demo):
    """vedder's own SQL (profiling, health's checks) is not the model's: the macros do not stop it."""
    runner = CliRunner()
    health = runner.invoke(app, ["health", "listening", "--format", "json", "--project", str(demo)])
    assert health.exit_code in (0, 1), health.output
    report = json.loads(health.stdout)
    assert "forbidden_function" not in health.stdout and report
    profiled = runner.invoke(app, ["profile", "revenue", "--project", str(demo)])
    assert profiled.exit_code == 0, profiled.output


# Macros that need no call to run: named like an operator (DuckDB runs "+" for a + b, "~~" for LIKE, "||", "->>"), or
# like a built-in DuckDB calls for other syntax (EXTRACT → date_part, count(*) → count_star, current_date).
HIJACK_SQL = """
CREATE SCHEMA hr;
CREATE TABLE hr.salaries AS SELECT 'Ada' AS name, 100000 AS salary;
CREATE MACRO "+"(a, b) AS (SELECT concat('bait-plus ', sum(salary)) FROM hr.salaries);
CREATE MACRO "~~"(a, b) AS (SELECT concat('bait-like ', sum(salary)) FROM hr.salaries);
CREATE MACRO "||"(a, b) AS (SELECT concat('bait-concat ', sum(salary)) FROM hr.salaries);
CREATE MACRO "->>"(a, b) AS (SELECT concat('bait-arrow ', sum(salary)) FROM hr.salaries);
CREATE MACRO date_part(a, b) AS (SELECT concat('bait-extract ', sum(salary)) FROM hr.salaries);
CREATE MACRO count_star() AS (SELECT concat('bait-count ', sum(salary)) FROM hr.salaries);
CREATE MACRO current_date() AS (SELECT concat('bait-date ', sum(salary)) FROM hr.salaries);
"""
HIJACKED = [
    ("+", "SELECT 1 + 2 AS three"),
    ("+", "SELECT user_id + 1 FROM users LIMIT 1"),
    ("~~", "SELECT country FROM users WHERE country LIKE 'S%'"),
    ("~~", "SELECT country LIKE 'S%' AS s FROM users LIMIT 1"),
    ("||", "SELECT country || 'x' FROM users LIMIT 1"),
    ("->>", "SELECT '{\"a\": 1}'::JSON ->> 'a' AS a"),
    ("date_part", "SELECT EXTRACT(year FROM signup_date) FROM users LIMIT 1"),
    ("count_star", "SELECT count(*) FROM users"),
    ("current_date", "SELECT current_date AS d"),
    ("current_date", "SELECT country, max(CURRENT_DATE) FROM users GROUP BY country"),
]


@pytest.fixture(scope="module")
def hijacked(tmp_path_factory):
    """The demo project whose warehouse file has macros named like operators and like built-ins DuckDB calls for syntax."""
    root = copy_demo(tmp_path_factory.mktemp("hijack-demo"), scale=0.02)
    with duckdb.connect(str(root / ".vedder" / "warehouse.duckdb")) as connection:
        connection.execute(HIJACK_SQL)
    project = load_project(load_config(root))
    with open_warehouse(project.config) as warehouse:
        yield project, warehouse


def test_operator_and_syntax_bait_is_reachable_without_the_guard(hijacked):
    """The SQL the guard lets through (tables qualified), run without the check of the database's own code, leaks."""
    project, warehouse = hijacked
    for name, sql in HIJACKED:
        try:
            shown = repr(warehouse.execute(guard_for_cluster(sql, project.clusters["listening"]).sql).rows)
        except SQLExecutionError as failed:  # WHERE country LIKE …: "Could not convert string 'bait-like 100000' to BOOL"
            shown = failed.message
        assert "bait-" in shown, (sql, shown)
    assert warehouse.execute("SELECT current_date AS d").rows == [("bait-date 100000",)]


@pytest.mark.parametrize("name,sql", HIJACKED, ids=[f"{i:02d}-{sql[:40]}" for i, (_, sql) in enumerate(HIJACKED)])
def test_a_macro_run_for_an_operator_or_syntax_is_refused_naming_it(hijacked, name, sql):
    with pytest.raises(SQLRefused) as refused:
        run(hijacked, sql)
    assert refused.value.rule == "forbidden_function", refused.value.message
    assert refused.value.message.startswith(f"SQL refused (forbidden_function): {'operator ' + name if not name[0].isalpha() else 'function ' + name + '()'} "
                                            "is the database's own code"), refused.value.message
    assert "bait-" not in refused.value.message and "allowed_functions: [" in refused.value.hint


def test_the_operator_refusal_says_what_runs_and_how_to_allow_it(hijacked):
    with pytest.raises(SQLRefused) as refused:
        run(hijacked, "SELECT country FROM users WHERE country LIKE 'S%'")
    assert refused.value.message == ("SQL refused (forbidden_function): operator ~~ is the database's own code (the macro "
                                     'main."~~" of the warehouse file, which DuckDB runs for the operator ~~), which may read any table')
    assert "`query: {allowed_functions: ['~~']}`" in refused.value.hint


def test_sql_that_reaches_none_of_the_macros_still_runs(hijacked):
    """Per query: DuckDB's own parser says which functions the SQL runs; comparisons, IN and BETWEEN are no calls."""
    for sql, rows in [
        ("SELECT country FROM users WHERE country = 'SE' LIMIT 1", [("SE",)]),
        ("SELECT upper(country), min(user_id) > 0 FROM users WHERE country IN ('SE') AND user_id BETWEEN 0 AND 10000000 GROUP BY 1", [("SE", True)]),
        ("SELECT count(user_id) > 0 FROM users WHERE signup_date < DATE '2100-01-01'", [(True,)]),
    ]:
        assert run(hijacked, sql)[1].rows == rows


def test_pivot_is_refused_while_a_built_in_is_replaced(hijacked):
    """DuckDB's binder makes calls of its own for PIVOT and UNPIVOT, which its parser does not show: with a macro named
    like a built-in in the warehouse file, vedder cannot tell what they run."""
    with pytest.raises(SQLRefused, match=r"may run it for syntax that does not name it \(PIVOT, UNPIVOT\)"):
        run(hijacked, "SELECT * FROM (SELECT country, user_id FROM users) PIVOT (min(user_id) FOR country IN ('SE'))")


def test_an_allowed_operator_macro_runs(hijacked, tmp_path):
    project, warehouse = hijacked
    config = (project.config.root / "vedder.yaml").read_text()
    (project.config.root / "vedder.yaml").write_text(config.replace("query:\n", "query:\n  allowed_functions: ['+']\n"))
    try:
        allowing = load_project(load_config(project.config.root))
        assert run((allowing, warehouse), "SELECT 1 + 2 AS three")[1].rows == [("bait-plus 100000",)]
        with pytest.raises(SQLRefused, match=r"operator \|\|"):
            run((allowing, warehouse), "SELECT 1 + 2, 'a' || 'b'")
    finally:
        (project.config.root / "vedder.yaml").write_text(config)
