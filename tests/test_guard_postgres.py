"""The guard red-teamed on a real PostgreSQL server (tests/postgres_server.py), with bait laid where an attacker
who writes the model's SQL would look: a table in ``public`` (on the default search path), functions that read
hr.salaries in the role's own schema (``"$user"``, first on the default search path), in ``hr`` and in ``public``
(called unqualified: a set-returning one, a SECURITY DEFINER one, one with a quoted capital name, ``lower(integer)``
beside the built-in ``lower(text)``), the extensions pg_trgm (harmless) and tablefunc (crosstab() runs SQL from a
string), a schema ``"Shop"`` that differs from the cluster's ``shop`` only by case, and a comment on hr.salaries.

Every attack is run through ``run_sql`` for the cluster ``shop`` and must be refused with its rule, fail on the
server, or run and show none of the bait. The bait is dropped again after the module.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from postgres_server import postgres_server  # noqa: F401  (the session fixture)
from vedder.config import load_config
from vedder.errors import SQLExecutionError, SQLRefused
from vedder.sql.run import run_sql
from vedder.warehouse import open_warehouse

BAIT_SQL = """
SET ROLE analyst;
CREATE TABLE public.secrets (k text, v text);
INSERT INTO public.secrets VALUES ('api_key', 'bait-public-table');
CREATE SCHEMA analyst;
CREATE FUNCTION analyst.payroll() RETURNS text LANGUAGE sql AS $$SELECT 'bait-user-schema ' || sum(salary) FROM hr.salaries$$;
CREATE FUNCTION hr.payroll() RETURNS text LANGUAGE sql AS $$SELECT 'bait-hr-function ' || sum(salary) FROM hr.salaries$$;
CREATE SCHEMA "Shop";
CREATE TABLE "Shop".orders (note text);
INSERT INTO "Shop".orders VALUES ('bait-case-schema');
COMMENT ON TABLE hr.salaries IS 'bait-comment';
CREATE INDEX orders_brin ON shop.orders USING brin (order_id);
CREATE INDEX customers_gin ON shop.customers USING gin (to_tsvector('simple', name)) WITH (fastupdate = on);
CREATE FUNCTION public.all_salaries() RETURNS SETOF hr.salaries LANGUAGE sql AS 'SELECT * FROM hr.salaries';
CREATE FUNCTION public.payroll_total() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$SELECT 'bait-definer ' || sum(salary) FROM hr.salaries$$;
CREATE FUNCTION public.lower(integer) RETURNS text LANGUAGE sql AS $$SELECT 'bait-lower ' || sum(salary) FROM hr.salaries$$;
CREATE FUNCTION public."AllPay"() RETURNS text LANGUAGE sql AS $$SELECT 'bait-quoted ' || sum(salary) FROM hr.salaries$$;
CREATE FUNCTION public.cents(numeric) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT ($1 * 100)::bigint';
CREATE FUNCTION public.leak_plus(a text, b text) RETURNS text LANGUAGE sql AS $$SELECT 'bait-operator ' || sum(salary) FROM hr.salaries$$;
CREATE OPERATOR hr.+ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.leak_plus);
CREATE OPERATOR public.+ (LEFTARG = text, RIGHTARG = integer, FUNCTION = pg_catalog.repeat);
RESET ROLE;
CREATE EXTENSION pg_trgm SCHEMA public;
CREATE EXTENSION tablefunc SCHEMA public;
"""
DROP_BAIT_SQL = """
DROP TABLE IF EXISTS public.secrets; DROP SCHEMA IF EXISTS analyst CASCADE; DROP FUNCTION IF EXISTS hr.payroll();
DROP SCHEMA IF EXISTS "Shop" CASCADE; COMMENT ON TABLE hr.salaries IS NULL;
DROP INDEX IF EXISTS shop.orders_brin; DROP INDEX IF EXISTS shop.customers_gin;
DROP FUNCTION IF EXISTS public.all_salaries(), public.payroll_total(), public.lower(integer), public."AllPay"(), public.cents(numeric);
DROP EXTENSION IF EXISTS pg_trgm; DROP EXTENSION IF EXISTS tablefunc;
DROP FUNCTION IF EXISTS public.leak_plus(text, text) CASCADE; DROP OPERATOR IF EXISTS public.+ (text, integer);
"""
# What a leak shows: a bait marker, or hr.salaries' rows.
LEAKED = ("bait-", "100000", "90000", "Ada100000")

# rule<TAB>sql: refused by the guard with that rule.
REFUSED = [
    # A WITH query's name is in scope only in its own WITH (later queries and the main query): elsewhere the same
    # name is a table that PostgreSQL finds on the search path, here public.secrets or pg_catalog's views.
    ("table_not_allowed", "SELECT * FROM secrets, (WITH secrets AS (SELECT 1) SELECT * FROM secrets) AS s"),
    ("table_not_allowed", "SELECT (SELECT v FROM secrets LIMIT 1), x.* FROM (WITH secrets AS (SELECT 1) SELECT * FROM secrets) AS x"),
    ("table_not_allowed", "WITH a AS (SELECT * FROM secrets), secrets AS (SELECT 1) SELECT * FROM a"),
    ("table_not_allowed", "WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets"),
    ("table_not_allowed", "SELECT * FROM pg_stat_activity, (WITH pg_stat_activity AS (SELECT 1) SELECT 1) AS s"),
    ("table_not_allowed", "SELECT * FROM pg_roles UNION ALL SELECT * FROM (WITH pg_roles AS (SELECT 1) SELECT * FROM pg_roles) AS r"),
    # Block comments nest, in sqlglot as in PostgreSQL: the string that seems to hold the subquery does not.
    ("table_not_allowed", "SELECT 1 /* /* */, '*/ , (SELECT string_agg(name || salary, '','') FROM hr.salaries) --'"),
    # A quoted name keeps its case in PostgreSQL: "Shop" is another schema than shop.
    ("table_not_allowed", 'SELECT * FROM "Shop".orders'),
    ("table_not_allowed", 'SELECT * FROM shop."Orders"'),
    ("table_not_allowed", 'SELECT * FROM "Shop"."orders" AS o JOIN shop.customers AS c ON true'),
    # A function named with its schema runs that schema's code: hr.payroll() reads hr.salaries.
    ("forbidden_function", "SELECT hr.payroll()"),
    ("forbidden_function", "SELECT analyst.payroll()"),
    ("forbidden_function", "SELECT warehouse.hr.payroll()"),
    ("forbidden_function", "SELECT * FROM shop.orders WHERE hr.payroll() IS NOT NULL"),
    # Comments (free text people wrote on any table) come from the system catalog pg_description.
    ("forbidden_function", "SELECT obj_description('hr.salaries'::regclass)"),
    ("forbidden_function", "SELECT obj_description('hr.salaries'::regclass, 'pg_class')"),
    ("forbidden_function", "SELECT col_description('hr.salaries'::regclass, 1)"),
    ("forbidden_function", "SELECT shobj_description(1, 'pg_database')"),
    # Object identifiers print any object's name by its number: counting through them lists the system catalog.
    ("table_not_allowed", "SELECT string_agg(g::regclass::text, ',') FROM generate_series(16384, 17000) AS g"),
    ("table_not_allowed", "SELECT g::oid::regrole FROM generate_series(1, 20000) AS g"),
    ("table_not_allowed", "SELECT CAST(g AS regnamespace) FROM generate_series(2200, 17000) AS g"),
    ("table_not_allowed", "SELECT '16389'::pg_catalog.regclass"),
    ("table_not_allowed", "SELECT CAST(ARRAY[g] AS pg_catalog.regclass[]) FROM generate_series(16384, 17000) AS g"),
    ("table_not_allowed", "SELECT g::regtype FROM generate_series(16384, 17000) AS g"),
    ("forbidden_function", "SELECT regclass('16389')"),
    ("forbidden_function", "SELECT to_regclass('16389')::text"),
    ("forbidden_function", "SELECT format_type(g, NULL) FROM generate_series(16384, 17000) AS g"),
    # Index maintenance writes (and locks) even in a read-only transaction.
    ("forbidden_function", "SELECT brin_desummarize_range('shop.orders_brin', 0)"),
    ("forbidden_function", "SELECT brin_summarize_new_values('shop.orders_brin')"),
    ("forbidden_function", "SELECT brin_summarize_range('shop.orders_brin', 0)"),
    ("forbidden_function", "SELECT gin_clean_pending_list('shop.customers_gin')"),
    ("forbidden_function", "SELECT currtid2('hr.salaries', '(0,1)'::tid)"),
    # The database's own functions in public, called unqualified (or as public.f()), may read any table.
    ("forbidden_function", "SELECT all_salaries()"),
    ("forbidden_function", "SELECT (all_salaries()).salary"),
    ("forbidden_function", "SELECT public.all_salaries()"),
    ("forbidden_function", "SELECT payroll_total()"),
    ("forbidden_function", "SELECT order_id, payroll_total() FROM shop.orders"),
    ("forbidden_function", "SELECT (SELECT count(*) FROM shop.orders WHERE payroll_total() IS NOT NULL)"),
    ("forbidden_function", "WITH p AS (SELECT PAYROLL_TOTAL() AS v) SELECT v FROM p"),
    ("forbidden_function", 'SELECT "AllPay"()'),
    ("forbidden_function", 'SELECT "allpay"()'),
    # public.lower(integer) beside pg_catalog.lower(text): an integer argument resolves to public's.
    ("forbidden_function", "SELECT lower(order_id) FROM shop.orders"),
    ("forbidden_function", "SELECT lower(1)"),
    # An extension vedder does not know to be harmless: tablefunc's crosstab() runs SQL from a string.
    ("forbidden_function", "SELECT normal_rand(1, 0, 1)"),
    # A function that operators are made with (test_an_operator_that_runs_the_database_s_function_is_refused).
    ("forbidden_function", "SELECT leak_plus(country, 'x') FROM orders"),
    ("forbidden_function", "SELECT 'a' OPERATOR(hr.+) 'b'"),
    ("table_function", "SELECT * FROM all_salaries()"),
    ("table_function", "SELECT (SELECT count(*) FROM all_salaries())"),
    ("table_function", "SELECT * FROM crosstab('SELECT name, name, salary::text FROM hr.salaries') AS t(a text, b text)"),
]

# SQL that passes the guard (or fails on the server) but must show nothing of the bait.
HARMLESS = [
    # A line comment holding */ becomes a block comment: it must stay one comment, not end early.
    "SELECT 1 -- */ , (SELECT string_agg(name || salary, ',') FROM hr.salaries) /*\n",
    "SELECT 1 AS one -- */ , (SELECT string_agg(name || salary, ',') FROM hr.salaries) AS leak /*\nFROM shop.orders",
    "SELECT /* a */ 1 -- /* nested opener\n, '*/ , (SELECT string_agg(name || salary, '','') FROM hr.salaries) --' AS x",
    # An unqualified function resolves through the search path, which vedder pins to pg_catalog, public: the
    # role's own schema ("$user") is not on it.
    "SELECT payroll()",
    # Harmless: names, existence and privileges of objects, never their rows (the role's grants decide those).
    "SELECT has_table_privilege('hr.salaries', 'SELECT'), has_schema_privilege('hr', 'USAGE')",
    "SELECT current_user, session_user, current_database(), version(), current_schema()",
    "SELECT row_to_json(json_populate_record(NULL::hr.salaries, '{}'))",
    # PostgreSQL never loads an XML document's external entities.
    """SELECT xpath('/x', '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'::xml)::text""",
]


@pytest.fixture(scope="module")
def shop(postgres_server, tmp_path_factory):
    """The project's cluster and an open warehouse, with the bait in the database for this module only."""
    from vedder.project import load_project

    postgres_server.admin(BAIT_SQL, database="warehouse")
    root = postgres_server.project(tmp_path_factory.mktemp("redteam"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("VEDDER_TEST_PG_PASSWORD", postgres_server.password)
            project = load_project(load_config(root))
            with open_warehouse(project.config) as opened:
                yield project, opened
    finally:
        postgres_server.admin(DROP_BAIT_SQL, database="warehouse")


def run(shop, sql: str):
    project, warehouse = shop
    return run_sql(sql, project=project, warehouse=warehouse, cluster=project.clusters["shop"])


def test_the_bait_is_reachable_without_the_guard(shop, postgres_server):
    """Each bait leaks when its SQL skips the guard: the tests below would prove nothing otherwise."""
    _, warehouse = shop
    assert warehouse.execute("SELECT v FROM secrets").rows == [("bait-public-table",)]
    assert warehouse.execute('SELECT note FROM "Shop".orders').rows == [("bait-case-schema",)]
    assert warehouse.execute("SELECT hr.payroll()").rows == [("bait-hr-function 190000",)]
    assert warehouse.execute("SELECT analyst.payroll()").rows == [("bait-user-schema 190000",)]
    assert warehouse.execute("SELECT obj_description('hr.salaries'::regclass)").rows == [("bait-comment",)]
    assert warehouse.execute("SELECT 1 /* */ , (SELECT string_agg(name || salary, ',') FROM hr.salaries) /* */").rows == [(1, "Ada100000,Bo90000")]
    relation = postgres_server.admin("SELECT 'hr.salaries'::regclass::oid::int", database="warehouse")[0][0]
    assert warehouse.execute(f"SELECT {relation}::regclass::text").rows == [("hr.salaries",)]
    assert warehouse.execute("SELECT brin_desummarize_range('shop.orders_brin', 0)").rows == [("",)]  # in a READ ONLY transaction
    warehouse.execute("SELECT set_config('search_path', 'pg_catalog, public', false)")  # as vedder pins it for a query
    assert warehouse.execute("SELECT payroll_total()").rows == [("bait-definer 190000",)]
    assert warehouse.execute("SELECT lower(1)").rows == [("bait-lower 190000",)]
    assert warehouse.execute('SELECT "AllPay"()').rows == [("bait-quoted 190000",)]
    assert warehouse.execute("SELECT count(*) FROM all_salaries()").rows == [(2,)]
    assert warehouse.execute("SELECT 'a' OPERATOR(hr.+) 'b'").rows == [("bait-operator 190000",)]


@pytest.mark.parametrize("rule,sql", REFUSED, ids=[f"{i:02d}-{sql[:40]}" for i, (_, sql) in enumerate(REFUSED)])
def test_attack_is_refused_with_its_rule(shop, rule, sql):
    with pytest.raises(SQLRefused) as refused:
        run(shop, sql)
    assert refused.value.rule == rule, refused.value.message
    assert refused.value.hint


@pytest.mark.parametrize("sql", HARMLESS, ids=[f"{i:02d}-{sql[:40]}" for i, sql in enumerate(HARMLESS)])
def test_what_passes_shows_none_of_the_bait(shop, sql):
    try:
        _, result = run(shop, sql)
    except SQLExecutionError as failed:
        shown = failed.message
    else:
        shown = repr(result.rows)
    assert not any(marker in shown for marker in LEAKED) and "root:" not in shown, shown


def test_the_unqualified_function_does_not_reach_the_role_schema(shop):
    with pytest.raises(SQLExecutionError, match="function payroll"):
        run(shop, "SELECT payroll()")


def test_legitimate_analytics_sql_still_runs(shop):
    """CTEs (nested, chained, recursive, used in subqueries), window functions, date_trunc, generate_series as a
    table, string functions and a comment: what a model or a person writes for analytics passes and runs."""
    guarded, result = run(shop, """
        -- orders per month, with a running total
        WITH RECURSIVE months(m) AS (
            SELECT DATE '2026-10-01' UNION ALL SELECT (m + INTERVAL '1 month')::date FROM months WHERE m < DATE '2026-11-01'
        ), per_month AS (
            SELECT date_trunc('month', ordered_on)::date AS m, count(*) AS n, sum(amount) AS revenue
            FROM orders GROUP BY 1
        ), named AS (
            SELECT m, upper(to_char(m, 'Mon')) || ' ' || lpad(extract(year FROM m)::text, 4, '0') AS label FROM months
        )
        SELECT n2.label, coalesce(p.n, 0) AS orders,
               sum(coalesce(p.revenue, 0)) OVER (ORDER BY n2.m) AS running,
               (SELECT count(*) FROM per_month) AS months_with_orders,
               (SELECT max(d) FROM generate_series(DATE '2026-10-01', DATE '2026-10-03', INTERVAL '1 day') AS g(d))::date AS last_day
        FROM named AS n2 LEFT JOIN per_month AS p ON p.m = n2.m
        WHERE n2.m IN (SELECT m FROM months) /* a block comment */
          AND to_tsvector('english'::regconfig, 'orders shipped') @@ plainto_tsquery('english', 'order')
        ORDER BY n2.m
    """)
    assert guarded.tables == ["shop.orders"]
    assert [(label, n, str(running)) for label, n, running, *_ in result.rows] == [("OCT 2026", 3, "15.50"), ("NOV 2026", 3, "37.75")]
    assert {row[3] for row in result.rows} == {2} and str(result.rows[0][4]) == "2026-10-03"


def test_the_database_s_own_functions_are_named_in_the_refusal(shop):
    with pytest.raises(SQLRefused) as refused:
        run(shop, "SELECT payroll_total()")
    assert refused.value.message == ("SQL refused (forbidden_function): function payroll_total() is the database's own code "
                                     "(public.payroll_total() in the database), which may read any table")
    assert "allowed_functions: [payroll_total]" in refused.value.hint
    with pytest.raises(SQLRefused, match=r"normal_rand\(\) of the extension tablefunc"):
        run(shop, "SELECT normal_rand(1, 0, 1)")


def test_a_harmless_extension_and_built_ins_still_run(shop):
    """pg_trgm's functions and operator compute on their arguments only: they run without being allowed, as do
    built-ins beside a user function of another name."""
    _, result = run(shop, "SELECT name, round(similarity(name, 'Adam')::numeric, 2) AS s, word_similarity('Ad', name) > 0 AS w, "
                          "name % 'Ada' AS close, upper(name) FROM customers WHERE NOT is_test ORDER BY s DESC, name LIMIT 2")
    assert result.rows[0][:4] == ("Ada", 0.5, True, True) and result.rows[0][4] == "ADA"
    _, result = run(shop, "SELECT country, sum(amount) FROM orders GROUP BY country ORDER BY 2 DESC LIMIT 1")
    assert [(country, str(total)) for country, total in result.rows] == [("SE", "15.25")]


def test_an_allowed_function_runs_and_allows_no_other(shop, postgres_server, tmp_path, monkeypatch):
    from vedder.project import load_project

    monkeypatch.setenv("VEDDER_TEST_PG_PASSWORD", postgres_server.password)
    root = postgres_server.project(tmp_path, extra="query: {allowed_functions: [cents, Similarity]}")
    project = load_project(load_config(root))
    assert project.config.allowed_functions == frozenset({"cents", "similarity"})
    with open_warehouse(project.config) as warehouse:
        _, result = run((project, warehouse), "SELECT sum(cents(amount)) FROM orders WHERE country = 'US'")
        assert result.rows == [(1350,)]
        with pytest.raises(SQLRefused, match=r"payroll_total\(\)"):
            run((project, warehouse), "SELECT cents(amount), payroll_total() FROM orders")


@contextmanager
def own_code(postgres_server, tmp_path, sql: str, drop: str, extra: str = ""):
    """The project and a fresh warehouse (its list of the database's own code read anew) while ``sql`` made objects
    in the database (as analyst, like the module's bait); ``drop`` removes them after."""
    from vedder.project import load_project

    postgres_server.admin(f"SET ROLE analyst; {sql}; RESET ROLE", database="warehouse")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("VEDDER_TEST_PG_PASSWORD", postgres_server.password)
            project = load_project(load_config(postgres_server.project(tmp_path, extra=extra)))
            with open_warehouse(project.config) as warehouse:
                yield project, warehouse
    finally:
        postgres_server.admin(drop, database="warehouse")


LEAKING_PLUS = "CREATE OPERATOR public.+ (LEFTARG = text, RIGHTARG = text, FUNCTION = public.leak_plus)"
DROP_LEAKING_PLUS = "DROP OPERATOR IF EXISTS public.+ (text, text)"


@pytest.mark.parametrize("sql", [
    "SELECT country + 'x' FROM shop.orders",
    "SELECT count(*) FROM orders WHERE (country + 'x') IS NOT NULL",
    "SELECT 'a' OPERATOR(public.+) 'b'",
    "SELECT 1 AS one, ('a' OPERATOR(\"public\".+ ) 'b') AS two",
    # Whatever the types: vedder does not know them, so any + is refused while the operator exists.
    "SELECT order_id + 1 FROM orders",
])
def test_an_operator_that_runs_the_database_s_function_is_refused(shop, postgres_server, tmp_path, sql):
    """The reviewer's attack: public.+ (text, text) made with a function that reads hr.salaries printed the salaries
    for `vedder query "SELECT country + 'x' FROM shop.orders"` while leak_plus() by name was refused."""
    with own_code(postgres_server, tmp_path, LEAKING_PLUS, DROP_LEAKING_PLUS) as (project, warehouse):
        assert warehouse.execute("SELECT country + 'x' FROM shop.orders LIMIT 1").rows == [("bait-operator 190000",)]
        with pytest.raises(SQLRefused) as refused:
            run((project, warehouse), sql)
    assert refused.value.message == ("SQL refused (forbidden_function): operator + is the database's own code (public.+ (text, text) "
                                     "runs public.leak_plus() in the database), which may read any table")
    assert "`query: {allowed_functions: [leak_plus]}`" in refused.value.hint


def test_an_operator_whose_function_is_allowed_runs(shop, postgres_server, tmp_path):
    with own_code(postgres_server, tmp_path, LEAKING_PLUS, DROP_LEAKING_PLUS, "query: {allowed_functions: [leak_plus]}") as opened:
        assert run(opened, "SELECT country + 'x' FROM orders LIMIT 1")[1].rows == [("bait-operator 190000",)]
        with pytest.raises(SQLRefused, match=r"payroll_total\(\)"):
            run(opened, "SELECT country + 'x', payroll_total() FROM orders")


def test_an_operator_made_with_a_built_in_function_still_runs(shop):
    """public.+ (text, integer) runs pg_catalog.repeat: PostgreSQL's own code, which reads only its arguments."""
    assert run(shop, "SELECT 'ab'::text + 2 AS r, order_id + 1 AS n FROM orders ORDER BY order_id LIMIT 1")[1].rows == [("abab", 2)]


IMPLIED_BAIT_SQL = """
SET ROLE analyst;
CREATE FUNCTION public.leak_eq(a varchar, b varchar) RETURNS boolean LANGUAGE sql
  AS $$SELECT (SELECT sum(salary) FROM hr.salaries) > 0 AND a::text = b::text$$;
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.leak_eq);
CREATE TYPE public.mood AS ENUM ('ok');
CREATE FUNCTION public.leak_mood(integer) RETURNS public.mood LANGUAGE sql AS $$SELECT 'ok'::public.mood FROM hr.salaries LIMIT 1$$;
CREATE CAST (integer AS public.mood) WITH FUNCTION public.leak_mood(integer);
RESET ROLE;
"""


@pytest.mark.parametrize("bait", [
    "CREATE FUNCTION public.leak_eq(a varchar, b varchar) RETURNS boolean LANGUAGE sql "
    "AS $$SELECT (SELECT sum(salary) FROM hr.salaries) > 0 AND a::text = b::text$$; "
    "CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.leak_eq)",
    "CREATE TYPE public.mood AS ENUM ('ok'); "
    "CREATE FUNCTION public.leak_mood(integer) RETURNS public.mood LANGUAGE sql AS $$SELECT 'ok'::public.mood FROM hr.salaries LIMIT 1$$; "
    "CREATE CAST (integer AS public.mood) WITH FUNCTION public.leak_mood(integer)",
], ids=["operator =", "cast"])
def test_code_that_syntax_runs_unnamed_refuses_every_query_that_may_run_code(shop, postgres_server, tmp_path, bait):
    """PostgreSQL applies = for IN, CASE, NULLIF and JOIN … USING too (an operator = of varchar runs for them,
    unwritten), and a cast's function for a cast: vedder cannot tell from the SQL, so it refuses every query that may
    run code on such a warehouse; a query of columns alone still runs."""
    drop = "DROP FUNCTION IF EXISTS public.leak_eq(varchar, varchar) CASCADE; DROP TYPE IF EXISTS public.mood CASCADE"
    with own_code(postgres_server, tmp_path, bait, drop) as opened:
        for sql in ("SELECT count(*) FROM orders WHERE country IN ('US', 'SE')", "SELECT sum(amount) FROM orders"):
            with pytest.raises(SQLRefused, match=r"leak_(eq|mood)\(\) in the database.*may run it for syntax that does not name it \(= for IN, CASE"):
                run(opened, sql)
        assert run(opened, "SELECT country FROM orders ORDER BY order_id LIMIT 1")[1].rows == [("US",)]
